"""The MNIST files behind load.py: where they are, and whether they are sound.

Where the files are looked for, in order:
  1. the `data_dir` argument (--data-dir),
  2. the MNIST_DIR environment variable,
  3. the repository's data/mnist/ (committed, so a fresh clone needs no network),
  4. a per-user cache ($XDG_CACHE_HOME or ~/.cache, then pytensor-tutorials/mnist),
  5. a download from the public mirrors into that cache (verified, then renamed
     into place: an interrupted download leaves nothing behind).
Any folder in the MNIST layout (Fashion-MNIST, for one) loads through `data_dir`.

Every file is checked before it is used, and anything wrong with one (damaged gzip
data, a header that lies, images that are not 28 x 28, labels outside 0-9, a file
that inflates beyond what its header promises) is one MNISTError naming the file.
check() does that for a whole folder before any work; the committed MNIST is
checked by the sha256 of its .gz files. A file found sound is trusted for the rest
of the process while it stays unchanged, so a run checks each file once.
"""
import gzip
import hashlib
import http.client
import math
import os
import struct
import sys
import tempfile
import time
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from toolkit import ROOT

REPO_DIR = ROOT / "data" / "mnist"

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

# sha256 of the *decompressed* files: the gzip container differs between mirrors.
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

# sha256 of the committed .gz files (data/mnist/SHA256SUMS.gz.txt): checking these
# bytes as they are on disk costs no decompression.
SHA256_GZ = {
    "train-images-idx3-ubyte.gz":
        "0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971",
    "train-labels-idx1-ubyte.gz":
        "1787548bbe0bff1ec2ecdc0ef292b02df999e2d1a6002d27500982c652b17203",
    "t10k-images-idx3-ubyte.gz":
        "1a1a05eab793c14bb050b398624a11b0ffd1a2953baed553b1b9bd079e2a20be",
    "t10k-labels-idx1-ubyte.gz":
        "b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b",
}

MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
]

# IDX type byte -> what it stores; MNIST's files all hold unsigned bytes (0x08).
IDX_TYPES = {0x08: "unsigned bytes", 0x09: "signed bytes", 0x0B: "16-bit integers",
             0x0C: "32-bit integers", 0x0D: "32-bit floats", 0x0E: "64-bit floats"}

# Bytes decompressed at a time: whatever a file inflates to, memory holds one chunk
# beyond the examples kept.
CHUNK = 1 << 20

# Deflate inflates a byte to at most 1032 (a long run of zeros): the most a .gz can hold.
MOST_INFLATION = 1032

# path -> (size, mtime, inode) of each file this process read whole and found sound:
# a run checks each file once, however often it calls check() and mnist().
known_sound_files = {}


class MNISTError(Exception):
    """Bad or missing data: the message names the file and what is wrong."""


def cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pytensor-tutorials" / "mnist"


def open_idx(path):
    return gzip.open(path) if path.suffix == ".gz" else open(path, "rb")


def unreadable(path, error):
    """The one-line MNISTError for a read that failed."""
    if isinstance(error, EOFError):
        return MNISTError(f"{path}: truncated: the compressed data ends early")
    if isinstance(error, (zlib.error, gzip.BadGzipFile)):
        return MNISTError(f"{path}: corrupted gzip data: {error}")
    return MNISTError(f"{path}: cannot read: {error}")


def describe(shape):
    return " x ".join(map(str, shape)) if len(shape) <= 4 else f"{len(shape)} dimensions"


def read_header(stream, path, kind):
    """(shape, header bytes) of an MNIST file of `kind`, "images" or "labels", checked:
    unsigned bytes, 28 x 28 images or one label per example."""
    start = stream.read(4)
    if len(start) < 4:
        raise MNISTError(f"{path}: truncated: {len(start)} bytes, too short for an IDX header")
    if start[:2] != b"\0\0" or start[2] not in IDX_TYPES or start[3] == 0:
        raise MNISTError(f"{path}: not an IDX file: magic number 0x{start.hex()}")
    if start[2] != 0x08:
        raise MNISTError(f"{path}: not MNIST's format: its {kind} are {IDX_TYPES[start[2]]}, "
                         f"MNIST's are unsigned bytes (IDX type 0x08)")
    ndim = start[3]
    dims = stream.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise MNISTError(f"{path}: truncated: {4 + len(dims)} bytes, its IDX header needs "
                         f"{4 + 4 * ndim}")
    shape = struct.unpack(f">{ndim}I", dims)
    if kind == "images" and shape[1:] != (28, 28):
        raise MNISTError(f"{path}: not 28 x 28 images: its header says {describe(shape)}; "
                         f"the scripts need 28 x 28 = 784 pixels an image")
    if kind == "labels" and ndim != 1:
        raise MNISTError(f"{path}: not one label per example: its header says {describe(shape)}")
    return shape, start + dims


def check_labels(labels, first, path):
    outside = np.flatnonzero(labels > 9)
    if outside.size:
        at = outside[0]
        raise MNISTError(f"{path}: labels outside 0-9: {labels[at]} for example {first + at}")


def check_room(path, shape, room):
    """Refuse at once a header promising more bytes than the file can hold: nothing
    is read, or set aside, for examples that cannot be there."""
    if math.prod(shape) > room:
        raise MNISTError(f"{path}: truncated: its header ({describe(shape)}) promises "
                         f"{math.prod(shape)} bytes, more than a file of its size can hold")


def read_body(stream, path, kind, shape, digest=None):
    """Read and check everything after the header, a chunk at a time, stopping at the
    first byte beyond what the header promises (a small .gz can inflate to gigabytes)."""
    size = math.prod(shape)  # Python's integers: no overflow, whatever the header says
    done = 0
    while chunk := stream.read(CHUNK):
        if done + len(chunk) > size:
            raise MNISTError(f"{path}: too long: more than the {size} bytes of {kind} its "
                             f"header ({describe(shape)}) promises")
        if kind == "labels":
            check_labels(np.frombuffer(chunk, np.uint8), done, path)
        if digest:
            digest.update(chunk)
        done += len(chunk)
    if done < size:
        raise MNISTError(f"{path}: truncated: {done} bytes of {kind} where its header "
                         f"({describe(shape)}) promises {size}")


def signature(path):
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns, stat.st_ino


def remember(path, seen):
    """Trust `path` from now on while its signature stays `seen`. Not a file written in
    the last two seconds: a rewrite within one tick of the file system's clock would
    keep its size and time."""
    if time.time_ns() - seen[1] > 2 * 10**9:
        known_sound_files[path.resolve()] = seen


def is_known_sound(path, seen, sha256):
    """Whether `path` needs no reading whole: this process found it sound already, or it
    is, byte for byte, the committed MNIST .gz (one sha256 of the file, nothing inflated)."""
    if known_sound_files.get(path.resolve()) == seen:
        return True
    if sha256 and path.name in SHA256_GZ:
        with open(path, "rb") as f:
            if hashlib.file_digest(f, "sha256").hexdigest() == SHA256_GZ[path.name]:
                remember(path, seen)
                return True
    return False


def check_file(path, kind, sha256=None):
    """Read all of an MNIST file and check it (against the decompressed sha256, if
    given), unless it is known sound already."""
    try:
        seen = signature(path)
        if is_known_sound(path, seen, sha256):
            return
        digest = hashlib.sha256() if sha256 else None
        with open_idx(path) as stream:
            shape, header = read_header(stream, path, kind)
            check_room(path, shape, seen[0] * (MOST_INFLATION if path.suffix == ".gz" else 1))
            if digest:
                digest.update(header)
            read_body(stream, path, kind, shape, digest)
    except (OSError, EOFError, zlib.error) as e:
        raise unreadable(path, e) from None
    if digest and digest.hexdigest() != sha256:
        raise MNISTError(f"{path}: sha256 mismatch: this is not the MNIST file "
                         f"(corrupted or replaced); delete it and load again")
    remember(path, seen)


def header_shape(path, kind):
    """The shape an MNIST file's header gives, checked, from its header alone."""
    try:
        with open_idx(path) as stream:
            return read_header(stream, path, kind)[0]
    except (OSError, EOFError, zlib.error) as e:
        raise unreadable(path, e) from None


def find(folder, name):
    """The .gz or raw file called `name` in folder, or None."""
    for candidate in (Path(folder) / (name + ".gz"), Path(folder) / name):
        if candidate.is_file():
            return candidate
    return None


def has_all(folder):
    return folder is not None and all(find(folder, n) for n in FILES.values())


def download(folder, mirrors=None, progress=None):
    """Fetch the four MNIST files into `folder`, verified, each renamed into place.

    A file is first written under a temporary name in `folder`; only once it has
    arrived whole and its decompressed sha256 matches is it renamed to its
    real name. An interrupted or corrupted download leaves nothing behind.
    """
    mirrors = MIRRORS if mirrors is None else mirrors
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in FILES.values():
        if find(folder, name):
            continue
        errors = []
        for mirror in mirrors:
            url = mirror + name + ".gz"
            try:
                fetch_verified(url, folder / (name + ".gz"), name, progress)
                break
            except (OSError, http.client.HTTPException, MNISTError) as e:
                errors.append(f"{url}: {e}")
        else:
            raise MNISTError(
                f"could not download {name}.gz from any mirror ({'; '.join(errors)}); "
                f"put the four MNIST files in {folder} or pass data_dir=")


def fetch_verified(url, dest, name, progress=None):
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part.gz", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=30) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            bar = make_bar(total, name, progress)
            received = 0
            while chunk := response.read(1 << 16):
                out.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
            bar.close()
        if total is not None and received != total:
            raise MNISTError(f"{url}: interrupted: got {received} of {total} bytes")
        check_file(Path(tmp), kind_of(name), SHA256[name])  # whole, bounded, MNIST's
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def make_bar(total, name, progress=None):
    from tqdm import tqdm
    if progress is None:
        progress = sys.stderr.isatty()
    return tqdm(total=total, desc=f"downloading {name}", unit="B", unit_scale=True,
                disable=not progress, leave=False)


def locate(data_dir=None):
    """The folder to load from, and whether its files must be MNIST's exactly."""
    for given, origin in ((data_dir, "data_dir"), (os.environ.get("MNIST_DIR"), "MNIST_DIR")):
        if given:
            if not has_all(given):
                missing = [n for n in FILES.values() if not find(given, n)]
                raise MNISTError(f"{origin}={given}: missing {', '.join(missing)} (.gz or raw)")
            return Path(given), False
    if has_all(REPO_DIR):
        return REPO_DIR, True
    cache = cache_dir()
    if not has_all(cache):
        try:
            download(cache)
        except MNISTError as e:
            raise MNISTError(f"MNIST not found in {REPO_DIR} or {cache}, and {e}") from None
    return cache, True


def kind_of(name):
    return "images" if "-images-" in name else "labels"


def check_sizes(ntrain, ntest):
    for split, n in (("train", ntrain), ("test", ntest)):
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n <= 0:
            raise MNISTError(f"n{split} must be a positive integer, got {n!r}")


def check_split(folder, split, n, verify):
    """Check one split's images and labels for the first n examples: their headers
    agree, they hold n, and each file is read whole and checked unless known sound."""
    image_file = find(folder, FILES[f"{split}_images"])
    label_file = find(folder, FILES[f"{split}_labels"])
    count = header_shape(image_file, "images")[0]
    labels = header_shape(label_file, "labels")[0]
    if count != labels:
        raise MNISTError(f"{image_file} holds {count} images but {label_file} "
                         f"holds {labels} labels")
    if n > count:
        raise MNISTError(f"n{split}={n} but {image_file} holds only {count} images")
    for path in (image_file, label_file):
        check_file(path, kind_of(path.name), SHA256[path.name.removesuffix(".gz")] if verify
                   else None)


# (data_dir, MNIST_DIR, repository folder, cache folder) -> what locate() found there:
# a run looks for its folder once, however many times it checks and loads.
found_folders = {}


def find_folder(data_dir=None):
    """locate(data_dir), once per process for the same places to look."""
    key = (str(data_dir or ""), os.environ.get("MNIST_DIR") or "", REPO_DIR, cache_dir())
    if key not in found_folders or not has_all(found_folders[key][0]):
        found_folders[key] = locate(data_dir)
    return found_folders[key]


def check(ntrain=60000, ntest=10000, data_dir=None):
    """The folder mnist(ntrain, ntest, data_dir=data_dir) reads, and whether its files
    are the official MNIST ones; MNISTError at once where that would fail, so that it
    cannot fail afterwards: every file is read whole and checked (headers, sizes,
    labels, gzip's CRC), and the committed MNIST is checked by the sha256 of its .gz
    files alone. What passes is not read whole again in this process while unchanged."""
    check_sizes(ntrain, ntest)
    folder, official = find_folder(data_dir)
    for split, n in (("train", ntrain), ("test", ntest)):
        check_split(folder, split, n, official)
    return folder, official
