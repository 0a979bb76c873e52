"""knn_baseline.py: the vectorized path against the slide's own loop."""
import subprocess
import sys

import numpy as np

import knn_baseline as knn
from helpers import ROOT
from load import mnist


def test_vectorized_agrees_with_the_slides_loop():
    trX, teX, trY, teY = mnist(ntrain=2000, ntest=40, onehot=False)
    slide = np.array([knn.ocr(image, trX, trY) for image in teX])
    np.testing.assert_array_equal(knn.predict(teX, trX, trY, k=1, chunk=7), slide)


def test_nearest_matches_a_full_sort():
    rng = np.random.default_rng(0)
    train = rng.random((300, 20), dtype=np.float32)
    test = rng.random((25, 20), dtype=np.float32)
    exact = ((test[:, None, :].astype(float) - train[None].astype(float)) ** 2).sum(-1)
    expected = np.argsort(exact, axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(knn.nearest(test, train, 5), expected)


def test_vote_majority_and_deterministic_ties():
    labels = np.array([[3, 1, 1],   # majority: 1
                       [2, 5, 7]])  # three-way tie: the nearest neighbour's label, 2
    np.testing.assert_array_equal(knn.vote(labels), [1, 2])
    np.testing.assert_array_equal(knn.vote(np.array([[6, 4, 4, 6]])), [6])  # 6 is nearer


def test_script_last_line_is_the_accuracy():
    result = subprocess.run([sys.executable, str(ROOT / "knn_baseline.py"), "--ntrain", "5000",
                             "--ntest", "300", "--k", "3"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300, check=True)
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("test accuracy ")
    assert float(last.split()[-1]) > 0.85


def test_bad_k_is_one_line():
    result = subprocess.run([sys.executable, str(ROOT / "knn_baseline.py"), "--k", "0"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


def test_ties_go_to_the_lower_index_and_near_ties_are_ranked_exactly():
    """Two copies of an image tie: the lower index first. A hundred pairs of images
    closer to each other than float32's matrix product can tell apart (4e-7 against an
    error of about 1e-5): the exact distances rank them, as a float64 sort does."""
    rng = np.random.default_rng(1)
    train = rng.random((1000, 784), dtype=np.float32)
    train[900] = train[3]                          # an exact copy, later in the set
    train[500:600] = train[:100]
    train[500:600, 0] += np.float32(1e-3)          # a twin, one pixel a little brighter
    test = train[:100].copy()
    test[:, 0] += np.float32(0.6e-3)               # nearer the twin, by 2e-7
    test = np.concatenate([test, train[3:4]])
    exact = ((test[:, None, :].astype(float) - train[None].astype(float)) ** 2).sum(-1)
    expected = np.argsort(exact, axis=1, kind="stable")[:, :2]
    assert (expected[:100, 0] >= 500).all() and expected[100].tolist() == [3, 900]
    np.testing.assert_array_equal(knn.nearest(test, train, 2), expected)
    np.testing.assert_array_equal(knn.nearest(test, train, 1), expected[:, :1])
