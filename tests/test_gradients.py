"""T.grad of each script's cost against finite differences (float64, small sizes).

The graphs are the scripts' own expressions at toy sizes; dropout is off so the
cost is a deterministic function of the weights.
"""
import numpy as np
import pytest
from pytensor import tensor as T
from pytensor.gradient import verify_grad

from ops import conv2d, max_pool_2d

rng = np.random.default_rng(0)
X = rng.random((6, 12))
Y = np.eye(4)[rng.integers(0, 4, 6)]
IMAGES = rng.random((3, 1, 8, 8))
Y_IMAGES = np.eye(4)[rng.integers(0, 4, 3)]


def stable_softmax(x):  # the slides' numerically stable softmax
    e_x = T.exp(x - x.max(axis=1).dimshuffle(0, "x"))
    return e_x / e_x.sum(axis=1).dimshuffle(0, "x")


def crossentropy(py_x, y):
    return T.mean(-T.sum(y * T.log(py_x), axis=1))


def linear_cost(w):
    return T.mean(T.sqr(T.as_tensor_variable(X[:, 0]) * w - Y[:, 0]))


def logistic_cost(w):
    return crossentropy(T.special.softmax(T.dot(X, w), axis=1), Y)


def net_cost(w_h, w_o):
    return crossentropy(T.special.softmax(T.dot(T.sigmoid(T.dot(X, w_h)), w_o), axis=1), Y)


def modern_cost(w_h, w_h2, w_o):
    h = T.maximum(T.dot(X, w_h), 0.)
    h2 = T.maximum(T.dot(h, w_h2), 0.)
    return crossentropy(stable_softmax(T.dot(h2, w_o)), Y)


def conv_cost(w, w2, w4, w_o):
    l1 = max_pool_2d(T.maximum(conv2d(IMAGES, w, border_mode="full"), 0.), (2, 2))
    l2 = max_pool_2d(T.maximum(conv2d(l1, w2), 0.), (2, 2))
    l4 = T.maximum(T.dot(T.flatten(l2, ndim=2), w4), 0.)
    return crossentropy(stable_softmax(T.dot(l4, w_o)), Y_IMAGES)


CASES = {
    "linear_regression": (linear_cost, [()]),
    "logistic_regression": (logistic_cost, [(12, 4)]),
    "net": (net_cost, [(12, 7), (7, 4)]),
    "modern_net": (modern_cost, [(12, 7), (7, 5), (5, 4)]),
    # 8 -full-> 10 -> 5 -valid-> 3 -> 2: 3 kernels * 2 * 2 features
    "convolutional_net": (conv_cost, [(2, 1, 3, 3), (3, 2, 3, 3), (12, 5), (5, 4)]),
}


@pytest.mark.parametrize("name", CASES)
def test_cost_gradient_matches_finite_differences(name):
    cost, shapes = CASES[name]
    point = [rng.standard_normal(s) * 0.5 + (0.3 if s == () else 0) for s in shapes]
    verify_grad(cost, point, rng=np.random.default_rng(1), abs_tol=1e-6, rel_tol=1e-5)
