"""What the models predict for the journey's images, and where each model goes wrong.

The class probabilities of the dense and the conv model side by side; a confusion matrix
per model whose cells, clicked, list those mistakes in a gallery; and for any of them, where
the model looked for the class it said and for the true one.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from convlab.data import CLASS_NAMES, Split
from convlab.explain import mistakes, normalise_rows
from convlab.figures.curves import confusion_figure, probabilities_figure
from convlab.figures.explanations import looked_figure
from convlab.models import PRESETS
from convlab.saliency import upsample

from .. import runs as runs_module
from .. import state
from ..charts import chart, chart_event, thumbnails
from ..resources import get_explainer, get_inspector, journey_activations, test_results
from ..runs import Run
from ..words import terms_markdown
from . import Page

GALLERY_PAGE = 24  # misclassified images shown at a time


def render(page: Page) -> None:
    split = page.split
    st.header("What the models predict")
    pictures = state.pictures(split)  # test images, or the page's drawing in the slot it was sent to
    lesson = [PRESETS["dense"].key(), PRESETS["conv"].key()]
    probabilities = {}
    for key in lesson + ([page.run.key] if page.run.key not in lesson else []):
        stored = runs_module.load(page.runs[key])
        if stored is not None:
            inspector = get_inspector(key, stored)
            activations = journey_activations(key, pictures.keys, inspector, pictures.pixels)
            probabilities[stored.spec.label()] = activations.probabilities
    titles = [
        name if label is None else f"#{index} · {CLASS_NAMES[label]}"
        for name, index, label in zip(pictures.names, pictures.indices, pictures.labels)
    ]
    chart(probabilities_figure(titles, probabilities), key="probabilities_chart")
    st.caption(
        "The journey's three images: each model's probability for every class. The true class is in each title"
        + ("; your drawing has none." if pictures.drawn is not None else ".")
    )
    mistakes_ui(page.runs, split)


def _pick_cell() -> None:
    event = chart_event("confusion_chart")  # a click on a cell: its true (y) and predicted (x) class
    if event and event.get("kind") == "click" and {event["click"]["x"], event["click"]["y"]} <= set(CLASS_NAMES):
        st.session_state["mistakes_true"] = CLASS_NAMES.index(event["click"]["y"])
        st.session_state["mistakes_predicted"] = CLASS_NAMES.index(event["click"]["x"])
        st.session_state["mistakes_page"] = 0


def mistakes_ui(runs: dict[str, Run], split: Split) -> None:
    st.header("Where each model goes wrong")
    if st.session_state.get("mistakes_model") not in runs:
        st.session_state["mistakes_model"] = PRESETS["conv"].key()
    left, right = st.columns(2, vertical_alignment="bottom")  # the toggle's words need half the width at 1024 px
    key = left.selectbox(
        "Model", list(runs), key="mistakes_model", persist_state=state.KEEP, format_func=lambda k: runs[k].label
    )
    normalised = right.toggle(
        "Fractions of each true class",
        key="confusion_normalise",
        persist_state=state.KEEP,
        help="Normalise the rows: each row (a true class) as fractions of that class's "
        "test images, so the rows compare even if the classes differ in size.",
    )
    stored = runs_module.load(runs[key])
    if stored is None:
        st.warning(runs_module.problem(key))
        return
    results = test_results(stored)  # kept beside the model (convlab.testset)
    predictions, counts = results.predictions, results.confusion
    accuracy = np.trace(counts) / counts.sum()
    chart(
        confusion_figure(normalise_rows(counts) if normalised else counts, normalised),
        key="confusion_chart",
        on_select=_pick_cell,
    )
    st.caption(
        f"{counts.sum() - np.trace(counts):,} of {counts.sum():,} test images misclassified "
        f"(accuracy {accuracy:.2%}). Click a cell to see those mistakes below."
    )
    choices = [None, *range(len(CLASS_NAMES))]
    any_class = lambda c: "any" if c is None else CLASS_NAMES[c]  # noqa: E731
    left, right = st.columns(2)
    true_class = left.selectbox(
        "True class", choices, key="mistakes_true", format_func=any_class, persist_state=state.KEEP
    )
    predicted = right.selectbox(
        "Predicted as", choices, key="mistakes_predicted", format_func=any_class, persist_state=state.KEEP
    )
    found = mistakes(split.labels, predictions, true_class, predicted)
    page = min(st.session_state.get("mistakes_page", 0), max((len(found) - 1) // GALLERY_PAGE, 0))
    shown = found[page * GALLERY_PAGE : (page + 1) * GALLERY_PAGE]
    st.markdown(
        f"**{len(found):,} mistakes** match"
        + (f"; showing {page * GALLERY_PAGE + 1}–{page * GALLERY_PAGE + len(shown)}" if len(found) else ".")
    )
    thumbnails(
        split.images,
        "mistake",
        [
            (int(index), f"#{index}: {CLASS_NAMES[split.labels[index]]} → {CLASS_NAMES[predictions[index]]}")
            for index in shown
        ],
        per_row=8,
        on_click=state.send_to_journey,
    )
    if len(shown):
        why_ui(stored, split, [int(i) for i in shown], predictions)
    back, forward = st.columns(2)
    back.button(
        "← previous",
        key="mistakes_previous",
        disabled=page == 0,
        on_click=st.session_state.__setitem__,
        args=("mistakes_page", page - 1),
    )
    forward.button(
        "next →",
        key="mistakes_next",
        disabled=(page + 1) * GALLERY_PAGE >= len(found),
        on_click=st.session_state.__setitem__,
        args=("mistakes_page", page + 1),
    )


def why_ui(stored, split: Split, shown: list[int], predictions: np.ndarray) -> None:
    """ "Why did it say Sandal?": where the model looked for the class it said, and for the true one."""
    with st.container(key="why", border=True):
        index = st.selectbox(
            "Why did the model say that? Pick one of these mistakes",
            shown,
            key="why_image",
            format_func=lambda i: f"#{i}: {CLASS_NAMES[split.labels[i]]}, said {CLASS_NAMES[predictions[i]]}",
        )
        said, truth = int(predictions[index]), int(split.labels[index])
        st.markdown(
            f"**Bright pixels would change the answer most if you changed them: compare what counted for "
            f"{CLASS_NAMES[said]}, the answer it gave, with what counted for {CLASS_NAMES[truth]}, the right "
            "one.**"
        )
        explainer = get_explainer(stored.spec.key(), stored)
        images = split.images[[index, index]]
        saliency = explainer.saliency(images, [said, truth])
        columns = [
            (f"{CLASS_NAMES[said]} (said)<br>pixels that matter", saliency[:1], "saliency"),
            (f"{CLASS_NAMES[truth]} (true)<br>pixels that matter", saliency[1:], "saliency"),
        ]
        side = None
        if stored.spec.conv_filters:
            cams = explainer.grad_cam(images, [said, truth])
            side = cams.shape[-1]
            cams = upsample(cams, 28)
            columns += [
                (f"{CLASS_NAMES[said]} (said)<br>evidence found", cams[:1], "cam"),
                (f"{CLASS_NAMES[truth]} (true)<br>evidence found", cams[1:], "cam"),
            ]
        chart(looked_figure(split.images[[index]], columns, [f"test #{index}"]), key="why_chart")
        st.markdown(terms_markdown(["saliency", "grad-cam"] if side else ["saliency"], side=side))
