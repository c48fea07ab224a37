"""What makes a saved model file whole: checks that read the file alone, never TensorFlow.

A ``.keras`` file is set aside (``store.py``) only when it fails one of these, so an error of the
environment (an import, memory, TensorFlow's runtime) never moves a person's run: the zip opens and
every entry passes its CRC, it holds the entries Keras 3 writes, its config and metadata parse, the
config names the spec's layers with their settings, and the weights file holds exactly the shapes the
spec's layers need. The store checks the file's sha256 against the one recorded when it was saved.
"""

from __future__ import annotations

import io
import json
import zipfile
import zlib

from .data import IMAGE_SIZE
from .models import ModelSpec, layer_table

KERAS_ENTRIES = ("config.json", "metadata.json", "model.weights.h5")  # what Keras 3 writes in a .keras zip


class DamagedFile(ValueError):
    """A run's file fails a check that depends on the file alone (not on memory, imports or TensorFlow):
    proven bad, so it is set aside."""


def check_model_file(spec: ModelSpec, data: bytes) -> None:
    """Raise ``DamagedFile`` unless ``data`` is a whole ``.keras`` archive of ``build(spec)``'s model.

    Everything here reads the bytes alone, with zipfile, json and h5py, never TensorFlow: the zip
    opens and every entry passes its CRC, it holds the entries Keras 3 writes, its config and
    metadata parse, the config names the spec's layers with their settings, and the weights file
    holds exactly the shapes the spec's layers need.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as error:
        raise DamagedFile(f"it is not a whole zip archive ({error})") from error
    with archive:
        names = archive.namelist()
        missing = [name for name in KERAS_ENTRIES if name not in names]
        if missing:
            raise DamagedFile(f"the archive lacks {', '.join(missing)}")
        try:
            bad = archive.testzip()
        except (zipfile.BadZipFile, zlib.error, EOFError) as error:
            raise DamagedFile(f"the archive's contents can't be unpacked ({error})") from error
        if bad is not None:
            raise DamagedFile(f"{bad} in the archive fails its CRC check")
        config = _json_entry(archive, "config.json")
        _json_entry(archive, "metadata.json")
        weights = archive.read("model.weights.h5")
    _check_config(spec, config)
    _check_weights(spec, weights)


def _json_entry(archive: zipfile.ZipFile, name: str):
    try:
        return json.loads(archive.read(name))
    except (ValueError, RecursionError) as error:  # JSON's and UTF-8's errors are ValueErrors
        raise DamagedFile(f"its {name} is not JSON ({error})") from error


def _expected_layers(spec: ModelSpec) -> list[tuple[str, str, dict]]:
    """(class, name, settings) of the layers ``build(spec)`` makes after its input."""
    kernel, pool = [spec.kernel_size] * 2, [spec.pool_size] * 2
    settings = {
        **{f"conv{b}": {"filters": n, "kernel_size": kernel} for b, n in enumerate(spec.conv_filters, start=1)},
        **{f"pool{b}": {"pool_size": pool} for b in range(1, len(spec.conv_filters) + 1)},
        "hidden": {"units": spec.dense_units},
        "output": {"units": 10},
    }
    return [(row["type"], row["layer"], settings.get(row["layer"], {})) for row in layer_table(spec)]


def _check_config(spec: ModelSpec, config) -> None:
    """Raise ``DamagedFile`` unless the archive's config is a Sequential model of the spec's layers."""
    inner = config.get("config") if isinstance(config, dict) else None
    layers = inner.get("layers") if isinstance(inner, dict) else None
    if not isinstance(layers, list) or not layers or config.get("class_name") != "Sequential":
        raise DamagedFile("its config.json doesn't describe a Sequential model")
    if not all(isinstance(layer, dict) and isinstance(layer.get("config"), dict) for layer in layers):
        raise DamagedFile("its config.json has layers without a config")
    found = [
        (layer.get("class_name"), layer["config"].get("name"), layer["config"])
        for layer in layers
        if layer.get("class_name") != "InputLayer"
    ]
    inputs = [layer["config"] for layer in layers if layer.get("class_name") == "InputLayer"]
    if inputs and inputs[0].get("batch_shape") != [None, IMAGE_SIZE, IMAGE_SIZE, 1]:
        raise DamagedFile(f"its config.json takes inputs of shape {inputs[0].get('batch_shape')}, not 28×28×1")
    expected = _expected_layers(spec)
    if [(kind, name) for kind, name, _ in found] != [(kind, name) for kind, name, _ in expected]:
        named = ", ".join(f"{name} ({kind})" for kind, name, _ in found)
        raise DamagedFile(f"its config.json names other layers than the spec's: {named}")
    for (_, name, settings), (_, _, wanted) in zip(found, expected):
        differing = {key: settings.get(key) for key, value in wanted.items() if settings.get(key) != value}
        if differing:
            raise DamagedFile(f"its config.json gives {name} other settings than the spec's: {differing}")


def expected_weight_shapes(spec: ModelSpec) -> list[tuple[int, ...]]:
    """The shapes of ``build(spec)``'s weights, kernel then bias per layer, computed without TensorFlow."""
    shapes, channels = [], 1
    for filters in spec.conv_filters:
        shapes += [(spec.kernel_size, spec.kernel_size, channels, filters), (filters,)]
        channels = filters
    flat = next(int(row["output shape"]) for row in layer_table(spec) if row["layer"] == "flatten")
    return shapes + [(flat, spec.dense_units), (spec.dense_units,), (spec.dense_units, 10), (10,)]


def _check_weights(spec: ModelSpec, data: bytes) -> None:
    """Raise ``DamagedFile`` unless the weights file holds exactly the spec's layers' shapes."""
    import h5py  # installed with Keras; an ImportError here is the environment's, not the file's

    try:
        weights = h5py.File(io.BytesIO(data), "r")
    except OSError as error:  # h5py's word for bytes that aren't HDF5
        raise DamagedFile(f"its model.weights.h5 is not an HDF5 file ({error})") from error
    with weights:
        layers = weights.get("layers")
        if not isinstance(layers, h5py.Group):
            raise DamagedFile("its model.weights.h5 holds no layer weights")
        found = []
        try:
            layers.visititems(
                lambda _, item: found.append(tuple(item.shape)) if isinstance(item, h5py.Dataset) else None
            )
        except (OSError, KeyError) as error:  # h5py's words for a damaged group or dataset
            raise DamagedFile(f"its model.weights.h5 can't be read through ({error})") from error
    if sorted(found) != sorted(expected_weight_shapes(spec)):
        raise DamagedFile(
            f"its weights have the shapes {sorted(found)}, where the spec's layers need "
            f"{sorted(expected_weight_shapes(spec))}"
        )
