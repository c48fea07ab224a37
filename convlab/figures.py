"""Plotly figures for the dashboard, built as plain dicts.

A 12-panel figure built through ``plotly.subplots.make_subplots`` and graph objects costs
tens of milliseconds; the same figure as a dict costs about one, which matters because the
journey grid is redrawn on every slider move. Panels are laid out by hand on a grid of axis
domains, so any number of images and layers fits.
"""

from __future__ import annotations

import numpy as np

from .data import CLASS_NAMES

INPUT_COLORSCALE = [[0.0, "black"], [1.0, "white"]]  # Fashion-MNIST: light garment on black
ACTIVATION_COLORSCALE = "Inferno"  # the lesson's colour map
MODEL_COLORS = {"dense": "#1f77b4", "conv": "#d62728"}


def _axis(index: int, domain: tuple[float, float], side: int, **extra) -> tuple[str, dict]:
    name = "axis" if index == 1 else f"axis{index}"
    return name, {
        "domain": list(domain),
        "tickvals": [0, side - 1],  # first and last pixel: the numbers show the map shrinking
        "ticks": "",
        "showgrid": False,
        "zeroline": False,
        "fixedrange": True,
        **extra,
    }


def journey_figure(
    images: np.ndarray,
    maps: list[list[np.ndarray]],
    layer_names: list[str],
    row_titles: list[str],
    height_per_row: int = 190,
) -> dict:
    """Rows = images; column 0 the input, then one inferno heatmap per feature layer.

    ``maps[row][column]`` is the 2-D map of the chosen filter; each panel has its own colour
    range, as in the lesson's notebook.
    """
    rows, columns = len(images), 1 + len(layer_names)
    horizontal_gap, vertical_gap = 0.03, 0.12 / max(rows, 1)
    width = (1 - horizontal_gap * (columns - 1)) / columns
    height = (1 - vertical_gap * (rows - 1)) / rows
    data, layout, annotations = [], {}, []
    for row in range(rows):
        top = 1 - row * (height + vertical_gap)
        y_domain = (max(top - height, 0.0), top)
        panels = [np.asarray(images[row]).reshape(28, 28)] + [np.asarray(m) for m in maps[row]]
        for column, panel in enumerate(panels):
            index = row * columns + column + 1
            left = column * (width + horizontal_gap)
            side = panel.shape[0]
            x_name, x_axis = _axis(index, (left, left + width), side)
            y_name, y_axis = _axis(index, y_domain, side, autorange="reversed", scaleanchor=f"x{index if index > 1 else ''}")
            layout["x" + x_name], layout["y" + y_name] = x_axis, y_axis
            is_input = column == 0
            data.append({
                "type": "heatmap",
                "z": panel.tolist(),
                "xaxis": f"x{index if index > 1 else ''}",
                "yaxis": f"y{index if index > 1 else ''}",
                "colorscale": INPUT_COLORSCALE if is_input else ACTIVATION_COLORSCALE,
                "showscale": False,
                "hovertemplate": ("pixel" if is_input else "activation") + " (x %{x}, y %{y}): %{z:.3f}<extra></extra>",
                "name": "input" if is_input else layer_names[column - 1],
            })
            if row == 0:
                title = "input 28×28" if is_input else f"{layer_names[column - 1]} · {side}×{side}"
                annotations.append(_label(title, left + width / 2, 1.0, yshift=18, size=15))
        annotations.append(_label(row_titles[row], width / 2, y_domain[0], yshift=-26, size=12))
    layout.update({
        "height": rows * height_per_row + 60,
        "margin": {"l": 10, "r": 10, "t": 40, "b": 40},
        "annotations": annotations,
        "showlegend": False,
    })
    return {"data": data, "layout": layout}


def _label(text: str, x: float, y: float, yshift: int, size: int) -> dict:
    return {
        "text": text, "x": x, "y": y, "xref": "paper", "yref": "paper", "yshift": yshift,
        "showarrow": False, "font": {"size": size}, "xanchor": "center",
    }


def row_title(index: int, label: int, probabilities: np.ndarray) -> str:
    """'#23 Ankle boot → Ankle boot 97%' (a ✗ marks a wrong prediction)."""
    predicted = int(np.argmax(probabilities))
    mark = "" if predicted == label else " ✗"
    return f"#{index} {CLASS_NAMES[label]} → {CLASS_NAMES[predicted]} {probabilities[predicted]:.0%}{mark}"


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
