# %% [markdown]
# # Exercise: the gradient that T.grad computes, by hand
# Slide "Theano" (1_linear_regression.py): the cost of the model y = X * w is
# `T.mean(T.sqr(X * w - Y))`, and `T.grad(cost=cost, wrt=w)` gives its derivative with
# respect to w, which the update follows downhill. Write that derivative yourself, as
# a PyTensor expression, to see that T.grad is only the chain rule done for you.
# Check it with the last cell, or from a terminal at the repository's root:
# `python -m exercises check gradient`. Stuck? See exercises/solutions/gradient.py.

# %%
from pytensor import tensor as T


def gradient(X, Y, w):
    """d/dw of T.mean(T.sqr(X * w - Y)), as a PyTensor expression.

    X and Y are symbolic vectors (the inputs and the targets of a batch), w a
    symbolic scalar (the slope). Return one symbolic number, built from X, Y and
    w with T.mean, T.sqr, *, -, ... without calling T.grad: the checker compares it
    with T.grad and with a finite difference, for several batches.
    """
    raise NotImplementedError("write gradient(X, Y, w)")


# %% [markdown]
# ## Check it

# %%
if __name__ == "__main__":  # here and in a notebook; not when the checker reads this file
    import sys
    sys.path[:0] = [".", ".."]  # the repository's root, from it or from exercises/
    from exercises import check
    check("gradient")
