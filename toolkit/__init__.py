"""The machinery behind the numbered scripts, one job a module.

    training    the command line, minibatches and the per-epoch report
    backends    --mode / --device: which PyTensor backend a graph compiles to
    blas        the OpenBLAS that PyTensor's C code (and ops.py) links to
    ops         conv2d and max_pool_2d, the Theano functions PyTensor 3 dropped,
                in numpy and in C (corr2d.c, max_pool.c)
    ops_jax     their versions for the JAX backend
    c_rewrites  what --mode C changes in a graph (elementwise.c, gemm.c)
    files       writing a file whole or not at all
    reproduce   python -m toolkit.reproduce: the talk's full recipes, logged in results/
    report      python -m toolkit.report: the README's tables, from results/

Importing any of them changes nothing in the process; choosing a mode
(backends.compile_mode) is what links the BLAS, registers the rewrites and
the JAX versions.
"""
