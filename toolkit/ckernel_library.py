"""The project's C kernels (c/) as a shared library that the Numba versions call.

--mode C runs the Ops' C: im2col, one OpenBLAS gemm per chunk of the batch and
the pools, the chunks shared among the cores by OpenMP. Loops compiled by Numba
are slower, and sharing them among the cores (prange) fights OpenBLAS's own
threads. So where a C++ compiler and the BLAS are there, ops_numba.py calls the
same C: each Op's files, assembled as ckernel.py assembles them for PyTensor
(CKernel.c_kernel_code), here for float32 and float64 in one library per Op's
C, with one plain C entry per function that Numba declares by its symbol name
(numba's ExternalFunction). A symbol, unlike a ctypes function's address, means
the same in the next process, so PyTensor's numba cache keeps the compiled graphs.

Each library is built once, with the compiler, flags, OpenMP and BLAS link of
--mode C, and kept in PyTensor's compile folder under a hash of its C, the
compiler and the flags; a later run loads it. Where there is no compiler or no
BLAS, nothing is built and the Numba versions run their own loops; where the
build fails, one line says so (once: the failure is kept too).
Nothing here runs on import. Loading a library sets the two OpenBLAS libraries a
Numba graph calls to one thread (blas.py says why).
"""
import functools
import hashlib
import os
import re
import shlex
import tempfile
from pathlib import Path

from toolkit import blas, compiling, toolchain
from toolkit.ckernel import BLAS_DECLARATIONS, C_DIR

# What the kernels take from Python's and numpy's headers, which a library that
# never touches a Python object does without. The kernels report a failed
# allocation with PyErr_NoMemory() and -1: here the -1 alone, which the Numba
# code turns into a MemoryError (Python's error state is not theirs to set).
PRELUDE = """#include <stdint.h>
typedef float npy_float32;
typedef double npy_float64;
typedef intptr_t npy_intp;
#define PyErr_NoMemory() ((void)0)
"""

# The C functions of c/ that Numba calls, with their parameters as the files
# declare them (`real` being the dtype's type).
ENTRIES = {
    "corr2d": "int direction, real *bottom, real *weights, real *top, int batch, "
              "int channels, int height, int width, int n_kernels, int kh, int kw, "
              "int pad_r, int pad_c, int oh, int ow",
    "max_pool": "const real *x, real *out, npy_intp planes, int height, int width, "
                "int oh, int ow",
    "rectify_pool": "const real *x, real *out, npy_intp planes, int height, int width, "
                    "int oh, int ow",
    "pool_grad": "const real *x, const real *out, const real *grad_out, real *grad, "
                 "npy_intp planes, int height, int width, int oh, int ow",
}
DTYPES = ("float32", "float64")
KEY = "@KEY@"  # in source(): where the library's key goes in its symbols


def parameters(entry):
    """[(C type, name)] of an entry's parameters: ("const real *", "x"), ("int", "oh")."""
    return [re.fullmatch(r"(.*?)\s*(\w+)", p).groups() for p in ENTRIES[entry].split(", ")]


def symbol(entry, dtype, key):
    """The exported name: the library's key in it, so that two builds loaded into one
    process (a changed kernel, a test's failing build) never share a name."""
    return f"toolkit_{entry}_{dtype}_{key[:16]}"


def source(op, entry):
    """The library's C: the support code once, the Op's files per dtype, then an
    exported C function per dtype calling the entry (the files' are static). The
    symbols' key is left as KEY, filled in once the C is hashed."""
    text = PRELUDE + BLAS_DECLARATIONS + (C_DIR / "ckernel.h").read_text()
    for dtype in DTYPES:
        params = parameters(entry)
        declared = ", ".join(f"{t.replace('real', f'npy_{dtype}')} {n}" for t, n in params)
        text += op.c_kernel_code(dtype, dtype)
        text += (f'extern "C" int {symbol(entry, dtype, KEY)}({declared}) '
                 f'{{ return {entry}_{dtype}({", ".join(n for _, n in params)}); }}\n')
    return text


def flags(op):
    """PyTensor's flags for its C modules (-march, -fPIC...), then the Op's own (OpenMP,
    the BLAS renames, -O3) and its BLAS link, as --mode C compiles the Op."""
    from pytensor.link.c.cmodule import GCC_compiler
    return [*GCC_compiler.compile_args(), *op.c_compile_args(),
            *(f"-L{d}" for d in op.c_lib_dirs()), *(f"-l{lib}" for lib in op.c_libraries())]


def function(op, entry, dtype):
    """The Numba function calling the entry of op's C for dtype, and a key naming that
    C; None where there is none to call (no compiler, no BLAS, the build failed)."""
    from pytensor import config
    if dtype not in DTYPES or not config.cxx or not op.c_libraries():
        return None  # no compiler: the Numba versions' own loops, as expected
    text = source(op, entry)
    key = load(text, tuple(flags(op)))
    if key is None:
        return None
    from numba import types
    numba_types = {"int": types.intc, "npy_intp": types.intp}
    signature = types.intc(*(types.voidptr if t.endswith("*") else numba_types[t]
                             for t, _ in parameters(entry)))
    return types.ExternalFunction(symbol(entry, dtype, key), signature), key


def folder():
    """Where the libraries are kept: beside PyTensor's own compiled modules."""
    from pytensor import config
    return Path(config.compiledir) / "toolkit_numba_kernels"


@functools.cache
def load(text, flag_list):
    """The key of the library of this C, built unless kept, and loaded into the
    process; None where it cannot be."""
    from pytensor import config
    if not config.cxx:
        return None  # no compiler: the Numba versions' own loops, as expected
    key = hashlib.sha256("\n".join([config.cxx, toolchain.compiler_version(config.cxx),
                                    *flag_list, text]).encode()).hexdigest()
    library, failed = folder() / f"{key[:24]}.so", folder() / f"{key[:24]}.failed"
    if failed.exists():
        return None  # said when it failed
    if not library.exists() and not build(text.replace(KEY, key[:16]), flag_list, library,
                                          failed):
        return None
    from llvmlite import binding
    binding.load_library_permanently(str(library))  # where Numba's linker finds the symbols
    # the kernels share the cores by OpenMP, as in --mode C: the BLAS they call, and
    # the one the rest of the Numba graph calls, on one thread each
    blas.one_thread()
    blas.numbas_blas_one_thread()
    return key


SAID = set()  # the notes said in this process: "building", "failed"


def say_once(kind, line):
    """One line per kind of note, however many libraries a run builds."""
    if kind not in SAID:
        SAID.add(kind)
        compiling.say(line)


def build(text, flag_list, library, failed):
    """Compile the library whole into place (a run beside this one finds it complete
    or not at all); False, with one line said and the failure kept, if it fails."""
    from pytensor import config
    library.parent.mkdir(parents=True, exist_ok=True)
    say_once("building",
             f"compiling the C kernels for Numba: once, then kept in {library.parent}")
    with tempfile.TemporaryDirectory(dir=library.parent) as tmp:
        src, built = Path(tmp) / "kernels.cpp", Path(tmp) / "kernels.so"
        src.write_text(text)
        compiler_flags = [f for f in flag_list if not f.startswith(("-l", "-L"))]
        links = [f for f in flag_list if f.startswith(("-l", "-L"))]
        command = [config.cxx, *compiler_flags, "-shared", str(src), "-o", str(built), *links]
        try:
            done = toolchain.run_to_the_end(command, timeout=300)
        except toolchain.Unsure as e:  # no verdict on the C: try again next run
            say_once("failed", f"compiled no C kernels for Numba ({e}): Numba's own loops run")
            return False
        if done.returncode != 0:
            reason = toolchain.first_line(done.stderr or done.stdout)
            failed.write_text(f"{shlex.join(command)}\n{done.stderr}")
            say_once("failed", f"compiled no C kernels for Numba ({reason}): "
                               "Numba's own loops run")
            return False
        os.replace(built, library)
    return True
