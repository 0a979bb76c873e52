"""The one MNIST loader every script shares, as in the talk:

    from load import mnist
    trX, teX, trY, teY = mnist(ntrain=60000, ntest=10000, onehot=True)

Images come back as float32 rows of 784 pixels scaled to [0, 1]; labels as one-hot
float32 rows of 10 (or, with onehot=False, integer labels).

The four files are looked for in `data_dir`, then $MNIST_DIR, then the repository's
data/mnist/ (committed: a fresh clone needs no network), then a cache the loader
downloads them into. Each file is checked once a run before it is read, and anything
wrong with one is one MNISTError naming it (toolkit/mnist_files.py does both).
"""
import gzip
import math
import struct

import numpy as np

from toolkit import mnist_files
from toolkit.mnist_files import MNISTError


def data_folder(ntrain, ntest, data_dir=None):
    """The folder holding the MNIST files, every file checked (found once a run)."""
    return mnist_files.check(ntrain, ntest, data_dir)[0]


def read_idx(folder, name, n):
    """The first n examples of an IDX file (`name`, or `name`.gz) as unsigned bytes.
    An IDX file is a header, then the bytes: the header's 4th byte says how many
    dimensions follow, each a big-endian 4-byte count (60000, 28, 28 for images)."""
    path = mnist_files.find(folder, name)
    with gzip.open(path) if path.suffix == ".gz" else open(path, "rb") as f:
        ndim = f.read(4)[3]
        shape = struct.unpack(f">{ndim}I", f.read(4 * ndim))
        size = n * math.prod(shape[1:])
        examples = np.frombuffer(f.read(size), dtype=np.uint8)
    if examples.size < size:  # checked whole a moment ago: it changed since
        raise MNISTError(f"{path}: changed while it was read; run again")
    return examples.reshape(n, *shape[1:])


def one_hot(labels, n=10):
    """Label k as a row of n float32 numbers, all 0 but a 1 at k."""
    return np.eye(n, dtype=np.float32)[labels]


def mnist(ntrain=60000, ntest=10000, onehot=True, data_dir=None):
    """trX, teX, trY, teY: the first `ntrain` training and `ntest` test examples."""
    folder = data_folder(ntrain, ntest, data_dir)
    trX = read_idx(folder, "train-images-idx3-ubyte", ntrain).reshape(ntrain, 28 * 28)
    teX = read_idx(folder, "t10k-images-idx3-ubyte", ntest).reshape(ntest, 28 * 28)
    trY = read_idx(folder, "train-labels-idx1-ubyte", ntrain)
    teY = read_idx(folder, "t10k-labels-idx1-ubyte", ntest)

    trX = trX / np.float32(255)  # float32 throughout, as the scripts are
    teX = teX / np.float32(255)

    if onehot:
        return trX, teX, one_hot(trY), one_hot(teY)
    return trX, teX, trY.astype(np.int64), teY.astype(np.int64)


if __name__ == "__main__":
    trX, teX, trY, teY = mnist()
    print(f"loaded {len(trX)} training and {len(teX)} test images")
