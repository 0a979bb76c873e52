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

# %% [markdown]
# ## What PyTensor made of it
# `pytensor.dprint` prints a graph, one node a line: `y` as written, then the graph that
# `multiply` runs, after PyTensor's rewrites (one multiplication: nothing to simplify).
# Then the code the backend made of it. With `mode=C`, one C++ module for the whole
# graph, compiled and imported; of its lines, those that read the inputs' values and
# multiply them into the output's. With NUMBA or JAX, the Python function PyTensor writes
# from the graph, one line per node, for that compiler to compile.

# %%
from pytensor.link.c.basic import CLinker
from pytensor.link.jax.linker import JAXLinker
from pytensor.link.numba.linker import NumbaLinker

a.name, b.name = "a", "b"  # a variable prints by its name
print("y = a * b, as written:")
pytensor.dprint(y)
print("multiply, as compiled:")
pytensor.dprint(multiply)

linker = multiply.maker.linker
if isinstance(linker, CLinker):
    c_code = linker.get_src_code()
    print(f"the C++ that mode=C compiled, {len(c_code.splitlines())} lines; those that multiply:")
    # V<n>_i is the value of the graph's variable n: these lines read a and b, and write y
    print("\n".join(line.strip() for line in c_code.splitlines() if "_i " in line))
elif isinstance(linker, NumbaLinker):
    from pytensor.link.numba.dispatch import numba_funcify
    print("the Python that PyTensor writes for Numba to compile:")
    print(numba_funcify(multiply.maker.fgraph).py_func.__source__)
elif isinstance(linker, JAXLinker):
    from pytensor.link.jax.dispatch import jax_funcify  # imports jax
    print("the Python that PyTensor writes for JAX to compile:")
    print(jax_funcify(multiply.maker.fgraph).__source__)
