"""Replay frames as pictures: map colours checked against the colour scales by hand, the chosen
kernel's frame, GIF and PNG files decoded back, and refusals of arguments that can't be drawn."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image, ImageColor, ImageSequence

from convlab.figures.scales import ACTIVATION_COLORSCALE, DIVERGING_COLORSCALE, WRONG_COLOR
from convlab.frames import (
    FRAME_WIDTH,
    FramePoint,
    fixed_map_tops,
    frame_layout,
    gif_bytes,
    png_bytes,
    replay_frame,
)

LAYERS = ["conv1", "pool1", "conv2", "pool2"]
SIDES = (26, 13, 11, 5)
POINTS = [
    FramePoint(0.0, 0.1, 0.1),
    FramePoint(0.5, 0.7, 0.68),
    FramePoint(1.0, 0.85, 0.82),
    FramePoint(2.0, 0.9, 0.86),
]


def scale_colour(colorscale, fraction: float) -> tuple[int, int, int]:
    """The colour at ``fraction`` of a [position, "rgb(r, g, b)"] scale, worked out from its stops
    as a 256-step table does: the step nearest the fraction, linear between the two stops around it."""
    position = round(fraction * 255) / 255
    stops = [(float(p), [float(v) for v in re.findall(r"[\d.]+", colour)]) for p, colour in colorscale]
    for (p0, c0), (p1, c1) in zip(stops, stops[1:]):
        if p0 <= position <= p1:
            share = (position - p0) / (p1 - p0)
            return tuple(round(a + (b - a) * share) for a, b in zip(c0, c1))
    raise AssertionError(f"{fraction} is off the scale")


def assert_close(actual, expected, tolerance=1):
    assert max(abs(a - b) for a, b in zip(actual, expected)) <= tolerance, (actual, expected)


def make_maps(rows=2, seed=0, boost=1.0):
    rng = np.random.default_rng(seed)
    return [[rng.random((side, side)) * boost for side in SIDES] for _ in range(rows)]


def draw(maps=None, rows=2, **options):
    rng = np.random.default_rng(1)
    arguments = {
        "images": rng.random((rows, 28, 28)),
        "maps": make_maps(rows) if maps is None else maps,
        "layer_names": LAYERS,
        "row_titles": [
            f"Image {row + 1} · test #{row} · <b>Bag</b> → predicted <b>Bag</b> (90%) ✓" for row in range(rows)
        ],
        "kernels": rng.normal(0, 0.3, (3, 3, 1, 64)),
        "chosen_filter": 4,
        "points": POINTS,
        "current": 1,
        "title": "conv (lesson) · epoch 1, 50 % through",
    }
    arguments.update(options)
    return replay_frame(**arguments)


def cell_centre(box, side: int, row: int, column: int) -> tuple[int, int]:
    """The screen pixel in the middle of a map cell drawn in ``box`` (left, top, right, bottom)."""
    size = box[2] - box[0]
    return box[0] + int((column + 0.5) * size / side), box[1] + int((row + 0.5) * size / side)


def layout_of(rows=2):
    return frame_layout(rows, len(LAYERS), (3, 3, 1, 64))


def test_panel_scale_colours_each_cell_by_its_own_panels_max():
    maps = make_maps()
    maps[1][1] = np.arange(169, dtype=float).reshape(13, 13)  # row 1, pool1: 0..168
    frame = draw(maps, scale="panel")
    box = layout_of().panel_box(1, 2)
    for row, column in [(0, 0), (0, 7), (3, 5), (6, 6), (12, 1), (12, 12)]:
        value = maps[1][1][row, column]
        assert_close(
            frame.getpixel(cell_centre(box, 13, row, column)), scale_colour(ACTIVATION_COLORSCALE, value / 168)
        )


def test_figure_scale_colours_every_cell_by_the_largest_activation_in_the_frame():
    maps = make_maps()
    maps[0][3] = np.arange(25, dtype=float).reshape(5, 5)  # row 0, pool2: 0..24
    maps[1][0][3, 4] = 50.0  # the frame's largest activation, elsewhere
    frame = draw(maps, scale="figure")
    box = layout_of().panel_box(0, 4)
    for row in range(5):
        for column in range(5):
            expected = scale_colour(ACTIVATION_COLORSCALE, maps[0][3][row, column] / 50)
            assert_close(frame.getpixel(cell_centre(box, 5, row, column)), expected)


def test_layer_scale_and_fixed_tops_colour_by_the_layers_top():
    maps = make_maps()
    maps[0][2] = np.arange(121, dtype=float).reshape(11, 11) / 10  # conv2: 0..12
    maps[1][2][0, 0] = 24.0  # the layer's largest, in the other row
    by_layer = draw(maps, scale="layer")
    fixed = draw(maps, scale="layer", map_tops=[1.0, 1.0, 48.0, 1.0])
    box = layout_of().panel_box(0, 3)
    for row, column in [(0, 1), (5, 5), (10, 10)]:
        value = maps[0][2][row, column]
        assert_close(
            by_layer.getpixel(cell_centre(box, 11, row, column)), scale_colour(ACTIVATION_COLORSCALE, value / 24)
        )
        assert_close(fixed.getpixel(cell_centre(box, 11, row, column)), scale_colour(ACTIVATION_COLORSCALE, value / 48))


def test_the_input_is_grey_from_black_to_white():
    images = np.zeros((2, 28, 28, 1))  # as the splits hold them; (rows, 28, 28) works too
    images[0, 3, 5], images[0, 10, 10] = 1.0, 0.5
    frame = draw(images=images)
    box = layout_of().panel_box(0, 0)
    assert frame.getpixel(cell_centre(box, 28, 3, 5)) == (255, 255, 255)
    assert frame.getpixel(cell_centre(box, 28, 0, 0)) == (0, 0, 0)
    assert_close(frame.getpixel(cell_centre(box, 28, 10, 10)), (128, 128, 128))


@pytest.mark.parametrize("scale", ["panel", "layer", "figure"])
def test_an_all_zero_map_is_inferno_black_with_a_white_label(scale):
    maps = make_maps()
    maps[1][0] = np.zeros((26, 26))
    panel = np.asarray(draw(maps, scale=scale))
    left, top, right, bottom = layout_of().panel_box(1, 1)
    pixels = panel[top:bottom, left:right].reshape(-1, 3)
    bottom_colour = scale_colour(ACTIVATION_COLORSCALE, 0.0)  # rgb(0, 0, 4)
    is_bottom = (pixels == bottom_colour).all(axis=1)
    assert is_bottom.mean() > 0.9  # black but for the label
    band = panel[top + 60 : bottom - 60, left:right]  # the label sits in the middle
    assert (band.min(axis=2) > 200).any()  # white letters
    edges = np.concatenate([panel[top : top + 50, left:right], panel[bottom - 50 : bottom, left:right]]).reshape(-1, 3)
    assert (edges == bottom_colour).all()


def test_a_layer_without_the_chosen_filter_leaves_an_empty_panel_that_says_so():
    maps = make_maps()
    for row in maps:
        row[0] = row[1] = None  # conv1 and pool1 have fewer filters than the chosen one
    frame = np.asarray(draw(maps, chosen_filter=100))
    left, top, right, bottom = layout_of().panel_box(0, 1)
    panel = frame[top:bottom, left:right]
    assert (panel.min(axis=2) < 150).any()  # the note's letters
    assert (panel.min(axis=2) > 230).mean() > 0.9  # on a light panel, no heatmap


def red_around(frame: Image.Image, layout, number: int) -> list[bool]:
    """Whether each side's gap (left, top, right, bottom) around kernel ``number`` holds the frame's red."""
    left, top, right, bottom = layout.kernel_box(number)
    gap = layout.kernel_gap
    pixels = np.asarray(frame)
    sides = [
        pixels[top:bottom, left - gap : left],
        pixels[top - gap : top, left:right],
        pixels[top:bottom, right : right + gap],
        pixels[bottom : bottom + gap, left:right],
    ]
    red = ImageColor.getrgb(WRONG_COLOR)
    return [bool((side == red).all(axis=2).any()) for side in sides]


def test_the_chosen_kernel_is_framed_and_the_far_ones_are_not():
    layout = layout_of()
    frame = draw(chosen_filter=9)  # row 1, column 1 of the 8 × 8 grid
    assert red_around(frame, layout, 9) == [True] * 4
    for far in (0, 7, 36, 63):
        assert red_around(frame, layout, far) == [False] * 4
    left, top, right, bottom = layout.kernel_box(9)
    inside = np.asarray(frame)[top:bottom, left:right]
    assert not (inside == ImageColor.getrgb(WRONG_COLOR)).all(axis=2).any()  # no weight hidden under the frame


def test_kernels_are_diverging_around_zero_on_the_range_given():
    kernels = np.zeros((3, 3, 1, 64))
    kernels[0, 0, 0, 2], kernels[2, 1, 0, 2] = 1.0, -1.0
    kernels[1, 1, 0, 2] = 0.5
    kernels[0, 0, 0, 3] = 4.0  # beyond the range: the scale's end
    frame = draw(kernels=kernels, kernel_range=1.0)
    box = layout_of().kernel_box(2)
    assert_close(frame.getpixel(cell_centre(box, 3, 0, 0)), scale_colour(DIVERGING_COLORSCALE, 1.0))
    assert_close(frame.getpixel(cell_centre(box, 3, 2, 1)), scale_colour(DIVERGING_COLORSCALE, 0.0))
    assert_close(frame.getpixel(cell_centre(box, 3, 1, 1)), scale_colour(DIVERGING_COLORSCALE, 0.75))
    assert_close(frame.getpixel(cell_centre(box, 3, 1, 0)), scale_colour(DIVERGING_COLORSCALE, 0.5))  # 0: white
    assert_close(
        frame.getpixel(cell_centre(layout_of().kernel_box(3), 3, 0, 0)), scale_colour(DIVERGING_COLORSCALE, 1.0)
    )


def test_every_frame_of_a_run_has_the_same_even_size():
    frames = [draw(maps=make_maps(seed=n, boost=n + 1), current=n, title="x" * (10 + 40 * n)) for n in range(4)]
    sizes = {frame.size for frame in frames}
    assert len(sizes) == 1
    ((width, height),) = sizes
    assert width == FRAME_WIDTH and width % 2 == 0 and height % 2 == 0
    assert frames[0].mode == "RGB"
    assert frames[0].size == layout_of().size


def test_a_dense_model_draws_inputs_and_accuracy_alone():
    frames = [draw(maps=[[], []], layer_names=[], kernels=None, chosen_filter=0, current=n) for n in range(4)]
    assert len({frame.size for frame in frames}) == 1
    layout = frame_layout(2, 0)
    assert frames[0].size == layout.size and layout.kernel_cell == 0
    assert layout.strip[2] - layout.strip[0] > 500  # the accuracy takes the room the kernels would have


def test_fixed_map_tops_take_each_layers_largest_over_every_frame():
    first, second = make_maps(seed=1), make_maps(seed=2, boost=3.0)
    second[0][1][0, 0] = 9.0
    by_layer = fixed_map_tops([first, second], "layer")
    assert by_layer == [max(m[layer].max() for maps in (first, second) for m in maps) for layer in range(4)]
    assert by_layer[1] == 9.0
    assert fixed_map_tops([first, second], "figure") == [max(by_layer)] * 4
    assert fixed_map_tops([first, second], "panel") is None


def distinct_frames(count: int) -> list[Image.Image]:
    return [draw(maps=make_maps(seed=n), current=n % len(POINTS), title=f"frame {n}") for n in range(count)]


@pytest.mark.parametrize("seconds, hold", [(0.6, 2.0), (0.25, 1.5)])
def test_a_gif_decodes_to_every_frame_with_the_durations_asked_looping_forever(seconds, hold):
    frames = distinct_frames(5)
    gif = Image.open(io.BytesIO(gif_bytes(frames, seconds_per_frame=seconds, hold_last=hold)))
    # The iterator seeks one image object: read each frame's size and duration as it comes.
    decoded = [(frame.size, frame.info["duration"]) for frame in ImageSequence.Iterator(gif)]
    assert len(decoded) == 5 == gif.n_frames
    assert {size for size, _ in decoded} == {frames[0].size}
    assert [duration for _, duration in decoded] == [seconds * 1000] * 4 + [hold * 1000]
    assert gif.info["loop"] == 0


def test_a_gif_keeps_the_frames_colours():
    frames = distinct_frames(2)
    gif = Image.open(io.BytesIO(gif_bytes(frames)))
    gif.seek(1)
    decoded, drawn = np.asarray(gif.convert("RGB"), dtype=int), np.asarray(frames[1], dtype=int)
    assert (decoded[0, 0] == 255).all()  # the background stays white
    difference = np.abs(decoded - drawn).max(axis=2)
    assert np.median(difference) == 0 and np.percentile(difference, 99) <= 6  # inferno isn't banded


def test_a_gif_of_fourteen_frames_stays_small():
    frames = [
        draw(maps=make_maps(rows=4, seed=n), rows=4, current=n % len(POINTS), title=f"frame {n}") for n in range(14)
    ]
    assert len(gif_bytes(frames)) < 3 * 2**20  # random maps: more detail than real ones


def test_a_png_decodes_to_the_frame():
    frame = draw()
    decoded = Image.open(io.BytesIO(png_bytes(frame)))
    assert decoded.format == "PNG" and decoded.size == frame.size
    assert np.array_equal(np.asarray(decoded.convert("RGB")), np.asarray(frame))


@pytest.mark.parametrize(
    "options, message",
    [
        ({"current": 4}, "current must index points"),
        ({"current": -1}, "current must index points"),
        ({"points": []}, "at least one snapshot"),
        ({"row_titles": ["only one"]}, "one row title"),
        ({"maps": make_maps(rows=3)}, "maps lists"),
        ({"wrong": [True]}, "wrong flag"),
        ({"scale": "column"}, "scale must be one of"),
        ({"layer_names": ["conv1"]}, "one map per layer"),
        ({"kernels": np.zeros((3, 3, 2, 8))}, "kernels must be conv1's"),
        ({"chosen_filter": -1}, "0-based"),
        ({"kernel_range": 0.0}, "kernel_range must be above 0"),
        ({"map_tops": [1.0] * 4}, "use scale 'layer' or 'figure'"),
        ({"map_tops": [1.0] * 3, "scale": "figure"}, "one top above 0 per layer"),
        ({"images": np.zeros((2, 14, 14))}, "images must be"),
        ({"images": np.zeros((2, 28, 28, 3))}, "images must be"),
    ],
)
def test_arguments_that_cant_be_drawn_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        draw(**options)


def test_gif_arguments_that_cant_be_encoded_are_refused():
    frame = draw()
    with pytest.raises(ValueError, match="at least one frame"):
        gif_bytes([])
    with pytest.raises(ValueError, match="same size"):
        gif_bytes([frame, frame.resize((100, 100))])
    with pytest.raises(ValueError, match="at least 0.02"):
        gif_bytes([frame], seconds_per_frame=0)
    with pytest.raises(ValueError, match="scale must be one of"):
        fixed_map_tops([make_maps()], "rows")
