# %% [markdown]
# # Convolutional networks
# Three blocks of convolution, rectifier, max pooling and dropout, then 625 rectified
# units and a softmax: images shrink 28 -> 30 -> 15 -> 13 -> 7 -> 5 -> 3 on the way.
# The talk: 99.5 %.

# %%
"""A convolutional network: three blocks of conv -> rectify -> pool -> dropout,
then 625 rectified units and a softmax. The talk: 99.5 %."""
import numpy as np
from toolkit import ROOT, backends, draw, training
backends.check_settings()  # PyTensor reads PYTENSOR_FLAGS on import: a bad one, one line
import pytensor
from pytensor import tensor as T
from pytensor.tensor.random.utils import RandomStream

from load import mnist
from toolkit.digits import SAMPLE_DIGIT, read_digit
from toolkit.ops import conv2d, max_pool_2d

pytensor.config.floatX = "float32"
args = training.parse_args(epochs=100, batch_size=128, lr=0.001, mode="C",
                           digit=SAMPLE_DIGIT, draw_params=ROOT / "results" / "cnn.npz")
mode = backends.prepare(args)  # the backend for this machine, set up before the data
srng = RandomStream(seed=args.seed)  # Theano's srng (PyTensor 3's warning that it is old: off)

# %% [markdown]
# ## The pieces of the "modern" net, unchanged

# %%
def floatX(X):
    return np.asarray(X, dtype=pytensor.config.floatX)


def init_weights(shape):
    return pytensor.shared(floatX(np.random.randn(*shape) * 0.01))


def rectify(X):
    return T.maximum(X, 0.)


def softmax(X):
    e_x = T.exp(X - X.max(axis=1).dimshuffle(0, 'x'))
    return e_x / e_x.sum(axis=1).dimshuffle(0, 'x')


def dropout(X, p=0.):
    if p > 0:
        retain_prob = 1 - p
        # a uniform draw compared to retain_prob is a binomial mask on every backend
        X *= T.cast(srng.uniform(size=X.shape) < retain_prob, pytensor.config.floatX)
        X /= retain_prob
    return X


def RMSprop(cost, params, lr=0.001, rho=0.9, epsilon=1e-6):
    grads = T.grad(cost=cost, wrt=params)
    updates = []
    for p, g in zip(params, grads):
        acc = pytensor.shared(p.get_value() * 0.)
        acc_new = rho * acc + (1 - rho) * g ** 2
        gradient_scaling = T.sqrt(acc_new + epsilon)
        g = g / gradient_scaling
        updates.append((acc, acc_new))
        updates.append((p, p - lr * g))
    return updates


# %% [markdown]
# ## A convolutional network in Theano

# %%
def model(X, w, w2, w3, w4, w_o, p_drop_conv, p_drop_hidden):
    l1a = rectify(conv2d(X, w, border_mode='full'))
    l1 = max_pool_2d(l1a, (2, 2))
    l1 = dropout(l1, p_drop_conv)

    l2a = rectify(conv2d(l1, w2))
    l2 = max_pool_2d(l2a, (2, 2))
    l2 = dropout(l2, p_drop_conv)

    l3a = rectify(conv2d(l2, w3))
    l3b = max_pool_2d(l3a, (2, 2))
    l3 = T.flatten(l3b, ndim=2)
    l3 = dropout(l3, p_drop_conv)

    l4 = rectify(T.dot(l3, w4))
    l4 = dropout(l4, p_drop_hidden)

    pyx = softmax(T.dot(l4, w_o))
    return l1, l2, l3, l4, pyx


trX, teX, trY, teY = mnist(args.ntrain, args.ntest, onehot=True, data_dir=args.data_dir)

trX = trX.reshape(-1, 1, 28, 28)
teX = teX.reshape(-1, 1, 28, 28)

X = T.ftensor4()
Y = T.fmatrix()

w = init_weights((32, 1, 3, 3))
w2 = init_weights((64, 32, 3, 3))
w3 = init_weights((128, 64, 3, 3))
w4 = init_weights((128 * 3 * 3, 625))
w_o = init_weights((625, 10))

noise_l1, noise_l2, noise_l3, noise_l4, noise_py_x = model(X, w, w2, w3, w4, w_o, 0.2, 0.5)
l1, l2, l3, l4, py_x = model(X, w, w2, w3, w4, w_o, 0., 0.)
y_x = T.argmax(py_x, axis=1)

cost = T.mean(-T.sum(Y * T.log(noise_py_x), axis=1))  # categorical cross-entropy
# by name: what --save writes and --params reads
params = {"w": w, "w2": w2, "w3": w3, "w4": w4, "w_o": w_o}
updates = RMSprop(cost, list(params.values()), lr=args.lr)

train = pytensor.function(inputs=[X, Y], outputs=cost, updates=updates,
                          allow_input_downcast=True, mode=mode)
predict = pytensor.function(inputs=[X], outputs=y_x, allow_input_downcast=True, mode=mode)
probabilities = pytensor.function([X], py_x, allow_input_downcast=True, mode=mode)
training.summary(X, py_x, teX, params)
run = training.Run(args, train, params)  # --params, --resume, --log, --checkpoint, --save

# %% [markdown]
# ## Training: minibatches of 128, then the accuracy on the test set, each epoch
# Stopped, this cell continues where the model is when run again; from a terminal,
# `--checkpoint PATH` and `--resume PATH` do the same across runs.
# The test set is predicted 1000 images at a time: all 10000 at once would need
# gigabytes for the first layers' feature maps.

# %%
for i in run.epochs():
    for start, end in run.minibatches(len(trX)):
        batch_cost = train(trX[start:end], trY[start:end])
        run.add_cost(batch_cost, end - start)
    run.end_epoch(np.mean(np.argmax(teY, axis=1) == training.predict_in_batches(predict, teX)))
run.save(probabilities, teX)  # with --save: the weights, and the net's answer for each test image

# %% [markdown]
# ## Your own digit
# Write a digit on paper or on a screen, save it as a PNG or JPEG, and ask the net.
# It is read the way MNIST was made: grey levels, the digit scaled into a 20 x 20 box
# and centred by its centre of mass in 28 x 28. From a terminal, with the trained
# net and no training: `python 5_convolutional_net.py --params results/cnn.npz
# --digit my_digit.png`. With `--draw` (in a notebook: `draw=True` in parse_args) it
# then serves a page to draw digits on, answered by this graph stroke by stroke,
# with its first layers' feature maps and the image it saw; Ctrl-C (or the kernel's
# interrupt) stops it.

# %%
image = read_digit(args.digit)  # a 7 from data/digits/, unless --digit names your own
training.show_answer(args.digit, image, probabilities(image.reshape(1, 1, 28, 28))[0])
if args.draw:  # a page to draw digits on, answered by this net's own graph
    layers = pytensor.function([X], [l1, l2, py_x], allow_input_downcast=True, mode=mode)
    draw.serve(layers)
