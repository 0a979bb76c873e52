"""A learner copies a numbered script's slide code into a file of their own, outside
the repository, and trains it on each of PyTensor's modes with plain
pytensor.function: it runs, with no warning about the project's Ops (README, "Copy
a slide into your own code"). The slide code is read from each script
(tools/slide_copy.py), never re-typed here.

What PyTensor says about its own Ops on a pip install is left to PyTensor and listed
below (PYTENSORS_OWN): the same words come with a model that has none of ours.
"""
import os
import subprocess
import sys
import warnings

import numpy as np
import pytensor
import pytest

from helpers import ROOT, err_lines
from tools.slide_copy import learner_file, slide_code
from test_backends import conv_net_graph, needs_jax

SCRIPTS = ["2_logistic_regression.py", "3_net.py", "4_modern_net.py", "5_convolutional_net.py"]
# PyTensor's default, its modes by name, and the README's one line for what the
# scripts' own setup adds (PyTensor's products linked to OpenBLAS, the C rewrites)
MODES = [None, "NUMBA", pytest.param("JAX", marks=needs_jax), "CVM", 'compile_mode("C")']

# PyTensor's own notices, which a model of PyTensor's Ops alone gets too:
PYTENSORS_OWN = {
    # its C modes find no BLAS for its own Dot on a pip install (the README's one
    # line, backends.compile_mode("C"), links scipy-openblas32 for them)
    "CVM": ["PyTensor could not link to a BLAS installation"],
    # the random generators copied into the compiled function, shape checks left to
    # XLA, 64-bit sums and indices in 32 bits (backends.EXPECTED_WARNINGS["JAX"])
    "JAX": ["The RandomType SharedVariables", "Skipping Assert", "Explicitly requested dtype"],
}
# Theano's srng, which the slides use and PyTensor 3 marks deprecated (the scripts
# silence it; pytest.ini too)
EVERY_MODE = ["RandomStream is deprecated"]
PYTENSORS_OWN_LOG = "Using NumPy C-API based implementation for BLAS functions."


def run_learner(path, mode, timeout=1200):
    """Run a learner's file as they would: from its own folder, the repository on
    PYTHONPATH, PyTensor's own notices for this mode filtered by -W."""
    filters = [f"-Wignore:{start}" for start in PYTENSORS_OWN.get(mode, []) + EVERY_MODE]
    return subprocess.run([sys.executable, *filters, path.name], cwd=path.parent,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_slide_code_is_the_scripts_without_the_machinery(script):
    code, options = slide_code(ROOT / script, mode="CVM")
    compile(code, script, "exec")
    for machinery in ("args", "backends", "training", "trained", "report", "draw"):
        assert f"{machinery}." not in code and f"({machinery})" not in code, machinery
    assert code.count("pytensor.function(") >= 2
    assert "mode='CVM'" in code and "mode=mode" not in code
    assert "from load import mnist" in code
    assert ("from toolkit.ops import conv2d, max_pool_2d" in code) == (script == SCRIPTS[-1])
    assert options["batch_size"] == 128


def test_importing_the_ops_imports_neither_numba_nor_jax():
    code = ("import sys, toolkit.ops; "
            "print(sorted(m for m in ('numba', 'jax') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.stdout.split() == ["[]"], result.stderr


def test_the_ops_c_runs_on_pytensors_cvm_in_a_fresh_process(tmp_path):
    """PyTensor's CVM without the scripts' setup: the kernels link their own BLAS
    (once the interpreter aborted here, the gemm needing the GIL in OpenMP threads)."""
    program = tmp_path / "cvm.py"
    program.write_text(
        "import numpy as np, pytensor\n"
        "from pytensor import tensor as T\n"
        "from toolkit.ops import conv2d, max_pool_2d\n"
        "X, W = T.ftensor4(), T.ftensor4()\n"
        "cost = T.sum(max_pool_2d(T.maximum(conv2d(X, W, border_mode='full'), 0.), (2, 2)))\n"
        "f = pytensor.function([X, W], [cost, *T.grad(cost, [X, W])], mode='CVM')\n"
        "rng = np.random.default_rng(0)\n"
        "x, w = rng.random((64, 8, 15, 15), 'float32'), rng.random((16, 8, 3, 3), 'float32')\n"
        "g = pytensor.function([X, W], [cost, *T.grad(cost, [X, W])], mode='FAST_COMPILE')\n"
        "print(all(np.allclose(a, b, rtol=1e-3) for a, b in zip(f(x, w), g(x, w))))\n")
    result = run_learner(program, "CVM", timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True"]


def compiled_in(mode, values):
    inputs, outputs = conv_net_graph()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = pytensor.function(inputs, outputs, mode=mode)(*values)
    return got, [str(w.message) for w in caught]


@pytest.mark.parametrize("mode", [pytest.param("NUMBA", marks=pytest.mark.slow),
                                  pytest.param("JAX", marks=needs_jax)])
def test_plain_modes_compile_the_ops_and_match_numpy(mode):
    """mode="NUMBA" and mode="JAX", as a learner writes them: the Ops' own versions
    (no object mode, no missing conversion), the numbers of their numpy code."""
    rng = np.random.default_rng(0)
    values = [rng.standard_normal(s).astype("float32")
              for s in [(3, 2, 9, 8), (4, 2, 3, 2), (2, 4, 3, 3)]]
    got, said = compiled_in(mode, values)
    expected, _ = compiled_in("FAST_COMPILE", values)
    assert not [w for w in said if "object mode" in w or "No JAX conversion" in w], said
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=2e-4, atol=2e-4)


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES, ids=lambda m: m or "default")
@pytest.mark.parametrize("script", SCRIPTS)
def test_a_copied_slide_trains_on_every_mode(script, mode, tmp_path):
    """The learner's file trains 640 images and predicts 200 (exit 0); stderr has
    nothing but PyTensor's own notices."""
    learner = tmp_path / f"my_{script}"
    learner.write_text(learner_file(ROOT / script, mode=mode, ntrain=640, ntest=200))
    result = run_learner(learner, mode)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test accuracy" in result.stdout
    said = [line for line in err_lines(result.stderr) if PYTENSORS_OWN_LOG not in line]
    assert said == [], "\n".join(said)
