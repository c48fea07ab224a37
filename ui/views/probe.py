"""Move the picture: the lesson's next step, "features aren't always in the same place".

Shift, turn or resize the journey's three images and watch their maps and the dense and conv
models' predictions change live; below, test accuracy against shift and rotation over all
10,000 test images, for the dense and the conv model side by side (measured once per model,
with a progress bar, and cached beside it).
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from convlab.data import CLASS_NAMES
from convlab.figures.curves import invariance_figure
from convlab.figures.scales import SCALE_MODES
from convlab.models import PRESETS
from convlab.timing import timed
from convlab.transforms import ROTATE_LIMIT, SCALE_LIMITS, SHIFT_LIMIT, Transform, apply

from .. import runs, state
from ..charts import chart, journey_grid
from ..resources import get_inspector, get_invariance_cache
from . import Page, draw

PROBE_PAD = "probe_pad"  # the hand's pad: its value is the transform where the hand stopped


def render(page: Page) -> None:
    st.header("Move the picture: are the features still found?")
    st.caption(
        "Fashion-MNIST's garments are always centred, upright and the same size, and the lesson ends by "
        "pointing out that features aren't always in the same place. Move the journey's three images and "
        "watch what the filters and the two kinds of model make of them."
    )
    transform_ui(page)
    invariance_ui(page)


@state.fragment
def transform_ui(page: Page) -> None:
    with timed("probe"):  # a slider move reruns just this
        _transform(page)


def _transform(page: Page) -> None:
    state.choose_transform()
    _take_hand()
    controls = st.container(key="probe_controls").columns([1, 1, 1, 1, 0.6, 0.8], vertical_alignment="bottom")
    controls[0].slider(
        "Shift right",
        -SHIFT_LIMIT,
        SHIFT_LIMIT,
        step=1,
        key=state.SHIFT_X,
        format="%d px",
        persist_state=state.KEEP,
        help="Negative moves the picture left; black comes in at the edge.",
    )
    controls[1].slider(
        "Shift down",
        -SHIFT_LIMIT,
        SHIFT_LIMIT,
        step=1,
        key=state.SHIFT_Y,
        format="%d px",
        persist_state=state.KEEP,
        help="Negative moves the picture up.",
    )
    controls[2].slider(
        "Turn",
        -ROTATE_LIMIT,
        ROTATE_LIMIT,
        step=1.0,
        key=state.ROTATE,
        format="%.0f°",
        persist_state=state.KEEP,
        help="Positive turns anticlockwise, about the picture's centre.",
    )
    controls[3].slider(
        "Zoom",
        *SCALE_LIMITS,
        step=0.05,
        key=state.ZOOM,
        format="%.2f×",
        persist_state=state.KEEP,
        help="Above 1 the garment grows about the centre, below 1 it shrinks.",
    )
    controls[4].button("Reset", key="probe_reset", on_click=state.reset_transform, width="stretch")
    transform = state.current().transform
    pictures = state.pictures(page.split)  # test images, or the page's drawing in the slot it was sent to
    hand_ui(page, pictures, transform)
    moved = apply(pictures.pixels[..., 0], transform)[..., np.newaxis]
    inspector = get_inspector(page.run.key, page.stored)
    activations = inspector.run(moved)
    _predictions_ui(page, moved, pictures, activations.probabilities)
    if not inspector.layers:
        st.info(f"**{page.run.label}** has no conv layers, so there are no maps to show; its predictions are above.")
        return
    filter_index = state.filter_box(controls[5], "probe_filter", inspector.num_filters, label="Filter")
    journey_grid(
        activations,
        moved,
        pictures,
        inspector.filters_per_layer,
        filter_index,
        scale=state.current().scale,
        panel=150,
        key="probe_chart",
        title="The moved images' journey through the conv and pool layers",
    )
    st.caption(
        f"The journey of the moved images ({transform.describe()}), filter {filter_index} of **{page.run.label}**; "
        f"colour scale: {SCALE_MODES[state.current().scale]}. A shift moves every map with the picture (a "
        "convolution finds a feature wherever it is), but the dense layers at the end learned *where* things "
        "were: that is why predictions change."
    )


def _comparison_models(page: Page) -> dict[str, tuple[str, object]]:
    """name -> (run key, stored model): the dense lesson model and a conv model (the page's if it is one)."""
    chosen = {}
    dense, conv = PRESETS["dense"].key(), PRESETS["conv"].key()
    conv_key = page.run.key if page.run.spec.conv_filters else conv
    for name, key in (("dense", dense), ("conv", conv_key)):
        run = page.runs.get(key)
        stored = page.stored if key == page.run.key else (runs.load(run) if run else None)
        if stored is not None:
            chosen[f"{name} ({run.label})" if key not in (dense, conv) else f"{name} (lesson)"] = (key, stored)
    return chosen


def hand_ui(page: Page, pictures: state.Pictures, transform: Transform) -> None:
    """The pictures moved by hand: the pad (in the browser) moves them, and their journey and both models'
    answers follow; where the hand stops, the sliders take the transform. Nothing without a browser model."""
    if not st.toggle(
        "✋ Move them by hand",
        key="probe_hand",
        persist_state=state.KEEP,
        help="Drag the picture, turn the wheel to zoom: its journey and both models' answers follow your hand, "
        "computed in your browser; the sliders take the move where you stop. Off until asked: the models load "
        "into the page first.",
    ):
        return
    try:
        entries = draw.model_entries(page)
    except ValueError as error:  # a model the browser can't rebuild: the sliders still move the pictures
        st.info(f"{error} The sliders still move the pictures.")
        return
    draw.pad_component()(
        **draw.pad_args(page),
        models=entries,
        mode="probe",
        images=[np.rint(pixels.reshape(-1) * 255).astype(int).tolist() for pixels in pictures.pixels],
        names=list(pictures.names),
        transform={
            "shift_x": transform.shift_x,
            "shift_y": transform.shift_y,
            "rotate": transform.rotate,
            "zoom": transform.scale,
        },
        title="The pictures moved by hand, and their journey",
        key=PROBE_PAD,
        default=None,
    )


def _take_hand() -> None:
    """Where the hand stopped on the pad becomes the sliders' transform (before the sliders are drawn)."""
    report = st.session_state.get(PROBE_PAD)
    if not isinstance(report, dict) or report.get("kind") != "transform":
        return
    if report.get("n") == st.session_state.get(f"{PROBE_PAD}_seen"):
        return
    st.session_state[f"{PROBE_PAD}_seen"] = report.get("n")
    try:
        moved = Transform(
            shift_x=int(report["shift_x"]),
            shift_y=int(report["shift_y"]),
            rotate=float(report["rotate"]),
            scale=float(report["zoom"]),
        )
    except (KeyError, TypeError, ValueError):  # not the pad's report
        return
    for key, value in (
        (state.SHIFT_X, moved.shift_x),
        (state.SHIFT_Y, moved.shift_y),
        (state.ROTATE, moved.rotate),
        (state.ZOOM, moved.scale),
    ):
        st.session_state[key] = value


def _predictions_ui(page: Page, moved: np.ndarray, pictures: state.Pictures, own: np.ndarray) -> None:
    """What each model predicts for each moved image, next to the image itself (``own``: the page model's); the
    drawing has no true class, so no ✓ or ✗."""
    probabilities = {
        name: own if key == page.run.key else get_inspector(key, stored).run(moved).probabilities
        for name, (key, stored) in _comparison_models(page).items()
    }
    columns = st.columns(len(pictures))
    for slot, column in enumerate(columns):
        label = pictures.labels[slot]
        name = pictures.names[slot] if label is None else f"#{pictures.indices[slot]} {CLASS_NAMES[label]}"
        with column.container(border=True):
            picture, words = st.columns([1, 3], vertical_alignment="center")
            picture.image(
                np.kron(moved[slot, :, :, 0], np.ones((3, 3))),
                clamp=True,
                width="stretch",
                alt=f"Image {slot + 1}, "
                + (name if label is None else f"test #{pictures.indices[slot]} ({CLASS_NAMES[label]})")
                + ", moved",
            )
            lines = [f"**Image {slot + 1}** · {name}"]
            for model, values in probabilities.items():
                predicted = int(values[slot].argmax())
                if label is None:
                    mark, true = "→", ""
                else:
                    mark = "✓" if predicted == label else "✗"
                    true = "" if predicted == label else f" · true class {values[slot][label]:.0%}"
                lines.append(f"{mark} {model}: **{CLASS_NAMES[predicted]}** {values[slot][predicted]:.0%}{true}")
            words.markdown("  \n".join(lines))


def invariance_ui(page: Page) -> None:
    st.subheader("Over all 10,000 test images: accuracy against shift and rotation")
    models = _comparison_models(page)
    cache = get_invariance_cache()
    found = {name: cache.peek(stored) for name, (_, stored) in models.items()}
    missing = [name for name, value in found.items() if value is None]
    if missing:
        st.caption(
            "Each model is measured once (every test image shifted −6…+6 pixels in x and in y, and turned "
            "−45…+45°), then kept beside the model: about half a minute for a conv model on 2 cores."
        )
        if not st.button(f"📏 Measure {' and '.join(missing)}", key="probe_measure", type="primary"):
            if len(missing) == len(found):
                return
        else:
            progress = st.progress(0.0, text="Shifting and turning the test images…")
            for number, name in enumerate(missing):
                _, stored = models[name]

                def report(done: int, total: int, number=number, name=name) -> None:
                    progress.progress(
                        (number + done / max(total, 1)) / len(missing),
                        text=f"Measuring {name}: {done} of {total} batches",
                    )

                found[name], note = cache.load_or_measure(stored, page.split, progress=report)
                if note:
                    st.caption(note)
            progress.empty()
    shown = {name: value for name, value in found.items() if value is not None}
    chart(invariance_figure(shown), key="invariance_chart")
    lines = []
    for name, value in shown.items():
        at = dict(zip(value.shifts, value.accuracy_shift_x))
        lines.append(
            f"**{name}**: {at.get(0, float('nan')):.1%} as trained, {at.get(4, float('nan')):.1%} with "
            f"every image 4 px to the right"
        )
    st.caption(
        " · ".join(lines) + ". Accuracy falls as the picture moves: the conv layers find the features "
        "anywhere, but the dense layers after them expect them where they were in training. The lesson "
        "leaves this for its next step; a common remedy is to train on moved copies of the images "
        "(data augmentation)."
    )
