"""Every file the project writes is written whole or not at all, and what is at the
path is written, never replaced: a link's target, a file's mode, a device."""
import os
import stat
import subprocess
import sys
import threading

import pytest

import helpers
from helpers import ROOT, names, wait_for_line
from toolkit import files


def test_a_symbolic_link_is_followed_and_stays_a_link(tmp_path):
    target, link = tmp_path / "real.jsonl", tmp_path / "link.jsonl"
    target.write_text("old\n")
    link.symlink_to(target)
    files.write_atomic(link, "new\n")
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text() == "new\n"


def test_a_dangling_link_gets_its_target_made(tmp_path):
    link = tmp_path / "link.npz"
    link.symlink_to(tmp_path / "not yet.npz")
    files.write_atomic(link, b"data")
    assert link.is_symlink() and (tmp_path / "not yet.npz").read_bytes() == b"data"


def test_an_existing_file_keeps_its_mode(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text("old\n")
    path.chmod(0o640)
    files.write_atomic(path, "new\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640 and path.read_text() == "new\n"


def test_a_new_file_gets_the_umask_and_the_umask_is_never_set(tmp_path):
    """In a child of its own, so the test's umask stays as it is."""
    code = f"""
import os, stat
from toolkit import files
os.umask(0o027)
real_umask = os.umask
def no_umask(mask):
    raise AssertionError("write_atomic set the umask")
os.umask = no_umask
files.write_atomic({str(tmp_path / "new.txt")!r}, "x")
print(oct(stat.S_IMODE(os.stat({str(tmp_path / "new.txt")!r}).st_mode)))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "0o640"  # 0o666 less the umask, as open() would make it


def test_the_data_is_on_disk_before_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append("rename"),
                                                     real_replace(a, b))[1])
    files.write_atomic(tmp_path / "x.npz", b"data")
    assert events[:2] == ["fsync", "rename"]


def test_a_pipe_is_written_to_never_replaced(tmp_path):
    """A FIFO stands for /dev/stdout and the other special files (never the real /dev)."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    files.write_atomic(fifo, b"one line\n")
    reader.join(timeout=60)
    assert received == [b"one line\n"]
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")
def test_a_device_is_written_to_never_replaced(tmp_path):
    null = tmp_path / "null"  # a /dev/null of the test's own, in its folder
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    files.write_atomic(null, b"gone")
    assert stat.S_ISCHR(null.lstat().st_mode)


def test_a_hard_link_is_replaced_as_git_and_rsync_do(tmp_path):
    path, other = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    path.write_text("old\n")
    os.link(path, other)
    files.write_atomic(path, "new\n")
    assert path.read_text() == "new\n" and other.read_text() == "old\n"


def test_a_folder_is_refused(tmp_path):
    with pytest.raises(files.WriteError) as error:
        files.write_atomic(tmp_path, b"x")
    names(str(error.value), tmp_path, "folder")


@pytest.fixture
def small_disk(tmp_path):
    """A 16 KiB tmpfs of the test's own, as a full disk; skipped where mounting is
    not allowed."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(disk)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root in a machine that allows it)")
    yield disk
    subprocess.run(["umount", str(disk)], check=True)


def test_a_full_disk_keeps_the_previous_file(small_disk):
    path = small_disk / "run.ckpt"
    path.write_bytes(b"the last complete checkpoint")
    with pytest.raises(files.WriteError) as error:
        files.write_atomic(path, b"x" * (1 << 20))
    names(str(error.value), path, "No space left", "unchanged")
    assert path.read_bytes() == b"the last complete checkpoint"
    assert [p.name for p in small_disk.iterdir()] == ["run.ckpt"]  # no half file left


def test_writable_says_why_not(tmp_path):
    assert files.writable(tmp_path / "new.npz") is None
    names(files.writable(tmp_path), "folder")
    names(files.writable(tmp_path / "missing" / "x.npz"), tmp_path / "missing", "does not exist")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert files.writable(fifo) is None
    assert list(tmp_path.iterdir()) == [fifo]  # the try leaves nothing behind


def test_a_legal_long_name_is_written(tmp_path):
    """A 245-byte name is legal (255 is the most); the temporary file beside it must
    not be the name that is too long."""
    path = tmp_path / ("m" * 241 + ".npz")
    assert files.writable(path) is None
    files.write_atomic(path, b"data")
    assert path.read_bytes() == b"data" and os.listdir(tmp_path) == [path.name]


def test_an_illegal_name_is_said_to_be_too_long(tmp_path):
    why = files.writable(tmp_path / ("m" * 296 + ".npz"))
    names(why, "name", "300", "255")


def test_a_write_killed_midway_leaves_what_the_next_write_removes(tmp_path):
    """kill -9 between creating the temporary file and renaming it: the next write
    of the same file removes that leftover, and keeps another live writer's."""
    target = tmp_path / "run.npz"
    child = helpers.start(
        [sys.executable, "-c", "import sys, time\nfrom toolkit import files\n"
         "tmp, fd = files.new_file_beside(sys.argv[1])\nprint(tmp, flush=True)\n"
         "time.sleep(600)\n", str(target)], stdout=subprocess.PIPE, text=True)
    leftover = wait_for_line(child, ".").strip()  # the child made it, then holds
    child.kill()
    child.wait(timeout=60)
    assert os.path.exists(leftover)
    live = files.new_file_beside(str(target))  # ours, this process being alive
    os.close(live[1])
    files.write_atomic(target, b"data")
    assert sorted(os.listdir(tmp_path)) == sorted([target.name, os.path.basename(live[0])])
