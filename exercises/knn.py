# %% [markdown]
# # Exercise: distances, the slide's loop as one matrix product
# Slide "An idea": for each test image, find the most similar training image and
# guess its label. The slide's `similarity` loops over the 60,000 training images
# one at a time, for each of the 10,000 test images: far too slow in Python.
# Write `distances` without a Python loop over images, so that numpy does the work.
# Check it with the last cell, or from a terminal at the repository's root:
# `python -m exercises check knn`. Stuck? See exercises/solutions/knn.py.

# %%
import numpy as np


def distances(test, train):
    """The Euclidean distance of every test image to every training image.

    test: (n_test, pixels) and train: (n_train, pixels), one image a row, of any
    numeric dtype (MNIST's files store uint8 pixels, load.py gives float32).
    Returns an array of shape (n_test, n_train) whose [i, j] is the slide's
    `sqrt(sum(square(test[i] - train[j])))`.

    No Python loop over images (`for`, a comprehension, map): a hint, the square
    of a difference opens up as ||a - b||^2 = ||a||^2 + ||b||^2 - 2 a.b, and all
    the a.b together are one matrix product.
    """
    raise NotImplementedError("write distances(test, train)")


# %% [markdown]
# ## Check it

# %%
if __name__ == "__main__":  # here and in a notebook; not when the checker reads this file
    import sys
    sys.path[:0] = [".", ".."]  # the repository's root, from it or from exercises/
    from exercises import check
    check("knn")
