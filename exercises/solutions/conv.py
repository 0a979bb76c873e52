"""A solution to exercises/conv.py (slide "Convolutional Networks")."""
import numpy as np


def conv2d(images, kernels, border_mode="valid"):
    k, _, kh, kw = kernels.shape
    if border_mode == "full":  # zeros around the image, so partial overlaps count
        images = np.pad(images, ((0, 0), (0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1)))
    n, _, h, w = images.shape
    flipped = kernels[:, :, ::-1, ::-1]  # a convolution: the kernel turned around
    out = np.zeros((n, k, h - kh + 1, w - kw + 1))
    for r in range(h - kh + 1):
        for c in range(w - kw + 1):
            patch = images[:, :, r:r + kh, c:c + kw]  # (n, channels, kh, kw)
            # every image's patch against every kernel, summed over channels and pixels
            out[:, :, r, c] = np.einsum("nchw,kchw->nk", patch, flipped)
    return out


def max_pool_2d(x, ds=(2, 2)):
    rows, cols = x.shape[-2:]
    out_rows, out_cols = -(-rows // ds[0]), -(-cols // ds[1])  # rounded up: edges kept
    out = np.empty(x.shape[:-2] + (out_rows, out_cols), dtype=x.dtype)
    for i in range(out_rows):
        for j in range(out_cols):
            window = x[..., i * ds[0]:(i + 1) * ds[0], j * ds[1]:(j + 1) * ds[1]]
            out[..., i, j] = window.max(axis=(-2, -1))  # a partial window: what it has
    return out
