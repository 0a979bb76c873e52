"""The slides' pieces as the scripts define them, each against its definition: the
"modern" scripts' dropout (its share of zeros and its rescale), RMSprop's step and
the stable softmax. Each script runs in this process on a small subset (helpers.
run_script), and its own functions are called on cases made to tell right from
nearly right: tiny gradients, where epsilon's place under the square root matters,
and logits of +-1000."""
import numpy as np
import pytensor
import pytest
from pytensor import tensor as T

from helpers import run_script

SMALL_RUN = ("--epochs", 1, "--ntrain", 256, "--ntest", 100, "--batch-size", 64, "--mode", "C")
MODERN = ["4_modern_net.py", "5_convolutional_net.py"]


@pytest.mark.parametrize("script", MODERN)
@pytest.mark.parametrize("p", [0.2, 0.5])
def test_dropout_drops_its_share_and_rescales_the_rest(script, p):
    ns = run_script(script, *SMALL_RUN)
    X = T.fmatrix()
    dropped = pytensor.function([X], ns["dropout"](X, p))(np.ones((400, 500), np.float32))
    zeros = np.mean(dropped == 0)
    assert abs(zeros - p) < 0.01  # 200000 draws: the share is p within a few 0.001
    np.testing.assert_allclose(dropped[dropped != 0], 1 / (1 - p), rtol=1e-6)
    assert np.mean(dropped) == pytest.approx(1, abs=0.01)  # the expected value kept


@pytest.mark.parametrize("script", MODERN)
def test_dropout_of_nothing_is_the_identity(script):
    ns = run_script(script, *SMALL_RUN)
    X = T.fmatrix()
    assert ns["dropout"](X, 0.) is X


@pytest.mark.parametrize("script", MODERN)
@pytest.mark.parametrize("size", [1e-4, 1.0])
def test_rmsprop_steps_as_on_the_slide(script, size):
    """Three steps of the script's RMSprop on a cost whose gradient is known, against
    the slide's rule: acc = rho acc + (1 - rho) g^2; p -= lr g / sqrt(acc + epsilon).
    With gradients of 1e-4, g^2 is far below epsilon: moving epsilon out of the
    square root changes the step a hundredfold."""
    ns = run_script(script, *SMALL_RUN)
    rng = np.random.default_rng(0)
    start = rng.standard_normal(5).astype(np.float32)
    gradient = (size * rng.uniform(0.5, 1.5, 5)).astype(np.float32)
    p = pytensor.shared(start.copy())
    lr, rho, epsilon = 0.001, 0.9, 1e-6
    with pytensor.config.change_flags(floatX="float32"):  # the scripts' own setting
        updates = ns["RMSprop"](T.sum(p * gradient), [p], lr=lr, rho=rho, epsilon=epsilon)
    step = pytensor.function([], [], updates=updates)
    expected, acc = start.astype(np.float64), 0.0
    for _ in range(3):
        step()
        acc = rho * acc + (1 - rho) * gradient.astype(np.float64) ** 2
        expected -= lr * gradient / np.sqrt(acc + epsilon)
        np.testing.assert_allclose(p.get_value(), expected, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("script", MODERN)
def test_the_softmax_is_stable_and_right(script):
    ns = run_script(script, *SMALL_RUN)
    X = T.dmatrix()
    logits = np.array([[1000., 0., -1000.], [-1000., -1000., -999.], [3., 1., 0.2]])
    # as written: PyTensor's rewrites would turn even exp(x) / sum(exp(x)) into a stable Op
    as_written = pytensor.compile.mode.Mode(linker="py", optimizer=None)
    got = pytensor.function([X], ns["softmax"](X), mode=as_written)(logits)
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-300)
