"""A grid of small heatmaps (every filter's map, conv1's kernels, the portraits), drawn as one mosaic."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .scales import (
    ACTIVATION_COLORSCALE,
    ALL_ZERO_COLOR,
    DIVERGING_COLORSCALE,
    INPUT_COLORSCALE,
    TEXT_COLOR,
    WRONG_COLOR,
    floored_range,
)


@dataclass(frozen=True)
class TileStyle:
    """How a grid of tiles is drawn, apart from what it shows; ``MAPS``, ``KERNELS`` and ``PICTURES`` below."""

    colorscale: list = dataclasses.field(default_factory=lambda: ACTIVATION_COLORSCALE)  # a Plotly colour scale
    columns: int = 8  # tiles per row
    tile_px: int = 92  # a tile's side on screen
    zmid: float | None = None  # centres a diverging colour scale (kernels: 0 = white)
    floor: float | None = None  # pins the bottom of every range (ReLU'd maps: 0.0, as in the journey)
    value_name: str = "activation"  # what a cell's value is: its hover, the shared colour bar's title

    def __post_init__(self):
        if self.columns < 1 or self.tile_px < 1:
            raise ValueError(f"columns and tile_px must be at least 1, not {self.columns} and {self.tile_px}")

    def sized(self, columns: int, tile_px: int) -> TileStyle:
        return dataclasses.replace(self, columns=columns, tile_px=tile_px)


MAPS = TileStyle(ACTIVATION_COLORSCALE, floor=0.0)  # ReLU'd maps: 0 is black, an all-zero tile says so
KERNELS = TileStyle(DIVERGING_COLORSCALE, zmid=0.0, value_name="weight")  # weights: 0 white, signs in colour
PICTURES = TileStyle(INPUT_COLORSCALE, value_name="pixel")  # images, light on black


def tiles_figure(
    tiles: list[np.ndarray],
    titles: list[str],
    style: TileStyle = MAPS,
    *,
    shared_range: tuple[float, float] | None = None,
    tile_ranges: list[tuple[float, float] | None] | None = None,
    highlight: int | None = None,
    clickable: bool = False,
) -> dict:
    """A grid of small heatmaps (filters, kernels, filtered images), each tile named by ``titles``.

    ``style`` sets the colours, the grid's size and what a value is called (``TileStyle``). With
    ``style.floor`` every range starts there: the top is the tile's max, or ``shared_range``'s; a
    flat tile gets floor + 1 so it draws the scale's bottom, and an all-zero tile is labelled
    "all zero". With ``shared_range`` every tile uses it and one colour bar is drawn; otherwise
    each tile has its own range. ``tile_ranges`` gives single tiles a range of their own (a
    kernel shown on the scale of the grid it comes from), None for the rest. ``highlight`` draws
    a frame around one tile (the filter chosen elsewhere). ``clickable`` lays invisible click
    targets over the tiles (see ``_click_targets``).

    The tiles are one heatmap, a mosaic with blank gaps (``MOSAIC``): Plotly lays out each subplot
    on its own, and 64 of them took three times as long to draw as one. A tile smaller than the
    largest is enlarged by whole cells. Each cell's hover names its tile and its own row and column
    (``customdata``: tile, x, y, and the value when the tiles' ranges differ: ``z`` then holds each
    value scaled into its tile's range, 0–1); ``tile_values`` reads a tile back.
    """
    if not tiles or len(titles) != len(tiles):
        raise ValueError(f"tiles_figure needs one title per tile, got {len(tiles)} tiles and {len(titles)} titles")
    colorscale, columns, tile_px, zmid, floor = style.colorscale, style.columns, style.tile_px, style.zmid, style.floor
    value_name = style.value_name
    arrays = [np.asarray(tile, dtype=float) for tile in tiles]
    side = max(max(array.shape) for array in arrays)
    title_cells = max(1, round(side * MOSAIC["title_px"] / tile_px))
    gap_cells = max(1, round(side * MOSAIC["gap_px"] / tile_px))
    rows = -(-len(arrays) // columns)
    pitch_x, pitch_y = side + gap_cells, title_cells + side + gap_cells
    ranges = [_tile_range(array, number, shared_range, zmid, floor, tile_ranges) for number, array in enumerate(arrays)]
    one_range = len(set(ranges)) == 1
    z = np.full((rows * pitch_y - gap_cells, columns * pitch_x - gap_cells), np.nan)
    where = np.full(z.shape + (3,), -1, dtype=int)  # tile, x, y of each cell (-1: a gap)
    values = np.full(z.shape, np.nan)
    annotations, corners = [], []
    for number, array in enumerate(arrays):
        row, column = divmod(number, columns)
        grow = side // max(array.shape)
        big = np.kron(array, np.ones((grow, grow)))
        top = row * pitch_y + title_cells + (side - big.shape[0]) // 2
        left = column * pitch_x + (side - big.shape[1]) // 2
        block = (slice(top, top + big.shape[0]), slice(left, left + big.shape[1]))
        low, high = ranges[number]
        values[block] = big
        z[block] = big if one_range else (big - low) / (high - low)
        ys, xs = np.indices(big.shape) // grow
        where[block] = np.stack([np.full(big.shape, number), xs, ys], axis=-1)
        corners.append((row * pitch_y + title_cells, column * pitch_x))
        if floor is not None and not np.any(array):
            annotations.append(
                {
                    "text": "all zero",
                    "showarrow": False,
                    "name": "note",
                    "font": {"size": 10, "color": ALL_ZERO_COLOR},
                    "xref": "x",
                    "yref": "y",
                    "x": column * pitch_x + (side - 1) / 2,
                    "y": row * pitch_y + title_cells + (side - 1) / 2,
                }
            )
    named = titles != [str(number) for number in range(len(titles))]
    customdata = where if one_range else np.concatenate([where, np.nan_to_num(values)[..., None]], axis=-1)
    trace = {
        "type": "heatmap",
        # arrays as they are (NaN for the gaps): ui/charts.py sends them in binary (convlab/figures/typed.py)
        "z": z,
        "customdata": customdata,
        "colorscale": colorscale,
        "hoverongaps": False,
        "showscale": False,
        "name": "tiles",
        "hovertemplate": ("%{text}" if named else "%{customdata[0]}")
        + f": {value_name} "
        + ("%{z:.3f}" if one_range else "%{customdata[3]:.3f}")
        + " at (x %{customdata[1]}, y %{customdata[2]})<extra></extra>",
        # a click on a cell: the chart's component reports its tile and its own row and column (customdata)
        "meta": {"mosaic": True, "ranges": ranges},  # each tile's colour range, as drawn
    }
    trace["zmin"], trace["zmax"] = ranges[0] if one_range else (0.0, 1.0)
    if named:
        labels = np.array(list(titles) + [""], dtype=object)
        trace["text"] = labels[where[..., 0]].tolist()  # -1, a gap: the last, empty label
    if shared_range is not None:
        trace["showscale"] = True
        trace["colorbar"] = {
            "x": 1.0,
            "xanchor": "left",
            "thickness": 12,
            "title": {"text": value_name, "side": "right"},
        }
    heading = {
        "type": "scatter",
        "mode": "text",
        "name": "titles",
        "hoverinfo": "skip",
        "showlegend": False,
        "x": [left + (side - 1) / 2 for _, left in corners],
        "y": [top - 0.5 for top, _ in corners],
        "text": [f"<b>{title}</b>" if number == highlight else title for number, title in enumerate(titles)],
        "textposition": "top center",
        "textfont": {
            "size": 12,
            "color": [WRONG_COLOR if number == highlight else TEXT_COLOR for number in range(len(titles))],
        },
    }
    data = [trace, heading]
    shapes = []
    if highlight is not None and 0 <= highlight < len(arrays):
        top, left = corners[highlight]
        margin = side * 0.04
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "y",
                "name": "highlight",
                "x0": left - 0.5 - margin,
                "x1": left + side - 0.5 + margin,
                "y0": top - 0.5 - margin,
                "y1": top + side - 0.5 + margin,
                "line": {"color": WRONG_COLOR, "width": 3},
            }
        )
    if clickable:
        data.append(_click_targets(corners, side, tile_px))
    plot_height = rows * (tile_px + MOSAIC["title_px"] + MOSAIC["gap_px"])
    hidden = {"visible": False, "fixedrange": True}
    layout = {
        "height": plot_height + 16,
        "margin": {"l": 4, "r": 70 if shared_range else 4, "t": 8, "b": 8},
        "xaxis": {**hidden, "range": [-0.5, z.shape[1] - 0.5], "constrain": "domain"},
        "yaxis": {
            **hidden,
            "range": [z.shape[0] - 0.5, -0.5],
            "scaleanchor": "x",
            "constrain": "domain",
            "constraintoward": "top",
        },  # a narrow column: the room left below
        "annotations": annotations,
        "shapes": shapes,
        "showlegend": False,
        "clickmode": "event+select",
        "plot_bgcolor": "rgba(0,0,0,0)",
    }
    return {"data": data, "layout": layout}


# A tiles figure's spacing in screen pixels at its tile size: each tile's title above it, the gap below.
MOSAIC = {"title_px": 18, "gap_px": 8}


def _tile_range(array, number, shared_range, zmid, floor, tile_ranges) -> tuple[float, float]:
    """One tile's colour range, by the rules ``tiles_figure`` lists (a tile's own, the shared, the floor's)."""
    low, high = float(array.min()), float(array.max())
    if zmid is not None:  # Plotly's own rule for zmid: the range centred on it
        reach = max(abs(high - zmid), abs(low - zmid)) or 1.0
        low, high = zmid - reach, zmid + reach
    elif low == high:
        low, high = low - 0.5, high + 0.5
    if shared_range is not None:
        low, high = shared_range
    if tile_ranges is not None and tile_ranges[number] is not None:
        low, high = tile_ranges[number]
    if floor is not None:
        low, high = floored_range(shared_range[1] if shared_range is not None else float(array.max()), floor)
    if high <= low:
        high = low + 1.0
    return float(low), float(high)


def tile_values(figure: dict, number: int) -> np.ndarray:
    """Tile ``number`` of a ``tiles_figure``, its values as given (enlarged tiles at their own size)."""
    trace = figure["data"][0]
    where = np.array(trace["customdata"])
    cells = where[..., 0] == number
    if not cells.any():
        raise ValueError(f"the figure has no tile {number}")
    xs, ys = where[..., 1][cells].astype(int), where[..., 2][cells].astype(int)
    values = where[..., 3][cells] if where.shape[-1] == 4 else np.array(trace["z"], dtype=float)[cells]
    tile = np.zeros((ys.max() + 1, xs.max() + 1))
    tile[ys, xs] = values
    return tile


def framed_tile(figure: dict) -> int | None:
    """The tile a ``tiles_figure`` frames (``highlight``), or None."""
    frames = [shape for shape in figure["layout"]["shapes"] if shape.get("name") == "highlight"]
    if not frames:
        return None
    where = figure["data"][0]["customdata"]
    return int(where[round((frames[0]["y0"] + frames[0]["y1"]) / 2)][round((frames[0]["x0"] + frames[0]["x1"]) / 2)][0])


def _click_targets(corners: list[tuple[int, int]], side: int, tile_px: int) -> dict:
    """One invisible square marker over each tile.

    Streamlit reports clicks on scatter points but not on heatmap cells, so these markers are
    what a click selects: the selected point's index is the tile's number.
    """
    return {
        "type": "scatter",
        "mode": "markers",
        "name": "choose",
        "x": [left + (side - 1) / 2 for _, left in corners],
        "y": [top + (side - 1) / 2 for top, _ in corners],
        "marker": {"symbol": "square", "size": tile_px * 0.9, "opacity": 0.01, "color": "white"},
        "selected": {"marker": {"opacity": 0.01}},
        "unselected": {"marker": {"opacity": 0.01}},
        "hovertemplate": "click to choose<extra></extra>",
    }
