"""A trained model as the browser rebuilds it: a small JSON topology and one binary of float32 weights.

The page's model runs in the browser with TensorFlow.js (``components/browser_model/model.js``): it
builds the same Sequential with tfjs' layers API from the topology and sets the weights from the
binary. The topology is derived from the model's spec and checked against the Keras model's own
layers, so a model the browser can't rebuild (a layer kind it doesn't know, or layers other than its
spec's) is refused here with a ``ValueError`` rather than drawn wrong there. The binary is named by
its sha256, which the topology carries too: the browser checks it before use, and the files can be
cached for good (``ui/modelroute.py`` serves them).

:class:`BrowserModels` holds the exported models of one server by checksum, for the route.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .data import IMAGE_SIZE
from .models import ModelSpec

FORMAT = 1  # the topology's layout; model.js refuses another
# Keras layer class -> the topology's kind, as tfjs' layers API names the same layer.
KINDS = {"Conv2D": "conv2d", "MaxPooling2D": "maxPooling2d", "Flatten": "flatten", "Dense": "dense"}
CHECKSUM_LENGTH = 64  # hex digits: the whole sha256


@dataclass(frozen=True)
class BrowserModel:
    """One model for the browser: ``topology`` (JSON-ready, with the weight manifest) and ``weights``."""

    topology: dict
    weights: bytes  # every weight as float32 little-endian, in the manifest's order
    checksum: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "checksum", hashlib.sha256(self.weights).hexdigest())

    @cached_property
    def topology_json(self) -> bytes:
        return json.dumps({**self.topology, "checksum": self.checksum}, separators=(",", ":")).encode()

    @cached_property
    def gzipped(self) -> dict[str, bytes]:
        """Both files gzip-compressed once (``mtime=0``: the same bytes every time), by suffix."""
        return {
            "json": gzip.compress(self.topology_json, compresslevel=9, mtime=0),
            "bin": gzip.compress(self.weights, compresslevel=9, mtime=0),
        }

    def file(self, suffix: str, gzipped: bool = False) -> bytes:
        """The ``json`` or ``bin`` file's bytes, optionally gzip-compressed."""
        if suffix not in ("json", "bin"):
            raise ValueError(f"a browser model has a .json and a .bin file, not .{suffix}")
        if gzipped:
            return self.gzipped[suffix]
        return self.topology_json if suffix == "json" else self.weights


def topology(spec: ModelSpec) -> dict:
    """The layers ``models.build(spec)`` makes, as the browser builds them (no weights)."""
    layers = []
    for block, filters in enumerate(spec.conv_filters, start=1):
        layers += [
            {
                "name": f"conv{block}",
                "kind": "conv2d",
                "filters": filters,
                "kernelSize": spec.kernel_size,
                "activation": "relu",
            },
            {"name": f"pool{block}", "kind": "maxPooling2d", "poolSize": spec.pool_size},
        ]
    layers += [
        {"name": "flatten", "kind": "flatten"},
        {"name": "hidden", "kind": "dense", "units": spec.dense_units, "activation": "relu"},
        {"name": "output", "kind": "dense", "units": 10, "activation": "softmax"},
    ]
    return {"format": FORMAT, "spec": spec.key(), "inputShape": [IMAGE_SIZE, IMAGE_SIZE, 1], "layers": layers}


def _layer_entry(layer) -> dict:
    """A Keras layer as a topology entry, from its own config; ValueError for a kind the browser doesn't know."""
    kind = type(layer).__name__
    if kind not in KINDS:
        raise ValueError(
            f"The browser can't rebuild layer {layer.name!r}: it is a {kind}, and the browser model knows only "
            f"{', '.join(KINDS)}."
        )
    config = layer.get_config()
    if kind in ("Conv2D", "Dense") and not config["use_bias"]:
        raise ValueError(f"The browser rebuilds {kind} layers with a bias, and {layer.name!r} has none.")
    entry = {"name": layer.name, "kind": KINDS[kind]}
    if kind == "Conv2D":
        if (
            config["padding"] != "valid"
            or tuple(config["strides"]) != (1, 1)
            or tuple(config["dilation_rate"]) != (1, 1)
        ):
            raise ValueError(f"The browser rebuilds only unpadded, unstrided convolutions, not {layer.name!r}.")
        size = config["kernel_size"]
        entry.update(
            filters=config["filters"],
            kernelSize=size[0] if size[0] == size[1] else list(size),
            activation=config["activation"],
        )
    elif kind == "MaxPooling2D":
        size = config["pool_size"]
        if tuple(config["strides"]) != tuple(size) or config["padding"] != "valid":
            raise ValueError(f"The browser rebuilds only pooling whose stride is its window, not {layer.name!r}.")
        entry["poolSize"] = size[0] if size[0] == size[1] else list(size)
    elif kind == "Dense":
        entry.update(units=config["units"], activation=config["activation"])
    return entry


def export(model, spec: ModelSpec) -> BrowserModel:
    """``model`` (a Keras model of ``spec``, e.g. ``models.build(spec)`` or a stored one) for the browser.

    ValueError when the browser couldn't rebuild it: a layer kind it doesn't know, or layers other
    than the spec's. Call it holding the model's lock if other threads use the model.
    """
    wanted = topology(spec)
    found = [_layer_entry(layer) for layer in model.layers]
    if found != wanted["layers"]:
        raise ValueError(f"The model's layers are not its spec's ({spec.describe()}): {found} vs {wanted['layers']}")
    shape = list(model.inputs[0].shape[1:])
    if shape != wanted["inputShape"]:
        raise ValueError(f"The browser model takes {wanted['inputShape']} images, this model {shape}.")
    manifest, chunks, offset = [], [], 0
    for layer in model.layers:
        for variable in layer.weights:
            values = np.asarray(variable.numpy(), dtype="<f4")  # little-endian float32, whatever the machine
            name = f"{layer.name}/{variable.path.rsplit('/', 1)[-1]}"  # "conv1/kernel", "conv1/bias"
            manifest.append({"name": name, "shape": list(values.shape), "dtype": "float32", "offset": offset})
            chunks.append(values.tobytes(order="C"))
            offset += values.nbytes
    return BrowserModel(topology={**wanted, "weights": manifest, "bytes": offset}, weights=b"".join(chunks))


def is_checksum(text: str) -> bool:
    """Whether ``text`` could name a browser model: 64 lowercase hex digits."""
    return len(text) == CHECKSUM_LENGTH and all(c in "0123456789abcdef" for c in text)


class BrowserModels:
    """The browser models one server has exported, by checksum; thread-safe.

    ``add`` exports a model once per source (say a run's key and its file's checksum); ``find`` looks
    a checksum up, exporting any of ``sources`` (the store's runs) not exported yet, so a browser
    holding the URL of a model this server hasn't exported (another server, a restart) still gets it.
    """

    def __init__(self, sources: Callable[[], Iterable[tuple[str, Callable[[], BrowserModel]]]] | None = None):
        """``sources()`` yields (source id, export) pairs; ``export()`` gives the source's :class:`BrowserModel`."""
        self._sources = sources
        self._by_checksum: dict[str, BrowserModel] = {}
        self._by_source: dict[str, str] = {}
        self._refused: set[str] = set()  # sources the browser can't rebuild: not exported again on each lookup
        self._lock = threading.Lock()

    def add(self, source: str, make: Callable[[], BrowserModel]) -> BrowserModel:
        """The browser model of ``source`` (any id that changes when its weights do), made by ``make()`` once."""
        with self._lock:
            checksum = self._by_source.get(source)
            if checksum is not None:
                return self._by_checksum[checksum]
        exported = make()  # outside the lock: a first export reads a model's weights, and lookups go on meanwhile
        with self._lock:
            self._by_checksum.setdefault(exported.checksum, exported)
            self._by_source[source] = exported.checksum
            return self._by_checksum[exported.checksum]

    def find(self, checksum: str) -> BrowserModel | None:
        """The exported model named ``checksum``, else the first source not yet exported that gives it; else None."""
        with self._lock:
            found = self._by_checksum.get(checksum)
        if found is not None or self._sources is None or not is_checksum(checksum):
            return found
        for source, make in self._sources():
            with self._lock:
                if source in self._by_source or source in self._refused:
                    continue
            try:
                exported = self.add(source, make)
            except ValueError:  # a model the browser can't rebuild is never served
                with self._lock:
                    self._refused.add(source)
                continue
            if exported.checksum == checksum:
                return exported
        return None
