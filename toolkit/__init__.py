"""The machinery behind the numbered scripts, one job a module.

    training    the command line, minibatches and the per-epoch report
    runs        the table of models and runs that reproduce, report, bench/,
                figures.py and the tests share
    checkpoint  --checkpoint / --resume: everything the next epoch needs, in one file
    backends    --mode / --device: which PyTensor backend a graph compiles to, and
                which can run on this machine
    toolchain   what this machine's C toolchain can do: compiler, BLAS, OpenMP
    blas        the OpenBLAS that PyTensor's C code (and ops.py) links to
    ckernel     how an Op brings its own C (files in c/) to PyTensor's C backend
    ops         conv2d and max_pool_2d, the Theano functions PyTensor 3 dropped,
                in numpy and in C (c/corr2d.c, c/max_pool.c), with their size rules
    ops_jax     their versions for the JAX backend
    c_rewrites  what --mode C changes in a graph (c/elementwise.c, c/parallel_dot.c)
    files       writing a file whole or not at all
    reproduce   python -m toolkit.reproduce: the talk's full recipes, logged in results/
    report      python -m toolkit.report: the README's tables, from results/

Importing any of them changes nothing in the process; choosing a mode
(backends.compile_mode) is what links the BLAS, registers the rewrites and
the JAX versions.
"""
