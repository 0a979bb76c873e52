# %% [markdown]
# # Exercise: a softmax that does not overflow
# Slide "A 'modern' net" (4_modern_net.py), "numerically stable softmax": the net's
# last layer turns each row of scores (logits) into probabilities that sum to 1.
# Written straight from its definition, exp(x) / sum(exp(x)), it breaks on large
# logits: exp(1000) is infinite in floating point, and inf / inf is NaN.
# Write a softmax that is right for logits as large as +1000 and as small as -1000.
# Check it with the last cell, or from a terminal at the repository's root:
# `python -m exercises check softmax`. Stuck? See exercises/solutions/softmax.py.

# %%
from pytensor import tensor as T


def softmax(X):
    """The softmax of each row of the symbolic matrix X, as a PyTensor expression.

    X: (examples, classes). Row i of the result is exp(X[i]) / sum(exp(X[i])):
    positive, summing to 1. Use T.exp, .max(), .sum() and friends, not PyTensor's
    own T.special.softmax (the checker compares yours with it).
    A hint: softmax(x) does not change when the same number is subtracted from
    every element of x.
    """
    raise NotImplementedError("write softmax(X)")


# %% [markdown]
# ## Check it

# %%
if __name__ == "__main__":  # here and in a notebook; not when the checker reads this file
    import sys
    sys.path[:0] = [".", ".."]  # the repository's root, from it or from exercises/
    from exercises import check
    check("softmax")
