"""The lab through Streamlit's AppTest: train a variant in the page, see it everywhere, delete it."""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from apptest_support import APP, TIMEOUT, frame_with, heatmaps, journey_spec, open_tab
from convlab.models import PRESETS, ModelSpec
from convlab.store import ModelStore


def run_until(at: AppTest, done, seconds: float = 120) -> AppTest:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        at.run()
        assert not at.exception, at.exception
        if done(at):
            return at
        time.sleep(1.0)  # each run of the lab page takes CPU from the training it waits for
    raise AssertionError("the page never reached the expected state")


def test_train_a_variant_in_the_page(models_dir):
    at = open_tab(AppTest.from_file(APP, default_timeout=TIMEOUT).run(), "lab")
    # The lab's three steps are numbered 1, 2, 3 from the start, not 1 → 3 until a training starts.
    assert [h.value for h in at.subheader if "·" in h.value][:3] == ["1 · Build a variant", "2 · Train", "3 · Runs"]
    at.radio(key="lab_blocks").set_value(1)
    at.select_slider(key="lab_filters_0").set_value(16)
    at.slider(key="lab_epochs").set_value(3)
    at.selectbox(key="lab_samples").set_value(1_000)
    at.radio(key="lab_stop_kind").set_value("loss below").run()
    at.number_input(key="lab_stop_loss").set_value(5.0).run()
    assert not at.exception
    spec = ModelSpec(conv_filters=(16,), epochs=3, train_samples=1_000, stop_loss=5.0)
    # The preview shows the spec's parameter count before anything trains, and its layers once opened.
    assert not [f for f in at.dataframe if "output shape" in f.value.columns]
    at.session_state["lab_layers"] = True  # "Where are its parameters? Layer by layer" opened
    at.run()
    shapes = [f for f in at.dataframe if "output shape" in f.value.columns][-1].value  # the lab comes last
    assert list(shapes["output shape"][:2]) == ["26×26×16", "13×13×16"]
    assert any(f"{sum(shapes['params']):,} parameters" in m.value for m in at.markdown)
    at.button(key="lab_train").click().run()
    # The worker process saves the run a moment before its job reports done: wait for both.
    at = run_until(
        at,
        lambda at: (
            spec.label() in list(frame_with(at, "key")["run"]) and any("Trained in" in s.value for s in at.success)
        ),
    )
    runs = frame_with(at, "key")
    row = runs[runs["run"] == spec.label()].iloc[0]
    assert row["epochs"] == 1 and row["stopped"].startswith("stopped after epoch 1: loss")
    assert row["params"] == sum(shapes["params"])
    assert any("Trained in" in s.value and "after 1 epoch." in s.value for s in at.success)  # not "1 epochs"
    assert ModelStore(models_dir).load(spec) is not None
    assert at.selectbox(key="lab_run").value == spec.key()  # the run picker moves to the new run
    # The new run drives the journey: one conv block means two feature columns.
    at.button(key=f"journey_{spec.key()}").click().run()
    assert at.selectbox(key="model").value == spec.key()
    assert at.session_state["tab"] == "journey"  # and the journey opens
    assert spec.label() in [c.value for c in at.sidebar.caption]  # the model box cuts long names: in full below
    open_tab(at, "journey")
    assert len(heatmaps(at)) == 3 * 2 and at.number_input(key="filter_box").max == 15
    # And it can be deleted; the journey falls back to the lesson's conv model.
    open_tab(at, "lab")
    at.selectbox(key="lab_run").set_value(spec.key()).run()
    at.button(key="lab_delete").click().run()
    at.button(key="lab_delete_confirm").click().run()
    assert not at.exception
    assert spec.label() not in list(frame_with(at, "key")["run"])
    assert ModelStore(models_dir).load(spec) is None
    assert at.selectbox(key="model").value == PRESETS["conv"].key()


def test_lesson_models_cannot_be_deleted(models_dir):
    at = open_tab(AppTest.from_file(APP, default_timeout=TIMEOUT).run(), "lab")
    at.selectbox(key="lab_run").set_value(PRESETS["conv"].key()).run()
    assert at.button(key="lab_delete").disabled


@pytest.mark.parametrize("filters", [(4,), (4, 8), (4, 8, 8)])
def test_the_journey_adapts_to_any_number_of_blocks(models_dir, small_data, filters):
    spec = ModelSpec(conv_filters=filters, dense_units=16, epochs=1, train_samples=500)
    ModelStore(models_dir).get_or_train(spec, lambda: small_data)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.selectbox(key="model").set_value(spec.key()).run()
    assert not at.exception
    columns = 2 * len(filters)
    titles = [a["text"] for a in journey_spec(at)["layout"]["annotations"]][: 1 + columns]
    expected_sides = [side for pair in spec.map_sizes() for side in pair]
    assert titles[1:] == [
        f"{kind}{(i // 2) + 1} · {s}×{s}"
        for i, (kind, s) in enumerate(zip(["conv", "pool"] * len(filters), expected_sides))
    ]
    assert len(heatmaps(at)) == 3 * columns
    assert at.number_input(key="filter_box").max == max(filters) - 1
    if len(set(filters)) > 1:  # a filter only the wider layers have: the 4-filter layers show a note
        at.number_input(key="filter_box").set_value(6).run()
        assert not at.exception
        assert len(heatmaps(at)) == 3 * (columns - 2)
        assert any("only 4 filters" in a["text"] for a in journey_spec(at)["layout"]["annotations"])


def test_a_sweep_of_four_variants_lands_four_runs_and_one_comparison(models_dir):
    from convlab.sweeps import load_sweeps

    at = open_tab(AppTest.from_file(APP, default_timeout=TIMEOUT).run(), "lab")
    at.selectbox(key="lab_samples").set_value(1_000)
    at.slider(key="lab_epochs").set_value(1)
    at.select_slider(key="lab_dense").set_value(32)
    at.button_group(key="lab_mode").set_value("A sweep").run()
    at.multiselect(key="sweep_blocks").set_value([1, 2])
    at.multiselect(key="sweep_filters").set_value([16, 32]).run()
    assert not at.exception, at.exception
    assert any("4 to train, 0 already trained" in m.value for m in at.markdown)
    at.button(key="sweep_train").click().run()
    at = run_until(
        at, lambda at: any("4 of 4 variants trained" in str(p.proto.text) for p in at.get("progress")), seconds=240
    )
    specs = [
        ModelSpec(conv_filters=(f,) * b, dense_units=32, epochs=1, train_samples=1_000)
        for b in (1, 2)
        for f in (16, 32)
    ]
    store = ModelStore(models_dir)
    metas = {spec.key(): store.load(spec).meta for spec in specs}  # four runs, stored
    [record] = load_sweeps(models_dir)  # one sweep
    assert {spec.key() for spec in record.sweep.specs()} == set(metas)
    # One comparison: a row per variant with the stored figures, the best starred, the chart marking it.
    table = frame_with(at, "variant")
    assert sorted(table["variant"]) == sorted(spec.label() for spec in specs)
    for _, row in table.iterrows():
        meta = next(m for m in metas.values() if ModelSpec.from_dict(m["spec"]).label() == row["variant"])
        assert row["test accuracy"] == pytest.approx(meta["metrics"]["test_accuracy"])
        assert row["params"] == meta["params"]
    best = max(metas.values(), key=lambda meta: meta["metrics"]["test_accuracy"])
    assert list(table[table["best"] == "★"]["variant"]) == [ModelSpec.from_dict(best["spec"]).label()]
    # The four are in the runs table too, and the best one opens in the journey.
    assert set(spec.label() for spec in specs) <= set(frame_with(at, "key")["run"])
    at.button(key="sweep_best").click().run()
    assert at.selectbox(key="model").value == best["key"]
