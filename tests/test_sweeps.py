"""Sweeps: the grid against nested loops, validation messages, saving and loading, comparison rows, the figure."""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import replace

import plotly.graph_objects as go
import pytest

from convlab import models
from convlab.figures.curves import sweep_figure
from convlab.models import PRESETS, ModelSpec
from convlab.sweeps import AXES, MAX_VARIANTS, Sweep, best, comparison, load_sweeps, save_sweep

CONV, DENSE = PRESETS["conv"], PRESETS["dense"]


def brute_force(base: ModelSpec, blocks, filters, epochs, dense_units) -> list[ModelSpec]:
    """The grid written out by hand, axes in AXES order, duplicates dropped keeping the first."""
    specs = []
    for b in blocks:
        for f in filters:
            for e in epochs:
                for d in dense_units:
                    spec = ModelSpec(
                        conv_filters=tuple([f] * b),
                        kernel_size=base.kernel_size,
                        pool_size=base.pool_size,
                        dense_units=d,
                        epochs=e,
                        batch_size=base.batch_size,
                        seed=base.seed,
                        train_samples=base.train_samples,
                    )
                    if spec not in specs:
                        specs.append(spec)
    return specs


def test_the_grid_is_every_combination_in_axes_order():
    sweep = Sweep.of(CONV, {"epochs": [3, 1], "filters": [16, 8], "blocks": [1, 3, 2], "dense_units": [32]})
    expected = brute_force(CONV, blocks=[1, 2, 3], filters=[8, 16], epochs=[1, 3], dense_units=[32])
    assert len(expected) == 12
    assert sweep.specs() == expected
    assert [name for name, _ in sweep.axes] == ["blocks", "filters", "epochs", "dense_units"]
    assert sweep.axes[0] == ("blocks", (1, 2, 3))
    assert sweep.describe() == "blocks 1, 2, 3 × filters 8, 16 × epochs 1, 3 × dense units 32 (12 variants)"
    assert sweep.values_of(expected[5]) == {"blocks": 2, "filters": 8, "epochs": 3, "dense_units": 32}


def test_one_conv_axis_alone_takes_the_other_from_the_base():
    base = replace(CONV, conv_filters=(32, 48))
    assert [s.conv_filters for s in Sweep.of(base, {"filters": [8, 16]}).specs()] == [(8, 8), (16, 16)]
    assert [s.conv_filters for s in Sweep.of(base, {"blocks": [1, 3]}).specs()] == [(32,), (32, 32, 32)]
    assert [s.conv_filters for s in Sweep.of(DENSE, {"blocks": [0, 2]}).specs()] == [(), (64, 64)]
    # Axes that don't touch the convolutions keep the base's, uneven or not.
    assert {s.conv_filters for s in Sweep.of(base, {"seed": [1, 2]}).specs()} == {(32, 48)}
    assert [s.seed for s in Sweep.of(base, {"seed": [2, 1]}).specs()] == [1, 2]


def test_blocks_zero_is_one_dense_baseline_whatever_the_filters():
    sweep = Sweep.of(CONV, {"blocks": [2, 0, 1], "filters": [8, 16, 32]})
    specs = sweep.specs()
    assert specs == brute_force(CONV, blocks=[0, 1, 2], filters=[8, 16, 32], epochs=[5], dense_units=[128])
    assert len(specs) == 1 + 2 * 3
    assert specs[0] == DENSE and [s.conv_filters for s in specs].count(()) == 1
    assert sweep.values_of(specs[0]) == {"blocks": 0, "filters": None}
    assert sweep.describe().endswith("(7 variants)")


def test_the_key_depends_on_the_grid_alone():
    one = Sweep.of(CONV, {"filters": [16, 32, 64], "blocks": [1, 2]}, name="first try")
    same = Sweep.of(CONV, {"blocks": [2, 1, 2], "filters": [64, 16, 32]})
    as_pairs = Sweep(CONV, (("blocks", (1, 2)), ("filters", (16, 32, 64))))
    assert one.key() == same.key() == as_pairs.key()
    assert re.fullmatch(r"[0-9a-f]{12}", one.key())
    reference = hashlib.sha256(json.dumps(sorted(s.key() for s in one.specs()), separators=(",", ":")).encode())
    assert one.key() == reference.hexdigest()[:12]
    assert same == as_pairs and hash(same) == hash(as_pairs)
    assert Sweep.of(CONV, {"filters": [16, 32], "blocks": [1, 2]}).key() != one.key()
    assert Sweep.of(replace(CONV, seed=1), {"filters": [16, 32, 64], "blocks": [1, 2]}).key() != one.key()


@pytest.mark.parametrize(
    ("axes", "message"),
    [
        ({"kernel_size": [3, 5]}, "unknown sweep axis 'kernel_size'; choose from blocks, filters"),
        ({"filters": []}, "the axis 'filters' has no values; give at least one"),
        ({}, "a sweep needs at least one axis"),
        (
            {"seed": range(MAX_VARIANTS + 1)},
            f"a sweep of 37 variants is too big: at most {MAX_VARIANTS}; drop some values",
        ),
        # 4 block counts × 12 filter counts is 48 combinations, but blocks 0 gives one baseline: 3 × 12 + 1.
        ({"blocks": [0, 1, 2, 3], "filters": range(1, 13)}, "a sweep of 37 variants is too big"),
        ({"blocks": [1, 4]}, "at most 3 conv blocks fit a 28x28 image, not 4"),
        ({"epochs": [5, 21]}, "epochs must be 1..20, not 21"),
        ({"filters": [0, 8]}, "filters per conv layer must be 1..512"),
        ({"blocks": [-1, 1]}, "blocks can't be negative"),
        ({"filters": [8.5]}, "must be whole numbers, not 8.5"),
        ({"filters": "16"}, "must be a list of whole numbers"),
    ],
)
def test_bad_sweeps_say_what_to_change(axes, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Sweep.of(CONV, axes)


def test_limits_are_counted_in_distinct_variants():
    assert len(Sweep.of(CONV, {"seed": range(MAX_VARIANTS)}).specs()) == MAX_VARIANTS
    assert len(Sweep.of(CONV, {"blocks": [0, 1, 2, 3], "filters": range(1, 12)}).specs()) == 34  # 44 combinations
    with pytest.raises(ValueError, match="in the variant blocks 4"):
        Sweep.of(CONV, {"blocks": [4]})
    with pytest.raises(ValueError, match="filters change nothing .* start from a conv model"):
        Sweep.of(DENSE, {"filters": [8, 16]})
    with pytest.raises(ValueError, match="given twice"):
        Sweep(CONV, (("seed", (1,)), ("seed", (2,))))


def test_save_and_load_round_trip(tmp_path):
    older = Sweep.of(CONV, {"filters": [16, 32]}, name="fewer filters")
    newer = Sweep.of(DENSE, {"blocks": [0, 1, 2]})
    older_path = save_sweep(tmp_path, older, created="2024-05-01T10:00:00+00:00")
    save_sweep(tmp_path, newer, created="2024-05-02T09:00:00+00:00")
    assert older_path == tmp_path / "sweeps" / f"{older.key()}.json"
    assert sorted(p.name for p in (tmp_path / "sweeps").iterdir()) == sorted(f"{s.key()}.json" for s in (older, newer))

    stored = json.loads(older_path.read_text())
    assert stored == {
        "format": 1,
        "key": older.key(),
        "name": "fewer filters",
        "base": CONV.to_dict(),
        "axes": {"filters": [16, 32]},
        "specs": [s.key() for s in older.specs()],
        "created": "2024-05-01T10:00:00+00:00",
    }

    records = load_sweeps(tmp_path)
    assert [r.sweep for r in records] == [newer, older]
    assert [r.key for r in records] == [newer.key(), older.key()]
    assert records[1].sweep.name == "fewer filters" and records[1].created == "2024-05-01T10:00:00+00:00"
    assert records.problems == {}

    # Saving the same grid again (another name, another time) keeps when it was first saved.
    save_sweep(tmp_path, Sweep.of(CONV, {"filters": [32, 16]}, name="renamed"), created="2030-01-01T00:00:00+00:00")
    again = {r.key: r for r in load_sweeps(tmp_path)}[older.key()]
    assert again.created == "2024-05-01T10:00:00+00:00" and again.sweep.name == "renamed"


def test_save_leaves_no_temp_files_and_stamps_utc_now(tmp_path):
    sweep = Sweep.of(CONV, {"epochs": [1, 2]})
    path = save_sweep(tmp_path, sweep)
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    created = json.loads(path.read_text())["created"]
    assert created.endswith("+00:00")
    with pytest.raises(ValueError, match="ISO 8601"):
        save_sweep(tmp_path, sweep, created="yesterday")


def write(folder, name: str, content) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(content if isinstance(content, str) else json.dumps(content))


def test_unusable_files_are_reported_not_raised(tmp_path):
    good = Sweep.of(CONV, {"filters": [8, 16]})
    save_sweep(tmp_path, good)
    folder = tmp_path / "sweeps"
    valid = json.loads((folder / f"{good.key()}.json").read_text())

    write(folder, "broken.json", '{"format": 1, "key": ')
    write(folder, "list.json", [1, 2, 3])
    write(folder, "future.json", {**valid, "format": 2})
    bad_base = Sweep.of(replace(CONV, epochs=3), {"filters": [8, 16]})  # saved, then its base edited to 99 epochs
    write(folder, f"{bad_base.key()}.json", {**valid, "key": bad_base.key(), "base": {**CONV.to_dict(), "epochs": 99}})
    write(folder, "aaaaaaaaaaaa.json", {**valid, "key": "aaaaaaaaaaaa"})  # a grid that isn't the one its name says
    write(folder, "unknown-axis.json", {**valid, "key": "unknown-axis", "axes": {"kernel_size": [3, 5]}})
    write(folder, "too-big.json", {**valid, "key": "too-big", "axes": {"seed": list(range(100))}})
    write(folder, f".{good.key()}.123.456.tmp.json", "{half-written")  # another save in progress: not a sweep

    records = load_sweeps(tmp_path)
    assert [r.sweep for r in records] == [good]
    problems = records.problems
    assert set(problems) == {
        "broken.json",
        "list.json",
        "future.json",
        f"{bad_base.key()}.json",
        "aaaaaaaaaaaa.json",
        "unknown-axis.json",
        "too-big.json",
    }
    assert "JSONDecodeError" in problems["broken.json"]
    assert "not an object" in problems["list.json"]
    assert "format is 2" in problems["future.json"]
    assert "epochs must be 1..20, not 99" in problems[f"{bad_base.key()}.json"]
    assert "not the 'aaaaaaaaaaaa'" in problems["aaaaaaaaaaaa.json"]
    assert "unknown sweep axis" in problems["unknown-axis.json"]
    assert "too big" in problems["too-big.json"]


def test_no_folder_means_no_sweeps(tmp_path):
    records = load_sweeps(tmp_path / "nowhere")
    assert records == [] and records.problems == {}


def meta(spec: ModelSpec, test: float, train: float, seconds: float, epochs: int) -> dict:
    """What store.py records for a run, cut to the fields a comparison reads."""
    return {
        "key": spec.key(),
        "spec": spec.to_dict(),
        "params": models.count_params(spec),
        "seconds": seconds,
        "epochs_run": epochs,
        "metrics": {"test_accuracy": test, "train_accuracy": train, "test_loss": 0.3, "train_loss": 0.2},
    }


@pytest.fixture
def blocks_sweep():
    return Sweep.of(CONV, {"blocks": [0, 1, 2], "filters": [16, 64]})  # dense, 16, 64, 16-16, 64-64


def test_comparison_rows(blocks_sweep):
    dense, c16, _, _, c64x2 = blocks_sweep.specs()
    assert (dense, c64x2) == (DENSE, CONV)
    metas = {dense.key(): meta(dense, 0.87, 0.89, 40.5, 5), c64x2.key(): meta(c64x2, 0.91, 0.95, 300.0, 4)}
    rows = comparison(blocks_sweep, metas, states={c16.key(): "training", c64x2.key(): "failed"})
    assert [row["key"] for row in rows] == [s.key() for s in blocks_sweep.specs()]
    assert rows[0] == {
        "variant": "dense (lesson)",
        AXES["blocks"]: 0,
        AXES["filters"]: None,
        "params": 101_770,
        "test accuracy": 0.87,
        "train accuracy": 0.89,
        "training time (s)": 40.5,
        "epochs run": 5,
        "state": "trained",
        "key": dense.key(),
    }
    assert rows[4]["variant"] == "conv (lesson)" and rows[4]["params"] == 243_786  # the lesson's summary
    assert rows[4]["state"] == "trained" and rows[4]["epochs run"] == 4  # a finished run beats a stale state
    assert rows[1] == {
        "variant": c16.label(),
        AXES["blocks"]: 1,
        AXES["filters"]: 16,
        "params": models.count_params(c16),
        "test accuracy": None,
        "train accuracy": None,
        "training time (s)": None,
        "epochs run": None,
        "state": "training",
        "key": c16.key(),
    }
    assert [row["state"] for row in rows] == ["trained", "training", "not trained", "not trained", "trained"]
    assert [row["params"] for row in rows] == [models.count_params(s) for s in blocks_sweep.specs()]
    assert best(rows) == c64x2.key()


def test_best_prefers_accuracy_then_the_smaller_model(blocks_sweep):
    dense, c16, c64, _, c64x2 = blocks_sweep.specs()
    assert best(comparison(blocks_sweep, {})) is None
    # Two blocks shrink the maps before the big Dense layer: conv 64-64 is the smallest of the three.
    params = {s: models.count_params(s) for s in (c16, c64, c64x2)}
    assert params[c64x2] < params[c16] < params[c64]
    tie = {
        c64.key(): meta(c64, 0.9, 0.93, 100.0, 5),
        c16.key(): meta(c16, 0.9, 0.92, 90.0, 5),
        c64x2.key(): meta(c64x2, 0.9, 0.95, 300.0, 5),
        dense.key(): meta(dense, 0.85, 0.9, 30.0, 5),
    }
    rows = comparison(blocks_sweep, tie)
    assert best(rows) == c64x2.key()  # last in grid order, but the fewest parameters
    assert best(list(reversed(rows))) == c64x2.key()  # the rule, not the order, decides
    assert best([r for r in rows if r["key"] != c64x2.key()]) == c16.key()
    # Higher accuracy wins whatever the size.
    assert best(comparison(blocks_sweep, {**tie, c64.key(): meta(c64, 0.905, 0.9, 80.0, 5)})) == c64.key()


def test_figure_draws_the_finished_rows_and_marks_the_best_in_both_panels(blocks_sweep):
    dense, c16, _, _, c64x2 = blocks_sweep.specs()
    metas = {
        dense.key(): meta(dense, 0.87, 0.89, 40.5, 5),
        c16.key(): meta(c16, 0.9, 0.93, 90.0, 5),
        c64x2.key(): meta(c64x2, 0.92, 0.95, 300.0, 5),
    }
    rows = comparison(blocks_sweep, metas)
    winner = best(rows)
    assert winner == c64x2.key()
    figure = sweep_figure(rows, winner)
    finished = [rows[0], rows[1], rows[4]]

    variants = [t for t in figure["data"] if t["name"] == "variants"]
    assert [t["xaxis"] for t in variants] == ["x", "x2"] and {t["yaxis"] for t in variants} == {"y"}
    assert variants[0]["x"] == [r["params"] for r in finished]
    assert variants[1]["x"] == [r["training time (s)"] for r in finished]
    assert variants[0]["y"] == variants[1]["y"] == [r["test accuracy"] for r in finished]
    assert all(r["variant"] in text for r, text in zip(finished, variants[0]["text"], strict=True))

    stars = [t for t in figure["data"] if t["name"] == "best"]
    assert [(t["xaxis"], t["x"], t["y"]) for t in stars] == [("x", [243_786], [0.92]), ("x2", [300.0], [0.92])]
    assert all(
        t["marker"]["symbol"] == "star"
        and t["marker"]["size"] > variants[0]["marker"]["size"]
        and t["marker"]["color"] != variants[0]["marker"]["color"]
        for t in stars
    )
    notes = figure["layout"]["annotations"]
    assert [(a["text"], a["xref"]) for a in notes] == [("best: conv (lesson)", "x"), ("best: conv (lesson)", "x2")]
    assert notes[0]["x"] == pytest.approx(math.log10(243_786))  # annotations on a log axis sit at log10(x)
    assert notes[1]["x"] == 300.0 and {a["y"] for a in notes} == {0.92}

    layout = figure["layout"]
    assert layout["xaxis"]["type"] == "log" and layout["xaxis"]["title"]["text"] == "parameters"
    assert layout["xaxis2"]["title"]["text"] == "training time (s)" and layout["xaxis2"]["anchor"] == "y"
    assert layout["yaxis"]["title"]["text"] == "test accuracy"
    assert layout["xaxis"]["domain"][1] < layout["xaxis2"]["domain"][0]
    assert layout["font"]["size"] >= 14 and all(a["font"]["size"] >= 14 for a in notes)
    # Log ticks at 1, 2, 5 × 10^n, named shortly, covering every point.
    ticks = layout["xaxis"]["tickvals"]
    assert ticks[0] <= min(variants[0]["x"]) and ticks[-1] >= max(variants[0]["x"])
    assert all(str(t).lstrip("0")[0] in "125" and set(str(t)[1:]) <= {"0"} for t in ticks)
    assert dict(zip(ticks, layout["xaxis"]["ticktext"], strict=True))[100_000] == "100k"
    text = json.dumps(figure)
    assert not re.search(r"#0000[0-3][0-9a-f]", text, re.IGNORECASE)  # Streamlit's theme would recolour these
    go.Figure(figure)  # Plotly's own validation: every property name and value is one it knows


def test_figure_without_a_best_or_any_results(blocks_sweep):
    dense = blocks_sweep.specs()[0]
    rows = comparison(blocks_sweep, {dense.key(): meta(dense, 0.87, 0.89, 40.5, 5)})
    unmarked = sweep_figure(rows, None)
    assert [t["name"] for t in unmarked["data"]] == ["variants", "variants"] and unmarked["layout"]["annotations"] == []

    empty = sweep_figure(comparison(blocks_sweep, {}, states={dense.key(): "queued"}), None)
    assert empty["data"] == []
    [note] = empty["layout"]["annotations"]
    assert note["text"] == "no finished runs yet"
    assert (note["xref"], note["yref"], note["x"], note["y"]) == ("paper", "paper", 0.5, 0.5)
    assert sweep_figure([], None)["layout"]["annotations"][0]["text"] == "no finished runs yet"
    go.Figure(empty)
