"""Wrong: the learning rate written in, the argument ignored."""
from pytensor import tensor as T


def sgd(cost, params, lr=0.05):
    grads = T.grad(cost=cost, wrt=params)
    return [(p, p - g * 0.05) for p, g in zip(params, grads)]
