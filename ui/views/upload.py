"""Your own image: an upload converted the Fashion-MNIST way, what the models make of it, its journey."""

from __future__ import annotations

import numpy as np
import streamlit as st

from convlab.data import CLASS_NAMES
from convlab.figures.curves import probabilities_figure
from convlab.figures.journey import JourneyStyle, journey_of
from convlab.images import MAX_UPLOAD_BYTES, ImageError, to_fashion_mnist
from convlab.models import PRESETS

from .. import runs as runs_module
from .. import state
from ..charts import chart, enlarge
from ..resources import get_inspector
from . import Page


def render(page: Page) -> None:
    st.header("Your own image")
    st.caption(
        "Upload a photo or drawing of one piece of clothing (PNG or JPEG, up to "
        f"{MAX_UPLOAD_BYTES // 2**20} MB). ConvLab converts it the Fashion-MNIST way: grey, a light object on a "
        "dark background (inverted if the background is light), cropped and fitted into 28×28."
    )
    upload = st.file_uploader("Image", type=["png", "jpg", "jpeg"], key="upload")
    if upload is None:
        return
    try:
        converted = to_fashion_mnist(upload.getvalue())
    except ImageError as error:
        st.error(str(error))
        return
    st.session_state["upload_pixels"] = converted.image  # the drawing pad can start from it (ui/views/draw.py)
    stored = page.stored
    inspector = get_inspector(page.run.key, stored)
    image = converted.image[np.newaxis, :, :, np.newaxis]
    activations = inspector.run(image)
    left, middle, right = st.columns([1, 1, 3])
    left.image(converted.original, caption="your image", width=180, alt="The picture you uploaded")
    middle.image(
        enlarge(converted.image, 6),
        clamp=True,
        caption="as the model sees it (28×28)",
        alt="Your picture as the model sees it: 28×28 grey pixels, light object on dark",
    )
    middle.caption(" · ".join(converted.steps))
    probabilities = {}
    for key in (PRESETS["dense"].key(), PRESETS["conv"].key(), page.run.key):
        model = runs_module.load(page.runs[key])
        if model is not None and model.spec.label() not in probabilities:
            probabilities[model.spec.label()] = get_inspector(key, model).run(image).probabilities
    with right:
        best = int(activations.probabilities[0].argmax())
        st.markdown(
            f"**{stored.spec.label()}** thinks it is a **{CLASS_NAMES[best]}** "
            f"({activations.probabilities[0][best]:.0%})."
        )
        chart(probabilities_figure(["your image"], probabilities), key="upload_probs")
    if not inspector.layers:
        st.info(f"The model **{stored.spec.label()}** has no conv layers: no journey to show.")
        return
    filter_index = picture_journey(inspector, activations, converted.image, "your image", key="upload_journey")
    st.caption(f"Its journey through **{stored.spec.label()}**, filter {filter_index} (set it in the journey tab).")


def picture_journey(inspector, activations, picture: np.ndarray, name: str, key: str) -> int:
    """One picture's journey (an upload, a drawing) through the page's model, titled with its prediction, at
    the page's filter; returns that filter."""
    best = int(activations.probabilities[0].argmax())
    filter_index = state.filter_within(inspector.num_filters)
    title = f"{name} → predicted <b>{CLASS_NAMES[best]}</b> ({activations.probabilities[0][best]:.0%})"
    style = JourneyStyle(scale=state.current().scale)
    figure = journey_of(
        activations, picture[np.newaxis], inspector.filters_per_layer, filter_index, [title], [best], style
    )
    chart(figure, key=key)
    return filter_index
