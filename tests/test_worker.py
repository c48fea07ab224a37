"""The training worker process: the server never trains, and a worker that dies costs one job, not the queue."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import pytest

from conftest import TINY_CONV, TINY_DENSE, model_files
from convlab.jobs import DONE, FAILED, TrainingQueue
from convlab.models import ModelSpec
from convlab.store import ModelStore
from convlab.sweeps import Sweep, best, comparison
from convlab.worker import NICENESS, NICENESS_VARIABLE, LocalWorker, configured_niceness

# Long enough to be caught mid-training: 2,000 images in batches of 8 is 250 batches an epoch.
SLOW = ModelSpec(conv_filters=(4,), dense_units=16, epochs=20, batch_size=8, train_samples=2000, seed=3)


def wait_for(condition, seconds: float = 90, step: float = 0.02) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(step)


@pytest.fixture
def queue(tmp_path):
    yield TrainingQueue(ModelStore(tmp_path), LocalWorker())


def test_the_trainings_niceness_is_configured_or_the_lowest(monkeypatch):
    monkeypatch.delenv(NICENESS_VARIABLE)
    assert configured_niceness() == NICENESS == 19
    for text, value in (("0", 0), (" 5 ", 5), ("19", 19)):
        monkeypatch.setenv(NICENESS_VARIABLE, text)
        assert configured_niceness() == value
    for bad in ("-1", "20", "low", "1.5"):
        monkeypatch.setenv(NICENESS_VARIABLE, bad)
        with pytest.raises(ValueError, match="CONVLAB_TRAINING_NICENESS must be a whole number from 0 to 19"):
            configured_niceness()


def niceness(pid: int) -> int:
    return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[16])  # field 19 of stat


def test_a_training_runs_in_a_lower_priority_process_and_its_progress_reaches_the_job(tmp_path, monkeypatch):
    monkeypatch.delenv(NICENESS_VARIABLE)  # the default, as beside people's pages (conftest runs the others at 0)
    queue = TrainingQueue(ModelStore(tmp_path), LocalWorker())
    spec = ModelSpec(**{**TINY_DENSE.to_dict(), "epochs": 3})
    job = queue.submit(spec)
    worker = queue.executor

    def autogroup() -> Path:
        return Path(f"/proc/{worker.pid}/autogroup")

    # The worker lowers its priority first thing (before it imports TensorFlow): its niceness, then its group's.
    wait_for(
        lambda: (
            worker.pid is not None
            and niceness(worker.pid) == niceness(os.getpid()) + NICENESS
            and (not autogroup().exists() or autogroup().read_text().split()[1:] == ["nice", str(NICENESS)])
        )
    )
    assert worker.pid != os.getpid()
    if autogroup().exists():  # its own scheduling group, niced too: else it would share the CPUs with the browser
        theirs = autogroup().read_text().split()
        # Linux prints nothing for the root group (a process whose session began at boot, as under some CI runners).
        ours = Path(f"/proc/{os.getpid()}/autogroup").read_text().split()
        assert not ours or ours[0] != theirs[0]
    _at_our_priority(worker.pid)
    wait_for(lambda: job.batch > 0 or not job.active)
    assert f"pid {worker.pid}" in job.where
    assert queue.wait(job, timeout=120) and job.state == DONE, job.message
    # Every epoch's figures came through the pipe, equal to what the worker saved.
    assert job.epoch == 3 and job.batches_per_epoch == -(-spec.train_samples // spec.batch_size)
    assert job.history == job.stored.meta["history"]
    assert ModelStore(tmp_path).load(spec).meta["key"] == spec.key()
    # The same worker serves the next job (TensorFlow and the data are loaded once).
    pid = worker.pid
    again = queue.submit(TINY_CONV)
    assert queue.wait(again, timeout=120) and again.state == DONE and worker.pid == pid


def _at_our_priority(pid: int) -> None:
    """The checked worker put back at this process's priority where we may (as root): at the lowest, beside the
    other test process's servers and browsers, its two tiny trainings took half a minute of waiting for a CPU."""
    ours = niceness(os.getpid())
    with contextlib.suppress(PermissionError):
        if Path(f"/proc/{pid}/autogroup").exists():
            Path(f"/proc/{pid}/autogroup").write_text(str(ours))
        for task in Path(f"/proc/{pid}/task").iterdir():  # niceness and scheduling class are each thread's own
            with contextlib.suppress(ProcessLookupError):
                os.sched_setscheduler(int(task.name), os.SCHED_OTHER, os.sched_param(0))
                os.setpriority(os.PRIO_PROCESS, int(task.name), ours)


def test_stop_ends_the_worker_training_and_keeps_the_epochs_done(queue, tmp_path, test_split):
    job = queue.submit(SLOW)
    wait_for(lambda: job.epoch >= 1 or not job.active)
    queue.stop(job)
    assert queue.wait(job, timeout=60) and job.state == DONE, job.message
    meta = job.stored.meta
    assert meta["stopped_by_request"] and 1 <= meta["epochs_run"] < SLOW.epochs
    loaded = ModelStore(tmp_path).load(SLOW)  # saved by the worker, readable by anyone
    _, accuracy = loaded.model.evaluate(test_split.images, test_split.labels, verbose=0)
    assert accuracy == pytest.approx(meta["metrics"]["test_accuracy"], abs=1e-6)


def test_a_killed_worker_leaves_no_partial_files_and_the_queue_serves_the_next_job(queue, tmp_path):
    doomed = queue.submit(SLOW)
    following = queue.submit(TINY_DENSE)
    wait_for(lambda: doomed.epoch >= 1 or not doomed.active)  # past the first epoch: snapshots are in memory
    pid = queue.executor.pid
    assert niceness(pid) == niceness(os.getpid())  # CONVLAB_TRAINING_NICENESS=0 (conftest): the server's priority
    os.kill(pid, signal.SIGKILL)
    assert queue.wait(doomed, timeout=30)
    assert doomed.state == FAILED
    assert (
        "stopped unexpectedly (killed by SIGKILL" in doomed.message
        and "Nothing of this training was kept" in doomed.message
    )
    assert queue.wait(following, timeout=120) and following.state == DONE, following.message
    assert queue.executor.pid != pid  # a fresh worker
    store = ModelStore(tmp_path)
    assert store.load(SLOW) is None
    assert model_files(tmp_path) == sorted(p.name for p in [*store.paths(TINY_DENSE), store.snapshot_path(TINY_DENSE)])


def test_a_worker_killed_during_a_sweep_fails_that_variant_and_the_sweep_goes_on(queue, tmp_path):
    """The worker dies (out of memory, kill -9) while a sweep's first variant trains: that variant is failed
    and says why, the next ones train in a fresh worker, and the comparison ranks what landed."""
    base = ModelSpec(**{**SLOW.to_dict(), "epochs": 3})
    sweep = Sweep.of(base, {"batch_size": [8, 256, 512]})  # grid order: the slow one (batch 8) first
    specs = sweep.specs()
    jobs = queue.submit_all(specs, requester="a page")
    doomed = jobs[0]
    wait_for(lambda: doomed.batch > 0 or not doomed.active)
    assert doomed.active and [job.state for job in jobs[1:]] == ["queued", "queued"]
    pid = queue.executor.pid
    os.kill(pid, signal.SIGKILL)
    for job in jobs:
        assert queue.wait(job, timeout=120), job.key
    assert doomed.state == FAILED and "stopped unexpectedly (killed by SIGKILL" in doomed.message
    assert [job.state for job in jobs[1:]] == [DONE, DONE], [job.message for job in jobs[1:]]
    assert queue.executor.pid != pid  # a fresh worker took the rest
    store = ModelStore(tmp_path)
    assert store.load(specs[0]) is None and all(store.load(spec) is not None for spec in specs[1:])
    metas = {spec.key(): store.load(spec).meta for spec in specs[1:]}
    rows = comparison(sweep, metas, {doomed.key: doomed.state})
    assert [row["state"] for row in rows] == ["failed", "trained", "trained"]
    assert rows[0]["test accuracy"] is None and best(rows) in {spec.key() for spec in specs[1:]}
