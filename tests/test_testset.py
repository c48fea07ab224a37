"""The test-set results kept beside each model (convlab/testset.py): equal to Keras' own answers, computed once,
read back by a fresh server, recomputed when the file is damaged; and the tour built from them."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest

from convlab import testset
from convlab.data import Split
from convlab.explain import confusion_matrix
from convlab.models import PRESETS
from convlab.store import DEFAULT_ROOT, ModelStore, StoredModel
from convlab.testset import TestSetCache

SAMPLE = 200  # images checked against Keras' own maps, spread over the test set
SMALL = 600  # test images for the cache tests: quick, and more than one batch


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A copy of the shipped models' files (a test never writes beside the real ones)."""
    folder = tmp_path_factory.mktemp("models")
    for path in DEFAULT_ROOT.glob("*-*.*"):
        shutil.copy(path, folder)
    return folder


@pytest.fixture(scope="module")
def shipped(root) -> dict[str, StoredModel]:
    store = ModelStore(root)
    models = {kind: store.load(PRESETS[kind]) for kind in ("conv", "dense")}
    assert None not in models.values(), f"a shipped model is missing ({store.problems}): python -m convlab train all"
    return models


@pytest.fixture(scope="module")
def small(test_split) -> Split:
    return Split(test_split.images[:SMALL], test_split.labels[:SMALL], test_split.source)


@pytest.fixture(scope="module")
def full(shipped, test_split) -> dict[str, testset.TestResults]:
    """kind -> the results over all 10,000 test images."""
    return {kind: testset.compute(stored.model, test_split, lock=stored.lock) for kind, stored in shipped.items()}


def keras_maxima(model, images: np.ndarray) -> dict[str, np.ndarray]:
    """Each conv and pool layer's whole maps from a Keras sub-model, their maxima taken in NumPy."""
    import keras

    layers = [layer for layer in model.layers if type(layer).__name__ in ("Conv2D", "MaxPooling2D")]
    if not layers:
        return {}
    maps = keras.Model(inputs=model.inputs[0], outputs=[layer.output for layer in layers]).predict(images, verbose=0)
    return {layer.name: np.asarray(values).max(axis=(1, 2)) for layer, values in zip(layers, maps)}


def test_the_results_are_keras_own_answers(shipped, full, test_split):
    """On a sample across the test set: every map's maximum and every probability as Keras computes them with
    the model itself. The confusion counts are the predictions counted one by one, and their accuracy is the
    one the training measured on all 10,000 images (model.evaluate, in the run's metadata)."""
    sample = np.linspace(0, len(test_split) - 1, SAMPLE).astype(int)
    for kind, stored in shipped.items():
        results = full[kind]
        probabilities = stored.model.predict(test_split.images[sample], verbose=0)
        np.testing.assert_allclose(results.probabilities[sample], probabilities, rtol=1e-5, atol=1e-6)
        assert np.array_equal(results.predictions[sample], probabilities.argmax(axis=1))
        expected = keras_maxima(stored.model, test_split.images[sample])
        assert list(results.maxima) == list(expected)
        for layer, values in expected.items():
            assert results.maxima[layer].shape == (len(test_split), values.shape[1])
            np.testing.assert_allclose(results.maxima[layer][sample], values, rtol=1e-5, atol=1e-6)
        counts = np.zeros((10, 10), dtype=np.int64)
        for truth, said in zip(test_split.labels, results.probabilities.argmax(axis=1)):
            counts[truth, said] += 1
        assert np.array_equal(results.confusion, counts) and counts.sum() == len(test_split)
        accuracy = np.trace(counts) / len(test_split)
        assert accuracy == pytest.approx(stored.meta["metrics"]["test_accuracy"], abs=1e-4)  # what training measured
    assert list(full["dense"].maxima) == []  # no conv or pool layer: nothing to rank images by


def test_a_fresh_server_reads_the_saved_results_without_running_the_model(root, small):
    """Computed once and saved beside the model; a new store and a new cache (a server started again) read them,
    the same numbers, without a pass of their own."""
    first = TestSetCache(root)
    stored = ModelStore(root).load(PRESETS["conv"])
    made, note = first.get(stored, small)
    assert note is None and first.computations == 1
    assert (root / "testset" / "conv-be710513fe7d.npz").is_file()
    assert first.get(stored, small)[0] is made and first.computations == 1  # held: not even read again
    again = ModelStore(root).load(PRESETS["conv"])
    assert again.model is not stored.model
    fresh = TestSetCache(root)
    read, note = fresh.get(again, small)
    assert note is None and fresh.computations == 0
    assert np.array_equal(read.probabilities, made.probabilities) and np.array_equal(read.confusion, made.confusion)
    for layer in made.maxima:
        assert np.array_equal(read.maxima[layer], made.maxima[layer])


@pytest.mark.parametrize("damage", ["truncated", "garbage", "inconsistent"])
def test_a_damaged_file_is_set_aside_and_computed_again(tmp_path, shipped, small, damage):
    stored = shipped["conv"]
    made, _ = TestSetCache(tmp_path).get(stored, small)
    path = TestSetCache(tmp_path).path(stored)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage":
        path.write_bytes(b"not an npz file at all")
    else:  # a whole file whose confusion counts aren't its probabilities'
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: np.array(data[name]) for name in data.files}
        arrays["confusion"][0, 0] += 1
        np.savez(path, **arrays)
    cache = TestSetCache(tmp_path)
    results, note = cache.get(stored, small)
    assert cache.computations == 1
    assert "unreadable" in note and "corrupt" in note and "run through the model again" in note
    assert len(list((tmp_path / "corrupt").glob("conv-*.npz"))) == 1
    assert np.array_equal(results.confusion, made.confusion)
    assert TestSetCache(tmp_path).get(stored, small)[1] is None  # saved whole again: read back without a note


def test_another_models_or_test_sets_file_is_computed_again_and_replaced(tmp_path, shipped, small, test_split):
    stored = shipped["conv"]
    TestSetCache(tmp_path).get(stored, small)
    other = Split(test_split.images[SMALL : 2 * SMALL], test_split.labels[SMALL : 2 * SMALL], test_split.source)
    cache = TestSetCache(tmp_path)
    results, note = cache.get(stored, other)
    assert note is None and cache.computations == 1 and not (tmp_path / "corrupt").exists()
    assert np.array_equal(results.confusion, confusion_matrix(other.labels, results.predictions))
    changed = StoredModel(stored.spec, stored.model, {**stored.meta, "model_sha256": "b" * 64}, saved=True)
    cache.get(changed, other)
    assert cache.computations == 2 and not (tmp_path / "corrupt").exists()


def test_background_work_is_waited_for_not_repeated(tmp_path, shipped, small):
    """The page's background start, then views in two sessions asking at once: one pass, the same results,
    progress reported to the sessions while they wait."""
    cache, stored = TestSetCache(tmp_path, batch_size=100), shipped["conv"]
    work = cache.start(stored, small)
    answers, shares = [], []
    asks = [
        threading.Thread(target=lambda: answers.append(cache.get(stored, small, progress=shares.append)))
        for _ in range(2)
    ]
    for ask in asks:
        ask.start()
    for ask in asks:
        ask.join(timeout=120)
    assert work.done.is_set() and cache.computations == 1
    assert len(answers) == 2 and answers[0][0] is answers[1][0]
    assert all(0 <= share <= 1 for share in shares)
    assert cache.start(stored, small) is work  # done: nothing started again


def test_an_unsaved_model_is_kept_in_memory_with_a_note(tmp_path, shipped, small):
    stored = shipped["dense"]
    unsaved = StoredModel(
        stored.spec, stored.model, {k: v for k, v in stored.meta.items() if k != "model_sha256"}, saved=False
    )
    cache = TestSetCache(tmp_path)
    results, note = cache.get(unsaved, small)
    assert "kept in memory only" in note and not (tmp_path / "testset").exists()
    assert cache.get(unsaved, small)[0] is results and cache.computations == 1


def test_the_tour_from_the_kept_maxima_is_the_tour(shipped, full, test_split):
    """The tour's yardstick taken from the kept maxima (every fifth image's) is the one it measures itself."""
    from convlab.tour import lesson_tour

    conv, dense = shipped["conv"], shipped["dense"]
    kept = lesson_tour(conv, dense, test_split, maxima=full["conv"].maxima)
    assert kept == lesson_tour(conv, dense, test_split)
    with pytest.raises(ValueError, match="all 10,000 test images"):
        lesson_tour(conv, dense, test_split, maxima={name: values[:10] for name, values in full["conv"].maxima.items()})


def test_stopping_while_a_thread_is_being_started_waits_for_it(monkeypatch):
    """``stop_all`` from the tests' teardown can meet a page's warm-up thread mid-start: it waits for the start
    instead of joining a thread not yet started (which raises)."""
    from convlab import background

    class SlowToStart(threading.Thread):
        def start(self):
            started.set()
            threading.Event().wait(0.3)  # the window between registering the thread and starting it, widened
            super().start()

    started, finished = threading.Event(), threading.Event()
    starter = threading.Thread(target=background.start, args=(finished.set,), kwargs={"name": "slow"})
    monkeypatch.setattr(background.threading, "Thread", SlowToStart)  # the starter itself made before
    starter.start()
    assert started.wait(5)
    try:
        background.stop_all(timeout=5)  # raised RuntimeError("cannot join thread before it is started")
    finally:
        background.stopping.clear()
    starter.join(5)
    assert finished.is_set()
