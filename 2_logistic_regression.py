"""Logistic (softmax) regression on MNIST: 784 pixels -> 10 classes. The talk: 92.5 %."""
import numpy as np
import pytensor
from pytensor import tensor as T

import trainer

args = trainer.parse_args(__doc__, epochs=100, lr=0.05, mode="C")
pytensor.config.floatX = "float32"


def floatX(X):
    return np.asarray(X, dtype=pytensor.config.floatX)


def init_weights(shape):
    return pytensor.shared(floatX(np.random.randn(*shape) * 0.01))


def model(X, w):
    return T.special.softmax(T.dot(X, w), axis=1)


trX, teX, trY, teY = trainer.load_data(args)

X = T.fmatrix()
Y = T.fmatrix()

w = init_weights((784, 10))

py_x = model(X, w)
y_pred = T.argmax(py_x, axis=1)

cost = T.mean(-T.sum(Y * T.log(py_x), axis=1))  # categorical cross-entropy
gradient = T.grad(cost=cost, wrt=w)
update = [[w, w - gradient * args.lr]]

train = pytensor.function(inputs=[X, Y], outputs=cost, updates=update,
                          allow_input_downcast=True, mode=args.mode)
predict = pytensor.function(inputs=[X], outputs=y_pred, allow_input_downcast=True, mode=args.mode)

trainer.fit(train, predict, trX, teX, trY, teY, args, params={"w": w})
