"""The framework under every C kernel of the project: how an Op hands PyTensor's C
backend a C file of its own, and the C that wraps each call.

A CKernel's C is the text of its files in c/ (ckernel.h once per module; gemm.c,
then the kernel's own file, once per node, with `real`, `gemm_`, `FN` and the Op's
own macros defined around them) and the `c_code` its Op generates with `c_frame`.
PyTensor keeps compiled modules in ~/.pytensor and finds them again by a key made
of each node's `c_code_cache_version_apply`; here that version is a hash of every
byte of that C, generated for the node, so a changed line can never run as the old.
"""
import hashlib
import platform
import shlex
from pathlib import Path

from pytensor import tensor as T
from pytensor.link.c.op import COp
from pytensor.scalar import upcast

from toolkit import toolchain

C_DIR = Path(__file__).parent / "c"


# The BLAS routines the kernels call (gemm.c), declared here rather than taken from
# PyTensor's BLAS header: where PyTensor found no BLAS, that header defines them
# itself, through numpy's C API, which needs the GIL that the kernels' OpenMP
# threads do not hold (the interpreter aborts). blas_flags() renames them to the
# library's symbols (-D).
BLAS_DECLARATIONS = """
extern "C" {
void sgemm_(char *, char *, int *, int *, int *, float *, float *, int *, float *, int *,
            float *, float *, int *);
void dgemm_(char *, char *, int *, int *, int *, double *, double *, int *, double *, int *,
            double *, double *, int *);
}
"""


def blas_flags():
    """The BLAS the kernels link to, in every mode of PyTensor that compiles C (its
    C and CVM, --mode C): the user's blas__ldflags, else scipy-openblas32 as
    toolchain.py tries it first (so the kernels and --mode C's PyTensor share one
    OpenBLAS); PyTensor's own search only where neither is there."""
    candidates = toolchain.blas_candidates(platform.system())
    if candidates:
        return candidates[0]
    import pytensor
    return shlex.split(pytensor.config.blas__ldflags)


class CKernel(COp):
    """An Op whose C code is made of files in c/, compiled once per node for its dtype
    (float32 or float64; other dtypes run `perform`), linked to the BLAS of
    blas_flags() by the Op itself (whichever of PyTensor's C modes compiles it),
    with OpenMP where the compiler has it (toolchain.openmp_flags; without, the
    kernels run on one core)."""
    c_sources = ()  # the files in c/ compiled for each node, in order

    def c_defines(self, node):
        """Macros the Op's C files read, besides real, gemm_ and FN."""
        return {}

    def c_dtype(self, node):
        dtype = node.outputs[0].dtype
        if dtype not in ("float32", "float64"):
            raise NotImplementedError(f"C code for float32 and float64 only, not {dtype}")
        if "gemm.c" in self.c_sources and not any(f.startswith("-l") for f in blas_flags()):
            raise NotImplementedError("no BLAS to link the C kernels to: perform runs")
        return dtype

    def c_support_code(self, **kwargs):
        return BLAS_DECLARATIONS + (C_DIR / "ckernel.h").read_text()

    def c_support_code_apply(self, node, name):
        return self.c_kernel_code(self.c_dtype(node), name, node)

    def c_kernel_code(self, dtype, name, node=None):
        """The Op's files in c/ for one dtype, with their macros around them: each
        function f is named f_{name}. Also what ckernel_library.py builds for Numba."""
        defines = {"real": f"npy_{dtype}", "gemm_": "dgemm_" if dtype == "float64" else "sgemm_",
                   "FN(f)": f"f##_{name}", **self.c_defines(node)}
        return ("".join(f"#define {k} {v}\n" for k, v in defines.items())
                + "".join((C_DIR / source).read_text() for source in self.c_sources)
                + "".join(f"\n#undef {k.split('(')[0]}" for k in defines) + "\n")

    def c_code_cache_version_apply(self, node):
        """A hash of all the C this node compiles: the support code, the node's files
        with their macros, and the C that c_code generates (under fixed names)."""
        try:
            text = (self.c_support_code()
                    + self.c_support_code_apply(node, "NODE")
                    + self.c_code(node, "NODE", [f"INPUT{i}" for i in range(len(node.inputs))],
                                  [f"OUTPUT{i}" for i in range(len(node.outputs))],
                                  {"fail": "FAIL;"}))
        except NotImplementedError:
            return ()  # no C for this dtype: PyTensor runs perform, and caches nothing
        text += shlex.join(self.c_compile_args() + self.c_libraries())
        digest = int(hashlib.sha256(text.encode()).hexdigest()[:12], 16)
        return (4, digest)

    # blas_flags() sorted as PyTensor takes them: -l, -L, -I, and the rest (the -D
    # renames, -Wl,-rpath) with the compiler's flags
    def c_libraries(self, **kwargs):
        return [f[2:] for f in blas_flags() if f.startswith("-l")]

    def c_lib_dirs(self, **kwargs):
        return [f[2:] for f in blas_flags() if f.startswith("-L")]

    def c_header_dirs(self, **kwargs):
        return [f[2:] for f in blas_flags() if f.startswith("-I")]

    def c_compile_args(self, **kwargs):
        others = [f for f in blas_flags() if not f.startswith(("-l", "-L", "-I"))]
        return [*toolchain.openmp_flags(), *others, "-O3"]


def same_dtype(*variables):
    """The variables as tensors of their common dtype, so C sees one type."""
    variables = [T.as_tensor_variable(v) for v in variables]
    dtype = upcast(*(v.dtype for v in variables))
    return [T.cast(v, dtype) if v.dtype != dtype else v for v in variables]


# --- the C around each call ----------------------------------------------------------

CONTIGUOUS = "PyArrayObject *%(view)s = PyArray_GETCONTIGUOUS(%(input)s);"


def c_frame(sub, inputs, out, nd, dims, call, declarations="", check="", view=CONTIGUOUS,
            typenum=None):
    """The C around every CKernel's call.

    `inputs` maps each view's C name to the input it views, made by the `view`
    template (a contiguous array unless told otherwise). Once every view exists:
    the `declarations`, a `check` that may set a Python error and `ok = 0`, the
    output allocated as an array of `nd` dims `dims` and numpy type number `typenum`
    (the first view's type unless told; or last call's array reused), then
    `call`, a C expression that is nonzero on failure. The views are released, and
    any error ends in PyTensor's `fail`."""
    views = "\n    ".join(view % dict(view=v, input=i) for v, i in inputs.items())
    exist = " && ".join(f"{v} != NULL" for v in inputs)
    releases = " ".join(f"Py_XDECREF({v});" for v in inputs)
    typenum = typenum or f"PyArray_TYPE({next(iter(inputs))})"
    return f"""
    {{
    {views}
    int ok = {exist};
    if (ok) {{
        {declarations}
        {check}
        if (ok && ({out} == NULL || PyArray_NDIM({out}) != {nd}
                   || !PyArray_IS_C_CONTIGUOUS({out})
                   || !PyArray_CompareLists(PyArray_DIMS({out}), {dims}, {nd}))) {{
            Py_XDECREF({out});
            {out} = (PyArrayObject *)PyArray_EMPTY({nd}, {dims}, {typenum}, 0);
            ok = {out} != NULL;
        }}
        if (ok && ({call}) != 0) {{
            if (!PyErr_Occurred()) PyErr_NoMemory();
            ok = 0;
        }}
    }}
    {releases}
    if (!ok) {{ {sub["fail"]} }}
    }}"""


def c_data(node, var):
    """A typed pointer to the data of the array `var` (a C expression)."""
    return f"(npy_{node.outputs[0].dtype} *)PyArray_DATA({var})"


def c_dims(var, n=4):
    """The first n sizes of the array `var`, as C expressions."""
    return tuple(CExpr(f"PyArray_DIMS({var})[{i}]") for i in range(n))


class CExpr(str):
    """A C integer expression that Python's + - * // build, so that one shape rule
    written in Python (ops.conv_output_shape, say) also writes the C that sizes an
    output. // is C's / , the same for the sizes here, which are never negative."""

    def _op(self, symbol, other, swap=False):
        if isinstance(other, int) and other == 0 and symbol in "+-":  # valid's zero padding
            return self
        left, right = (other, self) if swap else (self, other)
        return CExpr(f"({left} {symbol} {right})")

    def __add__(self, other): return self._op("+", other)
    def __sub__(self, other): return self._op("-", other)
    def __mul__(self, other): return self._op("*", other)
    def __rmul__(self, other): return self._op("*", other, swap=True)  # 2 * padding
    def __floordiv__(self, other): return self._op("/", other)
