"""The talk's starting point: "for each image, find the most similar image and
guess that as the label" -- nearest neighbours on raw pixels. The talk: ~95 %.

    python knn_baseline.py            # full train and test sets, k = 1

It builds no graph (it is numpy), so it needs neither PyTensor nor --mode.
"""
import argparse
import sys
import time

import numpy as np

from load import MNISTError, mnist
from toolkit.files import WriteError, write_json
from toolkit.outputs import is_knn_log
from toolkit.training import (OneLineParser, check_output_paths, positive_int,
                              stop_on_ctrl_c)


# The slide, as written: one test image against every training image in a loop.
def similarity(image, images):
    similarities = []
    for img in images:
        distance = np.sqrt(np.sum(np.square(image - img)))
        sim = 1 / distance
        similarities.append(sim)
    return similarities


def ocr(image, images, labels):
    similarities = similarity(image, images)
    return labels[np.argmax(similarities)]


# The same idea for all test images at once: ||a - b||^2 = ||a||^2 + ||b||^2 - 2 a.b,
# so the distances of a chunk of test images to every training image are one
# matrix product. The arg-min of the distance is the arg-max of the slide's 1 / distance.
# ||a||^2 is the same along a row, so it is left out; ||b||^2 rides in the product as
# one more column ([-2a, 1] . [b, ||b||^2]), so the product is the whole distance.
def augmented(train):
    """The training images with ||b||^2 as a last column."""
    train_aug = np.empty((len(train), train.shape[1] + 1), train.dtype)
    train_aug[:, :-1] = train
    train_aug[:, -1] = np.einsum("ij,ij->i", train, train)
    return train_aug


def nearest(test, train, k, train_aug=None):
    """Indices of the k nearest training images of each test image, nearest first
    (ties: the lower index first)."""
    if train_aug is None:
        train_aug = augmented(train)
    test_aug = np.hstack([-2 * test, np.ones((len(test), 1), test.dtype)])
    distances = test_aug @ train_aug.T  # float32: within `slack` of the exact value
    kth = distances.min(axis=1) if k == 1 else np.partition(distances, k - 1, axis=1)[:, k - 1]
    # a float32 dot product of n terms errs by at most about n * eps * (|a| + |b|)^2;
    # every image that close to the k-th is ranked again, exactly, in float64
    largest = np.sqrt(train_aug[:, -1].max())
    eps = np.finfo(np.float32).eps
    slack = train.shape[1] * eps * (np.linalg.norm(test, axis=1) + largest) ** 2
    near = np.flatnonzero(distances <= (kth + slack)[:, None])  # far quicker than nonzero
    rows, candidates = np.divmod(near, len(train))
    diff = test[rows].astype(np.float64) - train[candidates].astype(np.float64)
    exact = np.einsum("ij,ij->i", diff, diff)
    order = np.lexsort((candidates, exact, rows))  # by row, then distance, then index
    rows, candidates = rows[order], candidates[order]
    first = np.searchsorted(rows, np.arange(len(test)))  # where each row's candidates start
    keep = np.arange(len(rows)) - first[rows] < k
    return candidates[keep].reshape(len(test), k)


def vote(neighbour_labels, n_classes=10):
    """The most frequent label among the neighbours; a tie goes to the label of
    the nearest neighbour among the tied labels."""
    counts = np.zeros((len(neighbour_labels), n_classes), dtype=np.int64)
    np.add.at(counts, (np.arange(len(neighbour_labels))[:, None], neighbour_labels), 1)
    best = counts.max(axis=1, keepdims=True)
    is_tied_best = np.take_along_axis(counts, neighbour_labels, axis=1) == best
    first = np.argmax(is_tied_best, axis=1)  # neighbours are sorted nearest first
    return neighbour_labels[np.arange(len(neighbour_labels)), first]


def neighbours(test, train, k, chunk=500, progress=False):
    """nearest() for every test image, `chunk` test images at a time, so that the
    distance matrix stays small."""
    from tqdm import tqdm
    train_aug = augmented(train)
    starts = range(0, len(test), chunk)
    return np.concatenate([nearest(test[start:start + chunk], train, k, train_aug)
                           for start in tqdm(starts, desc="test chunks", leave=False,
                                             disable=not progress)])


def predict(test, train, train_labels, k=1, chunk=500, progress=False):
    """Labels for every test image."""
    nearest_labels = train_labels[neighbours(test, train, k, chunk, progress)]
    return vote(nearest_labels, int(train_labels.max()) + 1)


if __name__ == "__main__":
    parser = OneLineParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--k", type=positive_int, default=1, help="neighbours that vote (default 1)")
    parser.add_argument("--ntrain", type=positive_int, default=60000, help="default 60000")
    parser.add_argument("--ntest", type=positive_int, default=10000, help="default 10000")
    parser.add_argument("--chunk", type=positive_int, default=500,
                        help="test images per distance matrix (default 500: "
                             "500 x 60000 float32 = 120 MB)")
    parser.add_argument("--data-dir", help="folder with the MNIST files (default: data/mnist)")
    parser.add_argument("--log", metavar="PATH",
                        help="write k, the test accuracy and the seconds as JSON")
    args = parser.parse_args()
    stop_on_ctrl_c(parser.prog)  # Ctrl-C: one line, exit 130
    check_output_paths(parser, [__file__], {"log": ("a kNN log", is_knn_log)}, log=args.log)
    try:
        trX, teX, trY, teY = mnist(args.ntrain, args.ntest, onehot=False, data_dir=args.data_dir)
    except MNISTError as e:
        parser.error(str(e))
    if args.k > len(trX):
        parser.error(f"--k {args.k} is more than the {len(trX)} training images")
    start = time.perf_counter()
    predictions = predict(teX, trX, trY, k=args.k, chunk=args.chunk,
                          progress=sys.stderr.isatty())
    seconds = time.perf_counter() - start
    print(f"{args.k}-nearest neighbour, {len(trX)} training images, {len(teX)} test images, "
          f"{seconds:.1f} s")
    accuracy = float(np.mean(predictions == teY))
    print(f"test accuracy {accuracy:.4f}")
    if args.log:
        try:
            write_json(args.log, {"k": args.k, "test_accuracy": accuracy, "seconds": seconds,
                                  "ntrain": len(trX), "ntest": len(teX)})
        except WriteError as e:  # a full disk, say
            parser.error(str(e))
