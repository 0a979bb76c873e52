"""The one MNIST loader every script shares.

    from load import mnist
    trX, teX, trY, teY = mnist(ntrain=60000, ntest=10000, onehot=True)

Images come back as float32 rows of 784 pixels scaled to [0, 1]; labels as
one-hot float32 rows of 10 (or, with onehot=False, integer labels).

Where the files are looked for, in order:
  1. the `data_dir` argument,
  2. the MNIST_DIR environment variable,
  3. this repository's data/mnist/ (committed, so a fresh clone needs no network),
  4. a per-user cache ($XDG_CACHE_HOME or ~/.cache, then pytensor-tutorials/mnist),
  5. a download from the public mirrors into that cache.
Any folder in the MNIST layout (Fashion-MNIST, for one) loads through `data_dir`.

Your own digit, from a PNG or JPEG, as one more row of the same kind:

    x = read_digit("my_digit.png")   # 784 float32 pixels, made the way MNIST was
"""
import gzip
import hashlib
import http.client
import os
import sys
import tempfile
import urllib.request
from pathlib import Path

import numpy as np

REPO_DIR = Path(__file__).resolve().parent / "data" / "mnist"
SAMPLE_DIGIT = REPO_DIR.parent / "digits" / "7.png"  # an MNIST test 7, written out as a PNG

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

MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
]

# IDX type byte -> numpy dtype (IDX stores multi-byte numbers big-endian).
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

# Exact pixel / 255 for every byte value: a table lookup beats a division.
PIXEL_SCALE = np.arange(256, dtype=np.float32) / np.float32(255)


class MNISTError(Exception):
    """Bad or missing data: the message names the file and what is wrong."""


def cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pytensor-tutorials" / "mnist"


def idx_header(data, name="<bytes>"):
    """(dtype, shape, header length) from the first bytes of an IDX file."""
    if len(data) < 4:
        raise MNISTError(f"{name}: truncated: {len(data)} bytes, too short for an IDX header")
    zero1, zero2, type_code, ndim = data[:4]
    if zero1 != 0 or zero2 != 0 or type_code not in IDX_DTYPES or ndim == 0:
        raise MNISTError(f"{name}: not an IDX file (magic number 0x{data[:4].hex()})")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise MNISTError(f"{name}: truncated: {len(data)} bytes, header needs {header}")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, 4))
    return np.dtype(IDX_DTYPES[type_code]), shape, header


def parse_idx(data, name="<bytes>"):
    """Decode IDX bytes into a numpy array, trusting nothing but the header."""
    dtype, shape, header = idx_header(data, name)
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "too long"
        raise MNISTError(
            f"{name}: {what}: {len(data)} bytes, but its header {shape} says {expected}")
    return np.frombuffer(data, dtype, offset=header).reshape(shape)


def read_file(path, verify=False):
    """Bytes of an IDX file, .gz or raw, checked against MNIST's sha256 if asked."""
    path = Path(path)
    try:
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise MNISTError(f"{path}: cannot read: {e}") from None
    if verify:
        name = path.name.removesuffix(".gz")
        if hashlib.sha256(data).hexdigest() != SHA256[name]:
            raise MNISTError(f"{path}: sha256 mismatch: this is not the MNIST file "
                             f"(corrupted or replaced); delete it and load again")
    return data


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
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=dest.parent)
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
        try:
            data = gzip.decompress(Path(tmp).read_bytes())
        except (OSError, EOFError) as e:
            raise MNISTError(f"{url}: not a valid gzip file ({e})") from None
        if hashlib.sha256(data).hexdigest() != SHA256[name]:
            raise MNISTError(f"{url}: sha256 mismatch, download rejected")
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


def to_onehot(labels, n_classes=10):
    n_classes = max(n_classes, int(labels.max(initial=0)) + 1)
    onehot = np.zeros((len(labels), n_classes), dtype=np.float32)
    onehot[np.arange(len(labels)), labels] = 1
    return onehot


def load_split(folder, images, labels, n, verify, split):
    image_file, label_file = find(folder, images), find(folder, labels)
    X = parse_idx(read_file(image_file, verify), str(image_file))
    Y = parse_idx(read_file(label_file, verify), str(label_file))
    if X.ndim < 2 or Y.ndim != 1:
        raise MNISTError(f"{image_file}: expected images (n, rows, cols) and labels (n,), "
                         f"got {X.shape} and {Y.shape}")
    if len(X) != len(Y):
        raise MNISTError(f"{image_file} holds {len(X)} images but {label_file} "
                         f"holds {len(Y)} labels")
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n <= 0:
        raise MNISTError(f"n{split} must be a positive integer, got {n!r}")
    if n > len(X):
        raise MNISTError(f"n{split}={n} but {image_file} holds only {len(X)} images")
    X = X[:n].reshape(n, -1)
    if X.dtype == np.uint8:
        X = PIXEL_SCALE[X]
    else:
        X = X.astype(np.float32)
    return X, Y[:n].astype(np.int64)


def image_count(path):
    """How many images an IDX file says it holds, from its header alone."""
    try:
        with (gzip.open(path) if path.suffix == ".gz" else open(path, "rb")) as f:
            start = f.read(4 + 4 * 255)  # enough for any header
    except (OSError, EOFError) as e:
        raise MNISTError(f"{path}: cannot read: {e}") from None
    return idx_header(start, str(path))[1][0]


def check(ntrain=60000, ntest=10000, data_dir=None):
    """Raise MNISTError at once where mnist(ntrain, ntest, data_dir=data_dir) would fail
    for a missing folder, file or example. Reads the files' headers only: the
    contents are checked when mnist() loads them."""
    folder, _ = locate(data_dir)
    for split, n, key in (("train", ntrain, "train_images"), ("test", ntest, "test_images")):
        path = find(folder, FILES[key])
        count = image_count(path)
        if n > count:
            raise MNISTError(f"n{split}={n} but {path} holds only {count} images")


def mnist(ntrain=60000, ntest=10000, onehot=True, data_dir=None):
    """trX, teX, trY, teY: the first `ntrain` training and `ntest` test examples."""
    folder, verify = locate(data_dir)
    trX, trY = load_split(folder, FILES["train_images"], FILES["train_labels"],
                          ntrain, verify, "train")
    teX, teY = load_split(folder, FILES["test_images"], FILES["test_labels"],
                          ntest, verify, "test")
    if onehot:
        n_classes = max(10, int(max(trY.max(), teY.max())) + 1)
        trY, teY = to_onehot(trY, n_classes), to_onehot(teY, n_classes)
    return trX, teX, trY, teY


def read_digit(path):
    """A picture of one handwritten digit as an MNIST image: 784 float32 pixels in
    [0, 1], light ink on black, made the way MNIST was made from NIST's scans: the
    digit scaled to fit a 20 x 20 box (its aspect kept, anti-aliased to grey levels)
    and moved so that its centre of mass is the centre of the 28 x 28 image.

    Any size; dark ink on light paper or light on dark (the border decides);
    transparency counts as paper. MNISTError, naming the file, for a file that is
    not an image, an empty one, or one of a single colour."""
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                image = image.convert("RGBA")
                paper = Image.new("RGBA", image.size, "white")
                image = Image.alpha_composite(paper, image)
            grey = np.asarray(image.convert("L"), dtype=np.float32) / 255
    except FileNotFoundError:
        raise MNISTError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise MNISTError(f"{path}: not a PNG or JPEG image ({e})") from None
    if grey.size == 0:
        raise MNISTError(f"{path}: an empty image")
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    paper = float(np.median(border))
    ink = grey - paper if paper < 0.5 else paper - grey  # light ink on dark, whatever it was
    contrast = float(ink.max())
    if contrast < 0.1:
        raise MNISTError(f"{path}: all one colour, no digit to read")
    ink = np.clip(ink / contrast, 0, 1)
    rows, cols = np.nonzero(ink > 0.25)
    ink = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    height, width = ink.shape
    scale = 20 / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    box = Image.fromarray(np.uint8(np.round(ink * 255))).resize(size, Image.LANCZOS)
    box = np.asarray(box, dtype=np.float32) / 255
    total = box.sum()
    centre = [(np.arange(n) * box.sum(axis=1 - axis)).sum() / total
              for axis, n in enumerate(box.shape)]
    top, left = (int(np.clip(round(13.5 - c), 0, 28 - n)) for c, n in zip(centre, box.shape))
    digit = np.zeros((28, 28), dtype=np.float32)
    digit[top:top + box.shape[0], left:left + box.shape[1]] = box
    return digit.reshape(784)


if __name__ == "__main__":
    import time
    start = time.perf_counter()
    trX, teX, trY, teY = mnist()
    print(f"loaded {len(trX)} + {len(teX)} images in {time.perf_counter() - start:.2f} s")
