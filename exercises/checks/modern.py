"""The check of exercises/modern.py: RMSprop's steps against the slide's formula in
numpy, for three steps (so that the running average must be kept); dropout's
masks counted on a large matrix, its kept values, and its draws from call to call."""
import numpy as np

from exercises.checks import Wrong, function, symbolic

SLIDE = dict(lr=0.001, rho=0.9, epsilon=1e-6)


def check(learner, rng):
    check_rmsprop(learner, rng)
    check_dropout(learner, rng)
    return ("RMSprop: three steps, the slide's settings and others, gradients large and "
            "tiny; dropout: p = 0, 0.2, 0.7 on 100,000 units, float32 kept float32")


def check_rmsprop(learner, rng):
    import pytensor
    from pytensor import tensor as T
    cases = [({}, 1.0), (dict(lr=0.01, rho=0.8, epsilon=1e-4), 1e-4)]  # (arguments, cost scale)
    for kwargs, scale in cases:
        settings = {**SLIDE, **kwargs}
        w_h = pytensor.shared(rng.normal(size=(4, 3)))
        w_o = pytensor.shared(rng.normal(size=(3, 2)))
        X, Y = rng.normal(size=(6, 4)), rng.normal(size=(6, 2))
        cost = scale * T.mean(T.sqr(T.dot(T.tanh(T.dot(X, w_h)), w_o) - Y))
        params = [w_h, w_o]
        args = "".join(f", {k}={v:g}" for k, v in kwargs.items())
        tried = f"RMSprop(cost, params{args}) with gradients of about {scale:g}"
        with learner.running(tried):
            updates = learner.RMSprop(cost, params, **kwargs)
            updates = list(updates.items() if isinstance(updates, dict) else updates)
            new = [symbolic(v, tried, "each new value") for _, v in updates]
            step = function([], [], updates=list(zip([u for u, _ in updates], new)))
        grads = function([], T.grad(cost, params))
        acc = [np.zeros_like(p.get_value()) for p in params]
        for n in range(1, 4):
            values, g = [p.get_value() for p in params], grads()
            with learner.running(f"{tried}, step {n}"):
                step()
            rho, lr, eps = settings["rho"], settings["lr"], settings["epsilon"]
            acc = [rho * a + (1 - rho) * gi ** 2 for a, gi in zip(acc, g)]
            for i, p in enumerate(params):
                expected = values[i] - lr * g[i] / np.sqrt(acc[i] + eps)
                got = p.get_value()
                if not np.allclose(got, expected, rtol=1e-7, atol=1e-12):
                    raise Wrong(f"{tried}, step {n}", f"params[{i}][0, 0] from "
                                f"{values[i][0, 0]:.8g} to {expected[0, 0]:.8g}",
                                f"{got[0, 0]:.8g}",
                                rmsprop_hint(got, values[i], g[i], acc[i], n, settings, kwargs))


def rmsprop_hint(got, value, g, acc_new, n, s, kwargs):
    """What a step off by a known mistake most likely did."""
    lr, rho, eps = s["lr"], s["rho"], s["epsilon"]
    acc_old = (acc_new - (1 - rho) * g ** 2) / rho

    def near(x):
        return np.allclose(got, x, rtol=1e-7, atol=1e-12)
    if near(value - lr * g / (np.sqrt(acc_new) + eps)):
        return "epsilon's place: the slide adds it inside the square root"
    if near(value + lr * g / np.sqrt(acc_new + eps)):
        return "that step goes uphill: move against the gradient"
    if near(value - lr * g / np.sqrt(acc_old + eps)):
        return "scale by the new running average, the one that includes this step's gradient"
    if n > 1 and near(value - lr * g / np.sqrt((1 - rho) * g ** 2 + eps)):
        return "the running average starts again from 0 each step: it needs an update of its own"
    if near(value - lr * g / np.sqrt((1 - rho) * acc_old + rho * g ** 2 + eps)):
        return "rho weighs the old average, 1 - rho the new squared gradient"
    if near(value - lr * g / (acc_new + eps)):
        return "divide by the square root of the average (the gradient's typical size)"
    if kwargs:
        return "use the lr, rho and epsilon given: these are not the slide's defaults"
    return "the step is lr * g / sqrt(average + epsilon), the average kept from step to step"


def check_dropout(learner, rng):
    import warnings

    from pytensor import tensor as T
    from pytensor.tensor.random.utils import RandomStream
    with warnings.catch_warnings(action="ignore", category=FutureWarning):
        srng = RandomStream(seed=int(rng.integers(2 ** 31)))
    X = T.matrix("X", dtype="float64")
    x = rng.uniform(0.5, 2, size=(200, 500))  # no zeros: a 0 in the output was dropped
    for p in (0.0, 0.2, 0.7):
        tried = f"dropout(X, {p}, srng) on a (200, 500) float64 matrix"
        with learner.running(tried):
            out = symbolic(learner.dropout(X, p, srng), tried, "the output")
            f = function([X], out)
            got, again = f(x), f(x)
        if got.shape != x.shape:
            raise Wrong(tried, f"shape {x.shape}", f"shape {got.shape}", "one output per unit")
        dropped = got == 0
        if p == 0:
            if not np.array_equal(got, x):
                raise Wrong(tried, "X unchanged",
                            f"{dropped.mean():.1%} dropped, or values changed",
                            "with p = 0 nothing is dropped and nothing rescaled")
            continue
        if dropped.all(axis=1).any() or dropped.all(axis=0).any() or (
                dropped[0] == dropped[1:]).all(axis=1).any():
            raise Wrong(tried, "each unit dropped on its own",
                        "rows or columns dropped alike",
                        "draw the mask with X's shape")
        rate = dropped.mean()  # 100,000 units: within +-0.01 of p, at more than 6 sigma
        if abs(rate - p) > 0.01:
            raise Wrong(tried, f"about {p:.0%} of the units 0", f"{rate:.1%}",
                        "p is the probability to drop a unit, 1 - p to keep it"
                        if abs(rate - (1 - p)) < 0.01 else
                        "each unit dropped on its own, with probability p")
        kept = ~dropped
        scale = got[kept] / x[kept]
        if not np.allclose(scale, 1 / (1 - p)):
            hint = ("the kept units must grow, so that the expected value stays X"
                    if np.allclose(scale, 1) else
                    "p is the probability to drop: the kept units are a fraction 1 - p"
                    if np.allclose(scale, 1 / p) else
                    "expected value = probability kept * the kept value: it must be X")
            raise Wrong(tried, f"kept units X / (1 - p) = X * {1 / (1 - p):.4g}",
                        f"X * {np.median(scale):.4g}", hint)
        if np.array_equal(dropped, again == 0):
            raise Wrong(tried, "new units dropped at each call", "the same mask twice",
                        "draw the mask from srng inside the graph, so that each call draws again")
    tried = "dropout(X, 0.5, srng) with X a float32 matrix, as in the scripts"
    X32 = T.matrix("X", dtype="float32")
    with learner.running(tried):
        out = symbolic(learner.dropout(X32, 0.5, srng), tried, "the output")
    if out.dtype != "float32":
        raise Wrong(tried, "a float32 output", f"{out.dtype}",
                    "a float64 mask or scale turns the whole net float64: cast the mask to X.dtype")
