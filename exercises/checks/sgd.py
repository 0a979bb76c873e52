"""The check of exercises/sgd.py: the learner's updates against p - lr * T.grad(cost, p),
for the slide's one-weight model and a two-layer net whose weights share a shape."""
import numpy as np

from exercises.checks import Wrong, function, symbolic


def models(rng):
    """(what, cost, params): cases small enough to check in a moment."""
    import pytensor
    from pytensor import tensor as T

    def shared(*shape):
        return pytensor.shared(rng.normal(size=shape))
    x, y = rng.normal(size=20), rng.normal(size=20)
    w = pytensor.shared(rng.normal())
    yield "the slide's y = X * w, mean squared error", T.mean(T.sqr(x * w - y)), [w]
    X, Y = rng.normal(size=(8, 5)), np.eye(5)[rng.integers(0, 5, 8)]
    w_h, w_o = shared(5, 5), shared(5, 5)
    py_x = T.special.softmax(T.dot(T.tanh(T.dot(X, w_h)), w_o), axis=1)
    yield "a 5 -> 5 -> 5 net, cross-entropy", T.mean(-T.sum(Y * T.log(py_x), axis=1)), [w_h, w_o]


def check(learner, rng):
    from pytensor import tensor as T
    for what, cost, params in models(rng):
        for lr in (None, float(rng.uniform(0.1, 0.9))):
            tried = f"sgd(cost, params{'' if lr is None else f', lr={lr:.3g}'}) for {what}"
            with learner.running(tried):
                updates = learner.sgd(cost, params) if lr is None else learner.sgd(cost, params, lr)
            lr = 0.05 if lr is None else lr
            updates = list(updates.items() if isinstance(updates, dict) else updates)
            if not all(isinstance(u, (list, tuple)) and len(u) == 2 for u in updates):
                raise Wrong(tried, "a list of (param, new value) pairs", repr(updates)[:80],
                            "one pair per parameter: the shared variable, then its new value")
            updated = [p for p, _ in updates]
            if len(updated) != len(params) or any(p not in updated for p in params):
                raise Wrong(tried, f"an update for each of the {len(params)} parameters",
                            f"updates of {len(updated)}, {sum(p in updated for p in params)} "
                            "of them parameters", "loop over all the params")
            new = {p: symbolic(v, tried, "each new value") for p, v in updates}
            with learner.running(tried):
                got = function([], [new[p] for p in params])()
            grads = function([], T.grad(cost, params))()
            values = [p.get_value() for p in params]
            expected = [v - lr * g for v, g in zip(values, grads)]
            for i, (e, g) in enumerate(zip(expected, got)):
                if not np.allclose(g, e, rtol=1e-7, atol=1e-10):
                    raise Wrong(tried, f"params[{i}] moved from {short(values[i])} to {short(e)}",
                                short(g), hint(g, values[i], grads, i, lr))
    return "one weight and two same-shaped weight matrices, the default lr and another"


def short(x):
    return f"{np.ravel(x)[0]:.6g} (first element)" if np.ndim(x) else f"{float(x):.6g}"


def hint(got, value, grads, i, lr):
    def near(x):
        return np.shape(x) == np.shape(got) and np.allclose(got, x, rtol=1e-7, atol=1e-10)
    if near(value + lr * grads[i]):
        return "that step goes uphill: descent moves against the gradient"
    if near(value - 0.05 * grads[i]):
        return "that is the default step size: use the lr given"
    if near(value - grads[i]) or near(value - lr):
        return "a step is the gradient scaled by the learning rate"
    if any(near(value - lr * g) for j, g in enumerate(grads) if j != i):
        return "each parameter moves by its own gradient: pair them in the same order"
    return "the new value is the parameter, one step of size lr against its gradient"
