"""Wrong: numpy on symbols, which raises in the learner's own line."""
import numpy as np


def gradient(X, Y, w):
    return np.mean(2 * (X * w - Y) * X.shape)
