"""Both gradients of conv2d from a mostly-zero output gradient, as a max pool makes
it, and the correlation of mostly-zero images (toolkit/c/sparse_grad.c, called by
corr2d.c in --mode C): against the definition, each Op's numpy perform, on the
shapes that take it and those that don't, and where skipping the zeros would change
the sum (images or kernels that are not finite)."""
import numpy as np
import pytensor
import pytest
from pytensor import tensor as T
from pytensor.graph.basic import Apply

from toolkit import backends
from toolkit.ops import Corr2d, Corr2dGradInputs, Corr2dGradWeights, Corr2dOp, conv_output_shape

C_MODE = backends.compile_mode("C")
NUMPY = "FAST_COMPILE"  # PyTensor's Python linker: every Op runs its numpy perform


class CDecision(Corr2dOp):
    """An Op whose value is 1.0 or 0.0, what one of corr2d.c's own C decisions says
    (compiled with sparse_grad.c and corr2d.c, as the Ops compile them): `call(name,
    inputs)` is that C call."""

    def perform(self, node, inputs, outputs):
        raise NotImplementedError(f"{type(self).__name__} is C: run it in --mode C")

    def c_code(self, node, name, inputs, outputs, sub):
        out = outputs[0]
        return f"""
    Py_XDECREF({out});
    {out} = (PyArrayObject *)PyArray_ZEROS(0, NULL, NPY_FLOAT64, 0);
    if ({out} == NULL) {{ {sub["fail"]} }}
    *(npy_float64 *)PyArray_DATA({out}) = {self.call(name, inputs)};"""

    def c_dtype(self, node):
        return "float32"


class SparsePays(CDecision):
    """Whether corr2d.c's gradient takes the sparse path for this output gradient and
    these images (weight gradient) or kernels (input gradient): sparse_pays."""

    def make_node(self, other, grad_out, channels):
        inputs = [T.as_tensor_variable(other), T.as_tensor_variable(grad_out),
                  T.as_tensor_variable(np.int64(channels))]
        return Apply(self, inputs, [T.dscalar()])

    def call(self, name, inputs):
        other, grad, channels = inputs
        dims = ", ".join(f"(int)PyArray_DIMS({grad})[{d}]" for d in (1, 2, 3))
        return f"""sparse_pays_{name}(
        (npy_float32 *)PyArray_DATA({other}), PyArray_SIZE({other}),
        (npy_float32 *)PyArray_DATA({grad}), (int)PyArray_DIMS({grad})[0],
        (int)*(npy_int64 *)PyArray_DATA({channels}), {dims}, 0, SPARSE_MAX_PERCENT)"""


class SparseForwardPays(CDecision):
    """Whether corr2d.c's forward pass of these images and kernels (valid) runs as
    sparse_grad.c's sum: sparse_forward_pays."""

    def make_node(self, images, kernels):
        return Apply(self, [T.as_tensor_variable(images), T.as_tensor_variable(kernels)],
                     [T.dscalar()])

    def call(self, name, inputs):
        images, kernels = inputs
        h, w = (f"(int)PyArray_DIMS({images})[{d}]" for d in (2, 3))
        kh, kw = (f"(int)PyArray_DIMS({kernels})[{d}]" for d in (2, 3))
        return f"""sparse_forward_pays_{name}(
        (npy_float32 *)PyArray_DATA({images}), (npy_float32 *)PyArray_DATA({kernels}),
        (int)PyArray_DIMS({images})[0], (int)PyArray_DIMS({images})[1], {h}, {w},
        (int)PyArray_DIMS({kernels})[0], {kh}, {kw}, {h} - {kh} + 1, {w} - {kw} + 1)"""


def takes_sparse_path(other, grad, channels=None):
    """other: the images (their channels counted), or the kernels with `channels`."""
    O, G = T.ftensor4(), T.ftensor4()
    pays = SparsePays()(O, G, other.shape[1] if channels is None else channels)
    return bool(pytensor.function([O, G], pays, mode=C_MODE)(other, grad))


def values(image_shape, kernel_shape, border_mode, dtype, nonzero, seed=0):
    """Small integers (exact sums in any order), and an output gradient with about
    `nonzero` of its values not 0."""
    rng = np.random.default_rng(seed)
    images = rng.integers(-3, 4, image_shape).astype(dtype)
    n_kernels, kh, kw = kernel_shape
    out_shape = conv_output_shape(image_shape, (n_kernels, image_shape[1], kh, kw), border_mode)
    grad = rng.integers(-3, 4, out_shape) * (rng.random(out_shape) < nonzero)
    return images, grad.astype(dtype)


def gradients(images, grad, kernels, border_mode, mode):
    """The weight gradient (kernels' shape) and the input gradient (given the kernels)."""
    I, K, G = (T.tensor4(dtype=images.dtype) for _ in range(3))
    outputs = [Corr2dGradWeights(border_mode)(I, G, kernels.shape),
               Corr2dGradInputs(border_mode)(K, G, images.shape[2:])]
    return pytensor.function([I, K, G], outputs, mode=mode)(images, kernels, grad)


CASES = [  # image shape, kernel shape (n_kernels, rows, cols), border mode
    ((128, 32, 15, 15), (64, 3, 3), "valid"),  # the CNN's second layer
    ((128, 64, 7, 7), (128, 3, 3), "valid"),   # its third
    ((3, 8, 9, 9), (5, 3, 3), "full"),         # the fewest channels, padded
    ((5, 33, 8, 11), (7, 2, 3), "valid"),      # odd channels, rows of 99: every block size
    ((4, 40, 6, 6), (3, 1, 1), "full"),        # rows of 40: a half block and the rest
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("image_shape, kernel_shape, border_mode", CASES)
def test_a_mostly_zero_gradient_gives_the_definition(dtype, image_shape, kernel_shape,
                                                     border_mode):
    images, grad = values(image_shape, kernel_shape, border_mode, dtype, nonzero=0.25)
    kernels = np.random.default_rng(1).integers(
        -3, 4, (kernel_shape[0], image_shape[1], *kernel_shape[1:])).astype(dtype)
    if dtype == "float32":
        assert takes_sparse_path(images, grad)
        assert takes_sparse_path(kernels, grad, channels=image_shape[1])
    got = gradients(images, grad, kernels, border_mode, C_MODE)
    expected = gradients(images, grad, kernels, border_mode, NUMPY)
    for g, e in zip(got, expected):
        assert (e != 0).mean() > 0.3
        np.testing.assert_array_equal(g, e)


def test_which_gradients_take_the_sparse_path():
    images, sparse = values((4, 8, 9, 9), (5, 3, 3), "valid", "float32", nonzero=0.25)
    _, dense = values((4, 8, 9, 9), (5, 3, 3), "valid", "float32", nonzero=0.6)
    assert takes_sparse_path(images, sparse) and not takes_sparse_path(images, dense)
    few_channels, grad = values((4, 7, 9, 9), (5, 3, 3), "valid", "float32", nonzero=0.25)
    assert not takes_sparse_path(few_channels, grad)
    images[1, 2, 3, 4] = np.inf
    assert not takes_sparse_path(images, sparse)


def test_the_forward_pass_takes_denser_images_where_the_dense_pass_is_im2col():
    """Layer 3's shapes (im2col: its 5 x 5 outputs are too few tiles for Winograd) take
    the sparse sum up to SPARSE_FORWARD_MAX_PERCENT nonzero; layer 2's (Winograd) only
    up to SPARSE_MAX_PERCENT; neither past it, nor with the first layer's one channel."""
    rng = np.random.default_rng(6)

    def sparse(image_shape, n_kernels, nonzero):
        images = (rng.random(image_shape) * (rng.random(image_shape) < nonzero)
                  ).astype("float32")
        kernels = rng.standard_normal((n_kernels, image_shape[1], 3, 3)).astype("float32")
        I, K = T.ftensor4(), T.ftensor4()
        return bool(pytensor.function([I, K], SparseForwardPays()(I, K), mode=C_MODE)(
            images, kernels))

    layer2, layer3 = ((4, 32, 15, 15), 64), ((4, 64, 7, 7), 128)
    assert sparse(*layer2, 0.3) and sparse(*layer3, 0.3)
    assert sparse(*layer3, 0.5) and not sparse(*layer2, 0.5)
    assert not sparse(*layer3, 0.7)
    assert not sparse((4, 1, 28, 28), 32, 0.2)


@pytest.mark.filterwarnings("ignore:invalid value encountered")  # numpy's 0 * inf
@pytest.mark.parametrize("not_finite", ["images", "kernels"])
def test_values_that_are_not_finite_give_what_the_gemm_gives(not_finite):
    """0 * inf is NaN: a gradient skips no zero there, and every NaN the definition
    has, it has."""
    images, grad = values((4, 8, 9, 9), (5, 3, 3), "valid", "float32", nonzero=0.25)
    kernels = np.random.default_rng(2).integers(-3, 4, (5, 8, 3, 3)).astype("float32")
    spoilt = images if not_finite == "images" else kernels
    spoilt[1, 2, 1, 2], spoilt[2, 0, 0, 0] = np.inf, np.nan
    got = gradients(images, grad, kernels, "valid", C_MODE)
    expected = gradients(images, grad, kernels, "valid", NUMPY)
    assert np.isnan(expected[0 if not_finite == "images" else 1]).any()
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)


@pytest.mark.filterwarnings("ignore:invalid value encountered")  # numpy's inf - inf
def test_a_nan_or_infinity_in_the_gradient_is_one_of_its_nonzero_values():
    """The lists of nonzero values test eight at a time: NaN is not 0 there either."""
    images, grad = values((4, 8, 9, 9), (5, 3, 3), "valid", "float32", nonzero=0.25)
    kernels = np.random.default_rng(3).integers(-3, 4, (5, 8, 3, 3)).astype("float32")
    grad[1, 2, 3, 4], grad[2, 0, 5, 1], grad[3, 4, 0, 6] = np.nan, np.inf, -0.0
    assert takes_sparse_path(images, grad) and takes_sparse_path(kernels, grad, channels=8)
    got = gradients(images, grad, kernels, "valid", C_MODE)
    expected = gradients(images, grad, kernels, "valid", NUMPY)
    for g, e in zip(got, expected):
        assert np.isnan(e).any()
        np.testing.assert_array_equal(g, e)


@pytest.mark.filterwarnings("ignore:invalid value encountered")  # numpy's 0 * inf
@pytest.mark.parametrize("border_mode", ["valid", "full"])
def test_a_gradient_over_patches_of_zeros_adds_nothing_but_its_nans(border_mode):
    """Images on a black ground, as MNIST's maps are: the weight gradient leaves out
    the values whose patch is all zeros, which is the definition's sum; an infinity
    or a NaN there still makes NaN of its kernel's gradient, as 0 * inf does."""
    images, grad = values((4, 8, 12, 12), (5, 3, 3), border_mode, "float32", nonzero=0.3)
    images[:, :, :, :5] = 0  # the left of every image black, in every channel
    images[:, :, 9:, :] = 0  # and its bottom rows
    kernels = np.random.default_rng(4).integers(-3, 4, (5, 8, 3, 3)).astype("float32")
    assert takes_sparse_path(images, grad)
    got, _ = gradients(images, grad, kernels, border_mode, C_MODE)
    expected, _ = gradients(images, grad, kernels, border_mode, NUMPY)
    np.testing.assert_array_equal(got, expected)
    assert (expected != 0).mean() > 0.3 and not np.isnan(expected).any()
    grad[1, 2, 0, 0], grad[2, 4, -1, 1] = np.inf, np.nan  # over zeros, both corners
    got, _ = gradients(images, grad, kernels, border_mode, C_MODE)
    expected, _ = gradients(images, grad, kernels, border_mode, NUMPY)
    assert np.isnan(expected[2]).all() and np.isnan(expected[4]).all()
    np.testing.assert_array_equal(got, expected)


def forward(images, kernels, border_mode, mode):
    I, K = (T.tensor4(dtype=images.dtype) for _ in range(2))
    return pytensor.function([I, K], Corr2d(border_mode)(I, K), mode=mode)(images, kernels)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("image_shape, kernel_shape, border_mode", CASES)
def test_mostly_zero_images_give_the_definitions_correlation(dtype, image_shape, kernel_shape,
                                                             border_mode):
    """The forward pass turned around into the input gradient's sum: images with about
    a quarter of their values nonzero (small integers: exact sums in any order)."""
    rng = np.random.default_rng(5)
    images = (rng.integers(-3, 4, image_shape) * (rng.random(image_shape) < 0.25)).astype(dtype)
    kernels = rng.integers(-3, 4, (kernel_shape[0], image_shape[1], *kernel_shape[1:])
                           ).astype(dtype)
    if dtype == "float32" and kernel_shape[0] >= 8:  # the kernels, the vectors' channels
        assert takes_sparse_path(kernels, images, channels=kernel_shape[0])
    got = forward(images, kernels, border_mode, C_MODE)
    expected = forward(images, kernels, border_mode, NUMPY)
    assert (expected != 0).mean() > 0.3
    np.testing.assert_array_equal(got, expected)
