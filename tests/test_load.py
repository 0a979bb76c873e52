"""The MNIST loader: tiny IDX files written here, every bad input, the download
path against a real local HTTP server, and the real embedded data."""
import gzip
import http.server
import os
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

import load
from load import FILES, MNISTError, mnist

REAL = Path(load.__file__).parent / "data" / "mnist"


def idx_bytes(array):
    array = np.asarray(array)
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D}
    header = struct.pack(">BBBB", 0, 0, codes[array.dtype], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write_idx(path, array, gz):
    data = idx_bytes(array)
    if gz:
        Path(str(path) + ".gz").write_bytes(gzip.compress(data))
    else:
        Path(path).write_bytes(data)


def tiny_set(folder, gz=True, ntrain=7, ntest=5, rows=4, cols=3, seed=0):
    """A small data set in the MNIST layout, with known contents."""
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = {
        "train_images": rng.integers(0, 256, (ntrain, rows, cols), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, ntrain, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (ntest, rows, cols), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, ntest, dtype=np.uint8),
    }
    for key, array in data.items():
        write_idx(folder / FILES[key], array, gz)
    return data


@pytest.mark.parametrize("gz", [True, False])
def test_tiny_set_loads_exactly(tmp_path, gz):
    data = tiny_set(tmp_path, gz=gz)
    trX, teX, trY, teY = mnist(ntrain=7, ntest=5, data_dir=tmp_path)
    assert trX.dtype == np.float32 and trX.shape == (7, 12) and teX.shape == (5, 12)
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


def test_parse_idx_reads_other_types():
    ints = np.arange(6, dtype=">i4").reshape(2, 3)
    np.testing.assert_array_equal(load.parse_idx(idx_bytes(ints)), ints)
    floats = np.linspace(0, 1, 4, dtype=">f4")
    np.testing.assert_array_equal(load.parse_idx(idx_bytes(floats)), floats)


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
    message = expect_error("truncated", ntrain=7, ntest=5, data_dir=tmp_path)
    assert FILES["train_images"] in message


def test_truncated_gzip_is_refused(tmp_path):
    tiny_set(tmp_path, gz=True)
    path = Path(str(tmp_path / FILES["test_images"]) + ".gz")
    path.write_bytes(path.read_bytes()[:-8])
    message = expect_error("cannot read", ntrain=7, ntest=5, data_dir=tmp_path)
    assert FILES["test_images"] in message


def test_file_longer_than_its_header_says(tmp_path):
    tiny_set(tmp_path, gz=False)
    path = tmp_path / FILES["test_labels"]
    path.write_bytes(path.read_bytes() + b"\0")
    expect_error("too long", ntrain=7, ntest=5, data_dir=tmp_path)


def test_wrong_magic_number(tmp_path):
    tiny_set(tmp_path, gz=False)
    path = tmp_path / FILES["train_labels"]
    path.write_bytes(b"\x12\x34" + path.read_bytes()[2:])
    message = expect_error("magic number", ntrain=7, ntest=5, data_dir=tmp_path)
    assert FILES["train_labels"] in message


def test_image_and_label_counts_differ(tmp_path):
    tiny_set(tmp_path, gz=False)
    write_idx(tmp_path / FILES["train_labels"], np.zeros(6, np.uint8), gz=False)
    expect_error("7 images but .* 6 labels", ntrain=6, ntest=5, data_dir=tmp_path)


@pytest.mark.parametrize("ntrain, ntest, match", [
    (8, 5, "ntrain=8 but .* only 7"), (7, 6, "ntest=6 but .* only 5"),
    (0, 5, "ntrain must be a positive integer"), (7, -1, "ntest must be a positive integer"),
    (2.5, 5, "ntrain must be a positive integer"),
])
def test_bad_sizes(tmp_path, ntrain, ntest, match):
    tiny_set(tmp_path)
    expect_error(match, ntrain=ntrain, ntest=ntest, data_dir=tmp_path)


def test_missing_file_in_data_dir(tmp_path):
    tiny_set(tmp_path)
    os.remove(str(tmp_path / FILES["test_images"]) + ".gz")
    expect_error(f"missing {FILES['test_images']}", data_dir=tmp_path)


@pytest.fixture
def no_data_anywhere(tmp_path, monkeypatch):
    """No repo copy, an empty cache, and mirrors that are whatever the test says."""
    monkeypatch.setattr(load, "REPO_DIR", tmp_path / "repo")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("MNIST_DIR", raising=False)
    return tmp_path / "cache" / "pytensor-tutorials" / "mnist"


def test_no_data_and_no_network_says_what_to_do(no_data_anywhere, monkeypatch):
    monkeypatch.setattr(load, "MIRRORS", ["http://127.0.0.1:9/"])  # discard port: refused
    message = expect_error("could not download", ntrain=1, ntest=1)
    assert "data_dir" in message and str(no_data_anywhere) in message


def test_checksum_mismatch_in_the_trusted_folder(tmp_path, monkeypatch):
    tiny_set(tmp_path / "repo")  # right names, wrong contents: not the MNIST files
    monkeypatch.setattr(load, "REPO_DIR", tmp_path / "repo")
    monkeypatch.delenv("MNIST_DIR", raising=False)
    expect_error("sha256 mismatch", ntrain=1, ntest=1)


class MirrorHandler(http.server.BaseHTTPRequestHandler):
    """Serves the real MNIST .gz files, or damaged ones, as the test asks."""
    damage = None  # None, "corrupt" or "interrupt"
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
    monkeypatch.setattr(load, "MIRRORS", [f"http://127.0.0.1:{server.server_port}/"])
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


@pytest.mark.parametrize("damage", ["corrupt", "interrupt"])
def test_damaged_download_leaves_nothing(no_data_anywhere, mirror, damage):
    mirror.damage = damage
    message = expect_error("could not download", ntrain=1, ntest=1)
    import re
    assert re.search("sha256 mismatch" if damage == "corrupt" else "IncompleteRead|interrupted",
                     message), message
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
    import hashlib
    for line in (REAL / "SHA256SUMS.gz.txt").read_text().splitlines():
        digest, name = line.split()
        assert hashlib.sha256((REAL / name).read_bytes()).hexdigest() == digest
