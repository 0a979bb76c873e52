"""conv2d and max_pool_2d for PyTensor, with Theano's meaning.

PyTensor 3 dropped Theano's `tensor.nnet.conv2d` and `signal.downsample.max_pool_2d`;
these two functions bring them back as ordinary graph pieces that `T.grad`
differentiates. Underneath are five small Ops in the manner of Theano's CorrMM:
a correlation, its two gradients, and a max pool with its gradient.

Each Op has two implementations of the same thing:
- `perform`, in numpy: the readable reference, which the tests compare against
  and which PyTensor runs where it cannot use C (under Numba, in FAST_COMPILE);
- `c_code`, which PyTensor's C backend (--mode C) compiles from corr2d.c and
  max_pool.c: the patches unrolled in C, one OpenBLAS gemm per chunk of the
  batch, the input gradient scattered back in C.
(ops_jax.py gives them their JAX versions.)

Layout is Theano's: images (batch, channels, rows, cols), filters
(n_kernels, channels, k_rows, k_cols).
"""
import hashlib
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from pytensor import tensor as T
from pytensor.graph.basic import Apply
from pytensor.link.c.op import OpenMPOp
from pytensor.scalar import upcast

from toolkit.blas import matmul

HERE = Path(__file__).parent


def conv2d(input, filters, border_mode="valid"):
    """Theano's conv2d: a true convolution (the kernel flipped), 'valid' or 'full'."""
    if border_mode not in ("valid", "full"):
        raise ValueError(f"border_mode must be 'valid' or 'full', got {border_mode!r}")
    filters = T.as_tensor_variable(filters)
    padding = 0 if border_mode == "valid" else "full"
    return Corr2d(padding)(input, filters[:, :, ::-1, ::-1])


def max_pool_2d(input, ws=(2, 2), ignore_border=False):
    """Theano's max_pool_2d: the maximum of each ws window, windows not overlapping.

    With ignore_border=False a partial window at the bottom or right edge is kept,
    so 13 rows pool to 7, as in the talk's network.
    """
    return MaxPool(tuple(int(w) for w in ws), bool(ignore_border))(input)


# --- what the C implementations share ----------------------------------------------

class CKernel(OpenMPOp):
    """An Op whose C code is a function of a .c file beside this one, compiled once
    per node for its dtype (float32 or float64; other dtypes run `perform`), with
    OpenMP where the compiler has it (PyTensor checks, and falls back to one core)."""
    c_source = None  # the .c file's name, beside this one

    def __init__(self):
        super().__init__(openmp=True)  # PyTensor's own default (config.openmp) is off

    def c_support_code(self, **kwargs):
        from pytensor.tensor.blas_headers import blas_header_text
        return blas_header_text() + C_SUPPORT

    def c_defines(self, node):
        """Macros the .c file reads, besides real, gemm_ and FN."""
        return {}

    def c_support_code_apply(self, node, name):
        dtype = self.c_dtype(node)
        defines = {"real": f"npy_{dtype}", "gemm_": "dgemm_" if dtype == "float64" else "sgemm_",
                   "FN(f)": f"f##_{name}", **self.c_defines(node)}
        return ("".join(f"#define {k} {v}\n" for k, v in defines.items())
                + (HERE / self.c_source).read_text()
                + "".join(f"\n#undef {k.split('(')[0]}" for k in defines) + "\n")

    def c_dtype(self, node):
        dtype = node.outputs[0].dtype
        if dtype not in ("float32", "float64"):
            raise NotImplementedError(f"C code for float32 and float64 only, not {dtype}")
        return dtype

    def c_libraries(self, **kwargs):
        from pytensor.tensor.blas import ldflags
        return ldflags()

    def c_compile_args(self, **kwargs):
        from pytensor.tensor.blas import ldflags
        return super().c_compile_args(**kwargs) + ldflags(libs=False, flags=True) + ["-O3"]

    def c_lib_dirs(self, **kwargs):
        from pytensor.tensor.blas import ldflags
        return ldflags(libs=False, libs_dir=True)

    def c_header_dirs(self, **kwargs):
        from pytensor.tensor.blas import ldflags
        return ldflags(libs=False, include_dir=True)

    def c_code_cache_version(self):
        from pytensor.tensor.blas_headers import blas_header_version
        # PyTensor reuses a compiled node while this tuple stays the same: it must
        # change with every line of C that goes into the node
        code = (HERE / self.c_source).read_bytes() + C_SUPPORT.encode()
        return (2, int(hashlib.sha256(code).hexdigest()[:8], 16), *blas_header_version())


C_SUPPORT = """
#include <string.h>
#include <stdlib.h>
enum { FORWARD, GRAD_WEIGHTS, GRAD_INPUTS };
#define CONV_TARGET_COLUMNS 1024  /* output pixels one gemm works on, at least */

#ifdef _OPENMP
#include <omp.h>
/* as many threads as cores, but no more than pieces of work */
static int parallel_threads(long pieces) {
    int cores = omp_get_max_threads();
    return pieces < 1 ? 1 : (pieces < cores ? (int)pieces : cores);
}
static int thread_number(void) { return omp_get_thread_num(); }
#else
static int parallel_threads(long pieces) { return 1; }
static int thread_number(void) { return 0; }
#endif

/* While the cores share a batch, each one's BLAS calls run on one thread: OpenBLAS's
 * own threads would compete with them for the same cores. (Weak: a BLAS without
 * these calls keeps its setting.) */
#ifdef __cplusplus
extern "C" {
#endif
void openblas_set_num_threads(int) __attribute__((weak));
int openblas_get_num_threads(void) __attribute__((weak));
#ifdef __cplusplus
}
#endif
static int blas_single_thread(void) {
    if (!openblas_set_num_threads || !openblas_get_num_threads) return 0;
    int n = openblas_get_num_threads();
    if (n > 1) openblas_set_num_threads(1);
    return n;
}
static void blas_restore_threads(int n) {
    if (n > 1) openblas_set_num_threads(n);
}
"""


def same_dtype(*variables):
    """The variables as tensors of their common dtype, so C sees one type."""
    variables = [T.as_tensor_variable(v) for v in variables]
    dtype = upcast(*(v.dtype for v in variables))
    return [T.cast(v, dtype) if v.dtype != dtype else v for v in variables]


def check_4d(name, var):
    var = T.as_tensor_variable(var)
    if var.ndim != 4:
        raise TypeError(f"{name} must be a 4-d tensor (batch, channels, rows, cols), "
                        f"got {var.ndim} dimensions")
    return var


C_CONTIGUOUS = "PyArrayObject *%(var)s = PyArray_GETCONTIGUOUS(%(input)s);"
C_OUTPUT = """
    if (%(out)s == NULL || PyArray_NDIM(%(out)s) != %(nd)s || !PyArray_IS_C_CONTIGUOUS(%(out)s)
        || !PyArray_CompareLists(PyArray_DIMS(%(out)s), %(dims)s, %(nd)s)) {
        Py_XDECREF(%(out)s);
        %(out)s = (PyArrayObject *)PyArray_EMPTY(%(nd)s, %(dims)s, %(typenum)s, 0);
    }
"""


def c_frame(sub, inputs, out, nd, dims, call, declarations="", check=""):
    """The C around every CKernel's call: a contiguous view of each input (`inputs`
    maps the view's C name to the input), the `declarations`, a `check` that may set
    a Python error and `ok = 0`, the output allocated as an array of `nd` dims
    `dims` (or last call's reused), then `call`, a C expression that is nonzero on
    failure; the views released, and PyTensor's `fail` on any error."""
    views = "\n    ".join(C_CONTIGUOUS % dict(var=v, input=i) for v, i in inputs.items())
    releases = " ".join(f"Py_DECREF({v});" for v in inputs)
    typenum = f"PyArray_TYPE({next(iter(inputs))})"
    return f"""
    {{
    {views}
    {declarations}
    int ok = 1;
    {check}
    if (ok) {{
        {C_OUTPUT % dict(out=out, nd=nd, dims=dims, typenum=typenum)}
        ok = {out} != NULL;
    }}
    if (ok && ({call}) != 0) {{
        if (!PyErr_Occurred()) PyErr_NoMemory();
        ok = 0;
    }}
    {releases}
    if (!ok) {{ {sub["fail"]} }}
    }}"""


def c_data(node, var):
    """A typed pointer to the data of the array `var` (a C expression)."""
    return f"(npy_{node.outputs[0].dtype} *)PyArray_DATA({var})"


C_SHAPE = "(%ld, %ld, %ld, %ld)"


def c_shape(var):
    return ", ".join(f"(long)PyArray_DIMS({var})[{i}]" for i in range(4))


# --- the correlation and its gradients ---------------------------------------------

def padding_for(padding, kernel_shape):
    return (kernel_shape[0] - 1, kernel_shape[1] - 1) if padding == "full" else (0, 0)


def output_size(image_shape, kernel_shape, padding):
    pad = padding_for(padding, kernel_shape)
    return tuple(i + 2 * p - k + 1 for i, k, p in zip(image_shape, kernel_shape, pad))


def check_conv_shapes(image_shape, kernel_shape, padding):
    """The one-line error for shapes that cannot be correlated, naming both."""
    if image_shape[1] != kernel_shape[1]:
        raise ValueError(f"conv2d: input of shape {tuple(image_shape)} has {image_shape[1]} "
                         f"channels but filters of shape {tuple(kernel_shape)} expect "
                         f"{kernel_shape[1]}")
    if min(output_size(image_shape[2:], kernel_shape[2:], padding)) < 1:
        raise ValueError(f"conv2d: filters of shape {tuple(kernel_shape)} are larger than "
                         f"the input of shape {tuple(image_shape)} (border_mode='valid')")


def im2col(images, kernel_shape, pad):
    """Patches as columns: (channels * k_rows * k_cols, batch * out_rows * out_cols)."""
    if pad != (0, 0):
        images = np.pad(images, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    windows = sliding_window_view(images, kernel_shape, axis=(2, 3))  # b c i j u v
    batch, channels, rows, cols = windows.shape[:4]
    cols_matrix = windows.transpose(1, 4, 5, 0, 2, 3).reshape(
        channels * kernel_shape[0] * kernel_shape[1], batch * rows * cols)
    return cols_matrix, (rows, cols)


def c_corr2d(op, node, name, pass_name, images, kernels, outputs):
    """The call of corr2d.c's corr2d for one pass, on the arrays named (C expressions)."""
    pad = "0, 0" if op.padding == 0 else \
        f"PyArray_DIMS({kernels})[2] - 1, PyArray_DIMS({kernels})[3] - 1"
    return (f"corr2d_{name}({pass_name}, {c_data(node, images)}, {c_data(node, kernels)}, "
            f"{c_data(node, outputs)}, "
            + ", ".join(f"PyArray_DIMS({images})[{d}]" for d in range(4)) + ", "
            + ", ".join(f"PyArray_DIMS({kernels})[{d}]" for d in (0, 2, 3)) + f", {pad})")


class Corr2dOp(CKernel):
    """What the correlation and its two gradients share: the padding, and corr2d.c."""
    __props__ = ("padding",)
    c_source = "corr2d.c"

    def __init__(self, padding=0):
        super().__init__()
        self.padding = padding


class Corr2d(Corr2dOp):
    """out[b, k] = sum over c of the cross-correlation of image[b, c] with kernel[k, c]."""

    def make_node(self, images, kernels):
        images, kernels = same_dtype(check_4d("input", images), check_4d("filters", kernels))
        out = T.tensor(dtype=images.dtype,
                       shape=(images.type.shape[0], kernels.type.shape[0], None, None))
        return Apply(self, [images, kernels], [out])

    def perform(self, node, inputs, outputs):
        images, kernels = inputs
        check_conv_shapes(images.shape, kernels.shape, self.padding)
        n_kernels = kernels.shape[0]
        pad = padding_for(self.padding, kernels.shape[2:])
        cols, (rows, width) = im2col(images, kernels.shape[2:], pad)
        out = matmul(np.ascontiguousarray(kernels.reshape(n_kernels, -1)), cols)
        out = out.reshape(n_kernels, images.shape[0], rows, width).transpose(1, 0, 2, 3)
        outputs[0][0] = np.ascontiguousarray(out)

    def c_code(self, node, name, inputs, outputs, sub):
        self.c_dtype(node)
        (images, kernels), (out,) = inputs, outputs
        grow = "+ k[{0}] - 1" if self.padding == "full" else "- k[{0}] + 1"
        return c_frame(
            sub, {"images": images, "kernels": kernels}, out, 4, "dims",
            declarations=f"""
    npy_intp *i = PyArray_DIMS(images), *k = PyArray_DIMS(kernels);
    npy_intp dims[4] = {{i[0], k[0], i[2] {grow.format(2)}, i[3] {grow.format(3)}}};""",
            check=f"""
    if (i[1] != k[1]) {{
        PyErr_Format(PyExc_ValueError, "conv2d: input of shape {C_SHAPE} has %ld channels "
                     "but filters of shape {C_SHAPE} expect %ld", {c_shape("images")},
                     (long)i[1], {c_shape("kernels")}, (long)k[1]);
        ok = 0;
    }} else if (dims[2] < 1 || dims[3] < 1) {{
        PyErr_Format(PyExc_ValueError, "conv2d: filters of shape {C_SHAPE} are larger "
                     "than the input of shape {C_SHAPE} (border_mode='valid')",
                     {c_shape("kernels")}, {c_shape("images")});
        ok = 0;
    }}""",
            call=c_corr2d(self, node, name, "FORWARD", "images", "kernels", out))

    def infer_shape(self, fgraph, node, shapes):
        (b, _, h, w), (k, _, kh, kw) = shapes
        if self.padding == "full":
            return [(b, k, h + kh - 1, w + kw - 1)]
        return [(b, k, h - kh + 1, w - kw + 1)]

    def pullback(self, inputs, outputs, cotangents):
        images, kernels = inputs
        grad_out = cotangents[0]
        return [
            Corr2dGradInputs(self.padding)(kernels, grad_out, images.shape[-2:]),
            Corr2dGradWeights(self.padding)(images, grad_out, kernels.shape),
        ]


class Corr2dGradWeights(Corr2dOp):
    """The gradient of Corr2d with respect to its kernels: output gradients times
    the patches of the images, summed over the batch."""

    def make_node(self, images, grad_out, kernel_shape):
        images, grad_out = same_dtype(check_4d("input", images), check_4d("gradient", grad_out))
        kernel_shape = T.cast(T.as_tensor_variable(kernel_shape), "int64")
        out = T.tensor(dtype=grad_out.dtype, shape=(grad_out.type.shape[1], None, None, None))
        return Apply(self, [images, grad_out, kernel_shape], [out])

    def perform(self, node, inputs, outputs):
        images, grad_out, kernel_shape = inputs
        kernel_shape = tuple(int(s) for s in kernel_shape)
        patches, _ = im2col(images, kernel_shape[2:], padding_for(self.padding, kernel_shape[2:]))
        grad_2d = grad_out.transpose(1, 0, 2, 3).reshape(kernel_shape[0], -1)
        outputs[0][0] = matmul(grad_2d, patches.T).reshape(kernel_shape)

    def c_code(self, node, name, inputs, outputs, sub):
        self.c_dtype(node)
        (images, grad_out, shape), (out,) = inputs, outputs
        return c_frame(
            sub, {"images": images, "grad_out": grad_out}, out, 4, "dims",
            declarations=f"""
    npy_intp dims[4];
    for (int d = 0; d < 4; d++) dims[d] = *(npy_int64 *)PyArray_GETPTR1({shape}, d);""",
            call=c_corr2d(self, node, name, "GRAD_WEIGHTS", "images", out, "grad_out"))

    def infer_shape(self, fgraph, node, shapes):
        kernel_shape = node.inputs[2]
        return [tuple(kernel_shape[i] for i in range(4))]

    def pullback(self, inputs, outputs, cotangents):
        raise NotImplementedError("second derivatives of conv2d are not implemented")


class Corr2dGradInputs(Corr2dOp):
    """The gradient of Corr2d with respect to its images: patches scattered back."""

    def make_node(self, kernels, grad_out, image_shape):
        kernels, grad_out = same_dtype(check_4d("filters", kernels), check_4d("gradient", grad_out))
        image_shape = T.cast(T.as_tensor_variable(image_shape), "int64")
        out = T.tensor(dtype=grad_out.dtype,
                       shape=(grad_out.type.shape[0], kernels.type.shape[1], None, None))
        return Apply(self, [kernels, grad_out, image_shape], [out])

    def perform(self, node, inputs, outputs):
        kernels, grad_out, image_shape = inputs
        n_kernels, channels, kh, kw = kernels.shape
        batch, _, rows, cols = grad_out.shape
        pad = padding_for(self.padding, (kh, kw))
        grad_2d = grad_out.transpose(1, 0, 2, 3).reshape(n_kernels, -1)
        grad_cols = matmul(np.ascontiguousarray(kernels.reshape(n_kernels, -1).T), grad_2d
                           ).reshape(channels, kh, kw, batch, rows, cols)
        height, width = int(image_shape[0]) + 2 * pad[0], int(image_shape[1]) + 2 * pad[1]
        grad = np.zeros((channels, batch, height, width), dtype=grad_2d.dtype)
        for u in range(kh):
            for v in range(kw):
                grad[:, :, u:u + rows, v:v + cols] += grad_cols[:, u, v]
        grad = grad[:, :, pad[0]:height - pad[0], pad[1]:width - pad[1]].transpose(1, 0, 2, 3)
        outputs[0][0] = np.ascontiguousarray(grad, dtype=node.outputs[0].dtype)

    def c_code(self, node, name, inputs, outputs, sub):
        self.c_dtype(node)
        (kernels, grad_out, shape), (out,) = inputs, outputs
        return c_frame(
            sub, {"kernels": kernels, "grad_out": grad_out}, out, 4, "dims",
            declarations=f"""
    npy_intp dims[4] = {{PyArray_DIMS(grad_out)[0], PyArray_DIMS(kernels)[1],
                        *(npy_int64 *)PyArray_GETPTR1({shape}, 0),
                        *(npy_int64 *)PyArray_GETPTR1({shape}, 1)}};""",
            call=c_corr2d(self, node, name, "GRAD_INPUTS", out, "kernels", "grad_out"))

    def infer_shape(self, fgraph, node, shapes):
        kernels, grad_out, image_shape = node.inputs
        return [(shapes[1][0], shapes[0][1], image_shape[0], image_shape[1])]

    def pullback(self, inputs, outputs, cotangents):
        raise NotImplementedError("second derivatives of conv2d are not implemented")


# --- max pooling -------------------------------------------------------------------

def pooled_size(size, window, ignore_border):
    return size // window if ignore_border else -(-size // window)


def window_offsets(ws, in_shape, out_shape):
    """For each position (u, v) inside a window: the input rows/cols it reads and
    how many output rows/cols have such an element (fewer at a partial edge)."""
    for u in range(ws[0]):
        n_rows = min(out_shape[0], max(0, -(-(in_shape[0] - u) // ws[0])))
        for v in range(ws[1]):
            n_cols = min(out_shape[1], max(0, -(-(in_shape[1] - v) // ws[1])))
            rows = slice(u, u + ws[0] * n_rows, ws[0])
            cols = slice(v, v + ws[1] * n_cols, ws[1])
            yield rows, cols, n_rows, n_cols


def c_pool_dims(op, x):
    """C declaring height, width, planes, oh, ow and the output dims of a pool of x."""
    def pooled(size, w):
        return f"{size} / {w}" if op.ignore_border else f"({size} + {w} - 1) / {w}"
    return f"""
    int nd = PyArray_NDIM({x});
    npy_intp height = PyArray_DIMS({x})[nd - 2], width = PyArray_DIMS({x})[nd - 1];
    npy_intp planes = 1, dims[NPY_MAXDIMS];
    npy_intp oh = {pooled("height", op.ws[0])}, ow = {pooled("width", op.ws[1])};
    for (int d = 0; d < nd - 2; d++) {{
        planes *= PyArray_DIMS({x})[d];
        dims[d] = PyArray_DIMS({x})[d];
    }}
    dims[nd - 2] = oh;
    dims[nd - 1] = ow;"""


class PoolOp(CKernel):
    """What max pooling and its gradient share: the window, the border rule, max_pool.c
    (with the window size as compile-time constants)."""
    __props__ = ("ws", "ignore_border")
    c_source = "max_pool.c"

    def __init__(self, ws=(2, 2), ignore_border=False):
        if len(ws) != 2 or min(ws) < 1:
            raise ValueError(f"ws must be two positive window sizes, got {ws}")
        super().__init__()
        self.ws = ws
        self.ignore_border = ignore_border

    def c_defines(self, node):
        return {"WR": self.ws[0], "WC": self.ws[1]}


class MaxPool(PoolOp):
    def make_node(self, x):
        x = T.as_tensor_variable(x)
        if x.ndim < 2:
            raise TypeError("max_pool_2d needs at least 2 dimensions (rows, cols)")
        out = T.tensor(dtype=x.dtype, shape=x.type.shape[:-2] + (None, None))
        return Apply(self, [x], [out])

    def out_shape(self, in_shape):
        return tuple(pooled_size(s, w, self.ignore_border) for s, w in zip(in_shape, self.ws))

    def perform(self, node, inputs, outputs):
        (x,) = inputs
        out_shape = self.out_shape(x.shape[-2:])
        out = np.full(x.shape[:-2] + out_shape, -np.inf, dtype=x.dtype)
        for rows, cols, n_rows, n_cols in window_offsets(self.ws, x.shape[-2:], out_shape):
            region = out[..., :n_rows, :n_cols]
            np.maximum(region, x[..., rows, cols], out=region)
        outputs[0][0] = out

    def c_code(self, node, name, inputs, outputs, sub):
        self.c_dtype(node)
        (x,), (out,) = inputs, outputs
        return c_frame(sub, {"x": x}, out, "nd", "dims", declarations=c_pool_dims(self, "x"),
                       call=f"max_pool_{name}({c_data(node, 'x')}, {c_data(node, out)}, "
                            "planes, height, width, oh, ow)")

    def infer_shape(self, fgraph, node, shapes):
        (shape,) = shapes
        out = []
        for size, w in zip(shape[-2:], self.ws):
            out.append(size // w if self.ignore_border else (size + w - 1) // w)
        return [tuple(shape[:-2]) + tuple(out)]

    def pullback(self, inputs, outputs, cotangents):
        (x,), (out,), (grad_out,) = inputs, outputs, cotangents
        return [MaxPoolGrad(self.ws, self.ignore_border)(x, out, grad_out)]


class MaxPoolGrad(PoolOp):
    """Routes each window's gradient to the element(s) that were its maximum."""

    def make_node(self, x, out, grad_out):
        x, out, grad_out = same_dtype(x, out, grad_out)
        return Apply(self, [x, out, grad_out], [x.type()])

    def perform(self, node, inputs, outputs):
        x, out, grad_out = inputs
        grad = np.zeros_like(x)
        for rows, cols, n_rows, n_cols in window_offsets(self.ws, x.shape[-2:], out.shape[-2:]):
            is_max = x[..., rows, cols] == out[..., :n_rows, :n_cols]
            grad[..., rows, cols] = is_max * grad_out[..., :n_rows, :n_cols]
        outputs[0][0] = grad

    def c_code(self, node, name, inputs, outputs, sub):
        self.c_dtype(node)
        (x, out, grad_out), (grad,) = inputs, outputs
        return c_frame(sub, {"x": x, "out": out, "grad_out": grad_out}, grad, "nd",
                       "PyArray_DIMS(x)", declarations=c_pool_dims(self, "x"),
                       call=f"max_pool_grad_{name}({c_data(node, 'x')}, {c_data(node, 'out')}, "
                            f"{c_data(node, 'grad_out')}, {c_data(node, grad)}, "
                            "planes, height, width, oh, ow)")

    def infer_shape(self, fgraph, node, shapes):
        return [shapes[0]]

    def pullback(self, inputs, outputs, cotangents):
        raise NotImplementedError("second derivatives of max_pool_2d are not implemented")
