"""Explaining one number of a feature map: agreement with Keras' outputs and with hand arithmetic."""

from __future__ import annotations

import re

import numpy as np
import pytest

from convlab.activations import Inspector, feature_layers
from convlab.arithmetic import ConvCell, PoolCell, explain_cell, maps_of, slide, window_outline
from convlab.models import PRESETS, ModelSpec
from convlab.store import DEFAULT_ROOT, ModelStore

IMAGES = [0, 1]
THREE_BLOCKS = ModelSpec(conv_filters=(8, 16, 16), dense_units=16, epochs=1, train_samples=500)
SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32)
# A 6×6 image: dark left half, bright right half (a vertical edge) and one grey dot.
HAND_IMAGE = np.array(
    [
        [0, 0, 0, 1, 1, 1],
        [0, 0, 0, 1, 1, 1],
        [0, 0, 0, 1, 1, 1],
        [0, 0, 0, 1, 1, 1],
        [0, 0.5, 0, 1, 1, 1],
        [0, 0, 0, 1, 1, 1],
    ],
    dtype=np.float32,
)
HAND_BIAS = -0.1


def inspected(model, images):
    inspector = Inspector(model)
    return inspector.layers, inspector.run(images)


@pytest.fixture(scope="module")
def shipped(test_split):
    stored = ModelStore(DEFAULT_ROOT).load(PRESETS["conv"])
    assert stored is not None, "the shipped conv model is missing from models/"
    images = test_split.images[IMAGES]
    return (images, *inspected(stored.model, images))


@pytest.fixture(scope="module")
def three_blocks(tmp_path_factory, small_data, test_split):
    stored = ModelStore(tmp_path_factory.mktemp("models")).get_or_train(THREE_BLOCKS, lambda: small_data)
    images = test_split.images[IMAGES]
    return (images, *inspected(stored.model, images))


def cells_to_check(feature_map: np.ndarray) -> list[tuple[int, int, int]]:
    """Corners, the middle, filters 0 and the last, the strongest cell and one ReLU'd to zero."""
    height, width, filters = feature_map.shape
    cells = {
        (0, 0, 0),
        (0, width - 1, filters - 1),
        (height - 1, 0, filters // 2),
        (height - 1, width - 1, filters - 1),
        (height // 2, width // 2, 0),
        tuple(int(i) for i in np.unravel_index(np.argmax(feature_map), feature_map.shape)),
    }
    zeros = np.argwhere(feature_map == 0)
    if len(zeros):
        cells.add(tuple(int(i) for i in zeros[len(zeros) // 2]))
    return sorted(cells)


def check_layers_against_keras(images, layers, activations) -> list[float]:
    """Every checked cell of every layer agrees with Keras; returns the conv totals seen."""
    totals = []
    for image_index, image in enumerate(images):
        maps = maps_of(activations, image_index)
        for index, layer in enumerate(layers):
            source = image if index == 0 else maps[index - 1]
            for row, col, f in cells_to_check(maps[index]):
                cell = explain_cell(layers, image, maps, layer.name, row, col, f)
                keras_value = float(maps[index][row, col, f])
                assert (cell.layer, cell.row, cell.col, cell.filter) == (layer.name, row, col, f)
                assert cell.source == ("input" if index == 0 else layers[index - 1].name)
                assert cell.value == pytest.approx(keras_value, abs=1e-5), (layer.name, row, col, f)
                if isinstance(cell, ConvCell):
                    check_conv_cell(cell, layer, source)
                    totals.append(cell.total)
                else:
                    check_pool_cell(cell, source, keras_value)
    return totals


def check_conv_cell(cell: ConvCell, layer, source: np.ndarray) -> None:
    kernels, biases = layer.get_weights()
    row, col, f = cell.row, cell.col, cell.filter
    assert cell.origin == (row, col) and cell.size == 3
    for channel in range(source.shape[-1]):
        np.testing.assert_array_equal(cell.patches[channel], source[row : row + 3, col : col + 3, channel])
        np.testing.assert_array_equal(cell.kernel[channel], kernels[:, :, channel, f])
    assert cell.bias == pytest.approx(float(biases[f]))
    assert cell.contributions.sum() + cell.bias == pytest.approx(cell.total, abs=1e-9)
    np.testing.assert_allclose(cell.products().sum(axis=(1, 2)), cell.contributions, atol=1e-12)
    assert cell.activation == "relu" and cell.value == max(cell.total, 0.0)
    order = cell.order()
    assert sorted(order) == list(range(source.shape[-1]))
    assert np.all(np.diff(np.abs(cell.contributions[order])) <= 0)


def check_pool_cell(cell: PoolCell, source: np.ndarray, keras_value: float) -> None:
    top, left = 2 * cell.row, 2 * cell.col
    assert cell.origin == (top, left) and cell.size == 2
    np.testing.assert_array_equal(cell.window, source[top : top + 2, left : left + 2, cell.filter])
    assert cell.value == cell.window.max() == pytest.approx(keras_value, abs=1e-6)
    assert cell.window[cell.winner] == cell.value


def test_shipped_conv_model_cells_equal_keras(shipped):
    images, layers, activations = shipped
    assert activations.layer_names == ("conv1", "pool1", "conv2", "pool2")
    totals = check_layers_against_keras(images, layers, activations)
    # Both sides of the ReLU were exercised: cells that fire and cells cut to zero.
    assert max(totals) > 0 > min(totals)


def test_three_block_model_cells_equal_keras(three_blocks):
    images, layers, activations = three_blocks
    assert activations.layer_names == ("conv1", "pool1", "conv2", "pool2", "conv3", "pool3")
    totals = check_layers_against_keras(images, layers, activations)
    assert max(totals) > 0 > min(totals)
    conv3 = explain_cell(layers, images[1], maps_of(activations, 1), "conv3", 2, 2, 15)
    assert conv3.patches.shape == conv3.kernel.shape == (16, 3, 3) and conv3.source == "pool2"
    pool3 = explain_cell(layers, images[1], maps_of(activations, 1), "pool3", 0, 0, 15)
    assert pool3.window.shape == (2, 2) and pool3.source == "conv3"


def hand_conv(image, kernel, bias) -> tuple[np.ndarray, np.ndarray]:
    """Totals and ReLU'd values of a 'valid' 3×3 conv, written out as loops."""
    size = len(image) - 2
    totals = np.zeros((size, size))
    for r in range(size):
        for c in range(size):
            total = bias
            for i in range(3):
                for j in range(3):
                    total += float(image[r + i][c + j]) * float(kernel[i][j])
            totals[r, c] = total
    return totals, np.maximum(totals, 0)


def hand_pool(feature_map) -> tuple[np.ndarray, dict]:
    """2×2 max pooling as loops, with where each maximum was found (first one in reading order)."""
    size = len(feature_map) // 2
    pooled, winners = np.zeros((size, size)), {}
    for r in range(size):
        for c in range(size):
            best, where = -np.inf, None
            for i in range(2):
                for j in range(2):
                    if feature_map[2 * r + i][2 * c + j] > best:
                        best, where = feature_map[2 * r + i][2 * c + j], (i, j)
            pooled[r, c], winners[r, c] = best, where
    return pooled, winners


@pytest.fixture(scope="module")
def sobel_model():
    import keras

    model = keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            keras.layers.Conv2D(1, 3, activation="relu", name="edges"),
            keras.layers.MaxPooling2D(2, name="pool"),
        ]
    )
    model.get_layer("edges").set_weights([SOBEL_X.reshape(3, 3, 1, 1), np.array([HAND_BIAS], np.float32)])
    return model


def test_hand_set_sobel_filter_equals_written_out_arithmetic(sobel_model):
    totals, conv = hand_conv(HAND_IMAGE, SOBEL_X, HAND_BIAS)
    pooled, winners = hand_pool(conv)
    # The hand loops are the reference, so first check Keras computes the same.
    keras_pooled = np.asarray(sobel_model(HAND_IMAGE[np.newaxis, :, :, np.newaxis]))[0, :, :, 0]
    np.testing.assert_allclose(keras_pooled, pooled, atol=1e-6)
    layers, maps = feature_layers(sobel_model), [conv[:, :, np.newaxis], pooled[:, :, np.newaxis]]
    for r in range(4):
        for c in range(4):
            cell = explain_cell(layers, HAND_IMAGE, maps, "edges", r, c, 0)
            assert cell.total == pytest.approx(totals[r, c], abs=1e-6)
            assert cell.value == pytest.approx(conv[r, c], abs=1e-6)
            assert cell.contributions[0] == pytest.approx(totals[r, c] - HAND_BIAS, abs=1e-6)
            assert cell.bias == pytest.approx(HAND_BIAS)
            np.testing.assert_allclose(cell.products()[0], HAND_IMAGE[r : r + 3, c : c + 3] * SOBEL_X)
    for r in range(2):
        for c in range(2):
            cell = explain_cell(layers, HAND_IMAGE, maps, "pool", r, c, 0)
            assert (cell.value, cell.winner) == (pytest.approx(pooled[r, c]), winners[r, c])
    # Read off the image: the edge's bright column times (1, 2, 1), minus 0.1.
    assert explain_cell(layers, HAND_IMAGE, maps, "edges", 0, 1, 0).value == pytest.approx(3.9)
    # Left of the edge there is only the bias: a negative total the ReLU turns into 0.
    dark = explain_cell(layers, HAND_IMAGE, maps, "edges", 0, 0, 0)
    assert (dark.total, dark.value) == (pytest.approx(-0.1), 0.0)


def test_slide_reproduces_conv1_of_the_shipped_model(shipped):
    images, layers, activations = shipped
    kernels, biases = layers[0].get_weights()
    steps = slide(images[0, :, :, 0], kernels[:, :, 0, 1], float(biases[1]))
    assert len(steps) == 676
    assert [(row, col) for row, col, _ in steps] == [(row, col) for row in range(26) for col in range(26)]
    values = np.array([value for _, _, value in steps]).reshape(26, 26)
    np.testing.assert_allclose(values, activations.maps[0][0, :, :, 1], atol=1e-5)


def test_slide_equals_the_written_out_loop_and_its_windows():
    _, conv = hand_conv(HAND_IMAGE, SOBEL_X, HAND_BIAS)
    steps = slide(HAND_IMAGE, SOBEL_X, HAND_BIAS)
    np.testing.assert_allclose([value for _, _, value in steps], conv.ravel(), atol=1e-6)
    assert window_outline(2, 3, 3) == (2, 3, 3)  # a conv window starts at its output cell
    assert window_outline(2, 3, 2, stride=2) == (4, 6, 2)  # a pool window at twice it


def test_bad_arguments_are_refused_with_the_valid_range(shipped):
    images, layers, activations = shipped
    image, maps = images[0], maps_of(activations, 0)

    def refused(message, *args, maps=maps, image=image):
        with pytest.raises(ValueError, match=re.escape(message)):
            explain_cell(layers, image, maps, *args)

    refused("layer must be one of conv1, pool1, conv2, pool2, not 'conv3'", "conv3", 0, 0, 0)
    refused("row must be 0..25 for conv1's 26×26 map, not 26", "conv1", 26, 0, 0)
    refused("row must be 0..12 for pool1's 13×13 map, not -1", "pool1", -1, 0, 0)
    refused("col must be 0..10 for conv2's 11×11 map, not 11", "conv2", 0, 11, 0)
    refused("filter_index must be 0..63 for pool2 (64 filters), not 64", "pool2", 0, 0, 64)
    refused("maps[0] must be one image's (height, width, channels) map", "conv1", 0, 0, 0, maps=activations.maps)
    refused("maps must hold one map per layer (4), not 3", "conv1", 0, 0, 0, maps=maps[:3])
    refused("image must have shape (height, width) or (height, width, 1)", "conv1", 0, 0, 0, image=np.ones((28, 28, 3)))
    with pytest.raises(ValueError, match=re.escape("image_index must be 0..1, not 2")):
        maps_of(activations, 2)
    with pytest.raises(ValueError, match=re.escape("kernel must be square with a side of 1..28")):
        slide(image[:, :, 0], np.ones((3, 2)), 0.0)
    with pytest.raises(ValueError, match="must be 2-D"):
        slide(image, np.ones((3, 3)), 0.0)
