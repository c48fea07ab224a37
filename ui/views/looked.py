"""Where the model looked: saliency and Grad-CAM for the journey's three images.

Saliency is the gradient of a class's score with respect to each input pixel: bright pixels
are the ones that would change the score most (SmoothGrad averages it over noisy copies, for a
less speckled picture). Grad-CAM weighs the last conv layer's maps by how much the class's
score depends on each, and lays the result over the image: where the conv model found what it
counted as evidence. Both for the predicted class or any class chosen.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from convlab.data import CLASS_NAMES
from convlab.figures import looked_figure
from convlab.models import PRESETS
from convlab.portraits import check_weights
from convlab.saliency import upsample

from .. import runs as runs_module
from .. import state
from ..charts import chart
from ..resources import get_explainer, get_inspector, journey_activations
from . import Page

SMOOTH_SAMPLES = 25  # noisy copies per image for SmoothGrad: enough to calm the speckle, one batch


def render(page: Page) -> None:
    split, indices = page.split, state.images()
    st.header("Where the model looked")
    left, middle, right = st.columns([2, 2, 1], vertical_alignment="bottom")
    chosen = left.selectbox(
        "For which class", [None, *range(len(CLASS_NAMES))], key="looked_class", persist_state=state.KEEP,
        format_func=lambda c: "the class each model predicts" if c is None else f"{c} · {CLASS_NAMES[c]}",
        help="Saliency and Grad-CAM explain one class's score: the predicted one, or any other (why not a Shirt?).",
    )
    smooth = middle.toggle(f"SmoothGrad (average of {SMOOTH_SAMPLES} noisy copies)", key="looked_smooth",
                           persist_state=state.KEEP)
    dense = runs_module.load(page.runs[PRESETS["dense"].key()])
    conv = page.stored if page.stored.spec.conv_filters else runs_module.load(page.runs[PRESETS["conv"].key()])
    images = split.images[indices]
    for stored in (model for model in (dense, conv) if model is not None):
        try:
            check_weights(stored.model, f"The model {stored.spec.label()}")
        except ValueError as error:  # a training that diverged: its gradients would be NaN too
            st.error(f"{error} Retrain it in the 🧪 Lab (or `python -m convlab train`).")
            return
    columns, notes = [], []
    for stored in (model for model in (dense, conv) if model is not None):
        classes = _classes(stored, indices, chosen)
        explainer = get_explainer(stored.spec.key(), stored)
        maps = explainer.saliency(images, classes, smooth=SMOOTH_SAMPLES if smooth else 0)
        columns.append((f"{stored.spec.label()}: saliency", maps, "saliency"))
        notes.append(f"**{stored.spec.label()}** explains " + ", ".join(CLASS_NAMES[c] for c in classes))
        if stored is conv:  # Grad-CAM needs conv maps: the conv model's, for the same classes
            cams = explainer.grad_cam(images, classes)
            side = cams.shape[-1]
            columns.append((f"{conv.spec.label()}: Grad-CAM ({side}×{side})", upsample(cams, 28), "cam"))
    titles = [f"Image {slot + 1} · test #{i} · {CLASS_NAMES[split.labels[i]]}" for slot, i in enumerate(indices)]
    chart(looked_figure(images, columns, titles), key="looked_chart")
    about_cam = (f" Grad-CAM: red where the last conv layer's maps count most for the class, laid over the image. "
                 f"It is computed on a {side}×{side} map and stretched to 28×28, so it is coarse: it says roughly "
                 "where, never which pixel." if conv is not None else " Grad-CAM needs a conv layer: this page shows the "
                 "lesson's conv model's when the chosen model has none.")
    st.caption(" · ".join(notes) + ". Saliency: bright pixels change the class's score most (black: no effect)."
               + about_cam)


def _classes(stored, indices: list[int], chosen: int | None) -> list[int]:
    """The chosen class for every image, or each image's predicted class under this model."""
    if chosen is not None:
        return [chosen] * len(indices)
    probabilities = journey_activations(stored.spec.key(), tuple(indices), get_inspector(stored.spec.key(), stored)).probabilities
    return [int(p.argmax()) for p in probabilities]
