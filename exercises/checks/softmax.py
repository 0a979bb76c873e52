"""The check of exercises/softmax.py: the learner's softmax against PyTensor's
T.special.softmax, on small logits, square and narrow matrices, logits of +-1000
and float32, compiled as written (PyTensor's rewrites would stabilize it)."""
import numpy as np

from exercises.checks import Wrong, function, symbolic

LINED_UP = ("keep each row's maximum and sum lined up with its own row (keepdims=True, or "
            "dimshuffle(0, 'x') as on the slide)")


def check(learner, rng):
    from pytensor import tensor as T
    from pytensor.graph.traversal import applys_between
    from pytensor.tensor.special import LogSoftmax, Softmax

    compiled = {}
    for dtype in ("float64", "float32"):
        X = T.matrix("X", dtype=dtype)
        tried = f"softmax(X) with X a symbolic {dtype} matrix"
        with learner.running(tried):
            theirs = symbolic(learner.softmax(X), tried, "the probabilities")
        if any(isinstance(a.op, (Softmax, LogSoftmax)) for a in applys_between([X], [theirs])):
            raise Wrong(tried, "a softmax of your own", "PyTensor's softmax",
                        "PyTensor's softmax is what this checks against: write yours from "
                        "T.exp, max and sum")
        with learner.running(tried):
            compiled[dtype] = function([X], theirs)
        compiled[dtype, "ours"] = function([X], T.special.softmax(X, axis=1))

    n, k = rng.integers(2, 5), rng.integers(6, 10)
    big = np.concatenate([1000 + rng.normal(size=(1, k)), -1000 + rng.normal(size=(1, k)),
                          rng.choice([-1000.0, 1000.0], size=(1, k)) + rng.normal(size=(1, k))])
    cases = [("float64", rng.normal(size=(n, k)), "random logits"),
             ("float64", rng.normal(size=(k, n)), "random logits"),
             ("float64", rng.normal(size=(k, k)) * 3, "random logits, square"),
             ("float64", big, "one row of logits near +1000, one near -1000, one mixed"),
             ("float32", (big / 10).astype(np.float32), "logits near +-100 in float32")]
    for dtype, x, what in cases:
        tried = f"softmax(X) on a {x.shape} {dtype} matrix: {what}"
        with learner.running(tried, hint=LINED_UP):
            got = np.asarray(compiled[dtype](x))
        expected = compiled[dtype, "ours"](x)
        tolerance = 1e-5 if dtype == "float32" else 1e-10
        if got.shape != expected.shape:
            raise Wrong(tried, f"shape {expected.shape}", f"shape {got.shape}",
                        "one probability for each logit: " + LINED_UP)
        wrong = ~np.isclose(got, expected, rtol=tolerance, atol=tolerance)
        if wrong.any():
            i = np.argmax(wrong.any(axis=1))  # the first row that is off
            raise Wrong(tried, f"row {i} {np.round(expected[i], 4)}",
                        f"row {i} {np.round(got[i], 4)}" + nans(got), hint(got, x))
    return "small logits in wide, narrow and square matrices, +-1000 in float64, +-100 in float32"


def nans(got):
    bad = ~np.isfinite(got)
    return f" ({bad.any(axis=1).sum()} rows with NaN or inf)" if bad.any() else ""


def hint(got, x):
    """What a softmax off by a known mistake most likely did."""
    if np.allclose(got.sum(axis=0), 1) and not np.allclose(got.sum(axis=1), 1):
        return "each row must sum to 1 (a row is one example): yours normalizes the columns"
    if not np.isfinite(got).all():
        e = np.exp(x - x.max())  # one number subtracted from the whole matrix
        with np.errstate(all="ignore"):
            if np.array_equal(np.isnan(got), np.isnan(e / e.sum(axis=1, keepdims=True))):
                return ("one number taken from the whole matrix: a row far below it "
                        "underflows to 0 / 0; each row needs its own")
        return ("exp overflows past about 709 (88 in float32) and underflows to 0 far "
                "below: softmax(x) = softmax(x - c) for any c in a row, so which c keeps "
                "every exponent safe?")
    return "exp(x) / sum(exp(x)) along each row; with a square matrix, " + LINED_UP
