"""Filter finder, kernels, classic filters, confusion matrix and mistakes, against references."""

from __future__ import annotations

import numpy as np
import pytest

from convlab.activations import Inspector
from convlab.explain import (
    CLASSIC_KERNELS,
    class_mix,
    confusion_matrix,
    convolve,
    first_layer_kernels,
    mistakes,
    normalise_rows,
    strongest_images,
)
from convlab.models import PRESETS, build


@pytest.fixture(scope="module")
def conv_model():
    return build(PRESETS["conv"])


def test_max_activations_match_the_full_maps(conv_model, test_split):
    inspector = Inspector(conv_model)
    images = test_split.images[:120]
    maxima = inspector.max_activations(images, batch_size=50)  # several batches, one ragged
    full = inspector.run(images)
    for name, maps in zip(full.layer_names, full.maps):
        np.testing.assert_allclose(maxima[name], maps.max(axis=(1, 2)), rtol=1e-5, atol=1e-6)


def test_strongest_images_equal_a_brute_force_loop():
    rng = np.random.default_rng(0)
    strengths = rng.random((300, 16)).astype(np.float32)
    strengths[[10, 20], 3] = 5.0  # a tie at the top: the lower index comes first
    for filter_index in (0, 3, 15):
        by_hand = sorted(range(300), key=lambda i: (-strengths[i, filter_index], i))[:9]
        assert strongest_images(strengths, filter_index).tolist() == by_hand
    assert strongest_images(strengths, 3, count=2).tolist() == [10, 20]
    with pytest.raises(ValueError, match="filter_index"):
        strongest_images(strengths, 16)


def test_class_mix_counts_by_class():
    labels = np.array([0, 1, 1, 9, 9, 9, 2])
    assert class_mix(labels, np.array([1, 2, 3, 4, 6])).tolist() == [0, 2, 1, 0, 0, 0, 0, 0, 0, 2]


def test_kernels_are_the_first_conv_layers_weights(conv_model):
    kernels, biases = first_layer_kernels(conv_model)
    weights, bias = conv_model.get_layer("conv1").get_weights()
    assert kernels.shape == (64, 3, 3)
    for f in (0, 1, 63):
        np.testing.assert_array_equal(kernels[f], weights[:, :, 0, f])
    np.testing.assert_array_equal(biases, bias)
    assert first_layer_kernels(build(PRESETS["dense"]))[0].shape == (0, 3, 3)


def test_convolve_by_hand_and_as_conv2d_does(conv_model, test_split):
    image = np.arange(25, dtype=np.float32).reshape(5, 5)
    vertical = convolve(image, CLASSIC_KERNELS["vertical edge"])
    # Each row rises by 1 per column: a Sobel x kernel gives (1+2+1) * 2 = 8 everywhere.
    np.testing.assert_allclose(vertical, np.full((3, 3), 8.0))
    np.testing.assert_allclose(convolve(image, CLASSIC_KERNELS["Laplacian"]), np.zeros((3, 3)))  # a linear ramp
    # conv1's map is ReLU(convolve(image, kernel) + bias): the learned filter, computed by hand.
    kernels, biases = first_layer_kernels(conv_model)
    picture = test_split.images[0, :, :, 0]
    conv1 = Inspector(conv_model).run(picture[np.newaxis]).maps[0][0]
    for f in (1, 30):
        np.testing.assert_allclose(np.maximum(convolve(picture, kernels[f]) + biases[f], 0), conv1[:, :, f], atol=1e-5)


def test_confusion_matrix_against_a_hand_count():
    labels = np.array([0, 0, 1, 1, 1, 2])
    predictions = np.array([0, 1, 1, 1, 2, 0])
    expected = np.zeros((10, 10), dtype=int)
    expected[0, 0], expected[0, 1], expected[1, 1], expected[1, 2], expected[2, 0] = 1, 1, 2, 1, 1
    counts = confusion_matrix(labels, predictions)
    np.testing.assert_array_equal(counts, expected)
    fractions = normalise_rows(counts)
    assert fractions[1, 1] == pytest.approx(2 / 3) and fractions[0].sum() == pytest.approx(1)
    assert fractions[5].sum() == 0  # a class with no images stays zeros, no division by zero


def test_mistakes_filter_by_true_and_predicted_class():
    labels = np.array([0, 0, 1, 1, 1, 2])
    predictions = np.array([0, 1, 1, 1, 2, 0])
    assert mistakes(labels, predictions).tolist() == [1, 4, 5]
    assert mistakes(labels, predictions, true_class=1).tolist() == [4]
    assert mistakes(labels, predictions, predicted_class=0).tolist() == [5]
    assert mistakes(labels, predictions, true_class=0, predicted_class=2).tolist() == []
