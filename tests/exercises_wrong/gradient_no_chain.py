"""Wrong: the chain rule stops at the square, the factor X is missing."""
from pytensor import tensor as T


def gradient(X, Y, w):
    return T.mean(2 * (X * w - Y))
