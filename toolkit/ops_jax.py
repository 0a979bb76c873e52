"""The conv2d and max_pool_2d Ops of ops.py, for PyTensor's JAX backend (--mode JAX).

PyTensor compiles a graph for JAX by asking each Op for a JAX function
(`jax_funcify`); the numpy `perform` methods (and the C code) in ops.py cannot be
traced. Each function below computes what that Op's `perform` computes, with
`jax.lax` convolutions and window reductions, which XLA runs on the CPU or a GPU.

It also teaches PyTensor's JAX backend to size arrays by shapes computed from
other shapes, as `flatten` followed by dropout needs (see ShapeArithmetic).

Importing this module changes nothing (it does not even import jax): register()
teaches PyTensor's JAX backend these versions and rewrite() applies the two
rewrites below to a graph; ops.py has both done in every compile for JAX.
(Importing PyTensor's JAX dispatch sets JAX's 64-bit switch from floatX, so that
import waits for register() too.)
"""
import numpy as np
from pytensor import tensor as T
from pytensor.graph.basic import Apply, Constant
from pytensor.graph.op import Op
from pytensor.graph.rewriting.basic import dfs_rewriter, node_rewriter
from pytensor.scalar import get_scalar_type
from pytensor.tensor.basic import MakeVector
from pytensor.tensor.elemwise import Elemwise
from pytensor.tensor.shape import Shape_i

from toolkit.ops import (Corr2d, Corr2dGradInputs, Corr2dGradWeights, MaxPool, MaxPoolGrad,
                         conv_output_shape, conv_padding, pool_output_shape)


def pad_images(images, border_mode, kernel_shape):
    import jax.numpy as jnp
    pad = [conv_padding(border_mode, k) for k in kernel_shape]
    return jnp.pad(images, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))


def jax_corr2d(op, **kwargs):
    from jax import lax

    def corr2d(images, kernels):
        kh, kw = kernels.shape[2:]
        padded = pad_images(images, op.border_mode, (kh, kw))
        if images.shape[1] == 1:
            # XLA's CPU convolution is slow with a single input channel (the first
            # layer); a sum of kh * kw shifted, scaled copies of the image is faster.
            _, _, rows, cols = conv_output_shape(images.shape, kernels.shape, op.border_mode)
            return sum(kernels[None, :, 0, u, v, None, None] * padded[:, :, u:u + rows, v:v + cols]
                       for u in range(kh) for v in range(kw))
        return lax.conv_general_dilated(padded, kernels, (1, 1), "VALID")
    return corr2d


def jax_corr2d_grad_weights(op, **kwargs):
    import jax.numpy as jnp

    def grad_weights(images, grad_out, kernel_shape):
        (n_kernels, channels, kh, kw), (rows, cols) = kernel_shape, grad_out.shape[2:]
        padded = pad_images(images, op.border_mode, (kh, kw))
        # one product per kernel position (u, v), summed over images and output pixels:
        # XLA unrolls patches slowly on a CPU, so there are none here
        per_position = [jnp.einsum("bkij,bcij->kc", grad_out, padded[:, :, u:u + rows, v:v + cols])
                        for u in range(kh) for v in range(kw)]
        return jnp.stack(per_position, axis=-1).reshape(n_kernels, channels, kh, kw)
    return grad_weights


def jax_corr2d_grad_inputs(op, **kwargs):
    from jax import lax

    def grad_inputs(kernels, grad_out, image_shape):
        # The transpose of a stride-1 correlation padded by p is a correlation of the
        # gradient with the flipped kernels, channels swapped, padded by k - 1 - p.
        kernel_shape = kernels.shape[2:]
        pad = [(k - 1 - conv_padding(op.border_mode, k),) * 2 for k in kernel_shape]
        flipped = kernels[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
        return lax.conv_general_dilated(grad_out, flipped, (1, 1), pad)
    return grad_inputs


def pool_padding(op, shape):
    """Bottom/right padding that keeps a partial edge window unless ignore_border."""
    if op.ignore_border:
        return [(0, 0)] * 2  # reduce_window drops the partial window itself
    pooled = pool_output_shape(shape, op.ws, op.ignore_border)[-2:]
    return [(0, n * window - size) for n, window, size in zip(pooled, op.ws, shape[-2:])]


def jax_max_pool(op, **kwargs):
    import jax.numpy as jnp
    from jax import lax

    def max_pool(x):
        window = (1,) * (x.ndim - 2) + op.ws
        padding = [(0, 0)] * (x.ndim - 2) + pool_padding(op, x.shape)
        return lax.reduce_window(x, jnp.array(-jnp.inf, x.dtype), lax.max,
                                 window, window, padding)
    return max_pool


def jax_max_pool_grad(op, **kwargs):
    import jax.numpy as jnp

    def max_pool_grad(x, out, grad_out):
        # As in ops.MaxPoolGrad: every element equal to its window's maximum gets
        # the window's gradient; elements outside any window (ignore_border) get 0.
        rows, cols = x.shape[-2:]

        def spread(a, fill):
            a = jnp.repeat(jnp.repeat(a, op.ws[0], axis=-2), op.ws[1], axis=-1)[..., :rows, :cols]
            edge = [(0, 0)] * (a.ndim - 2) + [(0, rows - a.shape[-2]), (0, cols - a.shape[-1])]
            return jnp.pad(a, edge, constant_values=fill)

        is_max = x == spread(out, jnp.nan)
        return jnp.where(is_max, spread(grad_out, 0), 0).astype(x.dtype)
    return max_pool_grad


# --- shapes computed from shapes ----------------------------------------------------

class ShapeArithmetic(Op):
    """A scalar computed from array sizes (say rows * cols), done by Python while
    JAX traces the graph.

    JAX wants concrete sizes for a random draw or a reshape. PyTensor hands it
    array sizes as plain integers, but arithmetic on them (the `flatten` before
    the CNN's third dropout multiplies three of them) would become traced jax
    values that cannot size an array. Done in Python, the result stays an integer.
    """
    __props__ = ("scalar_op",)

    def __init__(self, scalar_op):
        self.scalar_op = scalar_op

    def make_node(self, *inputs):
        scalar_types = self.scalar_op.output_types([get_scalar_type(i.dtype) for i in inputs])
        return Apply(self, list(inputs), [T.scalar(dtype=t.dtype) for t in scalar_types])

    def compute(self, *sizes):
        results = self.scalar_op.impl(*sizes)
        return tuple(results) if self.scalar_op.nout > 1 else (results,)

    def perform(self, node, inputs, outputs):
        for storage, value, var in zip(outputs, self.compute(*inputs), node.outputs):
            storage[0] = np.asarray(value, dtype=var.dtype)


def jax_shape_arithmetic(op, **kwargs):
    def shape_arithmetic(*sizes):
        results = op.compute(*sizes)
        return results if len(results) > 1 else results[0]
    return shape_arithmetic


def known_at_trace_time(var):
    return isinstance(var, Constant) or (
        var.owner is not None and isinstance(var.owner.op, Shape_i | ShapeArithmetic))


@node_rewriter([Elemwise])
def shape_arithmetic_in_python(fgraph, node):
    if (all(out.ndim == 0 for out in node.outputs)
            and all(known_at_trace_time(i) and i.ndim == 0 for i in node.inputs)):
        return ShapeArithmetic(node.op.scalar_op).make_node(*node.inputs).outputs


@node_rewriter([Corr2dGradWeights])
def kernel_shape_as_tuple(fgraph, node):
    """Hand the weight gradient its kernel shape as a tuple of integers, not an array."""
    images, grad_out, kernel_shape = node.inputs
    from pytensor.link.jax.dispatch.shape import JAXShapeTuple
    if kernel_shape.owner is not None and isinstance(kernel_shape.owner.op, MakeVector):
        return [node.op(images, grad_out, JAXShapeTuple()(*kernel_shape.owner.inputs))]


JAX_VERSIONS = {Corr2d: jax_corr2d, Corr2dGradWeights: jax_corr2d_grad_weights,
                Corr2dGradInputs: jax_corr2d_grad_inputs, MaxPool: jax_max_pool,
                MaxPoolGrad: jax_max_pool_grad, ShapeArithmetic: jax_shape_arithmetic}


def register():
    """Teach PyTensor's JAX backend these Ops; safe to call again."""
    from pytensor.link.jax.dispatch import jax_funcify
    for op_class, funcify in JAX_VERSIONS.items():
        jax_funcify.register(op_class)(funcify)


def rewrite(fgraph):
    """The sizes computed from sizes done in Python, then the kernel shape as a tuple
    (which reads the sizes so computed)."""
    for node_rewrite in (shape_arithmetic_in_python, kernel_shape_as_tuple):
        dfs_rewriter(node_rewrite).rewrite(fgraph)
