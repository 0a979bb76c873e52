"""Can --mode C run on this machine, and how is its C built?

--mode C needs a C++ compiler (PyTensor's `cxx`), a BLAS that links (the
scipy-openblas32 wheel, blas.py) and the project's kernels (c/) compiling with
them; OpenMP is a bonus (without it the kernels run on one core). A slim Python
container, Windows without MinGW or a Mac without the Command Line Tools have no
compiler at all, and Apple's clang has no -fopenmp.

This module finds each piece by compiling (and running) small programs;
backends.c_verdict() puts them together and compiles the kernels themselves. A
failed compile is slow, so answers are kept once per machine in PyTensor's
compile folder (~/.pytensor), keyed by everything they depend on: the compiler
and its version, the flags, the Python and PyTensor versions and the kernels' C.
Only a definite answer is kept: a compile that succeeded, or failed with the
compiler's error. One that gave none (a timeout, the compiler killed for lack of
memory or not started) raises Unsure and is asked again next run. Flags are lists
from end to end, so a folder with a space in its name stays one argument.
Nothing here runs on import.
"""
import contextlib
import functools
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import fcntl  # POSIX: the lock around the file of answers
except ImportError:  # Windows
    fcntl = None

from toolkit import blas
from toolkit.files import write_json

HERE = Path(__file__).parent
NO_COMPILER = "no C++ compiler found (PyTensor's cxx is empty)"
COMPILER_REMEDY = ("install g++ (Linux), the Xcode Command Line Tools (macOS) or conda's "
                   "gxx (Windows) for --mode C")
BLAS_REMEDY = "pip install scipy-openblas32 (it is in requirements.txt) for --mode C"
BLAS_LINK_REMEDY = ("pip install --force-reinstall scipy-openblas32, or set PYTENSOR_FLAGS="
                    "blas__ldflags to a BLAS that links, for --mode C")
UNSURE_REMEDY = "run again to check once more (nothing of this check was kept)"

# What gcc and clang print when the program under them was killed (by the
# out-of-memory killer, say): the compiler gave no verdict on the code.
KILLED_WORDS = ("signal terminated program", "due to signal", "command: Killed")
STOPPED = (-9, -15)  # the return codes of a program killed or told to stop (POSIX)

BLAS_TEST = r"""
extern "C" void sgemm_(const char *, const char *, const int *, const int *, const int *,
                       const float *, const float *, const int *, const float *, const int *,
                       const float *, float *, const int *);
int main(void) {
    float a[4] = {1, 2, 3, 4}, b[4] = {0, 1, 1, 0}, c[4] = {0, 0, 0, 0};
    const int n = 2;
    const float one = 1, zero = 0;
    sgemm_("N", "N", &n, &n, &n, &one, a, &n, b, &n, &zero, c, &n);
    return !(c[0] == 3 && c[1] == 4 && c[2] == 1 && c[3] == 2);
}
"""

OPENMP_TEST = r"""
#include <omp.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+:n)
    n += 1;
    return !(n >= 1 && omp_get_max_threads() >= 1);
}
"""


def compiler():
    import pytensor
    return pytensor.config.cxx


def first_line(text):
    """The line of a compiler's or linker's output that says what went wrong."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    telling = [line for line in lines if "collect2" not in line and any(
        word in line.lower() for word in ("error", "cannot find", "undefined", "not found"))]
    return (telling or lines or ["no message"])[0][:200]


class Unsure(RuntimeError):
    """A check that gave no answer this time; nothing of it is kept."""


def killed(output):
    """Whether a compiler's output says the compiler itself was killed."""
    return any(words in str(output) for words in KILLED_WORDS)


def run_to_the_end(command, **kwargs):
    """subprocess.run(command), which must end by itself: Unsure where it timed out,
    was killed or could not start."""
    name = Path(command[0]).name
    try:
        done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    except subprocess.TimeoutExpired as e:
        raise Unsure(f"{name} did not finish in {e.timeout} s") from None
    except OSError as e:
        raise Unsure(f"{name} could not start ({e.strerror or e})") from None
    if done.returncode in STOPPED or killed(done.stderr):
        raise Unsure(f"{name} was killed (exit {done.returncode}: {first_line(done.stderr)})")
    return done


def try_program(source, flags=(), library_path=None):
    """Compile source (C++) with this machine's compiler and a list of flags, and run
    it: (True, '') or (False, the first line of what went wrong). Unsure where the
    compiler or the program gave no answer."""
    with tempfile.TemporaryDirectory() as tmp:
        src, exe = Path(tmp) / "check.cpp", Path(tmp) / "check"
        src.write_text(source)
        built = run_to_the_end([compiler(), str(src), "-o", str(exe), *flags], timeout=120)
        if built.returncode != 0:
            return False, first_line(built.stderr or built.stdout)
        env = dict(os.environ)
        if library_path:  # where the linker took no -rpath
            for name in ("LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH", "PATH"):
                env[name] = os.pathsep.join(filter(None, [library_path, env.get(name)]))
        ran = run_to_the_end([str(exe)], env=env, timeout=60)
        if ran.returncode != 0:
            return False, f"a test program built but failed to run ({first_line(ran.stderr)})"
        return True, ""


def openmp_candidates(system, libomp_prefixes=()):
    """The flag sets that may turn OpenMP on, in the order to try them: -fopenmp
    (gcc, MinGW's g++, LLVM's clang); on a Mac, Apple's clang takes it only through
    the preprocessor, with a libomp from Homebrew or conda."""
    candidates = [("-fopenmp",)]
    if system == "Darwin":
        candidates += [("-Xpreprocessor", "-fopenmp", f"-I{prefix}/include", f"-L{prefix}/lib",
                        "-lomp") for prefix in libomp_prefixes]
    return candidates


def libomp_prefixes():
    """Folders holding a libomp, where a Mac keeps one."""
    candidates = ["/opt/homebrew/opt/libomp", "/usr/local/opt/libomp",
                  os.environ.get("CONDA_PREFIX", "")]
    return [p for p in candidates if p and (Path(p) / "include" / "omp.h").exists()]


def blas_candidates(system):
    """The BLAS flags (lists) to try, in order: the user's own blas__ldflags, else
    scipy-openblas32 with -Wl,-rpath where the platform's linker may take it, then
    without."""
    if blas.user_configured_blas():
        return [blas.users_flags()]
    if blas.wheel() is None:
        return []
    if system == "Windows":
        return [blas.openblas_flags(rpath=False)]
    return [blas.openblas_flags(rpath=True), blas.openblas_flags(rpath=False)]


def sources_digest():
    """A hash of the kernels' C, of the Python that generates the rest of it, and of
    the checks themselves."""
    files = sorted((HERE / "c").iterdir()) + [HERE / name for name in (
        "ckernel.py", "ops.py", "c_rewrites.py", "toolchain.py", "backends.py", "blas.py")]
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:16]


@functools.cache
def compiler_version(cxx):
    """The first line of `cxx --version`: a compiler upgraded in place is another one."""
    try:
        out = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=30)
        return first_line(out.stdout or out.stderr)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"no version ({e})"


def cache_path():
    import pytensor
    return Path(pytensor.config.compiledir) / "toolkit_toolchain.json"


def cache_key(kind):
    """A hash of everything an answer of this kind depends on."""
    import pytensor
    users_blas = pytensor.config.blas__ldflags if blas.user_configured_blas() else None
    return hashlib.sha256(json.dumps([
        kind, sys.version, platform.platform(), pytensor.__version__, compiler(),
        compiler_version(compiler()), pytensor.config.gcc__cxxflags, users_blas,
        blas.openblas_flags(), sources_digest()]).encode()).hexdigest()


def cached(kind, compute, valid=lambda answer: True, note=None):
    """compute(), kept in cache_path() under cache_key(kind). A kept answer is used
    where valid(answer) says it has the right shape; a damaged one is asked again
    and rewritten. Where compute() raises Unsure, nothing is kept. A note, if any,
    says on stderr what is checked before a check that takes seconds."""
    key = cache_key(kind)
    answers = read_answers(cache_path())
    if key in answers and valid(answers[key]):
        return answers[key]
    if note:
        from toolkit import compiling
        compiling.say(f"{note} (once: the answer is kept in {cache_path()})")
    answer = compute()
    keep(key, answer)
    return answer


def read_answers(path):
    """The answers kept at path, by key: {} where there is no file, or it is damaged
    (not JSON, or JSON that is not an object)."""
    try:
        answers = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return answers if isinstance(answers, dict) else {}


def keep(key, answer):
    """Add one answer to the file, read again and rewritten under a lock, so that
    runs checking at the same time keep each other's answers. Where the file cannot
    be written (a read-only home), the check is simply asked again next run."""
    path = cache_path()
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        with locked(path.with_name(path.name + ".lock")):
            answers = read_answers(path)
            answers[key] = answer
            write_json(path, answers)


@contextlib.contextmanager
def locked(lock_path):
    """Hold lock_path's exclusive lock; closing the file lets it go. Windows has no
    flock: there two runs keeping answers at the same moment may lose one, which is
    only asked again next run."""
    with open(lock_path, "a") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def is_flag_list(answer):
    return isinstance(answer, list) and all(isinstance(flag, str) for flag in answer)


@functools.cache
def openmp_flags():
    """The flags that compile and run an OpenMP program here; () if none does (or,
    for this run only, if the compiler gave no answer)."""
    if not compiler():
        return ()

    def find():
        for flags in openmp_candidates(platform.system(), libomp_prefixes()):
            if try_program(OPENMP_TEST, flags)[0]:
                return list(flags)
        return []
    try:
        return tuple(cached("openmp", find, valid=is_flag_list))
    except Unsure:
        return ()


def link_blas():
    """The first of blas_candidates() that links and computes a product here:
    (flags, '', '') or (None, why not, what to do)."""
    try:
        candidates = blas_candidates(platform.system())
    except ValueError as e:  # the user's blas__ldflags, unbalanced quotes say
        return None, f"PyTensor's blas__ldflags cannot be read ({e})", BLAS_LINK_REMEDY
    if not candidates:
        return None, "no BLAS for PyTensor's C code (scipy-openblas32 is not installed)", \
            BLAS_REMEDY
    library_path = blas.wheel().get_lib_dir() if blas.wheel() is not None else None
    why = ""
    for flags in candidates:
        ok, why = try_program(BLAS_TEST, flags, library_path=library_path)
        if ok:
            return flags, "", ""
    return None, f"the BLAS does not link ({why})", BLAS_LINK_REMEDY
