"""Accuracy against shift and rotation, checked against the models' own accuracy and a brute-force
loop, and its cache on disk."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import numpy as np
import pytest

from convlab import invariance as invariance_module
from convlab.data import Split
from convlab.invariance import ANGLES, SHIFTS, Invariance, InvarianceCache, grid, measure
from convlab.models import PRESETS
from convlab.store import DEFAULT_ROOT, ModelStore, StoredModel
from convlab.transforms import Transform, apply

SMALL = {"shifts": (-2, 0, 2), "angles": (-15.0, 0.0, 15.0)}  # a grid for the cache tests: quick
CHART_IMAGES = 1_000  # the whole grid over the first 1,000 test images: the curves' shapes, at a tenth of the time
CHART_BATCH = 600  # images per forward pass: the last one short
CHECKSUM = "a" * 64


@pytest.fixture(scope="module")
def shipped(tmp_path_factory) -> dict[str, StoredModel]:
    """kind -> the shipped model, loaded from a copy of the files."""
    # A copy: a load that fails would set the shipped files aside, and a test never moves them.
    root = tmp_path_factory.mktemp("models")
    for path in DEFAULT_ROOT.glob("*-*.*"):
        shutil.copy(path, root)
    store = ModelStore(root)
    models = {kind: store.load(PRESETS[kind]) for kind in ("dense", "conv")}
    assert None not in models.values(), f"a shipped model is missing ({store.problems}): python -m convlab train all"
    return models


@pytest.fixture(scope="module")
def measured(shipped, test_split) -> dict[str, tuple[Invariance, list]]:
    """kind -> (the full chart over the first CHART_IMAGES test images, its progress calls)."""
    result = {}
    images, labels = test_split.images[:CHART_IMAGES], test_split.labels[:CHART_IMAGES]
    for kind, stored in shipped.items():
        calls = []
        record = lambda done, total: calls.append((done, total))  # noqa: E731
        result[kind] = (measure(stored.model, images, labels, record, batch_size=CHART_BATCH, lock=stored.lock), calls)
        print(f"\n{kind} model: the whole chart took {result[kind][0].seconds:.1f} s")
    return result


def own_accuracy(model, images: np.ndarray, labels: np.ndarray) -> float:
    """The model's accuracy by Keras' predict, nothing of convlab.invariance."""
    probabilities = model.predict(images.reshape(-1, 28, 28, 1), batch_size=500, verbose=0)
    return float(np.mean(np.argmax(probabilities, axis=1) == labels))


def as_model(stored: StoredModel, checksum: str | None = CHECKSUM) -> StoredModel:
    """The same Keras model as the store would hand over with another checksum (None: not saved)."""
    meta = {"model_sha256": checksum} if checksum else {}
    return StoredModel(spec=stored.spec, model=stored.model, meta=meta, saved=checksum is not None)


@pytest.fixture
def counted(monkeypatch) -> mock.Mock:
    """Watches the measurements that ``load_or_measure`` starts."""
    spy = mock.Mock(wraps=invariance_module.measure)
    monkeypatch.setattr(invariance_module, "measure", spy)
    return spy


@pytest.fixture(scope="module")
def part(test_split) -> Split:
    """The first 1,000 test images: plenty for the cache tests."""
    return Split(test_split.images[:1000], test_split.labels[:1000], test_split.source)


def files_under(root) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


# -- the measurement ---------------------------------------------------------------------------
def test_the_grid_measures_each_transform_once():
    moves = grid()
    assert len(moves) == 1 + 2 * (len(SHIFTS) - 1) + (len(ANGLES) - 1) == 43
    assert moves[0] == Transform() and len(set(moves)) == len(moves)
    assert SHIFTS == tuple(range(-6, 7)) and ANGLES[0] == -45 and ANGLES[-1] == 45 and 0.0 in ANGLES


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_the_unmoved_accuracy_is_the_models_own_test_accuracy(shipped, measured, test_split, kind):
    result, _ = measured[kind]
    model = shipped[kind].model
    expected = own_accuracy(model, test_split.images[:CHART_IMAGES], test_split.labels[:CHART_IMAGES])
    at_zero = SHIFTS.index(0)
    assert result.accuracy_shift_x[at_zero] == result.accuracy_shift_y[at_zero] == result.accuracy
    assert result.accuracy_rotate[ANGLES.index(0.0)] == result.accuracy
    # One image either way: other batch sizes may round a near tie the other way.
    assert result.accuracy == pytest.approx(expected, abs=1 / CHART_IMAGES + 1e-9)
    assert result.images == CHART_IMAGES and result.shifts == SHIFTS and result.angles == ANGLES
    # Over all 10,000 (the unmoved pictures alone): the accuracy the training recorded.
    whole = measure(model, test_split.images, test_split.labels, shifts=(0,), angles=(0.0,), lock=shipped[kind].lock)
    assert whole.images == 10_000
    assert whole.accuracy == pytest.approx(shipped[kind].meta["metrics"]["test_accuracy"], abs=1e-4)


def test_measure_matches_a_brute_force_loop(shipped, test_split):
    model = shipped["dense"].model
    images, labels = test_split.images[:200, :, :, 0], test_split.labels[:200]
    shifts, angles = (-3, 0, 3), (-20.0, 0.0, 20.0)
    # A batch size that leaves a short last batch (200 = 3 x 64 + 8).
    result = measure(model, images, labels, batch_size=64, shifts=shifts, angles=angles)
    expected = {
        "accuracy_shift_x": [own_accuracy(model, apply(images, Transform(shift_x=s)), labels) for s in shifts],
        "accuracy_shift_y": [own_accuracy(model, apply(images, Transform(shift_y=s)), labels) for s in shifts],
        "accuracy_rotate": [own_accuracy(model, apply(images, Transform(rotate=a)), labels) for a in angles],
    }
    for name, values in expected.items():
        np.testing.assert_allclose(getattr(result, name), values, atol=1 / 200 + 1e-9, err_msg=name)
    assert result.images == 200 and result.shifts == shifts and result.angles == angles
    assert len({*expected["accuracy_shift_x"], *expected["accuracy_rotate"]}) > 2  # the moves do matter


def test_accuracy_falls_off_as_the_pictures_move(measured):
    for kind in ("dense", "conv"):
        result, _ = measured[kind]
        for name in ("accuracy_shift_x", "accuracy_shift_y", "accuracy_rotate"):
            curve = getattr(result, name)
            assert max(curve) == result.accuracy, f"{kind} {name}: a moved picture did better than the unmoved"
            assert curve[0] < curve[len(curve) // 2 - 2] and curve[-1] < curve[len(curve) // 2 + 2], f"{kind} {name}"
        for shift in (-4, 4):  # well below: a 4-pixel move costs more than 10 points of accuracy
            assert result.accuracy_shift_x[SHIFTS.index(shift)] < result.accuracy - 0.1, f"{kind} x {shift}"
        assert max(result.accuracy_rotate[0], result.accuracy_rotate[-1]) < result.accuracy - 0.3, kind


def test_the_conv_model_copes_better_with_small_shifts_than_the_dense_one(measured):
    conv, dense = measured["conv"][0], measured["dense"][0]
    for shift in (-3, -2, -1, 1, 2, 3):
        at = SHIFTS.index(shift)
        assert conv.accuracy_shift_x[at] > dense.accuracy_shift_x[at], f"x {shift}"
        assert conv.accuracy_shift_y[at] > dense.accuracy_shift_y[at], f"y {shift}"


def test_progress_counts_every_batch_of_every_transform_to_the_total(measured):
    _, calls = measured["dense"]
    total = 2 * 43  # 1,000 images in batches of 600 (the last one short), for each of the 43 transforms
    assert calls == [(done, total) for done in range(1, total + 1)]


def test_the_lock_is_held_for_each_forward_pass(shipped, test_split):
    class Recording:
        """A lock that notes whether it was held when the model was called."""

        def __init__(self):
            self.held, self.entries = False, 0

        def __enter__(self):
            self.held, self.entries = True, self.entries + 1

        def __exit__(self, *exc):
            self.held = False

    lock, seen = Recording(), []
    model = shipped["dense"].model

    class Watched:
        def predict_on_batch(self, batch):
            seen.append(lock.held)
            return model.predict_on_batch(batch)

    measure(Watched(), test_split.images[:300], test_split.labels[:300], batch_size=100, lock=lock, **SMALL)
    assert seen == [True] * (3 * 7) and lock.entries == 21 and not lock.held  # 3 batches, 7 transforms


@pytest.mark.parametrize(
    "change, message",
    [
        ({"images": np.zeros((3, 28, 27), np.float32)}, r"images must have shape \(n, 28, 28\) or \(n, 28, 28, 1\)"),
        ({"images": np.zeros((0, 28, 28), np.float32)}, "with n >= 1"),
        ({"labels": np.zeros(4, np.uint8)}, "labels must be 3 whole numbers, one per image"),
        ({"labels": np.zeros(3, np.float32)}, "labels must be 3 whole numbers"),
        ({"batch_size": 0}, "batch_size must be a whole number of at least 1"),
        ({"shifts": (-2, 2)}, "shifts must include 0"),
        ({"angles": (10.0, 0.0)}, "angles must be in increasing order"),
        ({"shifts": (0, 7)}, "shift_x must be from -6 to 6 pixels"),
        ({"angles": (0.0, 50.0)}, "rotate must be from -45 to 45 degrees"),
    ],
)
def test_bad_arguments_are_refused(shipped, change, message):
    arguments = {"images": np.zeros((3, 28, 28), np.float32), "labels": np.zeros(3, np.uint8), **change}
    with pytest.raises(ValueError, match=message):
        measure(shipped["dense"].model, **arguments)


# -- the result ----------------------------------------------------------------------------------
def test_a_result_survives_json(measured):
    result, _ = measured["dense"]
    again = Invariance.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again == result and again is not result


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: d.pop("seconds"), "needs exactly the keys"),
        (lambda d: d.update(extra=1), "needs exactly the keys"),
        (lambda d: d.update(accuracy_rotate=d["accuracy_rotate"][:-1]), "accuracy_rotate needs one accuracy per"),
        (lambda d: d["accuracy_shift_y"].__setitem__(0, 1.5), "accuracy_shift_y must hold accuracies from 0 to 1"),
        (lambda d: d["accuracy_shift_x"].__setitem__(0, None), "must hold accuracies from 0 to 1"),
        (lambda d: d["accuracy_shift_x"].__setitem__(6, 0.5), "the three curves must meet at shift 0"),
        (lambda d: d.update(shifts=[float(s) for s in d["shifts"]]), "shift_x must be a whole number"),
        (lambda d: d.update(angles=list(reversed(d["angles"]))), "angles must be in increasing order"),
        (lambda d: d.update(images=0), "images must be a whole number of at least 1"),
        (lambda d: d.update(seconds=float("nan")), "seconds must be a number of at least 0"),
        (lambda d: d.update(shifts=3), "the wrong type"),
    ],
)
def test_a_malformed_result_is_refused(measured, damage, message):
    data = measured["dense"][0].to_dict()
    damage(data)
    with pytest.raises(ValueError, match=message):
        Invariance.from_dict(data)
    with pytest.raises(ValueError, match="needs exactly the keys"):
        Invariance.from_dict([1, 2])


# -- the cache -----------------------------------------------------------------------------------
def test_a_result_is_saved_as_json_and_reused(shipped, part, tmp_path, counted):
    stored = as_model(shipped["dense"])
    assert InvarianceCache(tmp_path, **SMALL).peek(stored) is None
    calls = []
    first, note = InvarianceCache(tmp_path, **SMALL).load_or_measure(stored, part, lambda *call: calls.append(call))
    assert note is None and counted.call_count == 1 and calls[-1] == (7, 7)  # 1 batch, 7 transforms
    assert first.accuracy == pytest.approx(own_accuracy(stored.model, part.images, part.labels), abs=1e-3)
    path = InvarianceCache(tmp_path).path(stored)
    assert path == tmp_path / "invariance" / f"dense-{PRESETS['dense'].key()}.json"
    saved = json.loads(path.read_text())
    assert saved == {"format": 1, "model_sha256": CHECKSUM, "invariance": first.to_dict()}
    # A new cache (a restarted app) finds it on disk: the same values, no measuring, no progress.
    calls.clear()
    again, note = InvarianceCache(tmp_path, **SMALL).load_or_measure(stored, part, lambda *call: calls.append(call))
    assert note is None and again == first and counted.call_count == 1 and calls == []
    assert InvarianceCache(tmp_path, **SMALL).peek(stored) == first
    assert files_under(tmp_path) == [f"invariance/{path.name}"]  # no temp files left behind


def test_another_checksum_grid_or_number_of_images_measures_again(shipped, part, tmp_path, counted):
    stored = as_model(shipped["dense"])
    cache = InvarianceCache(tmp_path, **SMALL)
    cache.load_or_measure(stored, part)
    stored.meta["model_sha256"] = "b" * 64  # the model was retrained and saved again
    assert cache.peek(stored) is None
    cache.load_or_measure(stored, part)
    assert json.loads(cache.path(stored).read_text())["model_sha256"] == "b" * 64 and counted.call_count == 2
    other_grid = InvarianceCache(tmp_path, shifts=(-1, 0, 1), angles=(0.0, 30.0))
    assert other_grid.peek(stored) is None
    result, _ = other_grid.load_or_measure(stored, part)
    assert result.shifts == (-1, 0, 1) and result.angles == (0.0, 30.0) and counted.call_count == 3
    fewer = Split(part.images[:300], part.labels[:300], part.source)
    assert other_grid.load_or_measure(stored, fewer)[0].images == 300 and len(counted.call_args.args[1]) == 300


@pytest.mark.parametrize("damage", ["truncated", "not json", "a list", "a bad curve"])
def test_a_corrupt_file_is_set_aside_and_measured_again(shipped, part, tmp_path, counted, damage):
    stored = as_model(shipped["dense"])
    good, _ = InvarianceCache(tmp_path, **SMALL).load_or_measure(stored, part)
    path = InvarianceCache(tmp_path).path(stored)
    saved = json.loads(path.read_text())
    if damage == "truncated":
        path.write_text(path.read_text()[:100])
    elif damage == "not json":
        path.write_bytes(b"\x80\x04\x95 a pickle, say")
    elif damage == "a list":
        path.write_text("[1, 2, 3]")
    else:
        saved["invariance"]["accuracy_rotate"][0] = -0.5
        path.write_text(json.dumps(saved))
    broken = path.read_bytes()
    cache = InvarianceCache(tmp_path, **SMALL)
    assert cache.peek(stored) is None and path.read_bytes() == broken  # peeking moves nothing
    again, note = cache.load_or_measure(stored, part)
    [moved] = (tmp_path / "corrupt").iterdir()
    assert moved.read_bytes() == broken and moved.name.startswith(path.stem) and moved.suffix == ".json"
    assert note.startswith(f"The saved invariance results {path.name} were unreadable (")
    assert note.endswith(f"it was moved to corrupt/{moved.name}, and the model was measured again.")
    assert "Traceback" not in note and counted.call_count == 2
    assert again.to_dict() | {"seconds": 0} == good.to_dict() | {"seconds": 0}
    assert json.loads(path.read_text())["invariance"] == again.to_dict()  # the rebuilt file is whole again
    assert files_under(tmp_path) == [f"corrupt/{moved.name}", f"invariance/{path.name}"]


def test_a_read_only_folder_keeps_the_result_in_memory(shipped, part, tmp_path, counted):
    blocker = tmp_path / "a-file"
    blocker.write_text("models/ can't be created under a file")
    stored = as_model(shipped["dense"])
    cache = InvarianceCache(blocker / "models", **SMALL)
    first, note = cache.load_or_measure(stored, part)
    assert first.images == 1000
    assert note.startswith("Can't save the invariance results to")
    assert note.endswith("they are kept in memory until the app stops.")
    again, same_note = cache.load_or_measure(stored, part)
    assert again is first and same_note == note and counted.call_count == 1
    assert cache.peek(stored) is first and files_under(tmp_path) == ["a-file"]


def test_an_unsaved_model_is_measured_once_and_kept_in_memory(shipped, part, tmp_path, counted):
    stored = as_model(shipped["dense"], checksum=None)
    cache = InvarianceCache(tmp_path, **SMALL)
    assert cache.peek(stored) is None
    first, note = cache.load_or_measure(stored, part)
    again, _ = cache.load_or_measure(stored, part)
    assert "isn't saved" in note and again is first and counted.call_count == 1
    assert cache.peek(stored) is first and files_under(tmp_path) == []


def test_two_threads_measure_once(shipped, part, tmp_path, counted):
    stored = as_model(shipped["dense"])
    cache = InvarianceCache(tmp_path, **SMALL)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: cache.load_or_measure(stored, part), range(2)))
    assert len(results) == 2 and counted.call_count == 1
    assert results[0][0] == results[1][0]
