"""The dashboard, run headless with Streamlit's AppTest: defaults, sliders, pickers, training path."""

from __future__ import annotations

import json
import re

import numpy as np
import plotly
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from apptest_support import APP, TIMEOUT, frame_with, heatmaps, journey_spec, open_tab
from conftest import TINY_CONV, TINY_DENSE, shipped_conv_maps
from convlab import data, models
from convlab.data import CLASS_NAMES, first_of_class
from convlab.store import DEFAULT_ROOT, ModelStore


def test_defaults_are_the_lessons(app):
    assert [app.number_input(key=f"image_{slot}").value for slot in range(3)] == [0, 23, 28]
    assert app.number_input(key="filter_box").value == 1
    assert app.number_input(key="filter_box").max == 63
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
    app.number_input(key="filter_box").set_value(7).run()
    assert not app.exception
    after = heatmaps(app)
    assert not np.allclose(before[0], after[0])
    for drawn, expected in zip(after, shipped_conv_maps(test_split.images[[0, 23, 28]], 7), strict=True):
        np.testing.assert_allclose(drawn, expected, rtol=1e-4, atol=1e-5)


def test_choosing_a_class_fills_the_three_slots(app, test_split):
    app.selectbox(key="fill_class").set_value(5).run()
    assert not app.exception
    indices = [app.number_input(key=f"image_{slot}").value for slot in range(3)]
    assert indices == first_of_class(test_split.labels, 5)
    row_titles = [a["text"] for a in journey_spec(app)["layout"]["annotations"][5:]]
    assert len(row_titles) == 3
    assert all(f"test #{i} · <b>Sandal</b>" in title for i, title in zip(indices, row_titles))


def test_mixed_labels_are_called_out(app):
    app.number_input(key="image_1").set_value(1).run()  # test image 1 is a pullover
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
    assert at.number_input(key="filter_box").max == 3


def test_missing_data_shows_the_fix_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.delenv("CONVLAB_DATA_DIR", raising=False)
    monkeypatch.setattr(data, "KERAS_CACHE", tmp_path / "keras")
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "debian")
    monkeypatch.setattr(data, "_download_with_keras", lambda split: (_ for _ in ()).throw(OSError("offline")))
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert any(
        "can't load the Fashion-MNIST images" in e.value and "apt-get install dataset-fashion-mnist" in e.value
        for e in at.error
    )
    # The first paint: the title is drawn before anything loads, so even this page has it.
    assert [t.value for t in at.sidebar.title] == ["🔬 ConvLab"]


def test_reruns_skip_streamlits_keras_reset_full_gc_and_module_walk(app, monkeypatch):
    """Each slider move would otherwise pay keras.backend.clear_session() and gc.collect(2)."""
    import tomllib
    from pathlib import Path

    import keras

    calls = []
    monkeypatch.setattr(keras.backend, "clear_session", lambda *a, **k: calls.append(1))
    app.number_input(key="filter_box").set_value(3).run()
    app.number_input(key="image_0").set_value(4).run()
    assert not app.exception and calls == []
    config = tomllib.loads((Path(APP).parent / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["postScriptGC"] is False
    assert config["runner"]["magicEnabled"] is False  # no ast.parse racing a background trace's (CPython gh-106905)
    assert config["server"]["fileWatcherType"] == "none"  # its sys.modules walk stalls the first page


FIRST_RUN_SCRIPT = """
import json, sys
sys.path[:0] = [{tests!r}, {root!r}]
import streamlit as st
from streamlit.testing.v1 import AppTest

import app  # everything app.py imports at its top
imported_tensorflow = "tensorflow" in sys.modules or "keras" in sys.modules

from apptest_support import APP, TIMEOUT, journey_spec

reruns = []
st.rerun = lambda *args, **kwargs: reruns.append("rerun")  # stop after the first run, to look at it
at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
first = journey_spec(at)
first_captions = [c.value for c in at.caption]
at.run()  # the rerun the first run asked for
second = journey_spec(at)
print(json.dumps({{
    "imported_tensorflow": imported_tensorflow, "reruns": reruns, "exceptions": [e.value for e in at.exception],
    "first": first, "first_captions": first_captions, "second": second,
}}))
"""


def test_a_servers_first_run_draws_the_page_while_tensorflow_loads():
    """In a fresh interpreter, as on a server's first page: app.py's imports leave TensorFlow out,
    the first run draws the journey's grid with the inputs alone and asks for a rerun, which
    draws the model's maps into the same chart."""
    import subprocess
    import sys
    from pathlib import Path

    tests = Path(__file__).resolve().parent
    script = FIRST_RUN_SCRIPT.format(tests=str(tests), root=str(tests.parent))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=tests.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["imported_tensorflow"] is False
    assert result["reruns"] == ["rerun"] and result["exceptions"] == []
    first, second = result["first"], result["second"]
    assert [t["name"] for t in first["data"]] == ["input"] * 3  # the inputs, no maps yet
    assert sum(a["text"] == "loading…" for a in first["layout"]["annotations"]) == 12
    assert any("Loading TensorFlow" in caption for caption in result["first_captions"])
    assert [t["z"] for t in first["data"]] == [t["z"] for t in second["data"] if t["name"] == "input"]
    assert len(second["data"]) == 15 and "loading…" not in [a["text"] for a in second["layout"]["annotations"]]
