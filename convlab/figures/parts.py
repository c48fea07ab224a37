"""Small pieces several figures share: a text label in paper coordinates, NaN cells as JSON's null."""

from __future__ import annotations

import numpy as np


def nulls(z: np.ndarray) -> list:
    """``z`` as nested lists, its NaN cells None (JSON has no NaN; Plotly leaves them blank)."""
    cells = z.astype(object)
    cells[np.isnan(z)] = None
    return cells.tolist()


def label(text: str, x: float, y: float, yshift: int, size: int, anchor: str, color: str | None = None) -> dict:
    font = {"size": size, **({"color": color} if color else {})}
    return {
        "text": text,
        "x": x,
        "y": y,
        "xref": "paper",
        "yref": "paper",
        "yshift": yshift,
        "showarrow": False,
        "font": font,
        "xanchor": anchor,
        "yanchor": "bottom",
    }
