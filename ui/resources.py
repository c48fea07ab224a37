"""Cached getters: what every session shares (one per server process) and what reruns reuse.

``cache_resource`` holds objects shared as they are (the store, the queue, the test images,
the models' inspectors); ``cache_data`` holds results a rerun would otherwise recompute
(activations and the journey's packed maps, predictions over the test set, the label table).
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
import streamlit as st

from convlab import mapcodec
from convlab.activations import Activations, Inspector
from convlab.data import CLASS_NAMES, Split, load_split
from convlab.jobs import TrainingQueue
from convlab.portraits import PortraitCache
from convlab.replay import Replay
from convlab.saliency import Explainer
from convlab.store import ModelStore, StoredModel

from .charts import publish


@st.cache_resource(show_spinner=False)
def get_store() -> ModelStore:
    return ModelStore()


@st.cache_resource(show_spinner=False)
def get_queue() -> TrainingQueue:
    # Trainings run off the server: in a worker process, or on Ray when $CONVLAB_RAY_ADDRESS is set.
    return TrainingQueue(get_store())


@st.cache_resource(show_spinner="Loading the Fashion-MNIST test images…")
def get_test_split() -> Split:
    # cache_resource, not cache_data: cache_data would copy the whole array on every rerun.
    # The arrays are made read-only so no session can change what the others see.
    split = load_split("test")
    split.images.flags.writeable = False
    split.labels.flags.writeable = False
    return split


@st.cache_resource(show_spinner=False)
def get_inspector(model_key: str, _stored: StoredModel) -> Inspector:
    return Inspector(_stored.model)


@st.cache_resource(show_spinner="Reading this run's snapshots…", max_entries=8)
def get_replay(model_key: str, created: str, _stored: StoredModel) -> tuple[Replay | None, str | None]:
    """The run's replay, or None and why not. Keyed by creation time too: a run deleted and trained
    again has the same key and new snapshots."""
    snapshots, problem = get_store().load_snapshots(_stored)
    if snapshots is None:
        return None, problem
    try:
        return Replay(_stored.spec, snapshots), None
    except ValueError as error:
        return None, f"This run's snapshots can't be replayed: {error}."


@st.cache_resource(show_spinner=False)
def get_invariance_cache():
    from convlab.invariance import InvarianceCache

    return InvarianceCache(get_store().root)


@st.cache_resource(show_spinner=False)
def get_portrait_cache() -> PortraitCache:
    return PortraitCache(get_store().root)


@st.cache_resource(show_spinner=False)
def get_explainer(model_key: str, _stored: StoredModel) -> Explainer:
    return Explainer(_stored.model)


@st.cache_data(show_spinner=False, max_entries=256)
def journey_activations(model_key: str, indices: tuple[int, ...], _inspector: Inspector) -> Activations:
    # Keyed by model and images only: a filter change slices this result, it runs no model.
    return _inspector.run(get_test_split().images[list(indices)])


@st.cache_data(show_spinner=False, max_entries=64)
def _packed_maps(model_key: str, indices: tuple[int, ...], _activations: Activations) -> bytes:
    return mapcodec.to_bytes(mapcodec.pack(_activations))


def journey_maps_file(model_key: str, indices: tuple[int, ...], activations: Activations) -> str:
    """Every filter's maps of the journey's images, packed and served (``charts.publish``): its file name."""
    return publish(_packed_maps(model_key, indices, activations))


@st.cache_data(show_spinner="Running the model on all 10,000 test images…", max_entries=16)
def test_probabilities(model_key: str, _inspector: Inspector) -> np.ndarray:
    return _inspector.predict_probabilities(get_test_split().images)


@st.cache_resource(show_spinner="Finding each filter's strongest response in all 10,000 test images…", max_entries=8)
def test_max_activations(model_key: str, _inspector: Inspector) -> dict[str, np.ndarray]:
    # In batches: the first conv layer's maps of the whole test set at once would be too large.
    return _inspector.max_activations(get_test_split().images, batch_size=250)


@st.cache_data(show_spinner=False)
def label_table(count: int) -> pd.DataFrame:
    """The first ``count`` test labels with thumbnails: the lesson's printout, as a table."""
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
