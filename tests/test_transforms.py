"""Moving pictures against references: brute-force shifts, np.rot90, hand-computed resizes, and a
convolution's maps, which move with a shifted image."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest

from convlab import transforms
from convlab.models import PRESETS
from convlab.store import DEFAULT_ROOT, ModelStore
from convlab.transforms import SHIFT_LIMIT, Transform, apply

SHIFTS = [(0, 1), (2, 0), (-3, 1), (1, -4), (SHIFT_LIMIT, SHIFT_LIMIT), (-SHIFT_LIMIT, -SHIFT_LIMIT)]


@pytest.fixture(scope="module")
def images(test_split) -> np.ndarray:
    """Five real test images, (5, 28, 28), and no channel axis."""
    return test_split.images[:5, :, :, 0]


@pytest.fixture(scope="module")
def conv1(tmp_path_factory):
    """The shipped conv model's first layer as a model of its own, images (n, 28, 28, 1) in, maps out."""
    import keras

    # A copy: a load that fails would set the shipped files aside, and a test never moves them.
    root = tmp_path_factory.mktemp("models")
    for path in DEFAULT_ROOT.glob("conv-*"):
        shutil.copy(path, root)
    stored = ModelStore(root).load(PRESETS["conv"])
    assert stored is not None, "the shipped conv model is missing: python -m convlab train all makes it"
    model = stored.model
    return keras.Model(model.inputs[0], model.get_layer("conv1").output)


def brute_force_shift(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    out = np.zeros_like(image)
    for row in range(28):
        for col in range(28):
            if 0 <= row - dy < 28 and 0 <= col - dx < 28:
                out[row, col] = image[row - dy, col - dx]
    return out


def blob(sigma_x: float, sigma_y: float) -> np.ndarray:
    """A Gaussian centred on the picture's centre (13.5, 13.5), float32 in [0, 1]."""
    rows, cols = np.mgrid[0:28, 0:28] - 13.5
    return np.exp(-(cols**2) / (2 * sigma_x**2) - rows**2 / (2 * sigma_y**2)).astype(np.float32)


def orientation(image: np.ndarray) -> float:
    """The angle of an image's long axis in degrees, anticlockwise from the x axis as displayed."""
    rows, cols = np.mgrid[0:28, 0:28] - 13.5
    x, y = cols, -rows  # y grows upwards on screen
    weights = image / image.sum()
    xx, yy, xy = (weights * x * x).sum(), (weights * y * y).sum(), (weights * x * y).sum()
    return math.degrees(0.5 * math.atan2(2 * xy, xx - yy))


# -- what a transform is -------------------------------------------------------------------------
def test_describe_says_what_moved_in_words():
    assert Transform().describe() == "the original"
    assert Transform(shift_x=2, shift_y=-1, rotate=15, scale=1.2).describe() == (
        "2 px right, 1 px up, turned 15° anticlockwise, 1.2× larger"
    )
    assert Transform(shift_x=-3, shift_y=4, rotate=-7.5, scale=0.8).describe() == (
        "3 px left, 4 px down, turned 7.5° clockwise, 0.8× the size"
    )


def test_values_are_stored_as_plain_numbers_and_equal_transforms_are_equal():
    transform = Transform(shift_x=np.int64(2), rotate=np.float32(10), scale=1)
    assert type(transform.shift_x) is int and type(transform.rotate) is float and type(transform.scale) is float
    same = Transform(shift_x=2, rotate=10.0)
    assert transform == same and hash(transform) == hash(same)
    assert Transform(rotate=0, scale=1.0).is_identity() and not transform.is_identity()
    assert Transform(shift_x=3).is_shift() and not transform.is_shift()


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"shift_x": 7}, "shift_x must be from -6 to 6 pixels, not 7"),
        ({"shift_y": -7}, "shift_y must be from -6 to 6 pixels"),
        ({"shift_x": 2.0}, "shift_x must be a whole number of pixels from -6 to 6, not 2.0"),
        ({"shift_y": True}, "shift_y must be a whole number"),
        ({"rotate": 45.5}, "rotate must be from -45 to 45 degrees, not 45.5"),
        ({"rotate": float("nan")}, "rotate must be from -45 to 45 degrees"),
        ({"rotate": "10"}, "rotate must be a number from -45 to 45 degrees"),
        ({"scale": 0.69}, r"scale must be from 0.7 to 1.3 times the size, not 0.69"),
        ({"scale": float("inf")}, "scale must be from 0.7 to 1.3"),
        ({"scale": 0}, "scale must be from 0.7 to 1.3"),
    ],
)
def test_bad_arguments_name_the_allowed_range(arguments, message):
    with pytest.raises(ValueError, match=message):
        Transform(**arguments)


@pytest.mark.parametrize("shape", [(28, 28, 1), (3, 27, 28), (2, 2, 28, 28), (28,)])
def test_images_of_another_shape_are_refused(shape):
    with pytest.raises(ValueError, match=r"images must have shape \(28, 28\) or \(n, 28, 28\).*images\[\.\.\., 0\]"):
        apply(np.zeros(shape, np.float32), Transform(shift_x=1))


# -- shifts --------------------------------------------------------------------------------------
def test_the_identity_returns_an_exact_copy(images):
    for given in (images, images[0]):
        same = apply(given, Transform())
        assert same.dtype == np.float32 and same.shape == given.shape
        np.testing.assert_array_equal(same, given)
        assert not np.shares_memory(same, given)


def test_a_shift_moves_right_and_down_for_positive_values():
    image = np.zeros((28, 28), np.float32)
    image[10, 12] = 0.75
    moved = apply(image, Transform(shift_x=2, shift_y=-1))
    assert moved[9, 14] == 0.75 and np.count_nonzero(moved) == 1


@pytest.mark.parametrize("dx, dy", SHIFTS)
def test_a_shift_matches_a_brute_force_loop(images, dx, dy):
    moved = apply(images, Transform(shift_x=dx, shift_y=dy))
    assert moved.dtype == np.float32 and moved.shape == images.shape
    for image, result in zip(images, moved):
        np.testing.assert_array_equal(result, brute_force_shift(image, dx, dy))  # exact: no resampling
    np.testing.assert_array_equal(apply(images[2], Transform(shift_x=dx, shift_y=dy)), moved[2])


@pytest.mark.parametrize("dx, dy", SHIFTS)
def test_a_shift_and_back_is_the_original_where_nothing_left_the_picture(dx, dy):
    image = np.random.default_rng(1).random((28, 28), dtype=np.float32)
    back = apply(apply(image, Transform(shift_x=dx, shift_y=dy)), Transform(shift_x=-dx, shift_y=-dy))
    kept = np.zeros((28, 28), bool)
    kept[max(0, -dy) : 28 - max(0, dy), max(0, -dx) : 28 - max(0, dx)] = True  # pixels that stayed in
    np.testing.assert_array_equal(back[kept], image[kept])
    assert not back[~kept].any()


# -- turns and resizes ---------------------------------------------------------------------------
@pytest.mark.parametrize("angle, quarter_turns", [(90, 1), (-90, -1), (180, 2)])
def test_a_quarter_turn_about_the_centre_is_np_rot90(images, angle, quarter_turns):
    # Transform stops at 45°; the resampling beneath has no limit, and at 90° hits the pixel grid exactly.
    turned = transforms._resampled(images, rotate=angle)
    np.testing.assert_allclose(turned, np.rot90(images, quarter_turns, axes=(1, 2)), atol=1e-6)


def test_a_quarter_turn_is_anticlockwise_as_displayed():
    image = np.zeros((1, 28, 28), np.float32)
    image[0, 3, 20] = 1.0  # top right, row 0 at the top
    turned = transforms._resampled(image, rotate=90)[0]
    assert turned[7, 3] == pytest.approx(1.0, abs=1e-6) and turned.sum() == pytest.approx(1.0, abs=1e-5)  # top left


@pytest.mark.parametrize("angle", [-45, -30, -15, 15, 30, 45])
def test_a_turn_keeps_a_centred_blobs_brightness_and_turns_its_long_axis(angle):
    image = blob(sigma_x=5, sigma_y=2)  # long along x
    turned = apply(image, Transform(rotate=angle))
    assert turned.dtype == np.float32 and 0 <= turned.min() and turned.max() <= 1
    assert turned.sum() == pytest.approx(image.sum(), rel=0.01)
    assert np.abs(turned - image).max() > 0.1  # it did move
    assert orientation(image) == pytest.approx(0, abs=1e-6)
    assert orientation(turned) == pytest.approx(angle, abs=1.0)


@pytest.mark.parametrize(
    "scale, profile",
    [
        # 1.3: output pixel p reads the input at 13.5 + (p - 13.5) / 1.3; the square covers inputs 9..18,
        # so p = 8..19 read inside it (1) and p = 7 and 20 read 8.5 and 18.5, halfway out (0.5).
        (1.3, {7: 0.5, **dict.fromkeys(range(8, 20), 1.0), 20: 0.5}),
        # 0.7: p = 11..16 read inside, p = 10 and 17 read 8.5 and 18.5 (0.5), p = 9 reads 7.07 (0).
        (0.7, {10: 0.5, **dict.fromkeys(range(11, 17), 1.0), 17: 0.5}),
    ],
)
def test_a_resize_grows_a_centred_square_by_the_hand_computed_pixels(scale, profile):
    square = np.zeros((28, 28), np.float32)
    square[9:19, 9:19] = 1.0  # 10x10, centred on 13.5
    line = np.zeros(28)
    for index, value in profile.items():
        line[index] = value
    resized = apply(square, Transform(scale=scale))
    np.testing.assert_allclose(resized, np.outer(line, line), atol=1e-6)  # a resize about the centre is separable
    assert resized.sum() == pytest.approx(100 * scale**2, rel=1e-5)  # 169 and 49 pixels' worth


def test_a_turn_with_a_shift_is_the_turn_then_the_shift_away_from_the_edges(images):
    turned = apply(images, Transform(rotate=20))
    both = apply(images, Transform(rotate=20, shift_x=3, shift_y=-2))
    # 3 px right and 2 px up: both's pixel (r, c) is turned's (r + 2, c - 3), wherever that is in the picture.
    np.testing.assert_allclose(both[:, :26, 3:], turned[:, 2:, :25], atol=1e-6)
    assert both[:, :26, 3:].max() > 0.5


def test_the_batched_weights_equal_scipy_resampling_each_image(test_split):
    """The batched path (SciPy's weights worked out once, then one sparse product for the whole
    stack) against SciPy's affine_transform run on each image itself. (How fast it is belongs to
    the benchmark's invariance chart, not to a test.)"""
    from scipy.ndimage import affine_transform

    from convlab.transforms import DIRECT_BELOW, _inverse_map

    stack = test_split.images[: DIRECT_BELOW + 10, ..., 0]  # enough to take the batched path
    for transform in (
        Transform(rotate=25),
        Transform(scale=0.8, shift_x=-2),
        Transform(rotate=-40, scale=1.3, shift_y=5),
    ):
        moved = apply(stack, transform)
        assert moved.shape == stack.shape and moved.dtype == np.float32
        matrix, offset = _inverse_map(transform.rotate, transform.scale, transform.shift_x, transform.shift_y)
        expected = [
            np.clip(affine_transform(image, matrix, offset=offset, order=1, mode="grid-constant"), 0, 1)
            for image in stack
        ]
        np.testing.assert_allclose(moved, np.stack(expected), atol=1e-6)
        np.testing.assert_allclose(apply(stack[:3], transform), moved[:3], atol=1e-6)  # the few, one by one


# -- what a convolution makes of a shift ---------------------------------------------------------
@pytest.mark.parametrize("dx, dy", SHIFTS)
def test_conv1_of_a_shifted_image_is_its_map_shifted(conv1, images, dx, dy):
    maps = np.asarray(conv1(images[..., np.newaxis], training=False))  # (5, 26, 26, 64)
    moved = np.asarray(conv1(apply(images, Transform(shift_x=dx, shift_y=dy))[..., np.newaxis], training=False))
    # Away from the borders: the map rows and columns whose 3x3 window came from inside the picture.
    rows, cols = slice(max(0, dy), 26 + min(0, dy)), slice(max(0, dx), 26 + min(0, dx))
    source_rows, source_cols = slice(max(0, -dy), 26 - max(0, dy)), slice(max(0, -dx), 26 - max(0, dx))
    np.testing.assert_allclose(moved[:, rows, cols], maps[:, source_rows, source_cols], atol=1e-5, rtol=0)
    assert moved[:, rows, cols].max() > 0.5  # the compared part holds real responses
