"""ConvLab: the dashboard. Run with ``streamlit run app.py``.

This file only lays out widgets and calls ``convlab``; every computation lives there.
Controls that drive the whole page sit in the sidebar; the journey's own controls sit beside
its grid, inside a fragment, so moving a slider reruns only that part of the page.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
import streamlit as st

from convlab.activations import Activations, Inspector
from convlab.data import CLASS_NAMES, DataError, Split, first_of_class, load_split
from convlab.figures import curves_figure, journey_figure, row_title
from convlab.models import PRESETS
from convlab.store import ModelStore, StoredModel
from convlab.training import EpochProgress

DEFAULT_IMAGES = (0, 23, 28)  # the lesson's three ankle boots
DEFAULT_FILTER = 1  # the lesson's CONVOLUTION_NUMBER
LABEL_TABLE_ROWS = 100  # the lesson prints the first 100 test labels
PLOT_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}


# -- cached resources: one per server process, shared by every session ----------------------
@st.cache_resource(show_spinner=False)
def get_store() -> ModelStore:
    return ModelStore()


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


# -- models: load, or train with a visible progress bar -------------------------------------
def _load_train_and_test() -> tuple[Split, Split]:
    return load_split("train"), get_test_split()


def ensure_models(store: ModelStore) -> dict[str, StoredModel]:
    """Every preset, loaded from models/ or trained now (progress bars live out here, not in a cache)."""
    loaded = {}
    for name, spec in PRESETS.items():
        stored = store.load(spec)
        if stored is None:
            if spec.key() in store.problems:
                st.warning(store.problems[spec.key()])
            bar = st.progress(0.0, text=f"Training the {name} model ({spec.describe()}); this happens once…")

            def report(done: int, total: int, logs: dict, bar=bar, name=name) -> None:
                bar.progress(done / total, text=(
                    f"Training the {name} model: epoch {done}/{total}, "
                    f"accuracy {logs['accuracy']:.3f}, test accuracy {logs['val_accuracy']:.3f}"
                ))

            stored = store.get_or_train(spec, _load_train_and_test, callbacks=[EpochProgress(report)])
            bar.empty()
        if spec.key() in store.problems:
            st.warning(store.problems[spec.key()])
        loaded[name] = stored
    return loaded


# -- sidebar --------------------------------------------------------------------------------
def sidebar_ui(split: Split) -> str:
    st.sidebar.title("🔬 ConvLab")
    st.sidebar.markdown(
        "See what a convolutional network sees. Based on the TensorFlow lesson "
        "*Improving computer vision accuracy using convolutions*, on Fashion-MNIST."
    )
    model_name = st.sidebar.radio(
        "Model for the journey", list(PRESETS), index=list(PRESETS).index("conv"),
        format_func=lambda name: f"{name}: {PRESETS[name].describe()}", key="model",
    )
    st.sidebar.caption(f"Test images: {len(split):,} from `{split.source}`")
    return model_name


# -- the journey -----------------------------------------------------------------------------
def _fill_slots_with_class() -> None:
    class_index = st.session_state["fill_class"]
    if class_index is None:
        return
    for slot, index in enumerate(first_of_class(get_test_split().labels, class_index)):
        st.session_state[f"image_{slot}"] = index


def _put_row_in_slot() -> None:
    rows = st.session_state["label_table"].selection.rows
    if not rows:
        return
    slot = st.session_state["target_slot"]
    st.session_state[f"image_{slot}"] = int(rows[0])
    st.session_state["target_slot"] = (slot + 1) % len(DEFAULT_IMAGES)  # three clicks fill three slots


def image_controls_ui(split: Split, num_filters: int) -> tuple[list[int], int]:
    """The three image sliders and the filter slider; returns (image indices, filter index)."""
    for slot, default in enumerate(DEFAULT_IMAGES):
        st.session_state.setdefault(f"image_{slot}", default)
    st.session_state.setdefault("filter", min(DEFAULT_FILTER, num_filters - 1))
    st.session_state["filter"] = min(st.session_state["filter"], num_filters - 1)
    columns = st.columns(4)
    indices = [
        columns[slot].slider(f"Image {slot + 1} (test index)", 0, len(split) - 1, key=f"image_{slot}")
        for slot in range(len(DEFAULT_IMAGES))
    ]
    filter_index = columns[3].slider(
        "Filter number", 0, num_filters - 1, key="filter",
        help="Which of the conv layers' filters to show (the lesson's CONVOLUTION_NUMBER, counted from 0).",
    )
    return indices, filter_index


def label_picker_ui(split: Split) -> None:
    st.subheader("Pick images by label")
    st.caption(
        "The lesson prints the first 100 test labels so you can pick images of one class. "
        "Choose a class to fill all three slots, or click rows to fill the slots one by one."
    )
    left, right = st.columns([2, 1])
    left.selectbox(
        "Fill the three slots with the first three test images of class",
        [None, *range(len(CLASS_NAMES))], key="fill_class", on_change=_fill_slots_with_class,
        format_func=lambda c: "—" if c is None else f"{c} · {CLASS_NAMES[c]}",
    )
    st.session_state.setdefault("target_slot", 0)
    right.radio(
        "A clicked row goes into slot", range(len(DEFAULT_IMAGES)), key="target_slot",
        format_func=lambda slot: str(slot + 1), horizontal=True,
    )
    st.dataframe(
        label_table(LABEL_TABLE_ROWS), key="label_table", on_select=_put_row_in_slot,
        selection_mode="single-row", hide_index=True, height=300,
        column_config={
            "image": st.column_config.ImageColumn("image", width="small"),
            "index": st.column_config.NumberColumn("test index"),
            "label": st.column_config.NumberColumn("label"),
        },
    )


@st.fragment
def journey_ui(model_name: str, stored: StoredModel, split: Split) -> None:
    st.header("The journey of an image through the conv and pool layers")
    inspector = get_inspector(stored.spec.key(), stored)
    if not inspector.layers:
        st.info(
            f"The {model_name} model has no conv or pool layers, so there is no journey to show: "
            "its first layer flattens the image. Choose the conv model in the sidebar."
        )
        return
    indices, filter_index = image_controls_ui(split, inspector.num_filters)
    activations = journey_activations(stored.spec.key(), tuple(indices), inspector)
    labels = [int(split.labels[i]) for i in indices]
    probabilities = activations.probabilities
    figure = journey_figure(
        images=split.images[indices],
        maps=activations.filter_maps(filter_index),
        layer_names=list(activations.layer_names),
        row_titles=[row_title(slot, i, labels[slot], probabilities[slot]) for slot, i in enumerate(indices)],
        wrong=[int(p.argmax()) != label for p, label in zip(probabilities, labels)],
    )
    st.plotly_chart(figure, config=PLOT_CONFIG, key="journey_chart")
    if len(set(labels)) > 1:
        st.warning(
            "These images don't share a label (" + ", ".join(CLASS_NAMES[label] for label in labels)
            + "). The lesson compares images of one class to see which features a filter picks up "
            "for that class; choose a class below to pick three."
        )
    else:
        st.caption(
            f"All three are **{CLASS_NAMES[labels[0]]}**. Filter {filter_index}, each panel coloured "
            "on its own scale (inferno: dark = low, bright = high). Each map is smaller than the one "
            "before it: a 3×3 convolution trims a pixel from every edge, a 2×2 max-pool halves the size."
        )
    label_picker_ui(split)


# -- dense vs conv ---------------------------------------------------------------------------
def comparison_ui(models: dict[str, StoredModel]) -> None:
    st.header("Dense vs conv")
    rows = []
    for name, stored in models.items():
        meta, metrics = stored.meta, stored.meta["metrics"]
        rows.append({
            "model": name,
            "architecture": meta["description"],
            "train loss": metrics["train_loss"],
            "train accuracy": metrics["train_accuracy"],
            "test loss": metrics["test_loss"],
            "test accuracy": metrics["test_accuracy"],
            "params": meta["params"],
            "epochs": meta["epochs_run"],
            "training time (s)": meta["seconds"],
        })
    st.dataframe(
        pd.DataFrame(rows), hide_index=True,
        column_config={
            **{column: st.column_config.NumberColumn(format="%.4f") for column in
               ("train loss", "train accuracy", "test loss", "test accuracy")},
            "params": st.column_config.NumberColumn(format="localized"),
            "training time (s)": st.column_config.NumberColumn(format="%.0f"),
        },
    )
    st.plotly_chart(
        curves_figure({name: stored.meta["history"] for name, stored in models.items()}),
        config=PLOT_CONFIG, key="curves_chart",
    )
    st.caption("Solid lines: training data (averaged over each epoch). Dashed: the 10,000 test images after each epoch.")
    columns = st.columns(len(models))
    for column, (name, stored) in zip(columns, models.items()):
        column.subheader(f"{name} layers")
        column.dataframe(
            pd.DataFrame(stored.meta["layers"]), hide_index=True,
            column_config={"params": st.column_config.NumberColumn(format="localized")},
        )
        versions = stored.meta["versions"]
        column.caption(
            f"{stored.meta['params']:,} parameters. Trained {stored.meta['created']} on {stored.meta['machine']} "
            f"with TensorFlow {versions['tensorflow']}, Keras {versions['keras']}, seed {stored.spec.seed}."
        )


def main() -> None:
    st.set_page_config(page_title="ConvLab", page_icon="🔬", layout="wide")
    try:
        split = get_test_split()
    except DataError as error:
        st.error("**ConvLab can't find its data.**\n\n```\n" + str(error) + "\n```")
        st.stop()
    model_name = sidebar_ui(split)
    try:
        models = ensure_models(get_store())
    except DataError as error:
        st.error("**A model needs training, but the training data can't be read.**\n\n```\n" + str(error) + "\n```")
        st.stop()
    journey_tab, compare_tab = st.tabs(["🔍 Journey", "📊 Dense vs conv"], key="tab")
    with journey_tab:
        journey_ui(model_name, models[model_name], split)
    with compare_tab:
        comparison_ui(models)


if __name__ == "__main__":
    main()
