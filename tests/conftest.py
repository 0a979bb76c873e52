"""The suite runs JAX on the CPU unless JAX_PLATFORMS says otherwise (a GPU machine
runs it as quickly as a CPU one), and compiles the graphs it builds itself with
PyTensor's C backend, linked to OpenBLAS as the scripts' --mode C is."""
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pytensor  # noqa: E402

from toolkit import blas  # noqa: E402

blas.link_pytensor()
pytensor.config.mode = "CVM"
