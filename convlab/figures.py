"""Plotly figures for the dashboard, built as plain dicts.

A many-panel figure built through ``plotly.subplots.make_subplots`` and graph objects costs
far more than the same figure as a dict, which matters because the journey grid is redrawn
on every slider move. Panels are laid out by hand on a grid of axis
domains, so any number of images and layers fits.
"""

from __future__ import annotations

import numpy as np
import plotly.colors

from .data import CLASS_NAMES


def _rgb_scale(colors: list[str]) -> list[list]:
    """Evenly spaced [position, "rgb(r, g, b)"] pairs from hex or "rgb(r,g,b)" colours.

    Every colour scale here is written as rgb(): Streamlit's Plotly theme swaps the hex colours
    #000001..#000040 for its own palette in the browser (inferno starts at #000004, which would
    paint every zero activation pink).
    """
    rgbs = [plotly.colors.hex_to_rgb(c) if c.startswith("#") else plotly.colors.unlabel_rgb(c) for c in colors]
    return [[i / (len(rgbs) - 1), "rgb({:.0f}, {:.0f}, {:.0f})".format(*rgb)] for i, rgb in enumerate(rgbs)]


INPUT_COLORSCALE = [[0.0, "rgb(0, 0, 0)"], [1.0, "rgb(255, 255, 255)"]]  # light garment on black
ACTIVATION_COLORSCALE = _rgb_scale(plotly.colors.sequential.Inferno)  # the lesson's colour map
# The maps' colour map, the page's choice (``palette=`` in the URL): the lesson's inferno, or one made
# for colour-blind eyes. Viridis and cividis run dark to light in lightness alone, so every kind of
# colour vision reads them the same way (cividis is even unchanged for the commonest, red-green).
PALETTES = {
    "inferno": "inferno (the lesson's)",
    "viridis": "viridis (colour-blind safe)",
    "cividis": "cividis (colour-blind safe)",
}
DEFAULT_PALETTE = "inferno"
PALETTE_COLORSCALES = {
    "inferno": ACTIVATION_COLORSCALE,
    "viridis": _rgb_scale(plotly.colors.sequential.Viridis),
    "cividis": _rgb_scale(plotly.colors.sequential.Cividis),
}
# Negative blue, zero white, positive red (kernel weights, filter responses): ColorBrewer's RdBu
# reversed, whose centre is rgb(247, 247, 247). Plotly's named "RdBu_r" has a grey centre.
DIVERGING_COLORSCALE = _rgb_scale(plotly.colors.diverging.RdBu[::-1])
# The confusion matrix's mistakes (0 = white) and correct predictions, each on its own scale.
MISTAKES_COLORSCALE = _rgb_scale(plotly.colors.sequential.Reds)
CORRECT_COLORSCALE = _rgb_scale(plotly.colors.sequential.Blues)
WRONG_COLOR = "#d62728"
# The curves' legends sit above the plots: below, presenter mode's larger type ran them into the axis
# titles (and out of a narrow chart's box).
LEGEND_ABOVE = {"orientation": "h", "x": 0, "xanchor": "left", "y": 1.02, "yanchor": "bottom"}
TEXT_COLOR = "rgb(49, 51, 63)"  # Streamlit's light theme's text: a tile's title
ALL_ZERO_COLOR = "rgb(255, 255, 255)"  # the "all zero" label, over the scale's bottom (every palette's is dark)
MARK_COLOR = "rgb(0, 200, 255)"  # an explained cell and its window: cyan stands out on inferno and grey

# Journey layout: the largest and smallest panel side in pixels (outside full screen), the gap
# between columns (a fraction of the width: the y-axis numbers sit in it), and the margins.
PANEL, MIN_PANEL, COLUMN_GAP, LEFT, RIGHT = 180, 72, 0.025, 28, 36


def journey_figure(
    images: np.ndarray,
    maps: list[list[np.ndarray | None]],
    layers: list[tuple[str, int, int]],
    row_titles: list[str],
    wrong: list[bool] | None = None,
    scale: str = "panel",
    pending: bool = False,
    panel: int = PANEL,
    font_scale: float = 1.0,
    heading: str | None = None,
    marks: list[tuple[int, int, int, int, int]] = (),
) -> dict:
    """Rows = images; column 0 the input, then one inferno heatmap per feature layer.

    ``maps[row][column]`` is the 2-D map of the chosen filter, or None where that layer has
    fewer filters. ``scale`` picks the top of the colour range: each panel its own max ("panel",
    as the lesson's notebook), one per layer ("layer"), or one for the figure ("figure"); shared
    ranges get a colour bar so brightness can be compared. The bottom is always 0 (maps are
    ReLU'd), so an all-zero map is black and labelled "all zero", never inferno's middle.
    ``layers`` gives each feature layer's (name, map side, filter count). ``row_titles`` head
    each row (image, label, prediction); ``wrong`` marks wrong predictions, drawn in red.
    ``pending`` says the maps (all None) are still being computed: the grid is drawn with the
    inputs alone. ``panel`` is a panel's side in pixels (see ``journey_panel``) and
    ``font_scale`` enlarges every text (full screen, for a projector); ``heading`` is a line
    above the column titles (full screen shows the filter there, the page's controls being hidden).
    ``marks`` frames squares of cells: (row, column, top, left, size), column 0 being the input
    (an explained cell, and the window of the map before it that it comes from). Every heatmap
    carries ``meta`` {"slot": row, "layer": name}, so a click names the panel it hit.
    """
    if scale not in SCALE_MODES:
        raise ValueError(f"scale must be one of {list(SCALE_MODES)}, not {scale!r}")
    rows, columns = len(images), 1 + len(layers)
    wrong = wrong or [False] * rows
    ranges = shared_ranges(maps, scale)
    colorbars_done = set()
    top_margin, row_gap, bottom = _journey_rows(scale, font_scale, heading is not None)
    plot_height = rows * panel + (rows - 1) * row_gap
    width = _column_width(columns)
    data, layout, annotations = [], {}, []
    notes = []  # on the panels ("all zero", "only N filters"), after every title
    for row in range(rows):
        top = 1 - row * (panel + row_gap) / plot_height
        y_domain = [max(top - panel / plot_height, 0.0), top]
        panels = [np.asarray(images[row]).reshape(28, 28)] + list(maps[row])
        for column, image in enumerate(panels):
            suffix = str(row * columns + column + 1) if row or column else ""
            left = _column_left(column, columns)
            is_input = column == 0
            name, side, num_filters = ("input", 28, 1) if is_input else layers[column - 1]
            axis = {"ticks": "", "showgrid": False, "zeroline": False, "fixedrange": True,
                    "tickfont": {"size": round(11 * font_scale)}}
            layout[f"xaxis{suffix}"] = {
                **axis, "domain": [left, left + width], "anchor": f"y{suffix}",
                "showticklabels": False,  # the column title gives the size; no numbers between the rows
                "constrain": "domain",  # the square panel sits in the middle of its column
            }
            layout[f"yaxis{suffix}"] = {
                **axis, "domain": y_domain, "anchor": f"x{suffix}", "constrain": "domain",
                "tickvals": [0, side - 1],  # first and last pixel: the numbers show the map shrinking
                "autorange": "reversed", "scaleanchor": f"x{suffix}",  # square pixels, row 0 on top
            }
            if row == 0:
                title = "input 28×28" if is_input else f"{name} · {side}×{side}"
                annotations.append(_label(title, left + width / 2, 1.0, yshift=round(26 * font_scale),
                                          size=round(15 * font_scale), anchor="center"))
            if image is None:  # this layer has fewer filters than the one chosen, or isn't computed yet
                layout[f"xaxis{suffix}"]["visible"] = layout[f"yaxis{suffix}"]["visible"] = False
                notes.append(_panel_note(suffix, "loading…" if pending else _fewer_filters(name, num_filters),
                                         round(13 * font_scale)))
                continue
            image = np.asarray(image)
            trace = {
                "type": "heatmap",
                "z": image.tolist(),
                "xaxis": f"x{suffix}",
                "yaxis": f"y{suffix}",
                **(_input_trace() if is_input else _map_trace()),
                "name": name,
                "meta": {"slot": row, "layer": name},
            }
            shared = None if is_input else ranges.get(column - 1 if scale == "layer" else "figure")
            if not is_input:
                trace["zmin"], trace["zmax"] = shared or floored_range(float(image.max()))
                if not image.any():
                    notes.append(_panel_note(suffix, "all zero", round(13 * font_scale), ALL_ZERO_COLOR))
            if shared is not None:
                bar = column if scale == "layer" else "figure"
                if bar not in colorbars_done:  # one colour bar per shared range
                    colorbars_done.add(bar)
                    trace["showscale"] = True
                    trace["colorbar"] = _colorbar(scale, left + width / 2, width, font_scale)
            data.append(trace)
        color = WRONG_COLOR if wrong[row] else None
        annotations.append(_label(row_titles[row], 0.0, y_domain[1], yshift=4, size=round(14 * font_scale),
                                  anchor="left", color=color))
    if heading is not None:
        annotations.append(_label(heading, 0.0, 1.0, yshift=round(52 * font_scale), size=round(16 * font_scale),
                                  anchor="left"))
    shapes = []
    for row, column, top, left, size in marks:  # a cell, or a window of cells, framed
        suffix = str(row * columns + column + 1) if row or column else ""
        shapes.append({"type": "rect", "xref": f"x{suffix}", "yref": f"y{suffix}",
                       "x0": left - 0.5, "x1": left + size - 0.5, "y0": top - 0.5, "y1": top + size - 0.5,
                       "line": {"color": MARK_COLOR, "width": 2}})
    layout.update({
        "height": plot_height + top_margin + bottom,
        "margin": {"l": LEFT, "r": 80 if scale == "figure" else RIGHT, "t": top_margin, "b": bottom},
        "annotations": annotations + notes,
        "shapes": shapes,
        "showlegend": False,
        "modebar": {"orientation": "v"},  # in the right margin, off the column titles
    })
    return {"data": data, "layout": layout}


def journey_scrub_parts(layers: list[tuple[str, int, int]], scale: str = "panel", font_scale: float = 1.0) -> dict:
    """What the browser needs to redraw ``journey_figure``'s maps for any filter by itself.

    The page sends the figure of its filter and every filter's packed maps
    (``convlab.mapcodec``); for another filter the chart swaps each map's heatmap in, built from
    these parts exactly as ``journey_figure`` builds it: the trace's style (hover saying the value
    is 8-bit, ``{bound}`` filled in per map), each column's colour bar, the notes' font and the
    "only N filters" text per layer.
    """
    if scale not in SCALE_MODES:
        raise ValueError(f"scale must be one of {list(SCALE_MODES)}, not {scale!r}")
    columns = 1 + len(layers)
    width = _column_width(columns)
    return {
        "scale": scale,
        "trace": {"type": "heatmap", **_map_trace("{bound}")},
        "colorbars": {str(column): _colorbar(scale, _column_left(column, columns) + width / 2, width, font_scale)
                      for column in range(1, columns)},
        "note": _panel_note("", "", round(13 * font_scale)),
        "zero_color": ALL_ZERO_COLOR,
        "fewer": [_fewer_filters(name, filters) for name, _, filters in layers],
    }


def _column_width(columns: int) -> float:
    """A journey column's width, as a fraction of the plot's (the y-axis numbers sit in the gaps)."""
    return (1 - COLUMN_GAP * (columns - 1)) / columns


def _column_left(column: int, columns: int) -> float:
    return column * (_column_width(columns) + COLUMN_GAP)


def _journey_rows(scale: str, font_scale: float, heading: bool = False) -> tuple[int, int, int]:
    """The journey's vertical room in pixels besides the panels: above the first row (a heading,
    column titles, then the row's title), between rows (the next row's title), and below the
    last (the colour bars of the per-layer scale)."""
    row_title = round(22 * font_scale)
    top = round((26 + 22 + (26 if heading else 0)) * font_scale) + 2
    # The per-layer colour bars: 8 px apart from the grid, 10 px thick, then their numbers (12 px × font_scale).
    return top, row_title + 6, 8 + (round(20 + 14 * font_scale) if scale == "layer" else 0)


def journey_panel(rows: int, columns: int, width: float, height: float, scale: str = "panel",
                  font_scale: float = 1.0, largest: int = PANEL, heading: bool = False) -> int:
    """The largest panel side (pixels) at which ``rows`` × ``columns`` panels fit ``width`` × ``height``.

    The chart's component reports the room it has (the window below the chart, or the whole
    screen in full screen); the grid then fits a laptop or a projector without scrolling.
    Never below ``MIN_PANEL`` (a small window scrolls instead) nor above ``largest``.
    """
    if rows < 1 or columns < 1:
        raise ValueError(f"rows and columns must be at least 1, not {rows} and {columns}")
    top_margin, row_gap, bottom = _journey_rows(scale, font_scale, heading)
    by_height = (height - top_margin - bottom - (rows - 1) * row_gap) / rows
    right = 80 if scale == "figure" else RIGHT
    by_width = (width - LEFT - right) * (1 - COLUMN_GAP * (columns - 1)) / columns
    return int(max(MIN_PANEL, min(by_height, by_width, largest)))


SCALE_MODES = {
    "panel": "each panel on its own (as the lesson)",
    "layer": "shared per layer",
    "figure": "shared across the figure",
}


def recoloured(figure: dict, palette: str) -> dict:
    """``figure`` with every feature map (a heatmap on ``ACTIVATION_COLORSCALE``) on ``palette``'s scale.

    The builders draw maps in the lesson's inferno; the page recolours each figure it shows on the
    way out (``ui.charts``), so every map of every view follows the one choice. Other scales
    (inputs, kernels, saliency) stay. Works on a figure dict or on ``journey_scrub_parts``' trace
    holder ({"trace": ...}); the argument is left unchanged.
    """
    if palette not in PALETTE_COLORSCALES:
        raise ValueError(f"palette must be one of {list(PALETTE_COLORSCALES)}, not {palette!r}")
    scale = PALETTE_COLORSCALES[palette]
    if scale is ACTIVATION_COLORSCALE:
        return figure

    def swap(trace: dict) -> dict:
        return {**trace, "colorscale": scale} if trace.get("colorscale") == ACTIVATION_COLORSCALE else trace

    if "trace" in figure:
        return {**figure, "trace": swap(figure["trace"])}
    return {**figure, "data": [swap(trace) for trace in figure.get("data", [])]}


def shared_ranges(maps: list[list[np.ndarray | None]], scale: str) -> dict:
    """(0, zmax) per layer column (keys 0, 1, ...) or for the whole figure (key "figure")."""
    if scale == "panel" or not maps:
        return {}
    columns = [[panel for panel in (row[column] for row in maps) if panel is not None] for column in range(len(maps[0]))]
    highs = {column: float(max(np.max(p) for p in panels)) for column, panels in enumerate(columns) if panels}
    if scale == "layer":
        return {column: floored_range(high) for column, high in highs.items()}
    return {"figure": floored_range(max(highs.values(), default=0.0))}


def floored_range(high: float, floor: float = 0.0) -> tuple[float, float]:
    """(floor, high), or (floor, floor + 1) when high <= floor: Plotly draws a flat range in the
    colour scale's middle, which for activations reads as "medium activation everywhere"."""
    return floor, (high if high > floor else floor + 1.0)


def _input_trace() -> dict:
    return {"colorscale": INPUT_COLORSCALE, "showscale": False,
            "hovertemplate": "pixel (x %{x}, y %{y}): %{z:.3f}<extra></extra>"}


def _map_trace(bound: str | None = None) -> dict:
    """A feature map's heatmap style; with ``bound``, hover says the value is 8-bit, within that bound."""
    exactness = "" if bound is None else f" (8-bit: ±{bound})"
    return {"colorscale": ACTIVATION_COLORSCALE, "showscale": False,
            "hovertemplate": "activation (x %{x}, y %{y}): %{z:.3f}" + exactness + "<extra></extra>"}


def _fewer_filters(name: str, num_filters: int) -> str:
    return f"{name} has<br>only {num_filters} filters"


def _panel_note(suffix: str, text: str, size: int, color: str | None = None) -> dict:
    """A word centred on a panel ("all zero": a black panel alone could be a dark picture or a dead
    filter; "conv1 has only 16 filters"). Named "note": the browser redraws them per filter."""
    return {
        "text": text, "showarrow": False, "font": {"size": size, **({"color": color} if color else {})},
        "xref": f"x{suffix} domain", "yref": f"y{suffix} domain", "x": 0.5, "y": 0.5, "name": "note",
    }


def _colorbar(scale: str, center: float, width: float, font_scale: float = 1.0) -> dict:
    """A shared range's colour bar; its numbers (12 px, Plotly's size) grow with ``font_scale`` like
    the rest of the journey's text (``_journey_rows`` makes room below the grid for them)."""
    font = {"tickfont": {"size": round(12 * font_scale)}}
    if scale == "figure":  # below the toolbar, which sits in the top of the right margin
        return {"x": 1.0, "xanchor": "left", "thickness": 14, "len": 0.8, "y": 0, "yanchor": "bottom",
                "title": {"text": "activation", "side": "right", "font": {"size": round(12 * font_scale)}}, **font}
    return {
        "orientation": "h", "x": center, "xanchor": "center", "len": width, "lenmode": "fraction",
        "y": 0, "yref": "paper", "yanchor": "top", "ypad": 8, "thickness": 10, **font,
    }


def tiles_figure(
    tiles: list[np.ndarray],
    titles: list[str],
    colorscale,
    columns: int = 8,
    tile_px: int = 92,
    shared_range: tuple[float, float] | None = None,
    zmid: float | None = None,
    highlight: int | None = None,
    value_name: str = "activation",
    colorbar_title: str | None = None,
    clickable: bool = False,
    floor: float | None = None,
    tile_ranges: list[tuple[float, float] | None] | None = None,
) -> dict:
    """A grid of small heatmaps (filters, kernels, filtered images), each tile named by ``titles``.

    With ``shared_range`` every tile uses it and one colour bar is drawn; otherwise each tile
    has its own range. ``zmid`` centres a diverging colour scale (kernels: 0 = white).
    ``floor`` pins the bottom of every range (activations: 0.0, as in the journey): the top is
    the tile's max, or ``shared_range``'s; a flat tile gets floor + 1 so it draws the scale's
    bottom, and an all-zero tile is labelled "all zero".
    ``tile_ranges`` gives single tiles a range of their own (a kernel shown on the scale of
    the grid it comes from), None for the rest. ``highlight`` draws a frame around one tile
    (the filter chosen elsewhere). ``clickable`` lays invisible click targets over the tiles
    (see ``_click_targets``).

    The tiles are one heatmap, a mosaic with blank gaps (``MOSAIC``): Plotly lays out each subplot
    on its own, and 64 of them took three times as long to draw as one. A tile smaller than the
    largest is enlarged by whole cells. Each cell's hover names its tile and its own row and column
    (``customdata``: tile, x, y, and the value when the tiles' ranges differ: ``z`` then holds each
    value scaled into its tile's range, 0–1); ``tile_values`` reads a tile back.
    """
    if not tiles or len(titles) != len(tiles):
        raise ValueError(f"tiles_figure needs one title per tile, got {len(tiles)} tiles and {len(titles)} titles")
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
            annotations.append({"text": "all zero", "showarrow": False, "name": "note",
                                "font": {"size": 10, "color": ALL_ZERO_COLOR}, "xref": "x", "yref": "y",
                                "x": column * pitch_x + (side - 1) / 2, "y": row * pitch_y + title_cells + (side - 1) / 2})
    named = titles != [str(number) for number in range(len(titles))]
    customdata = where if one_range else np.concatenate([where, np.nan_to_num(values)[..., None]], axis=-1)
    trace = {
        "type": "heatmap", "z": _nulls(z), "customdata": customdata.tolist(), "colorscale": colorscale,
        "hoverongaps": False, "showscale": False, "name": "tiles",
        "hovertemplate": ("%{text}" if named else "%{customdata[0]}") + f": {value_name} "
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
        trace["colorbar"] = {"x": 1.0, "xanchor": "left", "thickness": 12,
                             "title": {"text": colorbar_title or value_name, "side": "right"}}
    heading = {
        "type": "scatter", "mode": "text", "name": "titles", "hoverinfo": "skip", "showlegend": False,
        "x": [left + (side - 1) / 2 for _, left in corners], "y": [top - 0.5 for top, _ in corners],
        "text": [f"<b>{title}</b>" if number == highlight else title for number, title in enumerate(titles)],
        "textposition": "top center",
        "textfont": {"size": 12, "color": [WRONG_COLOR if number == highlight else TEXT_COLOR
                                           for number in range(len(titles))]},
    }
    data = [trace, heading]
    shapes = []
    if highlight is not None and 0 <= highlight < len(arrays):
        top, left = corners[highlight]
        margin = side * 0.04
        shapes.append({"type": "rect", "xref": "x", "yref": "y", "name": "highlight",
                       "x0": left - 0.5 - margin, "x1": left + side - 0.5 + margin,
                       "y0": top - 0.5 - margin, "y1": top + side - 0.5 + margin,
                       "line": {"color": WRONG_COLOR, "width": 3}})
    if clickable:
        data.append(_click_targets(corners, side, tile_px))
    plot_height = rows * (tile_px + MOSAIC["title_px"] + MOSAIC["gap_px"])
    hidden = {"visible": False, "fixedrange": True}
    layout = {
        "height": plot_height + 16, "margin": {"l": 4, "r": 70 if shared_range else 4, "t": 8, "b": 8},
        "xaxis": {**hidden, "range": [-0.5, z.shape[1] - 0.5], "constrain": "domain"},
        "yaxis": {**hidden, "range": [z.shape[0] - 0.5, -0.5], "scaleanchor": "x",
                  "constrain": "domain", "constraintoward": "top"},  # a narrow column: the room left below
        "annotations": annotations, "shapes": shapes, "showlegend": False, "clickmode": "event+select",
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


def _nulls(z: np.ndarray) -> list:
    """``z`` as nested lists, its NaN cells None (JSON has no NaN; Plotly leaves them blank)."""
    cells = z.astype(object)
    cells[np.isnan(z)] = None
    return cells.tolist()


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
        "type": "scatter", "mode": "markers", "name": "choose",
        "x": [left + (side - 1) / 2 for _, left in corners], "y": [top + (side - 1) / 2 for top, _ in corners],
        "marker": {"symbol": "square", "size": tile_px * 0.9, "opacity": 0.01, "color": "white"},
        "selected": {"marker": {"opacity": 0.01}}, "unselected": {"marker": {"opacity": 0.01}},
        "hovertemplate": "click to choose<extra></extra>",
    }


def probabilities_figure(titles: list[str], probabilities: dict[str, np.ndarray]) -> dict:
    """Side by side per image: each model's 10 class probabilities as horizontal bars.

    ``probabilities`` maps a model's name to an (images, 10) array.
    """
    images = len(titles)
    width = (1 - 0.06 * (images - 1)) / images
    data, layout, annotations = [], {}, []
    for image, title in enumerate(titles):
        suffix = str(image + 1) if image else ""
        left = image * (width + 0.06)
        layout[f"xaxis{suffix}"] = {"domain": [left, left + width], "range": [0, 1], "tickformat": ".0%",
                                    "anchor": f"y{suffix}", "fixedrange": True}
        layout[f"yaxis{suffix}"] = {"anchor": f"x{suffix}", "autorange": "reversed", "fixedrange": True,
                                    "showticklabels": image == 0, "matches": "y" if image else None}
        annotations.append(_label(title, left + width / 2, 1.0, yshift=4, size=13, anchor="center"))
        for number, (model, values) in enumerate(probabilities.items()):
            data.append({
                "type": "bar", "orientation": "h", "x": np.asarray(values[image]).tolist(),
                "y": list(CLASS_NAMES), "name": model, "legendgroup": model, "showlegend": image == 0,
                "marker": {"color": RUN_COLORS[number % len(RUN_COLORS)]},
                "xaxis": f"x{suffix}", "yaxis": f"y{suffix}",
                "hovertemplate": f"{model}: %{{y}} %{{x:.1%}}<extra></extra>",
            })
    layout.update({"barmode": "group", "height": 380, "annotations": annotations,
                   "margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "legend": {"orientation": "h", "y": -0.12}})
    return {"data": data, "layout": layout}


def confusion_figure(matrix: np.ndarray, normalised: bool) -> dict:
    """Rows = true class, columns = predicted class; each cell's count or fraction written in it.

    Mistakes (off the diagonal, reds) and correct predictions (the diagonal, blues) are two
    heatmaps, each on its own scale from 0 to its largest cell: on one scale the ~900 correct
    per class would wash 100+ mistakes out to white. Then come the click targets, last.
    """
    matrix = np.asarray(matrix)
    text = [[f"{v:.0%}" if normalised else f"{int(v)}" for v in row] for row in matrix]
    diagonal = np.eye(len(matrix), dtype=bool)
    click_targets = {
        # Invisible click targets, one per cell: Streamlit reports clicks on points, not heatmap cells.
        "type": "scatter", "mode": "markers", "name": "choose",
        "x": [predicted for _ in CLASS_NAMES for predicted in CLASS_NAMES],
        "y": [true for true in CLASS_NAMES for _ in CLASS_NAMES],
        "marker": {"symbol": "square", "size": 40, "opacity": 0.01, "color": "white"},
        "selected": {"marker": {"opacity": 0.01}}, "unselected": {"marker": {"opacity": 0.01}},
        "customdata": [value for row in text for value in row],
        "hovertemplate": "true %{y}, predicted %{x}: %{customdata}. Click to list them.<extra></extra>",
    }
    return {
        "data": [
            _confusion_cells(matrix, text, ~diagonal, MISTAKES_COLORSCALE),
            _confusion_cells(matrix, text, diagonal, CORRECT_COLORSCALE),
            click_targets,  # last, over both heatmaps
        ],
        "layout": {
            "clickmode": "event+select",
            "xaxis": {"title": {"text": "predicted class"}, "side": "top", "fixedrange": True},
            "yaxis": {"title": {"text": "true class"}, "autorange": "reversed", "fixedrange": True},
            "height": 520, "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
        },
    }


def _confusion_cells(matrix: np.ndarray, text: list[list[str]], shown: np.ndarray, colorscale: list) -> dict:
    """A heatmap of the ``shown`` cells only (the others None: not drawn), 0 to their largest value."""
    zmin, zmax = floored_range(float(matrix[shown].max(initial=0)))  # no mistakes at all: every cell white
    return {
        "type": "heatmap", "z": np.where(shown, matrix, None).tolist(), "x": list(CLASS_NAMES), "y": list(CLASS_NAMES),
        "zmin": zmin, "zmax": zmax, "colorscale": colorscale, "showscale": False,
        "text": np.where(shown, text, "").tolist(), "texttemplate": "%{text}",  # coloured to contrast with its cell
        "hoverinfo": "skip",  # the click targets carry the hover text
    }


def class_mix_figure(counts: np.ndarray, title: str) -> dict:
    return {
        "data": [{"type": "bar", "x": list(CLASS_NAMES), "y": np.asarray(counts).tolist(),
                  "marker": {"color": RUN_COLORS[1]}, "hovertemplate": "%{x}: %{y}<extra></extra>"}],
        "layout": {"title": {"text": title, "font": {"size": 14}}, "height": 300,
                   "yaxis": {"title": {"text": "images"}, "fixedrange": True}, "xaxis": {"fixedrange": True},
                   "margin": {"l": 10, "r": 10, "t": 40, "b": 10}},
    }


def _label(text: str, x: float, y: float, yshift: int, size: int, anchor: str, color: str | None = None) -> dict:
    font = {"size": size, **({"color": color} if color else {})}
    return {
        "text": text, "x": x, "y": y, "xref": "paper", "yref": "paper", "yshift": yshift,
        "showarrow": False, "font": font, "xanchor": anchor, "yanchor": "bottom",
    }


def row_title(slot: int, index: int, label: int, probabilities: np.ndarray | None) -> str:
    """'Image 2 · test #23 · Ankle boot → predicted Sandal (97%) ✗' (no prediction without probabilities)."""
    if probabilities is None:
        return f"Image {slot + 1} · test #{index} · <b>{CLASS_NAMES[label]}</b>"
    predicted = int(np.argmax(probabilities))
    verdict = "✓" if predicted == label else "✗ wrong"
    return (
        f"Image {slot + 1} · test #{index} · <b>{CLASS_NAMES[label]}</b> → predicted "
        f"<b>{CLASS_NAMES[predicted]}</b> ({probabilities[predicted]:.0%}) {verdict}"
    )


RUN_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def best_epoch(history: dict[str, list[float]]) -> int:
    """The 1-based epoch of the highest test accuracy (the first, on a tie)."""
    accuracies = history["test_accuracy"]
    return int(np.argmax(accuracies)) + 1


def curves_figure(histories: dict[str, dict[str, list[float]]], mark_best: bool = True) -> dict:
    """Loss and accuracy per epoch, train (solid) and test (dashed), one colour per run.

    With ``mark_best``, a star marks each run's epoch of best test accuracy: past it, the
    train curve keeps improving while the test curve doesn't, which is overfitting.
    """
    data = []
    for number, (name, history) in enumerate(histories.items()):
        color = RUN_COLORS[number % len(RUN_COLORS)]
        for metric, axis in (("loss", ""), ("accuracy", "2")):
            for split, dash in (("train", "solid"), ("test", "dash")):
                values = history[f"{split}_{metric}"]
                data.append({
                    "type": "scatter", "mode": "lines+markers",
                    "x": list(range(1, len(values) + 1)), "y": values,
                    "name": f"{name} · {split}", "legendgroup": f"{name} {split}",
                    "showlegend": metric == "loss",
                    "line": {"color": color, "dash": dash},
                    "xaxis": f"x{axis}", "yaxis": f"y{axis}",
                    "hovertemplate": f"{name} {split} {metric}, epoch %{{x}}: %{{y:.4f}}<extra></extra>",
                })
        if mark_best and history["test_accuracy"]:
            epoch = best_epoch(history)
            data.append({
                "type": "scatter", "mode": "markers", "x": [epoch], "y": [history["test_accuracy"][epoch - 1]],
                "name": f"{name} · best test accuracy", "xaxis": "x2", "yaxis": "y2",
                "marker": {"symbol": "star", "size": 16, "color": color, "line": {"width": 1, "color": "black"}},
                "hovertemplate": f"{name}: best test accuracy %{{y:.4f}} at epoch %{{x}}<extra></extra>",
            })
    # Epochs 1..N left to right, a tick at each (never 2.5); the lines start at epoch 1, the first one trained.
    epochs = max((len(history["train_loss"]) for history in histories.values()), default=1)
    axis = {"title": {"text": f"epoch (1 to {epochs}, left to right)"}, "tickmode": "linear", "tick0": 1,
            "dtick": 1, "range": [0.7, max(epochs, 1) + 0.3]}
    layout = {
        "xaxis": {**axis, "domain": [0, 0.45]},
        "xaxis2": {**axis, "domain": [0.55, 1]},
        "yaxis": {"title": {"text": "loss"}},
        "yaxis2": {"title": {"text": "accuracy"}, "anchor": "x2"},
        "height": 380,
        "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
        "legend": LEGEND_ABOVE,
    }
    return {"data": data, "layout": layout}


def arithmetic_figure(patch: np.ndarray, kernel: np.ndarray, products: np.ndarray, titles: tuple[str, str, str]) -> dict:
    """One channel of a convolution written out: the input patch × the kernel = the products.

    Three small heatmaps side by side, every cell's number written in it: the patch in grey
    (the input's own scale, 0 black to 1 white for an image), the kernel and the products on
    the diverging scale centred at 0 (red adds, blue subtracts).
    """
    panels = [(patch, INPUT_COLORSCALE, None), (kernel, DIVERGING_COLORSCALE, 0.0), (products, DIVERGING_COLORSCALE, 0.0)]
    data, layout, annotations = [], {}, []
    width = 0.28
    for number, ((values, colorscale, zmid), title) in enumerate(zip(panels, titles)):
        suffix = str(number + 1) if number else ""
        left = number * (width + 0.08)
        values = np.asarray(values, dtype=float)
        trace = {
            "type": "heatmap", "z": values.tolist(), "colorscale": colorscale, "showscale": False,
            "text": [[f"{v:.3f}" for v in row] for row in values], "texttemplate": "%{text}",
            "xaxis": f"x{suffix}", "yaxis": f"y{suffix}", "name": title,
            "hovertemplate": f"{title}: %{{z:.4f}}<extra></extra>",
        }
        if zmid is None:
            trace["zmin"], trace["zmax"] = min(0.0, float(values.min())), max(1.0, float(values.max()))
        else:
            limit = float(np.abs(values).max()) or 1.0
            trace["zmin"], trace["zmax"], trace["zmid"] = -limit, limit, zmid
        data.append(trace)
        hidden = {"visible": False, "fixedrange": True}
        layout[f"xaxis{suffix}"] = {**hidden, "domain": [left, left + width], "anchor": f"y{suffix}"}
        layout[f"yaxis{suffix}"] = {**hidden, "domain": [0, 0.86], "anchor": f"x{suffix}", "autorange": "reversed",
                                    "scaleanchor": f"x{suffix}"}
        annotations.append(_label(title, left + width / 2, 0.86, yshift=4, size=13, anchor="center"))
        if number < 2:
            annotations.append(_label("×" if number == 0 else "=", left + width + 0.04, 0.43, yshift=0, size=22,
                                      anchor="center"))
    layout.update({"height": 230, "margin": {"l": 4, "r": 4, "t": 8, "b": 4}, "annotations": annotations,
                   "showlegend": False, "plot_bgcolor": "rgba(0,0,0,0)"})
    return {"data": data, "layout": layout}


def contributions_figure(contributions: np.ndarray, order: np.ndarray, bias: float, top: int = 16) -> dict:
    """Each input channel's share of a later conv layer's number, largest first, and the bias.

    A conv2 cell sums a 3×3 patch × kernel over every channel of the map before it; the bars
    show which channels made the number (red added, blue took away).
    """
    shown = [int(channel) for channel in order[:top]]
    rest = float(np.asarray(contributions)[order[top:]].sum()) if len(order) > top else None
    names = [f"channel {channel}" for channel in shown] + ([f"{len(order) - top} others"] if rest is not None else [])
    values = [float(contributions[channel]) for channel in shown] + ([rest] if rest is not None else [])
    names.append("bias")
    values.append(float(bias))
    colors = [RUN_COLORS[1] if value >= 0 else RUN_COLORS[0] for value in values]
    return {
        "data": [{"type": "bar", "orientation": "h", "x": values, "y": names, "marker": {"color": colors},
                  "hovertemplate": "%{y}: %{x:.4f}<extra></extra>"}],
        "layout": {"height": 60 + 18 * len(names), "margin": {"l": 10, "r": 10, "t": 10, "b": 30},
                   "yaxis": {"autorange": "reversed", "fixedrange": True},
                   "xaxis": {"title": {"text": "contribution to the sum"}, "fixedrange": True, "zeroline": True}},
    }


def window_figure(window: np.ndarray, winner: tuple[int, int], title: str) -> dict:
    """A max-pool's window of the map before it, each value written in, the winner framed."""
    window = np.asarray(window, dtype=float)
    high = float(window.max()) if window.max() > 0 else 1.0
    return {
        "data": [{"type": "heatmap", "z": window.tolist(), "colorscale": ACTIVATION_COLORSCALE, "zmin": 0.0,
                  "zmax": high, "showscale": False, "text": [[f"{v:.4f}" for v in row] for row in window],
                  "texttemplate": "%{text}", "textfont": {"color": ALL_ZERO_COLOR}, "name": title,
                  "hovertemplate": "%{z:.4f}<extra></extra>"}],
        "layout": {"height": 200, "width": 240, "margin": {"l": 4, "r": 4, "t": 28, "b": 4},
                   "title": {"text": title, "font": {"size": 13}},
                   "xaxis": {"visible": False, "fixedrange": True},
                   "yaxis": {"visible": False, "fixedrange": True, "autorange": "reversed", "scaleanchor": "x"},
                   "shapes": [{"type": "rect", "x0": winner[1] - 0.5, "x1": winner[1] + 0.5, "y0": winner[0] - 0.5,
                               "y1": winner[0] + 0.5, "line": {"color": MARK_COLOR, "width": 3}}]},
    }


CAM_COLORSCALE = _rgb_scale(plotly.colors.sequential.Jet)  # Grad-CAM's customary rainbow
SALIENCY_COLORSCALE = _rgb_scale(plotly.colors.sequential.Hot)  # black = no effect, white = the most


def looked_figure(images: np.ndarray, columns: list[tuple[str, np.ndarray | None, str]],
                  row_titles: list[str], cam_opacity: float = 0.55) -> dict:
    """Where the models looked: per image (rows), the input, then one panel per map (columns).

    ``columns`` is a list of (title, maps (images, 28, 28) or None, kind) with kind "saliency"
    (drawn on its own, black = the pixel doesn't matter) or "cam" (drawn over the image,
    translucent); None draws an empty panel with the title's reason.
    """
    rows, count = len(images), 1 + len(columns)
    # A title may take two lines ("conv (lesson)<br>where it found evidence"): room above the first row for them.
    lines = max((title.count("<br>") + 1 for title, _, _ in columns), default=1)
    panel, gap, top = 150, 34, 50 + 17 * (lines - 1)
    plot_height = rows * panel + (rows - 1) * gap
    width = (1 - 0.03 * (count - 1)) / count
    data, layout, annotations = [], {}, []
    for row in range(rows):
        y_top = 1 - row * (panel + gap) / plot_height
        y_domain = [max(y_top - panel / plot_height, 0.0), y_top]
        image = np.asarray(images[row]).reshape(28, 28)
        for column in range(count):
            suffix = str(row * count + column + 1) if row or column else ""
            left = column * (width + 0.03)
            hidden = {"visible": False, "fixedrange": True}
            layout[f"xaxis{suffix}"] = {**hidden, "domain": [left, left + width], "anchor": f"y{suffix}", "constrain": "domain"}
            layout[f"yaxis{suffix}"] = {**hidden, "domain": y_domain, "anchor": f"x{suffix}", "autorange": "reversed",
                                        "scaleanchor": f"x{suffix}", "constrain": "domain"}
            title, maps, kind = ("input", None, "input") if column == 0 else columns[column - 1]
            if row == 0:
                annotations.append(_label(title, left + width / 2, 1.0, yshift=26, size=13, anchor="center"))
            base = {"type": "heatmap", "xaxis": f"x{suffix}", "yaxis": f"y{suffix}", "showscale": False}
            if kind == "input" or (kind == "cam" and maps is not None):
                data.append({**base, "z": image.tolist(), "colorscale": INPUT_COLORSCALE, "zmin": 0.0, "zmax": 1.0,
                             "name": "input", "hovertemplate": "pixel (x %{x}, y %{y}): %{z:.2f}<extra></extra>"})
            if kind == "input" or maps is None:
                if maps is None and kind != "input":
                    annotations.append({"text": "not for<br>this model", "showarrow": False, "font": {"size": 12},
                                        "xref": f"x{suffix} domain", "yref": f"y{suffix} domain", "x": 0.5, "y": 0.5})
                continue
            values = np.asarray(maps[row], dtype=float)
            high = float(values.max()) or 1.0
            name = title.replace("<br>", ": ")  # a two-line title, on one line
            data.append({**base, "z": values.tolist(), "zmin": 0.0, "zmax": high, "name": name,
                         "colorscale": CAM_COLORSCALE if kind == "cam" else SALIENCY_COLORSCALE,
                         "opacity": cam_opacity if kind == "cam" else 1.0,
                         "hovertemplate": f"{name} (x %{{x}}, y %{{y}}): %{{z:.3g}}<extra></extra>"})
        annotations.append(_label(row_titles[row], 0.0, y_domain[1], yshift=2, size=13, anchor="left"))
    layout.update({"height": plot_height + top + 8, "margin": {"l": 4, "r": 4, "t": top, "b": 8},
                   "annotations": annotations, "showlegend": False, "plot_bgcolor": "rgba(0,0,0,0)"})
    return {"data": data, "layout": layout}


def slide_figure(image: np.ndarray, output: np.ndarray, row: int, col: int, size: int, title: str) -> dict:
    """The lesson's "passing a filter over an image": the input with the window where the filter
    is now, and the output map filled in up to there (NaN cells are not computed yet)."""
    image = np.asarray(image, dtype=float).reshape(28, 28)
    output = np.asarray(output, dtype=float)
    done = output[~np.isnan(output)]
    high = float(done.max()) if done.size and done.max() > 0 else 1.0
    z = [[None if np.isnan(v) else float(v) for v in line] for line in output]
    data = [
        {"type": "heatmap", "z": image.tolist(), "colorscale": INPUT_COLORSCALE, "zmin": 0.0, "zmax": 1.0,
         "showscale": False, "name": "input", "hovertemplate": "pixel (x %{x}, y %{y}): %{z:.2f}<extra></extra>"},
        {"type": "heatmap", "z": z, "colorscale": ACTIVATION_COLORSCALE, "zmin": 0.0, "zmax": high, "showscale": False,
         "xaxis": "x2", "yaxis": "y2", "name": title, "hovertemplate": "(x %{x}, y %{y}): %{z:.4f}<extra></extra>"},
    ]
    axis = {"visible": False, "fixedrange": True}
    frame = {"type": "rect", "line": {"color": MARK_COLOR, "width": 3}}
    return {
        "data": data,
        "layout": {
            "xaxis": {**axis, "domain": [0, 0.46]}, "yaxis": {**axis, "autorange": "reversed", "scaleanchor": "x"},
            "xaxis2": {**axis, "domain": [0.54, 1], "range": [-0.5, output.shape[1] - 0.5]},
            # Fixed ranges: the rows not computed yet are empty, and must still take their room.
            "yaxis2": {**axis, "range": [output.shape[0] - 0.5, -0.5], "scaleanchor": "x2", "anchor": "x2"},
            "shapes": [
                {**frame, "xref": "x", "yref": "y", "x0": col - 0.5, "x1": col + size - 0.5, "y0": row - 0.5, "y1": row + size - 0.5},
                {**frame, "xref": "x2", "yref": "y2", "x0": col - 0.5, "x1": col + 0.5, "y0": row - 0.5, "y1": row + 0.5},
            ],
            "annotations": [_label("the input, the filter's window on it", 0.23, 1.0, yshift=4, size=13, anchor="center"),
                            _label(title, 0.77, 1.0, yshift=4, size=13, anchor="center")],
            "height": 330, "margin": {"l": 4, "r": 4, "t": 28, "b": 4}, "showlegend": False,
            "plot_bgcolor": "rgba(0,0,0,0)",
        },
    }


def replay_accuracy_figure(points, current: int, epoch_test_accuracy: list[float] = ()) -> dict:
    """A training's accuracy at each snapshot: the whole run faint, up to ``current`` strong, a dot there.

    ``points`` are ``snapshots.Point``s. The x axis counts snapshots, not epochs: most of them fall
    in the first epoch, where learning is fastest, and would crowd into its first tenth on a time
    axis. ``epoch_test_accuracy`` adds Keras' own test accuracy on the whole test set at each
    epoch's end, as open circles.
    """
    x = list(range(len(points)))
    labels = [p.label for p in points]
    data = []
    for split, color in (("train", RUN_COLORS[0]), ("test", RUN_COLORS[1])):
        y = [getattr(p, f"{split}_accuracy") for p in points]
        data.append({"type": "scatter", "mode": "lines", "x": x, "y": y, "hoverinfo": "skip", "showlegend": False,
                     "line": {"color": color, "width": 1, "dash": "dot"}, "opacity": 0.5})
        data.append({
            "type": "scatter", "mode": "lines+markers", "x": x[: current + 1], "y": y[: current + 1],
            "customdata": labels[: current + 1], "name": split, "line": {"color": color, "width": 3},
            "marker": {"size": 6}, "hovertemplate": f"%{{customdata}}: {split} accuracy %{{y:.1%}}<extra></extra>",
        })
        data.append({"type": "scatter", "mode": "markers", "x": [current], "y": [y[current]], "showlegend": False,
                     "marker": {"size": 14, "color": color, "line": {"color": "rgb(255, 255, 255)", "width": 2}},
                     "hoverinfo": "skip"})
    ends = [i for i, p in enumerate(points) if p.epochs > 0 and float(p.epochs).is_integer()]
    if len(epoch_test_accuracy) and len(ends) == len(epoch_test_accuracy):
        data.append({
            "type": "scatter", "mode": "markers", "x": ends, "y": list(epoch_test_accuracy),
            "name": "test, all 10,000 images", "customdata": [labels[i] for i in ends],
            "marker": {"symbol": "circle-open", "size": 11, "color": RUN_COLORS[1], "line": {"width": 2}},
            "hovertemplate": "%{customdata}: test accuracy on all 10,000 test images %{y:.2%}<extra></extra>",
        })
    ticks = [0, *ends]
    layout = {
        "xaxis": {"title": {"text": "snapshot (ticks: the start, then each epoch's end)"}, "tickvals": ticks,
                  "ticktext": ["start", *(labels[i].removeprefix("epoch ") for i in ends)],
                  "fixedrange": True, "range": [-0.5, len(points) - 0.5], "automargin": True},
        "yaxis": {"title": {"text": "accuracy"}, "range": [0, 1.02], "tickformat": ".0%", "fixedrange": True},
        "height": 300, "margin": {"l": 60, "r": 10, "t": 10, "b": 10},
        "legend": LEGEND_ABOVE,
    }
    return {"data": data, "layout": layout}


def invariance_figure(curves: dict) -> dict:
    """Test accuracy against a shift (left) and a rotation (right), one colour per model.

    ``curves`` maps a model's name to an ``invariance.Invariance``. Shifts in x are solid, in y dashed.
    """
    data = []
    for number, (name, found) in enumerate(curves.items()):
        color = RUN_COLORS[number % len(RUN_COLORS)]
        for values, axis, dash in ((found.accuracy_shift_x, "x", "solid"), (found.accuracy_shift_y, "y", "dash")):
            data.append({
                "type": "scatter", "mode": "lines+markers", "x": list(found.shifts), "y": list(values),
                "name": f"{name} · shifted in {axis}", "line": {"color": color, "dash": dash},
                "hovertemplate": f"{name}, shifted %{{x}} px in {axis}: %{{y:.1%}}<extra></extra>",
            })
        data.append({
            "type": "scatter", "mode": "lines+markers", "x": list(found.angles), "y": list(found.accuracy_rotate),
            "name": f"{name} · turned", "line": {"color": color, "dash": "dot"}, "xaxis": "x2", "yaxis": "y2",
            "hovertemplate": f"{name}, turned %{{x}}°: %{{y:.1%}}<extra></extra>",
        })
    accuracy = {"range": [0, 1], "tickformat": ".0%", "fixedrange": True}
    layout = {
        "xaxis": {"domain": [0, 0.47], "title": {"text": "shift (pixels)"}, "dtick": 2, "fixedrange": True},
        "yaxis": {**accuracy, "title": {"text": "test accuracy"}},
        "xaxis2": {"domain": [0.53, 1], "title": {"text": "rotation (degrees, + = anticlockwise)"}, "dtick": 15,
                   "anchor": "y2", "fixedrange": True},
        "yaxis2": {**accuracy, "anchor": "x2"},
        "height": 380, "margin": {"l": 60, "r": 10, "t": 10, "b": 10},
        "legend": LEGEND_ABOVE,
    }
    return {"data": data, "layout": layout}


SWEEP_COLOR = "rgb(31, 119, 180)"  # the variants: the first run colour, as rgb()
BEST_COLOR = "rgb(214, 39, 40)"  # the winner: red, a star, bigger, named by an annotation


def sweep_figure(rows: list[dict], best_key: str | None) -> dict:
    """A sweep's variants: test accuracy against parameters (left, log axis) and training time (right).

    ``rows`` are ``sweeps.comparison`` rows; those without a test accuracy yet are left out.
    The row keyed ``best_key`` (``sweeps.best``) is a red star in both panels, labelled
    "best: <variant>", so the trade-off reads at a glance: is the winner also the biggest or
    the slowest?
    """
    finished = [row for row in rows if row.get("test accuracy") is not None]
    layout = {
        "xaxis": {"domain": [0, 0.47], "type": "log", "title": {"text": "parameters"}, "fixedrange": True},
        "xaxis2": {"domain": [0.53, 1], "anchor": "y", "title": {"text": "training time (s)"}, "fixedrange": True},
        "yaxis": {"title": {"text": "test accuracy"}, "tickformat": ".1%", "fixedrange": True},
        "font": {"size": 16},  # read from the back of a classroom
        "height": 440, "margin": {"l": 80, "r": 20, "t": 70, "b": 70}, "showlegend": False,
    }
    if not finished:
        for axis in ("xaxis", "xaxis2", "yaxis"):
            layout[axis]["visible"] = False
        layout["plot_bgcolor"] = "rgba(0,0,0,0)"  # no empty grey panel behind the message
        layout["annotations"] = [{"text": "no finished runs yet", "showarrow": False, "font": {"size": 18},
                                  "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5,
                                  "xanchor": "center", "yanchor": "middle"}]
        return {"data": [], "layout": layout}
    # Ticks at 1, 2 and 5 × 10^n as "50k", "1M": Plotly's own log ticks crowd short ranges with bare digits.
    layout["xaxis"].update(_log_ticks([row["params"] for row in finished]))
    hover = [_sweep_hover(row) for row in finished]
    y = [row["test accuracy"] for row in finished]
    panels = (("x", "params"), ("x2", "training time (s)"))
    data, annotations = [], []
    winner = next((row for row in finished if row.get("key") == best_key), None)
    for axis, column in panels:
        data.append({"type": "scatter", "mode": "markers", "x": [row[column] for row in finished], "y": y,
                     "xaxis": axis, "yaxis": "y", "name": "variants", "text": hover,
                     "hovertemplate": "%{text}<extra></extra>",
                     "marker": {"size": 13, "color": SWEEP_COLOR, "line": {"color": "rgb(255, 255, 255)", "width": 1}}})
    if winner is not None:
        for axis, column in panels:
            x = winner[column]
            if x is None:  # a finished run always has its time; this guards hand-made rows
                continue
            data.append({"type": "scatter", "mode": "markers", "x": [x], "y": [winner["test accuracy"]],
                         "xaxis": axis, "yaxis": "y", "name": "best", "text": [_sweep_hover(winner)],
                         "hovertemplate": "<b>best</b><br>%{text}<extra></extra>",
                         "marker": {"symbol": "star", "size": 24, "color": BEST_COLOR,
                                    "line": {"color": "rgb(255, 255, 255)", "width": 1}}})
            # The best point is the highest, so its label goes above it (into the top margin), leaning
            # inwards at a panel's edge so it isn't cut off.
            xs = [float(np.log10(v)) if axis == "x" else v for v in (row[column] for row in finished) if v is not None]
            position = float(np.log10(x)) if axis == "x" else x  # an annotation on a log axis is placed in log10 units
            spread = max(xs) - min(xs)
            where = (position - min(xs)) / spread if spread else 0.5
            annotations.append({"text": f"best: {winner['variant']}", "x": position, "y": winner["test accuracy"],
                                "xref": axis, "yref": "y", "showarrow": True, "arrowhead": 2, "ax": 0, "ay": -36,
                                "xanchor": "left" if where < 0.25 else "right" if where > 0.75 else "center",
                                "font": {"size": 15, "color": BEST_COLOR}})
    layout["annotations"] = annotations
    return {"data": data, "layout": layout}


def _sweep_hover(row: dict) -> str:
    parts = [f"<b>{row['variant']}</b>", f"test accuracy {row['test accuracy']:.2%}", f"{row['params']:,} parameters"]
    if row.get("training time (s)") is not None:
        parts.append(f"trained in {row['training time (s)']:.1f} s")
    if row.get("epochs run") is not None:
        parts.append(f"{row['epochs run']} epochs run")
    return "<br>".join(parts)


def _log_ticks(values: list[float]) -> dict:
    """tickvals/ticktext at 1, 2, 5 × 10^n around ``values`` (all positive)."""
    low, high = min(values) / 1.6, max(values) * 1.6
    ticks = [m * 10**n for n in range(int(np.floor(np.log10(low))), int(np.ceil(np.log10(high))) + 1)
             for m in (1, 2, 5) if low <= m * 10**n <= high]
    return {"tickvals": ticks, "ticktext": [_short_count(v) for v in ticks]}


def _short_count(value: int) -> str:
    """1000 -> '1k', 2000000 -> '2M', 500 -> '500'."""
    for size, suffix in ((10**9, "G"), (10**6, "M"), (10**3, "k")):
        if value >= size:
            return f"{value / size:g}{suffix}"
    return str(value)
