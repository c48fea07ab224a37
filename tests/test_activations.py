"""Activations: shapes per layer, agreement with the model, and hand-computed conv and pool values."""

from __future__ import annotations

import numpy as np
import pytest

from convlab.activations import Inspector, feature_layers
from convlab.models import PRESETS, ModelSpec, build

LESSON_IMAGES = [0, 23, 28]


@pytest.fixture(scope="module")
def conv_model():
    return build(PRESETS["conv"])  # untrained weights are as good as any for checking the wiring


def test_lesson_shapes_and_output_equal_predict(conv_model, test_split):
    images = test_split.images[LESSON_IMAGES]
    activations = Inspector(conv_model).run(images)
    assert activations.layer_names == ("conv1", "pool1", "conv2", "pool2")
    assert [m.shape for m in activations.maps] == [(3, s, s, 64) for s in (26, 13, 11, 5)]
    np.testing.assert_allclose(activations.probabilities, conv_model.predict(images, verbose=0), rtol=1e-5, atol=1e-6)


def test_one_forward_pass_for_all_images_and_layers(conv_model, test_split):
    inspector = Inspector(conv_model)
    calls = []
    real = inspector._multi_output
    inspector._multi_output = lambda x, training: calls.append(x.shape) or real(x, training=training)
    inspector.run(test_split.images[:7])
    assert calls == [(7, 28, 28, 1)]


def test_maps_match_a_hand_computed_convolution_and_pool(conv_model, test_split):
    image = test_split.images[0, :, :, 0]
    activations = Inspector(conv_model).run(image[np.newaxis])
    kernels, biases = conv_model.get_layer("conv1").get_weights()  # (3, 3, 1, 64), (64,)
    conv1, pool1 = activations.maps[0][0], activations.maps[1][0]
    for row, column, f in [(0, 0, 1), (10, 13, 5), (25, 25, 63)]:
        patch = image[row : row + 3, column : column + 3]
        expected = max(0.0, float((patch * kernels[:, :, 0, f]).sum() + biases[f]))
        assert conv1[row, column, f] == pytest.approx(expected, abs=1e-5)
    expected_pool = conv1[:26, :26].reshape(13, 2, 13, 2, 64).max(axis=(1, 3))
    np.testing.assert_allclose(pool1, expected_pool, rtol=1e-6)


def test_filter_maps_slice_the_right_filter(conv_model, test_split):
    activations = Inspector(conv_model).run(test_split.images[LESSON_IMAGES])
    grid = activations.filter_maps(1)
    assert len(grid) == 3 and all(len(row) == 4 for row in grid)
    np.testing.assert_array_equal(grid[2][3], activations.maps[3][2, :, :, 1])
    assert [panel.shape for panel in grid[0]] == [(26, 26), (13, 13), (11, 11), (5, 5)]
    with pytest.raises(ValueError, match="filter_index"):
        activations.filter_maps(64)


@pytest.mark.parametrize("filters", [(8,), (8, 16), (4, 8, 16)])
def test_any_number_of_conv_blocks(filters, test_split):
    spec = ModelSpec(conv_filters=filters)
    inspector = Inspector(build(spec))
    activations = inspector.run(test_split.images[:2])
    expected = [(2, side, side, n) for (conv, pool), n in zip(spec.map_sizes(), filters) for side in (conv, pool)]
    assert [m.shape for m in activations.maps] == expected
    assert inspector.num_filters == max(filters)
    # A filter only the wider layers have: the narrower layers' panels are None.
    grid = activations.filter_maps(max(filters) - 1)
    assert [panel is None for panel in grid[0]] == [n < max(filters) for n in filters for _ in (0, 1)]


def test_dense_model_has_no_feature_layers(test_split):
    model = build(PRESETS["dense"])
    inspector = Inspector(model)
    assert feature_layers(model) == [] and inspector.num_filters == 0
    activations = inspector.run(test_split.images[:2])
    assert activations.maps == () and activations.filter_maps(0) == []
    np.testing.assert_allclose(activations.probabilities, model.predict(test_split.images[:2], verbose=0), atol=1e-6)


def test_bad_image_shapes_are_refused(conv_model):
    with pytest.raises(ValueError, match="shape"):
        Inspector(conv_model).run(np.zeros((2, 32, 32, 3)))
