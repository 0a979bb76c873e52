"""A solution to exercises/modern.py (slides "Understanding RMSprop" and "Noise
injected into model")."""
import pytensor
from pytensor import tensor as T


def RMSprop(cost, params, lr=0.001, rho=0.9, epsilon=1e-6):
    grads = T.grad(cost=cost, wrt=params)
    updates = []
    for p, g in zip(params, grads):
        acc = pytensor.shared(p.get_value() * 0.)  # the running average of g^2, from 0
        acc_new = rho * acc + (1 - rho) * g ** 2
        g = g / T.sqrt(acc_new + epsilon)  # epsilon: no division by 0 where g stays 0
        updates.append((acc, acc_new))  # kept for the next step
        updates.append((p, p - lr * g))
    return updates


def dropout(X, p, srng):
    if p == 0:
        return X
    keep = 1 - p
    mask = T.cast(srng.uniform(size=X.shape) < keep, X.dtype)  # 1 with probability keep
    return X * mask / keep  # expected value: X * keep / keep = X
