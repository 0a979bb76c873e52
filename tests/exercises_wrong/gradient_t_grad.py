"""Wrong: T.grad itself, not the derivative by hand."""
from pytensor import tensor as T


def gradient(X, Y, w):
    return T.grad(T.mean(T.sqr(X * w - Y)), w)
