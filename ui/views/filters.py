"""Every filter at once: all maps of one layer, conv1's learned kernels, and the filter finder.

A tile clicked (or a number typed) sets the journey's filter; the kernels sit next to filters
people design (Sobel, Laplacian) applied to the same image; the finder ranks all test images
by how strongly they excite the chosen filter.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import streamlit as st

from convlab.activations import Inspector
from convlab.data import CLASS_NAMES, Split
from convlab.explain import CLASSIC_KERNELS, class_mix, convolve, first_layer_kernels, strongest_images
from convlab.figures.curves import class_mix_figure
from convlab.figures.tiles import KERNELS, MAPS, tiles_figure
from convlab.store import StoredModel

from .. import state
from ..charts import chart, chart_event, live_chart, thumbnails
from ..resources import get_inspector, journey_activations, test_results
from . import Page
from .journey import explanation_ui


def render(page: Page) -> None:
    stored, split = page.stored, page.split
    st.header("Every filter at once")
    inspector = get_inspector(stored.spec.key(), stored)
    if not inspector.layers:
        st.info(f"The model **{stored.spec.label()}** has no conv layers, so it has no filters to show.")
        return
    layer_names = [layer.name for layer in inspector.layers]
    state.choose_layer(layer_names)  # before its radio is drawn
    pictures = state.pictures(split)  # test images, or the page's drawing in the slot it was sent to
    left, middle, right = st.columns([2, 2, 1])
    slot = left.radio(
        "Image",
        range(len(pictures)),
        horizontal=True,
        key="filters_slot",
        persist_state=state.KEEP,
        format_func=lambda s: f"slot {s + 1}: " + _short_name(pictures, s),
    )
    layer_name = middle.radio("Layer", layer_names, horizontal=True, key=state.LAYER, persist_state=state.KEEP)
    layer_index = layer_names.index(layer_name)
    num_filters = inspector.filters_per_layer[layer_index]
    filter_index = state.filter_box(right, "filter_pick", num_filters)
    activations = journey_activations(stored.spec.key(), pictures.keys, inspector, pictures.pixels)
    maps = activations.maps[layer_index][slot]
    shared = (0.0, float(maps.max())) if state.current().scale != "panel" else None
    live_chart(  # updated in place; a click on any cell of a tile reports the tile and the cell
        tiles_figure(
            [maps[:, :, f] for f in range(num_filters)],
            [str(f) for f in range(num_filters)],
            MAPS,
            shared_range=shared,
            highlight=filter_index,
        ),
        key="filters_chart",
        clicks=True,
        on_change=functools.partial(_tile_clicked, slot, layer_name),
        title=f"Every filter's map of {layer_name}",
    )
    st.caption(
        f"All {num_filters} maps of **{layer_name}** for {_long_name(pictures, slot)}, "
        f"{maps.shape[0]}×{maps.shape[1]} each; "
        f"filter {filter_index} (framed) is the one the journey shows. Click a cell of a tile to choose that "
        "filter and see how the number is computed. "
        + ("Each tile has its own colour scale." if shared is None else "All tiles share one colour scale.")
    )
    cell = state.current().cell
    if cell and cell["slot"] == slot and cell["layer"] == layer_name:
        explanation_ui(cell, inspector, activations, pictures.pixels, pictures.names, filter_index)
    strongest = np.unravel_index(int(np.argmax(maps[:, :, filter_index])), maps.shape[:2])
    st.button(
        f"🔎 Explain filter {filter_index}'s strongest cell of this map, in the journey",
        key="explain_strongest",
        on_click=_explain_in_journey,
        args=(slot, layer_name, *map(int, strongest)),
        help="Opens the journey with that cell's number computed step by step (any cell there can be clicked).",
    )
    kernels_ui(stored, pictures.pixels[slot], filter_index)
    finder_ui(stored, inspector, split, layer_name, filter_index)


def _short_name(pictures: state.Pictures, slot: int) -> str:
    """'#23 Ankle boot', or 'your drawing'."""
    label = pictures.labels[slot]
    return pictures.names[slot] if label is None else f"#{pictures.indices[slot]} {CLASS_NAMES[label]}"


def _long_name(pictures: state.Pictures, slot: int) -> str:
    """'test image #23 (Ankle boot)', or 'your drawing'."""
    label = pictures.labels[slot]
    return pictures.names[slot] if label is None else f"test image #{pictures.indices[slot]} ({CLASS_NAMES[label]})"


def _explain_in_journey(slot: int, layer: str, row: int, col: int) -> None:
    state.explain_cell(slot, layer, row, col)
    state.open_tab("journey")


def _tile_clicked(slot: int, layer: str) -> None:
    """A cell of a tile clicked: that tile's filter becomes the page's, and the cell is explained."""
    event = chart_event("filters_chart")
    if event is None or event.get("kind") != "click":
        return
    click = event["click"]
    state.show_filter(click["panel"]["tile"])
    state.explain_cell(slot, layer, click["y"], click["x"])


def kernels_ui(stored: StoredModel, image: np.ndarray, filter_index: int) -> None:
    st.subheader("What the first layer learned, next to filters people design")
    kernels, biases = first_layer_kernels(stored.model)
    limit = float(np.abs(kernels).max()) or 1.0
    left, right = st.columns([3, 2])
    with left:
        chart(
            tiles_figure(
                list(kernels),
                [str(f) for f in range(len(kernels))],
                KERNELS.sized(columns=8, tile_px=70),
                shared_range=(-limit, limit),
                highlight=filter_index if filter_index < len(kernels) else None,
            ),
            key="kernels_chart",
        )
        st.caption(
            f"conv1's {len(kernels)} learned 3×3 kernels, read from the model's weights. Red weights add "
            "brightness under them, blue subtract it, white ignore it: a kernel red on one side and blue on "
            "the other responds to an edge."
        )
    with right:
        pairs = [(f"learned {filter_index}", kernels[min(filter_index, len(kernels) - 1)])] + list(
            CLASSIC_KERNELS.items()
        )
        tiles, titles = [], []
        for name, kernel in pairs:
            tiles += [kernel, convolve(image.reshape(28, 28), kernel)]
            titles += [name, "→ its response"]
        chart(
            # The learned kernel on the grid's scale, so it looks the same here as there; the
            # designed kernels and the responses each on their own (centred on 0).
            tiles_figure(
                tiles,
                titles,
                dataclasses.replace(KERNELS, columns=2, tile_px=120, value_name="value"),
                tile_ranges=[(-limit, limit)] + [None] * (len(tiles) - 1),
            ),
            key="classic_chart",
        )
        st.caption(
            "Each kernel slid over the chosen image (before the bias and ReLU): the learned filter next to "
            "a vertical edge detector (Sobel), a horizontal one and a Laplacian, which outlines shapes."
        )


def finder_ui(stored: StoredModel, inspector: Inspector, split: Split, layer_name: str, filter_index: int) -> None:
    st.subheader(f"Which test images excite filter {filter_index} of {layer_name} most?")
    strengths = test_results(stored).maxima[layer_name]  # kept beside the model (convlab.testset)
    if filter_index >= strengths.shape[1]:
        st.info(f"{layer_name} has only {strengths.shape[1]} filters.")
        return
    top = strongest_images(strengths, filter_index, count=100)
    thumbnails(
        split.images,
        "finder",
        [
            (int(index), f"#{index} {CLASS_NAMES[split.labels[index]]} · max {strengths[index, filter_index]:.2f}")
            for index in top[:9]
        ],
        per_row=9,
        on_click=state.send_to_journey,
    )
    mix = class_mix(split.labels, top)
    chart(class_mix_figure(mix, f"Classes of the 100 strongest images (out of {len(split):,})"), key="mix_chart")
    st.caption(
        "Ranked by the highest value anywhere in the filter's map: a filter fires on its feature wherever it "
        "appears. If most of the top 100 share a class, the filter has learned something typical of it."
    )
