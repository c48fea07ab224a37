"""Plotly figures for the dashboard, built as plain dicts.

A 12-panel figure built through ``plotly.subplots.make_subplots`` and graph objects costs
tens of milliseconds; the same figure as a dict costs about one, which matters because the
journey grid is redrawn on every slider move. Panels are laid out by hand on a grid of axis
domains, so any number of images and layers fits.
"""

from __future__ import annotations

import numpy as np
import plotly.colors

from .data import CLASS_NAMES

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
) -> dict:
    """Rows = images; column 0 the input, then one inferno heatmap per feature layer.

    ``maps[row][column]`` is the 2-D map of the chosen filter, or None where that layer has
    fewer filters; each panel has its own colour range, as in the lesson's notebook.
    ``layers`` gives each feature layer's (name, map side, filter count). ``row_titles`` head
    each row (image, label, prediction); ``wrong`` marks wrong predictions, drawn in red.
    """
    rows, columns = len(images), 1 + len(layers)
    wrong = wrong or [False] * rows
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
            if panel is None:  # this layer has fewer filters than the one chosen
                layout[f"xaxis{suffix}"]["visible"] = layout[f"yaxis{suffix}"]["visible"] = False
                annotations.append({
                    "text": f"{name} has<br>only {num_filters} filters", "showarrow": False, "font": {"size": 13},
                    "xref": f"x{suffix} domain", "yref": f"y{suffix} domain", "x": 0.5, "y": 0.5,
                })
                continue
            data.append({
                "type": "heatmap",
                "z": np.asarray(panel).tolist(),
                "xaxis": f"x{suffix}",
                "yaxis": f"y{suffix}",
                "colorscale": INPUT_COLORSCALE if is_input else ACTIVATION_COLORSCALE,
                "showscale": False,
                "hovertemplate": ("pixel" if is_input else "activation") + " (x %{x}, y %{y}): %{z:.3f}<extra></extra>",
                "name": name,
            })
        color = WRONG_COLOR if wrong[row] else None
        annotations.append(_label(row_titles[row], 0.0, y_domain[1], yshift=16, size=14, anchor="left", color=color))
    layout.update({
        "height": plot_height + TOP + BOTTOM,
        "margin": {"l": 28, "r": 8, "t": TOP, "b": BOTTOM},
        "annotations": annotations,
        "showlegend": False,
    })
    return {"data": data, "layout": layout}


def _label(text: str, x: float, y: float, yshift: int, size: int, anchor: str, color: str | None = None) -> dict:
    font = {"size": size, **({"color": color} if color else {})}
    return {
        "text": text, "x": x, "y": y, "xref": "paper", "yref": "paper", "yshift": yshift,
        "showarrow": False, "font": font, "xanchor": anchor, "yanchor": "bottom",
    }


def row_title(slot: int, index: int, label: int, probabilities: np.ndarray) -> str:
    """'Image 2 · test #23 · Ankle boot → predicted Sandal (97%) ✗'."""
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
