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
