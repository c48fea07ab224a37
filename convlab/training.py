"""Training a spec: seeded ``model.fit`` with per-epoch test metrics and the lesson's stop rule.

``train`` returns the model with everything the store records about the run: per-epoch
history (train and test loss/accuracy), final metrics, epochs run, why it stopped, wall time.
Callers pass Keras callbacks to watch progress (the app's progress bar, the CLI's lines).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import keras

from .data import Split
from .models import ModelSpec, build

HISTORY_KEYS = {  # Keras' history name -> ConvLab's (the lesson validates on the test split)
    "loss": "train_loss",
    "accuracy": "train_accuracy",
    "val_loss": "test_loss",
    "val_accuracy": "test_accuracy",
}


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


class EpochProgress(keras.callbacks.Callback):
    """Calls ``report(epoch_done, epochs_total, logs)`` after each epoch; nothing per batch, so it costs nothing."""

    def __init__(self, report: Callable[[int, int, dict], None]):
        super().__init__()
        self.report = report

    def on_epoch_end(self, epoch, logs=None):
        self.report(epoch + 1, self.params["epochs"], dict(logs or {}))


@dataclass
class TrainResult:
    model: object
    history: dict[str, list[float]]  # train_loss, train_accuracy, test_loss, test_accuracy per epoch
    metrics: dict[str, float]  # the same four after the last epoch run
    epochs_run: int
    stop_reason: str | None
    seconds: float
    extra: dict = field(default_factory=dict)


def train(spec: ModelSpec, train_split: Split, test_split: Split, callbacks=()) -> TrainResult:
    """Train ``spec`` from its seed on the first ``spec.train_samples`` training images."""
    model = build(spec)  # seeds Keras' global generators, so shuffling is reproducible too
    stop_rule = StopRule(spec.stop_loss, spec.stop_accuracy)
    count = spec.train_samples
    started = time.perf_counter()
    fit = model.fit(
        train_split.images[:count],
        train_split.labels[:count],
        epochs=spec.epochs,
        batch_size=spec.batch_size,
        validation_data=(test_split.images, test_split.labels),
        callbacks=[stop_rule, *callbacks],
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
        stop_reason=stop_rule.reason,
        seconds=seconds,
    )
