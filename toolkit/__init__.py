"""The machinery behind the numbered scripts, one job a module.

    training  the command line, minibatches and the per-epoch report
    backends  --mode / --device: which PyTensor backend a graph compiles to
    blas      the OpenBLAS that PyTensor's C code (and ops.py) links to
    ops       conv2d and max_pool_2d, the Theano functions PyTensor 3 dropped
    ops_jax   their versions for the JAX backend
    files     writing a file whole or not at all

Importing any of them changes nothing in the process; choosing a mode
(backends.compile_mode) is what links the BLAS and registers the JAX versions.
"""
