"""conv2d and max_pool_2d for PyTensor, with Theano's meaning.

PyTensor 3 dropped Theano's `tensor.nnet.conv2d` and `signal.downsample.max_pool_2d`;
these two functions bring them back as ordinary graph pieces that `T.grad`
differentiates. Underneath are four small Ops in the manner of Theano's CorrMM:
a correlation, its two gradients, and a max pool with its gradient. Each one does
its work in numpy: the convolution as one matrix product over unrolled patches
("im2col"), so the heavy lifting is a single BLAS call.

Layout is Theano's: images (batch, channels, rows, cols), filters
(n_kernels, channels, k_rows, k_cols).
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from toolkit.blas import matmul

from pytensor import tensor as T
from pytensor.scalar import upcast
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op


def conv2d(input, filters, border_mode="valid"):
    """Theano's conv2d: a true convolution (the kernel flipped), 'valid' or 'full'."""
    if border_mode not in ("valid", "full"):
        raise ValueError(f"border_mode must be 'valid' or 'full', got {border_mode!r}")
    filters = T.as_tensor_variable(filters)
    padding = 0 if border_mode == "valid" else "full"
    out, _patches = Corr2d(padding)(input, filters[:, :, ::-1, ::-1])
    return out


def max_pool_2d(input, ws=(2, 2), ignore_border=False):
    """Theano's max_pool_2d: the maximum of each ws window, windows not overlapping.

    With ignore_border=False a partial window at the bottom or right edge is kept,
    so 13 rows pool to 7, as in the talk's network.
    """
    return MaxPool(tuple(int(w) for w in ws), bool(ignore_border))(input)


# --- the correlation and its gradients ---------------------------------------------

def padding_for(padding, kernel_shape):
    return (kernel_shape[0] - 1, kernel_shape[1] - 1) if padding == "full" else (0, 0)


def im2col(images, kernel_shape, pad):
    """Patches as columns: (channels * k_rows * k_cols, batch * out_rows * out_cols)."""
    if pad != (0, 0):
        images = np.pad(images, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    windows = sliding_window_view(images, kernel_shape, axis=(2, 3))  # b c i j u v
    batch, channels, rows, cols = windows.shape[:4]
    cols_matrix = windows.transpose(1, 4, 5, 0, 2, 3).reshape(
        channels * kernel_shape[0] * kernel_shape[1], batch * rows * cols)
    return cols_matrix, (rows, cols)


def check_4d(name, var):
    var = T.as_tensor_variable(var)
    if var.ndim != 4:
        raise TypeError(f"{name} must be a 4-d tensor (batch, channels, rows, cols), "
                        f"got {var.ndim} dimensions")
    return var


class Corr2d(Op):
    """out[b, k] = sum over c of the cross-correlation of image[b, c] with kernel[k, c].

    Its second output is the patch matrix, kept for the weight gradient so that
    the backward pass does not unroll the same patches again (under JAX it holds
    the padded images instead: see ops_jax.py).
    """
    __props__ = ("padding",)

    def __init__(self, padding=0):
        self.padding = padding

    def make_node(self, images, kernels):
        images, kernels = check_4d("input", images), check_4d("filters", kernels)
        dtype = upcast(images.dtype, kernels.dtype)
        out = T.tensor(dtype=dtype, shape=(images.type.shape[0], kernels.type.shape[0], None, None))
        patches = T.matrix(dtype=dtype)
        return Apply(self, [images, kernels], [out, patches])

    def perform(self, node, inputs, outputs):
        images, kernels = inputs
        if images.shape[1] != kernels.shape[1]:
            raise ValueError(f"conv2d: input has {images.shape[1]} channels, "
                             f"filters expect {kernels.shape[1]}")
        n_kernels = kernels.shape[0]
        pad = padding_for(self.padding, kernels.shape[2:])
        cols, (rows, width) = im2col(images, kernels.shape[2:], pad)
        dtype = node.outputs[0].dtype
        cols = cols.astype(dtype, copy=False)
        out = matmul(kernels.reshape(n_kernels, -1).astype(dtype), cols)
        out = out.reshape(n_kernels, images.shape[0], rows, width).transpose(1, 0, 2, 3)
        outputs[0][0] = np.ascontiguousarray(out)
        outputs[1][0] = cols

    def infer_shape(self, fgraph, node, shapes):
        (b, _, h, w), (k, _, kh, kw) = shapes
        if self.padding == "full":
            rows, cols = h + kh - 1, w + kw - 1
        else:
            rows, cols = h - kh + 1, w - kw + 1
        return [(b, k, rows, cols), (shapes[1][1] * kh * kw, b * rows * cols)]

    def pullback(self, inputs, outputs, cotangents):
        images, kernels = inputs
        grad_out = cotangents[0]
        return [
            Corr2dGradInputs(self.padding)(kernels, grad_out, images.shape[-2:]),
            Corr2dGradWeights()(outputs[1], grad_out, kernels.shape),
        ]


class Corr2dGradWeights(Op):
    """The gradient of Corr2d with respect to its kernels, from the forward patches."""
    __props__ = ()

    def make_node(self, patches, grad_out, kernel_shape):
        patches = T.as_tensor_variable(patches)
        grad_out = check_4d("gradient", grad_out)
        kernel_shape = T.as_tensor_variable(kernel_shape)
        out = T.tensor(dtype=grad_out.dtype, shape=(grad_out.type.shape[1], None, None, None))
        return Apply(self, [patches, grad_out, kernel_shape], [out])

    def perform(self, node, inputs, outputs):
        patches, grad_out, kernel_shape = inputs
        n_kernels = grad_out.shape[1]
        grad_2d = grad_out.transpose(1, 0, 2, 3).reshape(n_kernels, -1)
        grad = matmul(grad_2d, patches.T)
        outputs[0][0] = grad.reshape(tuple(int(s) for s in kernel_shape)).astype(
            node.outputs[0].dtype, copy=False)

    def infer_shape(self, fgraph, node, shapes):
        kernel_shape = node.inputs[2]
        return [tuple(kernel_shape[i] for i in range(4))]

    def pullback(self, inputs, outputs, cotangents):
        raise NotImplementedError("second derivatives of conv2d are not implemented")


class Corr2dGradInputs(Op):
    """The gradient of Corr2d with respect to its images: patches scattered back."""
    __props__ = ("padding",)

    def __init__(self, padding=0):
        self.padding = padding

    def make_node(self, kernels, grad_out, image_shape):
        kernels, grad_out = check_4d("filters", kernels), check_4d("gradient", grad_out)
        image_shape = T.as_tensor_variable(image_shape)
        out = T.tensor(dtype=grad_out.dtype,
                       shape=(grad_out.type.shape[0], kernels.type.shape[1], None, None))
        return Apply(self, [kernels, grad_out, image_shape], [out])

    def perform(self, node, inputs, outputs):
        kernels, grad_out, image_shape = inputs
        n_kernels, channels, kh, kw = kernels.shape
        batch, _, rows, cols = grad_out.shape
        pad = padding_for(self.padding, (kh, kw))
        grad_2d = grad_out.transpose(1, 0, 2, 3).reshape(n_kernels, -1)
        grad_cols = matmul(kernels.reshape(n_kernels, -1).T.astype(grad_2d.dtype), grad_2d
                          ).reshape(channels, kh, kw, batch, rows, cols)
        height, width = int(image_shape[0]) + 2 * pad[0], int(image_shape[1]) + 2 * pad[1]
        grad = np.zeros((channels, batch, height, width), dtype=grad_2d.dtype)
        for u in range(kh):
            for v in range(kw):
                grad[:, :, u:u + rows, v:v + cols] += grad_cols[:, u, v]
        grad = grad[:, :, pad[0]:height - pad[0], pad[1]:width - pad[1]].transpose(1, 0, 2, 3)
        outputs[0][0] = np.ascontiguousarray(grad, dtype=node.outputs[0].dtype)

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


class MaxPool(Op):
    __props__ = ("ws", "ignore_border")

    def __init__(self, ws=(2, 2), ignore_border=False):
        if len(ws) != 2 or min(ws) < 1:
            raise ValueError(f"ws must be two positive window sizes, got {ws}")
        self.ws = ws
        self.ignore_border = ignore_border

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

    def infer_shape(self, fgraph, node, shapes):
        (shape,) = shapes
        out = []
        for size, w in zip(shape[-2:], self.ws):
            out.append(size // w if self.ignore_border else (size + w - 1) // w)
        return [tuple(shape[:-2]) + tuple(out)]

    def pullback(self, inputs, outputs, cotangents):
        (x,), (out,), (grad_out,) = inputs, outputs, cotangents
        return [MaxPoolGrad(self.ws, self.ignore_border)(x, out, grad_out)]


class MaxPoolGrad(Op):
    """Routes each window's gradient to the element(s) that were its maximum."""
    __props__ = ("ws", "ignore_border")

    def __init__(self, ws=(2, 2), ignore_border=False):
        self.ws = ws
        self.ignore_border = ignore_border

    def make_node(self, x, out, grad_out):
        x, out, grad_out = (T.as_tensor_variable(v) for v in (x, out, grad_out))
        return Apply(self, [x, out, grad_out], [x.type()])

    def perform(self, node, inputs, outputs):
        x, out, grad_out = inputs
        grad = np.zeros_like(x)
        for rows, cols, n_rows, n_cols in window_offsets(self.ws, x.shape[-2:], out.shape[-2:]):
            is_max = x[..., rows, cols] == out[..., :n_rows, :n_cols]
            grad[..., rows, cols] = is_max * grad_out[..., :n_rows, :n_cols]
        outputs[0][0] = grad

    def infer_shape(self, fgraph, node, shapes):
        return [shapes[0]]

    def pullback(self, inputs, outputs, cotangents):
        raise NotImplementedError("second derivatives of max_pool_2d are not implemented")
