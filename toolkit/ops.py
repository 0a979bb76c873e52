"""conv2d and max_pool_2d for PyTensor, with Theano's meaning.

PyTensor 3 dropped Theano's `tensor.nnet.conv2d` and `signal.downsample.max_pool_2d`;
these two functions bring them back as ordinary graph pieces that `T.grad`
differentiates. Underneath are five small Ops in the manner of Theano's CorrMM:
a correlation, its two gradients, and a max pool with its gradient (at the end,
the pool of rectified maps, its gradient, and a weight gradient that takes that
gradient in, which --mode C's rewrites put in).

Each Op has two implementations of the same thing:
- `perform`, in numpy: the readable reference, which the tests compare against
  and which PyTensor runs where it cannot use C (under Numba, in FAST_COMPILE);
- `c_code`, which PyTensor's C backends (its modes C and CVM, and --mode C)
  compile from c/corr2d.c, c/winograd.c, c/sparse_grad.c, c/max_pool.c and
  c/pool_grad.c (through
  ckernel.py): the patches unrolled in C, one OpenBLAS gemm per chunk of the batch,
  the input gradient scattered back in C.
ops_numba.py gives them their Numba versions (PyTensor's default mode) and
ops_jax.py their JAX versions; importing this module is all it takes for every
mode of PyTensor to use them (see the end of this file).

Each size rule is written once, below, and serves numpy, the C code, PyTensor's
shape inference and the JAX versions: conv_output_shape and pool_output_shape.

Layout is Theano's: images (batch, channels, rows, cols), filters
(n_kernels, channels, k_rows, k_cols).
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from pytensor import tensor as T
from pytensor.compile import optdb
from pytensor.graph.basic import Apply
from pytensor.graph.rewriting.basic import GraphRewriter

from toolkit.blas import matmul
from toolkit.ckernel import CExpr, CKernel, c_data, c_dims, c_frame, same_dtype

BORDER_MODES = ("valid", "full")


def conv2d(input, filters, border_mode="valid"):
    """Theano's conv2d: a true convolution (the kernel flipped), 'valid' or 'full'."""
    if border_mode not in BORDER_MODES:
        raise ValueError(f"border_mode must be 'valid' or 'full', got {border_mode!r}")
    filters = T.as_tensor_variable(filters)
    return Corr2d(border_mode)(input, filters[:, :, ::-1, ::-1])


def max_pool_2d(input, ws=(2, 2), ignore_border=False):
    """Theano's max_pool_2d: the maximum of each ws window, windows not overlapping.

    With ignore_border=False a partial window at the bottom or right edge is kept,
    so 13 rows pool to 7, as in the talk's network.
    """
    return MaxPool(tuple(int(w) for w in ws), bool(ignore_border))(input)


# --- the size rules ------------------------------------------------------------------
# Written with + - * // only, so that the same function computes numbers (numpy),
# symbolic sizes (infer_shape) and C expressions (ckernel.CExpr).

def conv_padding(border_mode, kernel_size):
    """Zeros added on each side of an image dimension: none for 'valid', k - 1 for 'full'."""
    return kernel_size - 1 if border_mode == "full" else 0


def conv_output_shape(image_shape, filter_shape, border_mode):
    """(batch, n_kernels, rows, cols) of a correlation of images with filters."""
    batch, _, rows, cols = image_shape
    n_kernels, _, kh, kw = filter_shape
    return (batch, n_kernels,
            rows + 2 * conv_padding(border_mode, kh) - kh + 1,
            cols + 2 * conv_padding(border_mode, kw) - kw + 1)


def pool_output_shape(shape, ws, ignore_border):
    """The shape after pooling the last two dimensions by windows of ws: a partial
    window at the edge is dropped with ignore_border, kept without."""
    *planes, rows, cols = shape
    if ignore_border:
        return (*planes, rows // ws[0], cols // ws[1])
    return (*planes, (rows + ws[0] - 1) // ws[0], (cols + ws[1] - 1) // ws[1])


# --- the correlation and its gradients ---------------------------------------------

def check_4d(name, var):
    var = T.as_tensor_variable(var)
    if var.ndim != 4:
        raise TypeError(f"{name} must be a 4-d tensor (batch, channels, rows, cols), "
                        f"got {var.ndim} dimensions")
    return var


def check_conv_shapes(image_shape, filter_shape, border_mode):
    """The one-line error for shapes that cannot be correlated, naming both."""
    if image_shape[1] != filter_shape[1]:
        raise ValueError(f"conv2d: input of shape {tuple(image_shape)} has {image_shape[1]} "
                         f"channels but filters of shape {tuple(filter_shape)} expect "
                         f"{filter_shape[1]}")
    if min(conv_output_shape(image_shape, filter_shape, border_mode)[2:]) < 1:
        raise ValueError(f"conv2d: filters of shape {tuple(filter_shape)} are larger than "
                         f"the input of shape {tuple(image_shape)} (border_mode='valid')")


def padded(images, border_mode, kernel_shape):
    pad = [conv_padding(border_mode, k) for k in kernel_shape]
    if pad == [0, 0]:
        return images
    return np.pad(images, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))


def im2col(images, kernel_shape):
    """Patches as columns: (channels * k_rows * k_cols, batch * out_rows * out_cols)."""
    windows = sliding_window_view(images, kernel_shape, axis=(2, 3))  # b c i j u v
    batch, channels = windows.shape[:2]
    return windows.transpose(1, 4, 5, 0, 2, 3).reshape(
        channels * kernel_shape[0] * kernel_shape[1], -1)


def c_corr2d(op, node, name, direction, bottom, weights, top):
    """The call of c/corr2d.c's corr2d in one direction. bottom, weights and top
    are C names of the images, the kernels and the correlation (see corr2d.c); the
    one the direction writes is already allocated."""
    b, w, t = c_dims(bottom), c_dims(weights), c_dims(top)
    args = [f"{DIRECTIONS[direction]} /* {direction} */", c_data(node, bottom), c_data(node, weights), c_data(node, top),
            *b, w[0], w[2], w[3],
            conv_padding(op.border_mode, w[2]), conv_padding(op.border_mode, w[3]), t[2], t[3]]
    return f"corr2d_{name}({', '.join(map(str, args))})"


# the three directions of corr2d.c (its macros are not defined where the call is)
DIRECTIONS = {"FORWARD": 0, "GRAD_WEIGHTS": 1, "GRAD_INPUTS": 2}


class Corr2dOp(CKernel):
    """What the correlation and its two gradients share: the border mode and corr2d.c."""
    __props__ = ("border_mode",)
    c_sources = ("gemm.c", "winograd.c", "sparse_grad.c", "corr2d.c")

    def __init__(self, border_mode="valid"):
        if border_mode not in BORDER_MODES:
            raise ValueError(f"border_mode must be 'valid' or 'full', got {border_mode!r}")
        super().__init__()
        self.border_mode = border_mode

    def c_defines(self, node):
        # CONV_TARGET_COLUMNS: output pixels one gemm works on, at least
        return {**DIRECTIONS, "CONV_TARGET_COLUMNS": 1024}


C_SHAPE = "(%ld, %ld, %ld, %ld)"


def c_shape(var):
    return ", ".join(f"(long){d}" for d in c_dims(var))


class Corr2d(Corr2dOp):
    """out[b, k] = sum over c of the cross-correlation of image[b, c] with kernel[k, c]."""

    def make_node(self, images, kernels):
        images, kernels = same_dtype(check_4d("input", images), check_4d("filters", kernels))
        out = T.tensor(dtype=images.dtype,
                       shape=(images.type.shape[0], kernels.type.shape[0], None, None))
        return Apply(self, [images, kernels], [out])

    def perform(self, node, inputs, outputs):
        images, kernels = inputs
        check_conv_shapes(images.shape, kernels.shape, self.border_mode)
        batch, n_kernels, rows, cols = conv_output_shape(images.shape, kernels.shape,
                                                         self.border_mode)
        cols_matrix = im2col(padded(images, self.border_mode, kernels.shape[2:]),
                             kernels.shape[2:])
        out = matmul(np.ascontiguousarray(kernels.reshape(n_kernels, -1)), cols_matrix)
        outputs[0][0] = np.ascontiguousarray(
            out.reshape(n_kernels, batch, rows, cols).transpose(1, 0, 2, 3))

    def c_code(self, node, name, inputs, outputs, sub):
        self.c_dtype(node)
        (images, kernels), (out,) = inputs, outputs
        dims = conv_output_shape(c_dims("images"), c_dims("kernels"), self.border_mode)
        return c_frame(
            sub, {"images": images, "kernels": kernels}, out, 4, "dims",
            declarations=f"npy_intp dims[4] = {{{', '.join(dims)}}};",
            check=f"""
    if (PyArray_DIMS(images)[1] != PyArray_DIMS(kernels)[1]) {{
        PyErr_Format(PyExc_ValueError, "conv2d: input of shape {C_SHAPE} has %ld channels "
                     "but filters of shape {C_SHAPE} expect %ld", {c_shape("images")},
                     (long)PyArray_DIMS(images)[1], {c_shape("kernels")},
                     (long)PyArray_DIMS(kernels)[1]);
        ok = 0;
    }} else if (dims[2] < 1 || dims[3] < 1) {{
        PyErr_Format(PyExc_ValueError, "conv2d: filters of shape {C_SHAPE} are larger "
                     "than the input of shape {C_SHAPE} (border_mode='valid')",
                     {c_shape("kernels")}, {c_shape("images")});
        ok = 0;
    }}""",
            call=c_corr2d(self, node, name, "FORWARD", "images", "kernels", out))

    def infer_shape(self, fgraph, node, shapes):
        return [conv_output_shape(*shapes, self.border_mode)]

    def pullback(self, inputs, outputs, cotangents):
        images, kernels = inputs
        grad_out = cotangents[0]
        return [
            Corr2dGradInputs(self.border_mode)(kernels, grad_out, images.shape[-2:]),
            Corr2dGradWeights(self.border_mode)(images, grad_out, kernels.shape),
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
        patches = im2col(padded(images, self.border_mode, kernel_shape[2:]), kernel_shape[2:])
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
        pad = [conv_padding(self.border_mode, k) for k in (kh, kw)]
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
    oh, ow = pool_output_shape((CExpr("height"), CExpr("width")), op.ws, op.ignore_border)
    return f"""
    int nd = PyArray_NDIM({x});
    npy_intp height = PyArray_DIMS({x})[nd - 2], width = PyArray_DIMS({x})[nd - 1];
    npy_intp planes = 1, dims[NPY_MAXDIMS];
    npy_intp oh = {oh}, ow = {ow};
    for (int d = 0; d < nd - 2; d++) {{
        planes *= PyArray_DIMS({x})[d];
        dims[d] = PyArray_DIMS({x})[d];
    }}
    dims[nd - 2] = oh;
    dims[nd - 1] = ow;"""


class PoolOp(CKernel):
    """What max pooling and its gradient share: the window and the border rule (the
    window size a compile-time constant of their C, max_pool.c or pool_grad.c)."""
    __props__ = ("ws", "ignore_border")
    c_sources = ("max_pool.c",)

    def __init__(self, ws=(2, 2), ignore_border=False):
        if len(ws) != 2 or min(ws) < 1:
            raise ValueError(f"ws must be two positive window sizes, got {ws}")
        super().__init__()
        self.ws = ws
        self.ignore_border = ignore_border

    def c_defines(self, node):
        return {"WR": self.ws[0], "WC": self.ws[1]}


class Pooling(PoolOp):
    """What MaxPool and RectifyPool share: one input of at least 2 dims, pooled by
    the C function `c_function` of their file, and their gradient's Op."""
    c_function = None  # the name in the Op's .c file
    gradient = None    # the Op of the gradient, a PoolOp class

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        if x.ndim < 2:
            raise TypeError("max_pool_2d needs at least 2 dimensions (rows, cols)")
        out = T.tensor(dtype=x.dtype, shape=x.type.shape[:-2] + (None, None))
        return Apply(self, [x], [out])

    def c_code(self, node, name, inputs, outputs, sub):
        self.c_dtype(node)
        (x,), (out,) = inputs, outputs
        return c_frame(sub, {"x": x}, out, "nd", "dims", declarations=c_pool_dims(self, "x"),
                       call=f"{self.c_function}_{name}({c_data(node, 'x')}, "
                            f"{c_data(node, out)}, planes, height, width, oh, ow)")

    def infer_shape(self, fgraph, node, shapes):
        return [pool_output_shape(shapes[0], self.ws, self.ignore_border)]

    def pullback(self, inputs, outputs, cotangents):
        (x,), (out,), (grad_out,) = inputs, outputs, cotangents
        return [self.gradient(self.ws, self.ignore_border)(x, out, grad_out)]


class MaxPool(Pooling):
    c_function = "max_pool"

    def perform(self, node, inputs, outputs):
        (x,) = inputs
        out = np.full(pool_output_shape(x.shape, self.ws, self.ignore_border), -np.inf,
                      dtype=x.dtype)
        for rows, cols, n_rows, n_cols in window_offsets(self.ws, x.shape[-2:], out.shape[-2:]):
            region = out[..., :n_rows, :n_cols]
            np.maximum(region, x[..., rows, cols], out=region)
        outputs[0][0] = out


class PoolingGrad(PoolOp):
    """What the pools' gradients share: x, the pooled maps and their gradient in, the
    gradient of x out, computed by c/pool_grad.c with the Op's `gets_gradient`."""
    c_sources = ("pool_grad.c",)
    gets_gradient = None  # C: whether an element x of a window with maximum m gets it

    def c_defines(self, node):
        return {**super().c_defines(node), "GETS_GRADIENT(x, m)": self.gets_gradient}

    def make_node(self, x, out, grad_out):
        x, out, grad_out = same_dtype(x, out, grad_out)
        return Apply(self, [x, out, grad_out], [x.type()])

    def c_code(self, node, name, inputs, outputs, sub):
        self.c_dtype(node)
        (x, out, grad_out), (grad,) = inputs, outputs
        return c_frame(
            sub, {"x": x, "out": out, "grad_out": grad_out}, grad, "nd", "PyArray_DIMS(x)",
            declarations=c_pool_dims(self, "x"),
            check=f"""
    if (PyArray_NDIM(out) != nd || PyArray_NDIM(grad_out) != nd
            || !PyArray_CompareLists(PyArray_DIMS(out), dims, nd)
            || !PyArray_CompareLists(PyArray_DIMS(grad_out), dims, nd)) {{
        PyErr_SetString(PyExc_ValueError,
                        "{type(self).__name__}: the pooled maps or their gradient have the wrong shape");
        ok = 0;
    }}""",
            call=f"pool_grad_{name}({c_data(node, 'x')}, {c_data(node, 'out')}, "
                 f"{c_data(node, 'grad_out')}, {c_data(node, grad)}, "
                 "planes, height, width, oh, ow)")

    def infer_shape(self, fgraph, node, shapes):
        return [shapes[0]]

    def pullback(self, inputs, outputs, cotangents):
        raise NotImplementedError("second derivatives of max_pool_2d are not implemented")


class MaxPoolGrad(PoolingGrad):
    """Routes each window's gradient to the element(s) that were its maximum."""
    gets_gradient = "((x) == (m))"

    def perform(self, node, inputs, outputs):
        x, out, grad_out = inputs
        grad = np.zeros_like(x)
        for rows, cols, n_rows, n_cols in window_offsets(self.ws, x.shape[-2:], out.shape[-2:]):
            is_max = x[..., rows, cols] == out[..., :n_rows, :n_cols]
            grad[..., rows, cols] = is_max * grad_out[..., :n_rows, :n_cols]
        outputs[0][0] = grad


# --- max_pool_2d(rectify(x)) in one pass, and its gradient ---------------------------
# What --mode C runs for the CNN's rectify -> pool (c_rewrites puts them in): the
# rectified map, as large as the convolution's output, is never written.

def windows(x, ws, ignore_border, fill):
    """x's last two dims as (window row, row in it, window col, col in it): cropped
    to whole windows with ignore_border, else padded with `fill` up to whole ones."""
    out_rows, out_cols = pool_output_shape(x.shape, ws, ignore_border)[-2:]
    padded = np.full((*x.shape[:-2], out_rows * ws[0], out_cols * ws[1]), fill, dtype=x.dtype)
    rows, cols = min(x.shape[-2], padded.shape[-2]), min(x.shape[-1], padded.shape[-1])
    padded[..., :rows, :cols] = x[..., :rows, :cols]
    return padded.reshape(*x.shape[:-2], out_rows, ws[0], out_cols, ws[1])


def from_windows(x_windows, shape):
    """What windows() cut, back in `shape`: the padding dropped, 0 where no window was."""
    *planes, out_rows, wr, out_cols, wc = x_windows.shape
    whole = x_windows.reshape(*planes, out_rows * wr, out_cols * wc)
    x = np.zeros(shape, dtype=x_windows.dtype)
    rows, cols = min(shape[-2], whole.shape[-2]), min(shape[-1], whole.shape[-1])
    x[..., :rows, :cols] = whole[..., :rows, :cols]
    return x


class RectifyPool(Pooling):
    """max_pool_2d(max(x, 0), ws, ignore_border) in one pass over x: each window's
    maximum, taken from 0 up (max is monotone, so this is the pool of the rectified
    map). A NaN in a window makes the window NaN, as numpy.maximum does."""
    c_sources = ("max_pool.c", "rectify_pool.c")  # max_pool.c's pool_plane
    c_function = "rectify_pool"

    def perform(self, node, inputs, outputs):
        # the windows' maxima (NaN if any is NaN), then the rectifier; a partial
        # window's padding is -inf, which neither wins nor hides a NaN
        x_windows = windows(inputs[0], self.ws, self.ignore_border, fill=-np.inf)
        outputs[0][0] = np.maximum(x_windows.max(axis=(-3, -1)), 0).astype(node.outputs[0].dtype)


class RectifyPoolGrad(PoolingGrad):
    """The gradient of max_pool_2d(max(x, 0)) with respect to x, given the pooled
    `out` and its gradient: each window's gradient goes to every element of x that
    is >= 0 and equal to the window's maximum; other elements, and those in no
    window, get 0. It is what MaskWhereEqual(r, x, MaxPoolGrad(r, out, g)) computes
    with r = max(x, 0), for any `out`: r == x exactly where x >= 0, and there r is x."""
    gets_gradient = "(((x) >= 0) & ((x) == (m)))"

    def perform(self, node, inputs, outputs):
        x, out, grad_out = inputs
        # NaN padding is not >= 0: a partial window's padding gets nothing
        x_windows = windows(x, self.ws, self.ignore_border, fill=np.nan)
        gets_it = (x_windows >= 0) & (x_windows == out[..., :, None, :, None])
        # a product, as the unfused chain computes it: a NaN gradient stays NaN
        grad_windows = gets_it * grad_out[..., :, None, :, None]
        outputs[0][0] = from_windows(grad_windows, x.shape).astype(node.outputs[0].dtype)


class Corr2dGradWeightsOfPool(Corr2dOp):
    """Corr2dGradWeights(images, RectifyPoolGrad(conv_map, pooled, grad_pooled)) in one
    pass (c/pool_grad_weights.c): the map's gradient made chunk by chunk where the
    weight gradient reads it, never written whole. --mode C's rewrites put it in
    where nothing else reads that gradient: the CNN's first layer."""
    __props__ = ("border_mode", "ws", "ignore_border")
    c_sources = ("gemm.c", "winograd.c", "sparse_grad.c", "corr2d.c", "pool_grad.c",
                 "pool_grad_weights.c")

    def __init__(self, border_mode, ws, ignore_border):
        super().__init__(border_mode)
        self.pool_grad = RectifyPoolGrad(tuple(ws), ignore_border)
        self.ws, self.ignore_border = self.pool_grad.ws, ignore_border

    def c_defines(self, node):
        return {**super().c_defines(node), **self.pool_grad.c_defines(node)}

    def make_node(self, images, conv_map, pooled, grad_pooled, kernel_shape):
        gradient = self.pool_grad.make_node(conv_map, pooled, grad_pooled).outputs[0]
        node = Corr2dGradWeights(self.border_mode).make_node(images, gradient, kernel_shape)
        conv_map, pooled, grad_pooled = same_dtype(conv_map, pooled, grad_pooled)
        return Apply(self, [node.inputs[0], conv_map, pooled, grad_pooled, node.inputs[2]],
                     [node.outputs[0].type()])

    def perform(self, node, inputs, outputs):
        images, conv_map, pooled, grad_pooled, kernel_shape = inputs
        gradient = [[None]]
        self.pool_grad.perform(node, [conv_map, pooled, grad_pooled], gradient)
        Corr2dGradWeights(self.border_mode).perform(
            node, [images, gradient[0][0], kernel_shape], outputs)

    def c_code(self, node, name, inputs, outputs, sub):
        self.c_dtype(node)
        (images, conv_map, pooled, grad_pooled, shape), (out,) = inputs, outputs
        kernels = [CExpr(f"dims[{d}]") for d in range(4)]
        conv = conv_output_shape(c_dims("images"), kernels, self.border_mode)
        pooled_dims = pool_output_shape(conv, self.ws, self.ignore_border)
        args = [*(c_data(node, v) for v in ("images", "conv_map", "pooled", "grad_pooled", out)),
                *c_dims("images"), "dims[0]", "dims[2]", "dims[3]",
                conv_padding(self.border_mode, kernels[2]),
                conv_padding(self.border_mode, kernels[3]),
                "conv[2]", "conv[3]", "pooled_dims[2]", "pooled_dims[3]"]
        return c_frame(
            sub, {"images": images, "conv_map": conv_map, "pooled": pooled,
                  "grad_pooled": grad_pooled}, out, 4, "dims",
            declarations=f"""
    npy_intp dims[4];
    for (int d = 0; d < 4; d++) dims[d] = *(npy_int64 *)PyArray_GETPTR1({shape}, d);
    npy_intp conv[4] = {{{', '.join(conv)}}};
    npy_intp pooled_dims[4] = {{{', '.join(pooled_dims)}}};""",
            check="""
    if (PyArray_NDIM(conv_map) != 4 || PyArray_NDIM(pooled) != 4 || PyArray_NDIM(grad_pooled) != 4
            || !PyArray_CompareLists(PyArray_DIMS(conv_map), conv, 4)
            || !PyArray_CompareLists(PyArray_DIMS(pooled), pooled_dims, 4)
            || !PyArray_CompareLists(PyArray_DIMS(grad_pooled), pooled_dims, 4)) {
        PyErr_SetString(PyExc_ValueError, "Corr2dGradWeightsOfPool: the map, its pooled "
                        "maps or their gradient do not fit the images and the kernel shape");
        ok = 0;
    }""",
            call=f"pool_grad_weights_{name}({', '.join(map(str, args))})")

    def infer_shape(self, fgraph, node, shapes):
        kernel_shape = node.inputs[4]
        return [tuple(kernel_shape[i] for i in range(4))]

    def pullback(self, inputs, outputs, cotangents):
        raise NotImplementedError("second derivatives of conv2d are not implemented")


MaxPool.gradient = MaxPoolGrad  # each pool's gradient, once both are defined
RectifyPool.gradient = RectifyPoolGrad


# --- on every backend of PyTensor, with nothing but this import ----------------------
# PyTensor's Numba and JAX backends look an Op's version up (numba_funcify,
# jax_funcify) only when they compile a graph, and importing them costs a second
# or more (JAX's import also fixes its 64-bit switch from floatX, which a script
# sets after its imports). So nothing is imported here: a rewrite tagged for each
# backend, which PyTensor runs in every compile for that backend and in no other,
# registers the versions first (ops_numba.py, ops_jax.py) and, for JAX, rewrites
# the graph as its versions need. The C modes need nothing: the Ops carry their C.

class BeforeLinking(GraphRewriter):
    """A graph rewrite that runs `prepare(fgraph)`: in optdb under a backend's tag,
    in every compile for that backend, before the graph is linked."""

    def __init__(self, prepare):
        self.prepare = prepare

    def apply(self, fgraph):
        self.prepare(fgraph)

    def __str__(self):
        return f"BeforeLinking({self.prepare.__name__})"


def numba_versions(fgraph):
    from toolkit import ops_numba
    ops_numba.register()


def jax_versions(fgraph):
    from toolkit import ops_jax
    ops_jax.register()
    ops_jax.rewrite(fgraph)


def numba_fused_pools(fgraph):
    from toolkit import ops_numba
    ops_numba.fuse_pools(fgraph)


# after fusion (49) has gathered the arithmetic, beside JAX's own size rewrite (100);
# the Numba graph's pools fused where --mode C fuses them (49.4)
BACKENDS = {"toolkit_numba_versions": (numba_versions, "numba", 99),
            "toolkit_jax_versions": (jax_versions, "jax", 99),
            "toolkit_numba_fused_pools": (numba_fused_pools, "numba", 49.4)}
for name, (prepare, tag, position) in BACKENDS.items():
    if name not in optdb.__db__:  # once per process, reload or not
        optdb.register(name, BeforeLinking(prepare), tag, position=position)
