"""Run a numbered script inside the test process, as a notebook would, and hand back
its globals: the script's own X, Y, cost, params, train and predict."""
import contextlib
import functools
import io
import runpy
import sys
from pathlib import Path

import pytensor

ROOT = Path(__file__).resolve().parent.parent


@functools.cache
def run_script(script, *args):
    """The globals of `script` after it ran with these command-line arguments."""
    saved = sys.argv, sys.excepthook, pytensor.config.floatX
    sys.argv = [script, *map(str, args)]
    try:
        with contextlib.redirect_stdout(io.StringIO()) as out:
            namespace = runpy.run_path(str(ROOT / script), run_name="__main__")
    finally:
        sys.argv, sys.excepthook, pytensor.config.floatX = saved
    namespace["printed"] = out.getvalue()
    return namespace
