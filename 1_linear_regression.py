# %% [markdown]
# # Theano: linear regression
# Learn the slope of y = 2x from 101 noisy points: a shared weight, a cost, its gradient
# from `T.grad`, and an update rule, compiled into one `train` function.
# The backend comes from PYTENSOR_FLAGS, as Theano's came from THEANO_FLAGS.

# %%
"""Linear regression: learn the slope of y = 2x from 101 noisy points."""
import numpy as np
import pytensor
from pytensor import tensor as T

pytensor.config.floatX = "float32"
np.random.seed(42)

trX = np.linspace(-1, 1, 101)
trY = 2 * trX + np.random.randn(*trX.shape) * 0.33

# %% [markdown]
# ## The model, its cost and its updates

# %%
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
                          allow_input_downcast=True)

# %% [markdown]
# ## Theano doing its thing: 100 passes over the data, one example at a time

# %%
for i in range(100):
    for x_i, y_i in zip(trX, trY):  # the slide's `for x, y` would rebind the model's y
        train(x_i, y_i)

print(f"learned slope w = {w.get_value():.4f}")

# %% [markdown]
# ## What PyTensor made of it
# The derivative `T.grad` worked out, as it wrote it: the chain rule, step by step
# (`fill(x, v)` is v in the shape of x; the mean divides by its one element). Compiled,
# PyTensor's rewrites simplify it into one fused loop, a `Composite` of its inputs
# `i0, i1, i2` = `X, Y, w`: 2 (X w - Y) X. And `train` as it runs: one fused loop
# computes the cost and the new w, the derivative's 2 and the learning rate 0.01 folded
# into one constant, 0.02.

# %%
X.name, Y.name, w.name = "X", "Y", "w"  # a variable prints by its name
print("T.grad's derivative of the cost, as written:")
print(pytensor.printing.pp(gradient))
print("the derivative, compiled:")
print(pytensor.printing.pp(pytensor.function([X, Y], gradient).maker.fgraph.outputs[0]))
print("train, as compiled:")
pytensor.dprint(train)
