# %% [markdown]
# # A "modern" net (2012+)
# Rectifiers instead of sigmoids, dropout as noise injected into the model, a
# numerically stable softmax, and RMSprop scaling each gradient by a running average
# of its magnitude. Two hidden layers of 625 units. The talk: 99.0 %.

# %%
"""A "modern" net (2012+): rectifiers, dropout and RMSprop, 784 -> 625 -> 625 -> 10.
The talk: 99.0 %."""
import numpy as np
from toolkit import backends, training
backends.check_settings()  # PyTensor reads PYTENSOR_FLAGS on import: a bad one, one line
import pytensor
from pytensor import tensor as T
from pytensor.tensor.random.utils import RandomStream

from load import mnist

pytensor.config.floatX = "float32"
args = training.parse_args(epochs=100, batch_size=128, lr=0.001, mode="JAX")
mode = backends.prepare(args)  # the backend for this machine, set up before the data
srng = RandomStream(seed=args.seed)  # Theano's srng (PyTensor 3's warning that it is old: off)

# %% [markdown]
# ## A "modern" net in Theano: rectify, softmax, RMSprop and dropout

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


def dropout(X, p=0.):
    if p > 0:
        retain_prob = 1 - p
        # a uniform draw compared to retain_prob is a binomial mask on every backend
        X *= T.cast(srng.uniform(size=X.shape) < retain_prob, pytensor.config.floatX)
        X /= retain_prob
    return X


def model(X, w_h, w_h2, w_o, p_drop_input, p_drop_hidden):
    X = dropout(X, p_drop_input)
    h = rectify(T.dot(X, w_h))

    h = dropout(h, p_drop_hidden)
    h2 = rectify(T.dot(h, w_h2))

    h2 = dropout(h2, p_drop_hidden)
    py_x = softmax(T.dot(h2, w_o))
    return h, h2, py_x


trX, teX, trY, teY = mnist(args.ntrain, args.ntest, onehot=True, data_dir=args.data_dir)

X = T.fmatrix()
Y = T.fmatrix()

w_h = init_weights((784, 625))
w_h2 = init_weights((625, 625))
w_o = init_weights((625, 10))

noise_h, noise_h2, noise_py_x = model(X, w_h, w_h2, w_o, 0.2, 0.5)
h, h2, py_x = model(X, w_h, w_h2, w_o, 0., 0.)
y_x = T.argmax(py_x, axis=1)

cost = T.mean(-T.sum(Y * T.log(noise_py_x), axis=1))  # categorical cross-entropy
# by name: what --save writes and --params reads
params = {"w_h": w_h, "w_h2": w_h2, "w_o": w_o}
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

# %%
for i in run.epochs():
    for start, end in run.minibatches(len(trX)):
        batch_cost = train(trX[start:end], trY[start:end])
        run.add_cost(batch_cost, end - start)
    run.end_epoch(np.mean(np.argmax(teY, axis=1) == predict(teX)))
run.save(probabilities, teX)  # with --save: the weights, and the net's answer for each test image
