"""The toolchain's verdict and the file that keeps it (toolkit/toolchain.py, the C
verdict of toolkit/backends.py):

- flags travel as lists: a BLAS in a folder with a space in its name links;
- only a definite answer is kept: a compiler that timed out, was killed or did not
  start is asked again next run; a compiler's own error is kept;
- a damaged file is ignored and rewritten, whatever its shape;
- two runs keeping their answers at the same moment lose neither.
"""
import json
import os
import subprocess
import sys
from dataclasses import asdict
from types import SimpleNamespace

import pytensor
import pytest

import helpers
from helpers import ROOT, accuracies, names, run, wait_for_line
from toolkit import backends, blas, toolchain

needs_compiler = pytest.mark.skipif(not toolchain.compiler(), reason="no C++ compiler here")
needs_openblas = pytest.mark.skipif(blas.wheel() is None, reason="no scipy-openblas32 here")


@pytest.fixture
def answers(tmp_path, monkeypatch):
    """The checks asked afresh, their answers kept in a temporary file: its path."""
    path = tmp_path / "answers.json"
    monkeypatch.setattr(toolchain, "cache_path", lambda: path)
    toolchain.openmp_flags.cache_clear(), backends.c_verdict.cache_clear()
    yield path
    toolchain.openmp_flags.cache_clear(), backends.c_verdict.cache_clear()


def kept(path):
    """What the file keeps: {} where there is no file."""
    return json.loads(path.read_text()) if path.exists() else {}


def folder_with(name, tmp_path):
    """The wheel's library folder, seen through a folder called `name`."""
    folder = tmp_path / name / "lib"
    folder.parent.mkdir()
    folder.symlink_to(blas.wheel().get_lib_dir(), target_is_directory=True)
    return folder


def compiling_in(folder, env=os.environ):
    """env, with PyTensor's compile folder (and so the file of answers) in folder."""
    return {**env, "PYTENSOR_FLAGS": ",".join(filter(None, [
        env.get("PYTENSOR_FLAGS"), f"compiledir={folder}"]))}


def commands_run(monkeypatch):
    """Every command the project runs from now on (they still run)."""
    commands, real_run = [], subprocess.run

    def recording_run(command, *args, **kwargs):
        commands.append(list(command))
        return real_run(command, *args, **kwargs)
    monkeypatch.setattr(toolchain.subprocess, "run", recording_run)
    return commands


# --- a path with a space ---------------------------------------------------------------

@needs_compiler
@needs_openblas
def test_a_blas_in_a_folder_with_a_space_links(tmp_path, monkeypatch):
    """The venv under "/home/Jane Doe/": the flags reach the compiler one argument
    each, and the test program finds the library through the rpath alone."""
    lib_dir = folder_with("with space", tmp_path)
    monkeypatch.setattr(blas, "user_configured_blas", lambda: False)
    monkeypatch.setattr(blas, "wheel", lambda: SimpleNamespace(
        get_lib_dir=lambda: str(lib_dir), get_library=lambda: "scipy_openblas"))
    commands = commands_run(monkeypatch)
    flags, why, _ = toolchain.link_blas()
    assert flags is not None, why
    assert f"-L{lib_dir}" in commands[0] and f"-Wl,-rpath,{lib_dir}" in commands[0]
    ok, why = toolchain.try_program(toolchain.BLAS_TEST, flags)  # no library_path
    assert ok, why


@pytest.mark.parametrize("name", ["with space", "Jane's", "back\\slash"])
def test_pytensor_reads_the_flags_back_as_they_were(tmp_path, monkeypatch, name):
    """blas__ldflags is one string: PyTensor splits it as a shell would, and gets
    back each flag the project gave it."""
    lib_dir = tmp_path / name / "lib"
    lib_dir.mkdir(parents=True)
    (lib_dir / "libscipy_openblas.so").touch()
    flags = blas.link_flags(str(lib_dir), "scipy_openblas", rpath=True)
    monkeypatch.setattr(blas, "user_configured_blas", lambda: False)
    monkeypatch.setattr(pytensor.config, "blas__ldflags", pytensor.config.blas__ldflags)
    blas.link_pytensor(flags)
    from pytensor.tensor.blas import ldflags
    assert ldflags() == ["scipy_openblas"]
    assert ldflags(libs=False, libs_dir=True) == [str(lib_dir)]
    ours = [flag for flag in flags if not flag.startswith(("-L", "-l"))]
    assert ldflags(libs=False, flags=True) == [f"-Wl,-rpath,{lib_dir}", *ours]  # PyTensor's own


def test_the_users_flags_with_unbalanced_quotes_are_named(monkeypatch):
    monkeypatch.setattr(blas, "user_configured_blas", lambda: True)
    monkeypatch.setattr(pytensor.config, "blas__ldflags", "-L'/home/Jane Doe/lib -lopenblas")
    flags, why, remedy = toolchain.link_blas()
    assert flags is None and remedy == toolchain.BLAS_LINK_REMEDY
    names(why, "blas__ldflags", "quotation")


SPACED_WHEEL = """
import scipy_openblas32
scipy_openblas32.get_lib_dir = lambda: {lib_dir!r}
"""


@pytest.mark.slow
@needs_compiler
@needs_openblas
def test_mode_c_trains_with_a_blas_in_a_folder_with_a_space(tmp_path):
    """What a learner runs, with the wheel's folder reported under "with space" and
    a compile folder of its own (everything is compiled afresh)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        SPACED_WHEEL.format(lib_dir=str(folder_with("with space", tmp_path))))
    env = compiling_in(tmp_path / "compiled", {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(site), os.environ.get("PYTHONPATH")]))})
    result = run("2_logistic_regression.py", "--mode", "C", "--epochs", 1, "--ntrain", 500,
                 "--ntest", 100, env=env)
    assert len(accuracies(result.stdout)) == 1
    verdicts = [answer for answer in kept(tmp_path / "compiled" / "toolkit_toolchain.json")
                .values() if isinstance(answer, dict)]
    assert [verdict["ok"] for verdict in verdicts] == [True]
    assert f"-Wl,-rpath,{tmp_path / 'with space' / 'lib'}" in verdicts[0]["blas_flags"]


# --- only a definite answer is kept ------------------------------------------------------

def timed_out(command, **kwargs):
    raise subprocess.TimeoutExpired(command, kwargs.get("timeout"))


def killed(command, **kwargs):
    """What g++ says when the out-of-memory killer stops its cc1plus."""
    return subprocess.CompletedProcess(command, 1, "", "g++: fatal error: Killed signal "
                                                      "terminated program cc1plus\n")


def not_started(command, **kwargs):
    raise PermissionError(13, "Permission denied", command[0])


def compiler_error(command, **kwargs):
    return subprocess.CompletedProcess(command, 1, "", "check.cpp:2:10: fatal error: omp.h: "
                                                      "No such file or directory\n")


def compiler_runs(monkeypatch, instead):
    """The compiler's runs replaced by instead(command, **kwargs); other commands
    (the platform's own `uname -p`, say) still run."""
    real_run = subprocess.run

    def run_or_not(command, *args, **kwargs):
        if command[0] == toolchain.compiler():
            return instead(command, **kwargs)
        return real_run(command, *args, **kwargs)
    monkeypatch.setattr(toolchain.subprocess, "run", run_or_not)


@pytest.fixture
def a_compiler(monkeypatch):
    """A compiler whose version is known, whatever runs in its place."""
    monkeypatch.setattr(toolchain, "compiler", lambda: "c++")
    monkeypatch.setattr(toolchain, "compiler_version", lambda cxx: "c++ 1.0")


@pytest.mark.parametrize("instead, says", [
    (timed_out, "did not finish"), (killed, "killed"), (not_started, "Permission denied")],
    ids=["timeout", "out-of-memory", "not-started"])
def test_no_answer_is_not_kept(answers, monkeypatch, a_compiler, instead, says):
    compiler_runs(monkeypatch, instead)
    verdict = backends.c_verdict()
    assert not verdict.ok
    names(verdict.reason, says)
    assert toolchain.openmp_flags() == ()
    assert kept(answers) == {}


def test_a_compilers_error_is_kept(answers, monkeypatch, a_compiler):
    compiler_runs(monkeypatch, compiler_error)
    verdict = backends.c_verdict()
    assert not verdict.ok
    names(verdict.reason, "omp.h")
    assert toolchain.openmp_flags() == ()
    assert sorted(map(type, kept(answers).values()), key=str) == [dict, list]


@needs_compiler
def test_a_timeout_is_asked_again_next_run(answers, monkeypatch):
    if not toolchain.try_program(toolchain.OPENMP_TEST, ["-fopenmp"])[0]:
        pytest.skip("this compiler has no -fopenmp")
    toolchain.compiler_version(toolchain.compiler())  # known before the compiler "hangs"
    with monkeypatch.context() as hanging:
        compiler_runs(hanging, timed_out)
        assert toolchain.openmp_flags() == ()
    toolchain.openmp_flags.cache_clear()  # the next run
    assert toolchain.openmp_flags() == ("-fopenmp",)
    assert list(kept(answers).values()) == [["-fopenmp"]]


# --- a damaged file ----------------------------------------------------------------------

def fake_checks(monkeypatch):
    """The checks answer at once: OpenMP by -fopenmp, C by a Verdict."""
    monkeypatch.setattr(toolchain, "compiler", lambda: "c++")
    monkeypatch.setattr(toolchain, "compiler_version", lambda cxx: "c++ 1.0")
    monkeypatch.setattr(toolchain, "try_program", lambda source, flags=(), library_path=None:
                        (list(flags) == ["-fopenmp"], "error"))
    verdict = backends.Verdict(True, blas_flags=("-lscipy_openblas", "-Wl,-rpath,/a b"))
    monkeypatch.setattr(backends, "check_c", lambda: verdict)
    return verdict


def ask_both():
    toolchain.openmp_flags.cache_clear(), backends.c_verdict.cache_clear()
    return toolchain.openmp_flags(), backends.c_verdict()


@pytest.mark.parametrize("text", ["\x00{not json", "", "[1, 2]", '"answers"', "null"],
                         ids=["not-json", "empty", "a-list", "a-string", "null"])
def test_a_damaged_file_is_ignored_and_rewritten(answers, monkeypatch, text):
    verdict = fake_checks(monkeypatch)
    answers.write_text(text)
    assert ask_both() == (("-fopenmp",), verdict)
    assert sorted(map(type, kept(answers).values()), key=str) == [dict, list]


@pytest.mark.parametrize("damage", [
    "junk", None, 3, ["-fopenmp", 3], {"ok": "yes"},
    {"ok": True, "reason": "", "remedy": "", "blas_flags": "-lscipy_openblas -Wl,-rpath,/a b"}],
    ids=["a-string", "null", "a-number", "not-all-flags", "a-wrong-verdict", "flags-as-a-string"])
def test_damaged_answers_are_asked_again_and_rewritten(answers, monkeypatch, damage):
    verdict = fake_checks(monkeypatch)
    right = ask_both()
    answers.write_text(json.dumps({key: damage for key in kept(answers)}))
    assert ask_both() == right == (("-fopenmp",), verdict)
    assert sorted(kept(answers).values(), key=str) == sorted(
        [["-fopenmp"], {**asdict(verdict), "blas_flags": list(verdict.blas_flags)}], key=str)


def test_an_unwritable_cache_is_no_error(tmp_path, monkeypatch):
    folder = tmp_path / "answers.json"
    folder.mkdir()  # in the file's place
    monkeypatch.setattr(toolchain, "cache_path", lambda: folder)
    assert toolchain.cached("test", lambda: ["an answer"]) == ["an answer"]


# --- two runs at once --------------------------------------------------------------------

KEEPS_ITS_ANSWER = """
import sys
from toolkit import toolchain

def check():
    print("checking", flush=True)  # it has read the file, and found no answer
    sys.stdin.readline()           # until the test says both runs have
    return [sys.argv[1]]

toolchain.cached(sys.argv[1], check)
"""


def test_two_runs_at_once_keep_both_answers(tmp_path):
    """Two runs read the file, both check, both keep their answer: neither is lost."""
    runs = [helpers.start([sys.executable, "-c", KEEPS_ITS_ANSWER, kind],
                          env=compiling_in(tmp_path),
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            for kind in ("first", "second")]
    for child in runs:
        wait_for_line(child, "checking")
    for child in runs:
        child.communicate("go\n", timeout=120)
        assert child.returncode == 0
    assert sorted(kept(tmp_path / "toolkit_toolchain.json").values()) == [["first"], ["second"]]


def test_without_flock_the_answer_is_still_kept(answers, monkeypatch):
    """Windows has no fcntl: the file is written unlocked."""
    monkeypatch.setattr(toolchain, "fcntl", None)
    assert toolchain.cached("test", lambda: ["an answer"]) == ["an answer"]
    assert list(kept(answers).values()) == [["an answer"]]
