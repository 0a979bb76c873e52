"""The check of exercises/knn.py: distances(test, train) against the slide's own
formula, computed here in float64 (knn_baseline.py has no function that returns
the distances: its `nearest` returns neighbours, so it checks the nearest digits)."""
import numpy as np

from exercises.checks import Wrong

LOOP = 10  # a line of theirs run this many times in one call is a loop over images


def reference(test, train):
    """The slide's sqrt(sum(square(image - img))), for every pair, in float64."""
    train = train.astype(np.float64)
    return np.array([np.sqrt(np.sum(np.square(image - train), axis=1))
                     for image in test.astype(np.float64)]).reshape(len(test), len(train))


def call(learner, test, train, tried):
    with learner.running(tried):
        got = learner.distances(test.copy(), train.copy())  # copies: theirs may write to them
    return np.asarray(got)


def compare(got, test, train, tried, hint):
    expected = reference(test, train)
    if got.shape != expected.shape:
        transposed = got.shape == expected.shape[::-1]
        raise Wrong(tried, f"shape {expected.shape}", f"shape {got.shape}",
                    "one row per test image, one column per training image" if transposed
                    else "one number for each (test image, training image) pair")
    if np.isnan(got).any():
        raise Wrong(tried, "finite distances", f"{np.isnan(got).sum()} NaN",
                    "the square root of a negative number: rounding can make a squared "
                    "distance of 0 come out slightly below 0")
    # squares compared, with room for float32 rounding of ||a||^2 + ||b||^2 - 2 a.b
    scale = np.sum(test.astype(np.float64) ** 2, 1)[:, None] + np.sum(
        train.astype(np.float64) ** 2, 1)[None, :]
    bad = np.abs(got.astype(np.float64) ** 2 - expected ** 2) > 1e-5 * scale + 1e-9
    if bad.any():
        i, j = np.argwhere(bad)[0]
        if np.allclose(got, expected ** 2, rtol=1e-4):
            hint = "these are the squared distances: the slide takes a square root"
        raise Wrong(tried, f"distance[{i}, {j}] = {expected[i, j]:.6g}",
                    f"{got[i, j]:.6g}", hint)


def no_loop(learner, rng):
    """Their lines counted while one call runs: a loop over images repeats one."""
    test, train = rng.random((40, 6)), rng.random((60, 6))
    tried = "distances(test, train) with 40 test and 60 training images"
    with learner.watching() as seen:
        call(learner, test, train, tried)
    if seen["lines"] and max(seen["lines"].values()) >= LOOP:
        (_, line), times = seen["lines"].most_common(1)[0]
        raise Wrong(tried, "no Python loop over images",
                    f"line {line} of your code ran {times} times",
                    "let numpy do the loop: broadcasting, or the a.b of all pairs as one "
                    "matrix product")


def check(learner, rng):
    general = ("check one pair by hand: np.sqrt(np.sum(np.square(test[0] - train[0]))), "
               "as on the slide, is distances(test, train)[0, 0]")
    for n_test, n_train, pixels in [(3, 5, 4), (rng.integers(6, 12), rng.integers(13, 25), 30)]:
        test, train = rng.normal(size=(n_test, pixels)), rng.normal(size=(n_train, pixels))
        tried = f"distances(test, train) with test {test.shape} and train {train.shape} float64"
        compare(call(learner, test, train, tried), test, train, tried, general)

    # MNIST digits, many of them in both sets: distances of exactly 0, which rounding
    # pushes below 0 about one time in five
    from load import mnist
    trX, teX, _, _ = mnist(ntrain=2000, ntest=500, onehot=False)
    train = trX[rng.choice(len(trX), 200, replace=False)]
    test = np.concatenate([teX[rng.choice(len(teX), 20, replace=False)],
                           train[rng.choice(len(train), 100, replace=False)]])
    tried = ("distances(test, train) with 120 MNIST digits against 200, 100 of them in both "
             "(float32)")
    got = call(learner, test, train, tried)
    compare(got, test, train, tried, general)
    from knn_baseline import nearest
    theirs, ours = np.argmin(got, axis=1), nearest(test, train, 1)[:, 0]
    expected = reference(test, train)
    rows = np.arange(len(test))
    if (expected[rows, theirs] > expected[rows, ours] + 1e-4).any():  # near-ties allowed
        i = np.argmax(expected[rows, theirs] > expected[rows, ours] + 1e-4)
        raise Wrong(tried, f"test digit {i}'s nearest training digit is {ours[i]} "
                    "(knn_baseline.nearest)", f"{theirs[i]}", general)

    # the pixels as MNIST's files store them
    test = (teX[:8] * 255).round().astype(np.uint8)
    train = (trX[:16] * 255).round().astype(np.uint8)
    tried = "distances(test, train) with 8 and 16 MNIST digits as uint8 pixels 0-255"
    compare(call(learner, test, train, tried), test, train, tried,
            "uint8 arithmetic wraps around (3 - 5 is 254): convert to floats first")

    no_loop(learner, rng)
    return ("random images of two sizes, 120 MNIST digits with repeats (the nearest "
            "as knn_baseline.py finds it), uint8 pixels, no loop over images")
