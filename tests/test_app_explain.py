"""The journey's "this number, explained" panel through AppTest, checked against Keras' own maps."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from apptest_support import charts_of, journey_spec, page_at
from conftest import shipped_conv_maps
from convlab.figures.tiles import tile_values


def page_with(monkeypatch, **query) -> AppTest:
    monkeypatch.delenv("CONVLAB_MODELS_DIR", raising=False)
    return page_at(query, clear_resources=False)


@pytest.mark.parametrize("layer, column", [("conv1", 0), ("conv2", 2), ("pool2", 3)])
def test_a_linked_cell_is_explained_with_the_number_keras_computes(monkeypatch, test_split, layer, column):
    """The link names image 3's brightest cell of a layer (filter 1); the panel's final number is
    Keras' own output there, to four decimals, and the cell is framed on the grid."""
    maps = shipped_conv_maps(test_split.images[[0, 23, 28]], 1)[8:]  # image 3: conv1, pool1, conv2, pool2
    panel = maps[column]
    row, col = np.unravel_index(int(np.argmax(panel)), panel.shape)
    at = page_with(monkeypatch, cell=f"3,{layer},{row},{col}", filter="1")
    text = " ".join(m.value for m in at.markdown)
    assert f"How {layer}'s number at row {row}, column {col} of image 3" in text
    assert f"**{float(panel[row, col]):.4f}**" in text
    shapes = journey_spec(at)["layout"]["shapes"]
    assert shapes[0]["x0"] == col - 0.5 and shapes[0]["y0"] == row - 0.5  # the cell, framed
    assert at.query_params["cell"] == f"3,{layer},{row},{col}"


def test_a_conv2_cell_lists_every_channel_largest_first(monkeypatch):
    at = page_with(monkeypatch, cell="1,conv2,3,4")
    [bars] = charts_of(at, "contributions_chart")
    values = bars["data"][0]["x"]
    names = bars["data"][0]["y"]
    assert names[-1] == "bias" and names[-2] == "48 others"  # 64 channels: the top 16, the rest, the bias
    top = [abs(v) for v in values[:16]]
    assert top == sorted(top, reverse=True)


def test_closing_the_panel_forgets_the_cell(monkeypatch):
    at = page_with(monkeypatch, cell="1,conv1,5,6")
    at.button(key="explanation_close").click().run()
    assert "cell" not in at.query_params
    assert any("Click any cell" in c.value for c in at.caption)


def test_where_it_looked_shows_both_models_saliency_and_the_conv_models_grad_cam(monkeypatch, test_split):
    from apptest_support import open_tab
    from convlab.models import PRESETS
    from convlab.saliency import Explainer
    from convlab.store import DEFAULT_ROOT, ModelStore

    at = open_tab(page_with(monkeypatch), "looked")
    [figure] = charts_of(at, "looked_chart")
    names = [t["name"] for t in figure["data"] if t["yaxis"] in ("y", "y2", "y3", "y4")]
    assert names == [
        "input",
        "dense (lesson): pixels that matter most",
        "conv (lesson): pixels that matter most",
        "input",
        "conv (lesson): where it found evidence",
    ]
    # The drawn saliency is the model's own gradient for its predicted class (image 1, the boot).
    conv = ModelStore(DEFAULT_ROOT).load(PRESETS["conv"]).model
    image = test_split.images[[0]]
    predicted = int(conv.predict(image, verbose=0).argmax())
    expected = Explainer(conv).saliency(image, [predicted])[0]
    np.testing.assert_allclose(np.array(figure["data"][2]["z"]), expected, rtol=1e-4, atol=1e-7)
    at.selectbox(key="looked_class").set_value(6).run()  # "why not a Shirt?"
    text = " ".join(m.value for m in at.main.markdown)
    assert "explains Shirt, Shirt, Shirt" in text and "only 11×11, so it shows roughly where" in text


def test_a_dense_page_model_still_gets_the_conv_models_grad_cam(monkeypatch):
    from apptest_support import open_tab
    from convlab.models import PRESETS

    at = open_tab(page_with(monkeypatch, model=PRESETS["dense"].key()), "looked")
    assert not at.exception
    [figure] = charts_of(at, "looked_chart")
    assert any(t["name"] == "conv (lesson): where it found evidence" for t in figure["data"])


def test_sliding_conv1s_filter_fills_the_map_with_keras_numbers(monkeypatch, test_split):
    """The lesson's "passing a filter over an image": the window starts at the clicked cell and,
    moved anywhere, names the number Keras' conv1 computes there."""
    at = page_with(monkeypatch, cell="3,conv1,5,6")
    assert at.slider(key="slide_step").value == 5 * 26 + 6 and at.slider(key="slide_step").max == 26 * 26 - 1
    conv1 = shipped_conv_maps(test_split.images[[0, 23, 28]], 1)[8]  # image 3's conv1, filter 1
    row, col = np.unravel_index(int(np.argmax(conv1)), conv1.shape)
    at.slider(key="slide_step").set_value(int(row * 26 + col)).run()
    assert any(
        f"Window at row {row}, column {col}: the map's cell there is **{float(conv1[row, col]):.4f}**" in c.value
        for c in at.main.caption
    )
    [figure] = charts_of(at, "slide_chart")
    drawn = np.array([[np.nan if v is None else v for v in line] for line in figure["data"][1]["z"]])
    np.testing.assert_allclose(drawn[:row], conv1[:row], atol=1e-5)  # every row before it, filled in
    assert np.isnan(drawn[row, col + 1 :]).all() and np.isnan(drawn[row + 1 :]).all()  # the rest still to come


def test_a_mistake_is_explained_for_the_class_said_and_the_true_one(monkeypatch, test_split):
    from apptest_support import open_tab

    at = open_tab(page_with(monkeypatch), "predictions")
    at.selectbox(key="mistakes_true").set_value(9).run()  # ankle boots ...
    at.selectbox(key="mistakes_predicted").set_value(5).run()  # ... taken for sandals
    index = at.selectbox(key="why_image").value
    assert test_split.labels[index] == 9
    [figure] = charts_of(at, "why_chart")
    titles = [t["name"] for t in figure["data"] if t["name"] != "input"]
    assert titles == [
        "Sandal (said): pixels that matter",
        "Ankle boot (true): pixels that matter",
        "Sandal (said): evidence found",
        "Ankle boot (true): evidence found",
    ]
    said, true = (np.array(t["z"]) for t in figure["data"][1:3])
    assert said.shape == true.shape == (28, 28) and not np.allclose(said, true)
    # Plain words first (issue 22): what to compare, in the classes of this mistake; the terms after.
    text = [m.value for m in at.main.markdown]
    assert any(
        "what counted for Sandal, the answer it gave, with what counted for Ankle boot, the right one" in t
        for t in text
    )
    assert any("[Selvaraju et al. 2017](https://arxiv.org/abs/1610.02391)" in t for t in text)


def test_portraits_are_drawn_once_cached_beside_the_model_and_choose_the_filter(tmp_path, monkeypatch):
    """The portraits view on a copy of the shipped models: the first visit draws every conv2
    filter's portrait and saves them beside the model; the drawn portrait excites its filter more
    than the grey image the climb starts from; a click on the gallery chooses the filter."""
    import shutil

    from apptest_support import open_tab
    from convlab import portraits
    from convlab.activations import Inspector
    from convlab.models import PRESETS
    from convlab.store import DEFAULT_ROOT, ModelStore

    class QuickCache(portraits.PortraitCache):
        """The app's cache with a fifth of the climb: what is checked here is the view drawing, saving and
        choosing (tests/test_portraits.py checks whole climbs)."""

        def __init__(self, *args, **options):
            super().__init__(*args, **{"steps": portraits.DEFAULT_STEPS // 5, **options})

    monkeypatch.setattr("ui.resources.PortraitCache", QuickCache)
    for spec in PRESETS.values():
        for path in ModelStore(DEFAULT_ROOT).paths(spec):
            shutil.copy(path, tmp_path / path.name)
    monkeypatch.setenv("CONVLAB_MODELS_DIR", str(tmp_path))
    at = open_tab(page_at({"filter": "5"}), "portraits")
    at.radio(key="portrait_layer").set_value("conv2").run()
    assert not at.exception and not at.error
    assert sorted(p.name for p in (tmp_path / "portraits").iterdir()) == [
        f"conv-{PRESETS['conv'].key()}-conv1.npz",
        f"conv-{PRESETS['conv'].key()}-conv2.npz",
    ]
    [figure] = charts_of(at, "portrait_chart")
    portrait = tile_values(figure, 0)
    inspector = Inspector(ModelStore(tmp_path).load(PRESETS["conv"]).model)
    conv2 = inspector.layer_names.index("conv2") if hasattr(inspector, "layer_names") else 2
    excited = (
        inspector.run(np.stack([portrait, np.full((28, 28), 0.5)])[..., None]).maps[conv2][..., 5].mean(axis=(1, 2))
    )
    assert excited[0] > excited[1]  # the portrait of filter 5 excites filter 5 more than grey does
    [gallery] = charts_of(at, "portraits_chart")
    assert len(gallery["data"][0]["meta"]["ranges"]) == 64


def test_a_dense_model_has_no_portraits_and_says_why(monkeypatch):
    from apptest_support import open_tab
    from convlab.models import PRESETS

    at = open_tab(page_with(monkeypatch, model=PRESETS["dense"].key()), "portraits")
    assert any("no conv layers" in i.value and "saliency" in i.value for i in at.info)


def test_the_step_buttons_move_the_window_by_one(monkeypatch):
    at = page_with(monkeypatch, cell="1,conv1,0,25")
    at.button(key="slide_forward").click().run()  # from the end of row 0 to the start of row 1
    assert at.slider(key="slide_step").value == 26
    at.button(key="slide_back").click().run()
    at.button(key="slide_back").click().run()
    assert at.slider(key="slide_step").value == 24


def test_every_panel_works_for_a_three_block_variant(tmp_path, monkeypatch, small_data):
    """A lab variant with three conv blocks: a conv3 cell is explained over its 16 channels, a
    pool3 cell from its window, and its saliency, Grad-CAM (on conv3) and portraits are drawn."""
    import shutil

    from apptest_support import open_tab
    from convlab.models import PRESETS, ModelSpec
    from convlab.store import DEFAULT_ROOT, ModelStore

    for spec in PRESETS.values():
        for path in ModelStore(DEFAULT_ROOT).paths(spec):
            shutil.copy(path, tmp_path / path.name)
    variant = ModelSpec(conv_filters=(8, 16, 16), dense_units=16, epochs=1, train_samples=500)
    ModelStore(tmp_path).get_or_train(variant, lambda: small_data)
    monkeypatch.setenv("CONVLAB_MODELS_DIR", str(tmp_path))
    at = page_at({"model": variant.key(), "cell": "2,conv3,0,0", "filter": "3"})
    text = " ".join(m.value for m in at.markdown)
    assert "How conv3's number at row 0, column 0 of image 2" in text and "all **16 channels** of pool2" in text
    at = page_at({"model": variant.key(), "cell": "2,pool3,0,0", "filter": "3"})
    assert any("Max-pooling keeps the largest of the 2×2 window of conv3" in m.value for m in at.markdown)
    open_tab(at, "looked")
    [figure] = charts_of(at, "looked_chart")
    assert any(t["name"] == f"{variant.label()}: where it found evidence" for t in figure["data"])
    assert any("those maps are only 3×3" in m.value for m in at.main.markdown)  # conv3's maps are 3×3
    open_tab(at, "portraits")
    at.radio(key="portrait_layer").set_value("conv3").run()
    assert not at.exception and not at.error
    [gallery] = charts_of(at, "portraits_chart")
    assert len(gallery["data"][0]["meta"]["ranges"]) == 16


def test_a_model_with_nan_weights_gets_a_message_not_a_traceback(tmp_path, monkeypatch, small_data):
    """A lab run whose training diverged (NaN weights): the portraits and "where it looked" say so."""
    import shutil

    from apptest_support import open_tab
    from convlab.models import PRESETS, ModelSpec
    from convlab.store import DEFAULT_ROOT, ModelStore

    for spec in PRESETS.values():
        for path in ModelStore(DEFAULT_ROOT).paths(spec):
            shutil.copy(path, tmp_path / path.name)
    variant = ModelSpec(conv_filters=(4,), dense_units=16, epochs=1, train_samples=500)
    store = ModelStore(tmp_path)
    stored = store.get_or_train(variant, lambda: small_data)
    kernel, bias = stored.model.layers[0].get_weights()
    stored.model.layers[0].set_weights([kernel * np.nan, bias])
    store._save(stored)  # saved as it is now, as a diverged training would have been
    monkeypatch.setenv("CONVLAB_MODELS_DIR", str(tmp_path))
    at = open_tab(page_at({"model": variant.key()}), "portraits")
    assert any("NaN weights" in e.value and "Retrain" in e.value for e in at.error)
    open_tab(at, "looked")
    assert not at.exception and any("NaN weights" in e.value for e in at.error)


def test_the_filters_grid_sends_a_filters_strongest_cell_to_be_explained(monkeypatch, test_split):
    from apptest_support import open_tab

    at = open_tab(page_with(monkeypatch), "filters")
    at.button(key="explain_strongest").click().run()
    conv1 = shipped_conv_maps(test_split.images[[0, 23, 28]], 1)[0]  # image 1's conv1, filter 1
    row, col = np.unravel_index(int(np.argmax(conv1)), conv1.shape)
    assert at.session_state["tab"] == "journey"
    assert any(f"How conv1's number at row {row}, column {col} of image 1" in m.value for m in at.markdown)
