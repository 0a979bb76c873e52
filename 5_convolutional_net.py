"""A convolutional network: three blocks of conv -> rectify -> pool -> dropout,
then 625 rectified units and a softmax. The talk: 99.5 %."""
import numpy as np
import pytensor
from pytensor import tensor as T
from pytensor.tensor.random.utils import RandomStream

import trainer
from ops import conv2d, max_pool_2d

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


trX, teX, trY, teY = trainer.load_data(args)

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
params = [w, w2, w3, w4, w_o]
updates = RMSprop(cost, params, lr=args.lr)

train = pytensor.function(inputs=[X, Y], outputs=cost, updates=updates,
                          allow_input_downcast=True, mode=args.mode)
predict = pytensor.function(inputs=[X], outputs=y_x, allow_input_downcast=True, mode=args.mode)

trainer.fit(train, predict, trX, teX, trY, teY, args,
            params={"w": w, "w2": w2, "w3": w3, "w4": w4, "w_o": w_o})
