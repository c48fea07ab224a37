"""Where the model looked: saliency and Grad-CAM for the journey's three images.

The view opens with one plain sentence above the picture (``PLAIN``); the terms and their papers
follow below it (``ui.words``). Saliency is the gradient of a class's score with respect to each
input pixel: bright pixels are the ones that would change the score most (SmoothGrad averages it
over noisy copies, for a less speckled picture). Grad-CAM weighs the last conv layer's maps by how much the class's
score depends on each, and lays the result over the image: where the conv model found what it
counted as evidence. Both for the predicted class or any class chosen.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from convlab.data import CLASS_NAMES
from convlab.figures.explanations import looked_figure
from convlab.models import PRESETS
from convlab.portraits import check_weights
from convlab.saliency import upsample

from .. import runs as runs_module
from .. import state
from ..charts import chart
from ..resources import get_explainer, get_inspector, journey_activations
from ..words import terms_markdown
from . import Page

SMOOTH_SAMPLES = 25  # noisy copies per image for SmoothGrad: enough to calm the speckle, one batch
# What the picture shows, in one sentence a 15-year-old reads before anything else.
PLAIN = (
    "Bright pixels are the ones that would change the model's answer most if you changed them, and the "
    "coloured patches show where the conv model found its evidence."
)
SALIENCY_TITLE, CAM_TITLE = "pixels that matter most", "where it found evidence"


def render(page: Page) -> None:
    pictures = state.pictures(page.split)  # test images, or the page's drawing in the slot it was sent to
    st.header("Where the model looked")
    st.markdown(f"**{PLAIN}**")
    left, middle, right = st.columns([2, 2, 1], vertical_alignment="bottom")
    chosen = left.selectbox(
        "For which class",
        [None, *range(len(CLASS_NAMES))],
        key="looked_class",
        persist_state=state.KEEP,
        format_func=lambda c: "the class each model predicts" if c is None else f"{c} · {CLASS_NAMES[c]}",
        help="The pictures explain one class: the one each model predicts, or any other (why not a Shirt?).",
    )
    smooth = middle.toggle(
        "Smoother (SmoothGrad)",
        key="looked_smooth",
        persist_state=state.KEEP,
        help=f"Averages the bright pixels over {SMOOTH_SAMPLES} slightly noisy copies of each "
        "image: less speckle, the same story.",
    )
    titles = [
        f"Image {slot + 1} · {name}" + ("" if label is None else f" · {CLASS_NAMES[label]}")
        for slot, (name, label) in enumerate(zip(pictures.names, pictures.labels))
    ]
    explain_ui(page, pictures.pixels, titles, chosen, smooth, key="looked_chart", keys=pictures.keys)


def explain_ui(page: Page, images, titles: list[str], chosen: int | None, smooth: bool, key: str, keys=None) -> None:
    """Saliency for the dense and the conv model and the conv model's Grad-CAM of ``images`` (n × 28 × 28, or
    n × 28 × 28 × 1), one row each headed by ``titles``, for class ``chosen`` or each model's prediction; the words
    below. ``keys``: the images' ``ui.state.Pictures.keys``, when they are the journey's (their predictions are
    at hand)."""
    dense = runs_module.load(page.runs[PRESETS["dense"].key()])
    conv = page.stored if page.stored.spec.conv_filters else runs_module.load(page.runs[PRESETS["conv"].key()])
    for stored in (model for model in (dense, conv) if model is not None):
        try:
            check_weights(stored.model, f"The model {stored.spec.label()}")
        except ValueError as error:  # a training that diverged: its gradients would be NaN too
            st.error(f"{error} Retrain it in the 🧪 Lab (or `python -m convlab train`).")
            return
    columns, notes = [], []
    for stored in (model for model in (dense, conv) if model is not None):
        classes = _classes(stored, images, chosen, keys)
        explainer = get_explainer(stored.spec.key(), stored)
        maps = explainer.saliency(images, classes, smooth=SMOOTH_SAMPLES if smooth else 0)
        columns.append((f"{stored.spec.label()}<br>{SALIENCY_TITLE}", maps, "saliency"))
        notes.append(f"**{stored.spec.label()}** explains " + ", ".join(CLASS_NAMES[c] for c in classes))
        if stored is conv:  # Grad-CAM needs conv maps: the conv model's, for the same classes
            cams = explainer.grad_cam(images, classes)
            side = cams.shape[-1]
            columns.append((f"{conv.spec.label()}<br>{CAM_TITLE}", upsample(cams, 28), "cam"))
    chart(looked_figure(images, columns, titles), key=key)
    st.markdown(
        " · ".join(notes) + ". Bright: that pixel changes the answer a lot; black: not at all. "
        "Patches: red where the conv model found the most evidence for the class, blue the least."
        + ("" if conv is not None else " The patches need a conv model, and the lesson's could not be loaded.")
    )
    terms = ["saliency", "grad-cam", "smoothgrad"] if conv is not None else ["saliency", "smoothgrad"]
    st.markdown(terms_markdown(terms, side=side if conv is not None else None, copies=SMOOTH_SAMPLES))


def _classes(stored, images, chosen: int | None, keys=None) -> list[int]:
    """The chosen class for every image, or each image's predicted class under this model."""
    if chosen is not None:
        return [chosen] * len(images)
    inspector = get_inspector(stored.spec.key(), stored)
    pixels = np.asarray(images).reshape(len(images), 28, 28, 1)
    if keys is not None:  # the journey's pictures: their answers are computed already
        probabilities = journey_activations(stored.spec.key(), tuple(keys), inspector, pixels).probabilities
    else:
        probabilities = inspector.run(pixels).probabilities
    return [int(p.argmax()) for p in probabilities]
