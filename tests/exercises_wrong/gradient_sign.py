"""Wrong: the residual the other way round, so the sign flips."""
from pytensor import tensor as T


def gradient(X, Y, w):
    return T.mean(2 * (Y - X * w) * X)
