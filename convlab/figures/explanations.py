"""How a number is computed and where a model looked: a cell's arithmetic, a filter's
contributions, pooling's window, the sliding kernel, saliency and Grad-CAM maps."""

from __future__ import annotations

import numpy as np

from .parts import label
from .scales import (
    ACTIVATION_COLORSCALE,
    ALL_ZERO_COLOR,
    CAM_COLORSCALE,
    DIVERGING_COLORSCALE,
    INPUT_COLORSCALE,
    MARK_COLOR,
    RUN_COLORS,
    SALIENCY_COLORSCALE,
)


def arithmetic_figure(
    patch: np.ndarray, kernel: np.ndarray, products: np.ndarray, titles: tuple[str, str, str]
) -> dict:
    """One channel of a convolution written out: the input patch × the kernel = the products.

    Three small heatmaps side by side, every cell's number written in it: the patch in grey
    (the input's own scale, 0 black to 1 white for an image), the kernel and the products on
    the diverging scale centred at 0 (red adds, blue subtracts).
    """
    panels = [
        (patch, INPUT_COLORSCALE, None),
        (kernel, DIVERGING_COLORSCALE, 0.0),
        (products, DIVERGING_COLORSCALE, 0.0),
    ]
    data, layout, annotations = [], {}, []
    width = 0.28
    for number, ((values, colorscale, zmid), title) in enumerate(zip(panels, titles)):
        suffix = str(number + 1) if number else ""
        left = number * (width + 0.08)
        values = np.asarray(values, dtype=float)
        trace = {
            "type": "heatmap",
            "z": values.tolist(),
            "colorscale": colorscale,
            "showscale": False,
            "text": [[f"{v:.3f}" for v in row] for row in values],
            "texttemplate": "%{text}",
            "xaxis": f"x{suffix}",
            "yaxis": f"y{suffix}",
            "name": title,
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
        layout[f"yaxis{suffix}"] = {
            **hidden,
            "domain": [0, 0.86],
            "anchor": f"x{suffix}",
            "autorange": "reversed",
            "scaleanchor": f"x{suffix}",
        }
        annotations.append(label(title, left + width / 2, 0.86, yshift=4, size=13, anchor="center"))
        if number < 2:
            annotations.append(
                label("×" if number == 0 else "=", left + width + 0.04, 0.43, yshift=0, size=22, anchor="center")
            )
    layout.update(
        {
            "height": 230,
            "margin": {"l": 4, "r": 4, "t": 8, "b": 4},
            "annotations": annotations,
            "showlegend": False,
            "plot_bgcolor": "rgba(0,0,0,0)",
        }
    )
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
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "x": values,
                "y": names,
                "marker": {"color": colors},
                "hovertemplate": "%{y}: %{x:.4f}<extra></extra>",
            }
        ],
        "layout": {
            "height": 60 + 18 * len(names),
            "margin": {"l": 10, "r": 10, "t": 10, "b": 30},
            "yaxis": {"autorange": "reversed", "fixedrange": True},
            "xaxis": {"title": {"text": "contribution to the sum"}, "fixedrange": True, "zeroline": True},
        },
    }


def window_figure(window: np.ndarray, winner: tuple[int, int], title: str) -> dict:
    """A max-pool's window of the map before it, each value written in, the winner framed."""
    window = np.asarray(window, dtype=float)
    high = float(window.max()) if window.max() > 0 else 1.0
    return {
        "data": [
            {
                "type": "heatmap",
                "z": window.tolist(),
                "colorscale": ACTIVATION_COLORSCALE,
                "zmin": 0.0,
                "zmax": high,
                "showscale": False,
                "text": [[f"{v:.4f}" for v in row] for row in window],
                "texttemplate": "%{text}",
                "textfont": {"color": ALL_ZERO_COLOR},
                "name": title,
                "hovertemplate": "%{z:.4f}<extra></extra>",
            }
        ],
        "layout": {
            "height": 200,
            "width": 240,
            "margin": {"l": 4, "r": 4, "t": 28, "b": 4},
            "title": {"text": title, "font": {"size": 13}},
            "xaxis": {"visible": False, "fixedrange": True},
            "yaxis": {"visible": False, "fixedrange": True, "autorange": "reversed", "scaleanchor": "x"},
            "shapes": [
                {
                    "type": "rect",
                    "x0": winner[1] - 0.5,
                    "x1": winner[1] + 0.5,
                    "y0": winner[0] - 0.5,
                    "y1": winner[0] + 0.5,
                    "line": {"color": MARK_COLOR, "width": 3},
                }
            ],
        },
    }


def looked_figure(
    images: np.ndarray,
    columns: list[tuple[str, np.ndarray | None, str]],
    row_titles: list[str],
    cam_opacity: float = 0.55,
) -> dict:
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
            layout[f"xaxis{suffix}"] = {
                **hidden,
                "domain": [left, left + width],
                "anchor": f"y{suffix}",
                "constrain": "domain",
            }
            layout[f"yaxis{suffix}"] = {
                **hidden,
                "domain": y_domain,
                "anchor": f"x{suffix}",
                "autorange": "reversed",
                "scaleanchor": f"x{suffix}",
                "constrain": "domain",
            }
            title, maps, kind = ("input", None, "input") if column == 0 else columns[column - 1]
            if row == 0:
                annotations.append(label(title, left + width / 2, 1.0, yshift=26, size=13, anchor="center"))
            base = {"type": "heatmap", "xaxis": f"x{suffix}", "yaxis": f"y{suffix}", "showscale": False}
            if kind == "input" or (kind == "cam" and maps is not None):
                data.append(
                    {
                        **base,
                        "z": image.tolist(),
                        "colorscale": INPUT_COLORSCALE,
                        "zmin": 0.0,
                        "zmax": 1.0,
                        "name": "input",
                        "hovertemplate": "pixel (x %{x}, y %{y}): %{z:.2f}<extra></extra>",
                    }
                )
            if kind == "input" or maps is None:
                if maps is None and kind != "input":
                    annotations.append(
                        {
                            "text": "not for<br>this model",
                            "showarrow": False,
                            "font": {"size": 12},
                            "xref": f"x{suffix} domain",
                            "yref": f"y{suffix} domain",
                            "x": 0.5,
                            "y": 0.5,
                        }
                    )
                continue
            values = np.asarray(maps[row], dtype=float)
            high = float(values.max()) or 1.0
            name = title.replace("<br>", ": ")  # a two-line title, on one line
            data.append(
                {
                    **base,
                    "z": values.tolist(),
                    "zmin": 0.0,
                    "zmax": high,
                    "name": name,
                    "colorscale": CAM_COLORSCALE if kind == "cam" else SALIENCY_COLORSCALE,
                    "opacity": cam_opacity if kind == "cam" else 1.0,
                    "hovertemplate": f"{name} (x %{{x}}, y %{{y}}): %{{z:.3g}}<extra></extra>",
                }
            )
        annotations.append(label(row_titles[row], 0.0, y_domain[1], yshift=2, size=13, anchor="left"))
    layout.update(
        {
            "height": plot_height + top + 8,
            "margin": {"l": 4, "r": 4, "t": top, "b": 8},
            "annotations": annotations,
            "showlegend": False,
            "plot_bgcolor": "rgba(0,0,0,0)",
        }
    )
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
        {
            "type": "heatmap",
            "z": image.tolist(),
            "colorscale": INPUT_COLORSCALE,
            "zmin": 0.0,
            "zmax": 1.0,
            "showscale": False,
            "name": "input",
            "hovertemplate": "pixel (x %{x}, y %{y}): %{z:.2f}<extra></extra>",
        },
        {
            "type": "heatmap",
            "z": z,
            "colorscale": ACTIVATION_COLORSCALE,
            "zmin": 0.0,
            "zmax": high,
            "showscale": False,
            "xaxis": "x2",
            "yaxis": "y2",
            "name": title,
            "hovertemplate": "(x %{x}, y %{y}): %{z:.4f}<extra></extra>",
        },
    ]
    axis = {"visible": False, "fixedrange": True}
    frame = {"type": "rect", "line": {"color": MARK_COLOR, "width": 3}}
    return {
        "data": data,
        "layout": {
            "xaxis": {**axis, "domain": [0, 0.46]},
            "yaxis": {**axis, "autorange": "reversed", "scaleanchor": "x"},
            "xaxis2": {**axis, "domain": [0.54, 1], "range": [-0.5, output.shape[1] - 0.5]},
            # Fixed ranges: the rows not computed yet are empty, and must still take their room.
            "yaxis2": {**axis, "range": [output.shape[0] - 0.5, -0.5], "scaleanchor": "x2", "anchor": "x2"},
            "shapes": [
                {
                    **frame,
                    "xref": "x",
                    "yref": "y",
                    "x0": col - 0.5,
                    "x1": col + size - 0.5,
                    "y0": row - 0.5,
                    "y1": row + size - 0.5,
                },
                {
                    **frame,
                    "xref": "x2",
                    "yref": "y2",
                    "x0": col - 0.5,
                    "x1": col + 0.5,
                    "y0": row - 0.5,
                    "y1": row + 0.5,
                },
            ],
            "annotations": [
                label("the input, the filter's window on it", 0.23, 1.0, yshift=4, size=13, anchor="center"),
                label(title, 0.77, 1.0, yshift=4, size=13, anchor="center"),
            ],
            "height": 330,
            "margin": {"l": 4, "r": 4, "t": 28, "b": 4},
            "showlegend": False,
            "plot_bgcolor": "rgba(0,0,0,0)",
        },
    }
