"""Wrong: PyTensor's own softmax, not one written by hand."""
from pytensor import tensor as T


def softmax(X):
    return T.special.softmax(X, axis=1)
