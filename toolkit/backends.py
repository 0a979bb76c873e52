"""Where a graph compiles to: --mode C, NUMBA or JAX, on --device cpu or gpu.

Theano had one switch, THEANO_FLAGS=device=cpu|cuda. PyTensor compiles one
graph to several backends instead:

    C      Theano's own backend: C code compiled by a C++ compiler, run by its C virtual
           machine, linked to OpenBLAS (blas.py) on one thread, while the conv and
           pool kernels share the cores (OpenMP); plus the rewrites that keep the
           step in C and on every core (c_rewrites.py).
    NUMBA  PyTensor 3's default, compiled by Numba through LLVM.
    JAX    compiled by XLA, for the CPU or, with a CUDA build of jax, a GPU.

A script calls `mode = backends.prepare(args)` after parsing its command line and
before loading any data. Its default is the fastest backend that works on this
machine: its own choice (the `mode=` of its parse_args call) where that can run
here, else C, JAX, NUMBA in that order. What C needs (a compiler, a BLAS, the
kernels compiling) is checked once per machine (c_verdict, with toolchain.py). A
fallback says why in one line; an explicit --mode that cannot run here is a
one-line error.

Nothing here acts on import; prepare() (through compile_mode) does what a mode
needs: links the BLAS, sets its threads, registers --mode C's rewrites. (The
project's Ops need nothing more: importing toolkit.ops has PyTensor find their
Numba and JAX versions on its own.)
"""
import contextlib
import functools
import importlib.util
import io
import os
import re
import sys
import warnings
from dataclasses import asdict, dataclass

MODES = ("C", "NUMBA", "JAX")
FALLBACKS = ("C", "JAX", "NUMBA")  # fastest first, on a CPU (docs/backends.md)
DEVICES = ("cpu", "gpu")

CUDA_JAX_INSTALL = 'pip install -r requirements.txt "jax[cuda12]>=0.10,<0.12" (or cuda13)'

# Expected, said at every compile, and harmless here:
EXPECTED_WARNINGS = {
    "NUMBA": [],
    # the random generator is copied into the compiled function, shape checks are left
    # to XLA, and 64-bit accumulators and indices (a float64 sum in the cost, argmax's
    # int64) run in 32 bits
    "JAX": ["The RandomType SharedVariables", "Skipping Assert", "Explicitly requested dtype"],
}


class BackendError(RuntimeError):
    """A mode or device that cannot be used here; the message says what to do."""


class Missing(BackendError):
    """What a mode lacks on this machine (why) and what to do about it (remedy)."""

    def __init__(self, why, remedy):
        super().__init__(f"{why}; {remedy}")
        self.why, self.remedy = why, remedy


def has_module(name):
    """Whether `name` can be imported here (a package hidden from import is missing)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def check_settings(prog=None):
    """PyTensor's own settings, checked: the scripts call this before their `import
    pytensor`, because PyTensor reads PYTENSOR_FLAGS and .pytensorrc as it is
    imported, and a setting it cannot use (a mode it does not know, a compile folder
    it cannot make, a home folder it cannot write) is a traceback there. Here it is
    one line naming the setting and what to do (exit 2; raises in a notebook), after
    `prog` (the script's name unless given)."""
    from toolkit.notebook import stop
    try:
        import pytensor
        pytensor.config.compiledir  # made on first use: a read-only home fails here
    except ModuleNotFoundError as e:
        stop(SettingsError(f"{e.name} is not installed here: pip install -r requirements.txt"),
             prog)
    except Exception as e:  # noqa: BLE001 - whatever PyTensor's settings raise
        stop(SettingsError(settings_problem(e)), prog)


class SettingsError(ValueError):
    """A PyTensor setting it cannot start with; the message names it."""


def settings_problem(error):
    """One line for PyTensor's failure to start: the setting it names (found in the
    traceback: PyTensor checks each in a `_filter_<setting>` function), where such
    settings come from, and what to do."""
    setting, tb = None, error.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_name
        if name.startswith("_filter_"):
            setting = name[len("_filter_"):]
        tb = tb.tb_next
    said = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
    sources = "PYTENSOR_FLAGS=" + repr(os.environ.get("PYTENSOR_FLAGS", ""))
    if os.environ.get("PYTENSORRC"):
        sources += ", PYTENSORRC=" + repr(os.environ["PYTENSORRC"])
    if setting in ("compiledir", "base_compiledir"):
        return (f"PyTensor cannot make its compile folder, the setting {setting} "
                f"({said}); give it a folder you can write: HOME=... or "
                f"PYTENSOR_FLAGS=base_compiledir=/tmp/pytensor (now {sources})")
    if setting == "mode":
        asked = re.search(r"Instead got: (.*?)\.?$", said)
        asked = f"mode={asked.group(1)}" if asked else "its mode"
        return (f"PyTensor's setting {asked} names no mode it has; use "
                f"PYTENSOR_FLAGS=mode=C, CVM, NUMBA or JAX, or unset it (now {sources})")
    what = f"the setting {setting}" if setting else "its settings"
    return (f"PyTensor cannot start with {what}: {said}; correct or unset it "
            f"(now {sources}, and ~/.pytensorrc if there is one)")


def prepare(args):
    """The backend for a script's --mode and --device, chosen and set up: the
    PyTensor Mode its pytensor.function calls take. Prints a one-line note where it
    falls back from the script's default; a mode that cannot run here ends the run
    with one line (exit 2; raises in a notebook). Call it before loading any data."""
    from toolkit.notebook import stop
    # RandomStream, Theano's srng, which the scripts keep as on the slides, warns on
    # creation that PyTensor 3 prefers numpy-style generators: not the learner's concern
    warnings.filterwarnings("ignore", "RandomStream is deprecated", FutureWarning)
    try:
        name, note = choose(args.mode, args.device, default=args.default_mode)
        if note:
            print(f"note: {note}", file=sys.stderr, flush=True)
        return compile_mode(name, args.device)
    except BackendError as e:
        stop(e, args.script)


def choose(mode=None, device="cpu", default="C"):
    """The mode name for a --mode / --device pair, and a note (None or one line) to
    show the user.

    --device gpu means JAX (the only backend here that runs on a GPU); asking for
    it with --mode C or NUMBA is an error. --device cpu runs the --mode given, which
    must be able to run here, or else the script's default if it can, or the
    first of C, JAX, NUMBA that can, with a note saying why.
    """
    if device not in DEVICES:
        raise BackendError(f"--device must be cpu or gpu, got {device!r}")
    if device == "gpu":
        if mode not in (None, "JAX"):
            raise BackendError(f"--mode {mode} runs on the CPU only; --device gpu uses "
                               f"--mode JAX (leave --mode out)")
        mode = "JAX"
    if mode is not None:
        require_asked(mode)
        return mode, one_core_note(mode)
    try:
        require(default)
        return default, one_core_note(default)
    except Missing as e:
        default_missing = e
    for other in [m for m in FALLBACKS if m != default]:
        if can_run(other):
            return other, (f"{default_missing.why}: using --mode {other}; "
                           f"{default_missing.remedy}")
    raise BackendError(f"no backend can run here: {default_missing}")


def require(name):
    """Nothing if mode `name` can run here; else Missing (what is missing, what to do)."""
    if name == "C":
        verdict = c_verdict()
        if not verdict.ok:
            raise Missing(verdict.reason, verdict.remedy)
    elif name == "JAX" and not has_module("jax"):
        raise Missing("jax is not installed", "pip install -r requirements.txt for --mode JAX")
    elif name == "NUMBA" and not has_module("numba"):
        raise Missing("numba is not installed", "pip install numba for --mode NUMBA")


def require_asked(name):
    """require(), for a --mode the user asked for: BackendError naming the flag."""
    try:
        require(name)
    except Missing as e:
        raise BackendError(f"--mode {name} cannot run here: {e}") from None


def can_run(name):
    try:
        require(name)
    except Missing:
        return False
    return True


def mode_name(function):
    """C, NUMBA or JAX: the backend a compiled pytensor function runs on."""
    from pytensor.link.jax.linker import JAXLinker
    from pytensor.link.numba.linker import NumbaLinker
    linker = function.maker.linker
    if isinstance(linker, JAXLinker):
        return "JAX"
    if isinstance(linker, NumbaLinker):
        return "NUMBA"
    return "C"


def one_core_note(name):
    from toolkit import toolchain
    if name == "C" and not toolchain.openmp_flags():
        return ("the C++ compiler has no OpenMP: --mode C runs its kernels on one core; "
                "a compiler with OpenMP (gcc, or libomp on a Mac) uses every core")
    return None


@dataclass(frozen=True)
class Verdict:
    """Whether --mode C can run here; if not, why not and what to install."""
    ok: bool
    reason: str = ""          # what is missing, for a one-line message
    remedy: str = ""          # what to install or do about it
    blas_flags: tuple = ()    # the BLAS flags that linked, one argument each


VERDICT_FIELDS = {"ok": bool, "reason": str, "remedy": str, "blas_flags": list}


@functools.cache
def c_verdict():
    """Whether --mode C can run here (a Verdict), checked once per machine: the
    compiler, the BLAS, then the project's kernels compiled and run (OpenMP is
    toolchain.openmp_flags(), asked apart: without it C still runs, on one core).
    A check that gave no answer (toolchain.Unsure) says so, for this run only."""
    from toolkit import toolchain
    if not toolchain.compiler():
        return Verdict(False, toolchain.NO_COMPILER, toolchain.COMPILER_REMEDY)
    try:
        answer = toolchain.cached("c", lambda: as_answer(check_c()), valid=is_verdict,
                                  note="checking that the C backend builds and runs here")
    except toolchain.Unsure as e:
        return Verdict(False, f"the C toolchain could not be checked this time ({e})",
                       toolchain.UNSURE_REMEDY)
    return Verdict(**{**answer, "blas_flags": tuple(answer["blas_flags"])})


def as_answer(verdict):
    """A Verdict as the file of answers keeps it (JSON: the flags as a list)."""
    return {**asdict(verdict), "blas_flags": list(verdict.blas_flags)}


def is_verdict(answer):
    """Whether a kept answer has a Verdict's fields, of their types (a damaged one
    does not)."""
    return (isinstance(answer, dict) and answer.keys() == VERDICT_FIELDS.keys()
            and all(isinstance(answer[k], kind) for k, kind in VERDICT_FIELDS.items())
            and all(isinstance(flag, str) for flag in answer["blas_flags"]))


def check_c():
    from toolkit import toolchain
    ok, why = toolchain.try_program("int main(void) { return 0; }")
    if not ok:
        return Verdict(False, f"the C++ compiler {toolchain.compiler()} cannot build a test "
                              f"program ({why})", toolchain.COMPILER_REMEDY)
    blas_flags, why, remedy = toolchain.link_blas()
    if blas_flags is None:
        return Verdict(False, why, remedy)
    try:
        check_kernels(blas_flags)
    except KernelError as e:
        return Verdict(False, f"the project's C kernels do not build with "
                              f"{toolchain.compiler()} ({e})",
                       "--mode JAX and NUMBA need no compiler; please report it, with the "
                       "compiler's version")
    return Verdict(True, blas_flags=tuple(blas_flags))


class KernelError(RuntimeError):
    """The project's C kernels did not compile, or computed wrong numbers."""


def check_kernels(blas_flags):
    """Compile the conv (im2col and Winograd), fused rectify-pool and matrix-product
    kernels through --mode C and compare them with their numpy versions; KernelError
    says what went wrong, toolchain.Unsure that the compile gave no answer (out of
    memory or disk)."""
    import numpy as np
    import pytensor
    from pytensor import tensor as T

    from toolkit import toolchain
    from toolkit.ops import conv2d, max_pool_2d
    X, W, A, Y, V = T.ftensor4(), T.ftensor4(), T.fmatrix(), T.ftensor4(), T.ftensor4()
    outputs = [max_pool_2d(T.maximum(conv2d(X, W, border_mode="full"), 0.), (2, 2)),
               T.dot(A, A), conv2d(Y, V)]  # 8 channels: the Winograd path (c/winograd.c)
    rng = np.random.default_rng(0)
    values = [rng.standard_normal(s).astype("float32")
              for s in [(2, 1, 6, 6), (3, 1, 3, 3), (40, 40), (2, 8, 15, 15), (8, 8, 3, 3)]]
    inputs = [X, W, A, Y, V]
    try:  # PyTensor prints where it left the C of a failed compile: not here
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            got = pytensor.function(inputs, outputs, mode=c_mode(blas_flags))(*values)
            expected = pytensor.function(inputs, outputs, mode="FAST_COMPILE")(*values)
    except Exception as e:  # a failed compile raises one of several kinds
        why = toolchain.first_line(e)
        if isinstance(e, (OSError, MemoryError)) or toolchain.killed(e):
            raise toolchain.Unsure(f"compiling the kernels gave no answer ({why})") from None
        raise KernelError(why) from None
    if not all(np.allclose(g, e, rtol=1e-4, atol=1e-4) for g, e in zip(got, expected)):
        raise KernelError("they built but computed wrong numbers")


def compile_mode(name, device="cpu"):
    """The pytensor Mode behind a --mode name, set up for the device."""
    if name not in MODES:
        raise BackendError(f"--mode must be one of {', '.join(MODES)}, got {name!r}")
    require_asked(name)
    if name == "C":
        return c_mode(c_verdict().blas_flags)
    if name == "NUMBA":
        from pytensor.link.numba.linker import NumbaLinker
        return mode_with(quiet_linker(NumbaLinker, EXPECTED_WARNINGS["NUMBA"]), "numba")
    if name == "JAX":
        setup_jax(device)
        from pytensor.link.jax.linker import JAXLinker
        return mode_with(quiet_linker(JAXLinker, EXPECTED_WARNINGS["JAX"]), "jax")


def c_mode(blas_flags):
    """PyTensor's C backend linked to the BLAS of blas_flags (a list), with the
    rewrites of c_rewrites.py (registered once per process)."""
    from pytensor.compile import optdb
    from pytensor.compile.mode import Mode
    from pytensor.graph.rewriting.basic import dfs_rewriter

    from toolkit import blas, c_rewrites, compiling
    blas.link_pytensor(blas_flags)
    blas.one_thread()
    for tag, rewrite in c_rewrites.REWRITES.items():
        if tag not in optdb.__db__:  # once per process, reload or not
            optdb.register(tag, dfs_rewriter(rewrite), position=c_rewrites.POSITIONS[tag])
    # PyTensor's cvm_nogc: the C virtual machine keeps each intermediate array between
    # calls, so a training step reuses last step's memory instead of allocating it
    # afresh; compiling.linker() compiles a new graph's C modules on every core first
    return Mode(linker=compiling.linker(), optimizer="fast_run").including(*c_rewrites.REWRITES)


def mode_with(linker, tag):
    from pytensor.compile.mode import Mode
    from pytensor.graph.rewriting.db import RewriteDatabaseQuery
    return Mode(linker, RewriteDatabaseQuery(include=["fast_run", tag]))


def setup_jax(device):
    """JAX on the chosen device, without taking most of a GPU's memory."""
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
