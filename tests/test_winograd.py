"""Winograd's F(2x2, 3x3) in --mode C (toolkit/c/winograd.c: the forward correlation,
and F(3x3, 2x2) for the weight gradient) against the definition, each Op's numpy
perform: values and both gradients, on shapes that take Winograd and shapes that
stay im2col, and which the CNN's layers take (winograd.c's winograd_pays, called
from a graph)."""
import numpy as np
import pytensor
import pytest
from pytensor import tensor as T
from pytensor.graph.basic import Apply

from toolkit import backends
from toolkit.ops import DIRECTIONS, Corr2dOp, conv2d, conv_output_shape

C_MODE = backends.compile_mode("C")
NUMPY = "FAST_COMPILE"  # PyTensor's Python linker: every Op runs its numpy perform

# Winograd differs from the direct sum by rounding only: its transforms add up to
# nine terms and halve (exactly). Measured on the cases below, its float32 error is
# 1e-7 to 5e-7 of the largest value, as numpy's own float32 (im2col and sgemm) is; a
# wrong matrix entry or a wrong edge tile is off by the size of a value. Float64
# keeps its digits.
TOLERANCE = {"float32": 2e-6, "float64": 1e-12}


class WinogradPays(Corr2dOp):
    """1.0 where the C of corr2d.c runs a direction by Winograd, else 0.0: winograd.c's
    own winograd_pays, compiled with corr2d.c as the Ops compile it."""

    def make_node(self, *sizes):
        sizes = [T.as_tensor_variable(np.int64(s)) for s in sizes]
        return Apply(self, sizes, [T.dscalar()])

    def perform(self, node, inputs, outputs):
        raise NotImplementedError("winograd_pays is C: run it in --mode C")

    def c_code(self, node, name, inputs, outputs, sub):
        args = ", ".join(f"(int)*(npy_int64 *)PyArray_DATA({i})" for i in inputs)
        out = outputs[0]
        return f"""
    Py_XDECREF({out});
    {out} = (PyArrayObject *)PyArray_ZEROS(0, NULL, NPY_FLOAT64, 0);
    if ({out} == NULL) {{ {sub["fail"]} }}
    *(npy_float64 *)PyArray_DATA({out}) = winograd_pays_{name}({args});"""


def takes_winograd(direction, image_shape, filter_shape, border_mode):
    """Whether corr2d.c's C runs this direction of this correlation by Winograd."""
    channels, (n_kernels, _, kh, kw) = image_shape[1], filter_shape
    oh, ow = conv_output_shape(image_shape, filter_shape, border_mode)[2:]
    check = pytensor.function([], WinogradPays()(DIRECTIONS[direction], channels, n_kernels,
                                                  kh, kw, oh, ow), mode=C_MODE)
    return bool(check())


def test_the_cnn_layers_take_winograd_where_it_pays():
    """Layer 2's forward correlation and weight gradient only (see winograd_pays for
    the numbers)."""
    layers = [((128, 1, 28, 28), (32, 1, 3, 3), "full"),    # one channel: im2col
              ((128, 32, 15, 15), (64, 32, 3, 3), "valid"),
              ((128, 64, 7, 7), (128, 64, 3, 3), "valid")]
    paths = {(direction, layer): takes_winograd(direction, *shapes)
             for layer, shapes in enumerate(layers, 1)
             for direction in ("FORWARD", "GRAD_INPUTS", "GRAD_WEIGHTS")}
    assert paths == {  # the input gradients stay im2col: see winograd_pays
        ("FORWARD", 1): False, ("GRAD_INPUTS", 1): False, ("GRAD_WEIGHTS", 1): False,
        ("FORWARD", 2): True, ("GRAD_INPUTS", 2): False, ("GRAD_WEIGHTS", 2): True,
        # 5x5 outputs, 9 tiles an image: measured no faster in the training step
        ("FORWARD", 3): False, ("GRAD_INPUTS", 3): False, ("GRAD_WEIGHTS", 3): False,
    }


def test_only_3x3_kernels_with_enough_channels_take_winograd():
    assert takes_winograd("FORWARD", (2, 8, 13, 13), (8, 8, 3, 3), "valid")
    assert not takes_winograd("FORWARD", (2, 7, 13, 13), (8, 7, 3, 3), "valid")
    assert not takes_winograd("FORWARD", (2, 8, 13, 13), (7, 8, 3, 3), "valid")
    assert not takes_winograd("FORWARD", (2, 16, 13, 13), (16, 16, 2, 2), "valid")
    assert not takes_winograd("FORWARD", (2, 16, 13, 13), (16, 16, 3, 2), "valid")
    assert not takes_winograd("FORWARD", (2, 16, 3, 3), (16, 16, 3, 3), "valid")  # one pixel


CASES = [  # image shape, kernel shape (n_kernels, rows, cols)
    ((3, 8, 13, 13), (8, 3, 3)),     # the smallest channels that take Winograd, odd size
    ((2, 32, 15, 15), (64, 3, 3)),   # the CNN's second layer, batch 2
    ((129, 8, 7, 7), (16, 3, 3)),    # many images: several chunks, every core ('full')
    ((3, 33, 13, 13), (12, 3, 3)),   # odd channels
    ((1, 9, 5, 5), (8, 3, 3)),       # batch 1, 5x5: 'valid' 3x3 outputs stay im2col
    ((2, 8, 4, 4), (8, 3, 3)),       # one tile
    ((3, 8, 3, 3), (8, 3, 3)),       # the kernel as large as the image
    ((3, 8, 13, 6), (9, 3, 3)),      # rectangular
    ((1, 1, 13, 13), (32, 3, 3)),    # one channel: im2col
    ((2, 16, 9, 9), (16, 2, 2)),     # not 3x3: im2col
]


def test_the_cases_take_both_paths_in_both_modes():
    """So that the value tests below test Winograd and im2col each time, forward and
    for the weight gradient."""
    directions = ("FORWARD", "GRAD_WEIGHTS")
    paths = {(direction, border_mode,
              takes_winograd(direction, image_shape, (k, image_shape[1], *size), border_mode))
             for image_shape, (k, *size) in CASES for border_mode in ("valid", "full")
             for direction in directions}
    assert paths == {(d, m, w) for d in directions for m in ("valid", "full")
                     for w in (True, False)}


def conv_and_gradients(dtype, border_mode):
    """conv2d of images X by filters W, and the gradients of sum(out * R), R random:
    the input gradient is then Corr2dGradInputs of any gradient R."""
    X, W, R = (T.tensor4(dtype=dtype) for _ in range(3))
    out = conv2d(X, W, border_mode=border_mode)
    return [X, W, R], [out, *T.grad(T.sum(out * R), [X, W])]


def assert_as_the_definition(values, dtype, border_mode):
    """The C kernels' outputs against perform's, which computes in float64 from the
    same numbers: the exact sums, up to float64's rounding."""
    inputs, outputs = conv_and_gradients(dtype, border_mode)
    got = pytensor.function(inputs, outputs, mode=C_MODE)(*values)
    inputs, outputs = conv_and_gradients("float64", border_mode)
    exact = pytensor.function(inputs, outputs, mode=NUMPY)(*(v.astype("float64") for v in values))
    for name, g, e in zip(["conv2d", "input gradient", "filter gradient"], got, exact):
        assert g.dtype == dtype and g.shape == e.shape, name
        error = np.abs(g - e).max() / np.abs(e).max()
        assert error <= TOLERANCE[dtype], f"{name}: {error:.2g} of its largest value"


def random_values(image_shape, kernel, border_mode, dtype, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.standard_normal(image_shape).astype(dtype)
    filters = rng.standard_normal((kernel[0], image_shape[1]) + kernel[1:]).astype(dtype)
    out_shape = conv_output_shape(images.shape, filters.shape, border_mode)
    return images, filters, rng.standard_normal(out_shape).astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("border_mode", ["valid", "full"])
@pytest.mark.parametrize("image_shape, kernel", CASES)
def test_conv2d_values_and_gradients_are_the_definition(dtype, border_mode, image_shape, kernel):
    assert_as_the_definition(random_values(image_shape, kernel, border_mode, dtype), dtype,
                             border_mode)


@pytest.mark.parametrize("border_mode", ["valid", "full"])
def test_winograd_takes_non_contiguous_inputs(border_mode):
    """Transposed and sliced views: images with their rows and columns swapped and
    every other channel, flipped filters, a gradient with its rows and columns swapped."""
    rng = np.random.default_rng(1)
    images = rng.standard_normal((2, 16, 11, 13)).astype("float32").transpose(0, 1, 3, 2)[:, ::2]
    filters = rng.standard_normal((8, 8, 3, 3)).astype("float32")[:, :, ::-1, ::-1]
    batch, k, rows, cols = conv_output_shape(images.shape, filters.shape, border_mode)
    grad = rng.standard_normal((batch, k, cols, rows)).astype("float32").transpose(0, 1, 3, 2)
    assert takes_winograd("FORWARD", images.shape, filters.shape, border_mode)
    assert not any(v.flags.c_contiguous for v in (images, filters, grad))
    assert_as_the_definition((images, filters, grad), "float32", border_mode)


def test_the_tolerance_catches_a_wrong_corner_pixel():
    """The check above fails where one output pixel of 1,352 is off by 1e-5 of the
    largest value: an edge tile gone wrong cannot hide in it."""
    values = random_values((2, 8, 13, 13), (8, 3, 3), "valid", "float32")
    inputs, outputs = conv_and_gradients("float32", "valid")
    got = pytensor.function(inputs[:2], outputs[0], mode=C_MODE)(*values[:2])
    reference = pytensor.function(inputs[:2], outputs[0], mode=NUMPY)(*values[:2])
    largest = np.abs(reference).max()
    assert np.abs(got - reference).max() <= TOLERANCE["float32"] * largest
    got[-1, -1, -1, -1] += 1e-5 * largest
    assert np.abs(got - reference).max() > TOLERANCE["float32"] * largest
