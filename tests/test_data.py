"""The data loader: its routes in order, corrupt files, and the error that names every fix."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from convlab import data
from convlab.data import CLASS_NAMES, DataError, find_data_dir, first_of_class, load_split


@pytest.fixture
def no_routes(tmp_path, monkeypatch):
    """Every local route empty, the download route refused: tests add back what they need."""
    monkeypatch.delenv("CONVLAB_DATA_DIR", raising=False)
    monkeypatch.setattr(data, "KERAS_CACHE", tmp_path / "home" / ".keras/datasets/fashion-mnist")
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "debian")

    def no_network(split):
        raise OSError("network unreachable (test)")

    monkeypatch.setattr(data, "_download_with_keras", no_network)
    return tmp_path


def test_test_split_matches_the_lesson(test_split):
    assert test_split.images.shape == (10_000, 28, 28, 1)
    assert test_split.images.dtype == np.float32
    assert 0.0 == test_split.images.min() and test_split.images.max() == 1.0
    assert np.bincount(test_split.labels).tolist() == [1000] * 10
    # The lesson's three ankle boots are the first three of class 9.
    assert first_of_class(test_split.labels, 9) == [0, 23, 28]
    assert CLASS_NAMES[test_split.labels[0]] == "Ankle boot"


def test_routes_are_tried_in_order(no_routes, copy_split_files, monkeypatch):
    debian = copy_split_files(no_routes / "debian")
    assert find_data_dir("test") == debian
    keras_cache = copy_split_files(data.KERAS_CACHE)
    assert find_data_dir("test") == keras_cache
    own = copy_split_files(no_routes / "own")
    monkeypatch.setenv("CONVLAB_DATA_DIR", str(own))
    assert find_data_dir("test") == own
    assert load_split("test").source == own


def test_test_split_loads_without_the_train_split(no_routes, copy_split_files, test_split):
    folder = copy_split_files(no_routes / "debian", "test")
    loaded = load_split("test")
    np.testing.assert_array_equal(loaded.images, test_split.images)
    with pytest.raises(DataError, match="train split"):
        load_split("train")
    assert not (folder / data.FILES["train"][0]).exists()


def test_missing_data_names_every_route_and_the_fix(no_routes, monkeypatch):
    monkeypatch.setenv("CONVLAB_DATA_DIR", str(no_routes / "nowhere"))
    with pytest.raises(DataError) as caught:
        load_split("test")
    message = str(caught.value)
    for part in (
        "$CONVLAB_DATA_DIR",
        str(no_routes / "nowhere"),
        "Keras cache",
        str(data.KERAS_CACHE),
        "/debian",
        "Keras download: OSError: network unreachable",
        "apt-get install dataset-fashion-mnist",
    ):
        assert part in message


def test_download_route_is_the_last_resort(no_routes, copy_split_files, monkeypatch):
    calls = []

    def fake_download(split):
        calls.append(split)
        return copy_split_files(data.KERAS_CACHE, split)

    monkeypatch.setattr(data, "_download_with_keras", fake_download)
    assert find_data_dir("test") == data.KERAS_CACHE
    assert calls == ["test"]
    find_data_dir("test")  # now cached locally: no second download
    assert calls == ["test"]


def _write_gz(path, payload: bytes) -> None:
    with gzip.open(path, "wb") as file:
        file.write(payload)


@pytest.mark.parametrize("damage", ["truncated gzip", "wrong magic", "short body", "not gzip", "bad label"])
def test_corrupt_files_get_an_error_naming_the_file(no_routes, copy_split_files, damage):
    folder = copy_split_files(no_routes / "debian")
    images, labels, _ = data.FILES["test"]
    target = folder / (labels if damage == "bad label" else images)
    if damage == "truncated gzip":
        target.write_bytes(target.read_bytes()[:100_000])
    elif damage == "wrong magic":
        _write_gz(target, struct.pack(">4I", 0x0801, 10_000, 28, 28) + bytes(10_000 * 784))
    elif damage == "short body":
        _write_gz(target, struct.pack(">4I", 0x0803, 10_000, 28, 28) + bytes(784 * 9_999))
    elif damage == "not gzip":
        target.write_bytes(b"<html>not found</html>")
    else:
        _write_gz(target, struct.pack(">2I", 0x0801, 10_000) + bytes([12]) * 10_000)
    with pytest.raises(DataError, match=target.name):
        load_split("test")


def test_first_of_class_rejects_a_bad_class(test_split):
    with pytest.raises(ValueError, match="class_index"):
        first_of_class(test_split.labels, 10)
    assert all(test_split.labels[i] == 5 for i in first_of_class(test_split.labels, 5))
    assert first_of_class(test_split.labels, 5) == sorted(first_of_class(test_split.labels, 5))
