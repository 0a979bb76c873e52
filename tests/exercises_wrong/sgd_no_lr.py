"""Wrong: a whole gradient per step, no learning rate."""
from pytensor import tensor as T


def sgd(cost, params, lr=0.05):
    return [(p, p - T.grad(cost, p)) for p in params]
