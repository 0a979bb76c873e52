"""The same graphs on every backend: C, NUMBA and JAX compute what C computes, and
every numbered script runs and learns under each --mode.

JAX comes from requirements.txt; where it is missing its tests are skipped, and
pytest's summary says so (-ra in pytest.ini).
"""
import functools
import importlib.util
import os
import shutil
import subprocess
import sys

import numpy as np
import pytensor
import pytest
from pytensor import tensor as T
from pytensor.tensor.random.utils import RandomStream

from toolkit import backends
from toolkit.ops import conv2d, max_pool_2d
from helpers import ROOT, accuracies, err_lines, learned_slope, names, run

needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                               reason="JAX is not installed (pip install -r requirements.txt)")
OTHER_MODES = ["NUMBA", pytest.param("JAX", marks=needs_jax)]
MODES = ["C"] + OTHER_MODES


def on_other_modes(values, numba_fast=1):
    """(mode, value) for NUMBA and JAX; NUMBA's past the first `numba_fast` values (a
    slow compile each, of the numpy code that the C is checked against) are in the
    slow tier only."""
    return [pytest.param(mode, value, id=f"{value}-{mode}",
                         marks=[needs_jax] if mode == "JAX" else
                         [pytest.mark.slow] if i >= numba_fast else [])
            for mode in ("NUMBA", "JAX") for i, value in enumerate(values)]


def compile_in(mode, inputs, outputs, **kwargs):
    return pytensor.function(inputs, outputs, mode=backends.compile_mode(mode), **kwargs)


def conv_net_graph():
    """The CNN's layer types at odd sizes: full and valid convolutions, pooling with a
    partial edge window and without, flatten, and T.grad through all of it (JAX's
    first convolution takes a path of its own for a single input channel)."""
    X, W1, W2 = T.ftensor4(), T.ftensor4(), T.ftensor4()
    l1 = max_pool_2d(T.maximum(conv2d(X, W1, border_mode="full"), 0.), (2, 2))
    l2 = max_pool_2d(T.maximum(conv2d(l1, W2), 0.), (2, 2), ignore_border=True)
    out = T.flatten(l2, ndim=2)
    # 9x8 -> 2 x 2x1; small, so that tanh is not saturated and every gradient is nonzero
    weights = T.constant(0.02 * np.linspace(-1, 1, 2 * 2 * 1).astype("float32"))
    cost = T.sum(T.tanh(T.dot(out, weights)))
    return [X, W1, W2], [out, cost, *T.grad(cost, [X, W1, W2])]


@pytest.mark.parametrize("mode, channels", on_other_modes([1, 2], numba_fast=0))
def test_conv_net_values_and_gradients_match_c(mode, channels):
    rng = np.random.default_rng(0)
    values = [rng.standard_normal(s).astype("float32")
              for s in [(3, channels, 9, 8), (4, channels, 3, 2), (2, 4, 3, 3)]]
    inputs, outputs = conv_net_graph()
    expected = compile_in("C", inputs, outputs)(*values)
    assert all(np.abs(e).max() > 1e-2 for e in expected[2:])  # gradients worth comparing
    got = compile_in(mode, inputs, outputs)(*values)
    assert [g.shape for g in got] == [e.shape for e in expected]
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("mode, ignore_border", on_other_modes([False, True]))
def test_pool_gradient_with_ties_matches_c(mode, ignore_border):
    """Every element equal to its window's maximum gets the gradient, as in Theano."""
    x = np.random.default_rng(1).integers(0, 3, (2, 3, 5, 7)).astype("float32")
    X = T.ftensor4()
    pooled = max_pool_2d(X, (2, 3), ignore_border=ignore_border)
    outputs = [pooled, T.grad(T.sum(pooled * np.float32(1.5)), X)]
    expected = compile_in("C", [X], outputs)(x)
    got = compile_in(mode, [X], outputs)(x)
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("mode", MODES)
def test_dropout_mask_is_fresh_at_every_call(mode):
    """The random stream advances between calls, after a flatten whose size is a product
    of other sizes (JAX needs those as plain integers)."""
    srng = RandomStream(seed=3)
    X = T.ftensor4()
    flat = T.flatten(max_pool_2d(X, (2, 2)), ndim=2)
    masked = flat * T.cast(srng.uniform(size=flat.shape) < 0.5, "float32")
    f = compile_in(mode, [X], masked)
    x = np.ones((4, 3, 10, 10), dtype="float32")
    first, second = f(x), f(x)
    assert first.shape == second.shape == (4, 75)
    assert not np.array_equal(first, second)
    assert 0.35 < first.mean() < 0.65


@pytest.mark.parametrize("mode", MODES)
def test_shared_variable_updates_on_the_backend_asked_for(mode):
    w = pytensor.shared(np.zeros(3, dtype="float32"))
    step = compile_in(mode, [], [], updates=[(w, w + 1)])
    step(); step()
    np.testing.assert_array_equal(w.get_value(), [2, 2, 2])
    assert backends.mode_name(step) == mode


# --- which backend a script gets: choose(), with what can run here simulated ---------

@pytest.fixture
def machine(monkeypatch):
    """A machine where the modes in `lacking` cannot run (what, and what to do)."""
    lacking = {}

    def require(name):
        if name in lacking:
            raise backends.Missing(*lacking[name])
    monkeypatch.setattr(backends, "require", require)
    monkeypatch.setattr(backends, "one_core_note", lambda name: None)
    return lacking


WHY = {"C": ("no C++ compiler found", "install g++"), "JAX": ("jax is not installed", "pip jax"),
       "NUMBA": ("numba is not installed", "pip numba")}



@pytest.mark.parametrize("default", backends.MODES)
def test_the_scripts_default_where_it_can_run(machine, default):
    assert backends.choose(None, "cpu", default=default) == (default, None)
    assert backends.can_run(default)


@pytest.mark.parametrize("default, lacking, expected", [
    ("C", ["C"], "JAX"), ("C", ["C", "JAX"], "NUMBA"), ("JAX", ["JAX"], "C"),
    ("JAX", ["JAX", "C"], "NUMBA"), ("NUMBA", ["NUMBA"], "C"),
])
def test_a_default_that_cannot_run_falls_back_with_a_note(machine, default, lacking, expected):
    machine.update({name: WHY[name] for name in lacking})
    mode, note = backends.choose(None, "cpu", default=default)
    assert mode == expected
    names(note, *WHY[default], f"--mode {expected}")
    assert "\n" not in note
    assert not backends.can_run(default)


def test_no_backend_at_all_is_an_error(machine):
    machine.update(WHY)
    with pytest.raises(backends.BackendError) as error:
        backends.choose(None, "cpu", default="C")
    names(str(error.value), "no backend", *WHY["C"])


@pytest.mark.parametrize("mode", backends.MODES)
def test_an_explicit_mode_that_cannot_run_is_an_error_not_a_fallback(machine, mode):
    machine[mode] = WHY[mode]
    with pytest.raises(backends.BackendError) as error:
        backends.choose(mode, "cpu")
    names(str(error.value), f"--mode {mode}", *WHY[mode])
    with pytest.raises(backends.BackendError):
        backends.compile_mode(mode)


def test_the_gpu_is_jax_and_other_modes_are_refused_there(machine):
    assert backends.choose(None, "gpu", default="C") == ("JAX", None)
    assert backends.choose("JAX", "gpu")[0] == "JAX"
    for mode in ("C", "NUMBA"):
        with pytest.raises(backends.BackendError) as error:
            backends.choose(mode, "gpu")
        names(str(error.value), f"--mode {mode}", "--device gpu", "--mode JAX")
    machine["JAX"] = WHY["JAX"]
    with pytest.raises(backends.BackendError) as error:
        backends.choose(None, "gpu", default="C")
    names(str(error.value), "--mode JAX", *WHY["JAX"])


def test_unknown_names_are_errors():
    for call in (lambda: backends.choose(None, "tpu"), lambda: backends.compile_mode("CUDA")):
        with pytest.raises(backends.BackendError):
            call()


@pytest.mark.slow
@pytest.mark.parametrize("mode", OTHER_MODES)
def test_first_scripts_on_every_backend_through_pytensor_flags(mode):
    """Scripts 0 and 1 take their backend as Theano's took THEANO_FLAGS."""
    env = {**os.environ, "PYTENSOR_FLAGS": f"mode={mode}"}
    assert run("0_multiply.py", env=env).stdout.split()[:2] == ["2.0", "9.0"]
    slope = learned_slope(run("1_linear_regression.py", env=env).stdout)
    assert abs(slope - 2) < 0.1


# A short run on a subset. Scripts 2 and 3 draw no random numbers after their initial
# weights, so every backend must print the same accuracy up to float32 rounding; 4 and 5
# draw their dropout masks from each backend's own generator, so theirs differ by chance.
AGREEMENT = [
    ("2_logistic_regression.py", ["--ntrain", 3000, "--epochs", 2, "--batch-size", 32], 0.80, 0.002),
    ("3_net.py", ["--ntrain", 3000, "--epochs", 2, "--batch-size", 32, "--lr", 0.5], 0.70, 0.005),
    ("4_modern_net.py", ["--ntrain", 10000, "--epochs", 3, "--batch-size", 64], 0.85, 0.02),
    ("5_convolutional_net.py",
     ["--ntrain", 10000, "--epochs", 2, "--batch-size", 64, "--lr", 0.002], 0.85, 0.03),
]


@functools.cache
def final_accuracy(script, args, mode):
    result = run(script, *args, "--ntest", 2000, "--seed", 5, "--mode", mode)
    return accuracies(result.stdout)[-1]


@pytest.mark.slow
@pytest.mark.parametrize("mode", OTHER_MODES)
@pytest.mark.parametrize("script, args, threshold, tolerance", AGREEMENT,
                         ids=[a[0] for a in AGREEMENT])
def test_scripts_learn_alike_on_every_backend(script, args, threshold, tolerance, mode):
    on_c = final_accuracy(script, tuple(args), "C")
    accuracy = final_accuracy(script, tuple(args), mode)
    assert on_c > threshold and accuracy > threshold, (on_c, accuracy)
    assert abs(accuracy - on_c) <= tolerance, (accuracy, on_c)


def test_unknown_mode_is_one_line():
    result = run("2_logistic_regression.py", "--mode", "CUDA", check=False)
    assert result.returncode == 2
    lines = err_lines(result.stderr)
    assert len(lines) == 1, lines
    names(lines[0], "--mode", "CUDA", "C", "NUMBA", "JAX")


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has a GPU")
def test_gpu_check_stops_without_a_gpu():
    result = gpu_check(os.environ["PATH"])
    assert result.returncode == 1 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    names(result.stderr, "gpu_check", "NVIDIA GPU")


@needs_jax
@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has a GPU")
def test_gpu_check_stops_when_jax_only_sees_the_cpu(tmp_path):
    fake = tmp_path / "nvidia-smi"  # a GPU that JAX cannot use
    fake.write_text("#!/bin/sh\necho 'Some GPU, 81559 MiB, 550.00'\n")
    fake.chmod(0o755)
    result = gpu_check(f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert result.returncode == 1
    assert "Some GPU" in result.stdout
    assert "gpu_check: JAX runs on the CPU here" in result.stderr
    assert "epoch" not in result.stdout


def gpu_check(path):
    return subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh")], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PATH": path,
                                                       "PYTHON": sys.executable})
