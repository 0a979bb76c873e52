"""What the tests share: the repository's root, running a script as a user does (a
subprocess), and running one inside the test process as a notebook does."""
import contextlib
import copy
import functools
import io
import os
import queue
import re
import runpy
import signal
import subprocess
import sys
import threading
import time

import pytensor

from toolkit import ROOT  # noqa: F401  (the tests' one root, as everyone's)


def run(script, *args, check=True, timeout=600, env=None):
    """Run `script` with these arguments from the root, as a user would."""
    result = subprocess.run([sys.executable, str(ROOT / script), *map(str, args)], cwd=ROOT,
                            capture_output=True, text=True, timeout=timeout, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"{script} failed:\n{result.stdout}\n{result.stderr}")
    return result


def accuracies(stdout):
    """The test accuracies a script printed, one per epoch."""
    return [float(a) for a in re.findall(r"test accuracy (\d\.\d+)", stdout)]


@functools.cache
def _ran(script, *args):
    saved = sys.argv, pytensor.config.floatX
    sys.argv = [script, *map(str, args)]
    try:
        with contextlib.redirect_stdout(io.StringIO()) as out:
            namespace = runpy.run_path(str(ROOT / script), run_name="__main__")
    finally:
        sys.argv, pytensor.config.floatX = saved
    namespace["printed"] = out.getvalue()
    # every variable its train function updates (weights, RMSprop's sums, generators)
    state = [i.variable for i in namespace["train"].maker.inputs if i.shared]
    return namespace, [(v, copy.deepcopy(v.get_value(borrow=True))) for v in state]


def run_script(script, *args):
    """The globals of `script` after it ran with these command-line arguments (run
    once per argument list), with every shared variable its train function updates
    set back to its value at the end of that run: a test may train or move them,
    and the next test starts from the same place."""
    namespace, state = _ran(script, *args)
    for variable, value in state:
        variable.set_value(copy.deepcopy(value))
    return namespace


def err_lines(stderr):
    """The lines of a run's stderr less the first run's notes on what it checks and
    compiles (toolkit.compiling.is_note): what the run says on a warm cache too."""
    from toolkit import compiling
    return [line for line in stderr.strip().splitlines() if not compiling.is_note(line)]


def one_line(result):
    """The one stderr line of a run refused before any work: exit 2, nothing trained."""
    assert result.returncode == 2, result.stdout + result.stderr
    lines = err_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert "epoch " not in result.stdout, result.stdout
    return lines[0]


def names(line, *words):
    """The line names each of these words (what a message must say, not its wording)."""
    missing = [w for w in map(str, words) if w not in line]
    assert not missing, f"{line!r} does not name {missing}"


def default_sigint():
    """A child started from a background shell ignores SIGINT; Python turns SIGINT
    into KeyboardInterrupt only where the default disposition was inherited.
    For Popen(preexec_fn=...)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# Every child a test starts with start(): conftest kills and reaps what is left of
# them when the test ends, however it ended.
CHILDREN = []


def start(args, **popen):
    """A child process (subprocess.Popen's arguments, run from the root), killed and
    reaped when the test ends if it has not ended by then."""
    proc = subprocess.Popen(args, cwd=ROOT, **popen)
    CHILDREN.append(proc)
    return proc


def reap_children():
    """Kill every child start() made that still runs, and wait for each."""
    while CHILDREN:
        proc = CHILDREN.pop()
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=60)


def living_children():
    """The processes whose parent is this one (Linux's /proc; [] where there is none)."""
    found = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[1]) == os.getpid():  # state, parent
            found.append(int(entry))
    return found


def wait_for_line(proc, pattern, timeout=600):
    """Read the child's stdout until a line matches; that line. Fails, killing the
    child, if no such line comes within `timeout` seconds (a child gone silent)."""
    lines = queue.Queue()

    def read():
        for line in proc.stdout:
            if re.match(pattern, line):
                lines.put(line)
                return
        lines.put(None)
    threading.Thread(target=read, daemon=True).start()
    try:
        line = lines.get(timeout=timeout)
    except queue.Empty:
        proc.kill()
        raise AssertionError(f"no line {pattern!r} from the child in {timeout} s") from None
    if line is None:
        proc.wait(timeout=60)
        raise AssertionError(f"the child ended (exit {proc.returncode}) before printing "
                             f"{pattern!r}")
    return line


def wait_for_file(path, proc, timeout=120):
    """Until `path` exists (written whole: files.write_atomic renames it into place)."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"the child ended (exit {proc.returncode}) before {path}"
        assert time.monotonic() < deadline, f"no {path} after {timeout} s"
        time.sleep(0.01)  # polling for the file, not a guess at how long anything takes


def blank_mnist(folder):
    """A data folder in MNIST's layout, all of its images black and its labels 0: it
    passes the command line's check of the data (and would train on nothing), so a
    run refused for its backend stops before any data is loaded."""
    import gzip
    import math

    from toolkit.mnist_files import FILES
    folder.mkdir(exist_ok=True)
    for key, name in FILES.items():
        n = 60000 if key.startswith("train") else 10000
        dims = (n, 28, 28) if key.endswith("images") else (n,)
        header = bytes([0, 0, 0x08, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)
        (folder / (name + ".gz")).write_bytes(
            gzip.compress(header + bytes(math.prod(dims)), compresslevel=1))
    return folder


def learned_slope(stdout):
    """The slope that 1_linear_regression.py printed it learned."""
    return float(re.search(r"^learned slope w = (\S+)$", stdout, re.M)[1])
