"""Snapshots of a training: the weights at chosen moments and the accuracy then, for the replay view.

People see finished filters but never how they came to be. ``training.SnapshotRecorder`` (a
Keras callback, there so this module loads without TensorFlow) copies the weights at the start (random),
at ``FIRST_EPOCH_SNAPSHOTS`` evenly
spaced moments of the first epoch (where learning is fastest) and at every epoch's end, with
the accuracy then: on a fixed, evenly spaced sample of the test images (a pass over all 10,000
at each snapshot would cost more than a 3 % share of training) and, for training, Keras' own
running figure.

``save`` writes them as one NumPy ``.npz`` (no pickle): every snapshot but the last as
float16, which halves the file (it holds the model's weights many times over) and changes a
weight by at most 1 part in 2,048; the last snapshot is kept in float32, equal
to the saved model's weights. ``load`` reads them back as float32 and checks the checksum the
run's metadata records.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

FIRST_EPOCH_SNAPSHOTS = 8  # evenly spaced inside epoch 1, besides its end
EARLY_BATCHES = (
    10,
    30,
    100,
)  # and these: the lesson's conv model goes from 5 % to ~78 % test accuracy in its first 200 batches
MAX_SAMPLE = 1000  # test images measured per snapshot: ~0.07 s with the lesson's conv model on 2 cores
MIN_SAMPLE = 250  # never fewer: below this the accuracy would jump by whole percents from noise
WORK_SHARE = 300  # at most 1 test image per snapshot per this many training images seen (see sample_size)


@dataclass(frozen=True)
class Point:
    """Where a snapshot was taken and how well the model did then."""

    label: str  # "start", "after 320 images", "epoch 2"
    epochs: float  # epochs done: 0.0 at the start, 0.333... a third into epoch 1
    train_accuracy: float  # Keras' running figure for the epoch so far; at the start, on a training sample
    test_accuracy: float  # on the recorder's test sample


@dataclass(frozen=True)
class Snapshots:
    points: tuple[Point, ...]
    weights: tuple[tuple[np.ndarray, ...], ...]  # per snapshot, ``model.get_weights()`` order, float32
    sample: dict  # {"train": n, "test": n}: how many images were measured (training images: at the start only)

    def __len__(self) -> int:
        return len(self.points)


def sample_size(epochs: int, train_samples: int) -> int:
    """Test images to measure at each snapshot, in proportion to the training's work.

    A forward pass costs about a third of a training step per image, and a run takes a snapshot
    at every epoch's end besides the start's and its first epoch's (``first_epoch_batches``), so one
    test image per 300 training images seen keeps measuring near 2 % of the training: the lesson's
    5 epochs measure 1,000 images, a 1-epoch run 250 (the floor).
    """
    return max(MIN_SAMPLE, min(MAX_SAMPLE, epochs * train_samples // WORK_SHARE))


def evenly(count: int, total: int) -> np.ndarray:
    """``count`` indices spread evenly over ``range(total)``: every class turns up, no random state used."""
    return np.unique(np.linspace(0, total - 1, min(count, total)).round().astype(int))


def first_epoch_batches(steps: int, count: int = FIRST_EPOCH_SNAPSHOTS) -> list[int]:
    """The batches (1-based, counted in epoch 1) after which to snapshot: ``count`` evenly spaced
    strictly inside the epoch (fewer when the epoch has fewer batches), and the ``EARLY_BATCHES``
    before the first of them, where the kernels change fastest."""
    marks = {round(steps * k / (count + 1)) for k in range(1, count + 1)}
    marks = {mark for mark in marks if 0 < mark < steps}
    first = min(marks, default=steps)
    return sorted(marks | {batch for batch in EARLY_BATCHES if batch < first})


def _name(snapshot: int, weight: int) -> str:
    return f"s{snapshot:03d}_w{weight:02d}"


def save(snapshots: Snapshots, path: Path) -> None:
    """Write to ``path`` (an ``.npz``; the caller makes it atomic): float16 but the last, float32."""
    last = len(snapshots) - 1
    arrays = {
        _name(s, w): weight.astype(np.float32 if s == last else np.float16)
        for s, weights in enumerate(snapshots.weights)
        for w, weight in enumerate(weights)
    }
    with open(path, "wb") as file:
        np.savez_compressed(file, **arrays)


def describe(snapshots: Snapshots, seconds: float) -> dict:
    """What the run's metadata records about its snapshots (the points too: the page lists them without the
    file); the store fills in ``file`` and ``sha256`` once it has written them."""
    return {
        "file": None,
        "sha256": None,
        "count": len(snapshots),
        "weights_per_snapshot": len(snapshots.weights[0]) if snapshots.weights else 0,
        "stored_as": "float16, the last snapshot float32",
        "sample": snapshots.sample,
        "seconds": round(seconds, 3),
        "points": [asdict(point) for point in snapshots.points],
    }


def points_of(listed: dict) -> tuple[Point, ...]:
    """The points a run's metadata lists (``describe``'s dict); ValueError if malformed."""
    try:
        return tuple(
            Point(str(p["label"]), float(p["epochs"]), float(p["train_accuracy"]), float(p["test_accuracy"]))
            for p in listed["points"]
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"its snapshot list is malformed ({type(error).__name__}: {error})") from error


def load(path: Path, listed: dict) -> Snapshots:
    """The snapshots in ``path`` as ``listed`` in the run's metadata; ValueError if they don't match it."""
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != listed.get("sha256"):
        raise ValueError(f"{path.name} does not match the checksum in the run's metadata")
    points = points_of(listed)
    count, per = int(listed["count"]), int(listed["weights_per_snapshot"])
    if count != len(points):
        raise ValueError(f"the metadata lists {len(points)} points for {count} snapshots")
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:  # the bytes checked, not a second read
        weights = tuple(
            tuple(np.asarray(arrays[_name(s, w)], dtype=np.float32) for w in range(per)) for s in range(count)
        )
    return Snapshots(points=points, weights=weights, sample=dict(listed.get("sample", {})))
