"""conv2d and max_pool_2d against the maths: references written here from the
definitions (loops over every output, no shared formula), finite differences
(verify_grad), float32 against float64, and the talk's shapes. The graphs compile
as the suite's default (conftest.py: the C backend, so through the C kernels);
tests/test_c_kernels.py compares those kernels with the numpy ones."""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
import pytensor
import pytest
from pytensor import tensor as T
from pytensor.gradient import verify_grad

from toolkit.ops import conv2d, max_pool_2d


def reference_conv2d(images, filters, border_mode):
    """Theano's conv2d by its definition: flip the kernel, and at every place where it
    fits inside the (zero-padded, for 'full') image, multiply and add."""
    kh, kw = filters.shape[2:]
    if border_mode == "full":
        images = np.pad(images, ((0, 0), (0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1)))
    places = sliding_window_view(images, (kh, kw), axis=(2, 3))  # b c i j u v
    return np.einsum("bcijuv,kcuv->bkij", places, filters[:, :, ::-1, ::-1])


def reference_pool(x, ws, ignore_border):
    """The maximum of each window that starts every ws[0] rows and ws[1] columns;
    a window cut by the edge counts unless ignore_border."""
    rows, cols = x.shape[-2:]
    starts = [[s for s in range(0, size, w) if not (ignore_border and s + w > size)]
              for size, w in ((rows, ws[0]), (cols, ws[1]))]
    out = np.empty(x.shape[:-2] + (len(starts[0]), len(starts[1])), dtype=x.dtype)
    for i, r in enumerate(starts[0]):
        for j, c in enumerate(starts[1]):
            out[..., i, j] = x[..., r:r + ws[0], c:c + ws[1]].max(axis=(-1, -2))
    return out


CONV_CASES = [  # (batch, channels, rows, cols), (n_kernels, k_rows, k_cols)
    ((2, 1, 6, 6), (3, 3, 3)),
    ((3, 2, 7, 5), (4, 3, 2)),
    ((1, 3, 5, 8), (2, 2, 2)),
    ((2, 4, 4, 4), (5, 1, 1)),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("border_mode", ["valid", "full"])
@pytest.mark.parametrize("image_shape, kernel", CONV_CASES)
def test_conv2d_matches_reference(dtype, border_mode, image_shape, kernel):
    rng = np.random.default_rng(0)
    images = rng.standard_normal(image_shape).astype(dtype)
    filters = rng.standard_normal((kernel[0], image_shape[1], kernel[1], kernel[2])).astype(dtype)
    X, W = T.tensor4(dtype=dtype), T.tensor4(dtype=dtype)
    out = pytensor.function([X, W], conv2d(X, W, border_mode=border_mode))(images, filters)
    assert out.dtype == dtype
    expected = reference_conv2d(images.astype(np.float64), filters.astype(np.float64), border_mode)
    np.testing.assert_allclose(out, expected, rtol=1e-4 if dtype == "float32" else 1e-10,
                               atol=1e-4 if dtype == "float32" else 1e-10)


def test_conv2d_flips_the_kernel():
    """A true convolution: an impulse reproduces the kernel, not its mirror image."""
    images = np.zeros((1, 1, 5, 5)); images[0, 0, 2, 2] = 1
    filters = np.arange(9.).reshape(1, 1, 3, 3)
    X, W = T.tensor4(), T.tensor4()
    out = pytensor.function([X, W], conv2d(X, W))(images, filters)
    np.testing.assert_array_equal(out[0, 0], filters[0, 0])


@pytest.mark.parametrize("border_mode", ["valid", "full"])
@pytest.mark.parametrize("image_shape, kernel", CONV_CASES[:3])
def test_conv2d_gradients_float64(border_mode, image_shape, kernel):
    rng = np.random.default_rng(1)
    images = rng.standard_normal(image_shape)
    filters = rng.standard_normal((kernel[0], image_shape[1], kernel[1], kernel[2]))
    verify_grad(lambda x, w: conv2d(x, w, border_mode=border_mode), [images, filters], rng=rng)


@pytest.mark.parametrize("border_mode", ["valid", "full"])
def test_conv2d_gradients_float32_against_float64(border_mode):
    """Symbolic gradients in float32 agree with the float64 ones (checked above)."""
    rng = np.random.default_rng(2)
    images = rng.standard_normal((3, 2, 7, 6))
    filters = rng.standard_normal((4, 2, 3, 3))
    weights = rng.standard_normal((3, 4, 9, 8) if border_mode == "full" else (3, 4, 5, 4))
    grads = {}
    for dtype in ("float32", "float64"):
        X, W = T.tensor4(dtype=dtype), T.tensor4(dtype=dtype)
        cost = T.sum(conv2d(X, W, border_mode=border_mode) * weights.astype(dtype))
        f = pytensor.function([X, W], T.grad(cost, [X, W]))
        grads[dtype] = f(images.astype(dtype), filters.astype(dtype))
        assert all(g.dtype == dtype for g in grads[dtype])
    for g32, g64 in zip(grads["float32"], grads["float64"]):
        np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-4)


def test_conv2d_knows_only_valid_and_full():
    with pytest.raises(ValueError, match="border_mode must be 'valid' or 'full', got 'same'"):
        conv2d(T.tensor4(), T.tensor4(), border_mode="same")


POOL_CASES = [(1, 2, 6, 6), (2, 3, 7, 7), (2, 1, 13, 13), (1, 1, 5, 8), (3, 2, 4, 5)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("ignore_border", [False, True])
@pytest.mark.parametrize("ws", [(2, 2), (3, 2)])
@pytest.mark.parametrize("shape", POOL_CASES)
def test_max_pool_matches_reference(dtype, ignore_border, ws, shape):
    x = np.random.default_rng(3).standard_normal(shape).astype(dtype)
    X = T.tensor4(dtype=dtype)
    out = pytensor.function([X], max_pool_2d(X, ws, ignore_border=ignore_border))(x)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, reference_pool(x, ws, ignore_border))


@pytest.mark.parametrize("ignore_border", [False, True])
@pytest.mark.parametrize("shape", POOL_CASES)
def test_max_pool_gradient(ignore_border, shape):
    x = np.random.default_rng(4).permutation(np.prod(shape)).reshape(shape) / 7.0  # no ties
    verify_grad(lambda v: max_pool_2d(v, (2, 2), ignore_border=ignore_border), [x],
                rng=np.random.default_rng(5))


def test_max_pool_gradient_goes_to_the_maximum_float32():
    x = np.array([[[[1, 5, 2], [3, 4, 9], [7, 0, 8]]]], dtype="float32")
    X = T.tensor4(dtype="float32")
    grad = pytensor.function([X], T.grad(T.sum(max_pool_2d(X, (2, 2))), X))(x)
    np.testing.assert_array_equal(grad[0, 0], [[0, 1, 0], [0, 0, 1], [1, 0, 1]])


def test_the_talks_shapes():
    """28 -full 3x3-> 30 -> 15 -valid-> 13 -> 7 -> 5 -> 3: 128 * 3 * 3 features."""
    X = T.tensor4(dtype="float32")
    w1, w2, w3 = (np.zeros(s, "float32") for s in [(32, 1, 3, 3), (64, 32, 3, 3), (128, 64, 3, 3)])
    l1 = max_pool_2d(conv2d(X, w1, border_mode="full"), (2, 2))
    l2 = max_pool_2d(conv2d(l1, w2), (2, 2))
    l3 = max_pool_2d(conv2d(l2, w3), (2, 2))
    shapes = pytensor.function([X], [l1.shape, l2.shape, l3.shape])(np.zeros((2, 1, 28, 28), "float32"))
    assert [tuple(s) for s in shapes] == [(2, 32, 15, 15), (2, 64, 7, 7), (2, 128, 3, 3)]
