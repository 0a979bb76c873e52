"""Graphs compiled inside the tests use the project's default C backend."""
import pytensor

import backend  # noqa: F401  (links PyTensor's C code to a BLAS)

pytensor.config.mode = "CVM"
