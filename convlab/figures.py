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
MODEL_COLORS = {"dense": "#1f77b4", "conv": "#d62728"}
WRONG_COLOR = "#d62728"

# Journey layout in pixels: panel side, the gap under a row (tick labels, then the next row's
# header), and the margin above the first row (column titles, then the first row's header).
PANEL, ROW_GAP, TOP, BOTTOM = 180, 62, 64, 24


def journey_figure(
    images: np.ndarray,
    maps: list[list[np.ndarray]],
    layer_names: list[str],
    row_titles: list[str],
    wrong: list[bool] | None = None,
) -> dict:
    """Rows = images; column 0 the input, then one inferno heatmap per feature layer.

    ``maps[row][column]`` is the 2-D map of the chosen filter; each panel has its own colour
    range, as in the lesson's notebook. ``row_titles`` head each row (image, label, prediction);
    ``wrong`` marks rows whose prediction is wrong, drawn in red.
    """
    rows, columns = len(images), 1 + len(layer_names)
    wrong = wrong or [False] * rows
    plot_height = rows * PANEL + (rows - 1) * ROW_GAP
    horizontal_gap = 0.025
    width = (1 - horizontal_gap * (columns - 1)) / columns
    data, layout, annotations = [], {}, []
    for row in range(rows):
        top = 1 - row * (PANEL + ROW_GAP) / plot_height
        y_domain = [max(top - PANEL / plot_height, 0.0), top]
        panels = [np.asarray(images[row]).reshape(28, 28)] + [np.asarray(m) for m in maps[row]]
        for column, panel in enumerate(panels):
            suffix = str(row * columns + column + 1) if row or column else ""
            left = column * (width + horizontal_gap)
            side = panel.shape[0]
            axis = {
                "tickvals": [0, side - 1],  # first and last pixel: the numbers show the map shrinking
                "ticks": "", "showgrid": False, "zeroline": False, "fixedrange": True,
            }
            layout[f"xaxis{suffix}"] = {**axis, "domain": [left, left + width], "anchor": f"y{suffix}"}
            layout[f"yaxis{suffix}"] = {
                **axis, "domain": y_domain, "anchor": f"x{suffix}",
                "autorange": "reversed", "scaleanchor": f"x{suffix}",  # square pixels, row 0 on top
            }
            is_input = column == 0
            data.append({
                "type": "heatmap",
                "z": panel.tolist(),
                "xaxis": f"x{suffix}",
                "yaxis": f"y{suffix}",
                "colorscale": INPUT_COLORSCALE if is_input else ACTIVATION_COLORSCALE,
                "showscale": False,
                "hovertemplate": ("pixel" if is_input else "activation") + " (x %{x}, y %{y}): %{z:.3f}<extra></extra>",
                "name": "input" if is_input else layer_names[column - 1],
            })
            if row == 0:
                title = "input 28×28" if is_input else f"{layer_names[column - 1]} · {side}×{side}"
                annotations.append(_label(title, left + width / 2, 1.0, yshift=44, size=15, anchor="center"))
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


def curves_figure(histories: dict[str, dict[str, list[float]]]) -> dict:
    """Loss and accuracy per epoch, train (solid) and test (dashed), for each named model."""
    data = []
    for name, history in histories.items():
        color = MODEL_COLORS.get(name)
        for metric, axis in (("loss", ""), ("accuracy", "2")):
            for split, dash in (("train", "solid"), ("test", "dash")):
                values = history[f"{split}_{metric}"]
                data.append({
                    "type": "scatter", "mode": "lines+markers",
                    "x": list(range(1, len(values) + 1)), "y": values,
                    "name": f"{name} {split}", "legendgroup": f"{name} {split}",
                    "showlegend": metric == "loss",
                    "line": {"color": color, "dash": dash},
                    "xaxis": f"x{axis}", "yaxis": f"y{axis}",
                    "hovertemplate": f"{name} {split} {metric}, epoch %{{x}}: %{{y:.4f}}<extra></extra>",
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
