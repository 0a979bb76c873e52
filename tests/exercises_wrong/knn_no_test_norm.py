"""Wrong: ||test||^2 left out, as knn_baseline.py may for ranking, but these are distances."""
import numpy as np


def distances(test, train):
    test, train = test.astype(float), train.astype(float)
    return np.sqrt(np.maximum((train ** 2).sum(1)[None, :] - 2 * test @ train.T, 0))
