"""Linear regression: learn the slope of y = 2x from 101 noisy points."""
import numpy as np
import pytensor
from pytensor import tensor as T

import trainer

args = trainer.parse_mode(__doc__)
pytensor.config.floatX = "float32"
np.random.seed(42)

trX = np.linspace(-1, 1, 101)
trY = 2 * trX + np.random.randn(*trX.shape) * 0.33

X = T.scalar()
Y = T.scalar()


def model(X, w):
    return X * w


w = pytensor.shared(np.asarray(0., dtype=pytensor.config.floatX))
y = model(X, w)

cost = T.mean(T.sqr(y - Y))
gradient = T.grad(cost=cost, wrt=w)
updates = [[w, w - gradient * 0.01]]

train = pytensor.function(inputs=[X, Y], outputs=cost, updates=updates,
                          allow_input_downcast=True, mode=args.mode)

for i in range(100):
    for x, y in zip(trX, trY):
        train(x, y)

print(f"learned slope w = {w.get_value():.4f}")
