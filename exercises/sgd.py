# %% [markdown]
# # Exercise: gradient descent on every parameter
# Slide "Understanding SGD" (3_net.py): scripts 1 and 2 update their one weight by
# hand, `[w, w - gradient * lr]`; a net has many weights, so the slide generalizes
# that update into a function over a list of parameters. Write it.
# Check it with the last cell, or from a terminal at the repository's root:
# `python -m exercises check sgd`. Stuck? See exercises/solutions/sgd.py.

# %%
from pytensor import tensor as T


def sgd(cost, params, lr=0.05):
    """The updates of plain gradient descent, for pytensor.function(updates=...).

    cost: a symbolic scalar; params: a list of shared variables (the weights).
    Returns a list of (param, new value) pairs, one per parameter, where the new
    value is a symbolic expression: one step of size lr against the gradient of
    the cost with respect to that parameter (T.grad may be used here).
    """
    raise NotImplementedError("write sgd(cost, params, lr)")


# %% [markdown]
# ## Check it

# %%
if __name__ == "__main__":  # here and in a notebook; not when the checker reads this file
    import sys
    sys.path[:0] = [".", ".."]  # the repository's root, from it or from exercises/
    from exercises import check
    check("sgd")
