# %% [markdown]
# # Exercise: convolution and max pooling, in numpy
# Slide "Convolutional Networks" (5_convolutional_net.py): each block of the net is
# `conv2d`, a rectifier and `max_pool_2d`, the two functions of Theano's that PyTensor
# 3 dropped and toolkit/ops.py brings back. Write both in plain numpy, with
# Theano's meaning, to see what they compute.
# Check them with the last cell, or from a terminal at the repository's root:
# `python -m exercises check conv`. Stuck? See exercises/solutions/conv.py.

# %%
import numpy as np


def conv2d(images, kernels, border_mode="valid"):
    """Theano's conv2d: a true convolution of every image with every kernel.

    images: (n, channels, h, w); kernels: (k, channels, kh, kw). Returns
    (n, k, out_h, out_w), where out[i, j] sums over the channels the convolution
    of images[i, c] with kernels[j, c]. A true convolution flips the kernel
    (upside down and left to right) before sliding it over the image, where a
    correlation would not.
    border_mode "valid": only where the kernel fits inside the image,
    out_h = h - kh + 1; "full": wherever kernel and image overlap by at least
    one pixel, as if the image had kh - 1 rows (kw - 1 columns) of zeros added on
    each side, out_h = h + kh - 1. Loops over positions are fine here.
    """
    raise NotImplementedError("write conv2d(images, kernels, border_mode)")


def max_pool_2d(x, ds=(2, 2)):
    """The maximum of each ds[0] x ds[1] window of x's last two axes, windows side
    by side (not overlapping), as 5_convolutional_net.py pools.

    x: any number of leading axes, then rows and columns. A partial window at the
    bottom or right edge is kept, its maximum over the pixels it has: 13 rows
    pool to 7 with ds = (2, 2), as in the talk's net (7 -> 4 after its third block).
    """
    raise NotImplementedError("write max_pool_2d(x, ds)")


# %% [markdown]
# ## Check them

# %%
if __name__ == "__main__":  # here and in a notebook; not when the checker reads this file
    import sys
    sys.path[:0] = [".", ".."]  # the repository's root, from it or from exercises/
    from exercises import check
    check("conv")
