"""Wrong: a loop over training images hidden in a comprehension."""
import numpy as np


def distances(test, train):
    test = test.astype(float)
    return np.stack([np.sqrt(np.sum((test - img) ** 2, axis=1)) for img in train], axis=1)
