"""The MNIST loader: tiny IDX files written here, every bad input and every kind of
damage (one line naming the file, from check() before any work as from mnist()), the
download path against a real local HTTP server, and the real embedded data."""
import gzip
import hashlib
import http.server
import os
import re
import struct
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import load
from toolkit import mnist_files
from helpers import names, one_line, run
from load import MNISTError, mnist
from toolkit.mnist_files import FILES

REAL = Path(load.__file__).parent / "data" / "mnist"
IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(">i4"): 0x0C,
             np.dtype(">f4"): 0x0D}


def idx_bytes(array):
    array = np.asarray(array)
    return idx_header(IDX_CODES[array.dtype], *array.shape) + array.tobytes()


def idx_header(type_code, *dims):
    return struct.pack(f">BBBB{len(dims)}I", 0, 0, type_code, len(dims), *dims)


def write_idx(path, array, gz):
    data = idx_bytes(array)
    if gz:
        Path(str(path) + ".gz").write_bytes(gzip.compress(data))
    else:
        Path(path).write_bytes(data)


def tiny_set(folder, gz=True, ntrain=7, ntest=5, seed=0):
    """A small data set in the MNIST layout (28 x 28 images), with known contents."""
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = {
        "train_images": rng.integers(0, 256, (ntrain, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, ntrain, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (ntest, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, ntest, dtype=np.uint8),
    }
    for key, array in data.items():
        write_idx(folder / FILES[key], array, gz)
    return data


def gz_path(folder, key):
    return Path(folder) / (FILES[key] + ".gz")


def flip(data, at):
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]


@pytest.mark.parametrize("gz", [True, False])
def test_tiny_set_loads_exactly(tmp_path, gz):
    data = tiny_set(tmp_path, gz=gz)
    mnist_files.check(7, 5, tmp_path)
    trX, teX, trY, teY = mnist(ntrain=7, ntest=5, data_dir=tmp_path)
    assert trX.dtype == np.float32 and trX.shape == (7, 784) and teX.shape == (5, 784)
    np.testing.assert_array_equal(trX, data["train_images"].reshape(7, -1) / np.float32(255))
    assert trX.min() >= 0 and trX.max() <= 1
    assert trY.dtype == np.float32 and trY.shape == (7, 10)
    np.testing.assert_array_equal(trY.argmax(1), data["train_labels"])
    np.testing.assert_array_equal(trY.sum(1), 1)
    _, _, trL, teL = mnist(ntrain=3, ntest=2, onehot=False, data_dir=tmp_path)
    np.testing.assert_array_equal(trL, data["train_labels"][:3])
    np.testing.assert_array_equal(teL, data["test_labels"][:2])


def test_mixed_gz_and_raw_and_env_var(tmp_path, monkeypatch):
    tiny_set(tmp_path, gz=True)
    raw = tmp_path / FILES["test_labels"]
    raw.write_bytes(gzip.decompress(Path(str(raw) + ".gz").read_bytes()))
    os.remove(str(raw) + ".gz")
    monkeypatch.setenv("MNIST_DIR", str(tmp_path))
    trX, teX, trY, teY = mnist(ntrain=7, ntest=5)
    assert teY.shape == (5, 10)


def refused(folder=None, ntrain=7, ntest=5):
    """The one line check() refuses the folder with; mnist() must refuse it the same way."""
    with pytest.raises(MNISTError) as checked:
        mnist_files.check(ntrain, ntest, folder)
    with pytest.raises(MNISTError) as loaded:
        mnist(ntrain, ntest, data_dir=folder)
    message = str(checked.value)
    assert "\n" not in message and str(loaded.value) == message
    return message


def expect_error(match, **kwargs):
    with pytest.raises(MNISTError, match=match) as info:
        mnist(**kwargs)
    assert "\n" not in str(info.value)
    return str(info.value)


@pytest.mark.parametrize("cut", [3, 10, 20])
def test_truncated_file_is_refused_by_name(tmp_path, cut):
    tiny_set(tmp_path, gz=False)
    path = tmp_path / FILES["train_images"]
    path.write_bytes(path.read_bytes()[:-cut] if cut > 5 else path.read_bytes()[:cut])
    names(refused(tmp_path), path, "truncated")


def test_file_longer_than_its_header_says(tmp_path):
    tiny_set(tmp_path, gz=False)
    path = tmp_path / FILES["test_labels"]
    path.write_bytes(path.read_bytes() + b"\0")
    names(refused(tmp_path), path, "too long")


def test_wrong_magic_number(tmp_path):
    tiny_set(tmp_path, gz=False)
    path = tmp_path / FILES["train_labels"]
    path.write_bytes(b"\x12\x34" + path.read_bytes()[2:])
    names(refused(tmp_path), path, "magic number")


def test_image_and_label_counts_differ(tmp_path):
    tiny_set(tmp_path, gz=False)
    write_idx(tmp_path / FILES["train_labels"], np.zeros(6, np.uint8), gz=False)
    names(refused(tmp_path, ntrain=6), "7 images", "6 labels",
          tmp_path / FILES["train_images"], tmp_path / FILES["train_labels"])


# What a damaged .gz does, and the word its refusal must say.
GZIP_DAMAGE = {
    "an invalid deflate block (zlib.error)": (lambda gz: gz[:10] + b"\x07" + gz[11:], "corrupted"),
    "a wrong CRC": (lambda gz: flip(gz, len(gz) - 8), "corrupted"),
    "a wrong length in the trailer": (lambda gz: flip(gz, len(gz) - 1), "corrupted"),
    "cut short (EOFError)": (lambda gz: gz[:-8], "truncated"),
    "cut inside the IDX header": (lambda gz: gz[:14], "truncated"),
    "trailing garbage": (lambda gz: gz + b"garbage!", "corrupted"),
    "not gzip at all": (gzip.decompress, "corrupted"),
    "empty": (lambda gz: b"", "truncated"),
}


@pytest.mark.parametrize("damage", GZIP_DAMAGE)
@pytest.mark.parametrize("key", ["test_images", "train_labels"])
def test_a_damaged_gz_is_one_line_naming_it(tmp_path, damage, key):
    tiny_set(tmp_path)
    change, word = GZIP_DAMAGE[damage]
    path = gz_path(tmp_path, key)
    path.write_bytes(change(path.read_bytes()))
    names(refused(tmp_path), path, word)


@pytest.mark.parametrize("damage", ["an invalid deflate block (zlib.error)",
                                    "cut inside the IDX header", "not gzip at all"])
def test_a_damaged_header_is_refused_in_one_line(tmp_path, damage):
    tiny_set(tmp_path)
    change, word = GZIP_DAMAGE[damage]
    path = gz_path(tmp_path, "test_images")
    path.write_bytes(change(path.read_bytes()))
    with pytest.raises(MNISTError) as info:
        mnist_files.header_shape(path, "images")
    names(str(info.value), path, word)


# IDX contents that lie (written whole, then gzipped or not), and what the refusal names.
BAD_CONTENTS = {
    "dimensions whose product overflows": (
        "test_images", lambda: idx_header(0x08, 5, 2**32 - 1, 2**32 - 1) + bytes(64), "28 x 28"),
    "a 255-dimensional header": (
        "test_labels", lambda: idx_header(0x08, *[2**31] * 255), "one label per example"),
    "images of 28 x 27": (
        "test_images", lambda: idx_bytes(np.zeros((5, 28, 27), np.uint8)), "784"),
    "images as flat rows": (
        "test_images", lambda: idx_bytes(np.zeros((5, 784), np.uint8)), "784"),
    "images as floats": (
        "test_images", lambda: idx_bytes(np.zeros((5, 28, 28), ">f4")), "unsigned bytes"),
    "a label of 10": (
        "test_labels", lambda: idx_bytes(np.array([1, 2, 10, 3, 4], np.uint8)), "10"),
    "a label of 255 (-1 as a signed byte)": (
        "train_labels", lambda: idx_bytes(np.array([0, 1, 2, 3, 4, 5, 255], np.uint8)), "255"),
    "signed labels, one negative": (
        "test_labels", lambda: idx_bytes(np.array([1, 2, -1, 3, 4], np.int8)), "unsigned bytes"),
    "int32 labels that would wrap": (
        "test_labels", lambda: idx_bytes(np.array([1, 2, 256, 3, 4], ">i4")), "unsigned bytes"),
    "labels as a table": (
        "test_labels", lambda: idx_bytes(np.zeros((5, 1), np.uint8)), "one label per example"),
}


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("case", BAD_CONTENTS)
def test_contents_that_lie_are_one_line_naming_the_file(tmp_path, case, gz):
    tiny_set(tmp_path, gz=gz)
    key, contents, word = BAD_CONTENTS[case]
    path = gz_path(tmp_path, key) if gz else tmp_path / FILES[key]
    path.write_bytes(gzip.compress(contents()) if gz else contents())
    names(refused(tmp_path), path, word)


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("promised", [9, 2**32 - 1])  # 4 billion images: 3 TB in five
def test_headers_promising_more_than_the_files_hold(tmp_path, promised, gz):
    tiny_set(tmp_path, gz=gz)
    images, labels = (tmp_path / FILES[key] for key in ("test_images", "test_labels"))
    images.write_bytes(idx_header(0x08, promised, 28, 28) + bytes(5 * 784))
    labels.write_bytes(idx_header(0x08, promised) + bytes(5))
    if gz:
        for path in images, labels:
            Path(str(path) + ".gz").write_bytes(gzip.compress(path.read_bytes()))
            path.unlink()
    # asking for every image promised: refused before anything is set aside for them
    names(refused(tmp_path, ntest=promised), images, "truncated", promised)


def test_a_small_gz_that_inflates_far_is_stopped_early(tmp_path):
    """Five images, then 64 MB of zeros in 64 KB of gzip: refused after a chunk or
    two, never inflated whole."""
    tiny_set(tmp_path)
    path = gz_path(tmp_path, "test_images")
    megabyte_of_zeros = gzip.compress(bytes(1 << 20))  # a gzip member; they concatenate
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((5, 28, 28), np.uint8)))
                     + megabyte_of_zeros * 64)
    tracemalloc.start()
    try:
        message = refused(tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    names(message, path, "too long")
    assert peak < 16 << 20, f"{peak / 2**20:.0f} MB held to refuse 64 MB of zeros"


@pytest.mark.parametrize("ntrain, ntest, match", [
    (8, 5, "ntrain=8 but .* only 7"), (7, 6, "ntest=6 but .* only 5"),
    (0, 5, "ntrain must be a positive integer"), (7, -1, "ntest must be a positive integer"),
    (2.5, 5, "ntrain must be a positive integer"),
])
def test_bad_sizes(tmp_path, ntrain, ntest, match):
    tiny_set(tmp_path)
    with pytest.raises(MNISTError, match=match):
        mnist_files.check(ntrain, ntest, tmp_path)
    expect_error(match, ntrain=ntrain, ntest=ntest, data_dir=tmp_path)


def test_missing_file_in_data_dir(tmp_path):
    tiny_set(tmp_path)
    os.remove(str(tmp_path / FILES["test_images"]) + ".gz")
    expect_error(f"missing {FILES['test_images']}", data_dir=tmp_path)


def long_ago(folder):
    """Files last written a day ago: no longer changing, so a check may be trusted."""
    for path in Path(folder).iterdir():
        os.utime(path, (time.time() - 86400,) * 2)


def test_mnist_trusts_a_check_only_while_the_file_is_unchanged(tmp_path):
    tiny_set(tmp_path)
    long_ago(tmp_path)
    mnist_files.check(7, 5, tmp_path)
    path = gz_path(tmp_path, "test_labels")
    path.write_bytes(gzip.compress(idx_bytes(np.array([1, 2, 10, 3, 4], np.uint8))))
    names(refused(tmp_path), path, "10")


def test_a_file_written_just_now_is_read_again(tmp_path, monkeypatch):
    """Within a file system's timestamp tick a rewrite of the same size would look
    unchanged, so a file as young as that is never trusted."""
    tiny_set(tmp_path)
    mnist_files.check(7, 5, tmp_path)
    wholes = spy_on_reads(monkeypatch)
    mnist(7, 5, data_dir=tmp_path)
    assert len(wholes) == 4


def spy_on_reads(monkeypatch):
    """The files the loader reads whole (decompressing all of it), in order."""
    wholes = []
    read_body = mnist_files.read_body

    def spy(stream, path, *args, **kwargs):
        wholes.append(path)
        return read_body(stream, path, *args, **kwargs)
    monkeypatch.setattr(mnist_files, "read_body", spy)
    return wholes


@pytest.fixture
def trusted_copy(tmp_path, monkeypatch):
    """A folder load trusts as data/mnist/ (checked by sha256), holding the committed
    files, and a fresh process's memory of what it checked."""
    folder = tmp_path / "repo"
    folder.mkdir()
    for name in FILES.values():
        (folder / (name + ".gz")).write_bytes((REAL / (name + ".gz")).read_bytes())
    long_ago(folder)
    monkeypatch.setattr(mnist_files, "REPO_DIR", folder)
    monkeypatch.setattr(mnist_files, "known_sound_files", {})
    monkeypatch.delenv("MNIST_DIR", raising=False)
    return folder


def test_the_committed_data_is_checked_by_its_gz_sha256_and_inflated_once(
        trusted_copy, monkeypatch):
    wholes = spy_on_reads(monkeypatch)
    mnist_files.check()
    assert wholes == []  # the sha256 of the .gz files alone: nothing inflated
    trX, teX, trY, teY = mnist()
    assert wholes == [] and trX.shape == (60000, 784)  # only what it returns is read


def test_the_committed_data_in_another_gzip_container_is_checked_whole(
        trusted_copy, monkeypatch):
    """A mirror's .gz holds the same IDX bytes in other gzip bytes (the cache's case)."""
    path = gz_path(trusted_copy, "test_images")
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()), compresslevel=1))
    long_ago(trusted_copy)
    wholes = spy_on_reads(monkeypatch)
    mnist_files.check()
    assert wholes == [path]  # its decompressed sha256 is MNIST's
    mnist(ntrain=10, ntest=10)
    assert wholes == [path]  # and trusted from then on


def test_the_sha256_of_the_committed_gz_files_are_the_sums_file(monkeypatch):
    sums = dict(line.split()[::-1] for line in (REAL / "SHA256SUMS.gz.txt").read_text()
                .splitlines())
    assert mnist_files.SHA256_GZ == sums


@pytest.fixture
def no_data_anywhere(tmp_path, monkeypatch):
    """No repo copy, an empty cache, and mirrors that are whatever the test says."""
    monkeypatch.setattr(mnist_files, "REPO_DIR", tmp_path / "repo")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("MNIST_DIR", raising=False)
    return tmp_path / "cache" / "pytensor-tutorials" / "mnist"


def test_no_data_and_no_network_says_what_to_do(no_data_anywhere, monkeypatch):
    monkeypatch.setattr(mnist_files, "MIRRORS", ["http://127.0.0.1:9/"])  # discard port: refused
    message = expect_error("could not download", ntrain=1, ntest=1)
    assert "data_dir" in message and str(no_data_anywhere) in message


def test_checksum_mismatch_in_the_trusted_folder(tmp_path, monkeypatch):
    tiny_set(tmp_path / "repo")  # right names, wrong contents: not the MNIST files
    monkeypatch.setattr(mnist_files, "REPO_DIR", tmp_path / "repo")
    monkeypatch.delenv("MNIST_DIR", raising=False)
    names(refused(ntrain=1, ntest=1), "sha256 mismatch", tmp_path / "repo")


class MirrorHandler(http.server.BaseHTTPRequestHandler):
    """Serves the real MNIST .gz files, or damaged ones, as the test asks."""
    damage = None  # None, "corrupt", "deflate" or "interrupt"
    requests = []

    def do_GET(self):
        MirrorHandler.requests.append(self.path)
        path = REAL / Path(self.path).name
        if not path.is_file():
            self.send_error(404)
            return
        body = path.read_bytes()
        if self.damage == "corrupt":  # a valid gzip of other bytes (level 1: quick)
            body = gzip.compress(gzip.decompress(body)[:-1] + b"\x01", compresslevel=1)
        if self.damage == "deflate":  # an invalid deflate block: zlib.error
            body = body[:10] + b"\x07" + body[11:]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.damage == "interrupt":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def mirror(monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), MirrorHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    MirrorHandler.damage = None
    MirrorHandler.requests = []
    monkeypatch.setattr(mnist_files, "MIRRORS", [f"http://127.0.0.1:{server.server_port}/"])
    yield MirrorHandler
    server.shutdown()
    server.server_close()


def test_download_fills_the_cache_then_loads(no_data_anywhere, mirror):
    trX, teX, trY, teY = mnist(ntrain=100, ntest=100)
    assert sorted(p.name for p in no_data_anywhere.iterdir()) == sorted(
        n + ".gz" for n in FILES.values())
    assert len(mirror.requests) == 4
    mnist(ntrain=10, ntest=10)  # second time from the cache, no request
    assert len(mirror.requests) == 4


@pytest.mark.parametrize("damage", ["corrupt", "deflate", "interrupt"])
def test_damaged_download_leaves_nothing(no_data_anywhere, mirror, damage):
    mirror.damage = damage
    message = expect_error("could not download", ntrain=1, ntest=1)
    expected = {"corrupt": "sha256 mismatch", "deflate": "corrupted",
                "interrupt": "IncompleteRead|interrupted"}
    assert re.search(expected[damage], message), message
    assert list(no_data_anywhere.iterdir()) == []  # no half file, no temporary
    mirror.damage = None
    mnist(ntrain=1, ntest=1)  # and a good mirror afterwards works


def test_real_mnist_embedded():
    trX, teX, trY, teY = mnist()
    assert trX.shape == (60000, 784) and teX.shape == (10000, 784)
    assert trX.dtype == teX.dtype == trY.dtype == np.float32
    assert trY.sum(0).astype(int).tolist() == [5923, 6742, 5958, 6131, 5842,
                                               5421, 5918, 6265, 5851, 5949]
    assert teY.sum(0).astype(int).tolist() == [980, 1135, 1032, 1010, 982,
                                               892, 958, 1028, 974, 1009]
    assert abs(trX.mean() - 0.13066) < 1e-4 and abs(trX.std() - 0.30811) < 1e-4
    assert abs(teX.mean() - 0.13251) < 1e-4 and abs(teX.std() - 0.31048) < 1e-4


def test_real_mnist_subset_is_the_head():
    trX, teX, trY, teY = mnist(ntrain=500, ntest=300, onehot=False)
    full = mnist(onehot=False)
    np.testing.assert_array_equal(trX, full[0][:500])
    np.testing.assert_array_equal(teY, full[3][:300])


def test_embedded_gz_files_match_their_sums():
    for line in (REAL / "SHA256SUMS.gz.txt").read_text().splitlines():
        digest, name = line.split()
        assert hashlib.sha256((REAL / name).read_bytes()).hexdigest() == digest


# Through the script a learner runs: refused by its command-line check, before any work.
def run_on(folder, env=None):
    return run("2_logistic_regression.py", "--data-dir", folder, "--epochs", 1,
               "--ntrain", 100, "--ntest", 100, check=False, env=env)


def label_of_twelve(folder):
    path = gz_path(folder, "test_labels")
    path.write_bytes(gzip.compress(idx_bytes(np.full(100, 12, np.uint8))))
    return path


def invalid_deflate_block(folder):
    path = gz_path(folder, "train_images")
    path.write_bytes(GZIP_DAMAGE["an invalid deflate block (zlib.error)"][0](path.read_bytes()))
    return path


def inflates_far(folder):
    path = gz_path(folder, "test_images")
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((100, 28, 28), np.uint8)))
                     + gzip.compress(bytes(1 << 20)) * 256)
    return path


@pytest.mark.parametrize("damage", [invalid_deflate_block, label_of_twelve, inflates_far])
def test_the_script_refuses_damaged_data_in_one_line(tmp_path, damage):
    tiny_set(tmp_path, ntrain=100, ntest=100)
    path = damage(tmp_path)
    result = run_on(tmp_path)
    names(one_line(result), "2_logistic_regression.py", path)
    assert "Traceback" not in result.stderr


def test_the_script_refuses_a_flipped_copy_of_mnist_in_mnist_dir(tmp_path):
    for name in FILES.values():
        (tmp_path / (name + ".gz")).symlink_to(REAL / (name + ".gz"))
    path = gz_path(tmp_path, "test_images")
    path.unlink()
    path.write_bytes(flip((REAL / path.name).read_bytes(), 500_000))
    result = run("2_logistic_regression.py", "--epochs", 1, "--ntrain", 100, "--ntest", 100,
                 check=False, env={**os.environ, "MNIST_DIR": str(tmp_path)})
    names(one_line(result), "2_logistic_regression.py", path)
    assert "Traceback" not in result.stderr


# The byte-flip sweep: every 1000th byte of a committed test-set .gz, one at a time.
def problem(message, path):
    """What a refusal of `path` says is wrong: the words between the path and the details."""
    assert message.startswith(f"{path}: "), message
    return message[len(f"{path}: "):].split(":")[0]


def outcome(folder, ntrain):
    """'loaded', or what check() refused the folder for (and mnist() must agree)."""
    try:
        mnist_files.check(ntrain, 10000, folder)
    except MNISTError as e:
        with pytest.raises(MNISTError, match="^" + re.escape(str(e)) + "$"):
            mnist(ntrain, 10000, data_dir=folder)
        return str(e)
    mnist(ntrain, 10000, data_dir=folder)
    return "loaded"


def sweep(folder, name, ntrain, every=1000, data_dir=True):
    """Counts of what check() and mnist() said with each `every`-th byte of the .gz
    `name` in `folder` flipped (data_dir=False: the folder load trusts, by sha256).
    Anything but an MNISTError escapes."""
    path = Path(folder) / name
    good = (REAL / name).read_bytes()
    said = Counter()
    for at in range(0, len(good), every):
        path.unlink(missing_ok=True)
        path.write_bytes(flip(good, at))
        result = outcome(folder if data_dir else None, ntrain)
        said[result if result == "loaded" else problem(result, path)] += 1
    path.write_bytes(good)
    return said


def sweep_folder(folder):
    """The committed test files, and a tiny training set (a sweep flips the test files)."""
    tiny_set(folder, ntrain=7)
    for name in (FILES["test_images"], FILES["test_labels"]):
        (folder / (name + ".gz")).write_bytes((REAL / (name + ".gz")).read_bytes())
    return folder


@pytest.mark.parametrize("name, every", [
    (FILES["test_labels"] + ".gz", 1000),
    (FILES["test_images"] + ".gz", 100_000),
    pytest.param(FILES["test_images"] + ".gz", 1000, marks=pytest.mark.slow),
])
def test_byte_flips_in_a_data_dir_are_refused_in_one_line_or_harmless(tmp_path, name, every):
    said = sweep(sweep_folder(tmp_path), name, ntrain=7, every=every)
    assert sum(said.values()) == len(range(0, (REAL / name).stat().st_size, every))
    assert said["loaded"] == 0  # gzip's CRC catches what no checksum of ours does here


@pytest.mark.parametrize("name, every", [
    (FILES["test_labels"] + ".gz", 1000),
    (FILES["test_images"] + ".gz", 100_000),
    pytest.param(FILES["test_images"] + ".gz", 10_000, marks=pytest.mark.slow),
])
def test_byte_flips_in_the_committed_data_are_refused_in_one_line(trusted_copy, name, every):
    said = sweep(trusted_copy, name, ntrain=1, every=every, data_dir=False)
    assert said["loaded"] == 0
    assert sum(said.values()) == len(range(0, (REAL / name).stat().st_size, every))


def test_byte_flips_in_raw_images_are_refused_or_load_exactly_that_byte(tmp_path):
    """Raw IDX has no CRC: a flipped pixel loads. The loaded values are then the
    file's exactly, the one flipped pixel changed; a flipped header is refused."""
    folder = sweep_folder(tmp_path)
    name = FILES["test_images"]
    good = gzip.decompress((folder / (name + ".gz")).read_bytes())
    (folder / (name + ".gz")).unlink()
    path, pixels = folder / name, np.frombuffer(good[16:], np.uint8)
    refusals, loads = 0, 0
    for at in [0, 3, 7, 15, *range(16, len(good), 97_001)]:
        path.write_bytes(flip(good, at))
        try:
            mnist_files.check(7, 10000, folder)
        except MNISTError as e:
            names(str(e), path)
            refusals += 1
            continue
        teX = mnist(7, 10000, onehot=False, data_dir=folder)[1]
        loaded = np.round(teX.reshape(-1) * 255).astype(np.uint8)
        assert np.flatnonzero(loaded != pixels).tolist() == [at - 16]
        assert loaded[at - 16] == pixels[at - 16] ^ 0xFF
        loads += 1
    assert refusals == 4 and loads == len(range(16, len(good), 97_001))


def test_each_place_to_look_is_the_one_used(tmp_path, monkeypatch):
    """--data-dir over MNIST_DIR over the repository's data/mnist/: the images loaded
    are the ones of the place that should win, each set told apart by its pixels."""
    sets = {place: tiny_set(tmp_path / place, seed=seed)
            for seed, place in enumerate(["given", "env", "repo"])}
    monkeypatch.setattr(mnist_files, "REPO_DIR", tmp_path / "repo")
    monkeypatch.setattr(mnist_files, "SHA256_GZ", {})  # the stand-in is not MNIST's bytes
    monkeypatch.setattr(mnist_files, "SHA256", {name: None for name in mnist_files.SHA256})

    def loaded_from(**kwargs):
        trX = mnist(7, 5, **kwargs)[0]
        return [place for place, data in sets.items()
                if np.array_equal(trX, data["train_images"].reshape(7, -1) / np.float32(255))]
    monkeypatch.delenv("MNIST_DIR", raising=False)
    assert loaded_from() == ["repo"]
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "env"))
    assert loaded_from() == ["env"]
    assert loaded_from(data_dir=tmp_path / "given") == ["given"]
