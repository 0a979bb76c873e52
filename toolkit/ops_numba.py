"""The conv2d and max_pool_2d Ops of ops.py, compiled by Numba (PyTensor's default
backend, --mode NUMBA).

PyTensor compiles a whole graph for Numba by asking each Op for a Numba function
(`numba_funcify`); an Op it has none for runs its numpy `perform` in "object mode",
a call back into Python at every step, and says so in a warning. Each function
below computes what that Op's `perform` in ops.py computes (the readable
reference, which the tests compare these with), in the shape of the C code of
c/corr2d.c: the patches of a chunk of images unrolled ("im2col"), one matrix
product per chunk (numba's np.dot calls the BLAS), the input gradient added back
("col2im"); the pools as plain loops, which Numba compiles to machine code.
The loops run on one core (numba's prange, in parallel, fought OpenBLAS's threads
for the two cores and was slower); each BLAS call is one product, run by the
BLAS's own threads.

Where a C++ compiler and the BLAS are there, each version instead calls the Op's
own C, the code --mode C runs (ckernel_library.py builds it once for Numba): the
loops below are slower. The loops stay for a machine without a compiler, and the
tests hold both to `perform`. Loading the C also does for the whole Numba graph
what --mode C does for its own: the OpenBLAS of PyTensor's Numba matrix products
on one thread, so that its idle threads do not spin against the kernels' OpenMP
threads (blas.numbas_blas_one_thread); and register() has malloc keep freed
blocks (keep_freed_memory). With both, the CNN's step on Numba takes about what it
takes on --mode C.

This module imports numba and PyTensor's Numba dispatch (about a second); ops.py
has it imported, and register() called, by the first graph compiled for Numba.
"""
import hashlib
from pathlib import Path

import numpy as np
from numba import prange
from pytensor.link.numba.dispatch.basic import numba_njit, register_funcify_default_op_cache_key

from toolkit import ckernel_library
from toolkit.ops import DIRECTIONS

# Output pixels one matrix product works on, at least (as CONV_TARGET_COLUMNS in
# ops.py's C): enough for the BLAS to run well, few enough for the cache.
TARGET_COLUMNS = 1 << 20

# PyTensor keeps compiled graphs on disk (numba's cache) under a key made of each
# Op's props and a number: a hash of this file, so that a changed line here is
# never run as the old one.
VERSION = int(hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12], 16)
FORWARD, GRAD_WEIGHTS, GRAD_INPUTS = (DIRECTIONS[d] for d in ("FORWARD", "GRAD_WEIGHTS",
                                                              "GRAD_INPUTS"))


def c_function(op, entry, node):
    """The Op's C for the node's dtype (ckernel_library.function) and the version
    number of a graph calling it, or (None, VERSION): the loops here."""
    found = node is not None and ckernel_library.function(op, entry, node.outputs[0].dtype)
    if not found:
        return None, VERSION
    function, key = found
    return function, int(hashlib.sha256(f"{VERSION} {key}".encode()).hexdigest()[:12], 16)


@numba_njit
def check(failed):
    """The C's -1: it could not allocate its buffers."""
    if failed != 0:
        raise MemoryError("conv2d or max_pool_2d: out of memory for the C kernel's buffers")


def jit(function):
    """numba's njit as PyTensor compiles its own Ops (fastmath as its config says);
    parallel for the prange loops."""
    return numba_njit(function, parallel=False)


# --- the correlation and its gradients ----------------------------------------------

@jit
def im2col(images, first, nb, kh, kw, pad_r, pad_c, oh, ow, col):
    """col[(c, u, v), (b, i, j)] = images[first + b, c, i + u - pad_r, j + v - pad_c],
    0 outside the image: the patches of nb images as columns."""
    channels, height, width = images.shape[1], images.shape[2], images.shape[3]
    pixels = oh * ow
    for row in prange(channels * kh * kw):
        c, uv = row // (kh * kw), row % (kh * kw)
        u, v = uv // kw, uv % kw
        for b in range(nb):
            for i in range(oh):
                y = i + u - pad_r
                base = b * pixels + i * ow
                if y < 0 or y >= height:
                    col[row, base:base + ow] = 0
                    continue
                for j in range(ow):
                    x = j + v - pad_c
                    col[row, base + j] = images[first + b, c, y, x] if 0 <= x < width else 0


@jit
def col2im(col, images, first, nb, kh, kw, pad_r, pad_c, oh, ow):
    """The transpose of im2col: each patch element added back where it came from
    (images[first:first + nb] must be zero before)."""
    channels, height, width = images.shape[1], images.shape[2], images.shape[3]
    pixels = oh * ow
    for c in prange(channels):  # each thread its own channel: no two write one pixel
        for u in range(kh):
            for v in range(kw):
                row = (c * kh + u) * kw + v
                for b in range(nb):
                    for i in range(oh):
                        y = i + u - pad_r
                        if y < 0 or y >= height:
                            continue
                        base = b * pixels + i * ow
                        for j in range(max(0, pad_c - v), min(ow, width + pad_c - v)):
                            images[first + b, c, y, j + v - pad_c] += col[row, base + j]


@jit
def chunk_size(batch, pixels):
    """Images per matrix product: about TARGET_COLUMNS output pixels."""
    return max(1, min(batch, TARGET_COLUMNS // max(pixels, 1)))


@jit
def by_kernel(top, first, nb):
    """top[first:first + nb] (nb, n_kernels, oh, ow) as the (n_kernels, nb*oh*ow)
    matrix of the products."""
    n_kernels, pixels = top.shape[1], top.shape[2] * top.shape[3]
    flat = top.reshape(top.shape[0], n_kernels, pixels)
    matrix = np.empty((n_kernels, nb * pixels), dtype=top.dtype)
    for k in prange(n_kernels):
        for b in range(nb):
            for i in range(pixels):
                matrix[k, b * pixels + i] = flat[first + b, k, i]
    return matrix


@jit
def to_images(matrix, top, first, nb):
    """The inverse of by_kernel: the products' (n_kernels, nb*oh*ow) matrix written
    to top[first:first + nb]."""
    n_kernels, pixels = top.shape[1], top.shape[2] * top.shape[3]
    flat = top.reshape(top.shape[0], n_kernels, pixels)
    for b in prange(nb):
        for k in range(n_kernels):
            for i in range(pixels):
                flat[first + b, k, i] = matrix[k, b * pixels + i]


def padding(op):
    """Whether the Op pads each side by the kernel's size - 1 ('full', the rule of
    ops.conv_padding) or not at all ('valid')."""
    return op.border_mode == "full"


# Each direction as a function of (bottom, weights, top, pad_r, pad_c), the arrays
# all allocated, as corr2d.c's corr2d takes them: it reads two and writes the third.

@jit
def forward_loops(images, kernels, out, pad_r, pad_c):
    """out = the correlation of images with kernels (FORWARD)."""
    batch, channels = images.shape[0], images.shape[1]
    n_kernels, kh, kw = kernels.shape[0], kernels.shape[2], kernels.shape[3]
    oh, ow = out.shape[2], out.shape[3]
    weights = kernels.reshape(n_kernels, channels * kh * kw)
    pixels, nb_max = oh * ow, chunk_size(batch, oh * ow)
    for first in range(0, batch, nb_max):
        nb = min(nb_max, batch - first)
        col = np.empty((channels * kh * kw, nb * pixels), dtype=images.dtype)
        im2col(images, first, nb, kh, kw, pad_r, pad_c, oh, ow, col)
        to_images(np.dot(weights, col), out, first, nb)


@jit
def grad_weights_loops(images, grad, grad_out, pad_r, pad_c):
    """grad = the kernels' gradient, from the images and the output's (GRAD_WEIGHTS)."""
    n_kernels, channels, kh, kw = grad.shape
    batch, oh, ow = grad_out.shape[0], grad_out.shape[2], grad_out.shape[3]
    total = np.zeros((n_kernels, channels * kh * kw), dtype=grad_out.dtype)
    pixels, nb_max = oh * ow, chunk_size(batch, oh * ow)
    for first in range(0, batch, nb_max):
        nb = min(nb_max, batch - first)
        col = np.empty((channels * kh * kw, nb * pixels), dtype=images.dtype)
        im2col(images, first, nb, kh, kw, pad_r, pad_c, oh, ow, col)
        total += np.dot(by_kernel(grad_out, first, nb), col.T)
    grad[...] = total.reshape(grad.shape)


@jit
def grad_inputs_loops(grad, kernels, grad_out, pad_r, pad_c):
    """grad = the images' gradient, from the kernels and the output's (GRAD_INPUTS)."""
    n_kernels, channels, kh, kw = kernels.shape
    batch, oh, ow = grad_out.shape[0], grad_out.shape[2], grad_out.shape[3]
    weights_t = kernels.reshape(n_kernels, channels * kh * kw).T
    grad[...] = 0  # col2im adds to it
    nb_max = chunk_size(batch, oh * ow)
    for first in range(0, batch, nb_max):
        nb = min(nb_max, batch - first)
        col2im(np.dot(weights_t, by_kernel(grad_out, first, nb)), grad, first, nb,
               kh, kw, pad_r, pad_c, oh, ow)


LOOPS = {FORWARD: forward_loops, GRAD_WEIGHTS: grad_weights_loops,
         GRAD_INPUTS: grad_inputs_loops}


def one_direction(op, node, direction):
    """The njit computing `direction` on (bottom, weights, top, pad_r, pad_c): the
    Op's C where it can be called (c_function), else the loops above; and the version
    number of a graph calling it."""
    c_corr2d, version = c_function(op, "corr2d", node)
    if c_corr2d is None:
        return LOOPS[direction], version

    @numba_njit
    def correlate(bottom, weights, top, pad_r, pad_c):
        batch, channels, height, width = bottom.shape
        check(c_corr2d(direction, bottom.ctypes, weights.ctypes, top.ctypes, batch, channels,
                       height, width, weights.shape[0], weights.shape[2], weights.shape[3],
                       pad_r, pad_c, top.shape[2], top.shape[3]))
    return correlate, version


def numba_corr2d(op, node=None, **kwargs):
    full = padding(op)
    forward, version = one_direction(op, node, FORWARD)

    @numba_njit
    def corr2d(images, kernels):
        images, kernels = np.ascontiguousarray(images), np.ascontiguousarray(kernels)
        batch, channels, height, width = images.shape
        n_kernels, kh, kw = kernels.shape[0], kernels.shape[2], kernels.shape[3]
        if kernels.shape[1] != channels:
            raise ValueError("conv2d: the input's channels and the filters' differ")
        pad_r, pad_c = (kh - 1, kw - 1) if full else (0, 0)
        oh, ow = height + 2 * pad_r - kh + 1, width + 2 * pad_c - kw + 1
        if oh < 1 or ow < 1:
            raise ValueError("conv2d: filters larger than the input (border_mode='valid')")
        out = np.empty((batch, n_kernels, oh, ow), dtype=images.dtype)
        forward(images, kernels, out, pad_r, pad_c)
        return out
    return corr2d, version


def numba_corr2d_grad_weights(op, node=None, **kwargs):
    full = padding(op)
    backward, version = one_direction(op, node, GRAD_WEIGHTS)

    @numba_njit
    def corr2d_grad_weights(images, grad_out, kernel_shape):
        images, grad_out = np.ascontiguousarray(images), np.ascontiguousarray(grad_out)
        kh, kw = kernel_shape[2], kernel_shape[3]
        pad_r, pad_c = (kh - 1, kw - 1) if full else (0, 0)
        grad = np.empty((kernel_shape[0], kernel_shape[1], kh, kw), dtype=grad_out.dtype)
        backward(images, grad, grad_out, pad_r, pad_c)
        return grad
    return corr2d_grad_weights, version


def numba_corr2d_grad_inputs(op, node=None, **kwargs):
    full = padding(op)
    backward, version = one_direction(op, node, GRAD_INPUTS)

    @numba_njit
    def corr2d_grad_inputs(kernels, grad_out, image_shape):
        kernels, grad_out = np.ascontiguousarray(kernels), np.ascontiguousarray(grad_out)
        kh, kw = kernels.shape[2], kernels.shape[3]
        pad_r, pad_c = (kh - 1, kw - 1) if full else (0, 0)
        grad = np.empty((grad_out.shape[0], kernels.shape[1], image_shape[0], image_shape[1]),
                        dtype=grad_out.dtype)
        backward(grad, kernels, grad_out, pad_r, pad_c)
        return grad
    return corr2d_grad_inputs, version


# --- max pooling ------------------------------------------------------------------

def pool_sizes(op):
    """The window and the rule of ops.pool_output_shape, as numbers Numba compiles in."""
    wr, wc = op.ws
    ignore_border = op.ignore_border

    @numba_njit
    def pooled(height, width):
        if ignore_border:
            return height // wr, width // wc
        return (height + wr - 1) // wr, (width + wc - 1) // wc
    return wr, wc, pooled


def numba_max_pool(op, node=None, entry="max_pool", start=-np.inf, **kwargs):
    """MaxPool's version; RectifyPool's too (entry rectify_pool, each window's maximum
    from 0 up)."""
    wr, wc, pooled = pool_sizes(op)
    c_max_pool, version = c_function(op, entry, node)
    if c_max_pool is not None:
        @numba_njit
        def pool(planes, out):
            check(c_max_pool(planes.ctypes, out.ctypes, planes.shape[0], planes.shape[1],
                             planes.shape[2], out.shape[1], out.shape[2]))
    else:
        @jit
        def pool(planes, out):
            height, width, oh, ow = planes.shape[1], planes.shape[2], out.shape[1], out.shape[2]
            for p in prange(planes.shape[0]):
                for i in range(oh):
                    for j in range(ow):
                        best = start
                        for r in range(i * wr, min((i + 1) * wr, height)):
                            for c in range(j * wc, min((j + 1) * wc, width)):
                                value = planes[p, r, c]
                                if value > best or value != value:  # a NaN wins, as in np.maximum
                                    best = value
                        out[p, i, j] = best

    @numba_njit
    def max_pool(x):
        height, width = x.shape[-2], x.shape[-1]
        oh, ow = pooled(height, width)
        planes = np.ascontiguousarray(x).reshape(-1, height, width)
        out = np.empty((planes.shape[0], oh, ow), dtype=x.dtype)
        pool(planes, out)
        return out.reshape(x.shape[:-2] + (oh, ow))
    return max_pool, version


def numba_rectify_pool(op, node=None, **kwargs):
    return numba_max_pool(op, node, entry="rectify_pool", start=0.0)


def numba_max_pool_grad(op, node=None, rectified=False, **kwargs):
    """MaxPoolGrad's version; RectifyPoolGrad's too (rectified: an element gets its
    window's gradient only where it is also >= 0). The C is the Op's own pool_grad.c,
    with the Op's rule."""
    wr, wc, pooled = pool_sizes(op)
    c_pool_grad, version = c_function(op, "pool_grad", node)
    if c_pool_grad is not None:
        @numba_njit
        def spread(planes, maxima, grads, grad):
            check(c_pool_grad(planes.ctypes, maxima.ctypes, grads.ctypes, grad.ctypes,
                              planes.shape[0], planes.shape[1], planes.shape[2],
                              maxima.shape[1], maxima.shape[2]))
    else:
        @jit
        def spread(planes, maxima, grads, grad):
            height, width = planes.shape[1], planes.shape[2]
            grad[...] = 0  # elements in no window (ignore_border) get 0
            for p in prange(planes.shape[0]):
                for i in range(maxima.shape[1]):
                    for j in range(maxima.shape[2]):
                        best, g = maxima[p, i, j], grads[p, i, j]
                        for r in range(i * wr, min((i + 1) * wr, height)):
                            for c in range(j * wc, min((j + 1) * wc, width)):
                                # a product, as ops.MaxPoolGrad computes it: a NaN gradient spreads
                                x = planes[p, r, c]
                                grad[p, r, c] = ((x == best) and (x >= 0 or not rectified)) * g

    wrong_shape = f"{type(op).__name__}: the pooled maps or their gradient have the wrong shape"

    @numba_njit
    def max_pool_grad(x, out, grad_out):
        height, width = x.shape[-2], x.shape[-1]
        oh, ow = pooled(height, width)
        if out.shape[-2] != oh or out.shape[-1] != ow or grad_out.shape != out.shape:
            raise ValueError(wrong_shape)
        planes = np.ascontiguousarray(x).reshape(-1, height, width)
        maxima = np.ascontiguousarray(out).reshape(-1, oh, ow)
        grads = np.ascontiguousarray(grad_out).reshape(-1, oh, ow)
        grad = np.empty_like(planes)
        spread(planes, maxima, grads, grad)
        return grad.reshape(x.shape)
    return max_pool_grad, version


def numba_rectify_pool_grad(op, node=None, **kwargs):
    return numba_max_pool_grad(op, node, rectified=True)


def keep_freed_memory():
    """Have C's malloc keep large freed blocks for reuse (glibc only; elsewhere nothing).

    A Numba graph allocates each of its arrays anew at every call, where --mode C
    keeps its buffers from one call to the next. glibc gives a block over its mmap
    threshold back to the system when it is freed, so the next step's block is
    fresh memory, which the system maps in page by page at its first touch: the
    CNN's first convolution took 22 ms instead of 3. Blocks up to 32 MB (glibc's
    limit) now come from the heap, and the heap keeps up to 1 GB of freed memory
    instead of returning it (what MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_
    set in the environment would do, in this process only).
    """
    import ctypes
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except AttributeError:  # not glibc
        return
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    mallopt(M_MMAP_THRESHOLD, 32 << 20)
    mallopt(M_TRIM_THRESHOLD, 1 << 30)


def fuse_pools(fgraph):
    """max_pool_2d(rectify(x)) and its gradient in one pass each (RectifyPool and
    RectifyPoolGrad, whose Numba versions above call their C): c_rewrites' two
    rewrites, which --mode C runs too, run in every Numba compile (ops.py registers
    this at 49.4, where --mode C runs them). Unfused, the Numba graph wrote the
    rectified map and read it back, and made its gradient with elementwise loops on
    one core: the CNN's Numba step 48.5 -> 41.5 ms and 72.4 -> 55.9 in two pairs."""
    from pytensor.graph.rewriting.basic import dfs_rewriter
    from toolkit import c_rewrites
    dfs_rewriter(c_rewrites.rectify_pool, c_rewrites.rectify_pool_grad).rewrite(fgraph)


def register():
    """Give PyTensor's Numba backend these versions; safe to call again."""
    keep_freed_memory()
    from toolkit.ops import (Corr2d, Corr2dGradInputs, Corr2dGradWeights, MaxPool, MaxPoolGrad,
                             RectifyPool, RectifyPoolGrad)
    versions = {Corr2d: numba_corr2d, Corr2dGradWeights: numba_corr2d_grad_weights,
                Corr2dGradInputs: numba_corr2d_grad_inputs, MaxPool: numba_max_pool,
                MaxPoolGrad: numba_max_pool_grad, RectifyPool: numba_rectify_pool,
                RectifyPoolGrad: numba_rectify_pool_grad}
    for op_class, funcify in versions.items():
        register_funcify_default_op_cache_key(op_class)(funcify)
