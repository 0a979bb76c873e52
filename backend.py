"""Where a PyTensor graph compiles to: the --mode names and a BLAS for the C backend.

A pip-installed PyTensor finds no BLAS to link its C code against ("could not
link to a BLAS installation") and falls back to slower paths. numpy's own
OpenBLAS uses 64-bit integers and renamed symbols, so it cannot serve; the
`scipy-openblas32` wheel (in requirements.txt) ships a 32-bit-integer OpenBLAS
whose symbols carry a `scipy_` prefix. The -D flags below rename PyTensor's
BLAS calls to those symbols, so `pip install -r requirements.txt` is enough.
"""
import os

import pytensor
from pytensor.compile.mode import Mode

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


def compile_mode(name):
    """The PyTensor Mode behind a --mode name.

    C is PyTensor's C backend run by its C virtual machine (Theano's default),
    NUMBA and JAX are PyTensor's own modes of those names.
    """
    if name == "C":
        return Mode(linker="cvm", optimizer="fast_run")
    return name


link_blas()
