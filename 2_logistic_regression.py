# %% [markdown]
# # Logistic regression
# Softmax regression on MNIST: 784 pixels to 10 classes, trained by minibatch SGD.
# The talk: 92.5 %. From a terminal, `python 2_logistic_regression.py --help` lists
# the options; in a notebook, edit the defaults in the `parse_args` call.

# %%
"""Logistic (softmax) regression on MNIST: 784 pixels -> 10 classes. The talk: 92.5 %."""
import numpy as np
from toolkit import backends, training
backends.check_settings()  # PyTensor reads PYTENSOR_FLAGS on import: a bad one, one line
import pytensor
from pytensor import tensor as T

from load import mnist

pytensor.config.floatX = "float32"
args = training.parse_args(epochs=100, batch_size=128, lr=0.05, mode="C")
mode = backends.prepare(args)  # the backend for this machine, set up before the data

# %% [markdown]
# ## Back to Theano: the model, the cost and the update

# %%
def floatX(X):
    return np.asarray(X, dtype=pytensor.config.floatX)


def init_weights(shape):
    return pytensor.shared(floatX(np.random.randn(*shape) * 0.01))


def model(X, w):
    return T.special.softmax(T.dot(X, w), axis=1)


trX, teX, trY, teY = mnist(args.ntrain, args.ntest, onehot=True, data_dir=args.data_dir)

X = T.fmatrix()
Y = T.fmatrix()

w = init_weights((784, 10))
# by name: what --save writes and --params reads
params = {"w": w}

py_x = model(X, w)
y_pred = T.argmax(py_x, axis=1)

cost = T.mean(-T.sum(Y * T.log(py_x), axis=1))  # categorical cross-entropy
gradient = T.grad(cost=cost, wrt=w)
update = [[w, w - gradient * args.lr]]

train = pytensor.function(inputs=[X, Y], outputs=cost, updates=update,
                          allow_input_downcast=True, mode=mode)
predict = pytensor.function(inputs=[X], outputs=y_pred, allow_input_downcast=True, mode=mode)
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

# %% [markdown]
# ## What PyTensor made of the cross-entropy
# The cost's categorical cross-entropy, `-sum(Y * log(py_x))` for each example, as
# written: the log of a softmax. PyTensor rewrites `log(softmax(x))` into one
# `LogSoftmax`, computed as `(x - max(x)) - log(sum(exp(x - max(x))))`; `--mode C`
# opens it into those steps, so that they compile to C (toolkit/c_rewrites.py). Why:
# in float32 a class's softmax underflows to 0 once its logit is about 104 below the
# largest, and log(0) is -inf (an infinite cost, NaN gradients); the log-softmax is a
# difference of finite numbers, and never takes the log of that 0.

# %%
crossentropy = -T.sum(Y * T.log(py_x), axis=1)  # the cost's, one number per example
X.name, Y.name, w.name = "X", "Y", "w"  # a variable prints by its name
print("the cross-entropy, as written:")
pytensor.dprint(crossentropy)
print(f"the cross-entropy, as compiled for --mode {run.mode}:")
pytensor.dprint(pytensor.function([X, Y], crossentropy, mode=mode))
