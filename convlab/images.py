"""A user's own picture, turned into a Fashion-MNIST-style input for the models.

Fashion-MNIST was made from product photos (Xiao et al., 2017): trimmed to the object,
longest edge resized to 28, centred on a 28×28 square, negated so the object is light on a
black background, and stored as 8-bit grey. ``to_fashion_mnist`` does the same to an upload,
so the app can show the converted image, the prediction, and its journey through the layers.

Uploads are untrusted: the size in bytes is checked before anything is decoded, the pixel
count is read from the header and checked before the pixels are decoded (a decompression bomb
guard), only PNG and JPEG are parsed, and every failure is an ``ImageError`` whose message says
what to do. Pillow's global settings are never changed.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import ExifTags, Image, ImageOps

MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # server.maxUploadSize = 5 in .streamlit/config.toml
MAX_PIXELS = 25_000_000
IMAGE_SIZE = 28
# Big photos are shrunk to this many pixels on their longer side before any analysis: plenty
# for a 28×28 result, and it keeps memory (and the cached ``original``) small.
WORKING_SIZE = 1024
# A pixel belongs to the object when it is this many grey levels (of 255, about 10%) above the
# background: twice the paper's 5%, so JPEG noise and soft shadows don't stretch the crop.
OBJECT_THRESHOLD = 26
# MPO is the JPEG variant some phone cameras write; Pillow opens it with its JPEG reader.
ACCEPTED_FORMATS = ("PNG", "JPEG")
DECODED_FORMATS = ACCEPTED_FORMATS + ("MPO",)
SIGNATURES = (  # first bytes -> format, to name a file in a message without decoding it
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF8", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"%PDF", "PDF"),
)


class ImageError(ValueError):
    """An upload that can't be used; the message tells the person what to do instead."""


@dataclass(frozen=True)
class Converted:
    """An upload as a model input: ``image`` is float32 (28, 28) in [0, 1], light on dark."""

    image: np.ndarray
    original: Image.Image  # the upload upright, in RGB, flattened and scaled, for display
    inverted: bool  # True when the background was light, so the grey levels were flipped
    steps: tuple[str, ...]  # what was done, in order, for people to read


def _sniff(data: bytes) -> str | None:
    for signature, name in SIGNATURES:
        if data.startswith(signature):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    if data[4:8] == b"ftyp":  # iPhones save HEIC photos by default
        return "HEIC"
    return None


def _not_png_or_jpeg(found: str) -> ImageError:
    return ImageError(
        f"That file isn't a PNG or JPEG image ({found}). Save it as PNG or JPEG, "
        "or upload a photo or drawing of one piece of clothing."
    )


def _damaged(kind: str, detail: str) -> ImageError:
    return ImageError(
        f"The file looks like a {kind} but is damaged ({detail}). Save it again, or upload another picture."
    )


def _too_many_pixels(description: str) -> ImageError:
    return ImageError(
        f"{description}; the limit is {MAX_PIXELS / 1_000_000:g} million pixels. Scale it down and upload it again."
    )


def _decode(data: bytes) -> tuple[Image.Image, list[str]]:
    """Open, check and decode an upload; return it upright, with notes of what was done."""
    kind = _sniff(data)
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        # Pillow's own limits (its warning is raised only when warnings are errors); ours is
        # lower and is checked below, so neither limit is ever changed here.
        raise _too_many_pixels("The image has too many pixels to open safely") from error
    except Exception as error:  # a mangled header makes Pillow raise any of several types
        if kind in ACCEPTED_FORMATS:
            raise _damaged(kind, "its header can't be read") from error
        raise _not_png_or_jpeg(f"it looks like a {kind}" if kind else "no image format matches")
    if image.format not in DECODED_FORMATS:
        raise _not_png_or_jpeg(f"it is a {image.format}")
    width, height = image.size  # from the header only: nothing is decoded yet
    if width * height > MAX_PIXELS:
        raise _too_many_pixels(f"The image is {width:,} × {height:,} pixels")
    kind = "JPEG" if image.format == "MPO" else image.format
    image.draft(None, (WORKING_SIZE, WORKING_SIZE))  # JPEG only: decode at 1/2..1/8 scale
    try:
        image.load()
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
        upright = ImageOps.exif_transpose(image)
    except Exception as error:  # decoders raise OSError, SyntaxError, struct.error, ...
        raise _damaged(kind, str(error)) from error
    turned = 2 <= orientation <= 8  # 1 is upright already; other values are ignored
    return upright, [f"turned upright (EXIF orientation {orientation})"] if turned else []


def _to_rgb(image: Image.Image, steps: list[str]) -> Image.Image:
    """The decoded upload as RGB without transparency, at most ``WORKING_SIZE`` pixels wide."""
    colour = image.mode not in ("1", "L", "LA", "I", "I;16", "I;16B")
    if image.mode.startswith("I"):  # 16-bit grey: Pillow's convert would clip it to 255
        image = Image.fromarray((np.asarray(image, dtype=np.uint32) >> 8).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        # Transparent areas are background: white, then the usual inversion makes them black.
        # A light object (a white shirt cut out) would vanish on white, so it goes on black.
        rgba = image.convert("RGBA")
        opaque = np.asarray(rgba.convert("L"))[np.asarray(rgba)[..., 3] > 127]
        paper = "black" if opaque.size and np.median(opaque) > 127 else "white"
        image = Image.alpha_composite(Image.new("RGBA", image.size, paper), rgba)
        steps.append(f"flattened transparency onto {paper}")
    rgb = image.convert("RGB")
    if max(rgb.size) > WORKING_SIZE:
        rgb.thumbnail((WORKING_SIZE, WORKING_SIZE), Image.Resampling.LANCZOS)
        steps.append(f"scaled down to {rgb.width}×{rgb.height} to work on")
    if colour:
        steps.append("converted to grey")  # by the caller, from this RGB copy
    return rgb


def to_fashion_mnist(data: bytes) -> Converted:
    """Convert an uploaded PNG or JPEG into a Fashion-MNIST-style 28×28 image.

    Raises ``ImageError`` for anything that isn't a usable PNG or JPEG of at most
    ``MAX_UPLOAD_BYTES`` bytes and ``MAX_PIXELS`` pixels.
    """
    if not data:
        raise ImageError("The file is empty. Upload a photo or drawing of one piece of clothing.")
    if len(data) > MAX_UPLOAD_BYTES:
        megabytes = math.ceil(len(data) * 10 / 2**20) / 10  # rounded up: never "5.0 of 5 MB"
        limit = MAX_UPLOAD_BYTES / 2**20
        raise ImageError(
            f"The file is {megabytes:.1f} MB; the limit is {limit:g} MB. "
            "Scale the picture down or save it as JPEG, and upload it again."
        )
    image, steps = _decode(data)
    original = _to_rgb(image, steps)
    grey = np.asarray(original.convert("L"))

    # The border is mostly background in a picture of one object; Fashion-MNIST's is black.
    border = np.concatenate([grey[0], grey[-1], grey[1:-1, 0], grey[1:-1, -1]])
    background = round(float(np.median(border)))
    inverted = background > 127
    if inverted:
        grey, background = 255 - grey, 255 - background
        steps.append("inverted: the background was light")

    rows, columns = np.nonzero(grey > background + OBJECT_THRESHOLD)
    blank = rows.size == 0
    if blank:  # keep the whole picture and stretch nothing: noise would become the object
        steps.append("nothing stood out from the background: kept the whole picture")
    else:
        object_box = grey[rows.min() : rows.max() + 1, columns.min() : columns.max() + 1]
        if object_box.shape != grey.shape:
            grey = object_box
            steps.append("cropped to the object")
    height, width = grey.shape
    side = max(height, width)
    if height != width:  # centred on a square of background, so the aspect ratio is kept
        square = np.full((side, side), background, dtype=np.uint8)
        top, left = (side - height) // 2, (side - width) // 2
        square[top : top + height, left : left + width] = grey
        grey = square
        steps.append("padded to a square")
    # Like Fashion-MNIST, the object's longer side fills the full 28 pixels: no margin.
    small = Image.fromarray(grey).resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)
    steps.append(f"fitted into {IMAGE_SIZE}×{IMAGE_SIZE}")
    pixels = np.asarray(small, dtype=np.float32) / 255
    low, high = background / 255, float(pixels.max())
    if not blank and high > low:  # Fashion-MNIST uses the full range: background 0, brightest 1
        pixels = np.clip((pixels - low) / (high - low), 0.0, 1.0).astype(np.float32)
        steps.append("stretched the contrast: background black, brightest pixel white")
    return Converted(image=pixels, original=original, inverted=inverted, steps=tuple(steps))
