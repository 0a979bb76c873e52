"""Wrong: the mask left float64, which makes a float32 net float64."""
import pytensor
from pytensor import tensor as T


def RMSprop(cost, params, lr=0.001, rho=0.9, epsilon=1e-6):
    grads = T.grad(cost=cost, wrt=params)
    updates = []
    for p, g in zip(params, grads):
        acc = pytensor.shared(p.get_value() * 0.)
        acc_new = rho * acc + (1 - rho) * g ** 2
        updates.append((acc, acc_new))
        updates.append((p, p - lr * g / T.sqrt(acc_new + epsilon)))
    return updates


def dropout(X, p, srng):
    if p == 0:
        return X
    mask = T.cast(srng.uniform(size=X.shape) < 1 - p, 'float64')
    return X * mask / (1 - p)
