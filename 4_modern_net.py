"""A "modern" net (2012+): rectifiers, dropout and RMSprop, 784 -> 625 -> 625 -> 10.
The talk: 99.0 %."""
import numpy as np
import pytensor
from pytensor import tensor as T
from pytensor.tensor.random.utils import RandomStream

import trainer

args = trainer.parse_args(__doc__, epochs=100, lr=0.001, mode="JAX")
pytensor.config.floatX = "float32"
srng = RandomStream(seed=args.seed)


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


trX, teX, trY, teY = trainer.load_data(args)

X = T.fmatrix()
Y = T.fmatrix()

w_h = init_weights((784, 625))
w_h2 = init_weights((625, 625))
w_o = init_weights((625, 10))

noise_h, noise_h2, noise_py_x = model(X, w_h, w_h2, w_o, 0.2, 0.5)
h, h2, py_x = model(X, w_h, w_h2, w_o, 0., 0.)
y_x = T.argmax(py_x, axis=1)

cost = T.mean(-T.sum(Y * T.log(noise_py_x), axis=1))  # categorical cross-entropy
params = [w_h, w_h2, w_o]
updates = RMSprop(cost, params, lr=args.lr)

train = pytensor.function(inputs=[X, Y], outputs=cost, updates=updates,
                          allow_input_downcast=True, mode=args.mode)
predict = pytensor.function(inputs=[X], outputs=y_x, allow_input_downcast=True, mode=args.mode)

trainer.fit(train, predict, trX, teX, trY, teY, args,
            params={"w_h": w_h, "w_h2": w_h2, "w_o": w_o})
