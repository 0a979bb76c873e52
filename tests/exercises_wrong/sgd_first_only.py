"""Wrong: only the first parameter updated."""
from pytensor import tensor as T


def sgd(cost, params, lr=0.05):
    p = params[0]
    return [(p, p - T.grad(cost, p) * lr)]
