"""Your own digit, from a PNG or JPEG, as one more MNIST row:

    from toolkit.digits import read_digit
    x = read_digit("my_digit.png")   # 784 float32 pixels, made the way MNIST was

Any picture a phone or a scanner writes, dark ink on light paper or light on dark;
anything that is not a picture of a digit is one MNISTError naming the file.
"""
import os
import warnings

import numpy as np

from toolkit import ROOT
from toolkit.files import not_a_file
from toolkit.mnist_files import MNISTError

SAMPLE_DIGIT = ROOT / "data" / "digits" / "7.png"  # an MNIST test 7, written out as a PNG

# The most pixels read_digit decodes: a 50-megapixel phone photo, and no
# decompression bomb (a small PNG that says it is gigapixels).
MAX_PIXELS = 50_000_000


def read_grey(image_file, name):
    """The picture's grey levels in [0, 1] (grey_levels), or one MNISTError naming it."""
    from PIL import Image, UnidentifiedImageError
    why = not_a_file(image_file) if isinstance(image_file, (str, os.PathLike)) else None
    if why:
        raise MNISTError(f"{name}: {why}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # ours is lower
            warnings.simplefilter("ignore", UserWarning)  # corrupt EXIF: read as stored
            with Image.open(image_file) as image:
                return grey_levels(image, name)
    except FileNotFoundError:
        raise MNISTError(f"{name}: no such file") from None
    except Image.DecompressionBombError as e:  # far beyond MAX_PIXELS: Pillow refused first
        raise MNISTError(f"{name}: too large ({e}); read_digit takes at most "
                         f"{MAX_PIXELS} pixels") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:  # Pillow's own
        raise MNISTError(f"{name}: not a PNG or JPEG image ({e})") from None


def grey_levels(image, name):
    """An opened picture's grey levels, turned upright by its EXIF orientation (as a
    phone stores a photo), transparency as white paper. Its size is checked from its
    header, before any pixel is decoded."""
    from PIL import Image, ImageOps
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise MNISTError(f"{name}: too large: {width} x {height} = {width * height} pixels, "
                         f"read_digit takes at most {MAX_PIXELS}; scale it down")
    image.load()
    image = ImageOps.exif_transpose(image)
    if image.mode == "I" or image.mode.startswith("I;16"):  # 16-bit grey, as scanners write
        return np.asarray(image, dtype=np.float32) / 65535  # "L" would clip it to white
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        image = image.convert("RGBA")
        paper = Image.new("RGBA", image.size, "white")
        image = Image.alpha_composite(paper, image)
    return np.asarray(image.convert("L"), dtype=np.float32) / 255


def read_digit(image_file):
    """A picture of one handwritten digit as an MNIST image: 784 float32 pixels in
    [0, 1], light ink on black, made the way MNIST was made from NIST's scans: the
    digit scaled to fit a 20 x 20 box (its aspect kept, anti-aliased to grey levels)
    and moved so that its centre of mass is the centre of the 28 x 28 image.

    `image_file`: a path, or a file object (a web page's upload, say). Any size up to
    MAX_PIXELS; dark ink on light paper or light on dark (the border decides);
    transparency counts as paper; a phone photo's EXIF orientation is applied.
    MNISTError, naming the file, for a file that is not an image, one too large, an
    empty one, or one of a single colour."""
    from PIL import Image
    path = image_file
    if not isinstance(image_file, (str, os.PathLike)):
        path = getattr(image_file, "name", "the image given")
    grey = read_grey(image_file, path)
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
