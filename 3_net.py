# %% [markdown]
# # An "old" net (circa 2000)
# One hidden layer of 625 sigmoid units between the pixels and the softmax, every
# parameter updated by the same SGD rule. The talk: 98.4 %.

# %%
"""An "old" net (circa 2000): 784 -> 625 sigmoid units -> 10 softmax. The talk: 98.4 %."""
import numpy as np
from toolkit import backends, training
backends.check_settings()  # PyTensor reads PYTENSOR_FLAGS on import: a bad one, one line
import pytensor
from pytensor import tensor as T

from load import mnist

pytensor.config.floatX = "float32"
args = training.parse_args(epochs=100, batch_size=128, lr=0.05, mode="JAX")
mode = backends.prepare(args)  # the backend for this machine, set up before the data

# %% [markdown]
# ## An "old" net in Theano: two weight matrices, and `sgd` over both

# %%
def floatX(X):
    return np.asarray(X, dtype=pytensor.config.floatX)


def init_weights(shape):
    return pytensor.shared(floatX(np.random.randn(*shape) * 0.01))


def sgd(cost, params, lr=0.05):
    grads = T.grad(cost=cost, wrt=params)
    updates = []
    for p, g in zip(params, grads):
        updates.append([p, p - g * lr])
    return updates


def model(X, w_h, w_o):
    h = T.sigmoid(T.dot(X, w_h))
    pyx = T.special.softmax(T.dot(h, w_o), axis=1)
    return pyx


trX, teX, trY, teY = mnist(args.ntrain, args.ntest, onehot=True, data_dir=args.data_dir)

X = T.fmatrix()
Y = T.fmatrix()

w_h = init_weights((784, 625))
w_o = init_weights((625, 10))

py_x = model(X, w_h, w_o)
y_x = T.argmax(py_x, axis=1)

cost = T.mean(-T.sum(Y * T.log(py_x), axis=1))  # categorical cross-entropy
# by name: what --save writes and --params reads
params = {"w_h": w_h, "w_o": w_o}
updates = sgd(cost, list(params.values()), lr=args.lr)

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
