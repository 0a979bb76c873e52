"""The Numba versions of the Ops call the project's C kernels where a compiler and
the BLAS are there (ckernel_library.py), and run their own loops where the library
cannot be built; both compute what the Ops' numpy `perform` computes."""
import numpy as np
import pytensor
import pytest
from pytensor.compile.mode import Mode

from toolkit import ckernel, ckernel_library, ops_numba
from toolkit.ops import Corr2d, MaxPool, MaxPoolGrad
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
                                 (MaxPoolGrad((2, 2), False), "pool_grad", 3)]]


def numba_matches_perform():
    rng = np.random.default_rng(0)
    values = [rng.standard_normal(s).astype("float32")
              for s in [(3, 2, 9, 8), (4, 2, 3, 2), (2, 4, 3, 3)]]
    inputs, outputs = conv_net_graph()
    expected = pytensor.function(inputs, outputs, mode=PERFORM)(*values)
    got = pytensor.function(inputs, outputs, mode="NUMBA")(*values)
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
    assert c_functions() == [None] * 3
    said = capfd.readouterr().err.splitlines()
    if has_compiler:
        assert len(said) == 2 and said[1].startswith("compiled no C kernels for Numba ("), said
        assert len(list(tmp_path.glob("*.failed"))) == 3
    ckernel_library.load.cache_clear()
    assert c_functions() == [None] * 3
    assert capfd.readouterr().err == ""  # the failure is kept: not tried, not said again
    numba_matches_perform()
