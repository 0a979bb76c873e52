"""Wrong: the gradients paired with the parameters in the reverse order."""
from pytensor import tensor as T


def sgd(cost, params, lr=0.05):
    grads = T.grad(cost=cost, wrt=params)
    return [(p, p - g * lr) for p, g in zip(params, reversed(grads))]
