"""What --mode C changes in a graph before compiling it: ten rewrites that
backends.c_mode() registers (once per process) and includes.

- inline_softmax: PyTensor 3 keeps (log-)softmax as a small inner graph that the C
  backend runs from Python; inlined, its exp, max and sum compile to C.
- standard_uniform, seed_in_place: the dropout masks draw uniform(0, 1) numbers
  (1.5 million a CNN step). PyTensor asks numpy for them, in float64, one after
  another; here the Generator gives one seed a draw, and C makes the numbers from
  the seed on every core (c/uniform.c). Same distribution, same generator (a saved
  run resumes alike), other numbers. seed_in_place lets the generator move on in
  place, as PyTensor's random_make_inplace does for its own draws.
- parallel_rectifier, mask_where_equal: the slides' rectify, maximum(x, 0.), and its
  gradient, eq(maximum(x, 0), x) * g (ge(x, 0) * g in PyTensor after 3.0), are
  PyTensor's generic Elemwise loops, on one core; here they are vectorized loops
  on every core (c/elementwise.c).
- parallel_dot: PyTensor's matrix products (Dot22, Dot22Scalar) call the BLAS,
  which the C mode runs on one thread (blas.one_thread); ParallelDot gives each
  core a block of the product's rows or columns instead (c/parallel_dot.c).
- threaded_elemwise: PyTensor's other elementwise loops (the dropout masks, RMSprop's
  updates) run on one core, along each array's strides; ThreadedElemwise adds a
  flat loop over contiguous arrays, shared among the cores, which the compiler
  vectorizes.
- rectify_pool, rectify_pool_grad: the CNN's max_pool_2d(rectify(x)) and its
  gradient, each one pass over x (c/rectify_pool.c) instead of three or four Ops
  that write and read back the rectified map, as large as x.
- rectify_pool_grad_weights: where nothing but the weight gradient reads the pool's
  gradient (the first layer, whose images need none), that gradient is made chunk
  by chunk inside the weight gradient (c/pool_grad_weights.c), never written whole:
  the first layer's is 14.7 MB a step.

What each costs and saves is measured by bench/profile_step.py (docs/speed.md).
"""
import functools
import hashlib
import inspect

import numpy as np
from pytensor import scalar
from pytensor import tensor as T
from pytensor.graph.basic import Apply, Constant
from pytensor.graph.op import Op
from pytensor.graph.rewriting.basic import node_rewriter
from pytensor.graph.utils import MethodNotDefined
from pytensor.scalar import get_scalar_type
from pytensor.tensor.basic import infer_static_shape
from pytensor.tensor.blas import Dot22, Dot22Scalar
from pytensor.tensor.elemwise import Elemwise
from pytensor.tensor.random.basic import UniformRV
from pytensor.tensor.random.op import custom_rng_deepcopy
from pytensor.tensor.rewriting.ofg import inline_ofg_node
from pytensor.tensor.special import LogSoftmax, Softmax
from pytensor.tensor.type import TensorType

from toolkit import toolchain
from toolkit.ckernel import C_DIR, CKernel, c_data, c_frame
from toolkit.ops import (Corr2dGradWeights, Corr2dGradWeightsOfPool, MaxPool, MaxPoolGrad,
                         RectifyPool, RectifyPoolGrad)


@node_rewriter([Softmax, LogSoftmax])
def inline_softmax(fgraph, node):
    return inline_ofg_node(node)


class SeedFromGenerator(Op):
    """A 64-bit seed drawn from a numpy Generator, which moves on as for any other
    draw: a run saved with its generators and resumed draws the same seeds."""
    __props__ = ("inplace",)

    def __init__(self, inplace=False):
        self.inplace = inplace
        if inplace:
            self.destroy_map = {0: [0]}

    def make_node(self, rng):
        return Apply(self, [rng], [rng.type(), T.tensor(dtype="uint64", shape=())])

    def perform(self, node, inputs, outputs):
        rng = inputs[0] if self.inplace else custom_rng_deepcopy(inputs[0])
        outputs[0][0] = rng
        outputs[1][0] = np.asarray(rng.integers(2**64, dtype=np.uint64))


SPLITMIX_GAMMA, SPLITMIX_MIX = 0x9E3779B97F4A7C15, (0xBF58476D1CE4E5B9, 0x94D049BB133111EB)


class UniformFromSeed(CKernel):
    """uniform(0, 1) numbers of a given size, number i made from the seed and i alone
    (c/uniform.c, SplitMix64), so every core fills its part of the array at once."""
    __props__ = ("dtype", "ndim")
    c_sources = ("uniform.c",)

    def __init__(self, dtype, ndim):
        self.dtype, self.ndim = dtype, ndim

    def make_node(self, seed, size):
        size = T.as_tensor_variable(size).astype("int64")
        try:
            _, static_shape = infer_static_shape(size)
        except ValueError:  # a vector of unknown length: checked in C when run
            static_shape = (None,) * self.ndim
        return Apply(self, [T.as_tensor_variable(seed), size],
                     [T.tensor(dtype=self.dtype, shape=static_shape)])

    def perform(self, node, inputs, outputs):
        """What c/uniform.c computes, in numpy (uint64 arithmetic wraps as C's)."""
        seed, size = inputs
        bits = 24 if self.dtype == "float32" else 53
        z = np.uint64(seed) + np.arange(1, np.prod(size) + 1, dtype=np.uint64) * np.uint64(
            SPLITMIX_GAMMA)
        for shift, factor in zip((30, 27), SPLITMIX_MIX):
            z = (z ^ (z >> np.uint64(shift))) * np.uint64(factor)
        z ^= z >> np.uint64(31)
        numbers = (z >> np.uint64(64 - bits)).astype(self.dtype) * np.array(2.0 ** -bits,
                                                                              self.dtype)
        outputs[0][0] = numbers.reshape(size)

    def c_code(self, node, name, inputs, outputs, sub):
        self.c_dtype(node)
        (seed, size), (out,) = inputs, outputs
        return c_frame(
            sub, {"seed": seed, "size": size}, out, self.ndim, "dims",
            typenum="NPY_FLOAT32" if self.dtype == "float32" else "NPY_FLOAT64",
            declarations=f"""
    npy_intp dims[{self.ndim}];
    for (int k = 0; k < {self.ndim}; k++) dims[k] = ((npy_int64 *)PyArray_DATA(size))[k];""",
            check=f"""
    if (PyArray_SIZE(size) != {self.ndim}) {{
        PyErr_SetString(PyExc_ValueError, "uniform: the size has the wrong length");
        ok = 0;
    }}
    for (int k = 0; ok && k < {self.ndim}; k++) if (dims[k] < 0) {{
        PyErr_SetString(PyExc_ValueError, "uniform: a negative size");
        ok = 0;
    }}""",
            call=f"uniform_{name}(((npy_uint64 *)PyArray_DATA(seed))[0], "
                 f"{c_data(node, out)}, PyArray_SIZE({out}))")

    def infer_shape(self, fgraph, node, shapes):
        return [tuple(node.inputs[1][k] for k in range(self.ndim))]


def constant_equal_to(var, value):
    return isinstance(var, Constant) and np.all(var.data == value)


@node_rewriter([UniformRV])
def standard_uniform(fgraph, node):
    rng, size, low, high = node.inputs
    draws = node.outputs[1]
    if (type(node.op) is UniformRV and draws.dtype in ("float32", "float64")
            and draws.ndim >= 1 and isinstance(size.type, TensorType)
            and constant_equal_to(low, 0) and constant_equal_to(high, 1)):
        next_rng, seed = SeedFromGenerator(node.op.inplace)(rng)
        numbers = UniformFromSeed(draws.dtype, draws.ndim)(seed, size)
        if numbers.type != draws.type:
            numbers = T.specify_shape(numbers, draws.type.shape)
        return [next_rng, numbers]


@node_rewriter([SeedFromGenerator])
def seed_in_place(fgraph, node):
    if not node.op.inplace:
        return SeedFromGenerator(inplace=True).make_node(*node.inputs).outputs


class Rectify(CKernel):
    """max(x, 0), elementwise."""
    __props__ = ()
    c_sources = ("elementwise.c",)

    def make_node(self, x):
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, outputs):
        outputs[0][0] = np.maximum(inputs[0], 0).astype(inputs[0].dtype, copy=False)

    def c_code(self, node, name, inputs, outputs, sub):
        self.c_dtype(node)
        (x,), (out,) = inputs, outputs
        return c_frame(sub, {"x": x}, out, "PyArray_NDIM(x)", "PyArray_DIMS(x)",
                       call=f"rectify_{name}({c_data(node, 'x')}, {c_data(node, out)}, "
                            "PyArray_SIZE(x))")

    def infer_shape(self, fgraph, node, shapes):
        return shapes


class MaskWhereEqual(CKernel):
    """(a == b) * c, elementwise, for arrays of one shape."""
    __props__ = ()
    c_sources = ("elementwise.c",)

    def make_node(self, a, b, c):
        return Apply(self, [a, b, c], [c.type()])

    def perform(self, node, inputs, outputs):
        a, b, c = inputs
        outputs[0][0] = ((a == b) * c).astype(c.dtype, copy=False)

    def c_code(self, node, name, inputs, outputs, sub):
        self.c_dtype(node)
        (a, b, c), (out,) = inputs, outputs
        return c_frame(
            sub, {"a": a, "b": b, "c": c}, out, "PyArray_NDIM(c)", "PyArray_DIMS(c)",
            check="""
    if (!PyArray_SAMESHAPE(a, b) || !PyArray_SAMESHAPE(a, c)) {
        PyErr_SetString(PyExc_ValueError, "mask_where_equal: inputs of different shapes");
        ok = 0;
    }""",
            call=f"mask_where_equal_{name}({c_data(node, 'a')}, {c_data(node, 'b')}, "
                 f"{c_data(node, 'c')}, {c_data(node, out)}, PyArray_SIZE(c))")

    def infer_shape(self, fgraph, node, shapes):
        return [shapes[2]]


def rectifier_gradient(composite):
    """How a scalar Composite computes the rectifier's gradient, if it does: PyTensor
    3.0 writes eq(i_a, i_b) * i_c, giving ("eq", a, b, c); later releases write
    ge(i_x, 0) * i_g, giving ("ge", x, g). None for anything else."""
    (out,) = composite.fgraph.outputs
    inputs = composite.fgraph.inputs
    if out.owner is None or not isinstance(out.owner.op, scalar.Mul) or len(out.owner.inputs) != 2:
        return None
    for test, other in (out.owner.inputs, out.owner.inputs[::-1]):
        if test.owner is None or other not in inputs:
            continue
        operands = test.owner.inputs
        if isinstance(test.owner.op, scalar.EQ) and all(i in inputs for i in operands):
            return "eq", inputs.index(operands[0]), inputs.index(operands[1]), inputs.index(other)
        if (isinstance(test.owner.op, scalar.GE) and operands[0] in inputs
                and constant_equal_to(operands[1], 0)):
            return "ge", inputs.index(operands[0]), inputs.index(other)
    return None


@node_rewriter([Elemwise])
def mask_where_equal(fgraph, node):
    out = node.outputs[0]
    if (isinstance(node.op.scalar_op, scalar.Composite) and len(node.outputs) == 1
            and out.dtype in ("float32", "float64")
            and all(i.type == out.type and not any(i.type.broadcastable) for i in node.inputs)):
        form = rectifier_gradient(node.op.scalar_op)
        if form is None:
            return None
        if form[0] == "eq":
            return [MaskWhereEqual()(*(node.inputs[i] for i in form[1:]))]
        x, g = node.inputs[form[1]], node.inputs[form[2]]
        # ge(x, 0) * g is (maximum(x, 0) == x) * g; the forward pass computed Rectify(x)
        return [MaskWhereEqual()(Rectify()(x), x, g)]


@node_rewriter([Elemwise])
def parallel_rectifier(fgraph, node):
    if (isinstance(node.op.scalar_op, scalar.ScalarMaximum) and len(node.inputs) == 2
            and node.outputs[0].dtype in ("float32", "float64")):
        x, zero = node.inputs
        if not constant_equal_to(zero, 0):
            x, zero = zero, x
        if constant_equal_to(zero, 0) and x.type == node.outputs[0].type:
            return [Rectify()(x)]


# A view of a matrix input as the BLAS can read it: its rows as they are (trans 'N'),
# a transposed view's columns as rows (trans 'T'), or else a contiguous copy; ld_ is
# the distance between rows in memory.
C_MATRIX = """
    char trans_%(view)s = 'N';
    int ld_%(view)s = 1;
    PyArrayObject *%(view)s = %(input)s;
    Py_INCREF(%(view)s);
    if (PyArray_STRIDES(%(view)s)[1] == PyArray_ITEMSIZE(%(view)s)
            && PyArray_STRIDES(%(view)s)[0] %% PyArray_ITEMSIZE(%(view)s) == 0
            && PyArray_STRIDES(%(view)s)[0] >= PyArray_DIMS(%(view)s)[1] * PyArray_ITEMSIZE(%(view)s))
        ld_%(view)s = PyArray_STRIDES(%(view)s)[0] / PyArray_ITEMSIZE(%(view)s);
    else if (PyArray_STRIDES(%(view)s)[0] == PyArray_ITEMSIZE(%(view)s)
            && PyArray_STRIDES(%(view)s)[1] %% PyArray_ITEMSIZE(%(view)s) == 0
            && PyArray_STRIDES(%(view)s)[1] >= PyArray_DIMS(%(view)s)[0] * PyArray_ITEMSIZE(%(view)s)) {
        trans_%(view)s = 'T';
        ld_%(view)s = PyArray_STRIDES(%(view)s)[1] / PyArray_ITEMSIZE(%(view)s);
    } else {
        Py_DECREF(%(view)s);
        %(view)s = PyArray_GETCONTIGUOUS(%(input)s);
        if (%(view)s != NULL) ld_%(view)s = PyArray_DIMS(%(view)s)[1];
    }
    if (ld_%(view)s < 1) ld_%(view)s = 1;
"""


class ParallelDot(CKernel):
    """alpha * a . b for matrices (alpha 1 without a third input), as Dot22 and
    Dot22Scalar compute it, on every core."""
    __props__ = ()
    c_sources = ("gemm.c", "parallel_dot.c")

    def make_node(self, a, b, alpha=None):
        inputs = [a, b] if alpha is None else [a, b, alpha]
        out = a.type.clone(shape=(a.type.shape[0], b.type.shape[1]))()
        return Apply(self, inputs, [out])

    def perform(self, node, inputs, outputs):
        a, b, *alpha = inputs
        out = a @ b
        outputs[0][0] = (out * alpha[0] if alpha else out).astype(node.outputs[0].dtype)

    def c_code(self, node, name, inputs, outputs, sub):
        dtype = self.c_dtype(node)
        a, b, *alpha = inputs
        (out,) = outputs
        scale = f"(npy_{dtype})((npy_{node.inputs[2].dtype} *)PyArray_DATA({alpha[0]}))[0]" \
            if alpha else "1"
        return c_frame(
            sub, {"a": a, "b": b}, out, 2, "dims", view=C_MATRIX,
            declarations="npy_intp dims[2] = {PyArray_DIMS(a)[0], PyArray_DIMS(b)[1]};",
            check="""
    if (PyArray_DIMS(a)[1] != PyArray_DIMS(b)[0]) {
        PyErr_Format(PyExc_ValueError, "dot: shapes (%ld, %ld) and (%ld, %ld) do not align",
                     (long)PyArray_DIMS(a)[0], (long)PyArray_DIMS(a)[1],
                     (long)PyArray_DIMS(b)[0], (long)PyArray_DIMS(b)[1]);
        ok = 0;
    }""",
            call=f"parallel_dot_{name}(trans_a, trans_b, dims[0], dims[1], PyArray_DIMS(a)[1], "
                 f"{scale}, {c_data(node, 'a')}, ld_a, {c_data(node, 'b')}, ld_b, "
                 f"{c_data(node, out)})")

    def infer_shape(self, fgraph, node, shapes):
        return [(shapes[0][0], shapes[1][1])]


@node_rewriter([Dot22, Dot22Scalar])
def parallel_dot(fgraph, node):
    if node.outputs[0].dtype in ("float32", "float64") and all(
            i.dtype == node.outputs[0].dtype for i in node.inputs[:2]):
        return [ParallelDot()(*node.inputs)]


# --- PyTensor's elementwise loops, on every core ------------------------------------

class ThreadedElemwise(Elemwise):
    """PyTensor's Elemwise with one more path in its C: where every array is of
    one size (inputs of a single value aside) and the outputs contiguous, a flat
    loop shared among the cores (an input that is a strided view copied contiguous
    first). PyTensor has such a loop only for shapes known when the
    graph is built, which the scripts' are not; every other case runs Elemwise's
    own loops. PyTensor's in-place rewrite keeps the class (type(op)(...))."""

    def c_support_code(self, **kwargs):
        # ckernel.h's parallel_threads: no more than one thread per 16384 elements
        # (a fused loop can be heavy: RMSprop's square root and division, in double
        # where PyTensor writes its constants so, took 0.2 ms on one core for the
        # CNN's 73,728 third-layer weights)
        return super().c_support_code(**kwargs) + (C_DIR / "ckernel.h").read_text()

    def c_compile_args(self, **kwargs):
        return [*super().c_compile_args(**kwargs), *toolchain.openmp_flags()]

    def c_code(self, node, nodename, inames, onames, sub):
        if any(v.dtype == "float16" for v in node.inputs + node.outputs):
            raise NotImplementedError()  # as Elemwise: no C for float16
        decl, checks, alloc, loop, _ = self._c_all(node, nodename, inames, onames, sub)
        flat = self.flat_loop(node, nodename, inames, onames, sub)
        if flat is not None:
            loop = flat + f" else {{ {loop} }}"
        return "\n".join([decl, checks, alloc, loop, ""])

    def flat_loop(self, node, nodename, inames, onames, sub):
        """`if (all contiguous) { the shared loop }` in C, or None where the scalar
        code could fail (a jump out of a thread is not allowed)."""
        fail = "TOOLKIT_CANNOT_FAIL_IN_A_THREAD"
        scalar_node = Apply(self.scalar_op,
                            [get_scalar_type(i.dtype).make_variable() for i in node.inputs],
                            [get_scalar_type(o.dtype).make_variable() for o in node.outputs])
        try:
            task = self.scalar_op.c_code(scalar_node, nodename + "_scalar_",
                                         [f"{n}_f" for n in inames],
                                         [f"{n}_f" for n in onames], {**sub, "fail": fail})
        except (NotImplementedError, MethodNotDefined):
            return None
        if fail in task:
            return None
        names = dict(zip(inames, node.inputs)) | dict(zip(onames, node.outputs))
        one_value = {n for n, v in names.items() if all(v.type.broadcastable)}
        full = [n for n in names if n not in one_value]
        size = f"PyArray_SIZE({onames[0]})"
        # the outputs contiguous, every array of one size; an input that is a strided
        # view (the conv kernels' gradient, flipped by a Subtensor, read by RMSprop)
        # is copied contiguous first: a pass over it, instead of Elemwise's strided
        # loops on one core
        condition = " && ".join([f"PyArray_IS_C_CONTIGUOUS({n})" for n in onames if n in full]
                                + [f"PyArray_SIZE({n}) == {size}" for n in full])
        inputs = list(dict.fromkeys(n for n in inames if n in full))
        views = "".join(f"PyArrayObject *{n}_c = PyArray_GETCONTIGUOUS({n});\n" for n in inputs)
        made = " && ".join(f"{n}_c != NULL" for n in inputs) or "1"
        releases = "".join(f"Py_XDECREF({n}_c);\n" for n in inputs)
        pointers = "".join(
            f"dtype_{n} *{n}_flat = (dtype_{n} *)PyArray_DATA({n}_c);\n" if n in inputs
            else f"dtype_{n} *{n}_flat = (dtype_{n} *)PyArray_DATA({n});\n"
            for n in names)
        loads = "".join(f"dtype_{n} {n}_f = {n}_flat[{'0' if n in one_value else 'i'}];\n"
                        for n in dict.fromkeys(inames))
        stores = "".join(f"dtype_{n} {n}_f;\n" for n in onames)
        results = "".join(f"{n}_flat[i] = {n}_f;\n" for n in onames)
        return f"""if ({condition}) {{
    const npy_intp n_flat = {size};
    {views}
    if (!({made})) {{
        {releases}
        {sub["fail"]}
    }}
    {pointers}
    #pragma omp parallel for schedule(static) num_threads(parallel_threads(n_flat / 16384))
    for (npy_intp i = 0; i < n_flat; i++) {{
        {loads}{stores}{{ {task} }}
        {results}
    }}
    {releases}
}}"""

    def c_code_cache_version_apply(self, node):
        version = super().c_code_cache_version_apply(node)
        if not version:
            return version
        return (*version, ("toolkit_threaded", threaded_c_version(),
                           tuple(toolchain.openmp_flags())))


@functools.cache
def threaded_c_version():
    """A hash of what ThreadedElemwise adds to Elemwise's C (its class's source and
    ckernel.h): a changed line can never run as the old from PyTensor's cache."""
    text = inspect.getsource(ThreadedElemwise) + (C_DIR / "ckernel.h").read_text()
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def threadable(node):
    """An Elemwise whose outputs have one shape and whose inputs have it or are a
    single value, in float32 or float64: what ThreadedElemwise's loop covers."""
    shape_of = node.outputs[0]

    def full(v):
        return v.ndim == shape_of.ndim and not any(v.type.broadcastable)

    return (type(node.op) is Elemwise and shape_of.ndim >= 1
            and all(v.dtype in ("float32", "float64") for v in node.inputs + node.outputs)
            and all(full(o) for o in node.outputs)
            and all(full(i) or all(i.type.broadcastable) for i in node.inputs)
            and any(full(i) for i in node.inputs))


@node_rewriter([Elemwise])
def threaded_elemwise(fgraph, node):
    if threadable(node):
        op = ThreadedElemwise(node.op.scalar_op, node.op.inplace_pattern)
        return op.make_node(*node.inputs).outputs


# --- max_pool_2d(rectify(x)) and its gradient, one pass each ------------------------
# (the Ops, RectifyPool and RectifyPoolGrad, are in toolkit/ops.py with the pool's)

def rectified(var):
    """x if var is the rectifier of x: Rectify(x), or maximum(x, 0) before
    parallel_rectifier has run; None for anything else."""
    node = var.owner
    if node is None:
        return None
    if isinstance(node.op, Rectify):
        return node.inputs[0]
    if (isinstance(node.op, Elemwise) and isinstance(node.op.scalar_op, scalar.ScalarMaximum)
            and len(node.inputs) == 2):
        for x, zero in (node.inputs, node.inputs[::-1]):
            if constant_equal_to(zero, 0) and x.type == var.type:
                return x
    return None


def rectifier_gradient_of(node):
    """(x, g) if node passes g where max(x, 0) == x, the rectifier's gradient:
    MaskWhereEqual(rectify(x), x, g), or either of PyTensor's forms that
    mask_where_equal turns into it; None for anything else."""
    if isinstance(node.op, MaskWhereEqual):
        form = ("eq", 0, 1, 2)
    elif (isinstance(node.op, Elemwise) and isinstance(node.op.scalar_op, scalar.Composite)
            and len(node.outputs) == 1):
        form = rectifier_gradient(node.op.scalar_op)
    else:
        return None
    if form is None:
        return None
    if form[0] == "eq":
        rectified_x, x, g = (node.inputs[i] for i in form[1:])
        return (x, g) if rectified(rectified_x) is x else None
    return node.inputs[form[1]], node.inputs[form[2]]


@node_rewriter([MaxPool])
def rectify_pool(fgraph, node):
    x = rectified(node.inputs[0])
    if x is not None and x.dtype in ("float32", "float64"):
        fused = RectifyPool(node.op.ws, node.op.ignore_border)(x)
        if fused.type == node.outputs[0].type:
            return [fused]


@node_rewriter([MaskWhereEqual, Elemwise])
def rectify_pool_grad(fgraph, node):
    """The rectifier's gradient of a pool's gradient, both taken at the same x. Only
    the rectifier's gradient is replaced: a MaxPoolGrad or a Rectify that something
    else reads stays, and computes what it did."""
    found = rectifier_gradient_of(node)
    if found is None:
        return None
    x, g = found
    if g.owner is None or not isinstance(g.owner.op, MaxPoolGrad):
        return None
    rectified_x, out, grad_out = g.owner.inputs
    if rectified(rectified_x) is not x or x.dtype not in ("float32", "float64"):
        return None
    fused = RectifyPoolGrad(g.owner.op.ws, g.owner.op.ignore_border)(x, out, grad_out)
    if fused.type == node.outputs[0].type:
        return [fused]


@node_rewriter([Corr2dGradWeights])
def pool_grad_weights(fgraph, node):
    """The weight gradient of a correlation whose map's gradient comes from
    RectifyPoolGrad and goes nowhere else (no input gradient: the first layer)."""
    images, grad_map, kernel_shape = node.inputs
    pool_grad = grad_map.owner
    if (pool_grad is None or not isinstance(pool_grad.op, RectifyPoolGrad)
            or [reader for reader, _ in fgraph.clients[grad_map]] != [node]):
        return None
    fused = Corr2dGradWeightsOfPool(node.op.border_mode, pool_grad.op.ws,
                                    pool_grad.op.ignore_border)(images, *pool_grad.inputs,
                                                                kernel_shape)
    if fused.type == node.outputs[0].type:
        return [fused]


# What --mode C includes, by the tag each is registered under in PyTensor's optdb.
REWRITES = {"c_inline_softmax": inline_softmax, "c_standard_uniform": standard_uniform,
            "c_parallel_rectifier": parallel_rectifier, "c_mask_where_equal": mask_where_equal,
            "c_parallel_dot": parallel_dot,
            # PyTensor runs rewrites of one position in the order of their names: these
            # two come after c_mask_where_equal and c_parallel_rectifier, whose Ops
            # they look for (and they also know the forms from before those)
            "c_rectify_pool": rectify_pool, "c_rectify_pool_grad": rectify_pool_grad,
            "c_seed_in_place": seed_in_place,
            # after c_rectify_pool_grad, whose RectifyPoolGrad it takes in
            "c_rectify_pool_grad_weights": pool_grad_weights,
            # after every rewrite above that looks for PyTensor's own Elemwise Ops
            "c_threaded_elemwise": threaded_elemwise}

# Where each runs in PyTensor's optdb: after fusion (49), before the in-place
# rewrites (49.5 and later); an in-place one with PyTensor's random_make_inplace.
POSITIONS = {tag: 49.4 for tag in REWRITES} | {"c_seed_in_place": 50.9}
