"""Files set aside only when proven bad: environment errors keep them, damaged ones are listed and restorable."""

from __future__ import annotations

import json
import zipfile
from types import SimpleNamespace

import pytest

from conftest import TINY_CONV
from convlab import modelfile
from convlab import store as store_module
from convlab.models import ModelSpec, build
from convlab.store import (
    DamagedFile,
    ModelStore,
    ModelUnavailable,
    RestoreRefused,
    StoredModel,
)


def save_untrained(root, spec: ModelSpec = TINY_CONV) -> ModelStore:
    """A run of ``spec`` saved as a training would save it, without training: the files are what matters here
    (its metadata as a one-epoch training's, with made-up figures)."""
    model = build(spec)
    model.optimizer.build(model.trainable_variables)  # saved with its optimizer's slots, as after a training
    history = {"train_loss": [2.3], "train_accuracy": [0.1], "test_loss": [2.3], "test_accuracy": [0.1]}
    result = SimpleNamespace(
        model=model,
        history=history,
        metrics={name: values[-1] for name, values in history.items()},
        epochs_run=1,
        stop_reason=None,
        seconds=1.0,
        snapshots=None,
    )
    stored = StoredModel(spec=spec, model=model, meta=store_module._metadata(spec, result), saved=False)
    ModelStore(root)._save(stored)
    assert stored.saved
    return ModelStore(root)  # a fresh store: nothing in memory


def record_checksum(store: ModelStore, spec: ModelSpec = TINY_CONV) -> None:
    """Write the model file's present checksum into its metadata, so that only the other checks can fail."""
    model_path, meta_path = store.paths(spec)
    meta = json.loads(meta_path.read_text())
    meta["model_sha256"] = store_module._sha256(model_path)
    meta_path.write_text(json.dumps(meta))


def rewrite_zip(path, replace: dict[str, bytes]) -> None:
    """The .keras zip at ``path`` with some entries' contents replaced."""
    with zipfile.ZipFile(path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    entries.update(replace)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)


def environment_errors():
    import tensorflow as tf

    return {
        "AttributeError": AttributeError("partially initialized module 'keras' has no attribute 'saving'"),
        "MemoryError": MemoryError(),
        "ResourceExhaustedError": tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor"),
    }


@pytest.mark.parametrize("name", ["AttributeError", "MemoryError", "ResourceExhaustedError"])
def test_an_environment_error_keeps_the_files_and_the_next_load_tries_again(tmp_path, monkeypatch, small_data, name):
    import keras

    store = save_untrained(tmp_path)
    error = environment_errors()[name]
    real_load = keras.saving.load_model
    calls = []

    def failing_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise error
        return real_load(*args, **kwargs)

    monkeypatch.setattr(keras.saving, "load_model", failing_once)
    with pytest.raises(ModelUnavailable) as raised:
        store.load(TINY_CONV)
    message = str(raised.value)
    assert name in message and "kept where they are" in message and "tried again on the next load" in message
    assert raised.value.__cause__ is error and raised.value.page_message == message
    assert all(path.exists() for path in store.paths(TINY_CONV)) and not (tmp_path / "corrupt").exists()
    assert store.set_aside_runs() == [] and TINY_CONV.key() not in store.problems
    assert store.unavailable[TINY_CONV.key()] == message  # for the page; not a cached answer
    assert [meta["key"] for meta in store.list_metadata()] == [TINY_CONV.key()]  # still listed
    loaded = store.load(TINY_CONV)  # the next try
    assert loaded is not None and loaded.model.count_params() > 0 and len(calls) == 2
    assert TINY_CONV.key() not in store.unavailable


def test_an_environment_error_in_a_training_request_never_trains_over_the_files(tmp_path, monkeypatch):
    import keras

    store = save_untrained(tmp_path)
    before = store.paths(TINY_CONV)[0].read_bytes()

    def out_of_memory(*args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr(keras.saving, "load_model", out_of_memory)
    loads = []
    with pytest.raises(ModelUnavailable):
        store.get_or_train(TINY_CONV, lambda: loads.append(1))
    assert loads == [] and store.paths(TINY_CONV)[0].read_bytes() == before


def test_an_environment_error_inside_the_checks_is_not_taken_for_damage(tmp_path, monkeypatch):
    store = save_untrained(tmp_path)

    def out_of_memory(spec, data):
        raise MemoryError()

    monkeypatch.setattr(modelfile, "_check_weights", out_of_memory)  # h5py failing for want of memory
    with pytest.raises(ModelUnavailable, match="MemoryError"):
        store.load(TINY_CONV)
    assert all(path.exists() for path in store.paths(TINY_CONV)) and store.set_aside_runs() == []
    monkeypatch.undo()
    assert store.load(TINY_CONV) is not None


def truncate(store, model_path):
    model_path.write_bytes(model_path.read_bytes()[:2000])
    record_checksum(store)


def other_config(store, model_path):
    with zipfile.ZipFile(model_path) as archive:
        config = json.loads(archive.read("config.json"))
    hidden = next(layer for layer in config["config"]["layers"] if layer["config"]["name"] == "hidden")
    hidden["config"]["units"] *= 2
    rewrite_zip(model_path, {"config.json": json.dumps(config).encode()})
    record_checksum(store)


def other_weights(store, model_path, tmp_path):
    """The config of the spec, the weights of a model with fewer hidden units."""
    other = ModelSpec(**{**TINY_CONV.to_dict(), "dense_units": 8})
    other_store = save_untrained(tmp_path / "other", other)
    with zipfile.ZipFile(other_store.paths(other)[0]) as archive:
        weights = archive.read("model.weights.h5")
    rewrite_zip(model_path, {"model.weights.h5": weights})
    record_checksum(store)


def other_checksum(store, model_path):
    with zipfile.ZipFile(model_path, "a") as archive:  # still a whole, valid .keras file: only its bytes changed
        archive.comment = b"edited after it was saved"


DAMAGE = {  # how the .keras file is damaged -> what the reason says
    "truncated": (truncate, "is not a whole zip archive"),
    "wrong config": (other_config, "config.json gives hidden other settings than the spec's: {'units': 32}"),
    "wrong weight shapes": (other_weights, "weights have the shapes"),
    "checksum mismatch": (other_checksum, "does not match the checksum in"),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_model_file_is_set_aside_and_listed_with_its_reason(tmp_path, damage):
    store = save_untrained(tmp_path / "models")
    model_path, meta_path = store.paths(TINY_CONV)
    spoil, reason = DAMAGE[damage]
    if damage == "wrong weight shapes":
        spoil(store, model_path, tmp_path)
    else:
        spoil(store, model_path)
    assert store.load(TINY_CONV) is None
    assert reason in store.problems[TINY_CONV.key()] and "moved to corrupt/" in store.problems[TINY_CONV.key()]
    assert not model_path.exists() and not meta_path.exists()
    assert store.list_metadata() == []
    [aside] = store.set_aside_runs()
    assert aside.key == TINY_CONV.key() and aside.label == TINY_CONV.label() and reason in aside.reason
    assert sorted(name for name, _ in aside.files) == sorted([model_path.name, meta_path.name])
    assert all((tmp_path / "models" / now).exists() and now.startswith("corrupt/") for _, now in aside.files)
    assert ModelStore(tmp_path / "models").set_aside_runs() == [aside]  # the record is on disk, for every server


def test_the_checks_pass_a_whole_file_without_tensorflow_loading_it(tmp_path):
    store = save_untrained(tmp_path)
    meta = store._check(TINY_CONV, *store.paths(TINY_CONV))
    assert meta["key"] == TINY_CONV.key()
    with pytest.raises(DamagedFile, match="names other layers"):  # the dense spec's layers, in the conv file
        store_module.check_model_file(
            ModelSpec(**{**TINY_CONV.to_dict(), "conv_filters": ()}), store.paths(TINY_CONV)[0].read_bytes()
        )


def set_aside_by_truncation(root) -> tuple[ModelStore, bytes]:
    store = save_untrained(root)
    model_path = store.paths(TINY_CONV)[0]
    good = model_path.read_bytes()
    model_path.write_bytes(good[:2000])
    assert store.load(TINY_CONV) is None
    return store, good


def test_restore_puts_a_repaired_run_back(tmp_path):
    store, good = set_aside_by_truncation(tmp_path)
    [aside] = store.set_aside_runs()
    kept = dict(aside.files)[store.paths(TINY_CONV)[0].name]
    (tmp_path / kept).write_bytes(good)  # someone put a good copy back in corrupt/
    assert store.restore(aside.id) == f"{TINY_CONV.label()} is back in the runs."
    assert all(path.exists() for path in store.paths(TINY_CONV))
    assert store.set_aside_runs() == [] and TINY_CONV.key() not in store.problems
    assert [meta["key"] for meta in store.list_metadata()] == [TINY_CONV.key()]
    assert store.load(TINY_CONV) is not None


def test_restore_of_a_still_broken_run_is_refused_and_keeps_it_set_aside(tmp_path):
    store, _ = set_aside_by_truncation(tmp_path)
    [aside] = store.set_aside_runs()
    with pytest.raises(RestoreRefused) as refused:
        store.restore(aside.id)
    message = str(refused.value)
    assert message.startswith(f"{TINY_CONV.label()} still fails the check (") and "not a whole zip archive" in message
    assert "the files stay in" in message
    assert not any(path.exists() for path in store.paths(TINY_CONV))
    assert store.set_aside_runs() == [aside] and all((tmp_path / now).exists() for _, now in aside.files)


def test_restore_is_refused_while_the_spec_is_stored_again(tmp_path):
    store, good = set_aside_by_truncation(tmp_path)
    [aside] = store.set_aside_runs()
    (tmp_path / dict(aside.files)[store.paths(TINY_CONV)[0].name]).write_bytes(good)
    store = save_untrained(tmp_path)  # trained again meanwhile
    with pytest.raises(RestoreRefused, match="is stored again"):
        store.restore(aside.id)
    assert store.set_aside_runs() == [aside]
    with pytest.raises(ValueError, match="no set-aside run"):
        store.restore("conv-000000000000.20260101T000000.000000")


def test_a_malformed_metadata_file_is_listed_and_its_restore_refused(tmp_path):
    store = save_untrained(tmp_path)
    meta_path = store.paths(TINY_CONV)[1]
    meta_path.write_text("{not json")
    assert store.list_metadata() == []
    [aside] = store.set_aside_runs()
    assert aside.key == TINY_CONV.key() and aside.label == meta_path.name and "JSONDecodeError" in aside.reason
    with pytest.raises(RestoreRefused, match="is not ConvLab metadata"):
        store.restore(aside.id)


def test_a_read_only_folder_sets_nothing_aside_and_records_nothing(tmp_path, monkeypatch):
    store = save_untrained(tmp_path)
    store.paths(TINY_CONV)[0].write_bytes(b"not a model")

    def refuse(source, target):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(store_module.os, "replace", refuse)
    assert store.load(TINY_CONV) is None
    assert "could not be moved" in store.problems[TINY_CONV.key()]
    assert store.set_aside_runs() == [] and store.paths(TINY_CONV)[0].exists()


def test_snapshots_that_cannot_be_read_now_are_kept_and_read_again(tmp_path, monkeypatch):
    import shutil

    from convlab import snapshots as snapshots_module
    from convlab.models import PRESETS
    from convlab.store import DEFAULT_ROOT, SnapshotsUnavailable

    dense = PRESETS["dense"]
    shipped = ModelStore(DEFAULT_ROOT)
    for path in (*shipped.paths(dense), shipped.snapshot_path(dense)):
        shutil.copy(path, tmp_path / path.name)
    store = ModelStore(tmp_path)
    meta = json.loads(store.paths(dense)[1].read_text())
    stored = StoredModel(spec=dense, model=None, meta=meta, saved=True)  # the snapshots need no model
    real_load = snapshots_module.load
    calls = []

    def failing_once(*args):
        calls.append(1)
        if len(calls) == 1:
            raise MemoryError()
        return real_load(*args)

    monkeypatch.setattr(snapshots_module, "load", failing_once)
    with pytest.raises(SnapshotsUnavailable, match=r"MemoryError\); the file is kept where it is"):
        store.load_snapshots(stored)
    assert store.snapshot_path(dense).exists() and not (tmp_path / "corrupt").exists()
    found, problem = store.load_snapshots(stored)
    assert problem is None and found is not None and len(calls) == 2
