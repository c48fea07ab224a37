"""Small pieces several figures share: a text label in paper coordinates."""

from __future__ import annotations


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
