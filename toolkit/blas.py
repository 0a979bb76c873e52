"""One OpenBLAS for everything: PyTensor's C code and the matrix products of ops.py.

A pip-installed PyTensor finds no BLAS to link its C code against ("could not
link to a BLAS installation") and falls back to slower paths. numpy's own
OpenBLAS uses 64-bit integers and renamed symbols, so it cannot serve; the
`scipy-openblas32` wheel (in requirements.txt) ships a 32-bit-integer OpenBLAS
whose symbols carry a `scipy_` prefix. The -D flags below rename PyTensor's
BLAS calls to those symbols, so `pip install -r requirements.txt` is enough.

The flags are a list, one argument each, so a venv under "/home/Jane Doe/" stays
one folder. PyTensor takes them as one string, blas__ldflags, which it splits with
shlex.split: they are joined with shlex.join, its inverse, and nowhere else.
"""
import ctypes
import functools
import os
import shlex
from pathlib import Path

import numpy as np

ROUTINES = [prefix + name for prefix in "sdcz" for name in
            ("gemm", "gemv", "ger", "dot", "axpy", "copy", "scal", "swap",
             "symm", "syrk", "trmm", "trsm")]


def link_flags(lib_dir, library, rpath):
    """The flags that link C code to the OpenBLAS called `library` (as -l takes it)
    in lib_dir, with its routines renamed to the wheel's `scipy_` symbols. rpath:
    whether the linker takes -Wl,-rpath (GNU ld and Apple's ld do; on Windows the
    DLL is found by the folder scipy_openblas32 adds at import instead)."""
    flags = [f"-L{lib_dir}", f"-l{library}"]
    if rpath:
        flags.append(f"-Wl,-rpath,{lib_dir}")
    return flags + [f"-D{r}_=scipy_{r}_" for r in ROUTINES] + [
        f"-Dopenblas_{f}_num_threads=scipy_openblas_{f}_num_threads" for f in ("get", "set")]


def wheel():
    """The scipy_openblas32 module, or None where it is not installed."""
    try:
        import scipy_openblas32
    except ImportError:
        return None
    return scipy_openblas32


def openblas_flags(rpath=True):
    """The flags (a list) linking C code to scipy-openblas32, as the wheel reports
    its folder and library name; [] without the wheel."""
    openblas = wheel()
    if openblas is None:
        return []
    return link_flags(openblas.get_lib_dir(), openblas.get_library(), rpath)


def user_configured_blas():
    flags = os.environ.get("PYTENSOR_FLAGS", "") + os.environ.get("PYTENSORRC", "")
    return "blas__ldflags" in flags or "blas.ldflags" in flags


def users_flags():
    """The user's blas__ldflags as a list, split as PyTensor splits them (ValueError
    for unbalanced quotes)."""
    import pytensor
    return shlex.split(pytensor.config.blas__ldflags)


def link_pytensor(flags=None):
    """Point PyTensor's C backend at scipy-openblas32 (or the given list of flags),
    unless the user chose a BLAS."""
    import pytensor
    flags = openblas_flags() if flags is None else flags
    if flags and not user_configured_blas():
        pytensor.config.blas__ldflags = shlex.join(flags)


def one_thread():
    """Run OpenBLAS on one thread, unless the user set OPENBLAS_NUM_THREADS.

    The C mode shares each batch among the cores itself (OpenMP, in the C kernels
    of c/). OpenBLAS's own threads would wait for work by spinning on the same
    cores, and the two pools slow each other down (docs/speed.md).
    """
    openblas = wheel()
    if "OPENBLAS_NUM_THREADS" in os.environ or openblas is None:
        return
    openblas.dll.scipy_openblas_set_num_threads(1)


def numbas_blas_one_thread():
    """Run on one thread the OpenBLAS that a Numba graph's matrix products call
    (np.dot compiled by Numba calls scipy's BLAS, which scipy's wheel bundles in
    scipy.libs), unless the user set OPENBLAS_NUM_THREADS.

    Called where the project's C kernels join a Numba graph: they share the cores
    by OpenMP, as in --mode C, and that OpenBLAS's idle threads, spinning for the
    next product, would take the cores from them (the CNN's step on two cores:
    180 ms, 108 with this, 60 with ops_numba.keep_freed_memory too; docs/backends.md).
    A scipy built against another BLAS (conda's, a system one) is left alone.
    """
    if "OPENBLAS_NUM_THREADS" in os.environ:
        return
    import scipy
    import scipy.linalg.cython_blas  # noqa: F401 - the library is loaded by now
    for path in (Path(scipy.__file__).parent.parent / "scipy.libs").glob("libscipy_openblas*"):
        setter = getattr(ctypes.CDLL(str(path)), "scipy_openblas_set_num_threads", None)
        if setter is not None:
            setter(1)


@functools.cache
def cblas_gemm():
    """{dtype: cblas_?gemm} from scipy-openblas32 through ctypes; {} without it."""
    scipy_openblas32 = wheel()
    if scipy_openblas32 is None:
        return {}
    routines = {}
    for dtype, name, scalar in ((np.float32, "scipy_cblas_sgemm", ctypes.c_float),
                                (np.float64, "scipy_cblas_dgemm", ctypes.c_double)):
        fn = getattr(scipy_openblas32.dll, name)
        i, p = ctypes.c_int, ctypes.c_void_p
        fn.argtypes = [i, i, i, i, i, i, scalar, p, i, p, i, scalar, p, i]
        fn.restype = None
        routines[np.dtype(dtype)] = fn
    return routines


ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112


def as_operand(m):
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
    gemm = cblas_gemm().get(a.dtype) if a.dtype == b.dtype else None
    if gemm is None or a.ndim != 2 or b.ndim != 2 or 0 in a.shape + b.shape:
        return a @ b
    (m, k), n = a.shape, b.shape[1]
    a, trans_a, lda = as_operand(a)
    b, trans_b, ldb = as_operand(b)
    out = np.empty((m, n), dtype=a.dtype)
    gemm(ROW_MAJOR, trans_a, trans_b, m, n, k, 1.0, a.ctypes.data, lda,
         b.ctypes.data, ldb, 0.0, out.ctypes.data, n)
    return out
