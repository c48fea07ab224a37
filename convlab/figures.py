"""Plotly figures for the dashboard, built as plain dicts.

A 12-panel figure built through ``plotly.subplots.make_subplots`` and graph objects costs
tens of milliseconds; the same figure as a dict costs about one, which matters because the
journey grid is redrawn on every slider move. Panels are laid out by hand on a grid of axis
domains, so any number of images and layers fits.
"""

from __future__ import annotations

import numpy as np
import plotly.colors
from plotly.basedatatypes import BaseFigure

from .data import CLASS_NAMES

class Prebuilt(BaseFigure):
    """A figure dict handed to ``st.plotly_chart`` as an already-validated Plotly figure.

    Given a plain dict, ``st.plotly_chart`` validates it by building a full ``go.Figure``:
    30-40 ms for the journey grid on this machine, on every slider move. Given a Figure, it
    only calls ``to_dict()``. The builders below are validated once, in the tests (every one
    must pass ``go.Figure(figure)``), so the page skips that cost. ``BaseFigure.__init__`` is
    skipped on purpose: nothing but ``to_dict`` is ever asked of this object.
    """

    def __init__(self, figure: dict):  # noqa: D107 - see the class docstring
        self._prebuilt = figure

    def to_dict(self) -> dict:
        return self._prebuilt


INPUT_COLORSCALE = [[0.0, "rgb(0, 0, 0)"], [1.0, "rgb(255, 255, 255)"]]  # light garment on black
# The lesson's colour map, written as rgb(): Streamlit's Plotly theme swaps the hex colours
# #000001..#000040 for its own palette in the browser, and inferno starts at #000004, which
# would paint every zero activation pink.
ACTIVATION_COLORSCALE = [
    [i / (len(plotly.colors.sequential.Inferno) - 1), "rgb({}, {}, {})".format(*plotly.colors.hex_to_rgb(color))]
    for i, color in enumerate(plotly.colors.sequential.Inferno)
]
WRONG_COLOR = "#d62728"

# Journey layout in pixels: panel side, the gap under a row (tick labels, then the next row's
# header), and the margin above the first row (column titles, then the first row's header).
PANEL, ROW_GAP, TOP, BOTTOM = 180, 62, 64, 24


def journey_figure(
    images: np.ndarray,
    maps: list[list[np.ndarray | None]],
    layers: list[tuple[str, int, int]],
    row_titles: list[str],
    wrong: list[bool] | None = None,
    scale: str = "panel",
    pending: bool = False,
) -> dict:
    """Rows = images; column 0 the input, then one inferno heatmap per feature layer.

    ``maps[row][column]`` is the 2-D map of the chosen filter, or None where that layer has
    fewer filters. ``scale`` picks the colour range: each panel its own ("panel", as the
    lesson's notebook), one per layer ("layer"), or one for the figure ("figure"); shared
    ranges get a colour bar so brightness can be compared. ``layers`` gives each feature
    layer's (name, map side, filter count). ``row_titles`` head each row (image, label,
    prediction); ``wrong`` marks wrong predictions, drawn in red. ``pending`` says the maps
    (all None) are still being computed: the grid is drawn with the inputs alone.
    """
    if scale not in SCALE_MODES:
        raise ValueError(f"scale must be one of {list(SCALE_MODES)}, not {scale!r}")
    rows, columns = len(images), 1 + len(layers)
    wrong = wrong or [False] * rows
    ranges = _shared_ranges(maps, scale)
    colorbars_done = set()
    plot_height = rows * PANEL + (rows - 1) * ROW_GAP
    horizontal_gap = 0.025
    width = (1 - horizontal_gap * (columns - 1)) / columns
    data, layout, annotations = [], {}, []
    for row in range(rows):
        top = 1 - row * (PANEL + ROW_GAP) / plot_height
        y_domain = [max(top - PANEL / plot_height, 0.0), top]
        panels = [np.asarray(images[row]).reshape(28, 28)] + list(maps[row])
        for column, panel in enumerate(panels):
            suffix = str(row * columns + column + 1) if row or column else ""
            left = column * (width + horizontal_gap)
            is_input = column == 0
            name, side, num_filters = ("input", 28, 1) if is_input else layers[column - 1]
            axis = {
                "tickvals": [0, side - 1],  # first and last pixel: the numbers show the map shrinking
                "ticks": "", "showgrid": False, "zeroline": False, "fixedrange": True,
            }
            layout[f"xaxis{suffix}"] = {**axis, "domain": [left, left + width], "anchor": f"y{suffix}"}
            layout[f"yaxis{suffix}"] = {
                **axis, "domain": y_domain, "anchor": f"x{suffix}",
                "autorange": "reversed", "scaleanchor": f"x{suffix}",  # square pixels, row 0 on top
            }
            if row == 0:
                title = "input 28×28" if is_input else f"{name} · {side}×{side}"
                annotations.append(_label(title, left + width / 2, 1.0, yshift=44, size=15, anchor="center"))
            if panel is None:  # this layer has fewer filters than the one chosen, or isn't computed yet
                layout[f"xaxis{suffix}"]["visible"] = layout[f"yaxis{suffix}"]["visible"] = False
                annotations.append({
                    "text": "loading…" if pending else f"{name} has<br>only {num_filters} filters",
                    "showarrow": False, "font": {"size": 13},
                    "xref": f"x{suffix} domain", "yref": f"y{suffix} domain", "x": 0.5, "y": 0.5,
                })
                continue
            trace = {
                "type": "heatmap",
                "z": np.asarray(panel).tolist(),
                "xaxis": f"x{suffix}",
                "yaxis": f"y{suffix}",
                "colorscale": INPUT_COLORSCALE if is_input else ACTIVATION_COLORSCALE,
                "showscale": False,
                "hovertemplate": ("pixel" if is_input else "activation") + " (x %{x}, y %{y}): %{z:.3f}<extra></extra>",
                "name": name,
            }
            shared = None if is_input else ranges.get(column - 1 if scale == "layer" else "figure")
            if shared is not None:
                trace["zmin"], trace["zmax"] = shared
                bar = column if scale == "layer" else "figure"
                if bar not in colorbars_done:  # one colour bar per shared range
                    colorbars_done.add(bar)
                    trace["showscale"] = True
                    trace["colorbar"] = _colorbar(scale, left + width / 2, width)
            data.append(trace)
        color = WRONG_COLOR if wrong[row] else None
        annotations.append(_label(row_titles[row], 0.0, y_domain[1], yshift=16, size=14, anchor="left", color=color))
    bottom = BOTTOM + (48 if scale == "layer" else 0)  # room for the colour bars under the columns
    layout.update({
        "height": plot_height + TOP + bottom,
        "margin": {"l": 28, "r": 70 if scale == "figure" else 8, "t": TOP, "b": bottom},
        "annotations": annotations,
        "showlegend": False,
    })
    return {"data": data, "layout": layout}


SCALE_MODES = {
    "panel": "each panel on its own (as the lesson)",
    "layer": "shared per layer",
    "figure": "shared across the figure",
}


def _shared_ranges(maps: list[list[np.ndarray | None]], scale: str) -> dict:
    """(zmin, zmax) per layer column (keys 0, 1, ...) or for the whole figure (key "figure")."""
    if scale == "panel" or not maps:
        return {}
    columns = [[panel for panel in (row[column] for row in maps) if panel is not None] for column in range(len(maps[0]))]
    per_column = {
        column: (float(min(p.min() for p in panels)), float(max(p.max() for p in panels)))
        for column, panels in enumerate(columns) if panels
    }
    if scale == "layer":
        return per_column
    lows, highs = zip(*per_column.values()) if per_column else ((0.0,), (1.0,))
    return {"figure": (min(lows), max(highs))}


def _colorbar(scale: str, center: float, width: float) -> dict:
    if scale == "figure":
        return {"x": 1.0, "xanchor": "left", "thickness": 14, "title": {"text": "activation", "side": "right"}}
    return {
        "orientation": "h", "x": center, "xanchor": "center", "len": width, "lenmode": "fraction",
        "y": 0, "yref": "paper", "yanchor": "top", "ypad": 36, "thickness": 10,
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
) -> dict:
    """A grid of small heatmaps (filters, kernels, filtered images), each tile named by ``titles``.

    With ``shared_range`` every tile uses it and one colour bar is drawn; otherwise each tile
    has its own range. ``zmid`` centres a diverging colour scale (kernels: 0 = white).
    ``highlight`` draws a frame around one tile (the filter chosen elsewhere). ``clickable``
    lays invisible click targets over the tiles (see ``_click_targets``).
    """
    rows = -(-len(tiles) // columns)
    gap_px, title_px = 8, 18
    plot_height = rows * (tile_px + title_px + gap_px)
    data, layout, annotations, shapes = [], {}, [], []
    width = 1 / columns
    for number, (tile, title) in enumerate(zip(tiles, titles)):
        row, column = divmod(number, columns)
        suffix = str(number + 1) if number else ""
        top = 1 - row * (tile_px + title_px + gap_px) / plot_height - title_px / plot_height
        x_domain = [column * width + 0.004, (column + 1) * width - 0.004]
        y_domain = [max(top - tile_px / plot_height, 0.0), top]
        hidden = {"visible": False, "fixedrange": True}
        layout[f"xaxis{suffix}"] = {**hidden, "domain": x_domain, "anchor": f"y{suffix}"}
        layout[f"yaxis{suffix}"] = {**hidden, "domain": y_domain, "anchor": f"x{suffix}",
                                    "autorange": "reversed", "scaleanchor": f"x{suffix}"}
        trace = {
            "type": "heatmap", "z": np.asarray(tile).tolist(), "colorscale": colorscale,
            "xaxis": f"x{suffix}", "yaxis": f"y{suffix}", "showscale": False, "name": title,
            "hovertemplate": f"{title}: {value_name} %{{z:.3f}} at (x %{{x}}, y %{{y}})<extra></extra>",
        }
        if shared_range is not None:
            trace["zmin"], trace["zmax"] = shared_range
        if zmid is not None:
            trace["zmid"] = zmid
        if shared_range is not None and number == 0:
            trace["showscale"] = True
            trace["colorbar"] = {"x": 1.0, "xanchor": "left", "thickness": 12,
                                 "title": {"text": colorbar_title or value_name, "side": "right"}}
        data.append(trace)
        annotations.append({
            "text": f"<b>{title}</b>" if number == highlight else title, "showarrow": False,
            "x": sum(x_domain) / 2, "y": top, "xref": "paper", "yref": "paper",
            "yanchor": "bottom", "font": {"size": 12, **({"color": WRONG_COLOR} if number == highlight else {})},
        })
        if number == highlight:
            shapes.append({"type": "rect", "xref": f"x{suffix} domain", "yref": f"y{suffix} domain",
                           "x0": -0.04, "x1": 1.04, "y0": -0.04, "y1": 1.04,
                           "line": {"color": WRONG_COLOR, "width": 3}})
    if clickable:
        data.append(_click_targets(len(tiles), columns, rows, tile_px, title_px, gap_px, plot_height))
    layout.update({
        "height": plot_height + 16, "margin": {"l": 4, "r": 70 if shared_range else 4, "t": 8, "b": 8},
        "annotations": annotations, "shapes": shapes, "showlegend": False,
        "clickmode": "event+select",
        # Transparent plot areas: the click targets' subplot spans the whole figure, and an opaque
        # background there would paint over every tile.
        "plot_bgcolor": "rgba(0,0,0,0)",
    })
    if clickable:
        layout[f"xaxis{len(tiles) + 1}"] = {"domain": [0, 1], "range": [0, columns], "visible": False,
                                            "fixedrange": True, "anchor": f"y{len(tiles) + 1}"}
        layout[f"yaxis{len(tiles) + 1}"] = {"domain": [0, 1], "range": [plot_height, 0], "visible": False,
                                            "fixedrange": True, "anchor": f"x{len(tiles) + 1}"}
    return {"data": data, "layout": layout}


def _click_targets(count, columns, rows, tile_px, title_px, gap_px, plot_height) -> dict:
    """One invisible square marker over each tile, on an overlay axis spanning the figure.

    Streamlit reports clicks on scatter points but not on heatmap cells, so these markers are
    what a click selects: the selected point's index is the tile's number.
    """
    xs = [number % columns + 0.5 for number in range(count)]
    ys = [(number // columns) * (tile_px + title_px + gap_px) + title_px + tile_px / 2 for number in range(count)]
    return {
        "type": "scatter", "mode": "markers", "x": xs, "y": ys, "name": "choose",
        "xaxis": f"x{count + 1}", "yaxis": f"y{count + 1}",
        "marker": {"symbol": "square", "size": tile_px * 0.9, "opacity": 0.01, "color": "white"},
        "selected": {"marker": {"opacity": 0.01}}, "unselected": {"marker": {"opacity": 0.01}},
        "hovertemplate": "click to choose<extra></extra>",
    }


DIVERGING_COLORSCALE = "RdBu_r"  # negative blue, zero white, positive red: kernel weights, filter responses


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
    """Rows = true class, columns = predicted class; each cell's count or fraction written in it."""
    text = [[f"{v:.0%}" if normalised else f"{int(v)}" for v in row] for row in matrix]
    return {
        "data": [{
            "type": "heatmap", "z": np.asarray(matrix).tolist(), "x": list(CLASS_NAMES), "y": list(CLASS_NAMES),
            "text": text, "texttemplate": "%{text}", "colorscale": "Blues", "showscale": False,
            "hoverinfo": "skip",  # the click targets below carry the hover text
        }, {
            # Invisible click targets, one per cell: Streamlit reports clicks on points, not heatmap cells.
            "type": "scatter", "mode": "markers", "name": "choose",
            "x": [predicted for _ in CLASS_NAMES for predicted in CLASS_NAMES],
            "y": [true for true in CLASS_NAMES for _ in CLASS_NAMES],
            "marker": {"symbol": "square", "size": 40, "opacity": 0.01, "color": "white"},
            "selected": {"marker": {"opacity": 0.01}}, "unselected": {"marker": {"opacity": 0.01}},
            "customdata": [value for row in text for value in row],
            "hovertemplate": "true %{y}, predicted %{x}: %{customdata}. Click to list them.<extra></extra>",
        }],
        "layout": {
            "clickmode": "event+select",
            "xaxis": {"title": {"text": "predicted class"}, "side": "top", "fixedrange": True},
            "yaxis": {"title": {"text": "true class"}, "autorange": "reversed", "fixedrange": True},
            "height": 520, "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
        },
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
    axis = {"title": {"text": "epoch"}, "dtick": 1}
    layout = {
        "xaxis": {**axis, "domain": [0, 0.45]},
        "xaxis2": {**axis, "domain": [0.55, 1]},
        "yaxis": {"title": {"text": "loss"}},
        "yaxis2": {"title": {"text": "accuracy"}, "anchor": "x2"},
        "height": 380,
        "margin": {"l": 10, "r": 10, "t": 30, "b": 10},
        "legend": {"orientation": "h", "y": -0.2},
    }
    return {"data": data, "layout": layout}
