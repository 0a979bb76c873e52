"""Where a PyTensor graph compiles to: the --mode names and a BLAS for the C backend.

A pip-installed PyTensor finds no BLAS to link its C code against ("could not
link to a BLAS installation") and falls back to slower paths. numpy's own
OpenBLAS uses 64-bit integers and renamed symbols, so it cannot serve; the
`scipy-openblas32` wheel (in requirements.txt) ships a 32-bit-integer OpenBLAS
whose symbols carry a `scipy_` prefix. The -D flags below rename PyTensor's
BLAS calls to those symbols, so `pip install -r requirements.txt` is enough.
"""
import ctypes
import importlib.util
import os
import re
import warnings

import numpy as np
import pytensor
from pytensor.compile import optdb
from pytensor.compile.mode import Mode
from pytensor.graph.rewriting.basic import dfs_rewriter, node_rewriter
from pytensor.tensor.rewriting.ofg import inline_ofg_node
from pytensor.tensor.special import LogSoftmax, Softmax

DEFAULT_MODE = "C"

BLAS_ROUTINES = [prefix + name for prefix in "sdcz" for name in
                 ("gemm", "gemv", "ger", "dot", "axpy", "copy", "scal", "swap",
                  "symm", "syrk", "trmm", "trsm")]


def openblas_flags():
    """Compiler flags linking PyTensor's C code to scipy-openblas32, or '' without it."""
    try:
        import scipy_openblas32
    except ImportError:
        return ""
    lib_dir = scipy_openblas32.get_lib_dir()
    renames = " ".join(f"-D{r}_=scipy_{r}_" for r in BLAS_ROUTINES)
    return (f"-L{lib_dir} -l{scipy_openblas32.get_library()} "
            f"-Wl,-rpath,{lib_dir} {renames}")


def link_blas():
    """Point PyTensor at scipy-openblas32, unless the user configured a BLAS."""
    user_flags = os.environ.get("PYTENSOR_FLAGS", "") + os.environ.get("PYTENSORRC", "")
    if "blas__ldflags" in user_flags or "blas.ldflags" in user_flags:
        return
    flags = openblas_flags()
    if flags:
        pytensor.config.blas__ldflags = flags


@node_rewriter([Softmax, LogSoftmax])
def inline_softmax(fgraph, node):
    """Replace a (log-)softmax node by its inner graph of exp, max and sum.

    The C backend would otherwise run it as a separate inner function from
    Python, which cost the modern net half of its step time.
    """
    return inline_ofg_node(node)


optdb.register("inline_softmax", dfs_rewriter(inline_softmax), "c_inline_softmax",
               position=49.4)


class BackendMissing(RuntimeError):
    """The package behind a --mode is not installed."""


def compile_mode(name):
    """The PyTensor Mode behind a --mode name.

    C is PyTensor's C backend run by its C virtual machine (Theano's default),
    NUMBA and JAX are PyTensor's own modes of those names.
    """
    if name == "C":
        return Mode(linker="cvm", optimizer="fast_run").including("c_inline_softmax")
    if name == "NUMBA":
        # Numba runs the numpy code of ops.py's conv and pool Ops as Python ("object mode")
        quiet(UserWarning, "Numba will use object mode to run")
    if name == "JAX":
        if importlib.util.find_spec("jax") is None:
            raise BackendMissing("--mode JAX needs the jax package: pip install -r "
                                 "requirements.txt, or choose --mode C or NUMBA")
        import jax
        import ops_jax  # noqa: F401  (teaches JAX the conv2d and max_pool_2d Ops)
        # 32-bit numbers, as PyTensor picks for float32 graphs; importing its JAX backend
        # before a script sets floatX would otherwise have switched JAX to 64 bits.
        jax.config.update("jax_enable_x64", False)
        # Expected under JAX, said at every compile: the random generator is copied into
        # the compiled function, shape checks are left to XLA, and 64-bit accumulators
        # and indices (a float64 sum in the cost, argmax's int64) run in 32 bits.
        quiet(UserWarning, "The RandomType SharedVariables")
        quiet(UserWarning, "Skipping Assert")
        quiet(UserWarning, "Explicitly requested dtype")
    return name


def device_name(name):
    """Where a --mode runs its compiled functions: 'cpu', or JAX's device (say cuda:0)."""
    if name != "JAX":
        return "cpu"
    import jax
    device = jax.devices()[0]
    return f"{device.platform}:{device.id} ({device.device_kind})"


def quiet(category, message_start):
    warnings.filterwarnings("ignore", message=re.escape(message_start), category=category)


def load_cblas():
    """scipy-openblas32's cblas_sgemm/dgemm through ctypes, or None without it."""
    try:
        import scipy_openblas32
    except ImportError:
        return None
    dll = scipy_openblas32.dll
    routines = {}
    for dtype, name, scalar in ((np.float32, "scipy_cblas_sgemm", ctypes.c_float),
                                (np.float64, "scipy_cblas_dgemm", ctypes.c_double)):
        fn = getattr(dll, name)
        i, p = ctypes.c_int, ctypes.c_void_p
        fn.argtypes = [i, i, i, i, i, i, scalar, p, i, p, i, scalar, p, i]
        fn.restype = None
        routines[np.dtype(dtype)] = fn
    return routines


CBLAS = load_cblas()
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112


def as_blas_operand(m):
    """(array, transposed flag, leading dimension) for a row-major cblas call."""
    if m.flags.c_contiguous:
        return m, NO_TRANS, m.shape[1]
    if m.flags.f_contiguous:
        return m, TRANS, m.shape[0]
    m = np.ascontiguousarray(m)
    return m, NO_TRANS, m.shape[1]


def matmul(a, b):
    """a @ b for 2-d float arrays, computed by the BLAS that PyTensor's C code uses.

    Two OpenBLAS copies in one process (numpy's and PyTensor's) make their idle
    threads spin against each other on a small machine; keeping every large
    matrix product in one of them avoids that.
    """
    gemm = CBLAS.get(a.dtype) if CBLAS and a.dtype == b.dtype else None
    if gemm is None or a.ndim != 2 or b.ndim != 2 or 0 in a.shape + b.shape:
        return a @ b
    (m, k), n = a.shape, b.shape[1]
    a, trans_a, lda = as_blas_operand(a)
    b, trans_b, ldb = as_blas_operand(b)
    out = np.empty((m, n), dtype=a.dtype)
    gemm(ROW_MAJOR, trans_a, trans_b, m, n, k, 1.0, a.ctypes.data, lda,
         b.ctypes.data, ldb, 0.0, out.ctypes.data, n)
    return out


link_blas()
