"""The check of exercises/gradient.py: the learner's derivative against T.grad and
a central finite difference of the cost, on batches of several sizes."""
import numpy as np

from exercises.checks import Wrong, function, symbolic


def check(learner, rng):
    import pytensor
    from pytensor import tensor as T
    X, Y, w = T.dvector("X"), T.dvector("Y"), T.dscalar("w")
    cost = T.mean(T.sqr(X * w - Y))
    tried = "gradient(X, Y, w) with X, Y float64 vectors and w a float64 scalar"
    with learner.running(tried), learner.watching() as seen:
        theirs = learner.gradient(X, Y, w)
    if any(file == pytensor.gradient.__file__ and name in ("grad", "Lop", "jacobian")
           for file, name in seen["calls"]):
        raise Wrong(tried, "the derivative written by hand", "a call of T.grad",
                    "T.grad is what this checks against: write the derivative yourself, "
                    "with the chain rule")
    symbolic(theirs, tried, "the derivative")
    if theirs.ndim != 0:
        raise Wrong(tried, "one number (a scalar expression)", f"a {theirs.ndim}-d expression",
                    "the cost is the mean over the batch, one number; so is its derivative")
    with learner.running(tried):
        theirs = function([X, Y, w], theirs)
    ours, cost = function([X, Y, w], T.grad(cost, w)), function([X, Y, w], cost)

    for n in (3, rng.integers(5, 20), rng.integers(50, 200)):
        x, y, w0 = rng.normal(size=n), rng.normal(size=n), rng.normal()
        tried = f"gradient(X, Y, w) at w = {w0:.3g}, for a batch of {n} random (x, y)"
        with learner.running(tried):
            got = float(theirs(x, y, w0))
        expected = float(ours(x, y, w0))
        h = 1e-5
        numeric = (cost(x, y, w0 + h) - cost(x, y, w0 - h)) / (2 * h)
        assert np.isclose(expected, numeric, rtol=1e-5, atol=1e-8)  # the references agree
        if not np.isclose(got, expected, rtol=1e-6, atol=1e-10):
            raise Wrong(tried, f"{expected:.6g} (T.grad, and a finite difference of the cost)",
                        f"{got:.6g}", hint(got, expected, n, x, y, w0))
    return "against T.grad and a finite difference, at random w, for batches of 3 to 200"


def hint(got, expected, n, x, y, w):
    """What a derivative off by a known mistake most likely missed."""
    def near(value):
        return np.isclose(got, value, rtol=1e-6, atol=1e-10)
    if near(expected / 2):
        return "half of it: what is the derivative of u^2 with respect to u?"
    if near(expected * n) or near(expected * n / 2):
        return f"{n} times too large: the cost is a mean over the batch, not a sum"
    if near(-expected):
        return "the sign: which way does X * w - Y change when w grows?"
    if near(np.mean(2 * (x * w - y))) or near(np.mean(x * w - y)):
        return "the chain rule: X * w - Y depends on w too, and its derivative is a factor"
    return ("compare with a finite difference, (cost(w + h) - cost(w - h)) / 2h for a small h,"
            " then take the chain rule step by step: mean, then square, then X * w - Y")
