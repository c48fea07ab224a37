"""Every filter's maps of the journey's images, packed small enough for the browser to hold them all.

Scrubbing through the filters should redraw as fast as a hand moves, which a round trip to the
server per filter can't do. All of the lesson's filters' maps for three images are about 190,000
numbers: as one byte each, with a scale per map, the browser holds them all and redraws any filter
itself. This module is the server's half of that: ``pack`` quantises an ``Activations`` and
``to_bytes`` / ``from_bytes`` give the wire format the browser reads.

Per map (one image, one layer, one filter) it keeps the exact maximum, ``high`` (float32, as
Keras computed it), and every cell as ``round(value / high * 255)``. Maps are ReLU outputs or
their max-pools, so they start at 0, and the journey's colour ranges are (0, the largest
``high`` in the panel, the layer or the figure): computed from the exact ``high`` values, they
are exactly the server's (``ranges`` matches ``figures.shared_ranges``). A decoded cell is within
``high / 510`` of the real value (``error_bound``), half a step of 256 shades.

Wire format, little-endian: ``b"CLMAPS"``, a uint32 header length, a UTF-8 JSON header
(``format``, ``images``, ``layers``: name, side, filters), then per layer the highs (float32,
images × filters) and the codes (uint8, images × filters × side × side, row-major).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

import numpy as np

from .activations import Activations

FORMAT = 1
MAGIC = b"CLMAPS"
LEVELS = 255  # codes 0..255: a byte a cell


@dataclass(frozen=True)
class PackedLayer:
    name: str  # "conv1", "pool1", ...
    highs: np.ndarray  # float32 (images, filters): each map's exact maximum
    codes: np.ndarray  # uint8 (images, filters, side, side)

    @property
    def side(self) -> int:
        return int(self.codes.shape[-1])

    @property
    def filters(self) -> int:
        return int(self.codes.shape[1])


@dataclass(frozen=True)
class PackedMaps:
    layers: tuple[PackedLayer, ...]
    images: int

    def map(self, image: int, layer: int, filter_index: int) -> np.ndarray | None:
        """The decoded 2-D map, float32; None when the layer has fewer filters (as ``Activations.filter_maps``)."""
        packed = self.layers[layer]
        if filter_index >= packed.filters:
            return None
        # code / 255 * high, in that order: code 255 gives exactly high (the browser decodes the same way).
        return (
            packed.codes[image, filter_index].astype(np.float32)
            / np.float32(LEVELS)
            * packed.highs[image, filter_index]
        )

    def filter_maps(self, filter_index: int) -> list[list[np.ndarray | None]]:
        """``[image][layer]`` decoded maps of one filter: what the browser draws."""
        return [
            [self.map(image, layer, filter_index) for layer in range(len(self.layers))] for image in range(self.images)
        ]

    def error_bound(self, image: int, layer: int, filter_index: int) -> float:
        """How far a decoded cell of this map can be from the real value: half a step."""
        return float(self.layers[layer].highs[image, filter_index]) / (2 * LEVELS)

    def ranges(self, filter_index: int, scale: str) -> dict:
        """The colour ranges ``figures.shared_ranges`` gives for this filter, from the exact highs alone."""
        from .figures.scales import ranges_of_highs

        highs = {
            column: float(max(layer.highs[:, filter_index]))
            for column, layer in enumerate(self.layers)
            if filter_index < layer.filters
        }
        return ranges_of_highs(highs, scale)

    @property
    def nbytes(self) -> int:
        return len(to_bytes(self))


def pack(activations: Activations) -> PackedMaps:
    """Quantise every filter's maps of every image: a byte a cell, the exact maximum per map."""
    layers = []
    for name, maps in zip(activations.layer_names, activations.maps):
        maps = np.asarray(maps, dtype=np.float32)
        if not np.isfinite(maps).all():
            raise ValueError(
                f"{name}'s maps aren't all finite numbers (a model with NaN weights?): they can't be packed"
            )
        if maps.size and float(maps.min()) < 0:
            raise ValueError(
                f"{name}'s maps go below 0 ({float(maps.min()):.3g}); only ReLU outputs and their pools pack"
            )
        by_filter = np.moveaxis(maps, -1, 1)  # (images, filters, side, side)
        highs = by_filter.max(axis=(2, 3))
        safe = np.where(highs > 0, highs, np.float32(1))[:, :, None, None]
        codes = np.rint(by_filter / safe * LEVELS).astype(np.uint8)
        layers.append(PackedLayer(name, highs.astype(np.float32), codes))
    return PackedMaps(tuple(layers), images=len(activations.probabilities))


def to_bytes(packed: PackedMaps) -> bytes:
    header = json.dumps(
        {
            "format": FORMAT,
            "images": packed.images,
            "layers": [{"name": layer.name, "side": layer.side, "filters": layer.filters} for layer in packed.layers],
        }
    ).encode()
    parts = [MAGIC, struct.pack("<I", len(header)), header]
    for layer in packed.layers:
        parts += [layer.highs.astype("<f4").tobytes(), layer.codes.tobytes()]
    return b"".join(parts)


def from_bytes(data: bytes) -> PackedMaps:
    """The maps ``to_bytes`` wrote; ValueError, naming what is wrong, for anything else."""
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
        raise ValueError("not ConvLab's packed maps (no CLMAPS signature)")
    (length,) = struct.unpack_from("<I", data, len(MAGIC))
    start = len(MAGIC) + 4
    try:
        header = json.loads(data[start : start + length])
    except ValueError as error:
        raise ValueError(f"packed maps with a broken header: {error}") from None
    if header.get("format") != FORMAT:
        raise ValueError(f"packed maps of format {header.get('format')!r}, not {FORMAT}")
    images, offset, layers = int(header["images"]), start + length, []
    for spec in header["layers"]:
        side, filters = int(spec["side"]), int(spec["filters"])
        highs_size, codes_size = images * filters * 4, images * filters * side * side
        if offset + highs_size + codes_size > len(data):
            raise ValueError(f"packed maps cut short in layer {spec['name']}")
        highs = np.frombuffer(data, "<f4", images * filters, offset).reshape(images, filters).astype(np.float32)
        codes = np.frombuffer(data, np.uint8, codes_size, offset + highs_size).reshape(images, filters, side, side)
        layers.append(PackedLayer(str(spec["name"]), highs, codes))
        offset += highs_size + codes_size
    if offset != len(data):
        raise ValueError(f"packed maps with {len(data) - offset} bytes too many")
    return PackedMaps(tuple(layers), images)
