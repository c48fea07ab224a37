"""Cached getters: what every session shares (one per server process) and what reruns reuse.

``cache_resource`` holds objects shared as they are (the store, the queue, the test images,
the models' inspectors); ``cache_data`` holds results a rerun would otherwise recompute
(activations and the journey's packed maps, the label table). What the views need over the whole
test set is computed once per model and kept beside it (``convlab.testset``); ``warm_up`` starts that,
and the other first-time costs of the views, in the background once a page is drawn.
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np
import pandas as pd
import streamlit as st

from convlab import background, mapcodec
from convlab.activations import Activations, Inspector
from convlab.data import CLASS_NAMES, Split, load_split
from convlab.jobs import TrainingQueue
from convlab.models import PRESETS
from convlab.portraits import PortraitCache
from convlab.replay import Replay
from convlab.saliency import Explainer
from convlab.store import ModelStore, ModelUnavailable, SnapshotsUnavailable, StoredModel
from convlab.testset import TestResults, TestSetCache
from convlab.timing import timed

from .charts import image_url, publish

WARM_UP_DELAY = 0.25  # seconds between a page's run and the background work: the browser draws the page first


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


def get_replay(model_key: str, created: str, stored: StoredModel) -> tuple[Replay | None, str | None]:
    """The run's replay, or None and why not. Keyed by creation time too: a run deleted and trained
    again has the same key and new snapshots. Snapshots that can't be read just now (memory) are
    said so and tried again on the next run, not remembered as missing."""
    try:
        return _replay(model_key, created, stored)
    except SnapshotsUnavailable as error:  # raised, so the cache below keeps nothing of it
        return None, str(error)


@st.cache_resource(show_spinner="Reading this run's snapshots…", max_entries=8)
def _replay(model_key: str, created: str, _stored: StoredModel) -> tuple[Replay | None, str | None]:
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


# A class's working set (each page's current pictures): a larger bound only held explorers' old pictures, growing the
# server for an hour (docs/performance.md, "Soak"); a miss costs one forward pass of three pictures.
@st.cache_data(show_spinner=False, max_entries=64)
def journey_activations(model_key: str, keys: tuple, _inspector: Inspector, _pixels: np.ndarray) -> Activations:
    """The model's activations of the journey's pictures ``_pixels`` (n × 28 × 28 × 1), cached by ``keys`` (one
    per picture, ``ui.state.Pictures.keys``: a test index, or a drawing's checksum, so a new drawing is computed)."""
    # Keyed by model and pictures only: a filter change slices this result, it runs no model.
    return _inspector.run(np.asarray(_pixels))


@st.cache_data(show_spinner=False, max_entries=64)
def _packed_maps(model_key: str, keys: tuple, _activations: Activations) -> bytes:
    return mapcodec.to_bytes(mapcodec.pack(_activations))


def journey_maps_file(model_key: str, keys: tuple, activations: Activations) -> str:
    """Every filter's maps of the journey's pictures (cached by their ``keys``), packed and served
    (``charts.publish``): its file name."""
    return publish(_packed_maps(model_key, keys, activations))


@st.cache_resource(show_spinner=False)
def get_testset_cache() -> TestSetCache:
    return TestSetCache(get_store().root)


@st.cache_resource(show_spinner=False)
def get_tour_cache():
    from convlab.tourcache import TourCache  # imports the tour's code, which a page without the tour never needs

    return TourCache(get_store().root)


def test_results(stored: StoredModel) -> TestResults:
    """The model's answers on all 10,000 test images (each map's maximum, probabilities, confusion counts):
    held, read from beside the model, or the background's work (``warm_up``) waited for with a progress line."""
    cache, split = get_testset_cache(), get_test_split()
    ready = cache.peek(stored, split)
    if ready is None:
        waiting = f"Running {stored.spec.label()} on all {len(split):,} test images, once for this model…"
        bar = st.progress(0.0, text=waiting)
        try:
            ready = cache.get(stored, split, progress=lambda share: bar.progress(share, text=waiting))
        finally:
            bar.empty()
    results, note = ready
    if note:
        st.warning(note)
    return results


@st.cache_resource(show_spinner=False)
def _warmed() -> set:
    """(model key, creation time) of the models whose background work was started: once per server process
    (a run trained again under the same key is another)."""
    return set()


def warm_up(stored: StoredModel | None, later=None) -> None:
    """Called at the end of a page's run: start, a moment later in the background (the browser draws the page
    first), what the views would otherwise do on their first visit, for the page's model and the lesson's two:
    run the test set through each (or read the results kept beside it: ``convlab.testset``), trace the
    explainers' gradients, and then ``later(conv, dense, queue=...)`` for the lesson's two models (app.py: the
    tour's filters, ``ui.tour.start``, which reads this module's resources). A view opened before that is done
    waits for that same work. Cheap on every later run: each model is started once per server process."""
    if stored is None:  # a server's first run, without TensorFlow: the run with the model starts it
        return
    warmed, models = _warmed(), {}
    for spec in [stored.spec, *PRESETS.values()]:
        # Loaded here, in the script's thread (the store's loads aren't meant to race); held after the first time.
        model = stored if spec == stored.spec else _load_or_none(spec)
        if model is not None and (spec.key(), model.meta.get("created")) not in warmed:
            warmed.add((spec.key(), model.meta.get("created")))
            models[spec.key()] = model
    if not models:
        return
    explainers = []
    for key, model in models.items():
        with contextlib.suppress(ValueError):  # a model saliency can't explain: its view says so
            explainers.append(get_explainer(key, model))
    inspectors = [get_inspector(key, model) for key, model in models.items()]
    then = []  # after the rest: the tour's filters (a teacher's tool; every view's first visit comes first)
    conv, dense = (models.get(PRESETS[name].key()) for name in ("conv", "dense"))
    if later is not None and conv is not None and dense is not None:
        later(conv, dense, queue=then)
    background.start(
        _warm,
        get_testset_cache(),
        get_test_split(),
        list(models.values()),
        inspectors,
        explainers,
        then,
        name="convlab-warm-up",
    )


def _load_or_none(spec) -> StoredModel | None:
    """The stored model, or None when it can't be loaded just now (its files are kept; a view says why)."""
    try:
        return get_store().load(spec)
    except ModelUnavailable:
        return None


def _warm(
    cache: TestSetCache,
    split: Split,
    models: list[StoredModel],
    inspectors: list[Inspector],
    explainers: list[Explainer],
    then: list,
) -> None:
    if background.stopping.wait(WARM_UP_DELAY):  # the process is exiting
        return
    for stored in models:
        with contextlib.suppress(Exception):  # the view that needs the results says what went wrong
            cache.get(stored, split)
    with timed("warm-up traces"):
        _trace(inspectors, explainers, split.images[:1])
    for job in then:
        background.check()
        job()  # records its own failure where it is waited for


def _trace(inspectors: list[Inspector], explainers: list[Explainer], images: np.ndarray) -> None:
    # A model's first call builds its graph (a tenth of a second), an explainer's first call traces its gradients
    # (a few tenths each): here, not on a visit.
    pieces = [
        (f"activations {inspector.model.name}", functools.partial(inspector.run, images)) for inspector in inspectors
    ]
    for explainer in explainers:
        pieces.append((f"saliency {explainer.model.name}", functools.partial(explainer.saliency, images, [0])))
        if explainer.conv_layers:
            pieces.append((f"grad-cam {explainer.model.name}", functools.partial(explainer.grad_cam, images, [0])))
    for name, piece in pieces:
        with contextlib.suppress(Exception), background.heavy, timed(f"warm-up {name}"):
            background.check()
            piece()


@st.cache_data(show_spinner=False)
def label_table(count: int) -> pd.DataFrame:
    """The first ``count`` test labels with thumbnails: the lesson's printout, as a table."""
    split = get_test_split()
    thumbnails = [image_url(split.images[i]) for i in range(count)]
    labels = split.labels[:count]
    return pd.DataFrame(
        {
            "image": thumbnails,
            "index": np.arange(count),
            "label": labels,
            "class": [CLASS_NAMES[label] for label in labels],
        }
    )
