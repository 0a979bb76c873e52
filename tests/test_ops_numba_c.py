"""The Numba versions of the Ops call the project's C kernels where a compiler and
the BLAS are there (ckernel_library.py), and run their own loops where the library
cannot be built; both compute what the Ops' numpy `perform` computes."""
import os
import subprocess
import sys

import numpy as np
import pytensor
import pytest
from pytensor.compile.mode import Mode

from toolkit import ckernel, ckernel_library, ops_numba
from toolkit.ops import Corr2d, MaxPool, MaxPoolGrad, RectifyPool, RectifyPoolGrad
from helpers import ROOT
from test_backends import conv_net_graph

has_compiler = bool(pytensor.config.cxx) and any(
    f.startswith("-l") for f in ckernel.blas_flags())
needs_compiler = pytest.mark.skipif(not has_compiler, reason="no C++ compiler or no BLAS")
PERFORM = Mode(linker="py", optimizer="fast_compile")  # the numpy reference


@pytest.fixture
def fresh_libraries():
    """Each test loads the libraries anew, and leaves none remembered for the next."""
    ckernel_library.load.cache_clear()
    ckernel_library.SAID.clear()
    yield
    ckernel_library.load.cache_clear()
    ckernel_library.SAID.clear()


def node_of(op, *shapes):
    from pytensor import tensor as T
    return op.make_node(*(T.ftensor4() for _ in shapes))


def c_functions():
    """What each Op's Numba version calls for float32: a C function or None."""
    return [ops_numba.c_function(op, entry, node_of(op, *range(n)))[0]
            for op, entry, n in [(Corr2d("full"), "corr2d", 2),
                                 (MaxPool((2, 2), False), "max_pool", 1),
                                 (MaxPoolGrad((2, 2), False), "pool_grad", 3),
                                 (RectifyPool((2, 2), False), "rectify_pool", 1),
                                 (RectifyPoolGrad((2, 2), False), "pool_grad", 3)]]


def numba_matches_perform():
    rng = np.random.default_rng(0)
    values = [rng.standard_normal(s).astype("float32")
              for s in [(3, 2, 9, 8), (4, 2, 3, 2), (2, 4, 3, 3)]]
    inputs, outputs = conv_net_graph()
    expected = pytensor.function(inputs, outputs, mode=PERFORM)(*values)
    assert all(np.abs(e).max() > 1e-2 for e in expected[2:])  # gradients worth comparing
    numba = pytensor.function(inputs, outputs, mode="NUMBA")
    names = {type(node.op).__name__ for node in numba.maker.fgraph.toposort()}
    assert {"RectifyPool", "RectifyPoolGrad"} <= names and not {"MaxPool", "MaxPoolGrad"} & names
    got = numba(*values)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=2e-4, atol=2e-4)


@needs_compiler
def test_the_numba_versions_call_the_c_kernels_where_a_compiler_is(fresh_libraries):
    assert all(f is not None for f in c_functions())
    numba_matches_perform()


def test_without_the_library_the_numba_loops_run_and_agree(fresh_libraries, monkeypatch,
                                                           tmp_path, capfd):
    """A failed build (here C the compiler refuses) says so in one line, once, and the
    Numba versions run their own loops."""
    monkeypatch.setattr(ckernel_library, "folder", lambda: tmp_path)
    monkeypatch.setattr(ckernel_library, "PRELUDE",
                        ckernel_library.PRELUDE + "#error a simulated failing compile\n")
    assert c_functions() == [None] * 5
    said = capfd.readouterr().err.splitlines()
    if has_compiler:
        assert len(said) == 2 and said[1].startswith("compiled no C kernels for Numba ("), said
        assert len(list(tmp_path.glob("*.failed"))) == 5
    ckernel_library.load.cache_clear()
    assert c_functions() == [None] * 5
    assert capfd.readouterr().err == ""  # the failure is kept: not tried, not said again
    numba_matches_perform()


# What compiling a conv net for Numba sets in the process, printed by a child (the
# settings are the process's own): the OpenBLAS of Numba's matrix products, and
# whether malloc now keeps a freed 16 MB block (its next allocation reuses the address).
SETTINGS_CHILD = """
import ctypes, glob, os, scipy
import pytensor
from pytensor import tensor as T
from toolkit.ops import conv2d
pytensor.config.floatX = "float32"
X, W = T.ftensor4(), T.ftensor4()
pytensor.function([X, W], conv2d(X, W), mode="NUMBA")
lib = glob.glob(os.path.join(os.path.dirname(scipy.__file__) + ".libs", "libscipy_openblas*"))
threads = ctypes.CDLL(lib[0]).scipy_openblas_get_num_threads() if lib else None
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
first = libc.malloc(16 << 20); libc.free(first)
second = libc.malloc(16 << 20); libc.free(second)
print(threads, first == second)
"""


@needs_compiler
@pytest.mark.parametrize("asked", [None, "2"])
def test_a_numba_graph_with_the_kernels_shares_the_cores_as_mode_c_does(asked):
    """Numba's BLAS on one thread beside the kernels' OpenMP (unless the user set
    OPENBLAS_NUM_THREADS), and malloc keeping large freed blocks (docs/backends.md)."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    env.update({"OPENBLAS_NUM_THREADS": asked} if asked else {})
    result = subprocess.run([sys.executable, "-c", SETTINGS_CHILD], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    threads, reused = result.stdout.split()
    if threads != "None":  # scipy's wheel bundles an OpenBLAS (not a conda build)
        assert threads == (asked or "1")
    assert reused == "True"
