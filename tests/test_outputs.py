"""--save, --log and --checkpoint through the scripts: a path that cannot be written is
refused before any work, a disk that fills up costs one line and no file, and a
Ctrl-C ends the run in one line that says how to continue it."""
import os
import shlex
import signal
import stat
import subprocess
import sys

import numpy as np
import pytensor
import pytest

import helpers
from helpers import (ROOT, accuracies, default_sigint, err_lines, names, one_line, run,
                     wait_for_file, wait_for_line)
from test_files import small_disk  # noqa: F401 - the fixture
from toolkit import trained

LOGISTIC = ["2_logistic_regression.py", "--ntrain", 1000, "--ntest", 200, "--mode", "C"]
CNN = ["5_convolutional_net.py", "--ntrain", 2560, "--ntest", 200, "--mode", "C"]


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder nobody can write to: for root, a read-only tmpfs of the test's own
    (root ignores permissions); for anyone else, permissions 0555."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=16k", "tmpfs",
                              str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("as root, an unwritable folder needs a read-only mount, not allowed here")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def test_an_unwritable_folder_is_refused_before_any_work(read_only_folder):
    result = run(*LOGISTIC, "--epochs", 1, "--save", read_only_folder / "p.npz", check=False)
    names(one_line(result), "--save", read_only_folder, "not writable")


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")
def test_a_full_device_costs_one_line(tmp_path):
    full = tmp_path / "full"  # a /dev/full of the test's own: every write fails, disk full
    os.mknod(full, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    result = run(*LOGISTIC, "--epochs", 1, "--log", full, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert len(err_lines(result.stderr)) == 1
    names(result.stderr, full, "No space left")
    assert stat.S_ISCHR(full.lstat().st_mode)  # written to, not replaced


def test_a_disk_that_fills_keeps_the_previous_file(small_disk):  # noqa: F811
    saved = small_disk / "p.npz"  # a saved model, small: --save may replace it, if it fits
    trained.save(saved, {"w": pytensor.shared(np.zeros((2, 2), np.float32))},
                 {"script": LOGISTIC[0]}, np.zeros((1, 10), np.float32))
    before = saved.read_bytes()
    result = run(*LOGISTIC, "--epochs", 1, "--save", saved, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    names(result.stderr.strip(), saved, "No space left", "unchanged")
    assert saved.read_bytes() == before
    assert [p.name for p in small_disk.iterdir()] == ["p.npz"]  # no half file left


def test_a_log_through_a_link_writes_the_target(tmp_path):
    target, link = tmp_path / "real.jsonl", tmp_path / "log.jsonl"
    target.write_text("")
    link.symlink_to(target)
    run(*LOGISTIC, "--epochs", 1, "--log", link)
    assert link.is_symlink() and '"epoch": 1' in target.read_text()


def start(args):
    """A child Python running args, its output piped, Ctrl-C left at its default."""
    return helpers.start([sys.executable, *args], text=True, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, preexec_fn=default_sigint)


def ctrl_c(proc):
    """Press Ctrl-C: the run ends with exit 130 and one line on stderr, that line."""
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err
    lines = err_lines(err)
    assert len(lines) == 1, err
    return lines[0]


def test_ctrl_c_says_where_it_stopped_and_how_to_continue(tmp_path):
    checkpoint = tmp_path / "run.ckpt"
    proc = start([*map(str, CNN), "--epochs", "50", "--checkpoint", checkpoint])
    wait_for_line(proc, r"epoch +1 ")
    wait_for_file(checkpoint, proc)
    line = ctrl_c(proc)
    names(line, "Ctrl-C", "of 50", "--resume", checkpoint)
    command = shlex.split(line.split("continue with: ", 1)[1])
    assert command[:2] == ["python", CNN[0]]
    result = run(*command[1:], "--epochs", 3)  # the printed command, as a user would paste it
    names(result.stdout, f"resumed from {checkpoint} after epoch")
    done = int(result.stdout.split("after epoch ")[1].split()[0])
    assert len(accuracies(result.stdout)) == 3 - done


def test_ctrl_c_while_the_checkpoint_is_written_still_offers_it(tmp_path):
    # The Ctrl-C lands after the new checkpoint is written, just before it takes its
    # name: the run stops once it has, and its line offers the checkpoint now there.
    checkpoint = tmp_path / "run.ckpt"
    child = f"""
import os, runpy, signal, sys
real = os.replace
def held_replace(src, dst):
    if str(dst).endswith(".ckpt"):
        signal.pthread_sigmask(signal.SIG_BLOCK, {{signal.SIGINT}})
        print("renaming", flush=True)
        signal.sigwait({{signal.SIGINT}})  # the test's Ctrl-C, whenever it comes
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {{signal.SIGINT}})
        signal.raise_signal(signal.SIGINT)  # to the run's handler, here, mid-rename
    real(src, dst)
os.replace = held_replace
sys.argv = {list(map(str, [*LOGISTIC, "--epochs", 5, "--checkpoint", checkpoint]))!r}
runpy.run_path(sys.argv[0], run_name="__main__")
"""
    proc = start(["-c", child])
    wait_for_line(proc, r"renaming")
    names(ctrl_c(proc), "Ctrl-C", "after epoch 1 of 5", "--resume", checkpoint)
    assert checkpoint.exists()


def test_resuming_a_finished_run_writes_its_save_and_log(tmp_path):
    checkpoint = tmp_path / "run.ckpt"
    run(*LOGISTIC, "--epochs", 1, "--checkpoint", checkpoint)
    result = run(*LOGISTIC, "--epochs", 1, "--resume", checkpoint,
                 "--save", tmp_path / "p.npz", "--log", tmp_path / "log.jsonl")
    assert accuracies(result.stdout) == []
    assert (tmp_path / "p.npz").exists()
    assert '"epoch": 1' in (tmp_path / "log.jsonl").read_text()
