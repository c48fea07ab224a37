"""A training replay's frames as pictures: PNG and animated GIF for slides, drawn with NumPy and Pillow.

The app's Replay view shows a training as it happened, one snapshot of the weights at a time.
``replay_frame`` draws one snapshot as a still: a title line; the journey grid on the left as
in the app (rows = images, the input in grey, then one inferno heatmap per feature layer,
scaled "panel", "layer" or "figure" like ``figures.journey_figure``); conv1's kernels on the
right on the diverging scale, the chosen filter framed; and below them an accuracy strip
with the whole run drawn light and the run so far drawn strong. ``gif_bytes`` and
``png_bytes`` encode frames for download.

No Plotly export (its static images need a Chrome download) and no matplotlib: every frame is
drawn here, so it looks the same on any machine. A frame's size depends only on the number of
rows, the layers and conv1's kernels, never on the numbers drawn, so a run's frames stack
into one GIF. ``frame_layout`` says where each panel and kernel sits.
"""

from __future__ import annotations

import functools
import io
import math
import re
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageColor, ImageDraw, ImageFont

from .figures.scales import (
    ACTIVATION_COLORSCALE,
    ALL_ZERO_COLOR,
    DIVERGING_COLORSCALE,
    INPUT_COLORSCALE,
    RUN_COLORS,
    SCALE_MODES,
    WRONG_COLOR,
    floored_range,
    shared_ranges,
)

# Geometry in pixels. A frame is about FRAME_WIDTH wide: a slide's width on a projector.
FRAME_WIDTH = 1200
PANEL = 150  # a journey panel's side; smaller only when many layers must fit
MIN_PANEL = 80  # below this the frame grows wider instead
MARGIN, GUTTER = 20, 32  # around the frame; between the grid and the right column
COLUMN_GAP, ROW_GAP = 10, 14
ROW_TITLE_WIDTH = 500  # "Image 2 · test #2345 · T-shirt/top -> predicted Pullover (97%) wrong" at LABEL_SIZE
RIGHT_WIDTH = 340  # the kernels' and accuracy's column (a dense model's strip takes all the room left)
TITLE_HEIGHT, HEADING_HEIGHT, ROW_TITLE_HEIGHT = 50, 30, 26
KERNEL_COLUMNS = 8  # a grid of up to 64 filters is 8 wide; more filters make a squarer grid
STRIP_HEIGHT, MIN_STRIP_HEIGHT = 340, 240  # the accuracy strip: its usual and its smallest height

# Type sizes in pixels: big enough to read from the back of a room when the frame fills a slide.
TITLE_SIZE, HEADING_SIZE, LABEL_SIZE, SMALL_SIZE = 26, 18, 16, 14

WHITE, INK, MUTED, GRID_LINE, EMPTY = (255, 255, 255), (20, 20, 20), (110, 110, 110), (225, 225, 225), (242, 242, 242)
FRAME_COLOR = ImageColor.getrgb(WRONG_COLOR)  # the chosen kernel's frame: the app frames it in the same red
# As the app's replay chart (figures.replay_accuracy_figure): train blue, test red.
TRAIN_COLOR, TEST_COLOR = ImageColor.getrgb(RUN_COLORS[0]), ImageColor.getrgb(RUN_COLORS[1])
LIGHT = 0.3  # the whole run's lines, blended this much toward white behind the run so far

# Symbols the app's titles use that Pillow's built-in font lacks, written so any font has them.
PLAIN_SYMBOLS = {"→": "->", "×": "x", "✓": "", "✗": "", "−": "-", "–": "-", "…": "..."}


def colour_lut(colorscale: list[list]) -> np.ndarray:
    """A Plotly-style scale of [position, colour] stops as 256 RGB rows, interpolated linearly."""
    positions = np.array([float(stop[0]) for stop in colorscale])
    colours = np.array([ImageColor.getrgb(stop[1]) for stop in colorscale], dtype=float)
    steps = np.linspace(0.0, 1.0, 256)
    channels = [np.interp(steps, positions, colours[:, channel]) for channel in range(3)]
    return np.rint(np.stack(channels, axis=1)).astype(np.uint8)


ACTIVATION_LUT = colour_lut(ACTIVATION_COLORSCALE)
DIVERGING_LUT = colour_lut(DIVERGING_COLORSCALE)
INPUT_LUT = colour_lut(INPUT_COLORSCALE)


@dataclass(frozen=True)
class FramePoint:
    """One snapshot's place in training, for the accuracy strip."""

    epochs: float  # epochs done: 0.0 at the start, fractions during epoch 1, then 1.0, 2.0, ...
    train_accuracy: float
    test_accuracy: float


@dataclass(frozen=True)
class FrameLayout:
    """Where everything sits in a frame, in pixels; the same for every frame of a run."""

    width: int
    height: int
    panel: int  # a journey panel's side
    columns: int  # the input, then one per feature layer
    grid_top: int  # the first row's panels (its row title sits just above)
    kernel_cell: int  # a kernel's side; 0 without kernels
    kernel_columns: int
    kernel_gap: int
    kernels_top: int
    right: int  # the right column's left edge
    right_width: int
    strip: tuple[int, int, int, int]  # the accuracy strip's left, top, right, bottom

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    def panel_box(self, row: int, column: int) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) of a journey panel; column 0 is the input."""
        left = MARGIN + column * (self.panel + COLUMN_GAP)
        top = self.grid_top + row * (self.panel + ROW_GAP + ROW_TITLE_HEIGHT)
        return left, top, left + self.panel, top + self.panel

    def kernel_box(self, number: int) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) of conv1's kernel ``number`` (0-based)."""
        row, column = divmod(number, self.kernel_columns)
        left = self.right + column * (self.kernel_cell + self.kernel_gap)
        top = self.kernels_top + row * (self.kernel_cell + self.kernel_gap)
        return left, top, left + self.kernel_cell, top + self.kernel_cell


def frame_layout(rows: int, layers: int, kernels_shape: tuple[int, ...] | None = None) -> FrameLayout:
    """The layout of a frame with ``rows`` images, ``layers`` feature layers and conv1's kernels."""
    if rows < 1:
        raise ValueError(f"a frame needs at least 1 image row, not {rows}")
    columns = 1 + layers
    room = FRAME_WIDTH - 2 * MARGIN - GUTTER - RIGHT_WIDTH - (columns - 1) * COLUMN_GAP
    panel = max(MIN_PANEL, min(PANEL, room // columns))
    # At least a row title's width: a dense model's grid is the input column alone.
    grid_width = max(columns * panel + (columns - 1) * COLUMN_GAP, ROW_TITLE_WIDTH)
    width = _even(max(FRAME_WIDTH, 2 * MARGIN + grid_width + GUTTER + RIGHT_WIDTH))
    right = MARGIN + grid_width + GUTTER
    right_width = width - MARGIN - right
    grid_top = TITLE_HEIGHT + HEADING_HEIGHT + ROW_TITLE_HEIGHT
    grid_bottom = grid_top + rows * panel + (rows - 1) * (ROW_GAP + ROW_TITLE_HEIGHT)

    cell = kernel_columns = gap = 0
    kernels_top = TITLE_HEIGHT + HEADING_HEIGHT
    strip_top = TITLE_HEIGHT
    if kernels_shape is not None:
        side, filters = kernels_shape[0], kernels_shape[-1]
        kernel_columns = min(filters, max(KERNEL_COLUMNS, math.ceil(math.sqrt(filters))))
        gap = 6 if kernel_columns <= KERNEL_COLUMNS else 4  # room for the chosen kernel's frame
        fit = (right_width - (kernel_columns - 1) * gap) // kernel_columns
        cell = max(side, fit // side * side)  # whole screen pixels per weight: every weight the same size
        kernel_rows = -(-filters // kernel_columns)
        # Below the grid: one line saying what the colours mean.
        strip_top = kernels_top + kernel_rows * (cell + gap) - gap + SMALL_SIZE + 30
    strip_bottom = max(grid_bottom, strip_top + MIN_STRIP_HEIGHT)
    if kernels_shape is not None:  # a tall grid leaves the strip its usual height, not the whole column
        strip_bottom = max(strip_top + MIN_STRIP_HEIGHT, min(strip_bottom, strip_top + STRIP_HEIGHT))
    height = _even(max(grid_bottom, strip_bottom) + MARGIN)
    return FrameLayout(
        width=width,
        height=height,
        panel=panel,
        columns=columns,
        grid_top=grid_top,
        kernel_cell=cell,
        kernel_columns=kernel_columns,
        kernel_gap=gap,
        kernels_top=kernels_top,
        right=right,
        right_width=right_width,
        strip=(right, strip_top, right + right_width, strip_bottom),
    )


def _even(pixels: int) -> int:
    return pixels + pixels % 2  # video encoders and some slide tools want even sides


def fixed_map_tops(frames_maps: list[list[list[np.ndarray | None]]], scale: str) -> list[float] | None:
    """The top of each layer's colour range over every frame of a run, for ``replay_frame``'s ``map_tops``.

    With "layer" or "figure" this keeps a colour meaning the same activation in every frame of
    a GIF, so a filter waking up during training shows as a panel getting brighter. With
    "panel" each panel is scaled on its own in every frame: None.
    """
    _check_scale(scale)
    rows = [row for maps in frames_maps for row in maps]
    if scale == "panel" or not rows or not rows[0]:
        return None
    ranges = shared_ranges(rows, scale)
    layers = len(rows[0])
    if scale == "figure":
        return [ranges["figure"][1]] * layers
    return [ranges[layer][1] if layer in ranges else 1.0 for layer in range(layers)]


def filter_name(number: int) -> str:
    """How a frame names a filter: 0-based, as the app's filter boxes, captions and titles do."""
    return f"filter {number}"


def _check_scale(scale: str) -> None:
    if scale not in SCALE_MODES:
        raise ValueError(f"scale must be one of {list(SCALE_MODES)}, not {scale!r}")


def replay_frame(
    images: np.ndarray,
    maps: list[list[np.ndarray | None]],
    layer_names: list[str],
    row_titles: list[str],
    kernels: np.ndarray | None,
    chosen_filter: int,
    points: list[FramePoint],
    current: int,
    title: str,
    scale: str = "panel",
    kernel_range: float | None = None,
    map_tops: list[float] | None = None,
    wrong: list[bool] | None = None,
) -> Image.Image:
    """One snapshot of a training replay as an RGB picture for a slide.

    ``images`` are the rows' inputs, (rows, 28, 28) in [0, 1]; ``maps[row][layer]`` the 2-D
    map of the chosen filter in each of ``layer_names`` (None where that layer has fewer
    filters); ``row_titles`` head the rows (the app's ``figures.row_title``; its <b> tags are
    dropped) and ``wrong`` draws a row's title in red. ``kernels`` are conv1's (k, k, 1,
    filters), or None for a dense model (then ``layer_names`` is empty and only the inputs and
    the accuracy are drawn); ``chosen_filter`` is framed among them (0-based, and labelled so,
    as in the app). ``points`` is every snapshot of the run, ``current`` this frame's index in it.

    ``scale`` sets the top of each map's colour range as the app does ("panel", "layer",
    "figure"; the bottom is always 0). ``map_tops`` fixes those tops, one per layer, across a
    GIF's frames (see ``fixed_map_tops``); ``kernel_range`` fixes the kernels' symmetric range
    the same way (default: this frame's largest |weight|).
    """
    kernels = None if kernels is None else np.asarray(kernels, dtype=float)
    images = _check_frame(
        images,
        maps,
        layer_names,
        row_titles,
        kernels,
        chosen_filter,
        points,
        current,
        scale,
        kernel_range,
        map_tops,
        wrong,
    )
    layout = frame_layout(len(images), len(layer_names), None if kernels is None else kernels.shape)
    frame = Image.new("RGB", layout.size, WHITE)
    draw = ImageDraw.Draw(frame)
    _text(draw, (MARGIN, 12), _fit(title, _font(TITLE_SIZE), layout.width - 2 * MARGIN), TITLE_SIZE)
    tops = map_tops if map_tops is not None else _frame_tops(maps, scale)
    _draw_grid(
        frame, draw, layout, images, maps, layer_names, row_titles, wrong or [False] * len(images), tops, chosen_filter
    )
    if kernels is not None:
        _draw_kernels(frame, draw, layout, kernels, chosen_filter, kernel_range)
    _draw_accuracy(draw, layout.strip, points, current)
    return frame


def _check_frame(
    images, maps, layer_names, row_titles, kernels, chosen_filter, points, current, scale, kernel_range, map_tops, wrong
) -> np.ndarray:
    """The inputs as (rows, 28, 28), after a ValueError for anything that can't be drawn."""
    _check_scale(scale)
    images = np.asarray(images, dtype=float)
    if images.shape[1:] not in ((28, 28), (28, 28, 1)) or len(images) < 1:
        raise ValueError(f"images must be (rows, 28, 28) with at least one row, not shape {images.shape}")
    rows = len(images)
    if len(maps) != rows or len(row_titles) != rows or (wrong is not None and len(wrong) != rows):
        raise ValueError(
            f"give one maps list, one row title (and one wrong flag) per image: {rows} images, "
            f"{len(maps)} maps lists, {len(row_titles)} titles"
        )
    for row in maps:
        if len(row) != len(layer_names):
            raise ValueError(f"each image needs one map per layer in layer_names ({len(layer_names)}), not {len(row)}")
        if any(m is not None and np.ndim(m) != 2 for m in row):
            raise ValueError("each map must be 2-D (one filter's map); pick the filter's channel first")
    if kernels is not None and (np.ndim(kernels) != 4 or kernels.shape[2] != 1 or kernels.shape[0] != kernels.shape[1]):
        raise ValueError(f"kernels must be conv1's (k, k, 1, filters), not shape {np.shape(kernels)}")
    if chosen_filter < 0:
        raise ValueError(f"chosen_filter is 0-based and must be at least 0, not {chosen_filter}")
    if not points:
        raise ValueError("points must hold at least one snapshot (the one this frame shows)")
    if not 0 <= current < len(points):
        raise ValueError(f"current must index points (0..{len(points) - 1}), not {current}")
    if kernel_range is not None and not kernel_range > 0:
        raise ValueError(f"kernel_range must be above 0 (the largest |weight| to colour fully), not {kernel_range}")
    if map_tops is not None:
        if scale == "panel":
            raise ValueError(
                "map_tops fixes shared colour ranges: use scale 'layer' or 'figure', or leave map_tops None"
            )
        if len(map_tops) != len(layer_names) or not all(top > 0 for top in map_tops):
            raise ValueError(f"map_tops needs one top above 0 per layer ({len(layer_names)}): see fixed_map_tops")
    return images.reshape(rows, 28, 28)


def _frame_tops(maps: list[list[np.ndarray | None]], scale: str) -> list[float] | None:
    """Each layer's colour top for this frame alone, or None: each panel its own (scale "panel")."""
    return fixed_map_tops([maps], scale)


def _draw_grid(frame, draw, layout, images, maps, layer_names, row_titles, wrong, tops, chosen_filter) -> None:
    """The journey: column headings, then per row its title, the input and one heatmap per layer."""
    heading_y = TITLE_HEIGHT + 4
    for column in range(layout.columns):
        left, _, right, _ = layout.panel_box(0, column)
        heading = _heading(column, layer_names, maps)
        _text(
            draw,
            ((left + right) // 2, heading_y),
            _fit(heading, _font(HEADING_SIZE), right - left + COLUMN_GAP),
            HEADING_SIZE,
            align="center",
        )
    grid_width = layout.right - GUTTER - MARGIN
    for row, image in enumerate(images):
        top = layout.panel_box(row, 0)[1]
        colour = FRAME_COLOR if wrong[row] else INK
        _text(
            draw,
            (MARGIN, top - ROW_TITLE_HEIGHT + 2),
            _fit(row_titles[row], _font(LABEL_SIZE), grid_width),
            LABEL_SIZE,
            fill=colour,
        )
        frame.paste(_heatmap(image, INPUT_LUT, 0.0, 1.0, layout.panel), layout.panel_box(row, 0)[:2])
        for layer, values in enumerate(maps[row]):
            box = layout.panel_box(row, layer + 1)
            if values is None:  # this layer has fewer filters than the chosen one's number
                draw.rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=EMPTY)
                _centred(draw, box, f"{layer_names[layer]} has no\n{filter_name(chosen_filter)}", LABEL_SIZE, MUTED)
                continue
            values = np.asarray(values, dtype=float)
            low, high = floored_range(tops[layer] if tops is not None else float(values.max()))
            frame.paste(_heatmap(values, ACTIVATION_LUT, low, high, layout.panel), box[:2])
            if not values.any():  # black alone could be a dark picture or a dead filter
                _centred(draw, box, "all zero", LABEL_SIZE, ImageColor.getrgb(ALL_ZERO_COLOR))


def _heading(column: int, layer_names: list[str], maps: list[list[np.ndarray | None]]) -> str:
    """'input 28x28', 'conv1 · 26x26': as the app's headings, the size showing the maps shrink."""
    if column == 0:
        return "input 28x28"
    sides = [row[column - 1].shape for row in maps if row[column - 1] is not None]
    name = layer_names[column - 1]
    return f"{name} · {sides[0][0]}x{sides[0][1]}" if sides else name


def _heatmap(values: np.ndarray, lut: np.ndarray, low: float, high: float, size: int) -> Image.Image:
    """``values`` coloured by ``lut`` over low..high, each cell upscaled to whole blocks (nearest neighbour)."""
    index = np.clip(np.rint((values - low) / (high - low) * 255), 0, 255).astype(np.uint8)
    rows = np.arange(size) * values.shape[0] // size  # which cell each screen pixel shows
    columns = np.arange(size) * values.shape[1] // size
    return Image.fromarray(lut[index[rows][:, columns]], "RGB")


def _draw_kernels(frame, draw, layout, kernels, chosen_filter, kernel_range) -> None:
    """conv1's kernels on the diverging scale centred on 0, the chosen one framed and named."""
    side, filters = kernels.shape[0], kernels.shape[-1]
    limit = kernel_range or float(np.abs(kernels).max()) or 1.0
    heading_y = TITLE_HEIGHT + 4
    label = filter_name(chosen_filter)
    label_left = _text(
        draw,
        (layout.right + layout.right_width, heading_y),
        label,
        HEADING_SIZE,
        fill=FRAME_COLOR,
        align="right",
        start=True,
    )
    heading = _fit(f"conv1 kernels · {side}x{side}", _font(HEADING_SIZE), label_left - layout.right - 12)
    _text(draw, (layout.right, heading_y), heading, HEADING_SIZE)
    for number in range(filters):
        box = layout.kernel_box(number)
        frame.paste(_heatmap(kernels[:, :, 0, number], DIVERGING_LUT, -limit, limit, layout.kernel_cell), box[:2])
    chosen = chosen_filter < filters
    if chosen:  # drawn in the gap around the kernel, so none of its weights is hidden
        left, top, right, bottom = layout.kernel_box(chosen_filter)
        reach = layout.kernel_gap - 2
        draw.rectangle((left - reach, top - reach, right - 1 + reach, bottom - 1 + reach), outline=FRAME_COLOR, width=3)
    caption_y = layout.kernel_box(filters - 1)[3] + 8
    if chosen:
        _text(draw, (layout.right, caption_y), f"blue < 0 < red, up to ±{limit:.2g}", SMALL_SIZE, fill=MUTED)
    else:  # the maps on the left come from a later layer's filter
        _text(
            draw,
            (layout.right, caption_y),
            f"conv1 has {filters} filters: {label} is in a later layer",
            SMALL_SIZE,
            fill=FRAME_COLOR,
        )


def _draw_accuracy(draw, strip, points, current) -> None:
    """Train and test accuracy at each snapshot: the whole run light, the run so far strong, a dot now.

    Snapshots are spaced evenly, as on the app's chart: most fall in epoch 1, where learning is
    fastest, and would crowd into its first tenth on a time axis. Ticks: the start, each epoch's end.
    """
    left, top, right, bottom = strip
    _text(draw, (left, top), "accuracy", HEADING_SIZE)
    now = points[current]
    legend_y = top + HEADING_SIZE + 8
    x = left
    for name, colour, value in (("train", TRAIN_COLOR, now.train_accuracy), ("test", TEST_COLOR, now.test_accuracy)):
        draw.line((x, legend_y + 9, x + 22, legend_y + 9), fill=colour, width=4)
        x += 28
        x = _text(draw, (x, legend_y), f"{name} {value:.2f}", LABEL_SIZE) + 22

    font = _font(SMALL_SIZE)
    plot_left = left + round(draw.textlength("0.75", font=font)) + 10
    plot_top, plot_right, plot_bottom = legend_y + LABEL_SIZE + 18, right - 8, bottom - 2 * SMALL_SIZE - 10
    accuracies = [a for p in points for a in (p.train_accuracy, p.test_accuracy)]
    low = 0.5 if min(accuracies) >= 0.5 else 0.0  # the whole run decides, so every frame has the same axis
    last = max(len(points) - 1, 1)

    def at(index: float, accuracy: float) -> tuple[float, float]:
        x = plot_left + (plot_right - plot_left) * index / last
        y = plot_bottom - (plot_bottom - plot_top) * (min(max(accuracy, low), 1.0) - low) / (1.0 - low)
        return x, y

    for tick in (low, (low + 1) / 2, 1.0):
        y = at(0, tick)[1]
        draw.line((plot_left, y, plot_right, y), fill=GRID_LINE, width=1)
        _text(draw, (plot_left - 6, y - SMALL_SIZE // 2 - 1), f"{tick:g}", SMALL_SIZE, fill=MUTED, align="right")
    ends = [(i, f"{p.epochs:g}") for i, p in enumerate(points) if p.epochs > 0 and float(p.epochs).is_integer()]
    step = max(1, math.ceil(len(ends) / 6))  # a 20-epoch run labels every 4th epoch
    for index, text in [(0, "start"), *ends[step - 1 :: step]]:
        x = at(index, low)[0]
        draw.line((x, plot_bottom, x, plot_bottom + 4), fill=MUTED, width=1)
        _text(draw, (x, plot_bottom + 6), text, SMALL_SIZE, fill=MUTED, align="center")
    _text(
        draw,
        (plot_right, plot_bottom + 8 + SMALL_SIZE),
        "snapshots; ticks: epochs done",
        SMALL_SIZE,
        fill=MUTED,
        align="right",
    )
    draw.line((plot_left, plot_top, plot_left, plot_bottom, plot_right, plot_bottom), fill=MUTED, width=1)

    for colour, values in (
        (TRAIN_COLOR, [p.train_accuracy for p in points]),
        (TEST_COLOR, [p.test_accuracy for p in points]),
    ):
        line = [at(index, value) for index, value in enumerate(values)]
        if len(line) > 1:
            draw.line(line, fill=_lighter(colour), width=2, joint="curve")
        if current > 0:
            draw.line(line[: current + 1], fill=colour, width=4, joint="curve")
        x, y = line[current]
        draw.ellipse((x - 6, y - 6, x + 6, y + 6), fill=colour, outline=WHITE, width=2)


def _lighter(colour: tuple[int, int, int]) -> tuple[int, ...]:
    return tuple(round(c * LIGHT + 255 * (1 - LIGHT)) for c in colour)


@functools.lru_cache(maxsize=None)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's built-in font at ``size`` pixels (Pillow >= 10.1 with FreeType, which its wheels
    include); without FreeType Pillow gives its small fixed bitmap font, which still reads."""
    return ImageFont.load_default(size=size)


@functools.lru_cache(maxsize=None)
def _has_glyph(font, character: str) -> bool:
    """False when ``font`` would draw ``character`` as its empty box (a "tofu")."""
    try:
        drawn = font.getmask(character)
        missing = font.getmask("\uffff")  # a noncharacter: always the font's "missing" box
    except UnicodeEncodeError:  # the bitmap font has Latin-1 only
        return False
    return character.isspace() or (drawn.size, bytes(drawn)) != (missing.size, bytes(missing))


def _plain(text: str, font) -> str:
    """``text`` without the app's HTML tags, its symbols spelled out where the font lacks them."""
    text = re.sub(r"<[^>]+>", "", text)
    text = "".join(c if _has_glyph(font, c) else PLAIN_SYMBOLS.get(c, "?") for c in text)
    return re.sub(r" {2,}", " ", text).strip()


def _fit(text: str, font, width: int) -> str:
    """``text`` made plain, shortened with "..." until it fits ``width`` pixels."""
    text = _plain(text, font)
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "...") > width:
        text = text[:-1]
    return text.rstrip() + "..."


def _text(draw, xy, text: str, size: int, fill=INK, align: str = "left", start: bool = False) -> int:
    """Draw one line with its top at y, aligned on x; return the x where it ends (or, with ``start``, begins)."""
    font = _font(size)
    text = _plain(text, font)
    width = draw.textlength(text, font=font)
    x = xy[0] - {"left": 0, "center": width / 2, "right": width}[align]
    draw.text((x, xy[1]), text, font=font, fill=fill)
    return round(x if start else x + width)


def _centred(draw, box, text: str, size: int, fill) -> None:
    """Lines of ``text`` centred on ``box`` (a panel's note)."""
    lines = text.split("\n")
    line_height = size + 4
    y = (box[1] + box[3]) / 2 - line_height * len(lines) / 2
    for number, line in enumerate(lines):
        line = _fit(line, _font(size), box[2] - box[0] - 4)
        _text(draw, ((box[0] + box[2]) / 2, y + number * line_height), line, size, fill=fill, align="center")


def png_bytes(frame: Image.Image) -> bytes:
    """One frame as a PNG file."""
    buffer = io.BytesIO()
    frame.save(buffer, format="PNG")
    return buffer.getvalue()


def gif_bytes(frames: list[Image.Image], seconds_per_frame: float = 0.6, hold_last: float = 2.0) -> bytes:
    """The frames as an animated GIF that loops forever, the last one shown ``hold_last`` seconds.

    GIF counts time in hundredths of a second, so durations are rounded to 10 ms. All frames
    share one palette (``gif_palette``): colours don't flicker between frames and inferno
    keeps about 110 steps. Two identical frames in a row become one, shown for both's time.
    """
    if not frames:
        raise ValueError("gif_bytes needs at least one frame")
    if len({frame.size for frame in frames}) > 1:
        raise ValueError(
            "every frame of a GIF must have the same size: draw them with the same rows, layers and kernels"
        )
    if not seconds_per_frame >= 0.02 or not hold_last >= 0.02:
        raise ValueError("seconds_per_frame and hold_last must be at least 0.02 (browsers show shorter frames slower)")
    coloured = [_to_palette(frame) for frame in frames]
    durations = [round(seconds_per_frame * 1000)] * (len(frames) - 1) + [round(hold_last * 1000)]
    buffer = io.BytesIO()
    coloured[0].save(
        buffer, format="GIF", save_all=True, append_images=coloured[1:], duration=durations, loop=0, optimize=False
    )
    return buffer.getvalue()


def _to_palette(frame: Image.Image) -> Image.Image:
    """``frame`` in ``gif_palette``'s colours, each pixel the nearest (Pillow's own mapping is
    approximate: it turns white to a light grey)."""
    pixels = np.asarray(frame.convert("RGB"))
    packed = (pixels[..., 0].astype(np.int32) << 16) | (pixels[..., 1].astype(np.int32) << 8) | pixels[..., 2]
    colours, where = np.unique(packed.ravel(), return_inverse=True)  # a frame has a few thousand colours
    rgb = np.stack([colours >> 16, (colours >> 8) & 255, colours & 255], axis=1)
    palette = gif_palette()
    nearest = ((rgb[:, None, :] - palette[None, :, :].astype(np.int32)) ** 2).sum(axis=2).argmin(axis=1)
    indexed = Image.fromarray(nearest[where].reshape(packed.shape).astype(np.uint8), "P")
    indexed.putpalette(palette.ravel().tolist())
    return indexed


@functools.lru_cache(maxsize=1)
def gif_palette() -> np.ndarray:
    """The GIF's 256 colours (rows of RGB), what frames are drawn with: the labels' and lines'
    colours, 64 greys (inputs, anti-aliased text), 64 steps of the diverging scale, and inferno's
    steps in the rest (about 110: a step is finer than the eye tells apart on a projector)."""
    colours = [WHITE, INK, MUTED, GRID_LINE, EMPTY]
    for colour in (FRAME_COLOR, TRAIN_COLOR, TEST_COLOR):
        # The colour itself and blends toward white: the light lines and anti-aliased edges.
        colours += [tuple(round(c * share + 255 * (1 - share)) for c in colour) for share in (1.0, 0.75, 0.5, LIGHT)]
    for lut, steps in ((INPUT_LUT, 64), (DIVERGING_LUT, 64)):
        colours += [tuple(int(v) for v in c) for c in lut[np.linspace(0, 255, steps).round().astype(int)]]
    colours = list(dict.fromkeys(colours))
    inferno = ACTIVATION_LUT[np.linspace(0, 255, 256 - len(colours)).round().astype(int)]
    colours = list(dict.fromkeys(colours + [tuple(int(v) for v in c) for c in inferno]))
    colours += [WHITE] * (256 - len(colours))  # unused slots (where inferno repeats a grey)
    return np.array(colours, dtype=np.uint8)
