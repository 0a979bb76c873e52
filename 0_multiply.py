# %% [markdown]
# # A very simple model
# The talk's first slides ("Theano intro"): two symbolic scalars, their product, and a
# function compiled from it. To compile for another backend, set it as Theano users set
# THEANO_FLAGS: `PYTENSOR_FLAGS=mode=JAX python 0_multiply.py` (or C, or NUMBA).

# %%
"""The talk's first slide: a symbolic multiplication, compiled to a function."""
import pytensor
from pytensor import tensor as T

a = T.scalar()
b = T.scalar()

y = a * b

multiply = pytensor.function(inputs=[a, b], outputs=y)

print(multiply(1, 2))  # 2
print(multiply(3, 3))  # 9
