"""The checker's machinery: load a learner's functions, call them so that their
own mistakes show as their own lines, and say what was tried, expected and got.

Each exercise's check is a module here with one function, check(learner, rng),
that raises Wrong at the first case the learner's code gets wrong and otherwise
returns what it tried, in a few words. Every run draws new random cases, so a
printed or hard-coded answer cannot pass twice.
"""
import contextlib
import importlib
import importlib.util
import os
import sys
import traceback
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from exercises import EXERCISES

HERE = Path(__file__).resolve().parent.parent  # exercises/
RIGHT, WRONG, NOT_DONE = 0, 1, 2  # the exit statuses


class NotDone(Exception):
    """A stub still raises NotImplementedError."""


class Wrong(Exception):
    """A case the learner's code gets wrong: what was tried, expected and got, and a hint."""

    def __init__(self, tried, expected, got, hint):
        super().__init__(tried)
        self.lines = [("tried", tried), ("expected", expected), ("got", got), ("hint", hint)]


class Crashed(Exception):
    """The learner's code raised: where (their own file and line) and the message."""

    def __init__(self, tried, where, message, hint=None):
        super().__init__(message)
        hint = hint or "run your code yourself on inputs like these: the error is at its line above"
        self.lines = [("tried", tried), *where, ("error", message), ("hint", hint)]


class Learner:
    """The learner's functions, called by name: `learner.distances(test, train)`."""

    def __init__(self, functions, label, files=()):
        self.functions = functions
        self.label = label  # "exercises/knn.py", or "this notebook"
        # where their code lives: a frame from these files is theirs
        self.files = set(files) | {f.__code__.co_filename for f in functions.values()
                                   if hasattr(f, "__code__")}

    def __getattr__(self, name):
        try:
            return self.__dict__["functions"][name]
        except KeyError:
            raise AttributeError(name) from None

    @contextlib.contextmanager
    def running(self, tried, hint=None):
        """Run the learner's code: NotImplementedError from their own line is a
        stub (NotDone), any other exception is shown at their line (Crashed)."""
        pytensor = sys.modules.get("pytensor")  # imported by the checks that need it
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings(), (
                    pytensor.config.change_flags(exception_verbosity="medium") if pytensor
                    else contextlib.nullcontext()):  # medium: where a failing node was built
                warnings.simplefilter("ignore")  # overflow is for the checks to find
                yield
        except (Wrong, NotDone, Crashed):
            raise
        except Exception as e:
            raise self.crashed(e, tried, hint) from None

    def crashed(self, e, tried, hint=None):
        frames = traceback.extract_tb(e.__traceback__)
        if isinstance(e, NotImplementedError) and frames and frames[-1].filename in self.files:
            return NotDone(f"{frames[-1].name} still raises NotImplementedError")
        # an error inside a compiled graph: PyTensor keeps where its node was built
        frames = list(frames) + built_at(e)
        theirs = [f for f in frames if f.filename in self.files]
        return Crashed(tried, where(theirs[-1]) if theirs else [], message(e), hint)


    @contextlib.contextmanager
    def watching(self):
        """While the block runs: how often each line of theirs ran (a loop repeats
        one), and every Python function called, as (file, name)."""
        seen = {"lines": Counter(), "calls": set()}

        def trace(frame, event, arg):
            code = frame.f_code
            seen["calls"].add((code.co_filename, code.co_name))
            if code.co_filename not in self.files:
                return None
            seen["lines"][code.co_filename, frame.f_lineno] += 1
            return trace
        before = sys.gettrace()
        sys.settrace(trace)
        try:
            yield seen
        finally:
            sys.settrace(before)


def function(inputs, outputs, updates=None):
    """A graph compiled as written: the Python linker and no rewrites, so that
    PyTensor fixes nothing of theirs (it would make an overflowing softmax stable)."""
    import pytensor
    from pytensor.compile.mode import Mode
    return pytensor.function(inputs, outputs, updates=updates, on_unused_input="ignore",
                             mode=Mode(linker="py", optimizer=None))


def symbolic(value, tried, what):
    """Wrong unless `value` is a PyTensor expression."""
    from pytensor.graph.basic import Variable
    if not isinstance(value, Variable):
        raise Wrong(tried, f"{what} as a PyTensor expression", f"a {type(value).__name__}",
                    "build it from the symbolic inputs with PyTensor's operations (T.exp, "
                    "T.mean, ...): numpy cannot compute on symbols")
    return value


def built_at(e):
    """Where the node that raised inside a compiled graph was built: PyTensor keeps
    that trace on the node (a list of stacks of (file, line, function, text))."""
    frames = []
    trace = getattr(e, "__thunk_trace__", None) or getattr(e.__context__, "__thunk_trace__", None)
    for stack in trace or []:  # (medium verbosity raises a new exception from the first)
        for f in stack if isinstance(stack, list) else [stack]:
            frames.append(f if isinstance(f, traceback.FrameSummary)
                          else traceback.FrameSummary(f[0], f[1], f[2], line=f[3]))
    return frames


def where(frame):
    """Their file, line and function, and the line itself."""
    at = f"{shown_path(frame.filename)}, line {frame.lineno}, in {frame.name}"
    return [("at", at)] + ([("", frame.line.strip())] if frame.line else [])


def message(e):
    """The exception's own first lines, without PyTensor's long account of the graph."""
    text = str(e).split("\nApply node that caused the error")[0].split("\nHINT:")[0]
    lines = [line for line in text.strip().splitlines() if line.strip()][:3]
    return f"{type(e).__name__}: {' / '.join(lines)}" if lines else type(e).__name__


def shown_path(filename):
    """A path relative to the current folder where it is inside it."""
    if not os.path.isfile(filename):
        return "this notebook"
    try:
        return str(Path(filename).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return filename


def load_file(path, names):
    """The learner's file run as a module (its `if __name__ == "__main__":` cells
    do not run); its functions `names`."""
    path = Path(path).resolve()
    spec = importlib.util.spec_from_file_location(f"learners_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        at = [("at", f"{shown_path(str(path))}, line {e.lineno}")]
        raise Crashed("reading the file", at + ([("", e.text.strip())] if e.text else []),
                      f"SyntaxError: {e.msg}") from None
    except Exception as e:
        raise Learner({}, "", files=[str(path)]).crashed(e, "reading the file") from None
    return {n: getattr(module, n) for n in names if callable(getattr(module, n, None))}


def learner_for(name, file=None, namespace=None):
    """The functions to check: those `namespace` defines where it defines all of
    them (a notebook's), else the file's."""
    names = EXERCISES[name][1]
    if namespace is not None and all(callable(namespace.get(n)) for n in names):
        functions = {n: namespace[n] for n in names}
        return Learner(functions, shown_path(functions[names[0]].__code__.co_filename))
    path = Path(file) if file else HERE / f"{name}.py"
    functions = load_file(path, names)
    missing = [n for n in names if n not in functions]
    if missing:
        raise Wrong(f"reading {shown_path(str(path.resolve()))}",
                    f"a function {' and '.join(missing)}", "none by that name",
                    "keep the names and arguments of the exercise's stubs: the checker calls them")
    return Learner(functions, shown_path(str(path.resolve())))


def run(name, file=None, namespace=None):
    """(exit status, text): the verdict on exercise `name`."""
    if file is not None and not Path(file).is_file():
        return NOT_DONE, f"{name}: no file {file}"
    label = shown_path(str(Path(file).resolve())) if file else None
    try:
        learner = learner_for(name, file, namespace)
        label = learner.label
        check = importlib.import_module(f"exercises.checks.{name}").check
        passed = check(learner, np.random.default_rng())
    except NotDone as e:
        return NOT_DONE, (f"{name}: not done yet ({label or f'exercises/{name}.py'}): {e}; "
                          f"write it, then check again")
    except (Wrong, Crashed) as e:
        heading = "wrong" if isinstance(e, Wrong) else "your code raised an error"
        return WRONG, "\n".join([f"{name}: {heading} ({label})"] + [
            f"  {key + ':' if key else '':10}{value}" for key, value in e.lines])
    return RIGHT, f"{name}: right ({label}): {passed}"
