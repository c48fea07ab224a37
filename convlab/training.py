"""Training a spec: seeded ``model.fit`` with per-epoch test metrics and the lesson's stop rule.

``train`` returns the model with everything the store records about the run: per-epoch
history (train and test loss/accuracy), final metrics, epochs run, why it stopped, wall time.
Callers pass Keras callbacks to watch progress: ``ProgressCallback`` hands it to plain
functions (the app's progress bar), ``EpochProgress`` reports once an epoch (the CLI's lines).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import keras
import numpy as np

from . import snapshots
from .data import Split
from .models import HISTORY_KEYS, ModelSpec, build


class StopRule(keras.callbacks.Callback):
    """The lesson's exercise callback: end training once loss or accuracy crosses a threshold."""

    def __init__(self, stop_loss: float | None = None, stop_accuracy: float | None = None):
        super().__init__()
        self.stop_loss = stop_loss
        self.stop_accuracy = stop_accuracy
        self.reason: str | None = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        loss, accuracy = logs.get("loss"), logs.get("accuracy")
        if self.stop_loss is not None and loss is not None and loss < self.stop_loss:
            self.reason = f"stopped after epoch {epoch + 1}: loss {loss:.2f} < {self.stop_loss:.2f}"
        elif self.stop_accuracy is not None and accuracy is not None and accuracy > self.stop_accuracy:
            self.reason = f"stopped after epoch {epoch + 1}: accuracy {accuracy:.2f} > {self.stop_accuracy:.2f}"
        if self.reason:
            self.model.stop_training = True


class StopOnRequest(keras.callbacks.Callback):
    """Ends training after the current batch once ``stop_event`` is set (the app's Stop button).

    Keras still evaluates and records the epoch it was in, so the epochs done so far make a
    usable model. Only added when there is an event to watch: it runs on every batch.
    """

    def __init__(self, stop_event):
        super().__init__()
        self.stop_event = stop_event
        self.reason: str | None = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.stop_event.is_set() and not self.reason:
            self.reason = (
                f"stopped by request during epoch {self._epoch + 1} "
                f"(after batch {batch + 1} of {self.params.get('steps')})"
            )
            self.model.stop_training = True


class EpochProgress(keras.callbacks.Callback):
    """Calls ``report(epoch_done, epochs_total, logs)`` after each epoch; nothing per batch, so it costs nothing."""

    def __init__(self, report: Callable[[int, int, dict], None]):
        super().__init__()
        self.report = report

    def on_epoch_end(self, epoch, logs=None):
        self.report(epoch + 1, self.params["epochs"], dict(logs or {}))


def _ignore(*args) -> None:
    """The hook of a ProgressCallback that its caller left out."""


class ProgressCallback(keras.callbacks.Callback):
    """Hands Keras' progress to plain functions, so whoever watches needs no Keras of its own.

    - ``on_start()`` once training begins;
    - ``on_epoch_begin(batches_per_epoch)``;
    - ``on_batch(batch_done, running)`` after every batch, ``running`` the current epoch's
      loss and accuracy so far, as last read;
    - ``on_epoch_end(epoch_done, history_values)``, the epoch's values under ``HISTORY_KEYS`` names.
    """

    def __init__(
        self,
        on_start: Callable[[], None] = _ignore,
        on_epoch_begin: Callable[[int], None] = _ignore,
        on_batch: Callable[[int, dict[str, float]], None] = _ignore,
        on_epoch_end: Callable[[int, dict[str, float]], None] = _ignore,
    ):
        super().__init__()
        # Stored under other names: Keras calls this class's own on_epoch_begin and on_epoch_end.
        self.report_start, self.report_epoch_begin = on_start, on_epoch_begin
        self.report_batch, self.report_epoch_end = on_batch, on_epoch_end
        self._running: dict[str, float] = {}
        self._last_read = 0.0

    def on_train_begin(self, logs=None):
        self.report_start()

    def on_epoch_begin(self, epoch, logs=None):
        self.report_epoch_begin(self.params.get("steps") or 0)

    def on_train_batch_end(self, batch, logs=None):
        now = time.monotonic()
        if logs and now - self._last_read > 0.5:  # reading logs syncs values: a few times a second is plenty
            self._last_read = now
            # A new dict each read, never changed in place: watchers read it from other threads.
            self._running = {name: float(logs[name]) for name in ("loss", "accuracy") if name in logs}
        self.report_batch(batch + 1, self._running)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        values = {ours: float(logs[theirs]) for theirs, ours in HISTORY_KEYS.items() if theirs in logs}
        self.report_epoch_end(epoch + 1, values)


class SnapshotRecorder(keras.callbacks.Callback):
    """Copies the weights at the start, inside epoch 1 and at each epoch's end, with the accuracy then.

    Test accuracy is measured on a fixed, evenly spaced sample of the test images; train accuracy is
    Keras' own running figure for the epoch so far (what the lesson prints), free to read, and at the
    start, before any batch, it is measured on a sample of the training images. ``seconds`` is the
    time spent: the replay's whole cost to a training.
    """

    def __init__(
        self, train_images, train_labels, test_images, test_labels, batch_size: int, sample: int = snapshots.MAX_SAMPLE
    ):
        super().__init__()
        self._batch_size, self._images = batch_size, len(train_images)
        train_index, test_index = (
            snapshots.evenly(sample, len(train_images)),
            snapshots.evenly(sample, len(test_images)),
        )
        self._train = (np.asarray(train_images[train_index], np.float32), np.asarray(train_labels[train_index]))
        self._test = (np.asarray(test_images[test_index], np.float32), np.asarray(test_labels[test_index]))
        self.sample = {"train": len(train_index), "test": len(test_index)}
        self.points: list[snapshots.Point] = []
        self.weights: list[list[np.ndarray]] = []
        self.seconds = 0.0
        self._batch, self._marks = 0, set()

    def on_train_begin(self, logs=None):
        started = time.perf_counter()
        self._take("start", 0.0, self._accuracy(*self._train), started)

    def on_epoch_begin(self, epoch, logs=None):
        self._batch = 0
        steps = self.params.get("steps") or 0
        self._marks = set(snapshots.first_epoch_batches(steps)) if epoch == 0 else set()

    def on_train_batch_end(self, batch, logs=None):
        self._batch = batch + 1
        if self._batch in self._marks:  # only in epoch 1: a set lookup per batch costs nothing
            started, steps = time.perf_counter(), self.params["steps"]
            seen = min(self._batch * self._batch_size, self._images)
            self._take(
                f"after {seen:,} images", self._batch / steps, float((logs or {}).get("accuracy", np.nan)), started
            )

    def on_epoch_end(self, epoch, logs=None):
        started = time.perf_counter()
        steps = self.params.get("steps") or self._batch
        accuracy = float((logs or {}).get("accuracy", np.nan))
        if self._batch < steps:  # stopped by request mid-epoch: Keras still ends the epoch it was in
            self._take(
                f"epoch {epoch + 1}, stopped after batch {self._batch}", epoch + self._batch / steps, accuracy, started
            )
        else:
            self._take(f"epoch {epoch + 1}", float(epoch + 1), accuracy, started)

    def _take(self, label: str, epochs: float, train_accuracy: float, started: float) -> None:
        self.weights.append([np.array(w, dtype=np.float32) for w in self.model.get_weights()])
        self.points.append(snapshots.Point(label, epochs, train_accuracy, self._accuracy(*self._test)))
        self.seconds += time.perf_counter() - started

    def _accuracy(self, images: np.ndarray, labels: np.ndarray, batch_size: int = 1000) -> float:
        correct = 0
        for start in range(0, len(images), batch_size):
            probabilities = np.asarray(self.model(images[start : start + batch_size], training=False))
            correct += int((probabilities.argmax(axis=1) == labels[start : start + batch_size]).sum())
        return correct / len(images)

    def result(self) -> snapshots.Snapshots:
        return snapshots.Snapshots(
            points=tuple(self.points),
            weights=tuple(tuple(w) for w in self.weights),
            sample=dict(self.sample),
        )


@dataclass
class TrainResult:
    model: object
    history: dict[str, list[float]]  # train_loss, train_accuracy, test_loss, test_accuracy per epoch
    metrics: dict[str, float]  # the same four after the last epoch run
    epochs_run: int
    stop_reason: str | None
    seconds: float
    snapshots: snapshots.Snapshots | None = None  # for the replay; None when training was asked not to record them
    snapshot_seconds: float = 0.0  # of ``seconds``, the time spent recording snapshots


def train(
    spec: ModelSpec, train_split: Split, test_split: Split, callbacks=(), stop_event=None, record_snapshots: bool = True
) -> TrainResult:
    """Train ``spec`` from its seed on the first ``spec.train_samples`` training images.

    Setting ``stop_event`` (a ``threading.Event``) ends training after the current batch.
    ``record_snapshots`` keeps the weights along the way for the replay (see ``SnapshotRecorder``).
    """
    keras.utils.set_random_seed(spec.seed)  # weights and shuffling both follow from it
    model = build(spec)
    stop_rules = [StopRule(spec.stop_loss, spec.stop_accuracy)]
    if stop_event is not None:
        stop_rules.append(StopOnRequest(stop_event))
    count = spec.train_samples
    recorder = None
    if record_snapshots:
        recorder = SnapshotRecorder(
            train_split.images[:count],
            train_split.labels[:count],
            test_split.images,
            test_split.labels,
            batch_size=spec.batch_size,
            sample=snapshots.sample_size(spec.epochs, count),
        )
        callbacks = [recorder, *callbacks]  # first, so the start snapshot precedes any watcher's work
    started = time.perf_counter()
    fit = model.fit(
        train_split.images[:count],
        train_split.labels[:count],
        epochs=spec.epochs,
        batch_size=spec.batch_size,
        validation_data=(test_split.images, test_split.labels),
        callbacks=[*stop_rules, *callbacks],
        verbose=0,
    )
    seconds = time.perf_counter() - started
    history = {ours: [float(v) for v in fit.history[theirs]] for theirs, ours in HISTORY_KEYS.items()}
    metrics = {name: values[-1] for name, values in history.items()}
    return TrainResult(
        model=model,
        history=history,
        metrics=metrics,
        epochs_run=len(history["train_loss"]),
        stop_reason=next((rule.reason for rule in reversed(stop_rules) if rule.reason), None),
        seconds=seconds,
        snapshots=recorder.result() if recorder else None,
        snapshot_seconds=recorder.seconds if recorder else 0.0,
    )
