"""The C kernels of --mode C against the numpy reference (each Op's perform):
conv2d and max_pool_2d with their gradients, the C mode's rewrites, bad shapes,
and one training step of the CNN script's own graph."""
import numpy as np
import pytensor
import pytest
from pytensor import tensor as T
from pytensor.graph.replace import clone_replace

from helpers import run_script
from toolkit import backends
from toolkit.ops import conv2d, max_pool_2d

C_MODE = backends.compile_mode("C")
NUMPY = "FAST_COMPILE"  # PyTensor's Python linker: every Op runs its numpy perform


def both(inputs, outputs, *values):
    """The outputs computed by the C kernels and by the numpy reference."""
    c = pytensor.function(inputs, outputs, mode=C_MODE)
    reference = pytensor.function(inputs, outputs, mode=NUMPY)
    return c(*values), reference(*values)


def assert_close(got, expected, dtype):
    tolerance = 2e-5 if dtype == "float32" else 1e-12
    for g, e in zip(got, expected):
        assert g.dtype == e.dtype and g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=tolerance, atol=tolerance * max(1, np.abs(e).max()))


CASES = [  # image shape, kernel shape (n_kernels, rows, cols)
    ((1, 1, 6, 6), (3, 3, 3)),       # batch 1, one channel (the first layer)
    ((3, 2, 7, 5), (4, 3, 2)),       # odd sizes, a rectangular kernel
    ((2, 3, 8, 8), (5, 2, 2)),       # even sizes, an even kernel
    ((150, 4, 9, 6), (6, 3, 3)),     # many images: several chunks, every core
    ((6, 2, 30, 30), (3, 3, 3)),     # large maps: an image a gemm, on every core
    ((5, 2, 3, 3), (2, 3, 3)),       # the kernel as large as the image
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("border_mode", ["valid", "full"])
@pytest.mark.parametrize("image_shape, kernel", CASES)
def test_conv2d_values_and_gradients_match_numpy(dtype, border_mode, image_shape, kernel):
    rng = np.random.default_rng(0)
    images = rng.standard_normal(image_shape).astype(dtype)
    filters = rng.standard_normal((kernel[0], image_shape[1]) + kernel[1:]).astype(dtype)
    X, W = T.tensor4(dtype=dtype), T.tensor4(dtype=dtype)
    out = conv2d(X, W, border_mode=border_mode)
    weights = T.constant(rng.standard_normal(kernel[0]).astype(dtype)).dimshuffle("x", 0, "x", "x")
    cost = T.sum(T.tanh(out) * weights)
    got, expected = both([X, W], [out, *T.grad(cost, [X, W])], images, filters)
    assert_close(got, expected, dtype)


def test_conv2d_takes_non_contiguous_inputs():
    rng = np.random.default_rng(1)
    images = rng.standard_normal((4, 6, 9, 8)).astype("float32")[:, ::2, :, ::-1]
    filters = rng.standard_normal((3, 3, 2, 2)).astype("float32").transpose(0, 1, 3, 2)
    assert not images.flags.c_contiguous and not filters.flags.c_contiguous
    X, W = T.ftensor4(), T.ftensor4()
    out = conv2d(X, W)
    got, expected = both([X, W], [out, *T.grad(T.sum(out ** 2), [X, W])], images, filters)
    assert_close(got, expected, "float32")


@pytest.mark.parametrize("mode", [C_MODE, NUMPY], ids=["C", "numpy"])
@pytest.mark.parametrize("images, filters, message", [
    ((2, 3, 8, 8), (4, 2, 3, 3), r"conv2d: input of shape \(2, 3, 8, 8\) has 3 channels but "
                                 r"filters of shape \(4, 2, 3, 3\) expect 2"),
    ((2, 1, 2, 8), (4, 1, 3, 3), r"conv2d: filters of shape \(4, 1, 3, 3\) are larger than "
                                 r"the input of shape \(2, 1, 2, 8\) \(border_mode='valid'\)"),
])
def test_bad_conv_shapes_are_one_clear_line(mode, images, filters, message):
    X, W = T.ftensor4(), T.ftensor4()
    f = pytensor.function([X, W], conv2d(X, W), mode=mode)
    with pytest.raises(ValueError, match=message) as error:
        f(np.zeros(images, "float32"), np.zeros(filters, "float32"))
    assert "\n" not in str(error.value).split("\nApply node")[0]


def test_conv2d_of_a_matrix_is_refused():
    with pytest.raises(TypeError, match="input must be a 4-d tensor"):
        conv2d(T.fmatrix(), T.ftensor4())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("ws", [(2, 2), (3, 2)])
@pytest.mark.parametrize("ignore_border", [False, True])
@pytest.mark.parametrize("shape", [(1, 1, 5, 5), (2, 3, 7, 8), (130, 2, 13, 13), (4, 6, 6)])
def test_max_pool_values_and_gradients_match_numpy(dtype, ws, ignore_border, shape):
    x = np.random.default_rng(2).integers(0, 4, shape).astype(dtype)  # many ties
    X = T.tensor(dtype=dtype, shape=(None,) * len(shape))
    pooled = max_pool_2d(X, ws, ignore_border=ignore_border)
    got, expected = both([X], [pooled, T.grad(T.sum(pooled * 1.5), X)], x)
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)


def test_c_mode_rewrites_compute_what_pytensor_computes():
    """Rectify, its gradient mask and ParallelDot against PyTensor's own C ops, in a
    graph shaped like the CNN's: rectified maps that a pool reads (here not fused
    into one pass: tests/test_rectify_pool.py tests that)."""
    rng = np.random.default_rng(3)
    A, B, X = T.fmatrix(), T.fmatrix(), T.ftensor4()
    pooled = max_pool_2d(T.maximum(X, 0.), (2, 2))
    outputs = [T.dot(A, B) * 1.5, T.dot(A.T, B.T), pooled,
               T.grad(T.sum(pooled * pooled), X)]
    values = [rng.standard_normal((70, 90)).astype("float32"),
              rng.standard_normal((90, 70)).astype("float32"),
              rng.standard_normal((3, 4, 50, 50)).astype("float32")]
    values[2][0, 0, 0, :5] = 0  # rectify's gradient at exactly 0 passes, as in Theano
    unfused = C_MODE.excluding("c_rectify_pool", "c_rectify_pool_grad")
    f = pytensor.function([A, B, X], outputs, mode=unfused, on_unused_input="ignore")
    names = {type(node.op).__name__ for node in f.maker.fgraph.toposort()}
    assert {"Rectify", "MaskWhereEqual", "ParallelDot"} <= names
    plain = unfused.excluding("c_parallel_rectifier", "c_mask_where_equal", "c_parallel_dot")
    expected = pytensor.function([A, B, X], outputs, mode=plain, on_unused_input="ignore")
    for g, e in zip(f(*values), expected(*values)):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_threaded_elemwise_computes_what_pytensor_computes(dtype):
    """ThreadedElemwise's flat loop on every core against PyTensor's own Elemwise:
    fused loops with several outputs and a single-value input, an update made in
    place, views (transposed, sliced, flipped: the flat loop reads them once copied
    contiguous), arrays large enough for every core and one too small to share."""
    rng = np.random.default_rng(8)
    A, B = T.matrix(dtype=dtype), T.matrix(dtype=dtype)
    s = T.scalar(dtype=dtype)
    w = pytensor.shared(rng.standard_normal((700, 600)).astype(dtype))
    acc = pytensor.shared(np.ones((700, 600), dtype))
    def c(value):
        return np.asarray(value, dtype)

    new_acc = c(0.9) * acc + c(0.1) * A ** 2  # RMSprop, as the scripts write it
    updates = [(acc, new_acc), (w, w - c(0.01) * A / T.sqrt(new_acc + c(1e-6)))]
    # views read by the flat loop once copied: transposed, a slice, flipped (as the
    # conv kernels' gradient is)
    outputs = [T.exp(A) * s + B, T.tanh(A.T) - B.T, A[:3, :4] * c(2) - s, A[::-1, ::-1] * B]
    values = [rng.standard_normal((700, 600)).astype(dtype),
              rng.standard_normal((700, 600)).astype(dtype), np.asarray(1.5, dtype)]
    results = {}
    for name, mode in (("threaded", C_MODE), ("plain", C_MODE.excluding("c_threaded_elemwise"))):
        w.set_value(np.full((700, 600), 0.5, dtype))
        acc.set_value(np.ones((700, 600), dtype))
        f = pytensor.function([A, B, s], outputs, updates=updates, mode=mode)
        threaded = [n.op for n in f.maker.fgraph.toposort()
                    if type(n.op).__name__ == "ThreadedElemwise"]
        assert bool(threaded) == (name == "threaded")
        if name == "threaded":  # the update of w or acc still made in place
            assert any(op.destroy_map for op in threaded)
        results[name] = [*f(*values), *f(*values), w.get_value(), acc.get_value()]
    for got, expected in zip(results["threaded"], results["plain"]):
        np.testing.assert_allclose(got, expected, rtol=1e-5)


@pytest.mark.slow
def test_one_cnn_training_step_same_through_c_and_numpy():
    """The CNN script's own cost and gradients (dropout off) on one batch of 32.

    The digits get a little noise: MNIST strokes have runs of equal pixels, whose
    feature maps tie exactly in exact arithmetic, and two float32 summation orders
    break such ties in different places, sending a pool's gradient to another pixel
    (legitimately; it changed the first layer's gradient by 6 %). The weights are set
    to fixed values, as the script initializes them: after training, they depended on
    how the kernels rounded, and one state put a hidden unit's input within rounding
    of 0, where the rectifier passes its gradient in one order and not the other.
    Untrained, the gradients are small (1e-5): each is compared to its own scale."""
    ns = run_script("5_convolutional_net.py", "--epochs", 1, "--ntrain", 64, "--ntest", 50,
                    "--batch-size", 32, "--mode", "C")
    rng = np.random.default_rng(6)
    for param in ns["params"].values():
        value = param.get_value()
        param.set_value((rng.standard_normal(value.shape) * 0.01).astype(value.dtype))
    cost = clone_replace(ns["cost"], {ns["noise_py_x"]: ns["py_x"]})
    outputs = [cost, *T.grad(cost, list(ns["params"].values()))]
    x, y = ns["trX"][:32], ns["trY"][:32]
    x = x + np.random.default_rng(4).uniform(0, 0.01, x.shape).astype("float32")
    got, expected = both([ns["X"], ns["Y"]], outputs, x, y)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5 * np.abs(e).max())


@pytest.mark.parametrize("m, k, n", [(5000, 30, 10), (10, 30, 5000), (300, 200, 300), (3, 4, 2)])
@pytest.mark.parametrize("transposed", [False, True])
def test_parallel_dot_splits_rows_or_columns_correctly(m, k, n, transposed):
    rng = np.random.default_rng(5)
    a = rng.standard_normal((k, m) if transposed else (m, k)).astype("float32")
    b = rng.standard_normal((n, k) if transposed else (k, n)).astype("float32")
    A, B = T.fmatrix(), T.fmatrix()
    product = T.dot(A.T, B.T) if transposed else T.dot(A, B)
    f = pytensor.function([A, B], product, mode=C_MODE)
    assert "ParallelDot" in {type(node.op).__name__ for node in f.maker.fgraph.toposort()}
    expected = (a.T if transposed else a).astype(np.float64) @ (b.T if transposed else b)
    np.testing.assert_allclose(f(a, b), expected, rtol=1e-4, atol=1e-4)


def test_c_mode_draws_dropouts_uniform_numbers_from_a_seed():
    import warnings

    from pytensor.tensor.random.utils import RandomStream
    with warnings.catch_warnings(action="ignore", category=FutureWarning):
        srng = RandomStream(seed=1)
    X = T.ftensor3()
    draw = pytensor.function([X], srng.uniform(size=X.shape, dtype="float32"), mode=C_MODE)
    ops = [node.op for node in draw.maker.fgraph.toposort()]
    assert "UniformFromSeed" in {type(op).__name__ for op in ops}
    # the generator moves on in place, as PyTensor's own draws do in its fast_run
    assert [op.inplace for op in ops if type(op).__name__ == "SeedFromGenerator"] == [True]
    x = np.zeros((40, 100, 50), "float32")
    first, second = draw(x), draw(x)
    assert first.dtype == np.float32 and first.shape == x.shape
    assert 0 <= first.min() and first.max() < 1
    assert abs(first.mean() - 0.5) < 0.005 and abs(first.var() - 1 / 12) < 0.002
    counts = np.histogram(first, bins=10, range=(0, 1))[0]
    assert np.all(np.abs(counts / first.size - 0.1) < 0.005)  # flat across [0, 1)
    assert not np.array_equal(first, second)  # the generator advances


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_uniform_from_a_seed_is_its_numpy_definition(dtype):
    """c/uniform.c against UniformFromSeed.perform, bit for bit: each number made
    from the seed and its place alone, so the cores' share of the array does not
    matter; neighbouring numbers and neighbouring seeds are not alike."""
    from toolkit.c_rewrites import UniformFromSeed
    op = UniformFromSeed(dtype, 2)
    seed, size = T.tensor(dtype="uint64", shape=()), T.lvector()
    in_c = pytensor.function([seed, size], op(seed, size), mode=C_MODE)
    in_numpy = pytensor.function([seed, size], op(seed, size), mode="FAST_COMPILE")
    for s in (0, 1, 2**64 - 1, 0x0123456789ABCDEF):
        ours = in_c(np.uint64(s), [301, 777])
        assert ours.dtype == dtype and ours.shape == (301, 777)
        np.testing.assert_array_equal(ours, in_numpy(np.uint64(s), [301, 777]))
        assert abs(np.corrcoef(ours.ravel()[:-1], ours.ravel()[1:])[0, 1]) < 0.01
    assert abs(np.corrcoef(in_c(np.uint64(7), [1, 100000]).ravel(),
                           in_c(np.uint64(8), [1, 100000]).ravel())[0, 1]) < 0.02
    assert in_c(np.uint64(3), [0, 5]).shape == (0, 5)


def test_changed_generated_c_is_compiled_anew(monkeypatch):
    """PyTensor finds a compiled module by its key before it looks at the C: the key
    must change with every byte of C in the node, the C that c_code generates too.
    Here Rectify's generated C is changed to double its result; the cached module
    of the old C must not be reused."""
    from toolkit.c_rewrites import Rectify
    X = T.fmatrix()
    x = np.array([[-1, 2, 3]], dtype="float32")
    node = Rectify()(X).owner
    old_version = Rectify().c_code_cache_version_apply(node)
    old = pytensor.function([X], Rectify()(X), mode=C_MODE)
    np.testing.assert_array_equal(old(x), [[0, 2, 3]])

    original = Rectify.c_code

    def doubled(self, node, name, inputs, outputs, sub):
        out = outputs[0]
        return original(self, node, name, inputs, outputs, sub) + f"""
    {{ npy_float32 *d = (npy_float32 *)PyArray_DATA({out});
      for (npy_intp i = 0; i < PyArray_SIZE({out}); i++) d[i] *= 2; }}"""
    monkeypatch.setattr(Rectify, "c_code", doubled)
    assert Rectify().c_code_cache_version_apply(node) != old_version
    new = pytensor.function([X], Rectify()(X), mode=C_MODE)
    np.testing.assert_array_equal(new(x), [[0, 4, 6]])
