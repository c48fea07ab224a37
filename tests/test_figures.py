"""Figure builders: colour-scale modes and tile grids, checked against the arrays they draw."""

from __future__ import annotations

import numpy as np
import pytest

from convlab.figures import journey_figure, tiles_figure


def grid(rows=3, sides=(26, 13, 11, 5)):
    rng = np.random.default_rng(1)
    maps = [[rng.random((s, s)) * (column + 1) for column, s in enumerate(sides)] for _ in range(rows)]
    layers = [(f"layer{c}", s, 8) for c, s in enumerate(sides)]
    return np.zeros((rows, 28, 28, 1)), maps, layers


def activation_traces(figure):
    return [t for t in figure["data"] if t["name"] != "input"]


def test_per_panel_scale_sets_no_shared_range():
    images, maps, layers = grid()
    figure = journey_figure(images, maps, layers, ["a", "b", "c"], scale="panel")
    assert all("zmin" not in t and not t["showscale"] for t in figure["data"])


def test_per_layer_scale_is_each_columns_min_and_max():
    images, maps, layers = grid()
    traces = activation_traces(journey_figure(images, maps, layers, ["a", "b", "c"], scale="layer"))
    for column in range(4):
        column_traces = traces[column::4]
        values = np.concatenate([maps[row][column].ravel() for row in range(3)])
        assert {(t["zmin"], t["zmax"]) for t in column_traces} == {(values.min(), values.max())}
    assert sum(t["showscale"] for t in traces) == 4  # one colour bar per layer


def test_whole_figure_scale_is_shared_by_every_activation_panel():
    images, maps, layers = grid()
    traces = activation_traces(journey_figure(images, maps, layers, ["a", "b", "c"], scale="figure"))
    values = np.concatenate([m.ravel() for row in maps for m in row])
    assert {(t["zmin"], t["zmax"]) for t in traces} == {(values.min(), values.max())}
    assert sum(t["showscale"] for t in traces) == 1


def test_unknown_scale_is_refused():
    images, maps, layers = grid()
    with pytest.raises(ValueError, match="scale"):
        journey_figure(images, maps, layers, ["a", "b", "c"], scale="log")


def test_pending_grid_draws_the_inputs_and_says_the_maps_are_loading():
    images, maps, layers = grid()
    images = np.random.default_rng(2).random((3, 28, 28, 1))
    figure = journey_figure(images, [[None] * 4] * 3, layers, ["a", "b", "c"], pending=True)
    assert [np.array(t["z"]).tolist() for t in figure["data"]] == [image.reshape(28, 28).tolist() for image in images]
    assert [a["text"] for a in figure["layout"]["annotations"]].count("loading…") == 12
    assert figure["layout"]["height"] == journey_figure(images, maps, layers, ["a", "b", "c"])["layout"]["height"]


def test_tiles_figure_draws_every_tile_and_frames_the_highlight():
    tiles = [np.full((3, 3), float(i)) for i in range(10)]
    figure = tiles_figure(tiles, [str(i) for i in range(10)], "RdBu_r", columns=4, highlight=6,
                          shared_range=(-1.0, 1.0), zmid=0.0)
    assert [t["z"][0][0] for t in figure["data"]] == list(range(10))
    assert all(t["zmid"] == 0.0 and (t["zmin"], t["zmax"]) == (-1.0, 1.0) for t in figure["data"])
    [frame] = figure["layout"]["shapes"]
    assert frame["xref"] == "x7 domain"  # the 7th tile is filter 6


def test_every_builder_makes_a_figure_plotly_accepts():
    """The app hands figures to Streamlit as Prebuilt (unvalidated), so validate each kind here."""
    import plotly.graph_objects as go

    from convlab.figures import (
        Prebuilt, class_mix_figure, confusion_figure, curves_figure, probabilities_figure,
    )

    images, maps, layers = grid()
    maps[0][3] = None  # a layer without the chosen filter
    history = {"train_loss": [1.0, 0.5], "train_accuracy": [0.6, 0.8], "test_loss": [1.1, 0.7],
               "test_accuracy": [0.55, 0.75]}
    figures = [
        *(journey_figure(images, maps, layers, ["a", "b", "c"], scale=s) for s in ("panel", "layer", "figure")),
        journey_figure(images, [[None] * 4] * 3, layers, ["a", "b", "c"], pending=True),
        tiles_figure([np.ones((3, 3))] * 5, list("abcde"), "RdBu_r", columns=2, highlight=1, clickable=True,
                     shared_range=(-1.0, 1.0), zmid=0.0),
        curves_figure({"dense": history, "conv": history}),
        probabilities_figure(["x", "y"], {"dense": np.full((2, 10), 0.1), "conv": np.full((2, 10), 0.1)}),
        confusion_figure(np.eye(10) * 5, normalised=False),
        class_mix_figure(np.arange(10), "mix"),
    ]
    for figure in figures:
        validated = go.Figure(figure).to_dict()
        assert len(validated["data"]) == len(figure["data"])
        assert Prebuilt(figure).to_dict() is figure
