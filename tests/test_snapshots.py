"""Training snapshots and their replay, against Keras: the seeded start, the saved model, rebuilt models."""

from __future__ import annotations

import dataclasses
import json
import threading

import keras
import numpy as np
import pytest

from conftest import TINY_CONV, TINY_DENSE, model_files
from convlab import snapshots
from convlab.models import PRESETS, build
from convlab.replay import Replay
from convlab.store import DEFAULT_ROOT, ModelStore
from convlab.training import train

FLOAT16_STEP = 2.0**-10  # float16 keeps 11 significant bits: a relative error of at most half this


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_data):
    """The tiny conv spec trained and saved once; then read back by a fresh store, from disk only."""
    root = tmp_path_factory.mktemp("models")
    ModelStore(root).get_or_train(TINY_CONV, lambda: small_data)
    store = ModelStore(root)
    stored = store.load(TINY_CONV)
    found, problem = store.load_snapshots(stored)
    assert problem is None
    return root, stored, found


def test_first_epoch_batches_are_evenly_spaced_inside_the_epoch():
    # The lesson's 1,875 batches: the early three, then eight evenly spaced.
    assert snapshots.first_epoch_batches(1875) == [10, 30, 100, 208, 417, 625, 833, 1042, 1250, 1458, 1667]
    assert snapshots.first_epoch_batches(18) == [2, 4, 6, 8, 10, 12, 14, 16]  # early ones only before the first
    assert snapshots.first_epoch_batches(3) == [1, 2]  # fewer batches than snapshots: one per batch inside
    assert snapshots.first_epoch_batches(1) == []


def test_snapshots_are_listed_and_taken_where_promised(trained, small_data):
    root, stored, found = trained
    steps = -(-TINY_CONV.train_samples // TINY_CONV.batch_size)
    inside = snapshots.first_epoch_batches(steps)
    assert len(inside) == snapshots.FIRST_EPOCH_SNAPSHOTS
    labels = [p.label for p in found.points]
    assert labels[1 : 1 + len(inside)] == [f"after {b * TINY_CONV.batch_size:,} images" for b in inside]
    assert labels[0] == "start" and labels[-TINY_CONV.epochs :] == [
        f"epoch {e}" for e in range(1, TINY_CONV.epochs + 1)
    ]
    assert [p.epochs for p in found.points] == [
        0.0,
        *(b / steps for b in inside),
        *map(float, range(1, TINY_CONV.epochs + 1)),
    ]
    listed = stored.meta["snapshots"]
    assert listed["count"] == len(found) == 1 + len(inside) + TINY_CONV.epochs
    assert (root / listed["file"]).is_file() and listed["file"] == ModelStore(root).snapshot_path(TINY_CONV).name
    assert json.loads((root / f"conv-{TINY_CONV.key()}.json").read_text())["snapshots"]["sha256"] == listed["sha256"]


def test_start_is_the_seeded_untrained_model_and_the_last_is_the_saved_one(trained):
    _, stored, found = trained
    keras.utils.set_random_seed(TINY_CONV.seed)  # as training does before it builds the model
    untrained = build(TINY_CONV).get_weights()
    for recorded, reference in zip(found.weights[0], untrained):
        np.testing.assert_allclose(recorded, reference, rtol=FLOAT16_STEP, atol=1e-7)  # stored as float16
    for recorded, saved in zip(found.weights[-1], stored.model.get_weights()):
        assert recorded.dtype == np.float32 and np.array_equal(recorded, saved)  # exactly
    assert not np.allclose(found.weights[0][0], found.weights[1][0])  # training moved the kernels


def test_recorded_accuracy_is_the_models_own(trained, small_data):
    _, stored, found = trained
    train_split, test_split = small_data
    index = snapshots.evenly(found.sample["test"], len(test_split))
    _, accuracy = stored.model.evaluate(test_split.images[index], test_split.labels[index], verbose=0)
    assert found.points[-1].test_accuracy == pytest.approx(accuracy, abs=1e-6)
    # Train accuracy at each epoch's end is Keras' own figure, as the history records it.
    ends = [p.train_accuracy for p in found.points if p.epochs in (1.0, 2.0)]
    assert ends == pytest.approx(stored.meta["history"]["train_accuracy"], abs=1e-6)
    # At the start, the seeded untrained model measured on the evenly spaced training sample.
    keras.utils.set_random_seed(TINY_CONV.seed)
    untrained = build(TINY_CONV)
    index = snapshots.evenly(found.sample["train"], TINY_CONV.train_samples)
    _, accuracy = untrained.evaluate(train_split.images[index], train_split.labels[index], verbose=0)
    assert found.points[0].train_accuracy == pytest.approx(accuracy, abs=1e-6)


def test_a_replayed_map_equals_a_keras_model_rebuilt_from_the_snapshot(trained, test_split):
    _, _, found = trained
    replay = Replay(TINY_CONV, found)
    images = test_split.images[[0, 23, 28]]
    for index in (0, 4, len(found) - 1, 2):  # out of order: the replay swaps weights back and forth
        rebuilt = build(TINY_CONV)
        rebuilt.set_weights(found.weights[index])
        layers = ["conv1", "pool1"]
        reference = keras.Model(rebuilt.inputs[0], [rebuilt.get_layer(name).output for name in layers])
        expected = reference.predict(images, verbose=0)
        replayed = replay.activations(index, images)
        assert replayed.layer_names == tuple(layers)
        for ours, theirs in zip(replayed.maps, expected):
            np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(replayed.probabilities, rebuilt.predict(images, verbose=0), rtol=1e-5, atol=1e-6)
        assert np.array_equal(replay.kernels(index), found.weights[index][0])  # conv1's kernel comes first
    with pytest.raises(ValueError, match="snapshot must be 0"):
        replay.activations(len(found), images)


def test_replay_of_many_sessions_at_once_never_mixes_snapshots(trained, test_split):
    _, _, found = trained
    replay = Replay(TINY_CONV, found)
    images = test_split.images[:2]
    expected = {i: replay.activations(i, images).maps[0] for i in (0, len(found) - 1)}
    mixed = []

    def worker(index: int) -> None:
        for _ in range(20):
            if not np.array_equal(replay.activations(index, images).maps[0], expected[index]):
                mixed.append(index)

    threads = [threading.Thread(target=worker, args=(i,)) for i in expected for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert mixed == []


def test_a_stop_mid_epoch_is_the_last_snapshot(small_data):
    spec = dataclasses.replace(TINY_CONV, epochs=3)
    stop = threading.Event()

    class StopAtBatch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if self._epoch == 1 and batch == 4:
                stop.set()

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch = epoch

    result = train(spec, *small_data, callbacks=[StopAtBatch()], stop_event=stop)
    last = result.snapshots.points[-1]
    # The event set after batch 5 is seen by StopOnRequest (it runs first) after batch 6.
    assert last.label == "epoch 2, stopped after batch 6" and last.epochs == pytest.approx(1 + 6 / 16)
    assert result.stop_reason.startswith("stopped by request during epoch 2 (after batch 6")
    assert all(np.array_equal(a, b) for a, b in zip(result.snapshots.weights[-1], result.model.get_weights()))


def test_training_without_snapshots_and_a_run_from_before_them(tmp_path, small_data):
    store = ModelStore(tmp_path)
    result = train(TINY_DENSE, *small_data, record_snapshots=False)
    assert result.snapshots is None
    stored = store.get_or_train(TINY_DENSE, lambda: small_data)
    del stored.meta["snapshots"]  # as a run trained before snapshots were recorded
    stored.snapshots = None
    found, problem = store.load_snapshots(stored)
    assert found is None and "before ConvLab recorded snapshots" in problem


def test_damaged_or_missing_snapshots_leave_the_model_usable(tmp_path, trained):
    root, _, _ = trained
    for path in root.iterdir():
        if path.is_file():
            (tmp_path / path.name).write_bytes(path.read_bytes())
    store = ModelStore(tmp_path)
    path = store.snapshot_path(TINY_CONV)
    path.write_bytes(path.read_bytes()[:-100])  # cut short
    stored = store.load(TINY_CONV)
    assert stored is not None  # the model itself is fine
    found, problem = store.load_snapshots(stored)
    assert found is None and "unusable" in problem and "checksum" in problem and "corrupt" in problem
    assert not path.exists() and list((tmp_path / "corrupt").glob("*.snapshots.*.npz"))
    found, problem = ModelStore(tmp_path).load_snapshots(ModelStore(tmp_path).load(TINY_CONV))
    assert found is None and "missing" in problem


def test_deleting_a_run_deletes_its_snapshots(tmp_path, small_data):
    store = ModelStore(tmp_path)
    store.get_or_train(TINY_DENSE, lambda: small_data)
    assert store.snapshot_path(TINY_DENSE).exists()
    store.delete(TINY_DENSE)
    assert model_files(tmp_path) == []


@pytest.mark.parametrize("name", ["dense", "conv"])
def test_the_shipped_models_have_their_snapshots(name):
    store = ModelStore(DEFAULT_ROOT)
    stored = store.load(PRESETS[name])
    listed = stored.meta["snapshots"]
    path = store.snapshot_path(PRESETS[name])
    assert path.stat().st_size <= 10 * 1024 * 1024  # the limit per shipped model
    found, problem = store.load_snapshots(stored)
    early = len(snapshots.EARLY_BATCHES)
    assert problem is None and len(found) == listed["count"] == 1 + early + snapshots.FIRST_EPOCH_SNAPSHOTS + 5
    assert all(np.array_equal(a, b) for a, b in zip(found.weights[-1], stored.model.get_weights()))
    start, end = found.points[0], found.points[-1]
    assert start.test_accuracy < 0.3 < 0.8 < end.test_accuracy  # from guessing to the lesson's accuracy


def test_the_replays_kernel_scale_is_conv1s_largest_weight_over_every_snapshot(trained):
    _, _, found = trained
    largest = max(float(np.abs(weights[0]).max()) for weights in found.weights)  # conv1's kernel comes first
    assert Replay(TINY_CONV, found).kernel_limit == largest
