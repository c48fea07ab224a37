"""The Draw view in AppTest: a link's (or a class's) drawing is the picture the pad starts from, and a drawing
sent to the journey is one of its three images there and in every view that shows them."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from apptest_support import charts_of, heatmaps, journey_spec, live_figure, open_tab, page_at
from convlab.data import CLASS_NAMES
from convlab.models import PRESETS
from convlab.saliency import Explainer
from convlab.store import DEFAULT_ROOT, ModelStore
from convlab.urlstate import drawing_text

LAYERS = ("conv1", "pool1", "conv2", "pool2")


@pytest.fixture(scope="module")
def conv():
    return ModelStore(DEFAULT_ROOT).load(PRESETS["conv"]).model


@pytest.fixture(scope="module")
def drawn(test_split) -> list[int]:
    """A drawing unlike any test image: test image 28 (the third boot) with a bright bar across its top."""
    pixels = np.rint(test_split.images[28].reshape(28, 28) * 255).astype(int)
    pixels[3:6, 4:24] = 255
    return pixels.reshape(-1).tolist()


def _as_image(pixels: list[int]) -> np.ndarray:
    return np.asarray(pixels, dtype=np.float32).reshape(1, 28, 28, 1) / 255


def keras_maps(model, images: np.ndarray, filter_index: int) -> list[np.ndarray]:
    """Keras' own conv1, pool1, conv2, pool2 maps of filter ``filter_index``, image by image."""
    outputs = keras.Model(model.inputs, [model.get_layer(name).output for name in LAYERS]).predict(images, verbose=0)
    return [outputs[layer][image, :, :, filter_index] for image in range(len(images)) for layer in range(len(LAYERS))]


def _row_titles(at) -> list[str]:
    return [a["text"] for a in journey_spec(at)["layout"]["annotations"][5:]]


def _assert_maps(drawn_maps, expected) -> None:
    for ours, theirs in zip(drawn_maps, expected, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def _pad_args(at) -> dict:
    [pad] = [c for c in at.get("component_instance") if c.proto.component_name.endswith(".drawpad")]
    return json.loads(pad.proto.json_args)


def test_a_link_with_a_drawing_starts_the_pad_from_it(monkeypatch, test_split):
    monkeypatch.delenv("CONVLAB_MODELS_DIR", raising=False)
    pixels = [int(round(p * 255)) for p in test_split.images[23].reshape(-1)]
    at = page_at({"tab": "draw", "drawing": drawing_text(pixels)}, clear_resources=False)
    args = _pad_args(at)
    assert args["start"]["pixels"] == pixels
    assert [entry["label"] for entry in args["models"]] == ["conv (lesson)", "dense (lesson)"]
    assert [tuple(layer) for layer in args["layers"]] == [
        ("conv1", 26, 64),
        ("pool1", 13, 64),
        ("conv2", 11, 64),
        ("pool2", 5, 64),
    ]
    assert at.query_params["drawing"] == drawing_text(pixels)  # the view's link carries it on


def test_the_journey_opens_the_pad(monkeypatch):
    monkeypatch.delenv("CONVLAB_MODELS_DIR", raising=False)
    at = page_at({}, clear_resources=False)
    pads = [c for c in at.get("component_instance") if c.proto.component_name.endswith(".drawpad")]
    assert at.session_state["tab"] == "journey" and not pads
    at.button(key="journey_draw").click().run()
    assert not at.exception, at.exception
    assert at.session_state["tab"] == "draw"
    assert _pad_args(at)["models"]  # the pad, with its models


def test_a_drawing_sent_to_the_journey_is_its_third_image_in_the_link_too(monkeypatch, test_split, conv, drawn):
    monkeypatch.delenv("CONVLAB_MODELS_DIR", raising=False)
    text = drawing_text(drawn)
    at = page_at({"tab": "draw", "drawing": text})  # fresh caches: another module may have left a store of its own
    at.button(key="pad_send_2").click().run()
    assert not at.exception, at.exception
    assert at.session_state["tab"] == "journey"
    boots = test_split.images[[0, 23, 28]]
    rows = heatmaps(at)
    _assert_maps(rows[:8], keras_maps(conv, boots[:2], 1))  # images 1 and 2 are still the boots
    _assert_maps(rows[8:], keras_maps(conv, _as_image(drawn), 1))  # image 3 is the drawing, not test image 28
    assert not np.allclose(rows[8], keras_maps(conv, boots[2:], 1)[0], atol=1e-3)
    predicted = CLASS_NAMES[int(conv.predict(_as_image(drawn), verbose=0).argmax())]
    assert _row_titles(at)[2].startswith(f"Image 3 · your drawing → predicted <b>{predicted}</b>")
    assert "✗" not in _row_titles(at)[2] and "✓" not in _row_titles(at)[2]  # a drawing has no true class
    assert not at.warning, [w.value for w in at.warning]  # the two boots and an unlabelled drawing: nothing mixed
    assert any("your drawing has no label" in c.value for c in at.caption)
    link = {name: at.query_params[name] for name in at.query_params}
    assert link["drawn_slot"] == "3" and link["drawing"] == text and link["images"] == "0,23,28"
    assert [b.key for b in at.button if b.key == "drawn_slot_back"] == ["drawn_slot_back"]
    assert "image_2" not in [box.key for box in at.number_input]  # its box gives way to the way back

    # The link opens the same journey.
    shared = page_at(link, clear_resources=False)
    assert _row_titles(shared) == _row_titles(at) and not shared.warning
    _assert_maps(heatmaps(shared), rows)

    # A cell of the drawing's conv1 map, explained: its number and the filter sliding over the drawing.
    at.session_state["cell"] = {"slot": 2, "layer": "conv1", "row": 4, "col": 10}
    at.run()
    value = float(keras_maps(conv, _as_image(drawn), 1)[0][4, 10])
    text_shown = " ".join(m.value for m in at.markdown)
    assert "of image 3 (your drawing), filter 1" in text_shown
    assert f"**{value:.4f}**, the number the map shows" in text_shown
    assert any(f"Window at row 4, column 10: the map's cell there is **{value:.4f}**" in c.value for c in at.caption)

    # Back to the test image: the third boot's maps, and no drawing in the link.
    at.button(key="drawn_slot_back").click().run()
    assert not at.exception, at.exception
    _assert_maps(heatmaps(at), keras_maps(conv, boots, 1))
    assert "drawn_slot" not in at.query_params and "drawing" not in at.query_params
    assert at.number_input(key="image_2").value == 28
    assert "test #28" in _row_titles(at)[2]


def test_the_views_show_the_drawn_slots_picture(monkeypatch, test_split, conv, drawn):
    monkeypatch.delenv("CONVLAB_MODELS_DIR", raising=False)
    image = _as_image(drawn)
    at = page_at({"tab": "predictions", "drawing": drawing_text(drawn), "drawn_slot": "2"})
    [figure] = charts_of(at, "probabilities_chart")
    bars = [t["x"] for t in figure["data"] if t["name"] == "conv (lesson)"]
    np.testing.assert_allclose(bars[1], conv.predict(image, verbose=0)[0], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(bars[0], conv.predict(test_split.images[[0]], verbose=0)[0], rtol=1e-4, atol=1e-6)
    assert [a["text"] for a in figure["layout"]["annotations"]][:3] == [
        "#0 · Ankle boot",
        "your drawing",
        "#28 · Ankle boot",
    ]

    open_tab(at, "looked")
    [figure] = charts_of(at, "looked_chart")
    predicted = int(conv.predict(image, verbose=0).argmax())
    saliency = [t["z"] for t in figure["data"] if t["name"] == "conv (lesson): pixels that matter most"]
    np.testing.assert_allclose(
        np.array(saliency[1]), Explainer(conv).saliency(image, [predicted])[0], rtol=1e-4, atol=1e-7
    )
    assert any("Image 2 · your drawing" in a["text"] for a in figure["layout"]["annotations"])

    open_tab(at, "probe")  # unmoved: the probe's second row is the drawing's journey
    probe_maps = [np.array(t["z"], dtype=float) for t in live_figure(at, "probe_chart")["data"] if t["name"] != "input"]
    _assert_maps(probe_maps[4:8], keras_maps(conv, image, 1))
    assert any("**Image 2** · your drawing" in m.value for m in at.markdown)

    open_tab(at, "replay")
    titles = [a["text"] for a in live_figure(at, "replay_chart")["layout"]["annotations"]]
    assert any(title.startswith("Image 2 · your drawing") for title in titles)

    open_tab(at, "filters")
    at.radio(key="filters_slot").set_value(1).run()
    assert not at.exception, at.exception
    from convlab.figures.tiles import tile_values

    conv1 = keras.Model(conv.inputs, conv.get_layer("conv1").output).predict(image, verbose=0)[0]
    np.testing.assert_allclose(tile_values(live_figure(at, "filters_chart"), 5), conv1[:, :, 5], rtol=1e-4, atol=1e-5)
    assert any("for your drawing" in c.value for c in at.caption)


@pytest.mark.parametrize(
    "query, note",
    [
        ({"drawn_slot": "7"}, "Ignored drawn_slot=`7`: the drawing's image must be 1–3"),
        ({"drawn_slot": "x"}, "Ignored drawn_slot=`x`"),
        ({"drawn_slot": "2", "drawing": None}, "it belongs with a drawing"),
    ],
)
def test_a_bad_drawn_slot_in_a_link_gets_a_note(monkeypatch, drawn, query, note):
    monkeypatch.delenv("CONVLAB_MODELS_DIR", raising=False)
    link = {"drawing": drawing_text(drawn), **query}
    at = page_at({name: value for name, value in link.items() if value is not None})
    assert any(note in w.value for w in at.warning), [w.value for w in at.warning]
    assert "drawn_slot" not in at.query_params
    assert all("your drawing" not in title for title in _row_titles(at))


def test_choosing_test_images_clears_the_drawn_slot(monkeypatch, test_split, drawn):
    monkeypatch.delenv("CONVLAB_MODELS_DIR", raising=False)
    at = page_at({"drawing": drawing_text(drawn), "drawn_slot": "1"})
    assert _row_titles(at)[0].startswith("Image 1 · your drawing")
    at.selectbox(key="fill_class").set_value(5).run()  # the three slots filled with sandals
    assert "drawn_slot" not in at.query_params
    assert all("<b>Sandal</b>" in title for title in _row_titles(at))
    at.session_state["drawn_slot"] = 2  # as "Send to the journey as image 3" would
    at.run()
    assert _row_titles(at)[2].startswith("Image 3 · your drawing")
    at.button(key="tour_start").click().run()  # a tour step sets its own test images
    assert not at.exception, at.exception
    assert "drawn_slot" not in at.query_params and "drawn_slot" not in at.session_state


def test_a_following_student_sees_the_teachers_drawing_in_the_journey(monkeypatch, drawn):
    from streamlit.testing.v1 import AppTest

    from apptest_support import APP, TIMEOUT

    monkeypatch.delenv("CONVLAB_MODELS_DIR", raising=False)
    monkeypatch.delenv("CONVLAB_REDIS_URL", raising=False)
    from ui.feed import class_store

    # Tests' pages have no address, so every class started in this process counts as one client's: other files'
    # tests may have started three this minute.
    monkeypatch.setattr(class_store()[0], "starts_per_minute", 1_000)
    teacher = page_at({"tab": "draw", "drawing": drawing_text(drawn)})
    teacher.button(key="class_start").click().run()
    assert not teacher.exception and "class" in teacher.query_params, teacher.exception
    student = AppTest.from_file(APP, default_timeout=TIMEOUT)
    student.query_params["class"] = teacher.query_params["class"]
    student.run()
    teacher.button(key="pad_send_2").click().run()
    student.run()  # its feed asks it to rerun: the run applies the class's newest view
    assert not student.exception, student.exception
    assert _row_titles(student)[2] == _row_titles(teacher)[2]
    assert _row_titles(student)[2].startswith("Image 3 · your drawing")
    _assert_maps(heatmaps(student)[8:], heatmaps(teacher)[8:])
    teacher.button(key="drawn_slot_back").click().run()
    student.run()
    assert "test #28" in _row_titles(student)[2] and "drawn_slot" not in student.query_params
