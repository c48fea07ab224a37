"""The dashboard, run headless with Streamlit's AppTest: defaults, sliders, pickers, training path."""

from __future__ import annotations

import json
import re

import numpy as np
import plotly
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from convlab import data, models
from convlab.activations import Inspector
from convlab.data import CLASS_NAMES, first_of_class
from convlab.store import DEFAULT_ROOT, ModelStore

from apptest_support import APP, TIMEOUT, frame_with, heatmaps, journey_spec, open_tab
from conftest import TINY_CONV, TINY_DENSE

def test_defaults_are_the_lessons(app):
    assert [app.slider(key=f"image_{slot}").value for slot in range(3)] == [0, 23, 28]
    assert app.slider(key="filter").value == 1
    assert app.slider(key="filter").max == 63
    spec = journey_spec(app)
    titles = [a["text"] for a in spec["layout"]["annotations"]]
    assert titles[:5] == ["input 28×28", "conv1 · 26×26", "pool1 · 13×13", "conv2 · 11×11", "pool2 · 5×5"]
    assert [panel.shape for panel in heatmaps(app)[:4]] == [(26, 26), (13, 13), (11, 11), (5, 5)]
    assert len(heatmaps(app)) == 12
    # The lesson's cmap, as rgb() so Streamlit's theme can't mistake #000004 for a placeholder.
    inferno = ["rgb({}, {}, {})".format(*plotly.colors.hex_to_rgb(c)) for c in plotly.colors.sequential.Inferno]
    assert all([color for _, color in t["colorscale"]] == inferno for t in spec["data"] if t["name"] != "input")
    assert not re.search(r'"#0000[0-9]{2}"', json.dumps(spec["data"]))
    assert any("All three are **Ankle boot**" in c.value for c in app.caption)
    assert not app.warning


def test_heatmaps_are_the_models_activations_and_follow_the_filter_slider(app, test_split):
    before = heatmaps(app)
    app.slider(key="filter").set_value(7).run()
    assert not app.exception
    after = heatmaps(app)
    assert not np.allclose(before[0], after[0])
    stored = ModelStore(DEFAULT_ROOT).load(models.PRESETS["conv"])
    reference = Inspector(stored.model).run(test_split.images[[0, 23, 28]]).filter_maps(7)
    for drawn, expected in zip(after, [panel for row in reference for panel in row]):
        np.testing.assert_allclose(drawn, expected, rtol=1e-4, atol=1e-5)


def test_choosing_a_class_fills_the_three_slots(app, test_split):
    app.selectbox(key="fill_class").set_value(5).run()
    assert not app.exception
    indices = [app.slider(key=f"image_{slot}").value for slot in range(3)]
    assert indices == first_of_class(test_split.labels, 5)
    row_titles = [a["text"] for a in journey_spec(app)["layout"]["annotations"][5:]]
    assert len(row_titles) == 3
    assert all(f"test #{i} · <b>Sandal</b>" in title for i, title in zip(indices, row_titles))


def test_mixed_labels_are_called_out(app):
    app.slider(key="image_1").set_value(1).run()  # test image 1 is a pullover
    assert any("don't share a label" in w.value and CLASS_NAMES[2] in w.value for w in app.warning)


def test_dense_model_has_no_journey(app):
    app.selectbox(key="model").set_value(models.PRESETS["dense"].key()).run()
    assert not app.exception
    assert any("no conv or pool layers" in i.value for i in app.info)


def test_comparison_table_shows_both_models(app):
    open_tab(app, "compare")
    table = frame_with(app, "best test accuracy", without="key")
    assert list(table["run"]) == ["dense (lesson)", "conv (lesson)"]
    store = ModelStore(DEFAULT_ROOT)
    for name, (_, row) in zip(("dense", "conv"), table.iterrows()):
        meta = store.load(models.PRESETS[name]).meta
        assert row["params"] == meta["params"]
        assert row["test accuracy"] == pytest.approx(meta["metrics"]["test_accuracy"])
        assert row["training time (s)"] == pytest.approx(meta["seconds"])


def test_label_table_lists_the_first_100_test_labels(app, test_split):
    table = frame_with(app, "class")
    assert len(table) == 100
    assert list(table["label"]) == test_split.labels[:100].tolist()
    assert list(table["class"][:3]) == ["Ankle boot", "Pullover", "Trouser"]


def test_missing_models_are_trained_then_used(tmp_path, monkeypatch, test_split):
    """With an empty models folder the app trains (tiny stand-ins for the presets), saves, and goes on."""
    monkeypatch.setitem(models.PRESETS, "dense", TINY_DENSE)
    monkeypatch.setitem(models.PRESETS, "conv", TINY_CONV)
    monkeypatch.setenv("CONVLAB_MODELS_DIR", str(tmp_path))
    (tmp_path / f"conv-{TINY_CONV.key()}.keras").write_bytes(b"not a model")  # and one corrupt file
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    assert any("unusable" in w.value for w in at.warning)
    for spec in (TINY_DENSE, TINY_CONV):
        assert ModelStore(tmp_path).load(spec) is not None
    assert len(heatmaps(at)) == 3 * 2  # one conv block: conv1 and pool1 per image
    assert at.slider(key="filter").max == 3


def test_missing_data_shows_the_fix_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.delenv("CONVLAB_DATA_DIR", raising=False)
    monkeypatch.setattr(data, "KERAS_CACHE", tmp_path / "keras")
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "debian")
    monkeypatch.setattr(data, "_download_with_keras", lambda split: (_ for _ in ()).throw(OSError("offline")))
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert any("can't load the Fashion-MNIST images" in e.value and "apt-get install dataset-fashion-mnist" in e.value for e in at.error)


def test_reruns_skip_streamlits_keras_reset_and_full_gc(app, monkeypatch):
    """Each slider move would otherwise pay keras.backend.clear_session() and gc.collect(2)."""
    import tomllib
    from pathlib import Path

    import keras

    calls = []
    monkeypatch.setattr(keras.backend, "clear_session", lambda *a, **k: calls.append(1))
    app.slider(key="filter").set_value(3).run()
    app.slider(key="image_0").set_value(4).run()
    assert not app.exception and calls == []
    config = tomllib.loads((Path(APP).parent / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["postScriptGC"] is False
