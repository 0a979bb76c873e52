# %% [markdown]
# # Exercise: RMSprop and dropout
# Slide "Understanding RMSprop" (4_modern_net.py): RMSprop keeps, for every weight,
# a running average of the square of its gradient, and divides each step by the
# square root of that average, so that every weight moves at a similar pace.
# Slide "Noise injected into model": dropout sets each unit to 0 at random during
# training, and scales the units it keeps so that their expected value does not change.
# Write both. Check them with the last cell, or from a terminal at the repository's
# root: `python -m exercises check modern`. Stuck? See exercises/solutions/modern.py.

# %%
import pytensor
from pytensor import tensor as T


def RMSprop(cost, params, lr=0.001, rho=0.9, epsilon=1e-6):
    """The updates of RMSprop, for pytensor.function(updates=...), as on the slide.

    For each parameter p (a shared variable) with gradient g: a shared running
    average acc of g^2, starting at 0, updated as rho * acc + (1 - rho) * g^2;
    then p takes a step of lr against g, divided by sqrt(that new average + epsilon).
    Returns the list of (shared variable, new value) pairs: acc's and p's.
    """
    raise NotImplementedError("write RMSprop(cost, params, lr, rho, epsilon)")


def dropout(X, p, srng):
    """X with each element set to 0 with probability p, the others rescaled so
    that the expected value of every element stays what it was.

    X: a symbolic matrix; p: a Python number, 0 <= p < 1 (p = 0 returns X);
    srng: a pytensor RandomStream, to draw the random mask from, for example
    srng.uniform(size=X.shape) or srng.binomial(1, keep, size=X.shape).
    """
    raise NotImplementedError("write dropout(X, p, srng)")


# %% [markdown]
# ## Check them

# %%
if __name__ == "__main__":  # here and in a notebook; not when the checker reads this file
    import sys
    sys.path[:0] = [".", ".."]  # the repository's root, from it or from exercises/
    from exercises import check
    check("modern")
