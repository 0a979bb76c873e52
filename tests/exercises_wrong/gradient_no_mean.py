"""Wrong: one derivative per example, not their mean."""


def gradient(X, Y, w):
    return 2 * (X * w - Y) * X
