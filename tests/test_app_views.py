"""The views beyond the lesson, through AppTest: filters, predictions, mistakes, upload, URL, scale."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from apptest_support import APP, TIMEOUT, charts_of, gallery_of, journey_spec, live_figure, open_tab
from convlab.activations import Inspector
from convlab.data import CLASS_NAMES
from convlab.explain import mistakes, strongest_images
from convlab.figures.tiles import framed_tile, tile_values
from convlab.models import PRESETS
from convlab.store import DEFAULT_ROOT, ModelStore


@pytest.fixture(scope="module")
def conv():
    return ModelStore(DEFAULT_ROOT).load(PRESETS["conv"])


def chart(at, key: str) -> dict:
    [figure] = charts_of(at, key)
    return figure


def test_filters_view_shows_every_filter_of_the_layer(app, conv, test_split):
    open_tab(app, "filters")
    figure = live_figure(app, "filters_chart")
    mosaic = figure["data"][0]  # one heatmap, a click on a cell names its tile (customdata)
    assert mosaic["type"] == "heatmap" and mosaic["meta"]["mosaic"] and len(mosaic["meta"]["ranges"]) == 64
    maps = Inspector(conv.model).run(test_split.images[[0, 23, 28]]).maps[0][0]  # conv1, image 0
    for f in (0, 5, 63):
        np.testing.assert_allclose(tile_values(figure, f), maps[:, :, f], rtol=1e-4, atol=1e-5)
    assert framed_tile(figure) == 1  # filter 1 is framed
    # Choosing a filter here sets the journey's filter.
    app.number_input(key="filter_pick").set_value(9).run()
    assert app.session_state["filter"] == 9
    assert framed_tile(live_figure(app, "filters_chart")) == 9
    open_tab(app, "journey")
    assert app.number_input(key="filter_box").value == 9


def test_filter_finder_lists_the_strongest_images_each_with_its_button(app, conv, test_split):
    open_tab(app, "filters")
    app.radio(key="layer").set_value("conv2").run()
    strengths = Inspector(conv.model).max_activations(test_split.images)["conv2"]
    expected = strongest_images(strengths, 1)
    entries = gallery_of(app, "finder")
    assert len(entries) == 9 and entries[0]["index"] == int(expected[0])
    assert all(entry["help"] == f"Put test image #{entry['index']} into the journey's next slot" for entry in entries)
    pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(entries[0]["src"].split(",", 1)[1]))))
    assert np.array_equal(pixels, np.round(test_split.images[expected[0]].reshape(28, 28) * 255))  # the very image


def test_predictions_are_the_models_own(app, conv, test_split):
    open_tab(app, "predictions")
    figure = chart(app, "probabilities_chart")
    conv_bars = [t for t in figure["data"] if t["name"] == "conv (lesson)"]
    expected = conv.model.predict(test_split.images[[0, 23, 28]], verbose=0)
    for bars, row in zip(conv_bars, expected):
        np.testing.assert_allclose(bars["x"], row, rtol=1e-4, atol=1e-6)
    dense_bars = [t for t in figure["data"] if t["name"] == "dense (lesson)"]
    assert len(dense_bars) == 3


def confusion_counts(figure: dict) -> np.ndarray:
    """The whole matrix from its two heatmaps: the mistakes (diagonal None) and the correct (the rest None)."""
    mistaken, correct = (np.array(trace["z"], dtype=float) for trace in figure["data"][:2])
    return np.where(np.isnan(mistaken), correct, mistaken)


def test_confusion_matrix_and_mistake_gallery(app, conv, test_split):
    open_tab(app, "predictions")
    predictions = conv.model.predict(test_split.images, batch_size=1000, verbose=0).argmax(axis=1)
    counts = confusion_counts(chart(app, "confusion_chart"))
    assert counts.sum() == 10_000
    assert counts[6, 0] == np.sum((test_split.labels == 6) & (predictions == 0))  # shirts taken for T-shirts
    app.selectbox(key="mistakes_true").set_value(6).run()
    app.selectbox(key="mistakes_predicted").set_value(0).run()
    wrong = mistakes(test_split.labels, predictions, 6, 0)
    shown = [entry["index"] for entry in gallery_of(app, "mistake")]
    assert shown == wrong[:24].tolist()
    assert all(test_split.labels[i] == 6 and predictions[i] == 0 for i in shown)
    app.toggle(key="confusion_normalise").set_value(True).run()
    fractions = confusion_counts(chart(app, "confusion_chart"))
    np.testing.assert_allclose(fractions.sum(axis=1), np.ones(10))


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_upload_a_picture(app, conv, test_split):
    open_tab(app, "upload")
    # A test sneaker drawn dark on white, bigger: it must come back light on dark and be predicted.
    picture = (255 - test_split.images[9, :, :, 0] * 255).astype(np.uint8)
    big = np.kron(picture, np.ones((8, 8), dtype=np.uint8))
    app.file_uploader(key="upload").set_value(("sneaker.png", _png(big), "image/png")).run()
    assert not app.exception and not app.error
    assert any("thinks it is a **Sneaker**" in m.value for m in app.markdown)
    maps = [t for t in chart(app, "upload_journey")["data"] if t["name"] != "input"]
    assert len(maps) == 4
    assert {t["zmin"] for t in maps} == {0}  # ReLU'd maps: 0 is black here too, as in the journey


@pytest.mark.parametrize(
    "name, content, message",
    [("notes.png", b"just some text", "isn't a PNG or JPEG"), ("half.png", None, "damaged")],
)
def test_bad_uploads_get_a_clear_message(app, name, content, message):
    open_tab(app, "upload")
    if content is None:
        content = _png(np.zeros((64, 64), np.uint8) + 200)[:60]
    app.file_uploader(key="upload").set_value((name, content, "image/png")).run()
    assert not app.exception
    assert any(message in e.value for e in app.error)


def test_a_shared_link_opens_that_view():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"images": "5,6,7", "filter": "12", "tab": "journey", "model": PRESETS["conv"].key()})
    at.run()
    assert not at.exception
    assert not any("This link asked" in w.value for w in at.warning)
    assert [at.number_input(key=f"image_{slot}").value for slot in range(3)] == [5, 6, 7]
    assert at.number_input(key="filter_box").value == 12


def test_a_broken_link_is_clamped_with_a_visible_note():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"images": "-3,99999,abc", "filter": "500", "model": "../../etc/passwd", "x": "1"})
    at.run()
    assert not at.exception
    [note] = [w.value for w in at.warning if "This link asked" in w.value]
    for part in ("out of range", "not a whole number", "no stored run", "unknown URL parameter"):
        assert part in note
    assert [at.number_input(key=f"image_{slot}").value for slot in range(3)] == [0, 9999, 28]
    assert at.number_input(key="filter_box").value == 63
    assert at.selectbox(key="model").value == PRESETS["conv"].key()


def test_shared_colour_scale_in_the_journey(app):
    app.radio(key="scale").set_value("figure").run()
    traces = [t for t in journey_spec(app)["data"] if t["name"] != "input"]
    drawn = np.concatenate([np.ravel(t["z"]) for t in traces])
    assert {(t["zmin"], t["zmax"]) for t in traces} == {(drawn.min(), drawn.max())}
    assert sum(bool(t["showscale"]) for t in traces) == 1
    assert CLASS_NAMES[9] in journey_spec(app)["layout"]["annotations"][5]["text"]


def test_an_old_tab_link_opens_its_view_and_a_view_opened_by_a_button_is_the_pages(tmp_path, monkeypatch):
    """``?tab=compare`` (the links from before each view had its own address) runs the Compare view;
    a button asking for the journey (the filters view's "show in the journey") switches to it, in
    one run of the script (the benchmark hook's records), not a run of the old page and a switch."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"tab": "compare", "filter": "7"})
    at.run()
    assert not at.exception
    assert at.session_state["open_tab"] == "compare" and at.session_state["tab"] == "compare"
    assert any(s.label == "Run A" for s in at.selectbox) and "tab" not in at.query_params
    assert at.query_params["filter"] == "7"
    timings = tmp_path / "timings.jsonl"
    monkeypatch.setenv("CONVLAB_TIMINGS", str(timings))
    at.session_state["tab"] = "journey"  # what state.open_tab does in a button's callback
    at.run()
    assert at.session_state["open_tab"] == "journey" and at.number_input(key="filter_box").value == 7
    runs = [json.loads(line)["name"] for line in timings.read_text().splitlines()]
    assert runs.count("script") == 1, runs
