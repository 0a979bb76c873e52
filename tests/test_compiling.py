"""The cold start (toolkit/compiling.py): a graph's missing C modules are compiled
side by side before PyTensor asks for them, after one line that says so; a warm
run says nothing; whatever cannot be built that way PyTensor compiles itself.

Each run is a child process with a cache folder of its own (empty: a learner's
first run), compiling a small softmax regression with its gradient in --mode C."""
import json
import os
import subprocess
import sys

import pytest

from helpers import ROOT, names
from toolkit import compiling, toolchain

CHILD = """
import json, sys
import numpy as np
import pytensor
from pytensor import tensor as T
from pytensor.link.c.basic import CLinker
from toolkit import backends, compiling, toolchain
{patch}
by_pytensor = []  # the modules PyTensor compiled itself, one at a time
real_compile = CLinker.compile_cmodule
def counted(self, location=None):
    by_pytensor.append(location)
    return real_compile(self, location)
CLinker.compile_cmodule = counted
pytensor.config.floatX = "float32"
X, W = T.fmatrix(), T.fmatrix()
p = T.special.softmax(T.dot(X, W), axis=1)
cost = -T.log(p[:, 0]).mean()
mode = backends.c_mode(toolchain.link_blas()[0])  # the C mode without the machine check
f = pytensor.function([X, W], [p, T.grad(cost, W)], mode=mode)
rng = np.random.default_rng(0)
x, w = rng.standard_normal((5, 3), dtype="float32"), rng.standard_normal((3, 4), dtype="float32")
e = np.exp(x @ w)
expected = e / e.sum(axis=1, keepdims=True)
print(json.dumps({{"by_pytensor": len(by_pytensor),
                   "right": bool(np.allclose(f(x, w)[0], expected, atol=1e-5))}}))
"""


def compile_in_child(cache, patch=""):
    """(what the child printed, its stderr lines) for one compile in cache."""
    env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={cache}"}
    result = subprocess.run([sys.executable, "-c", CHILD.format(patch=patch)], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1]), result.stderr.strip().splitlines()


def test_a_first_run_says_what_it_compiles_then_pytensor_finds_every_module(tmp_path):
    printed, notes = compile_in_child(tmp_path)
    assert printed == {"by_pytensor": 0, "right": True}
    assert len(notes) == 2, notes
    names(notes[0], "compiling", "C modules", "once", str(tmp_path))
    assert int(notes[0].split()[1]) >= 3  # the count, before anything is compiled
    names(notes[1], "compiled in")
    assert all(compiling.is_note(line) for line in notes)


def test_a_warm_run_compiles_nothing_and_says_nothing(tmp_path):
    compile_in_child(tmp_path)
    printed, notes = compile_in_child(tmp_path)
    assert printed == {"by_pytensor": 0, "right": True}
    assert notes == []


@pytest.mark.skipif(compiling.core_count() < 2, reason="side by side needs two cores")
def test_modules_are_compiled_side_by_side(tmp_path):
    # The first two builds wait for each other before they start: built one at a
    # time, the first would wait in vain, fail, and be left to PyTensor.
    patch = """
import itertools, threading
together, arrivals = threading.Barrier(2, timeout=120), itertools.count()
real_build = compiling.Module.build
def build(self):
    if next(arrivals) < 2:
        together.wait()
    real_build(self)
compiling.Module.build = build
compiling.core_count = lambda: 2
"""
    printed, _ = compile_in_child(tmp_path, patch)
    assert printed == {"by_pytensor": 0, "right": True}


def test_what_cannot_be_built_aside_pytensor_compiles_itself(tmp_path):
    patch = """
real_args = compiling.Module.compile_args
compiling.Module.compile_args = lambda self: real_args(self) + ["-fno-such-flag"]
"""
    printed, notes = compile_in_child(tmp_path, patch)
    assert printed["right"]
    # every one (two keys may share one module's source, which PyTensor finds)
    assert 0 < printed["by_pytensor"] <= int(notes[0].split()[1])
    assert not any("You can find the C code" in line for line in notes)


def test_modules_build_without_the_common_header_where_it_does_not(tmp_path):
    patch = 'compiling.COMMON_HEADERS = ["<no_such_header_anywhere.h>"]'
    printed, _ = compile_in_child(tmp_path, patch)
    assert printed == {"by_pytensor": 0, "right": True}
    headers = list(tmp_path.glob("compiledir_*/toolkit_headers/*/*"))
    assert headers and not any(h.name.endswith(".gch") for h in headers)


def test_the_common_header_is_made_once_per_set_of_flags_and_used(tmp_path):
    compile_in_child(tmp_path)
    made = list(tmp_path.glob("compiledir_*/toolkit_headers/*/common.h.gch"))
    assert made  # the C kernels' flags (OpenMP, the BLAS) and PyTensor's own
    header = compiling.Header(tmp_path, ["-O3", "-fPIC"], ["/include"])
    assert header.use() == []  # not built: the modules compile without it
    # g++ takes a header made at another -O level, and may then crash: one each
    assert (compiling.Header.key(["-O3", "-fPIC"], ["/include"])
            != compiling.Header.key(["-O1", "-fPIC"], ["/include"]))


def test_a_check_that_takes_seconds_says_so_once(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(toolchain, "cache_path", lambda: tmp_path / "answers.json")
    for _ in range(2):
        assert toolchain.cached("probe", lambda: 42, note="checking that probes work") == 42
    notes = capsys.readouterr().err.strip().splitlines()
    assert len(notes) == 1, notes
    names(notes[0], "checking that probes work", "once", str(tmp_path / "answers.json"))
    assert compiling.is_note(notes[0])
