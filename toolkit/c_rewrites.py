"""What --mode C changes in a graph before compiling it: two rewrites that
backends.c_mode() registers (once per process) and includes.

- inline_softmax: PyTensor 3 keeps (log-)softmax as a small inner graph that the C
  backend runs from Python; inlined, its exp, max and sum compile to C. It cost
  the modern net half its step time.
- standard_uniform: the dropout masks draw uniform(0, 1) numbers. PyTensor asks
  numpy for them in float64 with broadcast bounds, then casts them; drawn as
  Generator.random(size, dtype=float32) they cost about a fifth (the CNN draws
  1.5 million a step). Same distribution, same generator, other numbers.
"""
import numpy as np
from pytensor.graph.basic import Constant
from pytensor.graph.rewriting.basic import node_rewriter
from pytensor.tensor.random.basic import UniformRV
from pytensor.tensor.random.op import custom_rng_deepcopy
from pytensor.tensor.rewriting.ofg import inline_ofg_node
from pytensor.tensor.special import LogSoftmax, Softmax


@node_rewriter([Softmax, LogSoftmax])
def inline_softmax(fgraph, node):
    return inline_ofg_node(node)


class StandardUniformRV(UniformRV):
    """uniform(0, 1), drawn by numpy in the output's own dtype."""

    def perform(self, node, inputs, outputs):
        rng, size = inputs[:2]
        if not self.inplace:
            rng = custom_rng_deepcopy(rng)
        outputs[0][0] = rng
        outputs[1][0] = rng.random(None if size is None else tuple(size),
                                   dtype=node.outputs[1].dtype)


def constant_equal_to(var, value):
    return isinstance(var, Constant) and np.all(var.data == value)


@node_rewriter([UniformRV])
def standard_uniform(fgraph, node):
    rng, size, low, high = node.inputs
    if (type(node.op) is UniformRV and node.outputs[1].dtype in ("float32", "float64")
            and constant_equal_to(low, 0) and constant_equal_to(high, 1)):
        op = StandardUniformRV(dtype=node.outputs[1].dtype, inplace=node.op.inplace)
        return op.make_node(rng, size, low, high).outputs
