"""Helpers for driving app.py through Streamlit's AppTest (shared by the test_app*.py files)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

from convlab.figures.typed import unpack

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 120  # TensorFlow and a model load take far longer than AppTest's 3 s default


def open_tab(at, slug: str) -> AppTest:
    """Open view ``slug`` as a button asking for it would, and rerun (the run switches pages)."""
    at.session_state["tab"] = slug
    at.run()
    assert not at.exception, at.exception
    return at


def frame_with(at, column: str, without: str | None = None):
    """The one table on the page that has ``column`` (and not ``without``), as a DataFrame."""
    frames = [f.value for f in at.dataframe if column in f.value.columns and without not in f.value.columns]
    assert len(frames) == 1, [list(f.value.columns) for f in at.dataframe]
    return frames[0]


def journey_spec(at) -> dict:
    """The journey's figure, as sent to its chart component (``live_chart`` in ui/charts.py)."""
    return live_figure(at, "journey_chart")


def live_figure(at, key: str) -> dict:
    """The figure sent to the update-in-place chart component with widget key ``key``."""
    return live_args(at, key)["figure"]


def _chart_args(element) -> dict:
    """What ui/charts.py sent one chart component ({module, key, args}): its args, the figure's long arrays
    as nested lists again, as the browser's."""
    args = json.loads(element.proto.json or element.proto.mixed.json)["args"]
    return {**args, "figure": unpack(args["figure"])}


def charts_of(at, key: str) -> list[dict]:
    """The figures of the page's chart components whose key contains ``key`` (ui/charts.py's chart and live_chart)."""
    return [
        _chart_args(c)["figure"]
        for c in at.get("bidi_component")
        if c.proto.component_name == "plotly_react" and key in c.proto.id
    ]


def gallery_of(at, name: str) -> list[dict]:
    """The entries of the page's gallery ``<name>_thumbnails`` (ui/charts.py's thumbnails): {index, caption, src,
    alt, help} each. (A press on its buttons is the browser's: tests/test_browser.py presses one.)"""
    [gallery] = [
        c
        for c in at.get("bidi_component")
        if c.proto.component_name == "gallery" and c.proto.id.endswith(f"{name}_thumbnails")
    ]
    return json.loads(gallery.proto.json or gallery.proto.mixed.json)["entries"]


def live_args(at, key: str) -> dict:
    """Everything sent to the update-in-place chart component ``key`` (the figure, and the journey's ``scrub``)."""
    charts = [
        c for c in at.get("bidi_component") if c.proto.component_name == "plotly_react" and c.proto.id.endswith(key)
    ]  # an st.components.v2 component: its data is {module, key, args}
    assert len(charts) == 1, [c.proto.id for c in at.get("bidi_component")]
    return _chart_args(charts[0])


def heatmaps(at) -> list[np.ndarray]:
    """The journey's activation panels (the input column excluded), row by row."""
    return [np.array(trace["z"]) for trace in journey_spec(at)["data"] if trace["name"] != "input"]


def page_at(query: dict | None = None, clear_resources: bool = True) -> AppTest:
    """app.py's first page for a link with ``query`` (fresh caches), checked free of exceptions."""
    import streamlit as st

    if clear_resources:
        st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update(query or {})
    at.run()
    assert not at.exception, at.exception
    return at
