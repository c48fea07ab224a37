"""How a convolution computes: one number of a feature map, taken apart.

A conv cell is a sum: the input under a k×k window, times the filter's weights, summed over
every input channel, plus the bias, through the ReLU. A pool cell is the largest value under
its window. ``explain_cell`` rebuilds either from the layer's weights and the maps the
``Inspector`` already computed (the input of a layer is the image or the previous feature
layer's map), so explaining a number costs no model call. ``slide`` walks conv1's filter
over the image one window at a time, for the view that fills the output map cell by cell.

Only the layers ConvLab builds are explained: Conv2D with 'valid' padding and a ReLU (or no
activation), MaxPooling2D with 'valid' padding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# The activations a cell can be explained through: ConvLab builds relu; Keras defaults to linear.
ACTIVATIONS = {"relu": lambda total: max(total, 0.0), "linear": lambda total: total}


@dataclass(frozen=True)
class Cell:
    """Where a number sits: which layer, position and filter, and the window it reads."""

    layer: str
    row: int
    col: int
    filter: int
    source: str  # "input" or the previous feature layer's name
    origin: tuple[int, int]  # the window's top-left (row, col) in the source


@dataclass(frozen=True)
class ConvCell(Cell):
    patches: np.ndarray  # (channels, k, k): the source under the window, per input channel
    kernel: np.ndarray  # (channels, k, k): the filter's weights, per input channel
    contributions: np.ndarray  # (channels,): sum(patch * kernel) per channel
    bias: float
    activation: str  # "relu" for ConvLab's models
    total: float  # contributions.sum() + bias
    value: float  # the activation of total: the map's value at (row, col)

    @property
    def size(self) -> int:
        """The window's side: the kernel's."""
        return self.kernel.shape[-1]

    def products(self) -> np.ndarray:
        """(channels, k, k): each input value times its weight."""
        return self.patches * self.kernel

    def order(self) -> np.ndarray:
        """Channel indices, largest |contribution| first (ties: lower channel first)."""
        return np.argsort(-np.abs(self.contributions), kind="stable")


@dataclass(frozen=True)
class PoolCell(Cell):
    window: np.ndarray  # (p, p): the previous map's values under the window
    winner: tuple[int, int]  # (row, col) of the maximum inside the window
    value: float

    @property
    def size(self) -> int:
        """The window's side: the pool's."""
        return self.window.shape[0]


def window_outline(row: int, col: int, size: int, stride: int = 1) -> tuple[int, int, int]:
    """(top, left, size) of the window in the source that output cell (row, col) reads.

    ConvLab's kernels and pools are square, so one side describes the window.
    """
    return row * stride, col * stride, size


def maps_of(activations, image_index: int) -> list[np.ndarray]:
    """One image's (height, width, channels) maps, one per feature layer, from an ``Activations``."""
    count = len(activations.probabilities)
    if not 0 <= image_index < count:
        raise ValueError(f"image_index must be 0..{count - 1}, not {image_index}")
    return [m[image_index] for m in activations.maps]


def explain_cell(
    layers: Sequence,
    image: np.ndarray,
    maps: Sequence[np.ndarray],
    layer_name: str,
    row: int,
    col: int,
    filter_index: int,
) -> ConvCell | PoolCell:
    """Rebuild the value at (row, col, filter_index) of one layer's map from the layer's input.

    ``layers`` are ``Inspector.layers``; ``image`` is (h, w) or (h, w, 1); ``maps`` are this
    image's maps, one (height, width, channels) array per layer (see ``maps_of``).
    """
    names = [layer.name for layer in layers]
    if layer_name not in names:
        raise ValueError(f"layer must be one of {', '.join(names)}, not {layer_name!r}")
    if len(maps) != len(layers):
        raise ValueError(f"maps must hold one map per layer ({len(layers)}), not {len(maps)}")
    index = names.index(layer_name)
    _check_position(layer_name, _one_map(maps, index).shape, row, col, filter_index)
    source_name = "input" if index == 0 else names[index - 1]
    source = _as_map(image) if index == 0 else _one_map(maps, index - 1)
    layer = layers[index]
    kind = type(layer).__name__
    if kind == "Conv2D":
        return _explain_conv(layer, source, source_name, row, col, filter_index)
    if kind == "MaxPooling2D":
        return _explain_pool(layer, source, source_name, row, col, filter_index)
    raise ValueError(f"only Conv2D and MaxPooling2D layers can be explained, not {layer_name} ({kind})")


def _as_map(image: np.ndarray) -> np.ndarray:
    """The image as a (height, width, 1) map, like the maps that follow it."""
    image = np.asarray(image)
    if image.ndim == 2:
        return image[:, :, np.newaxis]
    if image.ndim == 3 and image.shape[-1] == 1:
        return image
    raise ValueError(f"image must have shape (height, width) or (height, width, 1), not {image.shape}")


def _one_map(maps: Sequence[np.ndarray], index: int) -> np.ndarray:
    feature_map = np.asarray(maps[index])
    # A whole batch (images, h, w, c) is the likely mistake: say so rather than index it wrongly.
    if feature_map.ndim != 3:
        raise ValueError(
            f"maps[{index}] must be one image's (height, width, channels) map, not shape {feature_map.shape}"
        )
    return feature_map


def _check_position(layer_name: str, shape: tuple[int, ...], row: int, col: int, filter_index: int) -> None:
    height, width, filters = shape
    if not 0 <= row < height:
        raise ValueError(f"row must be 0..{height - 1} for {layer_name}'s {height}×{width} map, not {row}")
    if not 0 <= col < width:
        raise ValueError(f"col must be 0..{width - 1} for {layer_name}'s {height}×{width} map, not {col}")
    if not 0 <= filter_index < filters:
        raise ValueError(
            f"filter_index must be 0..{filters - 1} for {layer_name} ({filters} filters), not {filter_index}"
        )


def _side(value) -> int:
    """One side of a square size or stride, which Keras gives as an int or a pair."""
    return int(value[0]) if isinstance(value, (list, tuple)) else int(value)


def _stride(layer) -> int:
    """The layer's stride; other padding than 'valid' would need a padded source, which ConvLab never builds."""
    config = layer.get_config()
    if config["padding"] != "valid":
        raise ValueError(f"only 'valid' padding can be explained, not {config['padding']!r} in {layer.name}")
    return _side(config["strides"])


def _place(layer, source_name: str, row: int, col: int, filter_index: int, top: int, left: int) -> dict:
    """What every ``Cell`` holds (where the number sits and the window it reads), by field name."""
    return dict(layer=layer.name, row=row, col=col, filter=filter_index, source=source_name, origin=(top, left))


def _explain_conv(layer, source: np.ndarray, source_name: str, row: int, col: int, filter_index: int) -> ConvCell:
    kernels, *rest = layer.get_weights()  # (k, k, in_channels, filters) and, unless use_bias=False, (filters,)
    biases = rest[0] if rest else np.zeros(kernels.shape[-1], np.float32)
    if kernels.shape[2] != source.shape[-1]:
        raise ValueError(
            f"{layer.name} expects {kernels.shape[2]} input channels, but its source has {source.shape[-1]}"
        )
    activation = layer.get_config().get("activation", "linear")
    if activation not in ACTIVATIONS:
        raise ValueError(f"only {' and '.join(ACTIVATIONS)} activations can be explained, not {activation!r}")
    top, left, size = window_outline(row, col, kernels.shape[0], _stride(layer))
    # float64 so the parts add up exactly to the total shown; Keras' float32 differs by ~1e-6.
    patches = np.moveaxis(source[top : top + size, left : left + size, :], -1, 0).astype(np.float64)
    kernel = np.moveaxis(kernels[:, :, :, filter_index], -1, 0).astype(np.float64)
    contributions = (patches * kernel).sum(axis=(1, 2))
    bias = float(biases[filter_index])
    total = float(contributions.sum()) + bias
    return ConvCell(
        **_place(layer, source_name, row, col, filter_index, top, left),
        patches=patches,
        kernel=kernel,
        contributions=contributions,
        bias=bias,
        activation=activation,
        total=total,
        value=float(ACTIVATIONS[activation](total)),
    )


def _explain_pool(layer, source: np.ndarray, source_name: str, row: int, col: int, filter_index: int) -> PoolCell:
    top, left, size = window_outline(row, col, _side(layer.get_config()["pool_size"]), _stride(layer))
    window = np.asarray(source[top : top + size, left : left + size, filter_index])
    winner = np.unravel_index(np.argmax(window), window.shape)  # the first maximum in row-major order
    return PoolCell(
        **_place(layer, source_name, row, col, filter_index, top, left),
        window=window,
        winner=(int(winner[0]), int(winner[1])),
        value=float(window.max()),
    )


def slide(image: np.ndarray, kernel: np.ndarray, bias: float) -> list[tuple[int, int, float]]:
    """Every (row, col, ReLU(sum(window * kernel) + bias)) of a 'valid' conv, in row-major order.

    Brute force on purpose: one window at a time, as the view fills the output map cell by
    cell. The window of step (row, col) is ``window_outline(row, col, kernel side)``.
    """
    image = np.asarray(image, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    if image.ndim != 2 or kernel.ndim != 2:
        raise ValueError(f"image and kernel must be 2-D, not shapes {image.shape} and {kernel.shape}")
    if kernel.shape[0] != kernel.shape[1] or not 1 <= kernel.shape[0] <= min(image.shape):
        raise ValueError(f"kernel must be square with a side of 1..{min(image.shape)}, not shape {kernel.shape}")
    size = kernel.shape[0]
    steps = []
    for row in range(image.shape[0] - size + 1):
        for col in range(image.shape[1] - size + 1):
            total = float((image[row : row + size, col : col + size] * kernel).sum()) + float(bias)
            steps.append((row, col, ACTIVATIONS["relu"](total)))
    return steps
