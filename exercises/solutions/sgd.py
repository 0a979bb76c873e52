"""A solution to exercises/sgd.py (slide "Understanding SGD")."""
from pytensor import tensor as T


def sgd(cost, params, lr=0.05):
    grads = T.grad(cost=cost, wrt=params)  # one gradient per parameter, in their order
    updates = []
    for p, g in zip(params, grads):
        updates.append((p, p - g * lr))  # downhill: against the gradient
    return updates
