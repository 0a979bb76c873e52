"""Where a graph compiles to: --mode C, NUMBA or JAX, on --device cpu or gpu.

Theano had one switch, THEANO_FLAGS=device=cpu|cuda. PyTensor compiles one
graph to several backends instead:

    C      Theano's own backend: C code compiled by gcc, run by its C virtual
           machine, linked to OpenBLAS (blas.py) on one thread, while the conv and
           pool kernels share the cores (OpenMP); plus five rewrites that keep the
           step in C and on every core (c_rewrites.py).
    NUMBA  PyTensor 3's default, compiled by Numba through LLVM.
    JAX    compiled by XLA, for the CPU or, with a CUDA build of jax, a GPU.

Nothing here acts on import; compile_mode() does what a mode needs, once.
"""
import contextlib
import importlib.util
import os
import re
import warnings

MODES = ("C", "NUMBA", "JAX")
DEVICES = ("cpu", "gpu")

CUDA_JAX_INSTALL = 'pip install -r requirements.txt "jax[cuda12]>=0.10,<0.12" (or cuda13)'

# Expected, said at every compile, and harmless here:
EXPECTED_WARNINGS = {
    # ops.py's conv and pool Ops run their numpy code as Python under Numba
    "NUMBA": ["Numba will use object mode to run"],
    # the random generator is copied into the compiled function, shape checks are left
    # to XLA, and 64-bit accumulators and indices (a float64 sum in the cost, argmax's
    # int64) run in 32 bits
    "JAX": ["The RandomType SharedVariables", "Skipping Assert", "Explicitly requested dtype"],
}


# the rewrites of c_rewrites.py that --mode C includes
C_REWRITES = ("inline_softmax", "standard_uniform", "rectify", "mask_where_equal",
              "parallel_dot")


class BackendError(RuntimeError):
    """A mode or device that cannot be used here; the message says what to do."""


def choose(mode=None, device="cpu", default="C"):
    """The mode name for a --mode / --device pair.

    --device gpu means JAX (the only backend here that runs on a GPU); asking for
    it with --mode C or NUMBA is an error. --device cpu runs whichever --mode is
    given, or the script's default, on the CPU.
    """
    if device not in DEVICES:
        raise BackendError(f"--device must be cpu or gpu, got {device!r}")
    if device == "gpu":
        if mode not in (None, "JAX"):
            raise BackendError(f"--mode {mode} runs on the CPU only; --device gpu uses "
                               f"--mode JAX (leave --mode out)")
        return "JAX"
    return mode or default


def compile_mode(name, device="cpu"):
    """The pytensor Mode behind a --mode name, set up for the device."""
    if name == "C":
        return c_mode()
    if name == "NUMBA":
        from pytensor.link.numba.linker import NumbaLinker
        return mode_with(quiet_linker(NumbaLinker, EXPECTED_WARNINGS["NUMBA"]), "numba")
    if name == "JAX":
        setup_jax(device)
        from pytensor.link.jax.linker import JAXLinker

        from toolkit import ops_jax
        ops_jax.register()
        return mode_with(quiet_linker(JAXLinker, EXPECTED_WARNINGS["JAX"]), "jax")
    raise BackendError(f"--mode must be one of {', '.join(MODES)}, got {name!r}")


def c_mode():
    from pytensor.compile import optdb
    from pytensor.compile.mode import Mode
    from pytensor.graph.rewriting.basic import dfs_rewriter

    from toolkit import blas, c_rewrites
    blas.link_pytensor()
    blas.one_thread()
    tags = [f"c_{name}" for name in C_REWRITES]
    for name, tag in zip(C_REWRITES, tags):
        if tag not in optdb.__db__:  # once per process, reload or not
            # after fusion (49), before the in-place rewrites (49.5 and later)
            optdb.register(tag, dfs_rewriter(getattr(c_rewrites, name)), position=49.4)
    # cvm_nogc: the C virtual machine keeps each intermediate array between calls, so
    # a training step reuses last step's memory instead of allocating it afresh
    return Mode(linker="cvm_nogc", optimizer="fast_run").including(*tags)


def mode_with(linker, tag):
    from pytensor.compile.mode import Mode
    from pytensor.graph.rewriting.db import RewriteDatabaseQuery
    return Mode(linker, RewriteDatabaseQuery(include=["fast_run", tag]))


def setup_jax(device):
    """JAX on the chosen device, without taking most of a GPU's memory."""
    if importlib.util.find_spec("jax") is None:
        raise BackendError("--mode JAX needs the jax package: pip install -r requirements.txt, "
                           "or choose --mode C or NUMBA")
    # XLA takes 75 % of a GPU's memory at start by default; grow as needed instead,
    # unless the user said otherwise. Read when JAX first meets the GPU, so set early.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    if device == "cpu" and "JAX_PLATFORMS" not in os.environ:
        os.environ["JAX_PLATFORMS"] = "cpu"  # leave any GPU alone
    import jax
    if device == "gpu":
        try:
            gpus = jax.devices("cuda")
        except RuntimeError:
            gpus = []
        if not gpus:
            raise BackendError(f"--device gpu: JAX {jax.__version__} sees no CUDA GPU here "
                               f"(devices: {', '.join(map(str, jax.devices()))}); "
                               f"install a CUDA build of JAX: {CUDA_JAX_INSTALL}")
        jax.config.update("jax_default_device", gpus[0])
    else:
        jax.config.update("jax_default_device", jax.devices("cpu")[0])


def quiet_linker(linker_class, messages):
    """A linker of linker_class that silences the given warnings, and only those,
    while it converts a graph and while the compiled function runs (JAX and Numba
    finish compiling on the first call)."""
    class QuietLinker(linker_class):
        def fgraph_convert(self, *args, **kwargs):
            with expected_warnings(messages):
                return super().fgraph_convert(*args, **kwargs)

        def jit_compile(self, fn):
            compiled = super().jit_compile(fn)

            def run(*args):
                with expected_warnings(messages):
                    return compiled(*args)
            return run
    QuietLinker.__name__ = QuietLinker.__qualname__ = "Quiet" + linker_class.__name__
    return QuietLinker()


@contextlib.contextmanager
def expected_warnings(messages):
    with warnings.catch_warnings():
        for start in messages:
            warnings.filterwarnings("ignore", message=re.escape(start))
        yield


def jax_device(name):
    """The device JAX runs a mode's functions on; None for C and NUMBA."""
    if name != "JAX":
        return None
    import jax
    return jax.config.jax_default_device or jax.devices()[0]


def device_name(name):
    """Where a mode runs its compiled functions: 'cpu', or JAX's device (say gpu:0 (H100))."""
    device = jax_device(name)
    if device is None or device.platform == "cpu":
        return "cpu"
    return f"{device.platform}:{device.id} ({device.device_kind})"


def peak_gpu_memory_mb(name):
    """The peak memory JAX has held on its GPU so far, in MiB; None on a CPU."""
    device = jax_device(name)
    if device is None or device.platform == "cpu":
        return None
    peak = (device.memory_stats() or {}).get("peak_bytes_in_use")
    return None if peak is None else round(peak / 2**20, 1)
