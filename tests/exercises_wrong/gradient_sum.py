"""Wrong: a sum where the cost takes a mean."""
from pytensor import tensor as T


def gradient(X, Y, w):
    return T.sum(2 * (X * w - Y) * X)
