"""The models shipped in models/: present, valid, and as accurate as their metadata says."""

from __future__ import annotations

import pytest

from convlab.models import PRESETS
from convlab.store import DEFAULT_ROOT, ModelStore

LESSON_FLOOR = {"dense": 0.86, "conv": 0.90}  # the lesson: dense ≈ 0.87 test, conv ≈ 0.91


@pytest.mark.parametrize("name", list(PRESETS))
def test_shipped_model_matches_its_metadata(name, test_split):
    store = ModelStore(DEFAULT_ROOT)
    stored = store.load(PRESETS[name])
    assert stored is not None, f"models/ lacks the {name} preset: {store.problems.get(PRESETS[name].key())}"
    meta = stored.meta
    assert meta["params"] == {"dense": 101_770, "conv": 243_786}[name] == stored.model.count_params()
    assert meta["epochs_run"] == 5 and len(meta["history"]["train_accuracy"]) == 5
    loss, accuracy = stored.model.evaluate(test_split.images, test_split.labels, batch_size=500, verbose=0)
    assert accuracy == pytest.approx(meta["metrics"]["test_accuracy"], abs=2e-4)  # at most 2 images differ
    assert loss == pytest.approx(meta["metrics"]["test_loss"], rel=1e-3)
    assert accuracy >= LESSON_FLOOR[name]
