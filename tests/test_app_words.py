"""Issue 22's words through AppTest, each against a reference: plain words before the pictures and the
terms after them, the lab's words after a person's own click on Train (and for someone else's request),
and Compare's epochs and its explanation of the parameters against Keras' own per-layer counts."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from apptest_support import APP, TIMEOUT, charts_of, open_tab, page_at
from convlab.models import PRESETS, ModelSpec, params_explained
from convlab.store import DEFAULT_ROOT, ModelStore
from test_app_lab import run_until

PAPERS = {  # checked by hand against the papers (arXiv abstracts; Erhan et al.'s technical report 1341)
    "Saliency map": "https://arxiv.org/abs/1312.6034",
    "Grad-CAM": "https://arxiv.org/abs/1610.02391",
    "SmoothGrad": "https://arxiv.org/abs/1706.03825",
    "Activation maximisation": "https://www.researchgate.net/publication/265022827_Visualizing_Higher-Layer_Features_of_a_Deep_Network",
}


def in_order(node):
    """Every element under ``node`` in the order the page shows them."""
    for child in getattr(node, "children", {}).values():
        yield child
        yield from in_order(child)


def shown(at) -> list[tuple[str, str]]:
    """(type, text or chart key) of the main area's elements, top to bottom."""
    items = []
    for element in in_order(at.main):
        if element.type in ("markdown", "header", "subheader", "caption"):
            items.append((element.type, element.value))
        elif element.type == "bidi_component" and element.proto.component_name == "plotly_react":
            items.append(("chart", element.proto.id))
    return items


def position(items, test) -> int:
    return next(i for i, item in enumerate(items) if test(item))


def shipped():
    store = ModelStore(DEFAULT_ROOT)
    return store.load(PRESETS["conv"]), store.load(PRESETS["dense"])


# -- plain words first, then the terms ---------------------------------------------------------------
def test_where_it_looked_opens_with_one_plain_sentence_above_its_picture_and_the_terms_below(monkeypatch):
    from ui.views.looked import PLAIN

    monkeypatch.delenv("CONVLAB_MODELS_DIR", raising=False)
    at = open_tab(page_at(clear_resources=False), "looked")
    items = shown(at)
    heading = position(items, lambda item: item[1] == "Where the model looked")
    plain = position(items, lambda item: item == ("markdown", f"**{PLAIN}**"))
    picture = position(items, lambda item: item[0] == "chart" and item[1].endswith("looked_chart"))
    terms = position(items, lambda item: item[1].startswith("**The words for it**"))
    assert heading + 1 == plain < picture < terms  # the sentence comes first, right under the heading
    assert len(re.findall(r"[.!?](?:\s|$)", PLAIN)) == 1 and "saliency" not in PLAIN.lower()
    words = items[terms][1]
    for name in ("Saliency map", "Grad-CAM", "SmoothGrad"):
        assert re.search(rf"^- \*\*{re.escape(name)}\*\* \(\[[^]]+\]\({re.escape(PAPERS[name])}\)\): \S", words, re.M)
    # Grad-CAM's coarseness in the model's own figures: its maps are the last conv layer's.
    conv = shipped()[0].model
    side = conv.get_layer("conv2").output.shape[1]
    assert f"those maps are only {side}×{side}, so it shows roughly where" in words
    assert "25 copies" in words  # SmoothGrad's copies, the view's SMOOTH_SAMPLES


def test_portraits_open_with_one_plain_sentence_and_name_activation_maximisation_with_its_paper(monkeypatch):
    from ui.views.portraits import PLAIN

    monkeypatch.delenv("CONVLAB_MODELS_DIR", raising=False)
    at = open_tab(page_at(clear_resources=False), "portraits")
    items = shown(at)
    plain = position(items, lambda item: item == ("markdown", f"**{PLAIN}**"))
    first_picture = position(items, lambda item: item[0] == "chart")
    terms = position(items, lambda item: item[1].startswith("**The words for it**"))
    assert items[plain - 1] == ("header", "What each filter wants to see") and plain < first_picture < terms
    assert len(re.findall(r"[.!?](?:\s|$)", PLAIN)) == 1
    assert f"]({PAPERS['Activation maximisation']})" in items[terms][1]
    assert not any("climbed to" in text for _, text in items)  # the old words


# -- Compare: epochs left to right, and where the parameters are -------------------------------------
def test_compare_reads_by_epoch_and_explains_each_models_parameters_with_keras_counts(monkeypatch):
    monkeypatch.delenv("CONVLAB_MODELS_DIR", raising=False)
    at = open_tab(page_at(clear_resources=False), "compare")
    [curves] = charts_of(at, "curves_chart")
    conv, dense = shipped()
    epochs = max(len(stored.meta["history"]["train_loss"]) for stored in (conv, dense))
    for axis in ("xaxis", "xaxis2"):
        layout = curves["layout"][axis]
        assert layout["title"]["text"] == f"epoch (1 to {epochs}, left to right)"
        assert (layout["tickmode"], layout["tick0"], layout["dtick"]) == ("linear", 1, 1)
    for trace in curves["data"]:
        if trace["mode"] == "lines+markers":
            assert trace["x"] == list(range(1, len(trace["y"]) + 1))  # epoch 1 first, one point per epoch
    text = " ".join(m.value for m in at.main.markdown)
    assert f"one dot per epoch, from epoch 1 to epoch {epochs}" in text
    for stored in (dense, conv):
        explained = params_explained(stored.spec)
        assert explained in text
        check_against_keras(explained, stored.model, conv.model)


def check_against_keras(explained: str, model, lesson) -> None:
    """Every count the words give, from Keras' own layers: the total, Flatten's numbers, Dense's parameters,
    the conv and output layers', and the lesson conv model's where the words compare with it."""
    total = re.search(r"^(?:Most of its |\d+% of its )([\d,]+) parameters", explained)
    assert int(total.group(1).replace(",", "")) == model.count_params()
    flat = model.get_layer("flatten").output.shape[-1]
    hidden = model.get_layer("hidden")
    units = hidden.units
    assert f"out as {flat:,} numbers" in explained
    assert f"({flat:,} + 1) × {units} = {hidden.count_params():,}." in explained
    conv_params = sum(layer.count_params() for layer in model.layers if type(layer).__name__ == "Conv2D")
    assert (f"Its conv layers have {conv_params:,}, the output layer" in explained) == bool(conv_params)
    assert f"{model.get_layer('output').count_params():,}." in explained
    if model is not lesson:
        assert f"the lesson's conv model ({lesson.count_params():,})" in explained
        lesson_flat = lesson.get_layer("flatten").output.shape[-1]
        if flat != lesson_flat:
            assert f"{flat:,} numbers instead of {lesson_flat:,}" in explained
            assert (
                f"Dense({units}) needs {hidden.count_params():,} parameters instead of "
                f"{lesson.get_layer('hidden').count_params():,}"
            ) in explained


@pytest.mark.parametrize("filters", [(4,), (4, 8, 8)])
def test_a_variants_parameters_are_explained_against_the_lesson_with_keras_counts(models_dir, small_data, filters):
    """One pooling: bigger maps, so more numbers for Dense; three: smaller. Words from the specs, numbers
    checked against the trained Keras models, layer by layer."""
    spec = ModelSpec(conv_filters=filters, dense_units=16, epochs=1, train_samples=500)
    stored = ModelStore(models_dir).get_or_train(spec, lambda: small_data)
    explained = params_explained(spec)
    check_against_keras(explained, stored.model, shipped()[0].model)
    side = spec.map_sizes()[-1][1]
    expected = "once, not twice" if len(filters) == 1 else "3 times, not twice"
    assert f"It pools {expected}, so its last maps are {side}×{side}, not 5×5" in explained
    at = open_tab(AppTest.from_file(APP, default_timeout=TIMEOUT).run(), "compare")
    at.selectbox(key="compare_b").set_value(spec.key()).run()
    assert not at.exception and explained in [m.value for m in at.main.markdown]


# -- the lab's words follow the person's own click ---------------------------------------------------
LAB_SPEC = ModelSpec(conv_filters=(16,), epochs=2, train_samples=1_000)
# Its start, its place in this server's queue, or a wait for a training of another process on this machine.
YOURS = re.compile(
    r"^Your training (has started|is \d+(st|nd|rd|th) in the queue|is in the queue: waiting for another)"
)


def lab_with_spec(spec: ModelSpec) -> AppTest:
    """A new page (a session of its own) on the lab, its builder set to ``spec``."""
    at = open_tab(AppTest.from_file(APP, default_timeout=TIMEOUT).run(), "lab")
    at.radio(key="lab_blocks").set_value(len(spec.conv_filters))
    for block, filters in enumerate(spec.conv_filters):
        at.select_slider(key=f"lab_filters_{block}").set_value(filters)
    at.slider(key="lab_epochs").set_value(spec.epochs)
    at.selectbox(key="lab_samples").set_value(spec.train_samples).run()
    assert not at.exception, at.exception
    assert [m for m in at.markdown if spec.label() in m.value], "the builder is not set to the spec"
    return at


def texts(at) -> list[str]:
    return [e.value for e in (*at.info, *at.success, *at.markdown, *at.caption)]


def test_after_your_own_click_on_train_the_lab_says_your_training_then_its_real_figures(models_dir):
    at = lab_with_spec(LAB_SPEC)
    at.button(key="lab_train").click().run()
    assert not at.exception, at.exception
    said = texts(at)
    assert any(YOURS.search(text) for text in said), said
    assert not any("already being trained" in text or "already trained" in text for text in said), said
    batches = [str(p.proto.text) for p in at.get("progress")]
    assert not any("Batch 0 of 0" in text for text in batches), batches
    at = run_until(at, lambda at: any("Trained in" in s.value for s in at.success))
    meta = ModelStore(models_dir).load(LAB_SPEC).meta
    from ui.runs import duration

    figures = f"Trained in {duration(meta['seconds'])}: test accuracy {meta['metrics']['test_accuracy']:.3f} after"
    assert any(figures in s.value for s in at.success), [s.value for s in at.success]
    assert any(s.value.startswith("Your training is done") for s in at.success)
    assert not any("already trained" in text for text in texts(at))  # their own run, not someone else's


def test_someone_elses_request_for_the_same_variant_gets_the_honest_words(models_dir):
    spec = ModelSpec(conv_filters=(16,), epochs=3, train_samples=60_000)  # long enough to still be training
    first = lab_with_spec(spec)
    first.button(key="lab_train").click().run()
    other = lab_with_spec(spec)  # another person's page, asking for the same variant meanwhile
    assert any(YOURS.search(text) for text in texts(first)), texts(first)
    said = texts(other)
    assert any(
        "someone else (another page, or a sweep) asked for it first" in text and "won't be trained twice" in text
        for text in said
    ), said
    assert not any(YOURS.search(text) for text in said)
    assert "lab_train" not in [button.key for button in other.button]  # no second training of it
