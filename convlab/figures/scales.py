"""The figures' colours, colour scales and colour-range rules.

Every colour is written as rgb(): Streamlit's Plotly theme swaps the hex colours #000001..#000040
for its own palette in the browser. The range rules (``floored_range``, ``shared_ranges``) are the
ones the browser's painter repeats (components/plotly_react; its painted colours are checked in Chromium,
tests/test_browser_access.py).
"""

from __future__ import annotations

import numpy as np
import plotly.colors


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
    columns = [
        [panel for panel in (row[column] for row in maps) if panel is not None] for column in range(len(maps[0]))
    ]
    highs = {column: float(max(np.max(p) for p in panels)) for column, panels in enumerate(columns) if panels}
    return ranges_of_highs(highs, scale)


def ranges_of_highs(highs: dict[int, float], scale: str) -> dict:
    """The colour ranges of ``scale`` from each layer column's highest value (the one rule: the server's
    figures, the packed maps' ``PackedMaps.ranges`` and, in JavaScript, the chart's painter all follow it)."""
    if scale == "panel":
        return {}
    if scale == "layer":
        return {column: floored_range(high) for column, high in highs.items()}
    return {"figure": floored_range(max(highs.values(), default=0.0))}


def floored_range(high: float, floor: float = 0.0) -> tuple[float, float]:
    """(floor, high), or (floor, floor + 1) when high <= floor: Plotly draws a flat range in the
    colour scale's middle, which for activations reads as "medium activation everywhere"."""
    return floor, (high if high > floor else floor + 1.0)


RUN_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


CAM_COLORSCALE = _rgb_scale(plotly.colors.sequential.Jet)  # Grad-CAM's customary rainbow


SALIENCY_COLORSCALE = _rgb_scale(plotly.colors.sequential.Hot)  # black = no effect, white = the most


SWEEP_COLOR = "rgb(31, 119, 180)"  # the variants: the first run colour, as rgb()


BEST_COLOR = "rgb(214, 39, 40)"  # the winner: red, a star, bigger, named by an annotation
