"""Training: history and metrics as recorded, seeded reproducibility, and the stop rule."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import TINY_CONV
from convlab.models import ModelSpec
from convlab.training import EpochProgress, train


def test_history_metrics_and_progress(small_data):
    train_split, test_split = small_data
    reports = []
    result = train(TINY_CONV, train_split, test_split, callbacks=[EpochProgress(lambda *r: reports.append(r))])
    assert result.epochs_run == TINY_CONV.epochs and result.stop_reason is None
    assert set(result.history) == {"train_loss", "train_accuracy", "test_loss", "test_accuracy"}
    assert all(len(values) == 2 for values in result.history.values())
    assert result.metrics == {name: values[-1] for name, values in result.history.items()}
    assert [(done, total) for done, total, _ in reports] == [(1, 2), (2, 2)]
    # The recorded test metrics are the model's own on the test images.
    loss, accuracy = result.model.evaluate(test_split.images, test_split.labels, verbose=0)
    assert result.metrics["test_accuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert result.metrics["test_loss"] == pytest.approx(loss, rel=1e-4)
    assert result.seconds > 0


def test_same_seed_same_model(small_data):
    first = train(TINY_CONV, *small_data)
    second = train(TINY_CONV, *small_data)
    for a, b in zip(first.model.get_weights(), second.model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    other_seed = train(ModelSpec(**{**TINY_CONV.to_dict(), "seed": 8}), *small_data)
    assert not np.allclose(first.model.get_weights()[0], other_seed.model.get_weights()[0])


@pytest.mark.parametrize(
    "rule, reason",
    [
        ({"stop_loss": 50.0}, "stopped after epoch 1: loss"),
        ({"stop_accuracy": 0.01}, "stopped after epoch 1: accuracy"),
    ],
)
def test_stop_rule_ends_training_and_says_why(small_data, rule, reason):
    spec = ModelSpec(**{**TINY_CONV.to_dict(), "epochs": 4, **rule})
    result = train(spec, *small_data)
    assert result.epochs_run == 1
    assert result.stop_reason.startswith(reason)


def test_stop_rule_waits_for_the_threshold(small_data):
    # Find the loss after epoch 2 of a plain run, then stop just under it: the same seed stops at epoch 2.
    plain = train(ModelSpec(**{**TINY_CONV.to_dict(), "epochs": 3}), *small_data)
    threshold = (plain.history["train_loss"][1] + plain.history["train_loss"][0]) / 2
    stopped = train(ModelSpec(**{**TINY_CONV.to_dict(), "epochs": 3, "stop_loss": threshold}), *small_data)
    assert stopped.epochs_run == 2
    assert f"< {threshold:.2f}" in stopped.stop_reason
