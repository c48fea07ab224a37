"""Move the picture: shift, turn and resize Fashion-MNIST images, for the lesson's next step.

A conv layer finds a feature wherever it is, but the garments of Fashion-MNIST are always
centred, upright and of one size, so a model may still rely on where things are. A
``Transform`` says how to move an image; ``apply`` moves one image or a whole batch.

* A pure shift is an exact whole-pixel move with black coming in from the edge: no
  resampling at all, so a convolution's map of a shifted image is exactly the shifted map.
* A turn or a resize (with or without a shift) is one affine map about the image's centre,
  resampled bilinearly by SciPy (``scipy.ndimage.affine_transform``); outside the picture is
  black, as in Fashion-MNIST, and the result is clipped to [0, 1]. SciPy resamples the 784
  one-pixel images once per transform, and a batch is one sparse product with those weights:
  10,000 images take a few hundredths of a second.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from .data import IMAGE_SIZE

SHIFT_LIMIT = 6  # pixels either way
ROTATE_LIMIT = 45.0  # degrees either way
SCALE_LIMITS = (0.7, 1.3)
CENTRE = (IMAGE_SIZE - 1) / 2  # 13.5: the middle of the picture, in pixel coordinates
PIXELS = IMAGE_SIZE * IMAGE_SIZE


@dataclass(frozen=True)
class Transform:
    """How to move a picture: resize and turn about its centre, then shift."""

    shift_x: int = 0  # pixels, positive moves the garment right
    shift_y: int = 0  # pixels, positive moves it down
    rotate: float = 0.0  # degrees, positive turns it anticlockwise (as people read angles)
    scale: float = 1.0  # 1.3 = 30 % larger, about the image centre

    def __post_init__(self) -> None:
        for name in ("shift_x", "shift_y"):
            object.__setattr__(self, name, _whole_shift(name, getattr(self, name)))
        object.__setattr__(self, "rotate", _number("rotate", self.rotate, -ROTATE_LIMIT, ROTATE_LIMIT, "degrees"))
        object.__setattr__(self, "scale", _number("scale", self.scale, *SCALE_LIMITS, "times the size"))

    def is_identity(self) -> bool:
        return self.shift_x == 0 and self.shift_y == 0 and self.rotate == 0 and self.scale == 1

    def is_shift(self) -> bool:
        """Only a shift: done by moving whole pixels, without resampling."""
        return self.rotate == 0 and self.scale == 1

    def describe(self) -> str:
        """For people: "the original", or e.g. "2 px right, 1 px up, turned 15° anticlockwise, 1.2× larger"."""
        parts = []
        if self.shift_x:
            parts.append(f"{abs(self.shift_x)} px {'right' if self.shift_x > 0 else 'left'}")
        if self.shift_y:
            parts.append(f"{abs(self.shift_y)} px {'down' if self.shift_y > 0 else 'up'}")
        if self.rotate:
            parts.append(f"turned {abs(self.rotate):g}° {'anticlockwise' if self.rotate > 0 else 'clockwise'}")
        if self.scale != 1:
            parts.append(f"{self.scale:g}× {'larger' if self.scale > 1 else 'the size'}")
        return ", ".join(parts) or "the original"


def _whole_shift(name: str, value) -> int:
    """``value`` as an int, if it is a whole number of pixels within the limit; else ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        limits = f"{-SHIFT_LIMIT} to {SHIFT_LIMIT}"
        raise ValueError(f"{name} must be a whole number of pixels from {limits}, not {value!r}")
    if not -SHIFT_LIMIT <= value <= SHIFT_LIMIT:
        raise ValueError(f"{name} must be from {-SHIFT_LIMIT} to {SHIFT_LIMIT} pixels, not {value}")
    return int(value)


def _number(name: str, value, low: float, high: float, unit: str) -> float:
    """``value`` as a float, if it is a number from ``low`` to ``high``; else ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number from {low:g} to {high:g} {unit}, not {value!r}")
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{name} must be from {low:g} to {high:g} {unit}, not {value}")
    return float(value)


def apply(images: np.ndarray, transform: Transform) -> np.ndarray:
    """``images`` moved by ``transform``: (28, 28) or (n, 28, 28) float32 in [0, 1], the same shape back.

    The identity gives an exact copy and a pure shift moves whole pixels; a turn or resize is
    resampled bilinearly by SciPy, with black outside the picture.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.shape[-2:] != (IMAGE_SIZE, IMAGE_SIZE) or images.ndim not in (2, 3):
        raise ValueError(
            f"images must have shape (28, 28) or (n, 28, 28), not {images.shape}; "
            "drop a channel axis first with images[..., 0]"
        )
    if transform.is_identity():
        return images.copy()
    stack = images.reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
    if transform.is_shift():
        moved = _shifted(stack, transform.shift_x, transform.shift_y)
    else:
        moved = _resampled(stack, transform.rotate, transform.scale, transform.shift_x, transform.shift_y)
    return moved.reshape(images.shape)


def _shifted(stack: np.ndarray, shift_x: int, shift_y: int) -> np.ndarray:
    """Whole-pixel shift of an (n, 28, 28) stack; what leaves the picture is lost, black comes in."""
    (from_rows, to_rows), (from_cols, to_cols) = _spans(shift_y), _spans(shift_x)
    out = np.zeros_like(stack)
    out[:, to_rows, to_cols] = stack[:, from_rows, from_cols]
    return out


def _spans(shift: int) -> tuple[slice, slice]:
    """The rows (or columns) a shift reads from, and the ones it writes to."""
    length = IMAGE_SIZE - abs(shift)
    source, target = max(-shift, 0), max(shift, 0)
    return slice(source, source + length), slice(target, target + length)


DIRECT_BELOW = 64  # images: fewer are resampled one by one (the probe's three, live); more share SciPy's weights


def _resampled(stack: np.ndarray, rotate: float, scale: float = 1.0, shift_x: int = 0, shift_y: int = 0):
    """Bilinear resampling of an (n, 28, 28) stack by SciPy: image by image for a few (no set-up
    cost, ~0.1 ms each), else one sparse product with SciPy's weights for the whole stack (the
    weights cost ~30 ms to work out, then 10,000 images take ~30 ms).

    Plain numbers, unchecked: ``Transform`` holds the lesson's limits, the geometry has none.
    """
    if len(stack) < DIRECT_BELOW:
        from scipy.ndimage import affine_transform

        matrix, offset = _inverse_map(rotate, scale, shift_x, shift_y)
        flat = np.stack(
            [affine_transform(image, matrix, offset=offset, order=1, mode="grid-constant", cval=0.0) for image in stack]
        ).reshape(len(stack), PIXELS)
    else:
        weights = _resampling_matrix(float(rotate), float(scale), int(shift_x), int(shift_y))
        flat = stack.reshape(len(stack), PIXELS) @ weights.T
    return np.clip(flat, 0.0, 1.0).astype(np.float32, copy=False).reshape(stack.shape)


@functools.lru_cache(maxsize=64)
def _resampling_matrix(rotate: float, scale: float, shift_x: int, shift_y: int):
    """(784, 784) sparse weights: each output pixel (row) from at most 4 input pixels (columns).

    Resampling is linear, so SciPy resamples each of the 784 one-pixel images once, and a batch
    is then one sparse product: about 15x faster than resampling a stack of 10,000 images.
    """
    from scipy.ndimage import affine_transform
    from scipy.sparse import csr_array

    matrix, offset = _inverse_map(rotate, scale, shift_x, shift_y)
    # A 3-D map with an identity on the first axis: each one-pixel image is resampled on its own.
    full_matrix = np.eye(3)
    full_matrix[1:, 1:] = matrix
    one_pixel_images = np.eye(PIXELS, dtype=np.float32).reshape(PIXELS, IMAGE_SIZE, IMAGE_SIZE)
    # "grid-constant": black beyond the edge, blended smoothly into the border pixels.
    responses = affine_transform(
        one_pixel_images, full_matrix, offset=(0.0, *offset), order=1, mode="grid-constant", cval=0.0
    )
    return csr_array(responses.reshape(PIXELS, PIXELS).T)


def _inverse_map(rotate: float, scale: float, shift_x: int, shift_y: int) -> tuple[np.ndarray, np.ndarray]:
    """(matrix, offset) taking an output pixel's (row, col) to where it comes from in the input.

    Forward, a pixel p moves to ``scale * R @ (p - centre) + centre + shift``, with R the turn in
    (row, col) coordinates: anticlockwise on screen, where rows grow downwards.
    """
    angle = math.radians(rotate)
    cos, sin = math.cos(angle), math.sin(angle)
    inverse = np.linalg.inv(scale * np.array([[cos, -sin], [sin, cos]]))
    centre = np.full(2, CENTRE)
    return inverse, centre - inverse @ (centre + np.array([shift_y, shift_x], dtype=float))
