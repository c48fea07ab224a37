"""One training at a time: a queue of training jobs served by a single worker thread.

Training both cores for minutes is the one expensive thing ConvLab does, and many people may
ask for it at once (tabs, a classroom). The queue serves them in order, one at a time; a
request for a spec that is already stored, queued or training returns that run or job
instead of training it twice. Each job carries live progress (epoch, batch, per-epoch
history, elapsed time, an estimate of the time left) that the app polls, and a stop event;
``progress_callback`` writes that progress in from ``convlab.training``'s ``ProgressCallback``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from .data import Split
from .models import HISTORY_KEYS, ModelSpec
from .store import ModelStore, StoredModel

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
WAITING_FOR_MACHINE = "waiting for another training on this machine (another ConvLab, or the command line) to finish"


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
    message: str | None = None  # why it stopped, or what went wrong
    stored: StoredModel | None = None
    stop_event: threading.Event = field(default_factory=threading.Event, repr=False)

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


def progress_callback(job: Job):
    """A Keras callback that copies training's progress into ``job``, field by field.

    Plain attribute writes, so it costs nothing per batch; the app polls them.
    """
    # Imported here, not at the top: importing this module must not import TensorFlow, so
    # the dashboard can draw its first elements while TensorFlow loads (see app.py).
    from .training import ProgressCallback

    def start() -> None:
        job.message = None  # no longer waiting for the machine

    def epoch_begin(batches_per_epoch: int) -> None:
        job.batch, job.batches_per_epoch = 0, batches_per_epoch

    def batch(batch_done: int, running: dict[str, float]) -> None:
        job.batch, job.running = batch_done, running

    def epoch_end(epoch_done: int, history_values: dict[str, float]) -> None:
        for name, value in history_values.items():
            job.history[name].append(value)
        job.epoch, job.batch = epoch_done, 0

    return ProgressCallback(on_start=start, on_epoch_begin=epoch_begin, on_batch=batch, on_epoch_end=epoch_end)


class TrainingQueue:
    """Submit specs; one worker thread trains them in order through a ModelStore."""

    def __init__(self, store: ModelStore, load_data: Callable[[], tuple[Split, Split]]):
        self.store = store
        self.load_data = load_data
        self._jobs: list[Job] = []  # every job of this process, oldest first
        self._condition = threading.Condition()
        self._worker: threading.Thread | None = None

    def submit(self, spec: ModelSpec) -> Job:
        """The job for ``spec``: an active one if any, a finished one if stored, else a new queued one."""
        with self._condition:
            for job in self._jobs:
                if job.key == spec.key() and job.active:
                    return job
            stored = self.store.load(spec)
            if stored is not None:
                job = Job(spec=spec, state=DONE, stored=stored, message=stored.meta.get("stop_reason"))
                job.epoch = stored.meta["epochs_run"]
                return job
            job = Job(spec=spec)
            self._jobs.append(job)
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name="convlab-training", daemon=True)
                self._worker.start()
            self._condition.notify_all()
            return job

    def find(self, key: str) -> Job | None:
        with self._condition:
            return next((job for job in reversed(self._jobs) if job.key == key), None)

    def position(self, job: Job) -> int:
        """0 while training, 1 for the next in line, and so on; -1 once finished."""
        with self._condition:
            active = [j for j in self._jobs if j.active]
            return active.index(job) if job in active else -1

    def stop(self, job: Job) -> None:
        """A queued job is dropped; a running one stops after its current batch and is kept."""
        with self._condition:
            if job.state == QUEUED:
                job.state, job.message, job.finished = CANCELLED, "cancelled before it started", time.time()
            elif job.state == RUNNING:
                job.stop_event.set()

    def wait(self, job: Job, timeout: float | None = None) -> bool:
        """Block until ``job`` has finished (tests and the CLI); False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._condition:
            while job.active:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._condition.wait(remaining)
            return True

    def _next(self) -> Job:
        with self._condition:
            while True:
                job = next((j for j in self._jobs if j.state == QUEUED), None)
                if job is not None:
                    job.state, job.started = RUNNING, time.time()
                    return job
                self._condition.wait()

    def _work(self) -> None:
        while True:
            job = self._next()
            try:
                job.stored = self.store.get_or_train(
                    job.spec, self.load_data, callbacks=[progress_callback(job)], stop_event=job.stop_event,
                    on_wait=lambda: setattr(job, "message", WAITING_FOR_MACHINE),
                )
                job.message = job.stored.meta.get("stop_reason")
                state = DONE
            except Exception as error:  # reported in the job; the worker lives on for the next one
                job.message = f"training failed: {type(error).__name__}: {error}"
                state = FAILED
            with self._condition:
                job.state, job.finished = state, time.time()
                self._condition.notify_all()
