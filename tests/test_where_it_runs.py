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
import shutil

import pytest

from helpers import ROOT, accuracies, run
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
    return result.stderr.strip().splitlines(), [json.loads(r) for r in log.read_text().splitlines()]


def assert_steps_fast(records):
    """The second epoch (compiled by then): 4 steps of 128 images, each under a second."""
    assert records[1]["train_seconds"] / 4 < 1.0, records


def test_no_compiler_the_cnn_runs_on_jax_and_says_why(tmp_path):
    lines, records = train_cnn(tmp_path, env_with(tmp_path, "cxx="))
    assert lines == ["note: no C++ compiler found (PyTensor's cxx is empty): using --mode JAX; "
                     "install g++ (Linux), the Xcode Command Line Tools (macOS) or conda's gxx "
                     "(Windows) for --mode C"]
    assert records[-1]["mode"] == "JAX"
    assert_steps_fast(records)


def test_no_compiler_and_no_jax_the_cnn_runs_on_numba(tmp_path):
    lines, records = train_cnn(tmp_path, env_with(tmp_path, "cxx=", hidden=["jax"]))
    assert len(lines) == 1 and "no C++ compiler found" in lines[0]
    assert "using --mode NUMBA" in lines[0]
    assert records[-1]["mode"] == "NUMBA"
    assert_steps_fast(records)


def test_a_compiler_without_openmp_runs_c_on_one_core(tmp_path):
    env = env_with(tmp_path, f"cxx={no_openmp_compiler(tmp_path)}")
    lines, records = train_cnn(tmp_path, env)
    assert lines == ["note: the C++ compiler has no OpenMP: --mode C runs its kernels on one "
                     "core; a compiler with OpenMP (gcc, or libomp on a Mac) uses every core"]
    assert records[-1]["mode"] == "C"
    assert_steps_fast(records)


def test_no_scipy_openblas32_the_cnn_runs_on_jax(tmp_path):
    lines, records = train_cnn(tmp_path, env_with(tmp_path, hidden=["scipy_openblas32"]))
    assert lines == ["note: no BLAS for PyTensor's C code (scipy-openblas32 is not installed): "
                     "using --mode JAX; pip install scipy-openblas32 (it is in requirements.txt) "
                     "for --mode C"]
    assert records[-1]["mode"] == "JAX"
    assert_steps_fast(records)


def test_a_blas_that_does_not_link_is_named(tmp_path):
    env = env_with(tmp_path, "blas__ldflags=-lno_such_blas_library")
    result = run("2_logistic_regression.py", "--epochs", 1, "--ntrain", 500, "--ntest", 100,
                 "--mode", "C", env=env, check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--mode C cannot run here: the BLAS does not link" in lines[0]
    assert "no_such_blas_library" in lines[0]


def test_no_jax_the_modern_net_runs_on_c(tmp_path):
    result = run("4_modern_net.py", "--epochs", 1, "--ntrain", 500, "--ntest", 100,
                 env=env_with(tmp_path, hidden=["jax"]))
    assert result.stderr.strip().splitlines() == [
        "note: jax is not installed: using --mode C; pip install -r requirements.txt for "
        "--mode JAX"]
    assert len(accuracies(result.stdout)) == 1


@pytest.mark.parametrize("script, args", [("5_convolutional_net.py", ["--mode", "C"]),
                                          ("3_net.py", ["--mode", "C"])])
def test_explicit_mode_c_without_a_compiler_is_one_line(tmp_path, script, args):
    result = run(script, *args, "--data-dir", tmp_path, env=env_with(tmp_path, "cxx="),
                 check=False, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].endswith("error: --mode C cannot run here: no C++ compiler found "
                             "(PyTensor's cxx is empty); " + toolchain.COMPILER_REMEDY)
    assert "epoch" not in result.stdout


def test_explicit_mode_jax_without_jax_is_one_line(tmp_path):
    result = run("2_logistic_regression.py", "--mode", "JAX",
                 env=env_with(tmp_path, hidden=["jax"]), check=False, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith(
        "--mode JAX cannot run here: jax is not installed; pip install -r requirements.txt "
        "for --mode JAX")


@pytest.mark.parametrize("script", ["0_multiply.py", "1_linear_regression.py"])
def test_first_scripts_with_mode_c_and_no_compiler_say_so_in_one_line(tmp_path, script):
    result = run(script, env=env_with(tmp_path, "cxx=,mode=C"), check=False, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"{script}: error: PYTENSOR_FLAGS=mode=C cannot run here: no C++ compiler found (PyTensor's cxx "
        f"is empty); {toolchain.COMPILER_REMEDY}, or choose mode=NUMBA or mode=JAX"]
    assert result.stdout == ""


def test_first_scripts_run_without_a_compiler_on_pytensors_default(tmp_path):
    result = run("0_multiply.py", env=env_with(tmp_path, "cxx="))
    assert result.stdout.split() == ["2.0", "9.0"] and result.stderr == ""


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
    linux = toolchain.blas_candidates("Linux")
    assert len(linux) == 2 and "-Wl,-rpath" in linux[0] and "-Wl,-rpath" not in linux[1]
    assert ["-Wl,-rpath" in c for c in toolchain.blas_candidates("Windows")] == [False]


def test_openmp_flags_to_try_on_each_platform():
    assert toolchain.openmp_candidates("Linux") == [("-fopenmp",)]
    assert toolchain.openmp_candidates("Windows") == [("-fopenmp",)]
    assert toolchain.openmp_candidates("Darwin", ["/opt/homebrew/opt/libomp"]) == [
        ("-fopenmp",),
        ("-Xpreprocessor", "-fopenmp", "-I/opt/homebrew/opt/libomp/include",
         "-L/opt/homebrew/opt/libomp/lib", "-lomp")]


def test_this_machine_links_with_rpath_and_has_openmp():
    """What the checks found here (Linux, gcc): the first candidates worked."""
    from toolkit import backends
    verdict = backends.c_verdict()
    assert verdict.ok, verdict
    assert toolchain.openmp_flags() == ("-fopenmp",)
    assert "-Wl,-rpath," in verdict.blas_flags or blas.user_configured_blas()


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
