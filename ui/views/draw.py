"""Draw it yourself: a 28×28 pad whose journey through the page's model follows the pen (issue 23).

The pad (``components/drawpad``) runs the page's model and the other lesson model in the browser
with TensorFlow.js (``ui.modelroute``'s files), so drawing costs the server nothing; the picture comes
back when the pen lifts, and can then be sent to the journey as one of its three images (and so to every
view that shows them). Where the browser can't run the models, this view draws the picture's journey
and predictions itself each time the pen lifts.
"""

from __future__ import annotations

import numpy as np
import streamlit as st
import streamlit.components.v1 as components

from convlab.figures.curves import probabilities_figure
from convlab.figures.scales import PALETTE_COLORSCALES
from convlab.models import PRESETS
from convlab.urlstate import drawing_pixels, drawing_text

from .. import assets, classroom, modelroute, state
from .. import runs as runs_module
from ..charts import chart, palette
from ..resources import get_inspector
from . import Page, looked, upload

PAD = "drawpad"  # the component's key: its value is the pad's last report
START = "drawpad_start"  # the picture the pad starts from: {token, pixels, text}
REPORTED = "drawpad_reported"  # the pad's last picture (drawing_text), as the page took it
UPLOAD_PIXELS = "upload_pixels"  # the last upload, as the model sees it (ui/views/upload.py)


@st.cache_resource(show_spinner=False)
def pad_component():
    """The pad's component, declared in a run (see ui/charts.py); its page links its modules at today's version."""
    return components.declare_component("drawpad", path=str(assets.component_page_dir("drawpad")))


def render(page: Page) -> None:
    st.header("Draw it yourself")
    st.caption(
        "Draw a piece of clothing, light on dark as in Fashion-MNIST, and watch every layer answer as the pen "
        "moves: the chosen filter's map in each conv and pool layer, and what the two kinds of model think it "
        "is. The models run in your browser, so nothing waits for the server while you draw."
    )
    start_ui(page)
    if page.stored is None:
        st.info("⏳ Loading TensorFlow and the model: the pad appears in a moment.")
        return
    report = pad_ui(page)
    if report.get("error") or st.session_state.get("drawpad_on_server"):  # the pad's report keeps its error
        server_journey_ui(page)
    send_ui()
    looked_ui(page)


def start_ui(page: Page) -> None:
    """Start from a test image (any index, or one of the journey's) or from the last upload."""
    columns = st.columns([1.3, 0.7, 0.6, 0.6, 0.6, 1.6], vertical_alignment="bottom")
    last = len(page.split) - 1
    index = columns[0].number_input("Start from test image", 0, last, value=state.images()[0], step=1, key="pad_index")
    columns[1].button("Use it", key="pad_use_index", on_click=_start_from_test, args=(page, int(index)))
    for slot, journey_index in enumerate(state.images()):
        if slot == state.drawn_slot():  # that slot shows this pad's own drawing
            continue
        columns[2 + slot].button(
            f"#{journey_index}",
            key=f"pad_use_slot_{slot}",
            on_click=_start_from_test,
            args=(page, journey_index),
            help=f"Start from the journey's image {slot + 1}, test image #{journey_index}",
        )
    upload = st.session_state.get(UPLOAD_PIXELS)
    columns[5].button(
        "Start from my upload",
        key="pad_use_upload",
        disabled=upload is None,
        on_click=_start_from,
        args=(upload, "your upload"),
        help="Upload a picture in 🖼️ Your image first." if upload is None else "The picture you uploaded, 28×28.",
    )


def _start_from_test(page: Page, index: int) -> None:
    _start_from(page.split.images[index], f"test image #{index}")


def _start_from(pixels, name: str) -> None:
    if pixels is None:
        return
    bytes_ = np.clip(np.rint(np.asarray(pixels, dtype=np.float32).reshape(-1) * 255), 0, 255).astype(int)
    _start(drawing_text(bytes_))


def _start(text: str) -> None:
    """The pad starts from the picture ``text`` (drawing_text): a button, a link or the class's."""
    pixels = drawing_pixels(text)
    if pixels is None:
        return
    token = (st.session_state.get(START) or {}).get("token", 0) + 1
    st.session_state[START] = {"token": token, "pixels": pixels, "text": text}
    st.session_state[state.DRAWING] = text


def _take_report() -> None:
    """The pad's newest picture (the pen lifted) becomes the page's: its link, and a teacher's class, carry it."""
    report = st.session_state.get(PAD)
    pixels = report.get("pixels") if isinstance(report, dict) else None
    if report is None or report.get("n") == st.session_state.get(f"{PAD}_seen") or not isinstance(pixels, list):
        return
    st.session_state[f"{PAD}_seen"] = report.get("n")
    try:
        text = drawing_text(pixels)
    except ValueError:  # not the pad's report
        return
    classroom.detach()  # a following student's own drawing: the page explores on its own
    st.session_state[state.DRAWING] = st.session_state[REPORTED] = text


def _other_lesson_model(page: Page):
    """The other kind's lesson model: the dense one beside a model with conv layers, else the conv one."""
    kind = "dense" if page.stored.spec.feature_layers() else "conv"
    run = page.runs.get(PRESETS[kind].key())
    return runs_module.load(run) if run is not None else None


def pad_ui(page: Page) -> dict:
    """The pad, with the page's model and the other lesson model; returns its last report ({} before any)."""
    _take_report()
    shared = st.session_state.get(state.DRAWING)  # from a link, or the class: the pad starts from it
    if shared and shared not in (st.session_state.get(REPORTED), (st.session_state.get(START) or {}).get("text")):
        _start(shared)
    try:
        entries = model_entries(page)
    except ValueError as error:  # a model the browser can't rebuild: the server draws instead
        st.warning(f"{error} The journey below is drawn by the server each time you lift the pen.")
        st.session_state["drawpad_on_server"] = True
        entries = []
    pad_component()(
        **pad_args(page),
        models=entries,
        start=st.session_state.get(START),
        title="Drawing pad and its journey",
        key=PAD,
        default=None,
    )
    report = st.session_state.get(PAD)
    return report if isinstance(report, dict) else {}


def model_entries(page: Page) -> list[dict]:
    """The models the pad runs, the page's first: {label, urls}; ValueError for one the browser can't rebuild."""
    entries = []
    for model in (page.stored, _other_lesson_model(page)):
        if model is not None and all(entry["label"] != model.spec.label() for entry in entries):
            entries.append({"label": model.spec.label(), "urls": modelroute.model_urls(model)})
    return entries


def pad_args(page: Page) -> dict:
    """What the pad draws with, besides its models: the page's layers, filter and colour map."""
    layers = [list(layer) for layer in page.stored.spec.feature_layers()]
    return {
        "layers": layers,
        "filter": state.filter_within(max((layer[2] for layer in layers), default=1)),
        "colorscale": PALETTE_COLORSCALES[palette()],
    }


def send_ui() -> None:
    """Once there is a picture (the pen lifted): send it to the journey as image 1, 2 or 3."""
    if drawing_pixels(st.session_state.get(state.DRAWING)) is None:
        return
    with st.container(key="pad_send", horizontal=True, vertical_alignment="center", gap="small"):
        for slot in range(len(state.IMAGES)):
            st.button(
                f"Send to the journey as image {slot + 1}",
                key=f"pad_send_{slot}",
                on_click=state.send_drawing_to_journey,
                args=(slot,),
                help=f"The journey opens with your drawing as its image {slot + 1}, beside the other two; "
                "Predictions, Where it looked and the other views show it there too.",
            )
    st.caption(
        "The drawing as it was when the pen last lifted. In the journey, its row's box gives way to a button "
        "that brings the test image back."
    )


def looked_ui(page: Page) -> None:
    """Where the models looked in the drawing (as the 👀 view shows for the journey's images), when asked."""
    picture = drawing()
    if picture is None:
        return
    if st.toggle(
        "👀 Where did the models look in my drawing?",
        key="pad_looked",
        help="Saliency and Grad-CAM of the drawing as it was when the pen last lifted, as in 👀 Where it looked.",
    ):
        looked.explain_ui(page, picture[np.newaxis], ["your drawing"], None, False, key="pad_looked_chart")


def drawing() -> np.ndarray | None:
    """The pad's picture when the pen last lifted, 28×28 floats 0–1; None before the first stroke."""
    report = st.session_state.get(PAD)
    pixels = report.get("pixels") if isinstance(report, dict) else None
    if not isinstance(pixels, list) or len(pixels) != 28 * 28:
        return None
    return np.clip(np.asarray(pixels, dtype=np.float32), 0, 255).reshape(28, 28) / 255


def server_journey_ui(page: Page) -> None:
    """The picture's journey and predictions, computed here (Keras) when the pen lifts."""
    picture = drawing()
    if picture is None:
        st.caption("Draw on the pad: its journey appears here when you lift the pen.")
        return
    image = picture[np.newaxis, :, :, np.newaxis]
    inspector = get_inspector(page.run.key, page.stored)
    activations = inspector.run(image)
    probabilities = {page.stored.spec.label(): activations.probabilities}
    other = _other_lesson_model(page)
    if other is not None and other.spec.label() not in probabilities:
        probabilities[other.spec.label()] = get_inspector(other.spec.key(), other).run(image).probabilities
    chart(probabilities_figure(["your drawing"], probabilities), key="pad_probs")
    if inspector.layers:
        upload.picture_journey(inspector, activations, picture, "your drawing", key="pad_journey")
