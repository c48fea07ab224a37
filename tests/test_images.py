"""Uploads turned into Fashion-MNIST inputs: hand-made pictures with known answers, and refusals."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFile, PngImagePlugin

from convlab import images
from convlab.images import MAX_UPLOAD_BYTES, WORKING_SIZE, ImageError, to_fashion_mnist


def encode(image: Image.Image, image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def fashion_like() -> np.ndarray:
    """A light object on black, spanning the full width and centred vertically (rows 4..23),
    so cropping, padding and resizing give it back unchanged; its brightest pixel is 255."""
    pixels = np.zeros((28, 28), dtype=np.uint8)
    pixels[4:24, :] = np.linspace(60, 255, 20 * 28).round().reshape(20, 28)
    pixels[10:18, 10:18] = 0  # a dark hole inside the object doesn't change its box
    return pixels


def rectangle_on_white() -> Image.Image:
    """100×60 white, a 40×20 black rectangle in the middle (columns 30..69, rows 20..39)."""
    image = Image.new("L", (100, 60), 255)
    image.paste(0, (30, 20, 70, 40))
    return image


def assert_light_on_dark(result: images.Converted) -> None:
    assert result.image.shape == (28, 28) and result.image.dtype == np.float32
    assert 0.0 <= result.image.min() and result.image.max() <= 1.0
    corners = result.image[[0, 0, -1, -1], [0, -1, 0, -1]]
    assert corners.max() < 0.1, "the background should be dark"
    assert result.image[10:18, 10:18].mean() > 0.5, "the object in the middle should be light"


def test_a_fashion_mnist_style_png_round_trips():
    pixels = fashion_like()
    result = to_fashion_mnist(encode(Image.fromarray(pixels), "PNG"))
    np.testing.assert_allclose(result.image, pixels / 255, atol=1e-6)
    assert result.image.dtype == np.float32
    assert result.inverted is False
    assert result.original.mode == "RGB" and result.original.size == (28, 28)


def test_a_16_bit_grey_png_keeps_its_grey_levels():
    pixels = fashion_like()
    sixteen_bit = Image.fromarray(pixels.astype(np.uint16) * 257)  # 255 -> 65535
    assert sixteen_bit.mode.startswith("I")
    result = to_fashion_mnist(encode(sixteen_bit, "PNG"))
    np.testing.assert_allclose(result.image, pixels / 255, atol=1e-6)


def test_a_dark_rectangle_on_white_is_inverted_centred_and_keeps_its_shape():
    result = to_fashion_mnist(encode(rectangle_on_white(), "PNG"))
    assert result.inverted is True
    assert "inverted: the background was light" in result.steps
    assert result.image.max() == 1.0
    assert result.image[[0, 0, -1, -1], [0, -1, 0, -1]].tolist() == [0, 0, 0, 0]
    # By hand: the 40×20 crop is padded to 40×40 (rows 10..29) and scaled by 28/40, so the
    # rectangle fills all 28 columns and rows 7..20: centred, still twice as wide as tall.
    rows = np.flatnonzero((result.image > 0.5).any(axis=1))
    columns = np.flatnonzero((result.image > 0.5).any(axis=0))
    assert (rows.min(), rows.max()) == (7, 20)
    assert (columns.min(), columns.max()) == (0, 27)
    assert abs(len(columns) / len(rows) - 40 / 20) * len(rows) <= 1
    assert result.image[8:20, 1:27].min() > 0.9


def test_a_colour_jpeg_becomes_a_light_object_on_dark():
    photo = Image.new("RGB", (80, 120), (200, 220, 240))  # pale blue wall
    photo.paste((120, 20, 30), (20, 15, 60, 105))  # dark red dress
    result = to_fashion_mnist(encode(photo, "JPEG", quality=90))
    assert_light_on_dark(result)
    assert result.inverted is True
    assert "converted to grey" in result.steps


@pytest.mark.parametrize("shirt, inverted", [((30, 30, 30), True), ((250, 250, 250), False)])
def test_a_png_with_a_transparent_background_becomes_a_light_object_on_dark(shirt, inverted):
    cut_out = Image.new("RGBA", (60, 90), (0, 0, 0, 0))  # transparent black, as editors save it
    cut_out.paste((*shirt, 255), (10, 15, 50, 75))
    result = to_fashion_mnist(encode(cut_out, "PNG"))
    assert_light_on_dark(result)
    assert result.inverted is inverted
    assert result.original.mode == "RGB"


def test_an_mpo_from_a_phone_camera_is_read_as_jpeg():
    first = Image.new("RGB", (40, 40), "white")
    first.paste((0, 0, 0), (10, 5, 30, 35))  # taller than wide, so the corners stay background
    data = encode(first, "MPO", save_all=True, append_images=[Image.new("RGB", (40, 40))])
    assert Image.open(io.BytesIO(data)).format == "MPO"
    assert_light_on_dark(to_fashion_mnist(data))


def test_a_big_photo_is_scaled_down_first():
    photo = Image.new("L", (4100, 2100), 255)
    photo.paste(0, (1550, 550, 2550, 1550))  # a 1000×1000 dark square in the middle
    result = to_fashion_mnist(encode(photo, "JPEG", quality=85))
    assert max(result.original.size) == WORKING_SIZE
    assert any(step.startswith("scaled down to 1024×") for step in result.steps)
    # Cropped to the square, which then fills the whole frame, light on dark.
    assert result.inverted is True
    assert result.image[3:25, 3:25].min() > 0.9


def test_an_exif_rotated_jpeg_is_turned_upright_first():
    upright = Image.new("L", (40, 80), 255)  # a tall "L": a bar with a foot to the right
    upright.paste(0, (10, 10, 20, 70))
    upright.paste(0, (10, 60, 30, 70))
    # Orientation 6 means "turn 90° clockwise to view", so store it turned anticlockwise.
    sideways = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    tagged = to_fashion_mnist(encode(sideways, "JPEG", quality=95, exif=exif))
    reference = to_fashion_mnist(encode(upright, "JPEG", quality=95))
    untagged = to_fashion_mnist(encode(sideways, "JPEG", quality=95))
    assert tagged.original.size == (40, 80)
    assert "turned upright (EXIF orientation 6)" in tagged.steps
    assert np.abs(tagged.image - reference.image).mean() < 0.02
    assert np.abs(untagged.image - reference.image).mean() > 0.1  # the check can tell


def a_gif() -> bytes:
    return encode(Image.new("P", (10, 10)), "GIF")


def a_bmp() -> bytes:
    return encode(Image.new("RGB", (10, 10)), "BMP")


def half_of(data: bytes) -> bytes:
    return data[: len(data) // 2]


def noisy(image_format: str) -> bytes:
    """An image that doesn't compress much, so half of its file is missing most pixels."""
    rng = np.random.default_rng(0)
    return encode(Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)), image_format)


def broken_header_png() -> bytes:
    data = bytearray(encode(Image.new("L", (10, 10)), "PNG"))
    data[18] ^= 0xFF  # inside the IHDR chunk, so its checksum no longer matches
    return bytes(data)


@pytest.mark.parametrize(
    "make_data, expected",
    [
        (lambda: b"hello", "PNG or JPEG"),
        (lambda: b"", "empty"),
        (a_gif, "looks like a GIF"),
        (a_bmp, "looks like a BMP"),
        (lambda: half_of(noisy("PNG")), "looks like a PNG but is damaged"),
        (lambda: half_of(noisy("JPEG")), "looks like a JPEG but is damaged"),
        (broken_header_png, "looks like a PNG but is damaged"),
        (lambda: b"\x89PNG\r\n\x1a\n".ljust(MAX_UPLOAD_BYTES + 1, b"\0"), "5.1 MB; the limit is 5 MB"),
        (lambda: b"\x89PNG\r\n\x1a\n".ljust(MAX_UPLOAD_BYTES, b"\0"), "damaged"),  # at the limit: read
    ],
    ids=[
        "text",
        "empty",
        "gif",
        "bmp",
        "truncated-png",
        "truncated-jpeg",
        "broken-header",
        "too-many-bytes",
        "just-enough-bytes",
    ],
)
def test_bad_uploads_are_refused_with_a_message_that_says_why(make_data, expected):
    with pytest.raises(ImageError, match=expected):
        to_fashion_mnist(make_data())


def test_a_decompression_bomb_is_refused_from_its_header(monkeypatch):
    bomb = encode(Image.new("1", (6000, 6000)), "PNG")  # 36 million pixels in a few kilobytes
    assert len(bomb) < 50_000

    def never_decode(self):
        raise AssertionError("the pixels were decoded")

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", never_decode)
    with pytest.raises(ImageError, match="6,000 × 6,000 pixels; the limit is 25 million pixels"):
        to_fashion_mnist(bomb)


def test_pillows_own_bomb_error_becomes_an_image_error(monkeypatch):
    monkeypatch.setattr(images, "MAX_PIXELS", 10**9)  # so only Pillow's limit is in the way
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000)  # errors past 2,000 pixels
    with pytest.raises(ImageError, match="too many pixels.*limit"):
        to_fashion_mnist(encode(Image.new("L", (100, 100)), "PNG"))


@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
def test_pillows_bomb_warning_as_an_error_becomes_an_image_error(monkeypatch):
    monkeypatch.setattr(images, "MAX_PIXELS", 10**9)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5_000)  # warns past 5,000 pixels
    with pytest.raises(ImageError, match="too many pixels"):
        to_fashion_mnist(encode(Image.new("L", (80, 80)), "PNG"))


def test_pillows_global_settings_are_left_alone():
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
    to_fashion_mnist(encode(rectangle_on_white(), "PNG"))
    with pytest.raises(ImageError):
        to_fashion_mnist(half_of(noisy("PNG")))
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES) == before


def test_a_faint_object_on_grey_paper_is_stretched_to_the_full_range():
    pixels = np.full((28, 28), 40, dtype=np.uint8)  # dark grey paper
    pixels[4:24, :] = 90  # a faint object, full width, centred: no crop or resize changes it
    result = to_fashion_mnist(encode(Image.fromarray(pixels), "PNG"))
    # By hand: (value - 40) / (90 - 40), so the paper becomes 0 and the object 1.
    expected = np.zeros((28, 28), dtype=np.float32)
    expected[4:24, :] = 1.0
    np.testing.assert_allclose(result.image, expected, atol=1e-6)
    assert result.inverted is False


def test_a_blank_picture_is_kept_whole_and_not_stretched():
    result = to_fashion_mnist(encode(Image.new("L", (50, 30), 20), "PNG"))
    np.testing.assert_allclose(result.image, np.full((28, 28), 20 / 255), atol=1e-6)
    assert "nothing stood out from the background: kept the whole picture" in result.steps
