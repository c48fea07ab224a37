"""What the training queue and its executors share: a job, its states and its progress events.

A job is the queue's record of one training; executors (``worker.py``, ``cluster.py``, the
queue's own ``InProcess``) write its progress into it as small dicts, the same whether they
come from a thread, a pipe or a Ray object stream: ``progress_events`` makes them from Keras'
callbacks, ``apply_event`` writes them into a job. An executor raises ``Unavailable`` when it
can't run anything and ``Cancelled`` for a job taken back before it started. This module
imports neither the queue nor any executor, so each side imports it, and not the other.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from .models import HISTORY_KEYS, ModelSpec
from .store import StoredModel

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"


@dataclass
class Job:
    spec: ModelSpec
    state: str = QUEUED
    submitted: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    epoch: int = 0  # epochs completed
    batch: int = 0  # batches completed in the current epoch
    batches_per_epoch: int = 0
    history: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in HISTORY_KEYS.values()})
    running: dict[str, float] = field(default_factory=dict)  # the current epoch's loss/accuracy so far
    message: str | None = None  # why it waits or stopped, or what went wrong
    where: str = ""  # what trains it: "this machine's worker process", "Ray node 10.0.0.3"
    requester: str | None = None  # who asked for it (a page's token): their page says "your training"
    stored: StoredModel | None = None
    stop_event: threading.Event = field(default_factory=threading.Event, repr=False)
    handed_over: bool = field(default=False, repr=False)  # given to the executor

    @property
    def key(self) -> str:
        return self.spec.key()

    @property
    def active(self) -> bool:
        return self.state in (QUEUED, RUNNING)

    def fraction_done(self) -> float:
        if not self.batches_per_epoch:
            return 1.0 if self.state == DONE else 0.0
        done = self.epoch + self.batch / self.batches_per_epoch
        return min(done / self.spec.epochs, 1.0)

    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or time.time()) - self.started

    def seconds_left(self) -> float | None:
        """Linear estimate from the work done so far; None until there is some to go on."""
        fraction = self.fraction_done()
        if self.state != RUNNING or fraction < 0.01:
            return None
        return self.elapsed() * (1 - fraction) / fraction


class Unavailable(RuntimeError):
    """The executor can't run anything (a Ray cluster that can't be reached); the queue falls back."""


class Cancelled(RuntimeError):
    """The job was cancelled before it started."""


# -- progress as events --------------------------------------------------------------------------
def progress_events(emit: Callable[[dict], None], min_interval: float = 0.0):
    """A Keras callback that reports training's progress as plain dicts through ``emit``.

    Batch events come at most every ``min_interval`` seconds (a pipe or a network doesn't need
    hundreds a second); the others always come.
    """
    # Imported here, not at the top: importing this module must not import TensorFlow, so
    # the dashboard can draw its first elements while TensorFlow loads (see app.py).
    from .training import ProgressCallback

    last = [0.0]

    def batch(batch_done: int, running: dict[str, float]) -> None:
        now = time.monotonic()
        if now - last[0] >= min_interval:
            last[0] = now
            emit({"event": "batch", "batch": batch_done, "running": running})

    return ProgressCallback(
        on_start=lambda: emit({"event": "start"}),
        on_epoch_begin=lambda batches: emit({"event": "epoch_begin", "batches": batches}),
        on_batch=batch,
        on_epoch_end=lambda epoch, values: emit({"event": "epoch_end", "epoch": epoch, "values": values}),
    )


def apply_event(job: Job, event: dict) -> None:
    """Write one progress event into ``job``: plain attribute writes the page reads between reruns."""
    kind = event.get("event")
    if kind == "waiting":
        job.message = event["why"]
    elif kind == "start":
        if job.state == QUEUED:
            job.state, job.started = RUNNING, time.time()
        job.message = None  # no longer waiting
        job.where = event.get("where") or job.where
    elif kind == "epoch_begin":
        job.batch, job.batches_per_epoch = 0, int(event["batches"])
    elif kind == "batch":
        job.batch, job.running = int(event["batch"]), dict(event["running"])
    elif kind == "epoch_end":
        for name, value in event["values"].items():
            job.history[name].append(float(value))
        job.epoch, job.batch = int(event["epoch"]), 0
