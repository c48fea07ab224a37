"""The replay and the shift probe through AppTest, checked against Keras models and the transforms."""

from __future__ import annotations

import io
import shutil

import keras
import numpy as np
import pytest
from PIL import Image

from apptest_support import charts_of, live_figure, open_tab, page_at
from convlab.figures.tiles import tile_values
from convlab.models import PRESETS, build
from convlab.store import DEFAULT_ROOT, ModelStore
from convlab.transforms import Transform, apply

JOURNEY = [0, 23, 28]


@pytest.fixture(scope="module")
def shipped_snapshots():
    store = ModelStore(DEFAULT_ROOT)
    stored = store.load(PRESETS["conv"])
    found, problem = store.load_snapshots(stored)
    assert problem is None
    return stored, found


def page_with(monkeypatch, **query):
    """The page on the shipped models (fresh caches: another module may have left a store of its own)."""
    monkeypatch.delenv("CONVLAB_MODELS_DIR", raising=False)
    return page_at(query)


def panels(figure: dict) -> list[np.ndarray]:
    """A journey figure's activation panels (the input column left out), row by row."""
    return [
        np.array(trace["z"], dtype=float)
        for trace in figure["data"]
        if trace.get("type") == "heatmap" and trace["name"] != "input"
    ]


def keras_maps(weights, images: np.ndarray, filter_index: int) -> list[np.ndarray]:
    """conv1, pool1, conv2, pool2 of filter ``filter_index`` per image, from a Keras model with ``weights``."""
    model = build(PRESETS["conv"])
    model.set_weights(weights)
    names = ["conv1", "pool1", "conv2", "pool2"]
    outputs = keras.Model(model.inputs[0], [model.get_layer(n).output for n in names]).predict(images, verbose=0)
    return [outputs[layer][image, :, :, filter_index] for image in range(len(images)) for layer in range(len(names))]


def test_the_replay_draws_each_snapshot_as_a_keras_model_with_its_weights(monkeypatch, test_split, shipped_snapshots):
    _, found = shipped_snapshots
    at = page_with(monkeypatch, tab="replay", snapshot="3", filter="7")
    assert not at.error
    images = test_split.images[JOURNEY]
    for ours, theirs in zip(
        panels(live_figure(at, "replay_chart")), keras_maps(found.weights[3], images, 7), strict=True
    ):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    kernels = live_figure(at, "replay_kernels")
    assert len(kernels["data"][0]["meta"]["ranges"]) == 64
    assert np.allclose(tile_values(kernels, 7), found.weights[3][0][:, :, 0, 7])
    assert found.points[3].label in " ".join(m.value for m in at.markdown)
    assert at.query_params["snapshot"] == "3"
    # The slider to the last snapshot: the maps are the shipped model's own.
    at.select_slider(key="snapshot").set_value(len(found) - 1).run()
    last = panels(live_figure(at, "replay_chart"))
    for ours, theirs in zip(last, keras_maps(found.weights[-1], images, 7), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def test_play_steps_through_the_snapshots_and_stops_at_the_end(monkeypatch, shipped_snapshots):
    _, found = shipped_snapshots
    at = page_with(monkeypatch, tab="replay", snapshot=str(len(found) - 2))
    at.toggle(key="replay_playing").set_value(True).run()
    assert at.select_slider(key="snapshot").value == len(found) - 1  # the next one
    at.run()  # the timer's next tick, at the end: playing stops there
    assert at.toggle(key="replay_playing").value is False
    assert at.select_slider(key="snapshot").value == len(found) - 1
    at.toggle(key="replay_playing").set_value(True).run()  # Play at the end starts from the beginning
    assert at.select_slider(key="snapshot").value in (0, 1)


def test_the_downloads_are_a_gif_of_every_snapshot_and_a_png(monkeypatch, shipped_snapshots):
    from ui.resources import get_replay, get_test_split
    from ui.state import Pictures
    from ui.views import replay as replay_view

    stored, found = shipped_snapshots
    replay, problem = get_replay(stored.spec.key(), stored.meta["created"], stored)
    arguments = dict(
        replay=replay,
        pictures=Pictures.of(get_test_split(), JOURNEY),
        filter_index=1,
        scale="layer",
        title="conv (lesson)",
    )
    gif = Image.open(io.BytesIO(replay_view._gif(**arguments)))
    png = Image.open(io.BytesIO(replay_view._png(index=2, **arguments)))
    assert gif.format == "GIF" and gif.n_frames == len(found) and png.format == "PNG"
    assert gif.size == png.size and gif.info["loop"] == 0


def test_a_run_without_snapshots_says_why_and_how_to_get_them(tmp_path, monkeypatch):
    for spec in PRESETS.values():
        for path in ModelStore(DEFAULT_ROOT).paths(spec):
            shutil.copy(path, tmp_path / path.name)  # the models without their snapshot files
    monkeypatch.setenv("CONVLAB_MODELS_DIR", str(tmp_path))
    at = page_at({"tab": "replay"})
    assert any("snapshots" in i.value and "missing" in i.value for i in at.info)


@pytest.mark.parametrize(
    "query, transform",
    [
        ({"shift": "3,-2"}, Transform(shift_x=3, shift_y=-2)),
        ({"rotate": "30", "zoom": "1.2"}, Transform(rotate=30.0, scale=1.2)),
    ],
)
def test_the_probe_shows_the_moved_images_journey_and_both_models_predictions(
    monkeypatch, test_split, query, transform
):
    stored = ModelStore(DEFAULT_ROOT).load(PRESETS["conv"])
    at = page_with(monkeypatch, tab="probe", filter="2", **query)
    assert not at.error
    moved = apply(test_split.images[JOURNEY][..., 0], transform)[..., None]
    for ours, theirs in zip(
        panels(live_figure(at, "probe_chart")), keras_maps(stored.model.get_weights(), moved, 2), strict=True
    ):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    from convlab.data import CLASS_NAMES

    text = " ".join(m.value for m in at.markdown)
    for name in ("dense", "conv"):
        predicted = ModelStore(DEFAULT_ROOT).load(PRESETS[name]).model.predict(moved, verbose=0).argmax(axis=1)
        for slot in range(3):
            assert f"{name} (lesson): **{CLASS_NAMES[predicted[slot]]}**" in text
    assert {k: at.query_params[k] for k in query} == query
    at.button(key="probe_reset").click().run()
    assert all(k not in at.query_params for k in ("shift", "rotate", "zoom"))


def copy_shipped_models(folder) -> None:
    """The lesson's models and their snapshots, without the caches beside them (portraits, invariance)."""
    store = ModelStore(DEFAULT_ROOT)
    for spec in PRESETS.values():
        for path in [*store.paths(spec), store.snapshot_path(spec)]:
            shutil.copy(path, folder / path.name)


def test_the_invariance_chart_is_measured_once_with_a_progress_bar_and_cached(tmp_path, monkeypatch, test_split):
    """On models without a cached chart: a button measures both models over all 10,000 test images;
    the curves meet at each model's own test accuracy and the results land beside the models."""

    from convlab import invariance

    class QuickCache(invariance.InvarianceCache):
        """The app's cache on a grid of 3 transforms instead of 43: what is checked here is the button,
        the curves meeting the models' own accuracy and the files (tests/test_invariance.py has the
        whole chart)."""

        def __init__(self, *args, **options):
            super().__init__(*args, **{"shifts": (0, 2), "angles": (0.0,), **options})

    monkeypatch.setattr(invariance, "InvarianceCache", QuickCache)
    copy_shipped_models(tmp_path)
    monkeypatch.setenv("CONVLAB_MODELS_DIR", str(tmp_path))
    at = page_at({"tab": "probe"})
    assert not charts_of(at, "invariance_chart")  # nothing measured yet
    at.button(key="probe_measure").click().run()
    assert not at.exception and not at.error
    [figure] = charts_of(at, "invariance_chart")
    for name in ("dense", "conv"):
        model = ModelStore(tmp_path).load(PRESETS[name]).model
        _, accuracy = model.evaluate(test_split.images, test_split.labels, batch_size=1000, verbose=0)
        for trace in (t for t in figure["data"] if t["name"].startswith(f"{name} (lesson)")):
            at_zero = dict(zip(trace["x"], trace["y"]))[0]
            assert at_zero == pytest.approx(accuracy, abs=1e-4), trace["name"]
    assert sorted(p.name for p in (tmp_path / "invariance").iterdir()) == sorted(
        f"{spec.kind}-{spec.key()}.json" for spec in PRESETS.values()
    )
    again = page_at({"tab": "probe"})  # fresh caches: read from the files, no button
    assert charts_of(again, "invariance_chart")
    assert not [b for b in again.button if b.key == "probe_measure"]


def test_a_lab_variant_replays_and_probes(tmp_path, monkeypatch, small_data, test_split):
    """A variant trained in the lab (here through the store, as the lab's queue does) has its own
    replay, and the probe compares it with the dense lesson model."""
    from convlab.models import ModelSpec

    copy_shipped_models(tmp_path)
    variant = ModelSpec(conv_filters=(8, 16), dense_units=16, epochs=2, train_samples=600)
    ModelStore(tmp_path).get_or_train(variant, lambda: small_data)
    monkeypatch.setenv("CONVLAB_MODELS_DIR", str(tmp_path))
    at = page_at({"tab": "lab", "filter": "5"})
    at.selectbox(key="lab_run").set_value(variant.key()).run()
    at.button(key="lab_replay").click().run()  # the lab's way into a run's replay
    assert at.selectbox(key="model").value == variant.key() and at.session_state["tab"] == "replay"
    assert not at.error and not at.info and at.select_slider(key="snapshot").value == 0
    found, _ = ModelStore(tmp_path).load_snapshots(ModelStore(tmp_path).load(variant))
    kernels = live_figure(at, "replay_kernels")
    assert len(kernels["data"][0]["meta"]["ranges"]) == 8
    assert np.allclose(tile_values(kernels, 5), found.weights[0][0][:, :, 0, 5])
    at.select_slider(key="snapshot").set_value(len(found) - 1).run()
    assert found.points[-1].label in " ".join(m.value for m in at.markdown)
    open_tab(at, "probe")
    text = " ".join(m.value for m in at.markdown)
    assert f"conv ({variant.label()})" in text and "dense (lesson)" in text
