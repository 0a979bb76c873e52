"""An "old" net (circa 2000): 784 -> 625 sigmoid units -> 10 softmax. The talk: 98.4 %."""
import numpy as np
import pytensor
from pytensor import tensor as T

import trainer

args = trainer.parse_args(__doc__, epochs=100, lr=0.05, mode="JAX")
pytensor.config.floatX = "float32"


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


trX, teX, trY, teY = trainer.load_data(args)

X = T.fmatrix()
Y = T.fmatrix()

w_h = init_weights((784, 625))
w_o = init_weights((625, 10))

py_x = model(X, w_h, w_o)
y_x = T.argmax(py_x, axis=1)

cost = T.mean(-T.sum(Y * T.log(py_x), axis=1))  # categorical cross-entropy
params = [w_h, w_o]
updates = sgd(cost, params, lr=args.lr)

train = pytensor.function(inputs=[X, Y], outputs=cost, updates=updates,
                          allow_input_downcast=True, mode=args.mode)
predict = pytensor.function(inputs=[X], outputs=y_x, allow_input_downcast=True, mode=args.mode)

trainer.fit(train, predict, trX, teX, trY, teY, args, params={"w_h": w_h, "w_o": w_o})
