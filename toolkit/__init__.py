"""The machinery behind the numbered scripts, one job a module.

    training    the command line, minibatches and the per-epoch report
    trained     a trained model's file: what --save writes and --params reads
    checkpoint  --checkpoint / --resume: everything the next epoch needs, in one file
    backends    --mode / --device: which PyTensor backend a graph compiles to, which
                can run on this machine, and preparing it (backends.prepare)
    toolchain   what this machine's C toolchain can do: compiler, BLAS, OpenMP
    blas        the OpenBLAS that PyTensor's C code (and ops.py) links to
    ckernel     how an Op brings its own C (files in c/) to PyTensor's C backend
    compiling   a new graph's C modules compiled on every core, saying so first
    ops         conv2d and max_pool_2d, the Theano functions PyTensor 3 dropped,
                in numpy and in C (c/corr2d.c, c/winograd.c, c/sparse_grad.c,
                c/max_pool.c, c/pool_grad.c, and c/rectify_pool.c and
                c/pool_grad_weights.c for a pool of rectified maps),
                with their size rules
    ops_numba   their versions for the Numba backend (PyTensor's default)
    ckernel_library  their C built into a library that the Numba versions call
    ops_jax     their versions for the JAX backend
    c_rewrites  what --mode C changes in a graph (c/elementwise.c, c/parallel_dot.c)
    files       writing a file whole or not at all
    notebook    what differs inside a Jupyter kernel: errors, the learning curve
    draw        the draw-a-digit page (draw.html), served on 127.0.0.1 and answered
                by a script's own compiled graph

Importing any of them changes nothing in the process but this: importing ops
registers, with PyTensor's rewrites, what has its Numba and JAX versions found in
the first compile for those backends. backends.prepare() is what links the BLAS,
sets the threads and registers --mode C's rewrites; a first compile for Numba of a
graph with the Ops sets what --mode C would (ops_numba.py says which).
"""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository: scripts, data/, results/
