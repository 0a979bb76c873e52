"""Your own digit: a picture read the way MNIST was made, classified by the trained
convolutional net (results/cnn.npz loaded into 5_convolutional_net.py's own graph),
whatever its size, polarity, margins, format or EXIF orientation."""
import io
import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from helpers import ROOT, err_lines, names, run, run_script
from load import MNISTError, mnist
from toolkit.digits import SAMPLE_DIGIT, read_digit

SCRIPT = "5_convolutional_net.py"
PARAMS = "results/cnn.npz"
COMMAND = f"python {SCRIPT} --params {PARAMS} --digit"  # what the README tells a reader


@pytest.fixture(scope="module")
def cnn():
    """The script run with the trained weights: --params, so no epoch is trained."""
    return run_script(SCRIPT, "--params", PARAMS, "--ntest", "100")


@pytest.fixture(scope="module")
def net(cnn):
    """The script's own noise-free graph: images (n, 784) -> class probabilities."""
    return lambda images: cnn["probabilities"](np.reshape(images, (-1, 1, 28, 28)))


def write(path, pixels, **save):
    Image.fromarray(np.uint8(np.round(np.clip(pixels, 0, 1) * 255))).save(path, **save)
    return path


def as_paper(digit, margin, size):
    """Dark ink on white paper, a margin around it, scaled to size x size."""
    paper = np.pad(1 - digit, margin, constant_values=1)
    image = Image.fromarray(np.uint8(np.round(paper * 255))).resize((size, size), Image.BICUBIC)
    return np.asarray(image) / 255


def answer(stdout):
    """The digit and the ten probabilities the last cell printed (training.show_answer)."""
    lines = stdout.splitlines()
    at = max(i for i, line in enumerate(lines) if line.startswith("predicted: "))
    probabilities = [float(p.split(": ")[1]) for p in lines[at + 1].split("  ")]
    return int(lines[at].split()[1]), probabilities


def test_the_weights_are_the_trained_ones_and_nothing_is_trained(cnn):
    assert cnn["args"].epochs == 0 and "epoch" not in cnn["printed"]
    accuracy = np.mean(np.argmax(cnn["teY"], axis=1)
                       == np.argmax(cnn["probabilities"](cnn["teX"]), axis=1))
    assert accuracy > 0.98  # results/cnn.npz: 99 % and more


def test_without_digit_the_last_cell_reads_the_sample_seven(cnn):
    assert cnn["args"].digit == str(SAMPLE_DIGIT)
    predicted, probabilities = answer(cnn["printed"])
    assert predicted == 7 and len(probabilities) == 10


@pytest.mark.parametrize("variant", ["paper PNG", "screen JPEG", "transparent PNG", "wide PNG"])
def test_mnist_digits_written_out_read_back_the_same(tmp_path, net, variant):
    _, teX, _, _ = mnist(ntrain=1, ntest=30, onehot=False)
    expected = np.argmax(net(teX), axis=1)
    got = []
    for i, digit in enumerate(teX.reshape(-1, 28, 28)):
        if variant == "paper PNG":
            path = write(tmp_path / f"{i}.png", as_paper(digit, 10, 200))
        elif variant == "screen JPEG":  # light on dark, a thin margin, lossy
            path = write(tmp_path / f"{i}.jpg", 1 - as_paper(digit, 2, 64), quality=90)
        elif variant == "transparent PNG":  # black ink, the paper transparent
            alpha = np.uint8(np.round(np.pad(digit, 6) * 255))
            rgba = np.zeros(alpha.shape + (4,), np.uint8)
            rgba[..., 3] = alpha
            path = tmp_path / f"{i}.png"
            Image.fromarray(rgba, "RGBA").resize((120, 120), Image.BICUBIC).save(path)
        else:  # more paper on the left and right than above and below
            wide = np.pad(1 - digit, ((4, 4), (40, 25)), constant_values=1)
            path = write(tmp_path / f"{i}.png", wide)
        got.append(int(np.argmax(net(read_digit(path)))))
    assert got == expected.tolist()


def test_read_digit_gives_an_mnist_image(tmp_path):
    _, teX, _, _ = mnist(ntrain=1, ntest=1, onehot=False)
    x = read_digit(write(tmp_path / "d.png", as_paper(teX[0].reshape(28, 28), 10, 300)))
    assert x.shape == (784,) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    image = x.reshape(28, 28)
    rows, cols = np.nonzero(image > 0.1)
    assert max(np.ptp(rows), np.ptp(cols)) + 1 <= 21  # into a 20 x 20 box (anti-aliasing aside)
    centre = [(np.arange(28) * image.sum(axis=1 - a)).sum() / image.sum() for a in (0, 1)]
    assert np.allclose(centre, 13.5, atol=0.6)  # centred by its centre of mass


@pytest.mark.parametrize("digit", range(10))
def test_the_committed_pngs_are_read_right(cnn, digit):
    """As the last cell reads --digit: the script's read_digit, then its probabilities."""
    image = cnn["read_digit"](ROOT / "data" / "digits" / f"{digit}.png")
    assert int(np.argmax(cnn["probabilities"](image.reshape(1, 1, 28, 28))[0])) == digit


def test_the_readme_command():
    result = run(SCRIPT, "--params", PARAMS, "--digit", "data/digits/3.png")
    assert "epoch" not in result.stdout  # --params: the trained net, no training
    predicted, probabilities = answer(result.stdout)
    assert predicted == 3
    assert len(probabilities) == 10 and abs(sum(probabilities) - 1) < 0.01
    assert max(probabilities) == probabilities[3]


def test_the_readme_gives_the_command():
    readme = (ROOT / "README.md").read_text()
    assert COMMAND in readme
    assert "figures.py --digit" not in readme  # figures.py has no --digit any more


def png_header_only(path, width, height):
    """A PNG whose header says width x height, holding one row of pixels: decoding
    it would fail, so only a refusal from the header names its size."""
    def chunk(kind, data):
        checksum = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", checksum)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(bytes(width + 1))) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("content, message", [
    (b"this is not a picture", "not a PNG or JPEG"),
    (b"", "not a PNG or JPEG"),
    ("one colour", "all one colour"),
    ("too many pixels", "64000000 pixels"),
])
def test_bad_files_are_one_line(tmp_path, content, message):
    path = tmp_path / "bad.png"
    if content == "one colour":
        Image.new("L", (40, 30), 230).save(path)
    elif content == "too many pixels":
        png_header_only(path, 8000, 8000)
    else:
        path.write_bytes(content)
    result = run(SCRIPT, "--params", PARAMS, "--digit", path, check=False)
    assert result.returncode == 2
    lines = err_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{SCRIPT}: error: ") and str(path) in lines[0]
    assert message in lines[0]
    assert "epoch" not in result.stdout and "predicted" not in result.stdout
    with pytest.raises(MNISTError, match=message):
        read_digit(path)


@pytest.mark.parametrize("width, height", [
    (8000, 8000),  # over read_digit's limit
    (10000, 10000),  # over Pillow's too: its DecompressionBombWarning
    (20000, 20000),  # over twice Pillow's: its DecompressionBombError
])
def test_too_many_pixels_are_refused_from_the_header(tmp_path, width, height):
    path = png_header_only(tmp_path / "huge.png", width, height)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning escapes either
        with pytest.raises(MNISTError) as info:
            read_digit(path)
    message = str(info.value)
    names(message, path, width * height)
    assert "\n" not in message


def test_a_file_object_reads_like_its_file():
    """As a web page hands over an upload: read_digit(io.BytesIO(body))."""
    path = ROOT / "data" / "digits" / "3.png"
    np.testing.assert_array_equal(read_digit(io.BytesIO(path.read_bytes())), read_digit(path))
    with pytest.raises(MNISTError, match="not a PNG or JPEG") as info:
        read_digit(io.BytesIO(b"this is not a picture"))
    assert "\n" not in str(info.value)


# How a phone held each way stores an upright digit, by the EXIF Orientation (tag 0x0112)
# it writes beside the pixels: the turn a viewer undoes to show it upright.
STORED = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
          4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
          6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
          8: Image.Transpose.ROTATE_270}


def as_photo(upright, orientation, path, tagged=True):
    exif = Image.Exif()
    if tagged:
        exif[0x0112] = orientation
    upright.transpose(STORED[orientation]).save(path, exif=exif)
    return path


@pytest.mark.parametrize("orientation", STORED)
def test_exif_orientation_is_applied(tmp_path, orientation):
    upright_path = ROOT / "data" / "digits" / "2.png"
    upright = read_digit(upright_path)
    with Image.open(upright_path) as image:
        photo = as_photo(image, orientation, tmp_path / "photo.png")
        untagged = as_photo(image, orientation, tmp_path / "untagged.png", tagged=False)
    np.testing.assert_array_equal(read_digit(photo), upright)
    assert not np.allclose(read_digit(untagged), upright)  # the tag is what turns it


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_phone_photos_of_the_committed_digits_are_read_right(tmp_path, net, suffix):
    got, expected = [], []
    for digit in range(10):
        with Image.open(ROOT / "data" / "digits" / f"{digit}.png") as image:
            for orientation in (3, 6, 8):
                photo = as_photo(image, orientation, tmp_path / f"{digit}_{orientation}{suffix}")
                got.append(int(np.argmax(net(read_digit(photo)))))
                expected.append(digit)
    assert got == expected


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_byte_flips_in_a_photo_are_read_or_one_line(tmp_path, suffix):
    """Pillow's own errors (SyntaxError for a broken PNG chunk) and its warnings about
    corrupt EXIF data do not escape: a damaged picture is read as it is, or refused."""
    with Image.open(ROOT / "data" / "digits" / "4.png") as image:
        good = as_photo(image, 6, tmp_path / f"good{suffix}").read_bytes()
    said = set()
    for at in range(0, len(good), 7):
        damaged = bytearray(good)
        damaged[at] ^= 0xFF
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                said.add(read_digit(io.BytesIO(bytes(damaged))).shape)
            except MNISTError as e:
                assert "\n" not in str(e)
                said.add("refused")
    assert said <= {(784,), "refused"}
