"""The journey's grid: each image's input and its maps through every conv and pool layer.

Panels are laid out by hand on a grid of axis domains, so any number of images and layers fits; the
chart's component (components/plotly_react) repaints its maps for another filter from
``journey_scrub_parts``. Also the row titles and the panel size that fits a room.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data import CLASS_NAMES
from .parts import label
from .scales import (
    ACTIVATION_COLORSCALE,
    ALL_ZERO_COLOR,
    INPUT_COLORSCALE,
    MARK_COLOR,
    SCALE_MODES,
    WRONG_COLOR,
    floored_range,
    shared_ranges,
)

# Journey layout: the largest and smallest panel side in pixels (outside full screen), the gap
# between columns (a fraction of the width: the y-axis numbers sit in it), and the margins.
PANEL, MIN_PANEL, COLUMN_GAP, LEFT, RIGHT = 180, 72, 0.025, 28, 36


@dataclass(frozen=True)
class JourneyStyle:
    """How the journey's grid is drawn, apart from what it shows."""

    scale: str = "panel"  # the top of each map's colour range: its own max, its layer's or the figure's (SCALE_MODES)
    panel: int = PANEL  # a panel's side in pixels (``journey_panel``: the largest that fits the room)
    font_scale: float = 1.0  # every text enlarged (full screen, a projector)
    heading: str | None = None  # a line above the column titles (full screen: the filter, the page's controls hidden)

    def __post_init__(self):
        if self.scale not in SCALE_MODES:
            raise ValueError(f"scale must be one of {list(SCALE_MODES)}, not {self.scale!r}")
        if self.panel < 1 or self.font_scale <= 0:
            raise ValueError(f"panel and font_scale must be positive, not {self.panel} and {self.font_scale}")


def journey_figure(
    images: np.ndarray,
    maps: list[list[np.ndarray | None]],
    layers: list[tuple[str, int, int]],
    row_titles: list[str],
    style: JourneyStyle = JourneyStyle(),
    *,
    wrong: list[bool] | None = None,
    pending: bool = False,
    marks: list[tuple[int, int, int, int, int]] = (),
) -> dict:
    """Rows = images; column 0 the input, then one inferno heatmap per feature layer.

    ``maps[row][column]`` is the 2-D map of the chosen filter, or None where that layer has
    fewer filters. ``style.scale`` picks the top of the colour range: each panel its own max ("panel",
    as the lesson's notebook), one per layer ("layer"), or one for the figure ("figure"); shared
    ranges get a colour bar so brightness can be compared. The bottom is always 0 (maps are
    ReLU'd), so an all-zero map is black and labelled "all zero", never inferno's middle.
    ``layers`` gives each feature layer's (name, map side, filter count). ``row_titles`` head
    each row (image, label, prediction); ``wrong`` marks wrong predictions, drawn in red.
    ``pending`` says the maps (all None) are still being computed: the grid is drawn with the
    inputs alone. ``style`` also sets the panel size, the font scale and a heading (``JourneyStyle``).
    ``marks`` frames squares of cells: (row, column, top, left, size), column 0 being the input
    (an explained cell, and the window of the map before it that it comes from). Every heatmap
    carries ``meta`` {"slot": row, "layer": name}, so a click names the panel it hit.
    """
    scale, panel, font_scale, heading = style.scale, style.panel, style.font_scale, style.heading
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
            axis = {
                "ticks": "",
                "showgrid": False,
                "zeroline": False,
                "fixedrange": True,
                "tickfont": {"size": round(11 * font_scale)},
            }
            layout[f"xaxis{suffix}"] = {
                **axis,
                "domain": [left, left + width],
                "anchor": f"y{suffix}",
                "showticklabels": False,  # the column title gives the size; no numbers between the rows
                "constrain": "domain",  # the square panel sits in the middle of its column
            }
            layout[f"yaxis{suffix}"] = {
                **axis,
                "domain": y_domain,
                "anchor": f"x{suffix}",
                "constrain": "domain",
                "tickvals": [0, side - 1],  # first and last pixel: the numbers show the map shrinking
                "autorange": "reversed",
                "scaleanchor": f"x{suffix}",  # square pixels, row 0 on top
            }
            if row == 0:
                title = "input 28×28" if is_input else f"{name} · {side}×{side}"
                annotations.append(
                    label(
                        title,
                        left + width / 2,
                        1.0,
                        yshift=round(26 * font_scale),
                        size=round(15 * font_scale),
                        anchor="center",
                    )
                )
            if image is None:  # this layer has fewer filters than the one chosen, or isn't computed yet
                layout[f"xaxis{suffix}"]["visible"] = layout[f"yaxis{suffix}"]["visible"] = False
                notes.append(
                    _panel_note(
                        suffix, "loading…" if pending else _fewer_filters(name, num_filters), round(13 * font_scale)
                    )
                )
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
        annotations.append(
            label(row_titles[row], 0.0, y_domain[1], yshift=4, size=round(14 * font_scale), anchor="left", color=color)
        )
    if heading is not None:
        annotations.append(
            label(heading, 0.0, 1.0, yshift=round(52 * font_scale), size=round(16 * font_scale), anchor="left")
        )
    shapes = []
    for row, column, top, left, size in marks:  # a cell, or a window of cells, framed
        suffix = str(row * columns + column + 1) if row or column else ""
        shapes.append(
            {
                "type": "rect",
                "xref": f"x{suffix}",
                "yref": f"y{suffix}",
                "x0": left - 0.5,
                "x1": left + size - 0.5,
                "y0": top - 0.5,
                "y1": top + size - 0.5,
                "line": {"color": MARK_COLOR, "width": 2},
            }
        )
    layout.update(
        {
            "height": plot_height + top_margin + bottom,
            "margin": {"l": LEFT, "r": 80 if scale == "figure" else RIGHT, "t": top_margin, "b": bottom},
            "annotations": annotations + notes,
            "shapes": shapes,
            "showlegend": False,
            "modebar": {"orientation": "v"},  # in the right margin, off the column titles
        }
    )
    return {"data": data, "layout": layout}


def journey_scrub_parts(layers: list[tuple[str, int, int]], style: JourneyStyle = JourneyStyle()) -> dict:
    """What the browser needs to redraw ``journey_figure``'s maps for any filter by itself.

    The page sends the figure of its filter and every filter's packed maps
    (``convlab.mapcodec``); for another filter the chart swaps each map's heatmap in, built from
    these parts exactly as ``journey_figure`` builds it: the trace's style (hover saying the value
    is 8-bit, ``{bound}`` filled in per map), each column's colour bar, the notes' font and the
    "only N filters" text per layer.
    """
    scale, font_scale = style.scale, style.font_scale
    columns = 1 + len(layers)
    width = _column_width(columns)
    return {
        "scale": scale,
        "trace": {"type": "heatmap", **_map_trace("{bound}")},
        "colorbars": {
            str(column): _colorbar(scale, _column_left(column, columns) + width / 2, width, font_scale)
            for column in range(1, columns)
        },
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


def journey_panel(
    rows: int,
    columns: int,
    width: float,
    height: float,
    scale: str = "panel",
    font_scale: float = 1.0,
    largest: int = PANEL,
    heading: bool = False,
) -> int:
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


def _input_trace() -> dict:
    return {
        "colorscale": INPUT_COLORSCALE,
        "showscale": False,
        "hovertemplate": "pixel (x %{x}, y %{y}): %{z:.3f}<extra></extra>",
    }


def _map_trace(bound: str | None = None) -> dict:
    """A feature map's heatmap style; with ``bound``, hover says the value is 8-bit, within that bound."""
    exactness = "" if bound is None else f" (8-bit: ±{bound})"
    return {
        "colorscale": ACTIVATION_COLORSCALE,
        "showscale": False,
        "hovertemplate": "activation (x %{x}, y %{y}): %{z:.3f}" + exactness + "<extra></extra>",
    }


def _fewer_filters(name: str, num_filters: int) -> str:
    return f"{name} has<br>only {num_filters} filters"


def _panel_note(suffix: str, text: str, size: int, color: str | None = None) -> dict:
    """A word centred on a panel ("all zero": a black panel alone could be a dark picture or a dead
    filter; "conv1 has only 16 filters"). Named "note": the browser redraws them per filter."""
    return {
        "text": text,
        "showarrow": False,
        "font": {"size": size, **({"color": color} if color else {})},
        "xref": f"x{suffix} domain",
        "yref": f"y{suffix} domain",
        "x": 0.5,
        "y": 0.5,
        "name": "note",
    }


def _colorbar(scale: str, center: float, width: float, font_scale: float = 1.0) -> dict:
    """A shared range's colour bar; its numbers (12 px, Plotly's size) grow with ``font_scale`` like
    the rest of the journey's text (``_journey_rows`` makes room below the grid for them)."""
    font = {"tickfont": {"size": round(12 * font_scale)}}
    if scale == "figure":  # below the toolbar, which sits in the top of the right margin
        return {
            "x": 1.0,
            "xanchor": "left",
            "thickness": 14,
            "len": 0.8,
            "y": 0,
            "yanchor": "bottom",
            "title": {"text": "activation", "side": "right", "font": {"size": round(12 * font_scale)}},
            **font,
        }
    return {
        "orientation": "h",
        "x": center,
        "xanchor": "center",
        "len": width,
        "lenmode": "fraction",
        "y": 0,
        "yref": "paper",
        "yanchor": "top",
        "ypad": 8,
        "thickness": 10,
        **font,
    }


def journey_of(
    activations,
    images,
    filters_per_layer,
    filter_index: int,
    row_titles,
    labels,
    style: JourneyStyle = JourneyStyle(),
    marks: list[tuple[int, int, int, int, int]] = (),
) -> dict:
    """``journey_figure`` of computed ``convlab.activations.Activations`` (the journey, the replay, the shift
    probe and an upload all draw theirs so): one filter's maps, each layer's side and filter count, and the
    rows the model gets wrong."""
    sides = [maps.shape[1] for maps in activations.maps]
    return journey_figure(
        images,
        activations.filter_maps(filter_index),
        list(zip(activations.layer_names, sides, filters_per_layer)),
        row_titles,
        style,
        wrong=activations.mistaken(labels),
        marks=marks,
    )


def row_titles(indices, labels, probabilities) -> list[str]:
    """``row_title`` of each row: the images' test indices (or a picture's name, such as "your drawing"), their
    labels (None for a picture without one) and the model's probabilities."""
    return [row_title(slot, index, labels[slot], probabilities[slot]) for slot, index in enumerate(indices)]


def row_title(slot: int, index: int | str, label: int | None, probabilities: np.ndarray | None) -> str:
    """'Image 2 · test #23 · Ankle boot → predicted Sandal (97%) ✗' (no prediction without probabilities);
    'Image 3 · your drawing → predicted Sandal (97%)' for a named picture without a label (nothing to be wrong about).
    """
    name = index if isinstance(index, str) else f"test #{int(index)}"
    head = f"Image {slot + 1} · {name}" + ("" if label is None else f" · <b>{CLASS_NAMES[int(label)]}</b>")
    if probabilities is None:
        return head
    predicted = int(np.argmax(probabilities))
    verdict = "" if label is None else " ✓" if predicted == int(label) else " ✗ wrong"
    return f"{head} → predicted <b>{CLASS_NAMES[predicted]}</b> ({probabilities[predicted]:.0%}){verdict}"
