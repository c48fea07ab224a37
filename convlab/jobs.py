"""The training queue: jobs submitted by the page, handed to whatever runs them, followed live.

Training both cores for minutes is the one expensive thing ConvLab does, and many people may
ask for it at once (tabs, a classroom). The queue keeps the page's promises whatever trains:
a request for a spec that is already stored, queued or training returns that run or job
instead of training it twice; each job carries live progress (epoch, batch, per-epoch
history, elapsed time, an estimate of the time left) that the page polls; Stop ends a
training after its current batch and keeps the epochs done; a training that fails or whose
worker dies is reported in its job and the queue goes on.

What trains is an *executor* (``executor_for_environment`` picks one):

* ``LocalWorker`` (``worker.py``, the default): a separate process at a lower CPU priority,
  one training at a time, so the server never trains;
* ``RayCluster`` (``cluster.py``, when ``$CONVLAB_RAY_ADDRESS`` is set): every job is handed
  to Ray at once and Ray's scheduler runs as many as the cluster has room for; if the cluster
  can't be reached the queue says so (``notice``) and falls back to the local worker;
* ``InProcess``: a thread of this process, for the command line (which is its own process).

The queue knows an executor only through the ``Executor`` protocol below and imports ``worker``
or ``cluster`` only to make one; they import the job and its progress events from ``jobformat``,
never this module, so the two sides import each other in no circle.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Callable, Protocol

from .data import Split
from .jobformat import (
    CANCELLED,
    DONE,
    FAILED,
    QUEUED,
    RUNNING,
    Cancelled,
    Job,
    Unavailable,
    apply_event,
    progress_events,
)
from .models import ModelSpec
from .store import WAITING_FOR_MACHINE, WAITING_FOR_SPEC, ModelStore, ModelUnavailable, StoredModel

# Trainings one page (a requester) may have queued or running at once, a sweep counting each variant: room
# for the lesson's exercise grid and a few single variants besides, but not sweep after sweep holding the
# worker for hours while everyone else waits.
MAX_ACTIVE_PER_REQUESTER = 12
# Finished jobs the queue keeps for the pages following them (their runs are in the store): a server's
# memory stays the same however many trainings it has seen.
MAX_FINISHED_KEPT = 200

# The job format (``jobformat``) is the queue's public face too: the page and the tests import it from here.
__all__ = [
    "WAITING_FOR_MACHINE",
    "WAITING_FOR_SPEC",
    "TrainingQueue",
    "QueueFull",
    "MAX_ACTIVE_PER_REQUESTER",
    "Executor",
    "InProcess",
    "Job",
    "QUEUED",
    "RUNNING",
    "DONE",
    "FAILED",
    "CANCELLED",
    "Cancelled",
    "Unavailable",
    "apply_event",
    "progress_events",
    "ordinal",
    "your_training",
    "executor_for_environment",
]


# -- words for the person who asked --------------------------------------------------------------
def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 21st…"""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def your_training(job: Job, position: int) -> str:
    """What the person who asked for ``job`` reads while it is active, their own click followed at once:
    "Your training has started…" or "Your training is 2nd in the queue…" (``position``: the queue's,
    0 for the training running first). Never a "Batch 0 of 0" while the worker gets ready."""
    if job.state not in (QUEUED, RUNNING):
        raise ValueError(f"your_training words an active job (queued or running), not a {job.state} one")
    if job.message and not job.batches_per_epoch:  # another process's training first (a server, the CLI, Ray)
        return f"Your training is in the queue: {job.message}."
    if job.state == RUNNING:
        if not job.batches_per_epoch:  # before the first epoch: the worker loads the images, builds the model
            return "Your training has started: loading the training images and building the model…"
        return f"Your training has started: epoch {min(job.epoch + 1, job.spec.epochs)} of {job.spec.epochs}."
    ahead = max(position, 0)
    if not ahead:
        return "Your training is 1st in the queue: it starts in a moment."
    return (
        f"Your training is {ordinal(ahead + 1)} in the queue: it starts when the {ahead} "
        f"training{'s' if ahead != 1 else ''} before it {'have' if ahead != 1 else 'has'} finished."
    )


class QueueFull(Exception):
    """A page asked for more trainings than it may have queued or running at once; nothing was queued."""

    def __init__(self, active: int, asked: int, limit: int):
        self.active, self.asked, self.limit = active, asked, limit
        more = f"{asked} more" if asked != 1 else "one more"
        super().__init__(
            f"You have {active} training{'s' if active != 1 else ''} queued or running, and {more} would pass "
            f"the limit of {limit} per page, so nothing was queued. Wait for some to finish, or cancel the ones "
            "still waiting (Cancel below, or Stop the sweep), then try again."
        )


# -- executors -----------------------------------------------------------------------------------
class Executor(Protocol):
    """What the queue calls on whatever trains. One with a ``connect()`` besides (Ray) is connected in the
    background at once; ``connect`` or ``run`` raising ``Unavailable`` makes the queue fall back."""

    slots: int | None  # trainings it runs at once; None hands every job over at once (Ray schedules them)

    def describe(self) -> str: ...

    def run(self, job: Job, store: ModelStore) -> StoredModel:
        """Train ``job.spec`` into ``store`` (blocking), reporting through ``apply_event``; raise on failure."""


class InProcess:
    """Trains in a thread of this process: the command line's way (it is a process of its own)."""

    slots = 1

    def __init__(self, load_data: Callable[[], tuple[Split, Split]]):
        self.load_data = load_data

    def describe(self) -> str:
        return "one at a time, in this process"

    def run(self, job: Job, store: ModelStore) -> StoredModel:
        apply_event(job, {"event": "start", "where": "this process"})
        return store.get_or_train(
            job.spec,
            self.load_data,
            callbacks=[progress_events(lambda event: apply_event(job, event))],
            stop_event=job.stop_event,
            on_wait=lambda why: apply_event(job, {"event": "waiting", "why": why}),
        )


def executor_for_environment(store: ModelStore) -> Executor:
    """Ray's cluster when ``$CONVLAB_RAY_ADDRESS`` is set (Ray imported only then), else the local worker."""
    address = os.environ.get("CONVLAB_RAY_ADDRESS", "").strip()
    if address:
        from .cluster import RayCluster

        return RayCluster(address)
    from .worker import LocalWorker

    return LocalWorker()


# -- the queue -----------------------------------------------------------------------------------
class TrainingQueue:
    """Submit specs; the executor trains them (one at a time locally, as many as fit on Ray)."""

    def __init__(self, store: ModelStore, executor: Executor | None = None):
        self.store = store
        self.executor = executor if executor is not None else executor_for_environment(store)
        self.notice: str | None = None  # said on the page: e.g. the Ray cluster couldn't be reached
        self._jobs: list[Job] = []  # every job of this process, oldest first
        self._condition = threading.Condition()
        self._dispatcher: threading.Thread | None = None
        if hasattr(self.executor, "connect"):  # Ray: join the cluster now, in the background, not at the first Train
            threading.Thread(target=self._connect, name="convlab-connect", daemon=True).start()

    def describe(self) -> str:
        return self.executor.describe()

    def submit(self, spec: ModelSpec, requester: str | None = None) -> Job:
        """The job for ``spec``: an active one if any, a finished one if stored, else a new queued one.

        ``requester`` (a page's token) is kept on a new job: that page's words say "your training".
        An active or stored job is returned as it is, with the requester of whoever asked first.
        ``QueueFull`` if a new job would give ``requester`` more than ``MAX_ACTIVE_PER_REQUESTER`` active ones.
        """
        return self.submit_all([spec], requester)[0]

    def submit_all(self, specs, requester: str | None = None, limit: int = MAX_ACTIVE_PER_REQUESTER) -> list[Job]:
        """``submit`` for each of ``specs`` (a sweep's variants), all or none: ``QueueFull`` if the new jobs
        would give ``requester`` more than ``limit`` queued or running (without a requester: no limit).

        A spec whose stored model can't be loaded just now (``ModelUnavailable``: its files are kept)
        gets a failed job saying so, rather than a training that would replace those files.
        """
        specs = list(specs)
        with self._condition:
            found: list[Job | None] = []
            for spec in specs:
                job = next((job for job in self._jobs if job.key == spec.key() and job.active), None)
                if job is None:
                    job = self._stored_job(spec)
                found.append(job)
            new = len({spec.key() for spec, job in zip(specs, found) if job is None})
            if requester is not None and new:
                active = sum(job.active and job.requester == requester for job in self._jobs)
                if active + new > limit:
                    raise QueueFull(active, new, limit)
            jobs, created = [], {}
            for spec, job in zip(specs, found):
                if job is None and spec.key() in created:  # the same spec twice in one request: one job
                    job = created[spec.key()]
                elif job is None:
                    job = created[spec.key()] = Job(spec=spec, requester=requester)
                    self._jobs.append(job)
                elif job.state == FAILED and job not in self._jobs:
                    self._jobs.append(job)  # the page follows it as it would a training
                jobs.append(job)
            self._forget_old()
            if new:
                if self._dispatcher is None or not self._dispatcher.is_alive():
                    self._dispatcher = threading.Thread(target=self._dispatch, name="convlab-queue", daemon=True)
                    self._dispatcher.start()
                self._condition.notify_all()
            return jobs

    def _forget_old(self) -> None:
        """Drop the oldest finished jobs beyond ``MAX_FINISHED_KEPT``."""
        finished = [job for job in self._jobs if not job.active]
        for job in finished[: max(len(finished) - MAX_FINISHED_KEPT, 0)]:
            self._jobs.remove(job)

    def _stored_job(self, spec: ModelSpec) -> Job | None:
        """A finished job for a stored spec; a failed one if its model can't be loaded just now; else None."""
        try:
            stored = self.store.load(spec)
        except ModelUnavailable as error:
            return Job(spec=spec, state=FAILED, message=error.page_message, finished=time.time())
        if stored is None:
            return None
        job = Job(spec=spec, state=DONE, stored=stored, message=stored.meta.get("stop_reason"))
        job.epoch = stored.meta["epochs_run"]
        return job

    def active_count(self, requester: str) -> int:
        """How many of ``requester``'s trainings are queued or running."""
        with self._condition:
            return sum(job.active and job.requester == requester for job in self._jobs)

    def find(self, key: str) -> Job | None:
        with self._condition:
            return next((job for job in reversed(self._jobs) if job.key == key), None)

    def jobs(self) -> list[Job]:
        with self._condition:
            return list(self._jobs)

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
                job.stop_event.set()  # an executor holding it (Ray) cancels it there too
                self._condition.notify_all()
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

    # -- serving -------------------------------------------------------------------------
    def _connect(self) -> None:
        executor = self.executor
        try:
            executor.connect()
        except Unavailable as error:
            self._fall_back(executor, error)

    def _fall_back(self, executor: Executor, error: Unavailable) -> None:
        """Say why ``executor`` can't be used and train with the local worker from now on."""
        with self._condition:
            if self.executor is executor:
                self.notice = str(error)
                self.executor = fallback_executor(self.store)
            self._condition.notify_all()

    def _dispatch(self) -> None:
        """Hand queued jobs to the executor, in order, as it has room; each runs in a thread of its own."""
        while True:
            with self._condition:
                job = self._next()
                while job is None:
                    self._condition.wait()
                    job = self._next()
                job.handed_over = True
                if self.executor.slots is not None:  # it starts now; on Ray, when the cluster says so
                    job.state, job.started = RUNNING, time.time()
            threading.Thread(
                target=self._run, args=(job, self.executor), name=f"convlab-job-{job.key}", daemon=True
            ).start()

    def _next(self) -> Job | None:
        slots = self.executor.slots
        if slots is not None and sum(j.handed_over and j.active for j in self._jobs) >= slots:
            return None
        return next((j for j in self._jobs if j.state == QUEUED and not j.handed_over), None)

    def _run(self, job: Job, executor: Executor) -> None:
        state = FAILED
        try:
            job.stored = executor.run(job, self.store)
            job.message = job.stored.meta.get("stop_reason")
            state = DONE
        except Unavailable as error:  # back in line for the fallback executor
            with self._condition:
                if job.state != CANCELLED:
                    job.state, job.started, job.handed_over, job.message = QUEUED, None, False, None
            self._fall_back(executor, error)
            return
        except Cancelled:
            state = CANCELLED
        except Exception as error:  # reported in the job; the queue lives on for the next one
            job.message = getattr(error, "page_message", None) or f"training failed: {type(error).__name__}: {error}"
        with self._condition:
            if job.state != CANCELLED:
                job.state = state
            job.finished = job.finished or time.time()
            self._condition.notify_all()


def fallback_executor(store: ModelStore) -> Executor:
    from .worker import LocalWorker

    return LocalWorker()
