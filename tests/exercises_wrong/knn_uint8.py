"""Wrong: the differences taken in the images' own dtype (uint8 wraps around)."""
import numpy as np


def distances(test, train):
    diff = test[:, None, :] - train[None, :, :]
    return np.sqrt(np.sum(diff.astype(float) ** 2, axis=2))
