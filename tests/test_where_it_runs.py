"""Out of the box wherever a learner is: each missing piece, simulated on this Linux
machine, leaves a working, normally fast run and one line that says why.

- no C++ compiler: PYTENSOR_FLAGS=cxx= (what PyTensor sees without one);
- a compiler without OpenMP: a g++ wrapper that rejects -fopenmp;
- no scipy-openblas32, no jax: the package hidden from import;
- a BLAS that does not link: blas__ldflags naming a library that is not there.

And the link flags for each platform's names, built as the wheel reports them.
"""
import json
import os
import platform
import shutil

import pytest

from helpers import ROOT, accuracies, blank_mnist, err_lines, learned_slope, names, run
from toolkit import blas, toolchain

HIDE = """
import sys
class Hidden:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {names!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (hidden by the test)")
sys.meta_path.insert(0, Hidden())
"""


def env_with(tmp_path, flags=None, hidden=()):
    """The environment of a machine without some pieces."""
    env = dict(os.environ)
    if flags:
        env["PYTENSOR_FLAGS"] = flags
    if hidden:
        site = tmp_path / "site"
        site.mkdir(exist_ok=True)
        (site / "sitecustomize.py").write_text(HIDE.format(names=set(hidden)))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    return env


def no_openmp_compiler(tmp_path):
    """A g++ that refuses -fopenmp, as Apple's clang does."""
    wrapper = tmp_path / "g++-no-openmp"
    wrapper.write_text('#!/bin/sh\nfor a in "$@"; do case "$a" in *openmp*) '
                       'echo "clang: error: unsupported option \'$a\'" >&2; exit 1;; esac; done\n'
                       f'exec {shutil.which("g++")} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def train_cnn(tmp_path, env, *args):
    """Two short epochs of the CNN, its default backend unless args say otherwise:
    (stderr lines, the log's records)."""
    log = tmp_path / "cnn.jsonl"
    result = run("5_convolutional_net.py", "--epochs", 2, "--ntrain", 512, "--ntest", 100,
                 "--log", log, *args, env=env)
    assert len(accuracies(result.stdout)) == 2
    return err_lines(result.stderr), [json.loads(r) for r in log.read_text().splitlines()]



def note(lines, *words):
    """The run said why in one line, a note naming these words."""
    assert len(lines) == 1, lines
    assert lines[0].startswith("note: "), lines
    names(lines[0], *words)



@pytest.mark.slow
def test_no_compiler_the_cnn_runs_on_jax_and_says_why(tmp_path):
    lines, records = train_cnn(tmp_path, env_with(tmp_path, "cxx="))
    note(lines, "no C++ compiler", "--mode JAX", "g++", "--mode C")
    assert {r["mode"] for r in records} == {"JAX"}


@pytest.mark.slow
def test_no_compiler_and_no_jax_the_cnn_runs_on_numba(tmp_path):
    lines, records = train_cnn(tmp_path, env_with(tmp_path, "cxx=", hidden=["jax"]))
    note(lines, "no C++ compiler", "--mode NUMBA", "g++")
    assert {r["mode"] for r in records} == {"NUMBA"}


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("g++") is None, reason="the wrapper runs g++")
def test_a_compiler_without_openmp_runs_c_on_one_core(tmp_path):
    env = env_with(tmp_path, f"cxx={no_openmp_compiler(tmp_path)}")
    lines, records = train_cnn(tmp_path, env)
    note(lines, "OpenMP", "--mode C", "one core")
    assert {r["mode"] for r in records} == {"C"}


@pytest.mark.slow
def test_no_scipy_openblas32_the_cnn_runs_on_jax(tmp_path):
    lines, records = train_cnn(tmp_path, env_with(tmp_path, hidden=["scipy_openblas32"]))
    note(lines, "scipy-openblas32", "--mode JAX", "pip install scipy-openblas32", "--mode C")
    assert {r["mode"] for r in records} == {"JAX"}


def test_a_blas_that_does_not_link_is_named(tmp_path):
    env = env_with(tmp_path, "blas__ldflags=-lno_such_blas_library")
    result = run("2_logistic_regression.py", "--epochs", 1, "--ntrain", 500, "--ntest", 100,
                 "--mode", "C", env=env, check=False)
    assert result.returncode == 2
    lines = err_lines(result.stderr)
    assert len(lines) == 1, lines
    names(lines[0], "2_logistic_regression.py", "--mode C", "BLAS", "no_such_blas_library",
          "blas__ldflags")
    assert "epoch " not in result.stdout


@pytest.mark.slow
def test_no_jax_the_modern_net_runs_on_c(tmp_path):
    log = tmp_path / "log.jsonl"
    result = run("4_modern_net.py", "--epochs", 1, "--ntrain", 500, "--ntest", 100,
                 "--log", log, env=env_with(tmp_path, hidden=["jax"]))
    note(err_lines(result.stderr), "jax", "--mode C", "pip install", "--mode JAX")
    assert len(accuracies(result.stdout)) == 1
    assert json.loads(log.read_text())["mode"] == "C"


@pytest.mark.parametrize("script", ["5_convolutional_net.py", "3_net.py"])
def test_explicit_mode_c_without_a_compiler_is_one_line_before_the_data(tmp_path, script):
    data = blank_mnist(tmp_path / "data")
    result = run(script, "--mode", "C", "--data-dir", data, env=env_with(tmp_path, "cxx="),
                 check=False, timeout=60)
    assert result.returncode == 2
    lines = err_lines(result.stderr)
    assert len(lines) == 1, lines
    names(lines[0], script, "--mode C", "no C++ compiler", "g++")
    assert result.stdout == ""


def test_explicit_mode_jax_without_jax_is_one_line(tmp_path):
    data = blank_mnist(tmp_path / "data")
    result = run("2_logistic_regression.py", "--mode", "JAX", "--data-dir", data,
                 env=env_with(tmp_path, hidden=["jax"]), check=False, timeout=60)
    assert result.returncode == 2
    lines = err_lines(result.stderr)
    assert len(lines) == 1, lines
    names(lines[0], "--mode JAX", "jax is not installed", "pip install")
    assert result.stdout == ""


@pytest.mark.parametrize("script", ["0_multiply.py", "1_linear_regression.py"])
def test_first_scripts_with_mode_c_and_no_compiler_end_with_pytensors_error(tmp_path, script):
    """Scripts 0 and 1 are PyTensor alone: an explicit mode=C without a compiler
    ends with PyTensor's own error (a traceback), before anything is printed."""
    result = run(script, env=env_with(tmp_path, "cxx=,mode=C"), check=False, timeout=60)
    assert result.returncode != 0
    assert "g++ not available" in result.stderr
    assert result.stdout == ""


def test_first_scripts_run_without_a_compiler_on_pytensors_default(tmp_path):
    result = run("0_multiply.py", env=env_with(tmp_path, "cxx="))
    assert result.stdout.split()[:2] == ["2.0", "9.0"] and result.stderr == ""


@pytest.mark.slow
def test_linear_regression_learns_without_a_compiler_on_pytensors_default(tmp_path):
    result = run("1_linear_regression.py", env=env_with(tmp_path, "cxx="))
    assert abs(learned_slope(result.stdout) - 2) < 0.1 and result.stderr == ""


# --- the flags, for each platform's names ----------------------------------------------

@pytest.mark.parametrize("system, lib_dir, library, rpath", [
    ("Linux", "/venv/site-packages/scipy_openblas32/lib", "scipy_openblas", True),
    ("Darwin", "/Users/a/venv/site-packages/scipy_openblas32/lib", "scipy_openblas", True),
    ("Windows", "C:/venv/Lib/site-packages/scipy_openblas32/lib", "libscipy_openblas", False),
])
def test_blas_link_flags_from_what_the_wheel_reports(system, lib_dir, library, rpath):
    """The wheel's get_library(): libscipy_openblas.so / .dylib give 'scipy_openblas',
    Windows' libscipy_openblas.lib gives 'libscipy_openblas'; MinGW's -l finds the DLL."""
    flags = blas.link_flags(lib_dir, library, rpath=system != "Windows")
    assert flags[:2] == [f"-L{lib_dir}", f"-l{library}"]
    assert (f"-Wl,-rpath,{lib_dir}" in flags) == rpath
    assert "-Dsgemm_=scipy_sgemm_" in flags and "-Ddgemm_=scipy_dgemm_" in flags
    assert ("-Dopenblas_set_num_threads=scipy_openblas_set_num_threads" in flags)


def test_blas_candidates_try_rpath_first_except_on_windows(monkeypatch):
    monkeypatch.setattr(blas, "user_configured_blas", lambda: False)
    if blas.wheel() is None:
        pytest.skip("scipy-openblas32 is not installed")
    def rpath(flags):
        return any(flag.startswith("-Wl,-rpath,") for flag in flags)
    assert [rpath(c) for c in toolchain.blas_candidates("Linux")] == [True, False]
    assert [rpath(c) for c in toolchain.blas_candidates("Windows")] == [False]


def test_openmp_flags_to_try_on_each_platform():
    assert toolchain.openmp_candidates("Linux") == [("-fopenmp",)]
    assert toolchain.openmp_candidates("Windows") == [("-fopenmp",)]
    assert toolchain.openmp_candidates("Darwin", ["/opt/homebrew/opt/libomp"]) == [
        ("-fopenmp",),
        ("-Xpreprocessor", "-fopenmp", "-I/opt/homebrew/opt/libomp/include",
         "-L/opt/homebrew/opt/libomp/lib", "-lomp")]


def is_gcc(cxx):
    version = toolchain.compiler_version(cxx) if cxx else ""
    return "clang" not in version.lower() and any(w in version for w in ("g++", "gcc", "GCC"))


@pytest.mark.skipif(platform.system() != "Linux" or not is_gcc(toolchain.compiler()),
                    reason="what any Linux gcc can do")
def test_linux_gcc_links_with_rpath_and_has_openmp():
    """gcc on Linux takes -fopenmp and GNU ld takes -rpath: the first candidates work."""
    from toolkit import backends
    verdict = backends.c_verdict()
    assert verdict.ok, verdict
    assert toolchain.openmp_flags() == ("-fopenmp",)
    assert any(flag.startswith("-Wl,-rpath,") for flag in verdict.blas_flags) or \
        blas.user_configured_blas()


@pytest.fixture
def fresh_checks(tmp_path, monkeypatch):
    """toolchain's checks asked afresh, their answers kept in tmp_path only."""
    monkeypatch.setattr(toolchain, "cache_path", lambda: tmp_path / "answers.json")
    openmp_flags = toolchain.openmp_flags  # a test may replace it
    openmp_flags.cache_clear()
    yield
    openmp_flags.cache_clear()


def programs(monkeypatch, builds):
    """try_program replaced: a flag set builds where builds(flags) says; the tries."""
    tried = []

    def try_program(source, flags=(), library_path=None):
        tried.append(tuple(flags))
        return (True, "") if builds(tuple(flags)) else (False, f"error: {' '.join(flags)}")
    monkeypatch.setattr(toolchain, "try_program", try_program)
    return tried


@pytest.mark.parametrize("system, builds, expected", [
    ("Linux", lambda flags: True, ("-fopenmp",)),
    ("Linux", lambda flags: False, ()),
    ("Darwin", lambda flags: "-lomp" in flags,
     ("-Xpreprocessor", "-fopenmp", "-I/opt/libomp/include", "-L/opt/libomp/lib", "-lomp")),
    ("Darwin", lambda flags: False, ()),
], ids=["gcc", "no-openmp", "apple-clang-with-libomp", "apple-clang-alone"])
def test_openmp_flags_are_the_first_candidate_that_builds(fresh_checks, monkeypatch, system,
                                                            builds, expected):
    monkeypatch.setattr(toolchain, "compiler", lambda: "c++")
    monkeypatch.setattr(toolchain, "compiler_version", lambda cxx: "c++ 1.0")
    monkeypatch.setattr(toolchain.platform, "system", lambda: system)
    monkeypatch.setattr(toolchain, "libomp_prefixes", lambda: ["/opt/libomp"])
    tried = programs(monkeypatch, builds)
    assert toolchain.openmp_flags() == expected
    candidates = toolchain.openmp_candidates(system, ["/opt/libomp"])
    assert tried == (candidates[:candidates.index(expected) + 1] if expected else candidates)
    assert toolchain.openmp_flags() == expected and len(tried) <= len(candidates)  # asked once


def test_no_compiler_no_openmp_and_a_note_for_one_core(fresh_checks, monkeypatch):
    from toolkit import backends
    monkeypatch.setattr(toolchain, "compiler", lambda: "")
    assert toolchain.openmp_flags() == ()
    names(backends.one_core_note("C"), "OpenMP", "one core", "--mode C")
    assert backends.one_core_note("JAX") is None and backends.one_core_note("NUMBA") is None
    monkeypatch.setattr(toolchain, "openmp_flags", lambda: ("-fopenmp",))
    assert backends.one_core_note("C") is None


def test_the_blas_is_the_first_candidate_that_links(monkeypatch):
    monkeypatch.setattr(toolchain, "blas_candidates", lambda system: [["-lfirst"], ["-lsecond"]])
    tried = programs(monkeypatch, lambda flags: flags == ("-lsecond",))
    assert toolchain.link_blas() == (["-lsecond"], "", "")
    assert tried == [("-lfirst",), ("-lsecond",)]
    programs(monkeypatch, lambda flags: False)
    flags, why, remedy = toolchain.link_blas()
    assert flags is None
    names(why, "BLAS does not link", "-lsecond")  # what the last try said
    assert remedy == toolchain.BLAS_LINK_REMEDY
    monkeypatch.setattr(toolchain, "blas_candidates", lambda system: [])
    flags, why, remedy = toolchain.link_blas()
    assert flags is None and "scipy-openblas32" in why and remedy == toolchain.BLAS_REMEDY


def test_the_answer_is_kept_once_per_machine(tmp_path, monkeypatch):
    """A second ask reads the file; a change in what it depends on asks again."""
    monkeypatch.setattr(toolchain, "cache_path", lambda: tmp_path / "answers.json")
    calls = []
    assert toolchain.cached("test", lambda: calls.append(1) or "first") == "first"
    assert toolchain.cached("test", lambda: calls.append(1) or "second") == "first"
    monkeypatch.setattr(toolchain, "sources_digest", lambda: "other kernels")
    assert toolchain.cached("test", lambda: calls.append(1) or "third") == "third"
    assert len(calls) == 2
    assert len(json.loads((tmp_path / "answers.json").read_text())) == 2



def test_resolve_evaluates_the_markers_for_the_python_named():
    """pip would evaluate them for the Python running it: bench/resolve.py does it first."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("resolve", ROOT / "bench" / "resolve.py")
    resolve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(resolve)
    text = (ROOT / "requirements.txt").read_text()
    windows = resolve.PLATFORMS["Windows amd64"][1]
    for python, pytensor, jax in [("3.11", "pytensor<3.1,>=3.0", "jax<0.11,>=0.10"),
                                  ("3.12", "pytensor<3.4,>=3.3", "jax<0.12,>=0.11"),
                                  ("3.14", "pytensor<3.1,>=3.0", "jax<0.12,>=0.11")]:
        lines = resolve.requirements_for(text, python, windows).splitlines()
        assert pytensor in lines and jax in lines, (python, lines)
        assert sum(line.startswith(("pytensor", "jax")) for line in lines) == 2
