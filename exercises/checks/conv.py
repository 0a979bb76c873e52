"""The check of exercises/conv.py: the learner's numpy conv2d and max_pool_2d against
the Ops in toolkit/ops.py (their numpy perform), on shapes that are never square."""
import numpy as np

from exercises.checks import Wrong, function


def check(learner, rng):
    check_conv(learner, rng)
    check_pool(learner, rng)
    return ("conv2d: valid and full, several channels and kernels, kernels of 1 x 1 to "
            "4 x 3; max_pool_2d: 2-d to 4-d, odd sizes, windows (2, 2), (3, 2), (1, 3)")


def references():
    from pytensor import tensor as T

    from toolkit import ops
    images, kernels = T.tensor4("images"), T.tensor4("kernels")
    return {mode: function([images, kernels], ops.conv2d(images, kernels, border_mode=mode))
            for mode in ("valid", "full")}


def check_conv(learner, rng):
    conv = references()
    cases = [("valid", (1, 1, 5, 4), (1, 1, 2, 3)), ("valid", (2, 3, 7, 6), (4, 3, 3, 2)),
             ("full", (1, 1, 4, 5), (1, 1, 3, 2)), ("full", (2, 2, 6, 5), (3, 2, 4, 3)),
             ("valid", (3, 2, 5, 5), (2, 2, 1, 1))]
    for mode, image_shape, kernel_shape in cases:
        images, kernels = rng.normal(size=image_shape), rng.normal(size=kernel_shape)
        tried = f'conv2d(images {image_shape}, kernels {kernel_shape}, border_mode="{mode}")'
        with learner.running(tried):
            got = np.asarray(learner.conv2d(images.copy(), kernels.copy(), border_mode=mode))
        expected = conv[mode](images, kernels)
        if got.shape != expected.shape:
            raise Wrong(tried, f"shape {expected.shape}", f"shape {got.shape}", shape_hint(mode))
        off = ~np.isclose(got, expected, rtol=1e-7, atol=1e-9)
        if off.any():
            i = tuple(int(j) for j in np.argwhere(off)[0])
            raise Wrong(tried, f"out{list(i)} = {expected[i]:.6g} (toolkit.ops.conv2d)",
                        f"{got[i]:.6g}", conv_hint(got, images, kernels, mode, conv))


def shape_hint(mode):
    if mode == "valid":
        return "valid: (n, k, h - kh + 1, w - kw + 1), the channels summed away"
    return ("full: kh - 1 rows of zeros on each side, top and bottom (kw - 1 columns "
            "left and right): (n, k, h + kh - 1, w + kw - 1)")


def conv_hint(got, images, kernels, mode, conv):
    def near(flipped):
        return np.allclose(got, conv[mode](images, flipped), rtol=1e-7, atol=1e-9)
    if near(kernels[:, :, ::-1, ::-1]):
        return "that is a correlation: a convolution turns the kernel around first"
    if near(kernels[:, :, ::-1, :]) or near(kernels[:, :, :, ::-1]):
        return "turned one way only: a convolution flips the kernel upside down and left to right"
    return ("take out[0, 0, 0, 0] by hand: the kernel flipped, laid over the image's top "
            "left corner (full: mostly over the zeros around it), products summed over channels")


def check_pool(learner, rng):
    from pytensor import tensor as T

    from toolkit import ops
    cases = [((6, 4), (2, 2)), ((1, 2, 7, 5), (2, 2)), ((2, 3, 13, 13), (2, 2)),
             ((3, 8, 7), (3, 2)), ((2, 1, 5, 7), (1, 3))]
    for shape, ds in cases:
        x = rng.normal(size=shape) - 1.5  # mostly negative: zeros cannot pass for a maximum
        X = T.tensor(dtype="float64", shape=(None,) * len(shape))
        tried = f"max_pool_2d(x {shape}, ds={ds})"
        with learner.running(tried):
            got = np.asarray(learner.max_pool_2d(x.copy(), ds=ds))
        expected = function([X], ops.max_pool_2d(X, ds))(x)
        if got.shape != expected.shape:
            dropped = got.shape == shape[:-2] + tuple(s // d for s, d in zip(shape[-2:], ds))
            raise Wrong(tried, f"shape {expected.shape}", f"shape {got.shape}",
                        "the partial window at the edge is dropped: keep it, as the scripts "
                        "do (13 rows pool to 7)" if dropped else
                        "pool the last two axes only, windows side by side, the edge's partial "
                        "window kept")
        if not np.allclose(got, expected):
            i = tuple(int(j) for j in np.argwhere(~np.isclose(got, expected))[0])
            edge = i[-2] == expected.shape[-2] - 1 or i[-1] == expected.shape[-1] - 1
            raise Wrong(tried, f"out{list(i)} = {expected[i]:.6g} (toolkit.ops.max_pool_2d)",
                        f"{got[i]:.6g}",
                        "a partial window's maximum is over the pixels it has: padding with "
                        "zeros beats negative pixels" if edge and got[i] == 0 else
                        "each output is the largest pixel of its window; check rows against "
                        "ds[0] and columns against ds[1]")
