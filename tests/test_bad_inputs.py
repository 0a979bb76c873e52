"""Bad input, round two, through the script a learner runs: an output flag never
replaces a file the run reads, the project's own, or a file of another kind; numbers
out of range and inputs that are not files are refused in one line before any work;
a 16-bit scan reads as its 8-bit copy does."""
import hashlib
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

import helpers
from helpers import ROOT, blank_mnist, names, one_line, run
from toolkit import outputs

SCRIPT = "2_logistic_regression.py"  # parse_args is every MNIST script's: one stands for all


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def refused_unchanged(path, *args):
    """The run is refused in one line naming `path`, and `path` is as it was."""
    before = digest(path)
    line = one_line(run(SCRIPT, *args, check=False))
    names(line, path)
    assert digest(path) == before
    return line


@pytest.fixture
def data_dir(tmp_path):
    return blank_mnist(tmp_path / "mnist")


def test_an_output_never_replaces_the_data_the_run_reads(data_dir):
    data = data_dir / "t10k-labels-idx1-ubyte.gz"
    names(refused_unchanged(data, "--data-dir", data_dir, "--log", data), "--log", "reads")


def test_an_output_never_replaces_the_params_the_run_reads(tmp_path):
    params = tmp_path / "logistic.npz"
    shutil.copy(ROOT / "results" / "logistic.npz", params)
    for flag in ("--checkpoint", "--save"):
        names(refused_unchanged(params, "--params", params, flag, params), flag, "reads")


def test_a_checkpoint_may_continue_into_the_file_it_resumes(tmp_path):
    """--resume X --checkpoint X is how a run goes on: not refused as an input."""
    from toolkit import training
    ckpt = tmp_path / "run.ckpt"
    ckpt.write_bytes(b"")  # empty: nothing to lose, and not read before the check passes
    args = training.parse_args(argv=["--resume", str(ckpt), "--checkpoint", str(ckpt)])
    assert args.checkpoint == str(ckpt)


def test_an_output_never_replaces_a_file_of_another_kind(tmp_path):
    source = tmp_path / "load.py"
    shutil.copy(ROOT / "load.py", source)
    log = tmp_path / "run.jsonl"
    log.write_text('{"epoch": 1, "test_accuracy": 0.9}\n')
    for flag in ("--save", "--log", "--checkpoint"):
        names(refused_unchanged(source, flag, source), flag, "not")
    names(refused_unchanged(log, "--save", log), "--save", "saved model")
    names(refused_unchanged(log, "--checkpoint", log), "--checkpoint", "checkpoint")


def test_the_script_itself_is_never_an_output():
    names(refused_unchanged(ROOT / SCRIPT, "--checkpoint", ROOT / SCRIPT), "--checkpoint")


def test_the_projects_own_results_are_not_replaced(tmp_path, monkeypatch):
    """data/ and results/ are the project's: its committed results are saved models
    and logs, and still not a run's to replace (tools.reproduce moves its own in)."""
    results = tmp_path / "results"
    results.mkdir()
    shutil.copy(ROOT / "results" / "logistic.npz", results / "logistic.npz")
    shutil.copy(ROOT / "results" / "logistic.jsonl", results / "logistic.jsonl")
    monkeypatch.setattr(outputs, "ROOT", tmp_path)
    assert "project" in outputs.refusal("save", results / "logistic.npz")
    assert "project" in outputs.refusal("log", results / "logistic.jsonl")
    assert outputs.refusal("save", results / "new.npz") is None  # nothing there to lose
    monkeypatch.setattr(outputs, "ROOT", tmp_path / "elsewhere")  # the same files, a learner's
    assert outputs.refusal("save", results / "logistic.npz") is None
    assert outputs.refusal("log", results / "logistic.jsonl") is None


@pytest.mark.parametrize("args, flag", [(["--seed", "-1"], "--seed"),
                                        (["--seed", str(2**70)], "--seed"),
                                        (["--lr", "inf"], "--lr"),
                                        (["--lr", "nan"], "--lr")])
def test_numbers_out_of_range_are_one_line(args, flag):
    names(one_line(run(SCRIPT, *args, check=False)), flag)


def pytensor_settings(tmp_path, case):
    """An environment with one of PyTensor's own settings wrong, and the name the
    message must give."""
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTENSOR")}
    if case == "home":  # PyTensor's compile folder goes under HOME: a file, here
        return {**env, "HOME": str(a_file)}, "compiledir"
    flags = {"mode": "mode=NOPE", "compiledir": f"compiledir={a_file}/x",
             "floatX": "floatX=float99"}[case]
    return {**env, "PYTENSOR_FLAGS": flags}, case


@pytest.mark.parametrize("script", [SCRIPT, "5_convolutional_net.py", "figures.py"])
@pytest.mark.parametrize("case", ["mode", "compiledir", "home", "floatX"])
def test_pytensors_own_settings_are_one_line(tmp_path, script, case):
    """PyTensor reads PYTENSOR_FLAGS as it is imported; a setting it cannot use is one
    line naming the setting, before any work."""
    env, setting = pytensor_settings(tmp_path, case)
    result = subprocess.run([sys.executable, str(ROOT / script)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    line = one_line(result) if script != "figures.py" or case != "home" else (
        # matplotlib, under a HOME it cannot write, says where its cache went instead
        result.stderr.strip().splitlines()[-1])
    assert result.returncode == 2, result.stderr
    names(line, setting, "PYTENSOR_FLAGS")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("flag", ["--params", "--resume", "--digit"])
def test_a_fifo_as_an_input_is_refused_before_it_is_read(tmp_path, flag):
    """Opening a FIFO for reading waits for a writer, forever: refused unopened."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    script = "5_convolutional_net.py" if flag == "--digit" else SCRIPT
    line = one_line(run(script, flag, fifo, check=False, timeout=120))
    names(line, flag if flag != "--resume" else fifo, fifo)


def test_a_16_bit_scan_reads_as_its_8_bit_copy(tmp_path):
    """Dark ink on light paper at 16 bits per pixel, as scanners write greyscale:
    read as the same picture at 8 bits is."""
    from PIL import Image

    from toolkit.digits import read_digit
    ink = read_digit(ROOT / "data" / "digits" / "3.png").reshape(28, 28)
    scan = Image.fromarray((60000 - ink * 59500).astype(np.uint16)).resize((112, 112))
    scan.save(tmp_path / "16.png")
    eight = np.round(np.asarray(Image.open(tmp_path / "16.png"), np.float64) / 257)
    Image.fromarray(eight.astype(np.uint8)).save(tmp_path / "8.png")
    assert Image.open(tmp_path / "16.png").mode.startswith("I")
    np.testing.assert_allclose(read_digit(tmp_path / "16.png"), read_digit(tmp_path / "8.png"),
                               atol=0.01)


def test_ctrl_c_while_the_data_is_checked_is_one_line():
    """Ctrl-C in the first second of a run, inside the data check (parse_args): one
    line, exit 130. The child blocks SIGINT, says where it is, takes the test's
    Ctrl-C when it comes and hands it to the run's own handler there: no race."""
    child = f"""
import runpy, signal, sys
from toolkit import mnist_files
real = mnist_files.check
def held_check(*args):
    signal.pthread_sigmask(signal.SIG_BLOCK, {{signal.SIGINT}})
    print("checking", flush=True)
    signal.sigwait({{signal.SIGINT}})
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {{signal.SIGINT}})
    signal.raise_signal(signal.SIGINT)
    return real(*args)
mnist_files.check = held_check
sys.argv = [{SCRIPT!r}, "--epochs", "1"]
runpy.run_path(sys.argv[0], run_name="__main__")
"""
    proc = helpers.start([sys.executable, "-c", child], text=True, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, preexec_fn=helpers.default_sigint)
    helpers.wait_for_line(proc, "checking")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert len(helpers.err_lines(err)) == 1
    names(err, "Ctrl-C", "before training")
