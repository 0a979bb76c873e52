"""Your own digit: a picture read the way MNIST was made, classified by the trained
net (results/cnn.npz), whatever its size, polarity, margins or format."""
import numpy as np
import pytest
from PIL import Image

import figures
from helpers import ROOT, run
from load import MNISTError, mnist, read_digit

PARAMS = ROOT / "results" / "cnn.npz"


@pytest.fixture(scope="module")
def net():
    return figures.classifier("cnn", dict(np.load(PARAMS)))


def write(path, pixels, **save):
    Image.fromarray(np.uint8(np.round(np.clip(pixels, 0, 1) * 255))).save(path, **save)
    return path


def as_paper(digit, margin, size):
    """Dark ink on white paper, a margin around it, scaled to size x size."""
    paper = np.pad(1 - digit, margin, constant_values=1)
    image = Image.fromarray(np.uint8(np.round(paper * 255))).resize((size, size), Image.BICUBIC)
    return np.asarray(image) / 255


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
        got.append(int(np.argmax(net(read_digit(path)[None]))))
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
def test_the_committed_pngs_are_read_right(digit, capsys):
    figures.your_digit(ROOT / "data" / "digits" / f"{digit}.png", PARAMS)
    assert capsys.readouterr().out.splitlines()[0] == f"predicted: {digit}"


def test_the_readme_command(tmp_path):
    result = run("figures.py", "--digit", "data/digits/7.png")
    lines = result.stdout.splitlines()
    assert lines[0] == "predicted: 7"
    probabilities = [float(p.split(": ")[1]) for p in lines[1].split("  ")]
    assert len(probabilities) == 10 and abs(sum(probabilities) - 1) < 0.01
    assert max(probabilities) == probabilities[7]


@pytest.mark.parametrize("content, message", [
    (b"this is not a picture", "not a PNG or JPEG image"),
    (b"", "not a PNG or JPEG image"),
    ("one colour", "all one colour, no digit to read"),
])
def test_bad_files_are_one_line(tmp_path, content, message):
    path = tmp_path / "bad.png"
    if content == "one colour":
        Image.new("L", (40, 30), 230).save(path)
    else:
        path.write_bytes(content)
    result = run("figures.py", "--digit", path, check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"figures.py: error: {path}: {message}")
    with pytest.raises(MNISTError, match=message):
        read_digit(path)
