"""The scripts' own graphs, not copies: each numbered script runs in this process on
a small subset, and its cost, params, train and predict are checked.

- T.grad of the script's cost against finite differences along a direction in
  each parameter (dropout off: the cost on the noise-free model);
- verify_grad itself where the parameters are small enough (scripts 1 and 2);
- the script's train function lowers its cost on a batch it trains on.
"""
import numpy as np
import pytensor
import pytest
from pytensor import tensor as T
from pytensor.gradient import verify_grad
from pytensor.graph.replace import clone_replace

from helpers import run_script
from tools import runs

SMALL_RUN = ("--epochs", 1, "--ntrain", 256, "--ntest", 100, "--batch-size", 64, "--mode", "C")
MNIST_SCRIPTS = [model.script for model in runs.MODELS.values()]


@pytest.mark.parametrize("model", list(runs.MODELS))
def test_the_recipe_a_run_records_is_its_own(model):
    """What --log and --save record as the recipe is what the run used; params names
    the script's own weights."""
    ns = run_script(runs.MODELS[model].script, *SMALL_RUN)
    recipe, args = ns["run"].recipe(), ns["args"]
    assert recipe["script"] == runs.MODELS[model].script
    assert (recipe["lr"], recipe["batch_size"], recipe["ntrain"]) == (args.lr, 64, 256)
    assert recipe["mode"] == "C"  # SMALL_RUN's --mode, over the default
    names = set(ns["params"])
    assert names and all(ns[name] is ns["params"][name] for name in names)


def params_of(namespace):
    return list(namespace["params"].values())


def clean_cost(namespace):
    """The script's cost, with the noise-free model in place of the dropout one."""
    if "noise_py_x" in namespace:
        return clone_replace(namespace["cost"], {namespace["noise_py_x"]: namespace["py_x"]})
    return namespace["cost"]


def healthy_point(params, rng):
    """Weights of unit-variance activations, so that no gradient is lost in float32."""
    for p in params:
        shape = p.get_value().shape
        fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else shape[0]
        p.set_value((rng.standard_normal(shape) / np.sqrt(fan_in)).astype("float32"))


@pytest.mark.parametrize("script", MNIST_SCRIPTS)
def test_script_gradient_matches_finite_differences(script):
    ns = run_script(script, *SMALL_RUN)
    params, X, Y, mode = params_of(ns), ns["X"], ns["Y"], ns["mode"]
    rng = np.random.default_rng(0)
    healthy_point(params, rng)
    x, y = ns["trX"][:16], ns["trY"][:16]
    # MNIST's black ground and saturated strokes repeat whole patches, whose
    # convolutions tie exactly in a pool: every tie gets the gradient (Theano's rule),
    # while a step of the weights moves the ties together, so the two disagree there
    # (by 2 % in the first layer's kernels here, as much as the tolerance). A little
    # noise on the pixels leaves no ties.
    x = (x + rng.uniform(0, 0.01, x.shape)).astype("float32")
    cost = clean_cost(ns)
    f = pytensor.function([X, Y], cost, mode=mode)
    grads = pytensor.function([X, Y], T.grad(cost, params), mode=mode)(x, y)
    for i, (p, g) in enumerate(zip(params, grads)):
        value = p.get_value()
        random = rng.standard_normal(value.shape)
        direction = g / np.linalg.norm(g) + random / np.linalg.norm(random)
        direction /= np.linalg.norm(direction)
        analytic = float(np.sum(g * direction))
        eps = 1e-3  # small enough to cross few rectifier and pooling kinks
        p.set_value((value + eps * direction).astype("float32"))
        plus = float(f(x, y))
        p.set_value((value - eps * direction).astype("float32"))
        minus = float(f(x, y))
        p.set_value(value)
        numeric = (plus - minus) / (2 * eps)
        assert abs(numeric - analytic) <= 2e-2 * abs(analytic) + 1e-4, (i, numeric, analytic)


def test_linear_regression_verify_grad():
    ns = run_script("1_linear_regression.py")
    X, Y, w, cost = ns["X"], ns["Y"], ns["w"], ns["cost"]
    verify_grad(lambda w_: clone_replace(cost, {w: w_, X: np.float32(0.7), Y: np.float32(1.2)}),
                [np.asarray(0.3, dtype="float32")], rng=np.random.default_rng(1))


def test_logistic_regression_verify_grad():
    ns = run_script("2_logistic_regression.py", *SMALL_RUN)
    X, Y, w, cost = ns["X"], ns["Y"], ns["w"], ns["cost"]
    x, y = ns["trX"][:4], ns["trY"][:4]
    point = np.random.default_rng(2).standard_normal((784, 10)).astype("float32") * 0.05
    verify_grad(lambda w_: clone_replace(cost, {w: w_, X: x, Y: y}), [point],
                rng=np.random.default_rng(3), abs_tol=2e-3, rel_tol=2e-3)


@pytest.mark.parametrize("script", MNIST_SCRIPTS)
def test_script_train_lowers_its_cost(script):
    ns = run_script(script, *SMALL_RUN)
    X, Y, mode = ns["X"], ns["Y"], ns["mode"]
    x, y = ns["trX"][:64], ns["trY"][:64]
    cost = pytensor.function([X, Y], clean_cost(ns), mode=mode)
    before = float(cost(x, y))
    for _ in range(15):
        ns["train"](x, y)
    after = float(cost(x, y))
    assert after < before, (before, after)
    predictions = ns["predict"](x)
    assert predictions.shape == (64,) and predictions.dtype.kind == "i"


def test_linear_regression_learns_the_slope():
    ns = run_script("1_linear_regression.py")
    assert abs(float(ns["w"].get_value()) - 2) < 0.1
    assert "learned slope w = 2.0" in ns["printed"]


def test_convolutional_net_summary_shows_the_talks_shapes():
    printed = run_script("5_convolutional_net.py", *SMALL_RUN)["printed"]
    sizes = [line.split()[-1] for line in printed.splitlines()
             if line.strip().startswith(("input", "conv2d", "max_pool_2d"))]
    assert sizes == ["28", "30", "15", "13", "7", "5", "3"], printed
    assert "818,698 numbers" in printed  # 288 + 18432 + 73728 + 720000 + 6250
