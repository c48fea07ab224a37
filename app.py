"""ConvLab: the dashboard. Run with ``streamlit run app.py``.

This file only lays out widgets and calls ``convlab``; every computation lives there.
Each view is a ``*_ui`` function; only the open tab runs (lazy tabs), and the journey is a
fragment, so moving its sliders reruns only the journey. Widgets in tabs keep their values
while another tab is open (``persist_state``); the page's choices live in the URL.
"""

from __future__ import annotations

import streamlit as st

# The first paint: the title and a loading line go out before the imports below, which take a
# noticeable part of a second on a server's first run (AppTest also runs this file as __main__).
if __name__ == "__main__":
    st.set_page_config(page_title="ConvLab", page_icon="🔬", layout="wide", initial_sidebar_state="expanded")
    st.sidebar.title("🔬 ConvLab")
    LOADING = st.empty()
    LOADING.caption("⏳ Loading the Fashion-MNIST test images and the lesson's models…")

import base64
import functools
import gc
import importlib
import io
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import plotly
import streamlit.components.v1 as components

from convlab import urlstate
from convlab.activations import Activations, Inspector
from convlab.data import CLASS_NAMES, DataError, Split, first_of_class, load_split
from convlab.explain import (
    CLASSIC_KERNELS, class_mix, confusion_matrix, convolve, first_layer_kernels, mistakes, normalise_rows,
    strongest_images,
)
from convlab.figures import (
    ACTIVATION_COLORSCALE, Prebuilt, DIVERGING_COLORSCALE, SCALE_MODES, best_epoch, class_mix_figure, confusion_figure,
    PANEL, curves_figure, journey_figure, journey_panel, probabilities_figure, row_title, tiles_figure,
)
from convlab.images import MAX_UPLOAD_BYTES, ImageError, to_fashion_mnist
from convlab.jobs import DONE, FAILED, QUEUED, RUNNING, Job, TrainingQueue
from convlab.models import MAX_CONV_BLOCKS, MAX_EPOCHS, PRESETS, ModelSpec, count_params, layer_table
from convlab.store import ModelStore, StoredModel
from convlab.timing import timed

DEFAULT_IMAGES = (0, 23, 28)  # the lesson's three ankle boots
DEFAULT_FILTER = 1  # the lesson's CONVOLUTION_NUMBER
LABEL_TABLE_ROWS = 100  # the lesson prints the first 100 test labels
GALLERY_PAGE = 24  # misclassified images shown at a time
PLOT_CONFIG = {
    "displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2},
    # Nothing leaves the machine: no "Share chart…" / "Edit in Chart Studio" (Plotly's cloud).
    "showSendToCloud": False, "showEditInChartStudio": False,
    "modeBarButtonsToRemove": ["sendDataToCloud", "editInChartStudio"],
}
TABS = {  # URL slug -> tab label
    "journey": "🔍 Journey",
    "filters": "🧩 Filters",
    "predictions": "🎯 Predictions",
    "upload": "🖼️ Your image",
    "compare": "📊 Compare",
    "lab": "🧪 Lab",
}
KEEP = "page"  # persist_state: a widget keeps its value while its tab is closed


# -- the server's own per-run costs ---------------------------------------------------------
def _skip_keras_reset_after_each_run() -> None:
    """Stop Streamlit from calling ``keras.backend.clear_session()`` after every run.

    Streamlit (1.67, ``script_runner._clean_problem_modules``) does that whenever Keras is
    imported, for apps that build models in their script. ConvLab builds none there, and the
    call costs a full ``gc.collect()`` (~270 ms with TensorFlow loaded) plus TensorFlow's kernel
    caches after every slider move; it would also reset Keras' state under a training that is
    running in its own thread. matplotlib's clean-up, the other half, is kept.
    """
    from streamlit.runtime.scriptrunner import script_runner

    def clean_matplotlib_only() -> None:
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")

    if hasattr(script_runner, "_clean_problem_modules"):
        script_runner._clean_problem_modules = clean_matplotlib_only


_skip_keras_reset_after_each_run()


@st.cache_resource(show_spinner=False)
def _freeze_loaded_objects() -> bool:
    """Exempt what the first run loaded (TensorFlow, models, data) from garbage collection.

    ~440,000 long-lived objects make every full collection hold the interpreter for a quarter
    of a second; frozen once, collections only scan what later runs allocate. The one full
    collection this takes runs a moment later, off the script thread: it holds the interpreter
    too, and would otherwise delay sending the page it follows.
    """
    def collect_and_freeze() -> None:
        gc.collect()
        gc.freeze()

    threading.Timer(1.0, collect_and_freeze).start()
    return True


# -- cached resources: one per server process, shared by every session ----------------------
@st.cache_resource(show_spinner=False)
def get_store() -> ModelStore:
    return ModelStore()


@st.cache_resource(show_spinner=False)
def get_queue() -> TrainingQueue:
    return TrainingQueue(get_store(), _load_train_and_test)


@st.cache_resource(show_spinner="Loading the Fashion-MNIST test images…")
def get_test_split() -> Split:
    # cache_resource, not cache_data: cache_data would copy the 31 MB array on every rerun.
    # The arrays are made read-only so no session can change what the others see.
    split = load_split("test")
    split.images.flags.writeable = False
    split.labels.flags.writeable = False
    return split


@st.cache_resource(show_spinner=False)
def get_inspector(model_key: str, _stored: StoredModel) -> Inspector:
    return Inspector(_stored.model)


@st.cache_data(show_spinner=False, max_entries=256)
def journey_activations(model_key: str, indices: tuple[int, ...], _inspector: Inspector) -> Activations:
    # Keyed by model and images only: a filter change slices this result, it runs no model.
    return _inspector.run(get_test_split().images[list(indices)])


@st.cache_data(show_spinner="Running the model on all 10,000 test images…", max_entries=16)
def test_probabilities(model_key: str, _inspector: Inspector) -> np.ndarray:
    return _inspector.predict_probabilities(get_test_split().images)


@st.cache_resource(show_spinner="Finding each filter's strongest response in all 10,000 test images…", max_entries=8)
def test_max_activations(model_key: str, _inspector: Inspector) -> dict[str, np.ndarray]:
    # Batches of 250: conv1's maps for 1,000 images would hold 170 MB at once.
    return _inspector.max_activations(get_test_split().images, batch_size=250)


@st.cache_data(show_spinner=False)
def label_table(count: int) -> pd.DataFrame:
    split = get_test_split()
    thumbnails = [_png_data_url(split.images[i]) for i in range(count)]
    labels = split.labels[:count]
    return pd.DataFrame({
        "image": thumbnails,
        "index": np.arange(count),
        "label": labels,
        "class": [CLASS_NAMES[label] for label in labels],
    })


def _png_data_url(image: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray((np.asarray(image)[..., 0] * 255).astype(np.uint8)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _enlarge(image: np.ndarray, factor: int = 4) -> np.ndarray:
    """Nearest-neighbour upscaling: a browser would blur a 28-pixel image."""
    image = np.asarray(image).reshape(28, 28)
    return np.kron(image, np.ones((factor, factor), dtype=image.dtype))


def chart(figure: dict, key: str, **options) -> None:
    """Every chart goes through here: a prebuilt figure (see ``Prebuilt``) and the PNG export settings."""
    st.plotly_chart(Prebuilt(figure), config=PLOT_CONFIG, key=key, **options)


# The journey's chart is redrawn on every slider move. st.plotly_chart gives a chart whose data
# changed a new identity, so the page tears the old chart down and mounts a new one; this
# component (components/plotly_react) keeps one chart and hands it each figure through
# Plotly.react: from the chart's message to the heatmaps drawn took ~200 ms, now ~100 ms
# (bench/). It loads the plotly.js that the plotly package ships, served as a file-only component.
components.declare_component("plotly_js", path=str(Path(plotly.__file__).parent / "package_data"))
_plotly_react = components.declare_component(
    "plotly_react", path=str(Path(__file__).resolve().parent / "components" / "plotly_react")
)


def live_chart(figure: dict, key: str, fit: bool = False, on_change=None) -> None:
    """A chart that reruns update in place (for the journey); no selection events.

    With ``fit``, the chart reports the room it has as its value (``chart_room``), and in full
    screen the filter keys pressed on it; ``on_change`` is called when either changes.
    """
    _plotly_react(figure=figure, config=PLOT_CONFIG, fit=fit, key=key, default=None, on_change=on_change)


def chart_room(key: str) -> dict:
    """What a fitted live chart last reported: {width, height, fullscreen}, or {} before it has."""
    value = st.session_state.get(key)
    return value if isinstance(value, dict) else {}


def _loaded(runs: dict[str, dict], key: str) -> StoredModel | None:
    """The run's model; a lesson model whose files turn out damaged is trained again, here and now."""
    spec = ModelSpec.from_dict(runs[key]["spec"])
    stored = get_store().load(spec)  # a damaged file is set aside (store.problems says why)
    if stored is None and spec.preset_name() is not None:
        ensure_model(get_store(), spec.preset_name(), spec)
        stored = get_store().load(spec)
    return stored


# -- a server's first run: the page is drawn while TensorFlow loads ----------------------------
def start_importing_tensorflow() -> Future | None:
    """Import Keras (and so TensorFlow) in the background; None if it is already imported.

    Nothing app.py imports at the top loads TensorFlow (``convlab`` defers it), so on a server's
    first run the page can be drawn without a model (the journey shows its grid with the input
    images) while the import, about 4 s, goes on; then ``main`` reruns with the model. The
    browser meanwhile fetches and compiles plotly.js for the journey's chart, which the rerun
    then only updates. Code that needs Keras before the import ends simply waits for it.
    """
    if "keras" in sys.modules:
        return None
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="convlab-import-keras")
    imported = executor.submit(importlib.import_module, "keras")
    executor.shutdown(wait=False)  # the thread ends with the import
    return imported


def rerun_once_tensorflow_is_in(tensorflow_import: Future) -> None:
    """The first run's end: wait for the import, then rerun with the model (or say what broke)."""
    error = tensorflow_import.exception()
    if error is not None:  # a broken install: rerunning would only try again, and again
        st.error(
            f"**ConvLab can't import TensorFlow (Keras)**: `{type(error).__name__}: {error}`\n\n"
            "Install the versions it was built with, `pip install -r requirements.txt`, then reload the page."
        )
        st.stop()
    st.rerun()


# -- models: load, or train with a visible progress bar -------------------------------------
def _load_train_and_test() -> tuple[Split, Split]:
    return load_split("train"), get_test_split()


def ensure_models(store: ModelStore) -> None:
    """Every preset, checked in models/ or trained now through the queue, with progress bars.

    Only a look at the files: a model is loaded when a view needs it (the journey needs only
    the conv model), which keeps the first page quick; one found damaged then is trained again
    on the spot (``_loaded``).
    """
    for name, spec in PRESETS.items():
        if not store.has(spec) and store.load(spec) is None:  # load sets aside what is unusable
            ensure_model(store, name, spec)
        if spec.key() in store.problems:
            st.warning(store.problems[spec.key()])


def ensure_model(store: ModelStore, name: str, spec: ModelSpec) -> None:
    """Train one preset through the queue with a progress bar, saying first why its files were unusable.

    The bar lives here, outside any cached function, so a cache hit never replays it. Two
    sessions arriving together wait for the same training; a closed tab doesn't stop it.
    """
    if spec.key() in store.problems:
        st.warning(store.problems[spec.key()] + " Training it again now…")
    job = get_queue().submit(spec)
    bar = st.progress(0.0, text=f"The {name} model ({spec.describe()}) isn't in models/ yet: training it, once…")
    while job.active:
        bar.progress(job.fraction_done(), text=(
            f"Training the {name} model: epoch {min(job.epoch + 1, spec.epochs)} of {spec.epochs}, "
            f"batch {job.batch:,} of {job.batches_per_epoch:,}"
            + (f" · about {_duration(job.seconds_left())} left" if job.seconds_left() else "")
        ))
        time.sleep(0.5)
    bar.empty()
    if job.state != DONE:
        st.error(f"The {name} model could not be trained: {job.message}")
        st.stop()


def store_notes_ui(store: ModelStore, runs: dict[str, dict]) -> None:
    """Lab runs whose files were unusable and were set aside: said once per session, with the fix."""
    presets = {spec.key() for spec in PRESETS.values()}
    dismissed = st.session_state.setdefault("dismissed_store_notes", set())
    notes = {key: message for key, message in store.problems.items()
             if key not in presets and key not in runs and key not in dismissed}
    if notes:
        st.warning("**A lab run's files were unusable, so it is not in the model lists:**\n\n"
                   + "\n".join(f"- {message}" for message in notes.values())
                   + "\n\nTrain it again in the 🧪 Lab tab; the set-aside files stay in `models/corrupt/` for a look.")
        st.button("Dismiss", key="dismiss_store_notes", on_click=dismissed.update, args=(set(notes),))


# -- shared state: the three image slots, the filter, the URL ---------------------------------
def _send_to_journey(index: int) -> None:
    """Put a test image into the next slot and open the journey (the filter finder and gallery)."""
    slot = st.session_state.get("target_slot", 0)
    st.session_state[f"image_{slot}"] = int(index)
    st.session_state["target_slot"] = (slot + 1) % len(DEFAULT_IMAGES)  # three clicks fill three slots
    st.session_state["tab"] = TABS["journey"]


def current_images() -> list[int]:
    return [int(st.session_state.get(f"image_{slot}", default)) for slot, default in enumerate(DEFAULT_IMAGES)]


def apply_url_once(runs: dict[str, dict]) -> None:
    """On a session's first run, take the view the URL asks for; keep notes on what was refused."""
    if st.session_state.get("url_applied"):
        return
    st.session_state["url_applied"] = True

    def inspector_for(key: str) -> Inspector:
        return get_inspector(key, _loaded(runs, key))

    limits = urlstate.Limits(
        run_keys=tuple(runs), num_images=len(get_test_split()), tabs=tuple(TABS), scales=tuple(SCALE_MODES),
        filters_for=lambda key: inspector_for(key).num_filters,
        layers_for=lambda key: [layer.name for layer in inspector_for(key).layers],
    )
    state, notes = urlstate.parse(st.query_params.to_dict(), limits, default_model=PRESETS["conv"].key())
    for name, value in state.items():
        st.session_state[name] = TABS[value] if name == "tab" else value
    st.session_state["url_notes"] = notes


def sync_url() -> None:
    """Write the current view into the address bar, so copying it shares this exact view."""
    tab = st.session_state.get("open_tab") or next(
        (slug for slug, label in TABS.items() if label == st.session_state.get("tab")), "journey")
    wanted = urlstate.encode({
        "model": st.session_state.get("model"),
        **{f"image_{slot}": index for slot, index in enumerate(current_images())},
        "filter": st.session_state.get("filter"),
        "layer": st.session_state.get("layer"),
        "scale": st.session_state.get("scale"),
        "tab": tab,
    })
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)


def url_notes_ui() -> None:
    notes = st.session_state.get("url_notes")
    if notes:
        st.warning("**This link asked for things ConvLab can't show, so it adjusted them:**\n\n"
                   + "\n".join(f"- {note}" for note in notes))
        st.button("Dismiss", key="dismiss_url_notes", on_click=st.session_state.pop, args=("url_notes", None))


# -- the journey -----------------------------------------------------------------------------
def _fill_slots_with_class() -> None:
    class_index = st.session_state["fill_class"]
    if class_index is None:
        return
    for slot, index in enumerate(first_of_class(get_test_split().labels, class_index)):
        st.session_state[f"image_{slot}"] = index
    request_scroll(".st-key-journey_controls")  # the picker sits below the grid: show the grid


def _put_row_in_slot(table_key: str) -> None:
    rows = st.session_state[table_key].selection.rows
    if rows:
        _send_to_journey(int(rows[0]))
    # A click is an action, not a lasting choice: a fresh table (new key) clears the tick, so
    # clicking the same row again puts that image into the next slot too.
    st.session_state["label_table_version"] = st.session_state.get("label_table_version", 0) + 1


def _filter_from_box() -> None:
    # The box echoes the filter it was last shown. When the slider moved in the same request
    # (fast key presses), the box's value is that old echo, not a choice: keep the slider's.
    if st.session_state.get("filter") == st.session_state.get("filter_shown"):
        st.session_state["filter"] = int(st.session_state["filter_box"])


def image_controls_ui(split: Split, num_filters: int) -> tuple[list[int], int]:
    """Three image number boxes and the filter (slider and box); returns (image indices, filter index).

    Number boxes, not sliders, for the images: 10,000 images on a slider of a few hundred
    pixels can't be dragged to image 1 or 2; a box takes a typed number and steps by one.
    """
    for slot, default in enumerate(DEFAULT_IMAGES):
        st.session_state.setdefault(f"image_{slot}", default)
    st.session_state.setdefault("filter", min(DEFAULT_FILTER, num_filters - 1))
    st.session_state["filter"] = min(st.session_state["filter"], num_filters - 1)
    st.session_state["filter_max"] = num_filters - 1  # for the chart's full-screen keys
    st.session_state["filter_box"] = st.session_state["filter_shown"] = st.session_state["filter"]  # the box follows
    columns = st.container(key="journey_controls").columns([1, 1, 1, 2.6], vertical_alignment="bottom")
    indices = [
        columns[slot].number_input(
            f"Image {slot + 1} (test index)", 0, len(split) - 1, step=1, key=f"image_{slot}", persist_state=KEEP,
            help=f"A test image, 0–{len(split) - 1}: type its number, or step with − / + (↓ / ↑ in the box).",
        )
        for slot in range(len(DEFAULT_IMAGES))
    ]
    slider_column, box_column = columns[3].columns([2.4, 1], vertical_alignment="bottom")
    filter_index = slider_column.slider(
        "Filter number", 0, num_filters - 1, key="filter", persist_state=KEEP, help=FILTER_HELP,
    )
    box_column.number_input("Filter", 0, num_filters - 1, step=1, key="filter_box", on_change=_filter_from_box,
                            label_visibility="hidden", help=FILTER_HELP)
    return indices, filter_index


FILTER_HELP = (
    "Which filter of the conv layers to show (the lesson's CONVOLUTION_NUMBER, counted from 0). "
    "Keys, once the slider is clicked: ← / → step by one, Page Up / Page Down by a tenth of the range, "
    "Home / End to the first and last filter; in the box, ↓ / ↑. In full screen the same keys work on the chart."
)


def label_picker_ui() -> None:
    st.subheader("Pick images by label")
    st.caption(
        "The lesson prints the first 100 test labels so you can pick images of one class. "
        "Choose a class to fill all three slots, or click rows to fill the slots one by one."
    )
    left, right = st.columns([2, 1])
    left.selectbox(
        "Fill the three slots with the first three test images of class",
        [None, *range(len(CLASS_NAMES))], key="fill_class", on_change=_fill_slots_with_class, persist_state=KEEP,
        format_func=lambda c: "—" if c is None else f"{c} · {CLASS_NAMES[c]}",
    )
    st.session_state.setdefault("target_slot", 0)
    right.radio(
        "A clicked image goes into slot", range(len(DEFAULT_IMAGES)), key="target_slot", persist_state=KEEP,
        format_func=lambda slot: str(slot + 1), horizontal=True,
    )
    table_key = f"label_table_{st.session_state.get('label_table_version', 0)}"
    st.container(key="label_table").dataframe(
        label_table(LABEL_TABLE_ROWS), key=table_key, on_select=functools.partial(_put_row_in_slot, table_key),
        selection_mode="single-row", hide_index=True, height=300,
        column_config={
            "image": st.column_config.ImageColumn("image", width="small"),
            "index": st.column_config.NumberColumn("test index"),
            "label": st.column_config.NumberColumn("label"),
        },
    )


@st.fragment
def journey_ui(spec: ModelSpec, stored: StoredModel | None, split: Split) -> None:
    """The journey of ``spec``'s model; without ``stored`` (TensorFlow still loading) the grid holds the inputs."""
    with timed("journey"):  # a filter or image slider move reruns just this
        _journey(spec, stored, split)


def _journey(spec: ModelSpec, stored: StoredModel | None, split: Split) -> None:
    st.markdown("#### The journey of an image through the conv and pool layers")
    layers = spec.feature_layers()  # known from the spec alone, before any model is loaded
    if not layers:
        st.info(
            f"The model **{spec.label()}** has no conv or pool layers, so there is no journey "
            "to show: its first layer flattens the image. Choose a model with conv blocks in the sidebar."
        )
        return
    st.caption(
        "Pick three test images (type a number, or choose a class below), then step through the filters: "
        "each row follows one image, each column shows what a layer's filter makes of it. Filter *n* of "
        "conv2 is a different filter from filter *n* of conv1: the same number, another learned kernel."
    )
    indices, filter_index = image_controls_ui(split, max(filters for _, _, filters in layers))
    labels = [int(split.labels[i]) for i in indices]
    scale = st.session_state.get("scale", "panel")
    size = _journey_size(len(indices), 1 + len(layers), scale)
    if stored is None:
        live_chart(journey_figure(split.images[indices], [[None] * len(layers)] * len(indices), layers,
                                  [row_title(slot, i, labels[slot], None) for slot, i in enumerate(indices)],
                                  scale=scale, pending=True, **size),
                   key="journey_chart", fit=True, on_change=_journey_chart_event)
        st.caption("⏳ Loading TensorFlow and the model to compute the maps: a few seconds, once per server start.")
        return
    inspector = get_inspector(spec.key(), stored)
    activations = journey_activations(spec.key(), tuple(indices), inspector)
    live_chart(
        _journey_figure(inspector, activations, split.images[indices], filter_index, scale,
                        [row_title(slot, i, labels[slot], activations.probabilities[slot])
                         for slot, i in enumerate(indices)], labels, **size),
        key="journey_chart", fit=True, on_change=_journey_chart_event,
    )
    if len(set(labels)) > 1:
        st.warning(
            "These images don't share a label (" + ", ".join(CLASS_NAMES[label] for label in labels)
            + "). The lesson compares images of one class to see which features a filter picks up "
            "for that class; choose a class below to pick three."
        )
    else:
        st.caption(
            f"All three are **{CLASS_NAMES[labels[0]]}**. Filter {filter_index}; colour scale: "
            f"{SCALE_MODES[scale]} (inferno: dark = low, bright = high). Each map is smaller than the one "
            f"before it: a {spec.kernel_size}×{spec.kernel_size} convolution trims the edges, "
            f"a {spec.pool_size}×{spec.pool_size} max-pool divides the size by {spec.pool_size}."
        )
    sync_url()


def _journey_figure(inspector, activations, images, filter_index, scale, titles, labels, **size) -> dict:
    sides = [m.shape[1] for m in activations.maps]
    return journey_figure(
        images=images,
        maps=activations.filter_maps(filter_index),
        layers=list(zip(activations.layer_names, sides, inspector.filters_per_layer)),
        row_titles=titles,
        wrong=[int(p.argmax()) != label for p, label in zip(activations.probabilities, labels)],
        scale=scale,
        **size,
    )


FULL_SCREEN_FONT = 1.6  # text in full screen, legible from the back of a room


def _journey_size(rows: int, columns: int, scale: str) -> dict:
    """The panel size and font scale that fit the room the journey's chart reported."""
    room = chart_room("journey_chart")
    if not room.get("width") or not room.get("height"):
        return {}  # not reported yet (the first draw, AppTest): the default size
    fullscreen = bool(room.get("fullscreen"))
    font_scale = FULL_SCREEN_FONT if fullscreen else 1.0
    largest = 10_000 if fullscreen else PANEL
    panel = journey_panel(rows, columns, room["width"], room["height"], scale, font_scale, largest, fullscreen)
    size = {"panel": panel, "font_scale": font_scale}
    if fullscreen:  # the page's controls are out of sight: the chart says which filter it shows
        filter_index = int(st.session_state.get("filter", DEFAULT_FILTER))
        size["heading"] = (f"<b>Filter {filter_index}</b> of {st.session_state.get('filter_max', 0) + 1} · "
                           "← → to step, Page Up / Down, Home / End · Esc leaves full screen")
    return size


def _journey_chart_event() -> None:
    """A key pressed on the chart in full screen, where the slider can't be reached: as the slider would."""
    room = chart_room("journey_chart")
    if room.get("n") is None or room.get("n") == st.session_state.get("journey_keys_seen"):
        return  # a size report, or a key press already applied
    st.session_state["journey_keys_seen"] = room["n"]
    last = st.session_state.get("filter_max", 0)
    current = int(st.session_state.get("filter", DEFAULT_FILTER))
    page_step = max(1, round(last / 10))  # the slider's Page Up / Down: a tenth of the range
    steps = {"ArrowRight": 1, "ArrowUp": 1, "ArrowLeft": -1, "ArrowDown": -1, "PageUp": page_step, "PageDown": -page_step}
    key = room.get("key")
    wanted = 0 if key == "Home" else last if key == "End" else current + steps.get(key, 0)
    st.session_state["filter"] = min(max(wanted, 0), last)


# -- filters: every filter, the kernels, the strongest images --------------------------------
def _pick_tile() -> None:
    points = st.session_state["filters_chart"].selection.points
    if points:  # the click targets' point index is the filter number
        st.session_state["filter"] = int(points[0]["point_index"])


def _pick_filter_number() -> None:
    st.session_state["filter"] = int(st.session_state["filter_pick"])


def filters_ui(stored: StoredModel, split: Split) -> None:
    st.header("Every filter at once")
    inspector = get_inspector(stored.spec.key(), stored)
    if not inspector.layers:
        st.info(f"The model **{stored.spec.label()}** has no conv layers, so it has no filters to show.")
        return
    layer_names = [layer.name for layer in inspector.layers]
    if st.session_state.get("layer") not in layer_names:
        st.session_state["layer"] = layer_names[0]
    indices = current_images()
    left, middle, right = st.columns([2, 2, 1])
    slot = left.radio("Image", range(len(indices)), horizontal=True, key="filters_slot", persist_state=KEEP,
                      format_func=lambda s: f"slot {s + 1}: #{indices[s]} {CLASS_NAMES[split.labels[indices[s]]]}")
    layer_name = middle.radio("Layer", layer_names, horizontal=True, key="layer", persist_state=KEEP)
    layer_index = layer_names.index(layer_name)
    num_filters = inspector.filters_per_layer[layer_index]
    filter_index = min(int(st.session_state.get("filter", DEFAULT_FILTER)), num_filters - 1)
    st.session_state["filter_pick"] = filter_index
    right.number_input("Filter (the journey's)", 0, num_filters - 1, key="filter_pick", on_change=_pick_filter_number)
    index = indices[slot]
    maps = journey_activations(stored.spec.key(), tuple(indices), inspector).maps[layer_index][slot]
    scale = st.session_state.get("scale", "panel")
    shared = (0.0, float(maps.max())) if scale != "panel" else None
    chart(
        tiles_figure([maps[:, :, f] for f in range(num_filters)], [str(f) for f in range(num_filters)],
                     ACTIVATION_COLORSCALE, shared_range=shared, highlight=filter_index, clickable=True,
                     floor=0.0),  # ReLU'd maps: 0 is black, an all-zero tile says so
        key="filters_chart", on_select=_pick_tile, selection_mode="points",
    )
    st.caption(
        f"All {num_filters} maps of **{layer_name}** for test image #{index} "
        f"({CLASS_NAMES[split.labels[index]]}), {maps.shape[0]}×{maps.shape[1]} each; "
        f"filter {filter_index} (framed) is the one the journey shows. Click a tile to choose it. "
        + ("Each tile has its own colour scale." if shared is None else "All tiles share one colour scale.")
    )
    kernels_ui(stored, split.images[index], filter_index)
    finder_ui(stored, inspector, split, layer_name, filter_index)


def kernels_ui(stored: StoredModel, image: np.ndarray, filter_index: int) -> None:
    st.subheader("What the first layer learned, next to filters people design")
    kernels, biases = first_layer_kernels(stored.model)
    limit = float(np.abs(kernels).max()) or 1.0
    left, right = st.columns([3, 2])
    with left:
        chart(
            tiles_figure(list(kernels), [str(f) for f in range(len(kernels))], DIVERGING_COLORSCALE,
                         columns=8, tile_px=70, shared_range=(-limit, limit), zmid=0.0,
                         highlight=filter_index if filter_index < len(kernels) else None,
                         value_name="weight", colorbar_title="weight"),
            key="kernels_chart",
        )
        st.caption(
            f"conv1's {len(kernels)} learned 3×3 kernels, read from the model's weights. Red weights add "
            "brightness under them, blue subtract it, white ignore it: a kernel red on one side and blue on "
            "the other responds to an edge."
        )
    with right:
        pairs = [(f"learned {filter_index}", kernels[min(filter_index, len(kernels) - 1)])] + list(CLASSIC_KERNELS.items())
        tiles, titles = [], []
        for name, kernel in pairs:
            tiles += [kernel, convolve(image.reshape(28, 28), kernel)]
            titles += [name, "→ its response"]
        chart(
            # The learned kernel on the grid's scale, so it looks the same here as there; the
            # designed kernels and the responses each on their own (centred on 0).
            tiles_figure(tiles, titles, DIVERGING_COLORSCALE, columns=2, tile_px=120, zmid=0.0, value_name="value",
                         tile_ranges=[(-limit, limit)] + [None] * (len(tiles) - 1)),
            key="classic_chart",
        )
        st.caption(
            "Each kernel slid over the chosen image (before the bias and ReLU): the learned filter next to "
            "a vertical edge detector (Sobel), a horizontal one and a Laplacian, which outlines shapes."
        )


def finder_ui(stored: StoredModel, inspector: Inspector, split: Split, layer_name: str, filter_index: int) -> None:
    st.subheader(f"Which test images excite filter {filter_index} of {layer_name} most?")
    strengths = test_max_activations(stored.spec.key(), inspector)[layer_name]
    if filter_index >= strengths.shape[1]:
        st.info(f"{layer_name} has only {strengths.shape[1]} filters.")
        return
    top = strongest_images(strengths, filter_index, count=100)
    thumbnails_ui(split, "finder", [
        (int(index), f"#{index} {CLASS_NAMES[split.labels[index]]} · max {strengths[index, filter_index]:.2f}")
        for index in top[:9]
    ], per_row=9)
    mix = class_mix(split.labels, top)
    chart(class_mix_figure(mix, f"Classes of the 100 strongest images (out of {len(split):,})"), key="mix_chart")
    st.caption(
        "Ranked by the highest value anywhere in the filter's map: a filter fires on its feature wherever it "
        "appears. If most of the top 100 share a class, the filter has learned something typical of it."
    )


def thumbnails_ui(split: Split, name: str, entries: list[tuple[int, str]], per_row: int) -> None:
    """Test images in even rows, each with its caption and a "→ journey" button (keys ``<name>_<index>``).

    The container's CSS (``PAGE_CSS``) gives every caption the same height and the images sharp
    pixels, so thumbnails and buttons line up however the captions wrap.
    """
    with st.container(key=f"{name}_thumbnails"):
        for number, (index, caption) in enumerate(entries):
            if number % per_row == 0:  # a fresh row of columns per row of images
                columns = st.columns(per_row)
            column = columns[number % per_row]
            column.image(_enlarge(split.images[index], 3), clamp=True, caption=caption, width="stretch")
            column.button("→ journey", key=f"{name}_{index}", on_click=_send_to_journey, args=(index,),
                          help=f"Put test image #{index} into the journey's next slot", width="stretch")


# -- predictions and mistakes ----------------------------------------------------------------
def predictions_ui(runs: dict[str, dict], journey_key: str, split: Split) -> None:
    st.header("What the models predict")
    indices = current_images()
    keys = [PRESETS["dense"].key(), PRESETS["conv"].key()] + ([journey_key] if journey_key not in
                                                               (PRESETS["dense"].key(), PRESETS["conv"].key()) else [])
    probabilities = {}
    for key in keys:
        stored = _loaded(runs, key)
        if stored is not None:
            inspector = get_inspector(key, stored)
            probabilities[stored.spec.label()] = journey_activations(key, tuple(indices), inspector).probabilities
    titles = [f"#{i} · {CLASS_NAMES[split.labels[i]]}" for i in indices]
    chart(probabilities_figure(titles, probabilities), key="probabilities_chart")
    st.caption("The journey's three images: each model's probability for every class. The true class is in each title.")
    mistakes_ui(runs, split)


def _pick_cell() -> None:
    points = st.session_state["confusion_chart"].selection.points
    if points:
        st.session_state["mistakes_true"] = CLASS_NAMES.index(points[0]["y"])
        st.session_state["mistakes_predicted"] = CLASS_NAMES.index(points[0]["x"])
        st.session_state["mistakes_page"] = 0


def mistakes_ui(runs: dict[str, dict], split: Split) -> None:
    st.header("Where each model goes wrong")
    if st.session_state.get("mistakes_model") not in runs:
        st.session_state["mistakes_model"] = PRESETS["conv"].key()
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    key = left.selectbox("Model", list(runs), key="mistakes_model", persist_state=KEEP,
                         format_func=lambda k: _run_label(runs[k]))
    normalised = right.toggle("Normalise rows (fractions of each true class)", key="confusion_normalise",
                              persist_state=KEEP)
    stored = _loaded(runs, key)
    if stored is None:
        st.warning(get_store().problems.get(key, "This run's files could not be read."))
        return
    predictions = test_probabilities(key, get_inspector(key, stored)).argmax(axis=1)
    counts = confusion_matrix(split.labels, predictions)
    accuracy = np.trace(counts) / counts.sum()
    chart(confusion_figure(normalise_rows(counts) if normalised else counts, normalised),
          key="confusion_chart", on_select=_pick_cell, selection_mode="points")
    st.caption(f"{counts.sum() - np.trace(counts):,} of {counts.sum():,} test images misclassified "
               f"(accuracy {accuracy:.2%}). Click a cell to see those mistakes below.")
    choices = [None, *range(len(CLASS_NAMES))]
    any_class = lambda c: "any" if c is None else CLASS_NAMES[c]  # noqa: E731
    left, right = st.columns(2)
    true_class = left.selectbox("True class", choices, key="mistakes_true", format_func=any_class, persist_state=KEEP)
    predicted = right.selectbox("Predicted as", choices, key="mistakes_predicted", format_func=any_class,
                                persist_state=KEEP)
    found = mistakes(split.labels, predictions, true_class, predicted)
    page = min(st.session_state.get("mistakes_page", 0), max((len(found) - 1) // GALLERY_PAGE, 0))
    shown = found[page * GALLERY_PAGE:(page + 1) * GALLERY_PAGE]
    st.markdown(f"**{len(found):,} mistakes** match" + (f"; showing {page * GALLERY_PAGE + 1}–"
                f"{page * GALLERY_PAGE + len(shown)}" if len(found) else "."))
    thumbnails_ui(split, "mistake", [
        (int(index), f"#{index}: {CLASS_NAMES[split.labels[index]]} → {CLASS_NAMES[predictions[index]]}")
        for index in shown
    ], per_row=8)
    back, forward = st.columns(2)
    back.button("← previous", key="mistakes_previous", disabled=page == 0,
                on_click=st.session_state.__setitem__, args=("mistakes_page", page - 1))
    forward.button("next →", key="mistakes_next", disabled=(page + 1) * GALLERY_PAGE >= len(found),
                   on_click=st.session_state.__setitem__, args=("mistakes_page", page + 1))


# -- your own image ----------------------------------------------------------------------------
def upload_ui(runs: dict[str, dict], journey_key: str) -> None:
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
    stored = _loaded(runs, journey_key)
    if stored is None:
        st.warning(get_store().problems.get(journey_key, "This run's files could not be read."))
        return
    inspector = get_inspector(journey_key, stored)
    image = converted.image[np.newaxis, :, :, np.newaxis]
    activations = inspector.run(image)
    left, middle, right = st.columns([1, 1, 3])
    left.image(converted.original, caption="your image", width=180)
    middle.image(_enlarge(converted.image, 6), clamp=True, caption="as the model sees it (28×28)")
    middle.caption(" · ".join(converted.steps))
    probabilities = {}
    for key in (PRESETS["dense"].key(), PRESETS["conv"].key(), journey_key):
        model = _loaded(runs, key)
        if model is not None and model.spec.label() not in probabilities:
            probabilities[model.spec.label()] = get_inspector(key, model).run(image).probabilities
    with right:
        best = int(activations.probabilities[0].argmax())
        st.markdown(f"**{stored.spec.label()}** thinks it is a **{CLASS_NAMES[best]}** "
                    f"({activations.probabilities[0][best]:.0%}).")
        chart(probabilities_figure(["your image"], probabilities), key="upload_probs")
    if not inspector.layers:
        st.info(f"The model **{stored.spec.label()}** has no conv layers: no journey to show.")
        return
    filter_index = min(int(st.session_state.get("filter", DEFAULT_FILTER)), inspector.num_filters - 1)
    title = f"your image → predicted <b>{CLASS_NAMES[best]}</b> ({activations.probabilities[0][best]:.0%})"
    chart(
        _journey_figure(inspector, activations, converted.image[np.newaxis], filter_index,
                        st.session_state.get("scale", "panel"), [title], [best]),
        key="upload_journey",
    )
    st.caption(f"Its journey through **{stored.spec.label()}**, filter {filter_index} (set it in the journey tab).")


# -- comparing runs ----------------------------------------------------------------------------
def metrics_row(meta: dict) -> dict:
    metrics, spec = meta["metrics"], ModelSpec.from_dict(meta["spec"])
    epoch = best_epoch(meta["history"])
    return {
        "run": spec.label(),
        "train loss": metrics["train_loss"],
        "train accuracy": metrics["train_accuracy"],
        "test loss": metrics["test_loss"],
        "test accuracy": metrics["test_accuracy"],
        "best test accuracy": f"{meta['history']['test_accuracy'][epoch - 1]:.4f} (epoch {epoch})",
        "params": meta["params"],
        "epochs": meta["epochs_run"],
        "training time (s)": meta["seconds"],
    }


METRIC_COLUMNS = {
    **{column: st.column_config.NumberColumn(format="%.4f") for column in
       ("train loss", "train accuracy", "test loss", "test accuracy")},
    "params": st.column_config.NumberColumn(format="localized"),
    "training time (s)": st.column_config.NumberColumn(format="%.0f"),
}


RUN_COLUMN = {"run": st.column_config.TextColumn(width="large", pinned=True)}  # long names, kept in view


def compare_ui(runs: dict[str, dict]) -> None:
    st.header("Compare two runs")
    keys = list(runs)
    defaults = [PRESETS["dense"].key(), PRESETS["conv"].key()]
    columns = st.columns(2)
    picked = []
    for column, slot, default in zip(columns, ("compare_a", "compare_b"), defaults):
        if st.session_state.get(slot) not in runs:  # first visit, or the run was deleted
            st.session_state[slot] = default
        picked.append(column.selectbox(
            "Run " + slot[-1].upper(), keys, key=slot, persist_state=KEEP, format_func=lambda key: _run_label(runs[key]),
        ))
    metas = [runs[key] for key in picked]
    st.dataframe(pd.DataFrame([metrics_row(meta) for meta in metas]), hide_index=True,
                 column_config={**METRIC_COLUMNS, **RUN_COLUMN})
    chart(
        curves_figure({_run_label(meta): meta["history"] for meta in metas}),
        key="curves_chart",
    )
    st.caption(
        "Solid lines: training data (averaged over each epoch). Dashed: the 10,000 test images after "
        "each epoch. ★ marks each run's best test accuracy; when the training curve keeps improving "
        "after it while the test curve doesn't, the model is overfitting: learning the training images "
        "rather than clothes."
    )
    for column, meta in zip(st.columns(2), metas):
        column.subheader(_run_label(meta))
        column.dataframe(
            pd.DataFrame(meta["layers"]), hide_index=True,
            column_config={"params": st.column_config.NumberColumn(format="localized")},
        )
        versions = meta["versions"]
        column.caption(
            f"{meta['params']:,} parameters. Trained {meta['created']} on {meta['machine']} with "
            f"TensorFlow {versions['tensorflow']}, Keras {versions['keras']}, seed {meta['spec']['seed']}."
            + (f" {meta['stop_reason'].capitalize()}." if meta.get("stop_reason") else "")
        )


def _run_label(meta: dict) -> str:
    return ModelSpec.from_dict(meta["spec"]).label()


# -- the lab: build, train, keep ---------------------------------------------------------------
FILTER_CHOICES = (16, 32, 64, 128)
SAMPLE_CHOICES = (60_000, 10_000, 1_000)


def builder_ui() -> ModelSpec | None:
    """The variant builder; returns a valid spec, or None after saying what is wrong."""
    st.subheader("1 · Build a variant")
    left, middle, right = st.columns(3)
    blocks = left.radio(
        "Conv blocks (Conv2D + MaxPool)", range(MAX_CONV_BLOCKS + 1), index=2, horizontal=True, key="lab_blocks", persist_state=KEEP,
        help="0 is the lesson's dense baseline; 1 removes the second convolution; 3 adds one more.",
    )
    filters = tuple(
        left.select_slider(f"Filters in conv{block + 1}", FILTER_CHOICES, value=64, key=f"lab_filters_{block}", persist_state=KEEP)
        for block in range(blocks)
    )
    dense_units = middle.select_slider("Dense units", (32, 64, 128, 256, 512), value=128, key="lab_dense", persist_state=KEEP)
    epochs = middle.slider("Epochs", 1, MAX_EPOCHS, 5, key="lab_epochs", persist_state=KEEP,
                           help="Try 20 to see overfitting: training accuracy keeps rising, test accuracy doesn't.")
    batch_size = middle.select_slider("Batch size", (16, 32, 64, 128, 256), value=32, key="lab_batch", persist_state=KEEP)
    samples = right.selectbox(
        "Training images", SAMPLE_CHOICES, key="lab_samples", persist_state=KEEP, format_func=lambda n: f"{n:,}" + (
            " (all, as the lesson)" if n == 60_000 else " (quick)"),
    )
    seed = right.number_input("Seed", 0, 2**31 - 1, 42, key="lab_seed", persist_state=KEEP)
    rule = right.radio("Stop rule (the lesson's callback)", ("none", "loss below", "accuracy above"),
                       horizontal=True, key="lab_stop_kind", persist_state=KEEP)
    threshold = None
    if rule == "loss below":
        threshold = right.number_input("Stop once training loss <", 0.01, 5.0, 0.4, 0.05, key="lab_stop_loss", persist_state=KEEP)
    elif rule == "accuracy above":
        threshold = right.number_input("Stop once training accuracy >", 0.5, 0.99, 0.9, 0.01, key="lab_stop_accuracy", persist_state=KEEP)
    try:
        return ModelSpec(
            conv_filters=filters, dense_units=dense_units, epochs=epochs, batch_size=batch_size,
            seed=int(seed), train_samples=samples,
            stop_loss=threshold if rule == "loss below" else None,
            stop_accuracy=threshold if rule == "accuracy above" else None,
        )
    except ValueError as error:
        st.error(str(error))
        return None


def spec_preview_ui(spec: ModelSpec) -> None:
    rows = layer_table(spec)
    st.markdown(f"**{spec.label()}** · **{count_params(spec):,} parameters** (the lesson's conv model has 243,786)")
    st.dataframe(
        pd.DataFrame(rows), hide_index=True,
        column_config={"params": st.column_config.NumberColumn(format="localized")},
    )


def _submit(spec: ModelSpec) -> None:
    _remember(get_queue().submit(spec))
    request_scroll(".st-key-training_panel")  # the progress shows below the builder: bring it into view


def train_button_ui(spec: ModelSpec | None, runs: dict[str, dict]) -> None:
    st.subheader("2 · Train")
    if spec is None:
        st.button("Train", disabled=True, key="lab_train")
        return
    queue = get_queue()
    if spec.key() in runs:
        st.info("This exact variant is already trained: it is in the runs table below and in the journey's model list.")
        return
    existing = queue.find(spec.key())
    if existing is not None and existing.active:
        st.info("This variant is already being trained or waiting in the queue; its progress is shown below.")
        _remember(existing)
        return
    st.button("Train", type="primary", key="lab_train", on_click=_submit, args=(spec,))


def _remember(job: Job) -> None:
    mine = st.session_state.setdefault("my_jobs", [])
    if job.key not in mine:
        mine.insert(0, job.key)


def training_ui() -> None:
    """This session's trainings; polls once a second while any is queued or running."""
    queue = get_queue()
    jobs = [job for job in (queue.find(key) for key in st.session_state.get("my_jobs", [])) if job]
    if not jobs:
        return
    polling = any(job.active for job in jobs)
    st.fragment(run_every=1.0 if polling else None)(_jobs_panel)()


def _jobs_panel() -> None:
    if st.session_state.pop("rerun_app", False):  # a button here changed the page's model and tab
        st.rerun(scope="app")
    queue = get_queue()
    jobs = [job for job in (queue.find(key) for key in st.session_state.get("my_jobs", [])) if job]
    with st.container(key="training_panel"):
        for job in jobs[:3]:
            _job_ui(queue, job)
    was_active = st.session_state.get("jobs_active", False)
    now_active = any(job.active for job in jobs)
    st.session_state["jobs_active"] = now_active
    if was_active and not now_active:
        finished = next((job for job in jobs if job.state == DONE), None)
        if finished is not None:
            st.session_state["lab_run"] = finished.key  # the run picker shows the new run
        st.rerun(scope="app")  # a run finished: refresh the runs table, model lists and comparison


def _job_ui(queue: TrainingQueue, job: Job) -> None:
    label = job.spec.label()
    with st.container(border=True):
        if job.state == QUEUED:
            ahead = queue.position(job)
            st.markdown(f"**{label}** · waiting in the queue, {ahead} training{'s' if ahead != 1 else ''} ahead")
            st.button("Cancel", key=f"cancel_{job.key}", on_click=queue.stop, args=(job,))
        elif job.state == RUNNING:
            st.markdown(f"**{label}** · training" + (f" · {job.message}" if job.message else ""))
            total = job.spec.epochs
            st.progress(min(job.epoch / total, 1.0), text=f"Epoch {min(job.epoch + 1, total)} of {total}")
            running = job.running
            batch_text = f"Batch {job.batch:,} of {job.batches_per_epoch:,}" + (
                f" · loss {running['loss']:.3f} · accuracy {running['accuracy']:.3f}" if running else "")
            st.progress(job.batch / job.batches_per_epoch if job.batches_per_epoch else 0.0, text=batch_text)
            left = job.seconds_left()
            st.caption(f"Elapsed {_duration(job.elapsed())}" + (f" · about {_duration(left)} left" if left else ""))
            if job.history["train_loss"]:
                chart(curves_figure({label: job.history}, mark_best=False), key=f"live_{job.key}")
            if job.stop_event.is_set():
                st.caption("Stopping after the current batch…")
            else:
                st.button("Stop training", key=f"stop_{job.key}", on_click=queue.stop, args=(job,),
                          help="Ends after the current batch and keeps the epochs done so far as a usable model.")
        elif job.state == DONE:
            meta = job.stored.meta
            text = (f"**{label}** · trained in {_duration(meta['seconds'])}: test accuracy "
                    f"{meta['metrics']['test_accuracy']:.4f} after {_trained_for(meta)}.")
            if job.message:
                text += f" {job.message[0].upper() + job.message[1:]}."
            st.success(text)
            if not job.stored.saved:
                st.warning(get_store().problems.get(job.key, "This model could not be saved; it lives in memory."))
            # In this fragment a callback reruns only the fragment: the panel asks for a whole rerun.
            st.button("Show in the journey", key=f"journey_{job.key}", on_click=_use_in_journey,
                      args=(job.key, True))
        elif job.state == FAILED:
            st.error(f"**{label}** · {job.message}")
        else:
            st.info(f"**{label}** · {job.message}")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def _trained_for(meta: dict) -> str:
    """'3 epochs', '1 epoch', or '2 full epochs and part of epoch 3' for a run stopped by request."""
    epochs = meta["epochs_run"]
    if meta.get("stopped_by_request"):
        full = epochs - 1
        done = f"{full} full epoch{'s' if full != 1 else ''} and " if full else ""
        return f"{done}part of epoch {epochs}"
    return f"{epochs} epoch{'s' if epochs != 1 else ''}"


def _use_in_journey(key: str, from_fragment: bool = False) -> None:
    """Make ``key`` the page's model and open the journey."""
    st.session_state["model"] = key
    st.session_state["tab"] = TABS["journey"]
    if from_fragment:
        st.session_state["rerun_app"] = True


def _delete_run(key: str, runs: dict[str, dict]) -> None:
    get_store().delete(ModelSpec.from_dict(runs[key]["spec"]))
    st.session_state.pop("confirm_delete", None)


def runs_ui(runs: dict[str, dict]) -> None:
    st.subheader("3 · Runs")
    rows = []
    for key, meta in runs.items():
        spec = ModelSpec.from_dict(meta["spec"])
        rows.append({
            **metrics_row(meta),
            "conv filters": "-".join(map(str, spec.conv_filters)) or "none",
            "dense": spec.dense_units,
            "epochs asked": spec.epochs,
            "stopped": meta.get("stop_reason") or "",
            "made": meta["created"].replace("T", " ")[:16],
            "saved": "yes" if meta.get("saved", True) else "memory only",
            "key": key,
        })
    st.dataframe(pd.DataFrame(rows), hide_index=True, column_config={**METRIC_COLUMNS, **RUN_COLUMN},
                 key="runs_table")
    keys = list(runs)
    pick, use, delete = st.columns([3, 1, 1], vertical_alignment="bottom")
    chosen = pick.selectbox("Run", keys, key="lab_run", persist_state=KEEP, format_func=lambda key: _run_label(runs[key]))
    use.button("Show in the journey", key="lab_use", on_click=_use_in_journey, args=(chosen,))
    is_preset = ModelSpec.from_dict(runs[chosen]["spec"]).preset_name() is not None
    if delete.button("Delete run", key="lab_delete", disabled=is_preset,
                     help="The lesson's two models can't be deleted." if is_preset else None):
        st.session_state["confirm_delete"] = chosen
    if st.session_state.get("confirm_delete") == chosen and not is_preset:
        st.warning(f"Delete **{_run_label(runs[chosen])}** and its files? This can't be undone.")
        st.button("Yes, delete it", key="lab_delete_confirm", on_click=_delete_run, args=(chosen, runs))


def lab_ui(runs: dict[str, dict]) -> None:
    st.header("Exercise lab: build, train and compare your own variants")
    st.caption(
        "The lesson's exercises, without editing code: change the filter counts, remove or add "
        "convolutions, train longer, or stop with a callback once loss or accuracy crosses a threshold. "
        "One training runs at a time on this machine; others wait in a queue."
    )
    spec = builder_ui()
    if spec is not None:
        spec_preview_ui(spec)
    train_button_ui(spec, runs)
    training_ui()
    runs_ui(runs)


# -- the page ----------------------------------------------------------------------------------
# Less empty space above the tabs (Streamlit's default is 6rem), so the journey's controls and
# its three rows fit a 1280×720 laptop screen.
PAGE_CSS = """<style>
[data-testid="stMainBlockContainer"] { padding-top: 2.6rem; padding-bottom: 3rem; }
[class*="st-key-script_"] { display: none; }
[class*="_thumbnails"] img { image-rendering: pixelated; }
[class*="_thumbnails"] [data-testid="stImageCaption"] { min-height: 4.2em; }
</style>"""
NARROW_SCREEN = 1100  # px: below this the sidebar starts collapsed (a 1024×768 projector)
# Once per browser tab: a narrow window starts with the sidebar out of the way (Streamlit's own
# "auto" collapses it only on phones).
COLLAPSE_SIDEBAR_JS = f"""
if (window.innerWidth < {NARROW_SCREEN} && !sessionStorage.getItem("convlab-sidebar-checked")) {{
  let tries = 0;
  const timer = setInterval(() => {{
    const button = document.querySelector('[data-testid="stSidebar"] button[aria-label="Collapse sidebar"]');
    const open = document.querySelector('[data-testid="stSidebar"][data-collapsed="false"]');
    if ((button && open) || ++tries > 40) clearInterval(timer);
    if (button && open) {{ button.click(); sessionStorage.setItem("convlab-sidebar-checked", "1"); }}
  }}, 100);
}}
"""


def page_script(name: str, script: str) -> None:
    """Run ``script`` in the page itself (not in an iframe): scrolling, the sidebar.

    The script runs when its element is new: a script that must run again after an action
    carries that action's number (see ``scroll_into_view``).
    """
    with st.container(key=f"script_{name}"):
        st.html(f"<script>{script}</script>", unsafe_allow_javascript=True)


def request_scroll(selector: str) -> None:
    """Ask the next run to bring ``selector`` into view (after a choice that changes what it shows)."""
    st.session_state["scroll_to"] = (selector, st.session_state.get("scroll_to", (None, 0))[1] + 1)


def scroll_into_view() -> None:
    """Bring into view what ``request_scroll`` asked for, once, when the element is on the page."""
    request = st.session_state.pop("scroll_to", None)
    if request is None:
        return
    selector, number = request
    page_script("scroll", f"""/* scroll {number} */
const wanted = {selector!r};
let tries = 0;
const timer = setInterval(() => {{
  const element = document.querySelector(wanted);
  if (element || ++tries > 50) clearInterval(timer);
  if (element) element.scrollIntoView({{behavior: "smooth", block: "start"}});
}}, 100);""")


def sidebar_ui(split: Split, runs: dict[str, dict]) -> str:
    """Returns the key of the run the journey and the filter views show."""
    st.sidebar.markdown(
        "See what a convolutional network sees. Based on the TensorFlow lesson "
        "*Improving computer vision accuracy using convolutions*, on Fashion-MNIST."
    )
    if st.session_state.get("model") not in runs:  # first visit, or the run was deleted
        st.session_state["model"] = PRESETS["conv"].key()
    key = st.sidebar.selectbox(
        "Model", list(runs), key="model", format_func=lambda key: _run_label(runs[key]),
        help="The lesson's two models, and every variant trained in the lab.",
    )
    if len(_run_label(runs[key])) > 26:  # the box cuts long names short
        st.sidebar.caption(_run_label(runs[key]))
    st.sidebar.radio("Colour scale of the maps", list(SCALE_MODES), key="scale", format_func=SCALE_MODES.get,
                     help="Per panel shows each map's own pattern best (the lesson's way); a shared scale "
                          "lets you compare how strongly layers or images respond.")
    st.sidebar.caption(f"Test images: {len(split):,} from `{split.source}`")
    st.sidebar.caption("The address bar holds this view: copy it to share exactly what you see.")
    return key


def _model_ready(stored: StoredModel | None) -> bool:
    """False, with a note in place of the view, while a server's first run waits for TensorFlow."""
    if stored is None:
        st.info("Loading TensorFlow and the model: a few seconds, once per server start.", icon="⏳")
    return stored is not None


def main() -> None:
    st.html(PAGE_CSS)
    loading = LOADING  # drawn at the top of this file, before the imports
    tensorflow_import = start_importing_tensorflow()
    try:
        split = get_test_split()
    except DataError as error:
        loading.empty()
        st.error("**ConvLab can't load the Fashion-MNIST images.**\n\n```\n" + str(error) + "\n```")
        st.stop()
    store = get_store()
    ensure_models(store)
    runs = {meta["key"]: meta for meta in store.list_metadata()}
    loading.empty()
    page_script("sidebar", COLLAPSE_SIDEBAR_JS)
    apply_url_once(runs)
    key = sidebar_ui(split, runs)
    url_notes_ui()
    stored = None
    if tensorflow_import is None:  # else this run draws without a model and reruns once Keras is in
        stored = _loaded(runs, key)
        if stored is None:  # a lab run's files were unusable (set aside): the lesson's model meanwhile
            st.warning(store.problems.get(key, "This run's files could not be read.")
                       + " Showing the lesson's conv model instead.")
            key = PRESETS["conv"].key()
            stored = _loaded(runs, key)
    store_notes_ui(store, runs)
    spec = ModelSpec.from_dict(runs[key]["spec"])
    tabs = dict(zip(TABS, st.tabs(list(TABS.values()), key="tab", on_change="rerun")))
    # The open tab, as the tabs report it (the "tab" state can still hold the one before).
    st.session_state["open_tab"] = next((slug for slug, tab in tabs.items() if tab.open), "journey")
    sync_url()  # now, not only at the end: a view's first visit can compute for seconds
    with tabs["journey"]:
        if tabs["journey"].open:
            journey_ui(spec, stored, split)
            label_picker_ui()  # outside the fragment: a slider move needn't redraw the table
    with tabs["filters"]:
        if tabs["filters"].open and _model_ready(stored):
            filters_ui(stored, split)
    with tabs["predictions"]:
        if tabs["predictions"].open and _model_ready(stored):
            predictions_ui(runs, key, split)
    with tabs["upload"]:
        if tabs["upload"].open and _model_ready(stored):
            upload_ui(runs, key)
    with tabs["compare"]:
        if tabs["compare"].open and _model_ready(stored):
            compare_ui(runs)
    with tabs["lab"]:
        if tabs["lab"].open and _model_ready(stored):
            lab_ui(runs)
    sync_url()
    scroll_into_view()
    if tensorflow_import is not None:
        rerun_once_tensorflow_is_in(tensorflow_import)
    _freeze_loaded_objects()


if __name__ == "__main__":
    with timed("script"):
        main()
