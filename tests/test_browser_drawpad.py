"""The drawing pad (issue 23), in Chromium on the app's own server: the pen's journey computed in the page.

A scripted drawing (mouse moves on the pad) ends with the pad's maps of every conv and pool layer and
both lesson models' probabilities equal to Keras' for the pad's very picture; no server run happens
while the pen moves; "start from a test image" puts that image on the pad.
"""

from __future__ import annotations

import numpy as np
import pytest

from browser_support import ACTION_TIMEOUT, open_app, wait_idle, wait_until
from convlab.activations import Inspector
from convlab.data import load_split
from convlab.models import PRESETS
from convlab.saliency import Explainer
from convlab.store import ModelStore
from convlab_testing.live_app import COUNT_RUNS_JS, JOURNEY_PLOT, plot_js
from test_browser_model import scales

PAD = "iframe[title='Drawing pad and its journey']"
TOLERANCE = 1e-4  # absolute, on maps scaled 0–1 by their maximum (issue 23; test_browser_model.scales)


# The pad's newest journey (the page's model's maps, both models' probabilities) as plain arrays.
LAST_JOURNEY_JS = """() => { const last = window.__pad.last;
  return {maps: last.maps.map((m) => ({layer: m.layer, shape: m.shape, data: Array.from(m.data)})),
          probabilities: last.probabilities.map((p) => Array.from(p))}; }"""


@pytest.fixture(scope="module")
def lesson(shipped_server):
    """The shipped lesson models, as the server serves them (its copy of models/)."""
    store = ModelStore(shipped_server.models_dir)
    return {kind: store.load(PRESETS[kind]).model for kind in ("conv", "dense")}


def _pad_frame(page):
    page.locator(PAD).wait_for(state="visible", timeout=ACTION_TIMEOUT)
    frame = page.locator(PAD).element_handle().content_frame()
    frame.wait_for_function("() => window.__pad && window.__pad.loadedMs > 0", timeout=ACTION_TIMEOUT)
    return frame


def _both_models(frame) -> None:
    """The pad answers once the page's model is in; the other lesson model's bars follow it."""
    frame.wait_for_function("() => window.__pad.models === 2", timeout=ACTION_TIMEOUT)


def _draw(page, frame, points):
    box = frame.locator("#pad").bounding_box()
    x, y = (box["x"] + box["width"] * points[0][0], box["y"] + box["height"] * points[0][1])
    page.mouse.move(x, y)
    page.mouse.down()
    for px, py in points[1:]:
        page.mouse.move(box["x"] + box["width"] * px, box["y"] + box["height"] * py, steps=3)


def test_the_pen_draws_the_journey_keras_would_without_the_server(browser, shipped_server, lesson):
    with open_app(browser, shipped_server, journey_traces=None, query="/draw") as page:
        frame = _pad_frame(page)
        _both_models(frame)
        assert "WASM" in frame.locator("#status").inner_text() or "CPU" in frame.locator("#status").inner_text()
        wait_idle(page)
        page.evaluate(COUNT_RUNS_JS)
        updates_before = frame.evaluate("() => window.__pad.updates")
        # a coat's outline, roughly: two sleeves and a body
        _draw(page, frame, [(0.3, 0.2), (0.7, 0.2), (0.8, 0.6), (0.7, 0.9), (0.3, 0.9), (0.2, 0.6), (0.3, 0.2)])
        page.wait_for_timeout(300)
        assert page.evaluate("() => window.__runs") == 0  # the pen moved: nothing ran on the server
        assert frame.evaluate("() => window.__pad.updates") > updates_before + 5  # the journey followed the pen
        page.mouse.up()
        picture = np.array(frame.evaluate("() => Array.from(window.__pad.picture)"), dtype=np.float32).reshape(28, 28)
        last = frame.evaluate(LAST_JOURNEY_JS)
        # the pen lifted: the page took the picture (its address carries it)
        page.wait_for_function("() => new URLSearchParams(location.search).has('drawing')", timeout=ACTION_TIMEOUT)
        wait_idle(page)
        page.get_by_text("Where did the models look in my drawing?").click()  # the page's picture: the pad's
        page.locator(".st-key-pad_looked_chart .js-plotly-plot").wait_for(state="visible", timeout=ACTION_TIMEOUT)
        looked = page.evaluate(
            "() => document.querySelector('.st-key-pad_looked_chart .js-plotly-plot').data"
            ".map((t) => ({name: t.name, z: t.z}))"
        )
    assert 0.05 < picture.mean() < 0.6  # something was drawn, not everything
    conv = Inspector(lesson["conv"]).run(picture[np.newaxis, :, :, np.newaxis])
    assert [m["layer"] for m in last["maps"]] == list(conv.layer_names)
    for browser_map, keras_map in zip(last["maps"], conv.maps):
        shaped = np.array(browser_map["data"], dtype=np.float32).reshape(browser_map["shape"])
        scale = scales(keras_map)[:, np.newaxis, np.newaxis, :]  # each map by its maximum (the browser model's rule)
        np.testing.assert_allclose(shaped / scale, keras_map / scale, atol=TOLERANCE, err_msg=browser_map["layer"])
    dense = lesson["dense"].predict(picture[np.newaxis, :, :, np.newaxis], verbose=0)
    # Where it looked: the conv model's saliency of the very picture, for the class it predicts
    predicted = int(conv.probabilities[0].argmax())
    sent = np.round(picture * 255) / 255  # the page's copy: a byte a pixel
    expected = Explainer(lesson["conv"]).saliency(sent[np.newaxis].astype(np.float32), [predicted])[0]
    saliency = next(t["z"] for t in looked if t["name"] == "conv (lesson): pixels that matter most")
    np.testing.assert_allclose(np.array(saliency, dtype=float), expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(last["probabilities"][0], conv.probabilities[0], atol=TOLERANCE)
    np.testing.assert_allclose(last["probabilities"][1], dense[0], atol=TOLERANCE)


def test_the_pad_starts_from_a_test_image(browser, shipped_server):
    split = load_split("test")
    with open_app(browser, shipped_server, journey_traces=None, query="/draw") as page:
        frame = _pad_frame(page)
        page.get_by_role("button", name="#23", exact=True).click()
        frame.wait_for_function("() => window.__pad.picture.some((p) => p > 0)", timeout=ACTION_TIMEOUT)
        picture = np.array(frame.evaluate("() => Array.from(window.__pad.picture)")).reshape(28, 28)
    np.testing.assert_allclose(picture, split.images[23].reshape(28, 28), atol=0.5 / 255 + 1e-6)


def test_the_lifted_pens_picture_goes_to_the_journey_as_image_3(browser, shipped_server):
    with open_app(browser, shipped_server, journey_traces=None, query="/draw") as page:
        frame = _pad_frame(page)
        _draw(page, frame, [(0.3, 0.3), (0.7, 0.3), (0.7, 0.8)])
        page.mouse.up()
        page.wait_for_function("() => new URLSearchParams(location.search).has('drawing')", timeout=ACTION_TIMEOUT)
        wait_idle(page)
        page.get_by_role("button", name="Send to the journey as image 3").click()
        wait_until(
            page,
            "() => { const d = " + plot_js(JOURNEY_PLOT) + "; return !!(d && d.layout) && "
            "d.layout.annotations.some((a) => a.text.startsWith('Image 3 · your drawing')); }",
            what="the journey's third row is the drawing",
        )
        wait_until(
            page,
            "() => new URLSearchParams(location.search).get('drawn_slot') === '3'",
            what="the address names the drawn slot",
        )
        page.locator(".st-key-drawn_slot_back").wait_for(state="visible", timeout=ACTION_TIMEOUT)


def test_without_the_browser_model_the_page_draws_each_picture_itself(browser, shipped_server):
    """TensorFlow.js can't load (blocked here): the pad says why, and each pen lift gets the server's journey."""
    from browser_support import new_page

    with new_page(browser, shipped_server) as page:
        page.route("**/tf.es2017.min.js", lambda route: route.abort())
        page.goto(shipped_server.url + "/draw", wait_until="domcontentloaded")
        page.locator(PAD).wait_for(state="visible", timeout=90_000)
        frame = page.locator(PAD).element_handle().content_frame()
        frame.wait_for_function("() => /can't run in this browser/.test(document.getElementById('status').textContent)")
        assert "TensorFlow.js could not be loaded" in frame.locator("#status").inner_text()
        wait_idle(page)
        _draw(page, frame, [(0.3, 0.3), (0.7, 0.7)])
        page.mouse.up()
        page.locator(".st-key-pad_journey .js-plotly-plot").wait_for(state="visible", timeout=ACTION_TIMEOUT)
        page.locator(".st-key-pad_probs .js-plotly-plot").wait_for(state="visible", timeout=ACTION_TIMEOUT)


PROBE_PAD = "iframe[title='The pictures moved by hand, and their journey']"


def test_the_probe_dragged_4_px_right_answers_as_the_link_shift_4_0(browser, shipped_server, lesson, test_split):
    """The shift probe's pictures moved by hand: dragged 4 cells right, the pad's answers are both models'
    for the boots moved 4 px (``?shift=4,0``, convlab.transforms), and the sliders take the move; turned by
    the handle, the pad's picture is SciPy's bilinear turn of the same image."""
    from convlab.transforms import Transform, apply

    with open_app(browser, shipped_server, journey_traces=None, query="/probe") as page:
        page.get_by_text("Move them by hand").click()  # off until asked: the page's first visit stays light
        page.locator(PROBE_PAD).wait_for(state="visible", timeout=ACTION_TIMEOUT)
        frame = page.locator(PROBE_PAD).element_handle().content_frame()
        frame.wait_for_function("() => window.__pad && window.__pad.models === 2", timeout=ACTION_TIMEOUT)
        wait_idle(page)
        box = frame.locator("#pad").bounding_box()
        cell, x, y = box["width"] / 28, box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        for step in range(1, 9):
            page.mouse.move(x + step * cell / 2, y, steps=2)
        page.mouse.up()
        page.wait_for_function("() => new URLSearchParams(location.search).get('shift') === '4,0'")
        last = frame.evaluate(LAST_JOURNEY_JS)
        frame.locator("#turn").evaluate(
            "e => { e.value = '15'; e.dispatchEvent(new Event('input')); e.dispatchEvent(new Event('change')); }"
        )
        page.wait_for_function("() => new URLSearchParams(location.search).get('rotate') === '15'")
        turned = np.array(frame.evaluate("() => Array.from(window.__pad.picture)")).reshape(28, 28)
    boot = test_split.images[0].reshape(28, 28)
    moved = apply(boot, Transform(shift_x=4))[np.newaxis, :, :, np.newaxis]
    for got, model in zip(last["probabilities"], (lesson["conv"], lesson["dense"])):
        np.testing.assert_allclose(got, model.predict(moved, verbose=0)[0], atol=TOLERANCE)
    np.testing.assert_allclose(turned, apply(boot, Transform(shift_x=4, rotate=15.0)), atol=1e-5)
