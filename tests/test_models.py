"""Specs and built models: the lesson's parameter counts, shapes, validation and hashing."""

from __future__ import annotations

import pytest

from convlab.models import PRESETS, ModelSpec, build, layer_summary


def test_lesson_parameter_counts():
    assert build(PRESETS["dense"]).count_params() == 101_770
    assert build(PRESETS["conv"]).count_params() == 243_786


def test_conv_model_shapes_and_lesson_settings():
    model = build(PRESETS["conv"])
    summary = layer_summary(model)
    assert [row["layer"] for row in summary] == ["conv1", "pool1", "conv2", "pool2", "flatten", "hidden", "output"]
    assert [row["output shape"] for row in summary[:4]] == ["26×26×64", "13×13×64", "11×11×64", "5×5×64"]
    assert PRESETS["conv"].map_sizes() == [(26, 13), (11, 5)]
    assert model.inputs[0].shape[1:] == (28, 28, 1)  # built from keras.Input
    assert type(model.optimizer).__name__ == "Adam"
    assert model.loss == "sparse_categorical_crossentropy"
    spec = PRESETS["conv"]
    assert (spec.epochs, spec.batch_size, spec.dense_units) == (5, 32, 128)


@pytest.mark.parametrize("filters, sizes", [((32,), [(26, 13)]), ((16, 32, 64), [(26, 13), (11, 5), (3, 1)])])
def test_variant_map_sizes_match_keras(filters, sizes):
    spec = ModelSpec(conv_filters=filters)
    assert spec.map_sizes() == sizes
    built = [row["output shape"] for row in layer_summary(build(spec)) if row["type"] != "Dense"]
    expected = [f"{side}×{side}×{n}" for (conv, pool), n in zip(sizes, filters) for side in (conv, pool)]
    assert built[: len(expected)] == expected


@pytest.mark.parametrize(
    "fields, problem",
    [
        ({"conv_filters": (0, 64)}, "filters per conv layer"),
        ({"conv_filters": (8, 8, 8, 8)}, "at most 3 conv blocks"),
        ({"kernel_size": 11, "conv_filters": (8, 8)}, "shrink below 1x1"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"stop_accuracy": 1.5}, "stop_accuracy"),
    ],
)
def test_invalid_specs_are_refused(fields, problem):
    with pytest.raises(ValueError, match=problem):
        ModelSpec(**fields)


def test_key_depends_on_every_setting_and_survives_json():
    spec = PRESETS["conv"]
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    assert ModelSpec.from_dict(spec.to_dict()).key() == spec.key()
    assert ModelSpec(conv_filters=[64, 64]).key() == spec.key()  # lists and tuples hash alike
    changed = [ModelSpec(conv_filters=(32, 64)), ModelSpec(epochs=6), ModelSpec(seed=1), ModelSpec(stop_loss=0.4)]
    assert len({spec.key(), *(other.key() for other in changed)}) == 1 + len(changed)
    with pytest.raises(ValueError, match="unknown"):
        ModelSpec.from_dict({**spec.to_dict(), "learning_rate": 0.1})


@pytest.mark.parametrize(
    "spec",
    [
        PRESETS["dense"],
        PRESETS["conv"],
        ModelSpec(conv_filters=(16, 32, 128), dense_units=64),
        ModelSpec(conv_filters=(32,), kernel_size=5, pool_size=3, dense_units=10),
    ],
)
def test_layer_table_without_tensorflow_matches_keras(spec):
    from convlab.activations import feature_layers
    from convlab.models import count_params, layer_table

    model = build(spec)
    assert layer_table(spec) == layer_summary(model)
    assert count_params(spec) == model.count_params()
    # what the journey draws before the model is loaded: each conv/pool layer's name, map side, filters
    assert spec.feature_layers() == [
        (layer.name, layer.output.shape[1], layer.output.shape[-1]) for layer in feature_layers(model)
    ]


@pytest.mark.parametrize("epochs, words", [(1, "1 epoch,"), (2, "2 epochs,"), (20, "20 epochs,")])
def test_a_run_is_named_with_the_right_plural(epochs, words):
    assert words in ModelSpec(conv_filters=(16,), epochs=epochs, train_samples=1_000).describe()
