"""What a teacher's run-through found (issue 10), checked through AppTest against references.

Each test here failed on the page before its fix: an all-zero map drawn crimson, image numbers
only on a 10,000-step slider, a damaged lesson model that waited for the next click to retrain,
a broken lab run that vanished without a word, a colour scale the URL forgot. What only a
browser shows (colours on screen, layout, scrolling, full screen) is in test_browser.py.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from apptest_support import APP, TIMEOUT, charts_of, journey_spec, live_args, live_figure, open_tab, page_at
from conftest import TINY_CONV, TINY_DENSE, shipped_conv_maps
from convlab import mapcodec, models
from convlab.explain import first_layer_kernels
from convlab.figures.tiles import tile_values
from convlab.models import PRESETS, ModelSpec
from convlab.store import DEFAULT_ROOT, ModelStore


def fresh_page(**query) -> AppTest:
    return page_at(query)


def plotly_chart(at, key: str) -> dict:
    [figure] = charts_of(at, key)
    return figure


def all_zero_labels(figure: dict) -> list[str]:
    """The axes ("x9 domain", ...) of the panels labelled "all zero"."""
    return [a["xref"] for a in figure["layout"]["annotations"] if a["text"] == "all zero"]


# -- 1. an all-zero map is black and says so --------------------------------------------------
def test_the_vanishing_pullover_is_drawn_black_and_labelled_all_zero(monkeypatch, test_split):
    """The lesson's key moment: the third image set to 1 (a pullover), filter 1. Its conv2 and
    pool2 maps are all zero in the model itself; the page must draw them at the bottom of the
    colour scale (black), say so, and start every other map's scale at 0 too."""
    monkeypatch.delenv("CONVLAB_MODELS_DIR", raising=False)
    at = fresh_page(images="0,23,1", filter="1")
    reference = shipped_conv_maps(test_split.images[[0, 23, 1]], 1)
    zero = [number for number, panel in enumerate(reference) if not panel.any()]
    assert zero == [10, 11], "the shipped model's conv2 and pool2 maps of test image 1, filter 1, are all zero"
    figure = journey_spec(at)
    traces = [t for t in figure["data"] if t["name"] != "input"]
    for trace, panel in zip(traces, reference, strict=True):
        np.testing.assert_allclose(np.array(trace["z"]), panel, rtol=1e-4, atol=1e-5)
        assert trace["zmin"] == 0  # ReLU'd maps: the bottom of every scale is 0
        assert trace["zmax"] == (pytest.approx(float(panel.max()), rel=1e-4) if panel.any() else 1)
    # Panels are numbered row by row, input first: row 3's conv2 and pool2 are axes 14 and 15.
    assert all_zero_labels(figure) == ["x14 domain", "x15 domain"]
    # The same in the shared scales: 0 at the bottom, the zero maps black.
    at.radio(key="scale").set_value("layer").run()
    traces = [t for t in journey_spec(at)["data"] if t["name"] != "input"]
    assert {t["zmin"] for t in traces} == {0}
    assert all_zero_labels(journey_spec(at)) == ["x14 domain", "x15 domain"]


def test_all_zero_filter_tiles_are_black_and_labelled(monkeypatch, test_split):
    monkeypatch.delenv("CONVLAB_MODELS_DIR", raising=False)
    at = open_tab(fresh_page(images="0,23,1", filter="1", layer="conv2"), "filters")
    at.radio(key="filters_slot").set_value(2).run()  # the pullover
    figure = live_figure(at, "filters_chart")
    from convlab.activations import Inspector

    maps = Inspector(ModelStore(DEFAULT_ROOT).load(PRESETS["conv"]).model).run(test_split.images[[1]]).maps[2][0]
    ranges = figure["data"][0]["meta"]["ranges"]  # each tile's colour range, as drawn
    zero = [f for f in range(maps.shape[-1]) if not maps[:, :, f].any()]
    assert 1 in zero
    for f, (low, high) in enumerate(ranges):
        assert low == 0
        assert high == (pytest.approx(float(maps[:, :, f].max()), rel=1e-4) if f not in zero else 1)
    where = np.array(figure["data"][0]["customdata"])
    labelled = [
        int(where[round(a["y"]), round(a["x"]), 0]) for a in figure["layout"]["annotations"] if a["text"] == "all zero"
    ]
    assert labelled == zero


# -- 5. image numbers people can reach ---------------------------------------------------------
def test_images_are_number_boxes_and_the_filter_has_one_beside_its_slider(app):
    for slot in range(3):
        box = app.number_input(key=f"image_{slot}")
        assert (box.min, box.max, box.step) == (0, 9999, 1)
    app.number_input(key="image_2").increment().run()  # the + button: one step, from 28 to 29
    assert app.number_input(key="image_2").value == 29
    assert "test #29" in json.dumps(journey_spec(app)["layout"]["annotations"])
    app.number_input(key="filter_box").set_value(12).run()  # the box moves the chart's own slider
    assert app.number_input(key="filter_box").value == 12 and live_args(app, "journey_chart")["scrub"]["filter"] == 12
    assert "Page Up" in app.number_input(key="filter_box").help and "Home" in app.number_input(key="filter_box").help


def test_the_chart_gets_every_filters_maps_once_per_image_set(app):
    """The journey's chart is sent a file of every filter's packed maps, named by its content: the
    same file while only the filter changes, a new one for new images; decoded, it gives each
    filter's maps of the figure the page draws, within half a step of 255."""
    from ui.charts import MAPS_DIR

    first = live_args(app, "journey_chart")["scrub"]
    app.number_input(key="filter_box").set_value(30).run()
    scrub = live_args(app, "journey_chart")["scrub"]
    assert scrub["url"] == first["url"] and scrub["filter"] == 30 and scrub["filters"] == 64
    maps = mapcodec.from_bytes((MAPS_DIR / scrub["url"]).read_bytes())
    assert [layer.name for layer in maps.layers] == ["conv1", "pool1", "conv2", "pool2"] and maps.images == 3
    figure = [np.array(trace["z"]) for trace in journey_spec(app)["data"] if trace["name"] != "input"]
    for number, drawn in enumerate(figure):
        image, layer = divmod(number, 4)
        decoded = maps.map(image, layer, 30)
        assert np.abs(decoded - drawn).max() <= maps.error_bound(image, layer, 30) + 1e-6
    app.number_input(key="image_0").set_value(5).run()
    assert live_args(app, "journey_chart")["scrub"]["url"] != first["url"]


# -- 8. where am I ---------------------------------------------------------------------------------
def test_the_journey_says_what_to_do_and_that_filter_numbers_are_per_layer(app):
    text = " ".join(c.value for c in app.caption)
    assert "Pick three test images" in text
    assert "Filter *n* of conv2 is a different filter from filter *n* of conv1" in text


def test_choosing_a_class_brings_the_journey_into_view(app):
    app.selectbox(key="fill_class").set_value(6).run()
    scripts = [h.proto.body for h in app.get("html") if "scrollIntoView" in h.proto.body]
    assert len(scripts) == 1 and ".st-key-journey_controls" in scripts[0]
    app.run()  # once: an ordinary rerun doesn't scroll again
    assert not [h for h in app.get("html") if "scrollIntoView" in h.proto.body]


# -- 11. one colour scale for one kernel; the scale in the URL ------------------------------------
def test_the_learned_kernel_beside_the_grid_uses_the_grids_scale(app):
    open_tab(app, "filters")
    grid, beside = plotly_chart(app, "kernels_chart"), plotly_chart(app, "classic_chart")
    kernels, _ = first_layer_kernels(ModelStore(DEFAULT_ROOT).load(PRESETS["conv"]).model)
    limit = float(np.abs(kernels).max())
    assert grid["data"][0]["meta"]["ranges"] == [[pytest.approx(-limit), pytest.approx(limit)]] * len(kernels)
    assert beside["data"][0]["meta"]["ranges"][0] == grid["data"][0]["meta"]["ranges"][1]
    np.testing.assert_allclose(tile_values(beside, 0), kernels[1], rtol=1e-6)  # filter 1, the journey's
    assert beside["data"][0]["colorscale"] == grid["data"][0]["colorscale"]
    centre = dict((round(p, 2), c) for p, c in grid["data"][0]["colorscale"])[0.5]
    assert centre in ("rgb(247, 247, 247)", "rgb(255, 255, 255)"), "zero weight is drawn white, as the caption says"


def test_the_colour_scale_is_read_from_and_written_to_the_url(monkeypatch):
    monkeypatch.delenv("CONVLAB_MODELS_DIR", raising=False)
    at = fresh_page(scale="figure")
    assert at.radio(key="scale").value == "figure"
    assert at.query_params["scale"] == "figure"
    at.radio(key="scale").set_value("layer").run()
    assert at.query_params["scale"] == "layer"
    at = fresh_page(scale="rainbow")
    assert any("scale=`rainbow`" in w.value for w in at.warning)
    assert at.radio(key="scale").value == "panel"


# (12, the first paint: the title before anything loads, is checked in test_app.py's missing-data test.)


# -- 3. a damaged lesson model goes on by itself ------------------------------------------------
@pytest.fixture
def tiny_presets(tmp_path, monkeypatch, small_data):
    """Tiny stand-ins for the lesson's models, trained into a models folder of their own."""
    monkeypatch.setitem(models.PRESETS, "dense", TINY_DENSE)
    monkeypatch.setitem(models.PRESETS, "conv", TINY_CONV)
    monkeypatch.setenv("CONVLAB_MODELS_DIR", str(tmp_path))
    store = ModelStore(tmp_path)
    for spec in (TINY_DENSE, TINY_CONV):
        store.get_or_train(spec, lambda: small_data)
    st.cache_resource.clear()
    st.cache_data.clear()
    return tmp_path


def test_a_truncated_lesson_model_is_trained_again_on_the_same_page_load(tiny_presets):
    model_path, meta_path = ModelStore(tiny_presets).paths(TINY_CONV)
    model_path.write_bytes(model_path.read_bytes()[:1000])  # truncated; its metadata still names it
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()  # one run, no click
    assert not at.exception, at.exception
    assert any("unusable" in w.value for w in at.warning)
    assert (
        len(list((tiny_presets / "corrupt").iterdir())) == 3
    )  # the damaged run's files (and its snapshots), set aside
    assert ModelStore(tiny_presets).load(TINY_CONV) is not None  # trained again and saved
    panels = [np.array(t["z"]) for t in journey_spec(at)["data"] if t["name"] != "input"]
    assert len(panels) == 3 * 2  # the journey goes on: one conv block, conv1 and pool1 per image


# -- 4. a lab run with malformed metadata is reported, not dropped -------------------------------
def test_a_lab_run_with_broken_metadata_is_set_aside_and_reported(tmp_path, monkeypatch, small_data):
    for spec in PRESETS.values():
        for path in ModelStore(DEFAULT_ROOT).paths(spec):
            shutil.copy(path, tmp_path / path.name)
    lab_run = ModelSpec(conv_filters=(4,), dense_units=16, epochs=1, train_samples=500)
    ModelStore(tmp_path).get_or_train(lab_run, lambda: small_data)
    model_path, meta_path = ModelStore(tmp_path).paths(lab_run)
    meta_path.write_text(meta_path.read_text()[:200])  # cut off mid-JSON
    monkeypatch.setenv("CONVLAB_MODELS_DIR", str(tmp_path))
    at = fresh_page()
    [note] = [w.value for w in at.warning if "unusable" in w.value]
    assert meta_path.name in note and "corrupt/" in note and "Lab" in note
    assert lab_run.label() not in at.selectbox(key="model").options
    assert not model_path.exists() and not meta_path.exists()
    assert len(list((tmp_path / "corrupt").iterdir())) == 3  # its .json, .keras and snapshots
    at.button(key="dismiss_store_notes").click().run()
    assert not [w for w in at.warning if "unusable" in w.value]


# -- 10. the lab's wording ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "meta, words",
    [
        ({"epochs_run": 1}, "1 epoch"),
        ({"epochs_run": 3}, "3 epochs"),
        (
            {"epochs_run": 3, "stopped_by_request": True},
            "2 full epochs and part of epoch 3",
        ),  # not "after 3 epochs … during epoch 3"
        ({"epochs_run": 1, "stopped_by_request": True}, "part of epoch 1"),
    ],
)
def test_a_finished_training_says_how_long_it_trained_in_words_that_agree(meta, words):
    from ui.views.lab import trained_for

    assert trained_for(meta) == words
