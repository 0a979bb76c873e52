"""What the tests share: the repository's root, running a script as a user does (a
subprocess), and running one inside the test process as a notebook does."""
import contextlib
import copy
import functools
import io
import re
import runpy
import subprocess
import sys

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
