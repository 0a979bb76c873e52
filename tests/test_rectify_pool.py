"""--mode C's fused rectifier and max pooling (ops.RectifyPool and
RectifyPoolGrad, c/rectify_pool.c, put in by c_rewrites) and the weight gradient
that takes in the pool's gradient (ops.Corr2dGradWeightsOfPool) against the numpy
reference: the unfused Ops' perform and PyTensor's own graph of the slides'
expressions; and the rewrites that put them into the CNN's training graph, only
where it is safe."""
import numpy as np
import pytensor
import pytest
from pytensor import tensor as T

from helpers import run_script
from toolkit import backends
from toolkit.c_rewrites import MaskWhereEqual, Rectify
from toolkit.ops import (Corr2d, Corr2dGradWeights, Corr2dGradWeightsOfPool, MaxPool,
                         MaxPoolGrad, RectifyPool, RectifyPoolGrad, conv2d,
                         conv_output_shape, max_pool_2d, pool_output_shape)

C_MODE = backends.compile_mode("C")
NUMPY = "FAST_COMPILE"  # PyTensor's Python linker: every Op runs its numpy perform


def op_names(f):
    return [type(node.op).__name__ for node in f.maker.fgraph.toposort()]


def unfused(x, g, ws, ignore_border):
    """The chain --mode C ran before the fusion: rectify, pool, and their gradients."""
    rectified = Rectify()(x)
    pooled = MaxPool(ws, ignore_border)(rectified)
    pool_grad = MaxPoolGrad(ws, ignore_border)(rectified, pooled, g)
    return pooled, MaskWhereEqual()(rectified, x, pool_grad)


def fused(x, g, ws, ignore_border):
    pooled = RectifyPool(ws, ignore_border)(x)
    return pooled, RectifyPoolGrad(ws, ignore_border)(x, pooled, g)


def c_and_reference(x, g, ws, ignore_border):
    """(pooled, gradient) by the fused C kernels, by the unfused Ops' numpy perform,
    and by the fused Ops' own perform."""
    X = T.tensor(dtype=x.dtype, shape=(None,) * x.ndim)
    G = T.tensor(dtype=g.dtype, shape=(None,) * g.ndim)
    c = pytensor.function([X, G], fused(X, G, ws, ignore_border), mode=C_MODE)
    assert {"RectifyPool", "RectifyPoolGrad"} <= set(op_names(c))
    reference = pytensor.function([X, G], unfused(X, G, ws, ignore_border), mode=NUMPY)
    own_perform = pytensor.function([X, G], fused(X, G, ws, ignore_border), mode=NUMPY)
    return c(x, g), reference(x, g), own_perform(x, g)


def tied_values(shape, dtype, seed=0):
    """Small integers from -3 to 3: many ties in a window, zeros, negative windows."""
    return np.random.default_rng(seed).integers(-3, 4, shape).astype(dtype)


def pooled_gradient(x, ws, ignore_border, seed=1):
    shape = pool_output_shape(x.shape, ws, ignore_border)
    return np.random.default_rng(seed).standard_normal(shape).astype(x.dtype)


def assert_all_equal(got, *expected):
    for e in expected:
        for g, v in zip(got, e):
            assert g.dtype == v.dtype and g.shape == v.shape
            np.testing.assert_array_equal(g, v)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("ws", [(2, 2), (3, 2)])
@pytest.mark.parametrize("ignore_border", [False, True])
@pytest.mark.parametrize("shape", [(1, 1, 13, 13), (1, 1, 1, 1), (2, 3, 7, 8),
                                   (130, 2, 13, 13), (4, 6, 6), (2, 5, 3)])
def test_fused_kernels_compute_what_the_unfused_ops_compute(dtype, ws, ignore_border, shape):
    x = tied_values(shape, dtype)
    g = pooled_gradient(x, ws, ignore_border)
    got, reference, own_perform = c_and_reference(x, g, ws, ignore_border)
    assert_all_equal(got, reference, own_perform)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_gradient_is_the_unfused_chains_for_any_pooled_maps(dtype):
    """gx = (x >= 0 and x == out) * g holds whatever `out` is, negative included: the
    rewrite hands RectifyPoolGrad the pooled maps that MaxPoolGrad was given."""
    X, P, G = (T.tensor4(dtype=dtype) for _ in range(3))
    rectified = Rectify()(X)
    chain = MaskWhereEqual()(rectified, X, MaxPoolGrad((2, 2), False)(rectified, P, G))
    x = tied_values((3, 2, 7, 7), dtype, seed=11)
    out = tied_values((3, 2, 4, 4), dtype, seed=12)
    g = pooled_gradient(x, (2, 2), False)
    c = pytensor.function([X, P, G], RectifyPoolGrad((2, 2), False)(X, P, G), mode=C_MODE)
    reference = pytensor.function([X, P, G], chain, mode=NUMPY)
    assert (out < 0).any() and (c(x, out, g) != 0).any()
    np.testing.assert_array_equal(c(x, out, g), reference(x, out, g))


def test_13_by_13_pools_to_7_by_7_with_its_partial_windows():
    x = tied_values((2, 3, 13, 13), "float32")
    (pooled, _), *_ = c_and_reference(x, pooled_gradient(x, (2, 2), False), (2, 2), False)
    assert pooled.shape == (2, 3, 7, 7)
    np.testing.assert_array_equal(pooled[..., 6, 6], np.maximum(x[..., 12, 12], 0))
    np.testing.assert_array_equal(pooled[..., 6, 0], np.maximum(x[..., 12, :2].max(-1), 0))


def test_ties_zeros_and_negative_windows_by_hand():
    x = np.array([[[[1, 1, -1, -2, 0, -1],
                    [0, -1, -3, -4, 0, -2]]]], "float32")
    g = np.array([[[[10, 20, 30]]]], "float32")
    (pooled, grad), reference, _ = c_and_reference(x, g, (2, 2), False)
    np.testing.assert_array_equal(pooled, [[[[1, 0, 0]]]])
    # both 1s tie and get the window's gradient; a window of negatives gives none;
    # in a window whose maximum is 0, every 0 gets it (rectify's gradient at 0 passes)
    np.testing.assert_array_equal(grad, [[[[10, 10, 0, 0, 30, 0],
                                           [0, 0, 0, 0, 30, 0]]]])
    assert_all_equal((pooled, grad), reference)


def test_elements_in_no_window_get_no_gradient():
    x = np.ones((1, 1, 5, 5), "float64")
    g = np.ones((1, 1, 2, 2), "float64")
    (pooled, grad), reference, _ = c_and_reference(x, g, (2, 2), True)
    assert pooled.shape == (1, 1, 2, 2)
    assert grad[..., 4, :].sum() == 0 and grad[..., :, 4].sum() == 0
    assert grad[..., :4, :4].min() == 1
    assert_all_equal((pooled, grad), reference)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_nan_spreads_as_numpys_maximum(dtype):
    x = tied_values((1, 2, 6, 6), dtype, seed=3)
    x[0, 0, 0, 0] = np.nan  # first in its window
    x[0, 0, 3, 5] = np.nan  # last in its window
    x[0, 1, 2, 3] = np.nan
    x[0, 1, 1, 1] = -np.inf
    g = pooled_gradient(x, (2, 2), False)
    (pooled, grad), reference, own_perform = c_and_reference(x, g, (2, 2), False)
    nan_windows = [(0, 0, 0), (0, 1, 2), (1, 1, 1)]  # (channel, window row, window col)
    assert sorted(zip(*np.nonzero(np.isnan(pooled[0])))) == nan_windows
    np.testing.assert_array_equal(pooled, np.maximum(unfused_numpy_pool(x), 0))
    # a window that is NaN equals none of its elements: no gradient in it
    assert not np.isnan(grad).any()
    for channel, i, j in nan_windows:
        assert (grad[0, channel, 2 * i:2 * i + 2, 2 * j:2 * j + 2] == 0).all()
    for expected in (reference, own_perform):
        for got, e in zip((pooled, grad), expected):
            np.testing.assert_array_equal(got, e)  # NaN where NaN


@pytest.mark.parametrize("ignore_border", [False, True])
def test_nan_at_the_edges(ignore_border):
    """A NaN in a partial window (kept) or in the rows and columns ignore_border
    leaves out (nowhere)."""
    x = tied_values((2, 1, 7, 7), "float32", seed=13)
    x[0, 0, 6, 3] = x[1, 0, 2, 6] = np.nan
    g = pooled_gradient(x, (2, 2), ignore_border)
    (pooled, grad), reference, own_perform = c_and_reference(x, g, (2, 2), ignore_border)
    assert np.isnan(pooled).sum() == (0 if ignore_border else 2)
    assert_all_equal((pooled, grad), reference, own_perform)


def unfused_numpy_pool(x):
    """2x2 max pooling of an even-sized x in numpy, NaN spreading."""
    *planes, rows, cols = x.shape
    return np.max(x.reshape(*planes, rows // 2, 2, cols // 2, 2), axis=(-3, -1))


@pytest.mark.filterwarnings("ignore:invalid value encountered in multiply")  # 0 * inf
def test_a_nan_or_infinite_gradient_spreads_as_in_the_unfused_chain():
    x = tied_values((2, 2, 6, 6), "float32", seed=4)
    g = pooled_gradient(x, (2, 2), False)
    g[0, 0, 0, 0], g[1, 1, 2, 1], g[0, 1, 1, 2] = np.nan, np.inf, -np.inf
    got, reference, own_perform = c_and_reference(x, g, (2, 2), False)
    assert_all_equal(got, reference, own_perform)


def test_non_contiguous_inputs():
    rng = np.random.default_rng(5)
    x = tied_values((4, 6, 14, 12), "float32")[:, ::2, 1:, ::-1]
    g = rng.standard_normal((3, 5, 6, 7)).astype("float32").transpose(1, 0, 3, 2)[:4]
    assert not x.flags.c_contiguous and not g.flags.c_contiguous
    assert g.shape == pool_output_shape(x.shape, (2, 2), False)
    got, reference, own_perform = c_and_reference(x, g, (2, 2), False)
    assert_all_equal(got, reference, own_perform)


def test_rectify_pools_own_gradient_is_the_fused_gradient():
    X = T.dtensor4()
    pooled = RectifyPool((3, 2), False)(X)
    outputs = [pooled, T.grad(T.sum(pooled * 1.5), X)]
    x = tied_values((2, 3, 7, 5), "float64")
    c = pytensor.function([X], outputs, mode=C_MODE)
    reference = pytensor.function([X], unfused(X, T.fill(pooled, 1.5), (3, 2), False),
                                  mode=NUMPY)
    assert_all_equal(c(x), reference(x))


@pytest.mark.parametrize("op", [RectifyPoolGrad, MaxPoolGrad])
def test_pooled_maps_of_the_wrong_shape_are_refused(op):
    # a gradient of another shape than the pool's would be read past its end
    X, P, G = T.ftensor4(), T.ftensor4(), T.ftensor4()
    f = pytensor.function([X, P, G], op((2, 2), False)(X, P, G), mode=C_MODE)
    x = np.zeros((1, 1, 6, 6), "float32")
    with pytest.raises(ValueError, match=f"{op.__name__}: the pooled maps"):
        f(x, np.zeros((1, 1, 3, 3), "float32"), np.zeros((1, 1, 2, 3), "float32"))


# --- the rewrite --------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("ws", [(2, 2), (3, 2)])
def test_the_slides_expressions_are_fused_and_compute_what_pytensor_computes(dtype, ws):
    """rectify then max_pool_2d as the slides write them (T.maximum(X, 0.)), and the
    gradient PyTensor derives for them, against PyTensor's own numpy graph."""
    X = T.tensor4(dtype=dtype)
    pooled = max_pool_2d(T.maximum(X, 0.), ws)
    x = tied_values((3, 4, 13, 13), dtype, seed=6)
    weights = T.constant(pooled_gradient(x, ws, False, seed=7))
    outputs = [pooled, T.grad(T.sum(pooled * weights), X)]
    c = pytensor.function([X], outputs, mode=C_MODE)
    names = op_names(c)
    assert {"RectifyPool", "RectifyPoolGrad"} <= set(names)
    assert not {"Rectify", "MaxPool", "MaxPoolGrad", "MaskWhereEqual"} & set(names)
    reference = pytensor.function([X], outputs, mode=NUMPY)
    assert_all_equal(c(x), reference(x))


def test_pytensors_later_gradient_form_is_fused_too():
    """Later PyTensor releases write the rectifier's gradient as ge(x, 0) * g."""
    X, G = T.ftensor4(), T.ftensor4()
    rectified = T.maximum(X, 0.)
    pool_grad = MaxPoolGrad((2, 2), False)(rectified, MaxPool((2, 2), False)(rectified), G)
    outputs = [T.ge(X, 0) * pool_grad]
    c = pytensor.function([X, G], outputs, mode=C_MODE)
    assert op_names(c).count("RectifyPoolGrad") == 1 and "MaxPoolGrad" not in op_names(c)
    x = tied_values((2, 3, 8, 8), "float32", seed=8)
    g = pooled_gradient(x, (2, 2), False)
    reference = pytensor.function([X, G], outputs, mode=NUMPY)
    assert_all_equal(c(x, g), reference(x, g))


def test_a_rectified_map_read_elsewhere_stays_and_stays_right():
    """The rectified map is an output and feeds a second cost: the pool is still fused,
    the rectifier stays for its other readers, and the gradient, the sum of two paths,
    is not the pool's alone, so it stays unfused."""
    X = T.ftensor4()
    rectified = T.maximum(X, 0.)
    pooled = max_pool_2d(rectified, (2, 2))
    cost = T.sum(pooled * 2.5) + T.sum(rectified * 0.5)
    outputs = [rectified, pooled, T.grad(cost, X)]
    c = pytensor.function([X], outputs, mode=C_MODE)
    names = op_names(c)
    assert "Rectify" in names and "RectifyPool" in names and "RectifyPoolGrad" not in names
    x = tied_values((2, 3, 9, 9), "float32", seed=9)
    reference = pytensor.function([X], outputs, mode=NUMPY)
    assert_all_equal(c(x), reference(x))


def test_a_pool_of_another_maps_gradient_is_not_fused():
    """MaskWhereEqual at x of a MaxPoolGrad at rectify(y): not the gradient of one
    pool of rectify(x), so nothing to fuse."""
    X, Y, G = T.ftensor4(), T.ftensor4(), T.ftensor4()
    rectified_y = Rectify()(Y)
    pool_grad = MaxPoolGrad((2, 2), False)(rectified_y, MaxPool((2, 2), False)(rectified_y), G)
    outputs = [MaskWhereEqual()(Rectify()(X), X, pool_grad)]
    c = pytensor.function([X, Y, G], outputs, mode=C_MODE)
    assert "RectifyPoolGrad" not in op_names(c) and "MaxPoolGrad" in op_names(c)
    x, y = tied_values((2, 2, 6, 6), "float32", seed=10), tied_values((2, 2, 6, 6), "float32")
    g = pooled_gradient(x, (2, 2), False)
    reference = pytensor.function([X, Y, G], outputs, mode=NUMPY)
    assert_all_equal(c(x, y, g), reference(x, y, g))


def cnn():
    return run_script("5_convolutional_net.py", "--epochs", 1, "--ntrain", 64, "--ntest", 50,
                      "--batch-size", 32, "--mode", "C")


def test_the_cnns_training_step_runs_the_fused_kernels():
    """The first layer's pool gradient goes into its weight gradient; the other two
    layers' also feed their input gradients, and stay."""
    names = op_names(cnn()["train"])
    assert names.count("RectifyPool") == 3 and names.count("RectifyPoolGrad") == 2
    assert names.count("Corr2dGradWeightsOfPool") == 1
    assert names.count("Corr2dGradWeights") == 2
    assert not {"Rectify", "MaxPool", "MaxPoolGrad", "MaskWhereEqual"} & set(names)


# --- the weight gradient through the pool ---------------------------------------------

def weight_gradient_graphs(dtype, border_mode, ws, ignore_border):
    """The weight gradient of Corr2d(X, W) rectified and pooled, given the pool's
    gradient G: by the fused Op, and by the two Ops it replaces."""
    X, W, G = (T.tensor4(dtype=dtype) for _ in range(3))
    conv_map = Corr2d(border_mode)(X, W)
    pooled = RectifyPool(ws, ignore_border)(conv_map)
    fused = Corr2dGradWeightsOfPool(border_mode, ws, ignore_border)(X, conv_map, pooled, G,
                                                                    W.shape)
    gradient = RectifyPoolGrad(ws, ignore_border)(conv_map, pooled, G)
    unfused = Corr2dGradWeights(border_mode)(X, gradient, W.shape)
    return [X, W, G], fused, unfused


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("image_shape, kernel, border_mode, ws, ignore_border", [
    ((5, 1, 28, 28), (4, 3, 3), "full", (2, 2), False),    # the first layer: an image a gemm
    ((7, 3, 13, 13), (5, 3, 3), "valid", (2, 2), False),   # chunks of images, 11 pools to 6
    ((130, 2, 6, 6), (3, 3, 3), "full", (2, 2), False),    # many chunks, on every core
    ((6, 2, 9, 8), (3, 2, 2), "valid", (3, 2), True),      # another window, ignore_border
    ((3, 8, 13, 13), (8, 3, 3), "valid", (2, 2), False),   # Winograd's: the map made whole
])
def test_the_weight_gradient_through_the_pool_is_the_two_ops(dtype, image_shape, kernel,
                                                             border_mode, ws, ignore_border):
    """Small integers: the sums are exact in any order, and the maps have ties and
    zeros, so every path must give the very same numbers."""
    inputs, fused, unfused = weight_gradient_graphs(dtype, border_mode, ws, ignore_border)
    images = tied_values(image_shape, dtype, seed=14)
    kernels = tied_values((kernel[0], image_shape[1], *kernel[1:]), dtype, seed=15)
    conv_shape = conv_output_shape(images.shape, kernels.shape, border_mode)
    grad = tied_values(pool_output_shape(conv_shape, ws, ignore_border), dtype, seed=16)
    c = pytensor.function(inputs, fused, mode=C_MODE)
    unfused_c = pytensor.function(inputs, unfused,
                                  mode=C_MODE.excluding("c_rectify_pool_grad_weights"))
    assert "Corr2dGradWeightsOfPool" in op_names(c)
    assert "Corr2dGradWeightsOfPool" not in op_names(unfused_c)
    own_perform, reference = pytensor.function(inputs, [fused, unfused], mode=NUMPY)(
        images, kernels, grad)
    got, unfused_c = c(images, kernels, grad), unfused_c(images, kernels, grad)
    assert (got != 0).sum() > got.size // 2
    assert_all_equal([got], [unfused_c], [reference], [own_perform])


def test_the_weight_gradient_through_the_pool_refuses_maps_that_do_not_fit():
    inputs, fused, _ = weight_gradient_graphs("float32", "valid", (2, 2), False)
    X, W, G = inputs
    P = T.ftensor4()
    f = pytensor.function([X, W, G, P], fused.owner.op(X, Corr2d("valid")(X, W), P, G, W.shape),
                          mode=C_MODE)
    x, w = np.zeros((2, 1, 6, 6), "float32"), np.zeros((3, 1, 3, 3), "float32")
    right = np.zeros((2, 3, 2, 2), "float32")
    f(x, w, right, right)
    with pytest.raises(ValueError, match="Corr2dGradWeightsOfPool"):
        f(x, w, right, np.zeros((2, 3, 2, 3), "float32"))


@pytest.mark.parametrize("wrt_images", [False, True])
def test_the_rewrite_takes_the_pool_gradient_only_where_nothing_else_reads_it(wrt_images):
    """conv2d, rectify, max_pool_2d as the slides write them: the weight gradient
    takes in the pool's gradient, unless the images' gradient reads it too."""
    X, W = T.ftensor4(), T.ftensor4()
    pooled = max_pool_2d(T.maximum(conv2d(X, W, border_mode="full"), 0.), (2, 2))
    weights = T.constant(np.random.default_rng(17).standard_normal((2, 4, 8, 8)).astype("float32"))
    outputs = T.grad(T.sum(pooled * weights), [W, X] if wrt_images else [W])
    c = pytensor.function([X, W], outputs, mode=C_MODE)
    names = op_names(c)
    assert ("Corr2dGradWeightsOfPool" in names) == (not wrt_images)
    assert ("RectifyPoolGrad" in names) == wrt_images
    x = tied_values((2, 3, 14, 14), "float32", seed=18)
    w = tied_values((4, 3, 3, 3), "float32", seed=19)
    reference = pytensor.function([X, W], outputs, mode=NUMPY)
    for got, expected in zip(c(x, w), reference(x, w)):
        np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_the_draw_pages_layers_are_the_fused_pools_values():
    """The draw page's function outputs l1 and l2, the pooled maps themselves."""
    ns = cnn()
    outputs = [ns["l1"], ns["l2"], ns["py_x"]]
    c = pytensor.function([ns["X"]], outputs, mode=C_MODE)
    assert op_names(c).count("RectifyPool") == 3
    x = ns["teX"][:4]
    reference = pytensor.function([ns["X"]], outputs, mode=NUMPY)
    for got, expected in zip(c(x), reference(x)):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
