"""The model cache: round trip, corrupt files set aside (on load and when listing), one training for
concurrent requests."""

from __future__ import annotations

import json
import os
import shutil
import threading

import pytest

from conftest import TINY_CONV, TINY_DENSE, assert_same_predictions, model_files
from convlab import store as store_module
from convlab.models import PRESETS
from convlab.store import DEFAULT_ROOT, ModelStore, ModelUnavailable, file_stem


@pytest.fixture(scope="module")
def trained_root(tmp_path_factory, small_data):
    """A models/ folder holding the tiny conv spec, trained once for this module."""
    root = tmp_path_factory.mktemp("models")
    ModelStore(root).get_or_train(TINY_CONV, lambda: small_data)
    return root


def copy_files(source, target):
    for path in source.iterdir():
        if path.is_file():
            (target / path.name).write_bytes(path.read_bytes())
    return target


@pytest.fixture
def root(tmp_path, trained_root):
    """A fresh copy of the trained folder, for tests that damage files."""
    return copy_files(trained_root, tmp_path)


@pytest.fixture(scope="module")
def two_runs_root(tmp_path_factory, trained_root, small_data):
    """The trained folder plus the tiny dense spec: two runs, trained once for this module."""
    root = copy_files(trained_root, tmp_path_factory.mktemp("two-runs"))
    ModelStore(root).get_or_train(TINY_DENSE, lambda: small_data)
    return root


@pytest.fixture
def two_runs(tmp_path, two_runs_root):
    """A fresh copy of the two-run folder, for tests that damage files."""
    return copy_files(two_runs_root, tmp_path)


def test_round_trip(trained_root, small_data):
    model_path, meta_path = ModelStore(trained_root).paths(TINY_CONV)
    assert model_path.name == f"conv-{TINY_CONV.key()}.keras" and model_path.exists() and meta_path.exists()
    loaded = ModelStore(trained_root).load(TINY_CONV)
    assert loaded.saved
    meta = loaded.meta
    assert meta["spec"] == TINY_CONV.to_dict() and meta["key"] == TINY_CONV.key()
    assert meta["params"] == loaded.model.count_params()
    assert meta["epochs_run"] == 2 and len(meta["history"]["test_accuracy"]) == 2
    assert set(meta["versions"]) >= {"tensorflow", "keras", "python", "numpy"}
    assert meta["seconds"] > 0 and meta["created"].startswith("20")
    # The saved model is the trained one: its test accuracy is what the metadata says.
    _, accuracy = loaded.model.evaluate(small_data[1].images, small_data[1].labels, verbose=0)
    assert accuracy == pytest.approx(meta["metrics"]["test_accuracy"], abs=1e-6)
    assert [m["key"] for m in ModelStore(trained_root).list_metadata()] == [TINY_CONV.key()]


def test_no_temp_files_left(trained_root):
    assert sorted(p.name for p in trained_root.iterdir()) == sorted(
        [
            f"{file_stem(TINY_CONV)}.keras",
            f"{file_stem(TINY_CONV)}.json",
            f"{file_stem(TINY_CONV)}.snapshots.npz",
            ".locks",
        ]  # the spec locks live in the folder, for every server sharing it
    )
    assert [p.name for p in (trained_root / ".locks").iterdir()] == [f"{TINY_CONV.key()}.lock"]


@pytest.mark.parametrize("damage", ["truncate model", "garbage json", "other spec", "missing json", "swap model"])
def test_unusable_files_are_set_aside_and_retrained(root, small_data, damage):
    store = ModelStore(root)
    model_path, meta_path = store.paths(TINY_CONV)
    if damage == "truncate model":
        model_path.write_bytes(model_path.read_bytes()[:5000])
    elif damage == "garbage json":
        meta_path.write_text("{not json")
    elif damage == "other spec":
        meta = json.loads(meta_path.read_text())
        meta["spec"]["epochs"] = 9
        meta_path.write_text(json.dumps(meta))
    elif damage == "missing json":
        meta_path.unlink()
    else:  # a valid .keras file of another model under this name: caught by the checksum
        other = ModelStore(root / "other").get_or_train(TINY_DENSE, lambda: small_data)
        model_path.write_bytes(ModelStore(root / "other").paths(TINY_DENSE)[0].read_bytes())
        assert other.saved
    assert store.load(TINY_CONV) is None
    assert "unusable" in store.problems[TINY_CONV.key()]
    set_aside = list((root / "corrupt").iterdir())
    assert set_aside and all(p.name.startswith(file_stem(TINY_CONV)) for p in set_aside)
    assert not model_path.exists() and not meta_path.exists()
    calls = []
    retrained = store.get_or_train(TINY_CONV, lambda: calls.append(1) or small_data)
    assert calls == [1] and retrained.saved and model_path.exists()
    assert TINY_CONV.key() not in store.problems
    assert_same_predictions(retrained.model, ModelStore(root).load(TINY_CONV).model, small_data[1].images[:20])


def test_a_broken_install_is_not_a_broken_file(root, monkeypatch):
    """An ImportError while loading (TensorFlow or h5py broken) is reported as such; the files stay put."""
    import keras

    def broken_install(*args, **kwargs):
        raise ImportError("simulated: libtensorflow_framework.so.2 cannot be opened")

    monkeypatch.setattr(keras.saving, "load_model", broken_install)
    store = ModelStore(root)
    with pytest.raises(ModelUnavailable, match="simulated") as raised:
        store.load(TINY_CONV)
    assert isinstance(raised.value.__cause__, ImportError) and "kept where they are" in str(raised.value)
    assert all(path.exists() for path in store.paths(TINY_CONV)) and not (root / "corrupt").exists()
    assert TINY_CONV.key() not in store.problems


def test_two_threads_train_one_spec_once(tmp_path, small_data):
    store = ModelStore(tmp_path)
    loads, results, errors = [], [], []
    start = threading.Barrier(2)

    def load_data():
        loads.append(threading.get_ident())
        return small_data

    def request():
        start.wait()
        try:
            results.append(store.get_or_train(TINY_DENSE, load_data))
        except Exception as error:  # surfaced by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=request) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == [] and len(results) == 2
    assert len(loads) == 1  # trained once
    assert results[0] is results[1]


def test_two_stores_in_one_process_train_once(tmp_path, small_data):
    """Two ModelStore objects on one folder (as two processes would) share the file lock."""
    loads = []
    results = []

    def request():
        results.append(ModelStore(tmp_path).get_or_train(TINY_DENSE, lambda: loads.append(1) or small_data))

    threads = [threading.Thread(target=request) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(loads) == 1 and len(results) == 2


def test_unwritable_folder_keeps_the_model_in_memory(tmp_path, small_data):
    blocker = tmp_path / "a-file"
    blocker.write_text("models/ can't be created under a file")
    store = ModelStore(blocker / "models")
    stored = store.get_or_train(TINY_DENSE, lambda: small_data)
    assert not stored.saved
    assert "Can't save" in store.problems[TINY_DENSE.key()]
    assert store.load(TINY_DENSE) is stored  # served from memory from now on


def test_failed_rename_leaves_no_file(tmp_path, small_data, monkeypatch):
    def refuse(source, target):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(store_module.os, "replace", refuse)
    store = ModelStore(tmp_path)
    stored = store.get_or_train(TINY_DENSE, lambda: small_data)
    assert not stored.saved and "Permission denied" in store.problems[TINY_DENSE.key()]
    assert model_files(tmp_path) == []


def test_stale_temp_files_of_dead_processes_are_swept(tmp_path):
    dead_pid = 2**22 + 12345  # above Linux's pid_max default: never a live process
    stale = tmp_path / f".conv-abc.{dead_pid}.1.tmp.keras"
    live = tmp_path / f".conv-abc.{os.getpid()}.1.tmp.keras"
    stale.write_bytes(b"partial")
    live.write_bytes(b"being written")
    ModelStore(tmp_path)
    assert not stale.exists() and live.exists()


def test_list_and_delete(root, small_data):
    store = ModelStore(root)
    store.get_or_train(TINY_DENSE, lambda: small_data)
    listed = store.list_metadata()
    assert [meta["key"] for meta in listed] == [TINY_DENSE.key(), TINY_CONV.key()]  # newest first
    assert all(meta["saved"] and meta["file"].endswith(".keras") for meta in listed)
    store.delete(TINY_DENSE)
    assert [meta["key"] for meta in store.list_metadata()] == [TINY_CONV.key()]
    assert store.load(TINY_DENSE) is None and not any(p.name.startswith("dense-") for p in root.iterdir())
    assert ModelStore(root).load(TINY_CONV) is not None  # the other run is untouched


def test_has_looks_without_loading(root, small_data):
    store = ModelStore(root)
    assert store.has(TINY_CONV) and not store.has(TINY_DENSE)
    assert TINY_CONV.key() not in store._memory  # nothing was loaded to answer
    model_path, meta_path = store.paths(TINY_CONV)
    meta_path.write_text(meta_path.read_text().replace('"epochs": 2', '"epochs": 3'))
    assert not store.has(TINY_CONV)  # metadata of another spec
    meta_path.unlink()
    assert not store.has(TINY_CONV)


METADATA_DAMAGE = {  # how a run's JSON gets broken -> what the message says was wrong
    "garbage text": (lambda meta: "this is no JSON", "JSONDecodeError: Expecting value: line 1 column 1 (char 0)"),
    "a JSON list": (lambda meta: json.dumps([meta]), "ValueError: it holds a JSON list, not an object"),
    "wrong format": (lambda meta: json.dumps({**meta, "format": 2}), "ValueError: its format is 2, not 1"),
    "missing spec": (
        lambda meta: json.dumps({k: v for k, v in meta.items() if k != "spec"}),
        "ValueError: it has no spec",
    ),
    "unparseable spec": (
        lambda meta: json.dumps({**meta, "spec": {**meta["spec"], "filters": 64}}),
        "ValueError: its spec doesn't parse: unknown model spec fields: ['filters']",
    ),
}


@pytest.mark.parametrize("damage", METADATA_DAMAGE)
def test_malformed_metadata_is_set_aside_and_reported_when_listing(two_runs, damage):
    store = ModelStore(two_runs)
    model_path, meta_path = store.paths(TINY_CONV)
    broken, reason = METADATA_DAMAGE[damage]
    meta_path.write_text(broken(json.loads(meta_path.read_text())))
    assert [meta["key"] for meta in store.list_metadata()] == [TINY_DENSE.key()]  # the untouched run stays
    set_aside = sorted(path.name for path in (two_runs / "corrupt").iterdir())
    assert [name.split(".")[-1] for name in set_aside] == ["json", "keras", "npz"]  # the snapshots go too
    assert all(name.startswith(f"{file_stem(TINY_CONV)}.") and ".20" in name for name in set_aside)  # timestamped
    assert not model_path.exists() and not meta_path.exists()
    assert not any(path.name.startswith(file_stem(TINY_CONV)) for path in two_runs.iterdir())
    message = store.problems[TINY_CONV.key()]
    assert message == (
        f"The lab run's metadata {meta_path.name} was unreadable ({reason}); "
        f"moved to corrupt/{set_aside[0]}, corrupt/{set_aside[1]}, corrupt/{set_aside[2]}."
    )
    assert list(store.problems) == [TINY_CONV.key()]
    assert [meta["key"] for meta in store.list_metadata()] == [TINY_DENSE.key()]
    assert store.problems == {TINY_CONV.key(): message}  # the second look adds nothing
    assert not store.has(TINY_CONV)  # so the lab trains it again when asked


def test_a_malformed_preset_is_set_aside_so_the_app_trains_it_again(tmp_path):
    conv = PRESETS["conv"]
    store = ModelStore(tmp_path)
    model_path, meta_path = store.paths(conv)
    shutil.copy(DEFAULT_ROOT / model_path.name, model_path)
    meta_path.write_text((DEFAULT_ROOT / meta_path.name).read_text()[:300])  # a truncated copy of the shipped JSON
    assert store.list_metadata() == []
    assert store.problems[conv.key()].startswith(
        f"The lab run's metadata {meta_path.name} was unreadable (JSONDecodeError"
    )
    assert sorted(path.suffix for path in (tmp_path / "corrupt").iterdir()) == [".json", ".keras"]
    assert not store.has(conv) and store.load(conv) is None  # app.ensure_models: not stored -> trained
    assert conv.key() in store.problems  # still there for the page to show


def test_a_malformed_json_of_another_name_is_keyed_by_its_stem(tmp_path):
    (tmp_path / "notes.json").write_text("[1, 2]")
    store = ModelStore(tmp_path)
    assert store.list_metadata() == []
    [moved] = (tmp_path / "corrupt").iterdir()
    assert moved.name.startswith("notes.") and moved.suffix == ".json"
    assert store.problems == {
        "notes": f"The lab run's metadata notes.json was unreadable (ValueError: it holds a JSON list, not an object); "
        f"moved to corrupt/{moved.name}."
    }


def test_malformed_metadata_in_a_read_only_folder_is_reported_and_ignored(two_runs, monkeypatch):
    def refuse(source, target):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(store_module.os, "replace", refuse)  # what a read-only folder does to a rename (even for root)
    store = ModelStore(two_runs)
    model_path, meta_path = store.paths(TINY_CONV)
    meta_path.write_text("{")
    for _ in range(2):
        assert [meta["key"] for meta in store.list_metadata()] == [TINY_DENSE.key()]
        assert list(store.problems) == [TINY_CONV.key()]
    message = store.problems[TINY_CONV.key()]
    assert message.startswith(f"The lab run's metadata {meta_path.name} was unreadable (JSONDecodeError")
    assert message.endswith("could not be moved ([Errno 13] Permission denied); it is ignored.")
    assert model_path.exists() and meta_path.exists() and not list((two_runs / "corrupt").iterdir())


@pytest.mark.parametrize("obstacle", ["no read permission", "a folder"])
def test_metadata_that_cannot_be_read_is_reported_and_left_in_place(two_runs, obstacle):
    store = ModelStore(two_runs)
    model_path, meta_path = store.paths(TINY_CONV)
    if obstacle == "no read permission":
        meta_path.chmod(0)
        if os.access(meta_path, os.R_OK):
            meta_path.chmod(0o644)
            pytest.skip("this user reads files whatever their mode (root)")
        expected = "could not be read (PermissionError: Permission denied)"
    else:
        meta_path.unlink()
        meta_path.mkdir()
        expected = "could not be read (IsADirectoryError: Is a directory)"
    try:
        assert [meta["key"] for meta in store.list_metadata()] == [TINY_DENSE.key()]
        assert store.problems == {
            TINY_CONV.key(): f"The lab run's metadata {meta_path.name} {expected}; it is left in place and ignored."
        }
        assert model_path.exists() and meta_path.exists() and not (two_runs / "corrupt").exists()
    finally:
        if obstacle == "no read permission":
            meta_path.chmod(0o644)
