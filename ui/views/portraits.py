"""What a filter wants to see: the input that excites each filter most, drawn by gradient ascent.

The view opens with one plain sentence above its pictures (``PLAIN``); the term, activation
maximisation, and its paper follow below (``ui.words``).

Every filter of a conv layer is drawn at once (one batch, from a grey image), cached on disk
beside the model; the chosen filter's portrait sits beside its kernel (conv1), the test images
that excite it most and their classes. A click on a portrait in the gallery chooses that filter.
"""

from __future__ import annotations

import streamlit as st

from convlab.data import CLASS_NAMES
from convlab.explain import class_mix, first_layer_kernels, strongest_images
from convlab.figures.curves import class_mix_figure
from convlab.figures.tiles import KERNELS, PICTURES, tiles_figure
from convlab.portraits import conv_layers

from .. import state
from ..charts import chart, chart_event, thumbnails
from ..resources import get_portrait_cache, test_results
from ..words import terms_markdown
from . import Page

# What the pictures are, in one sentence a 15-year-old reads before anything else.
PLAIN = (
    "Each picture here was made by the computer to make one filter fire as strongly as it can, so it shows "
    "the pattern that filter is looking for."
)


def render(page: Page) -> None:
    stored, split = page.stored, page.split
    st.header("What each filter wants to see")
    st.markdown(f"**{PLAIN}**")
    layers = [layer.name for layer in conv_layers(stored.model)]
    if not layers:
        st.info(
            f"The model **{stored.spec.label()}** has no conv layers, so it has no filters to portray. "
            "Choose a model with conv blocks in the sidebar; saliency (👀) works for every model."
        )
        return
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    layer = left.radio("Layer", layers, horizontal=True, key="portrait_layer", persist_state=state.KEEP)
    bar = st.progress(0.0, text=f"Drawing every {layer} filter's portrait, once for this model…")
    try:
        images, note = get_portrait_cache().load_or_make(
            stored,
            layer,
            progress=lambda done, total: bar.progress(
                done / total,
                text=(
                    f"Drawing every {layer} filter's portrait (gradient ascent, all at once): step {done} of {total}…"
                ),
            ),
        )
    except ValueError as error:  # NaN weights: nothing sensible to draw
        bar.empty()
        st.error(f"{error} Retrain the model in the 🧪 Lab (or `python -m convlab train`).")
        return
    bar.empty()
    if note:
        st.warning(note)
    num_filters = len(images)
    filter_index = state.filter_box(right, "portrait_pick", num_filters)
    portrait, kernel_column, mix = st.columns([2, 1.5, 3])
    with portrait:
        chart(
            tiles_figure(
                [images[filter_index]],
                [f"{layer}, filter {filter_index}"],
                PICTURES.sized(columns=1, tile_px=220),
                shared_range=(0.0, 1.0),
            ),
            key="portrait_chart",
        )
        st.caption("The picture that makes this filter fire hardest, grown step by step from a plain grey one.")
    with kernel_column:
        if layer == layers[0]:
            kernels, _ = first_layer_kernels(stored.model)
            limit = float(abs(kernels).max()) or 1.0
            chart(
                tiles_figure(
                    [kernels[filter_index]],
                    ["its 3×3 kernel"],
                    KERNELS.sized(columns=1, tile_px=120),
                    shared_range=(-limit, limit),
                ),
                key="portrait_kernel",
            )
        else:
            st.caption(
                f"A {layer} filter has a 3×3 kernel for each of the maps before it: its portrait shows what "
                "they add up to wanting."
            )
    top = strongest_images(test_results(stored).maxima[layer], filter_index, count=100)
    with mix:
        chart(
            class_mix_figure(class_mix(split.labels, top), f"Classes of the top 100 of {len(split):,} test images"),
            key="portrait_mix",
        )  # a title short enough for its third of a 1280 px page
    st.markdown("**The nine test images that excite it most**")
    thumbnails(
        split.images,
        "portrait",
        [(int(i), f"#{i} {CLASS_NAMES[split.labels[i]]}") for i in top[:9]],
        per_row=9,
        on_click=state.send_to_journey,
    )
    st.subheader(f"Every {layer} filter's portrait")
    chart(
        tiles_figure(
            list(images),
            [str(f) for f in range(num_filters)],
            PICTURES.sized(columns=8, tile_px=84),
            shared_range=(0.0, 1.0),
            highlight=filter_index,
            clickable=True,
        ),
        key="portraits_chart",
        on_select=_pick_tile,
    )
    st.caption(
        "Click a portrait to choose that filter. Each is grown from grey by small steps that make the "
        "filter's whole map brighter, with a pixel of jitter and a light blur now and then, so the pictures "
        "show patterns rather than pixel noise; drawn once per model and kept beside it in models/portraits/."
    )
    st.markdown(terms_markdown(["activation maximisation"]))


def _pick_tile() -> None:
    event = chart_event("portraits_chart")
    if event and event.get("kind") == "click":  # a portrait's cell (its tile), or its click target (the filter)
        click = event["click"]
        state.show_filter(click["panel"]["tile"] if click["panel"] else click["point"])
