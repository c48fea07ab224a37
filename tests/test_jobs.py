"""The training queue: one training at a time, no spec trained twice, progress, stop and cancel."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from conftest import TINY_CONV, TINY_DENSE
from convlab import store as store_module
from convlab.jobs import CANCELLED, DONE, FAILED, InProcess, TrainingQueue
from convlab.models import ModelSpec
from convlab.store import ModelStore


def slow_data(small_data, started: threading.Event, release: threading.Event):
    """A load_data that holds the worker until the test releases it, so the queue can be seen."""

    def load():
        started.set()
        assert release.wait(60)
        return small_data

    return load


def test_second_request_waits_and_same_spec_is_never_trained_twice(tmp_path, small_data, monkeypatch):
    started, release = threading.Event(), threading.Event()
    trainings, running_at_once, lock = [], [0], threading.Lock()
    real_train = store_module.ModelStore.get_or_train

    def counting(self, spec, *args, **kwargs):
        with lock:
            trainings.append(spec.key())
            running_at_once[0] += 1
            assert running_at_once[0] == 1, "two trainings ran at once"
        try:
            return real_train(self, spec, *args, **kwargs)
        finally:
            with lock:
                running_at_once[0] -= 1

    monkeypatch.setattr(store_module.ModelStore, "get_or_train", counting)
    queue = TrainingQueue(ModelStore(tmp_path), InProcess(slow_data(small_data, started, release)))
    first = queue.submit(TINY_DENSE)
    assert started.wait(30)
    second = queue.submit(TINY_CONV)  # another tab asks for another variant
    again = queue.submit(TINY_DENSE)  # and someone asks for the one being trained
    assert again is first
    assert queue.position(first) == 0 and queue.position(second) == 1
    assert second.state == "queued"
    release.set()
    assert queue.wait(second, timeout=120) and queue.wait(first, timeout=1)
    assert first.state == second.state == DONE
    assert trainings == [TINY_DENSE.key(), TINY_CONV.key()]
    assert queue.position(first) == -1
    # A finished spec is served from the store, not trained again.
    later = queue.submit(TINY_DENSE)
    assert later.state == DONE and later.stored.meta["key"] == TINY_DENSE.key()
    assert trainings == [TINY_DENSE.key(), TINY_CONV.key()]


def test_progress_is_reported_per_epoch_and_batch(tmp_path, small_data):
    spec = ModelSpec(**{**TINY_DENSE.to_dict(), "epochs": 3})
    queue = TrainingQueue(ModelStore(tmp_path), InProcess(lambda: small_data))
    job = queue.submit(spec)
    assert queue.wait(job, timeout=120)
    assert job.epoch == 3 and job.batches_per_epoch == -(-spec.train_samples // spec.batch_size)
    assert job.history == job.stored.meta["history"]
    assert job.fraction_done() == 1.0 and job.elapsed() > 0


def test_stop_keeps_the_epochs_done_as_a_usable_model(tmp_path, small_data):
    spec = ModelSpec(**{**TINY_DENSE.to_dict(), "epochs": 20, "train_samples": 1000, "batch_size": 8})
    queue = TrainingQueue(ModelStore(tmp_path), InProcess(lambda: small_data))
    job = queue.submit(spec)
    deadline = time.monotonic() + 60
    while job.epoch < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    queue.stop(job)
    assert queue.wait(job, timeout=60)
    assert job.state == DONE
    meta = job.stored.meta
    assert meta["stopped_by_request"] and meta["stop_reason"].startswith("stopped by request during epoch")
    assert 1 <= meta["epochs_run"] < 20
    # Usable and saved: a fresh store loads it and it predicts like the trained one.
    loaded = ModelStore(tmp_path).load(spec)
    assert loaded is not None and loaded.meta["epochs_run"] == meta["epochs_run"]
    _, accuracy = loaded.model.evaluate(small_data[1].images, small_data[1].labels, verbose=0)
    assert accuracy == pytest.approx(meta["metrics"]["test_accuracy"], abs=1e-6)


def test_a_queued_job_can_be_cancelled(tmp_path, small_data):
    started, release = threading.Event(), threading.Event()
    queue = TrainingQueue(ModelStore(tmp_path), InProcess(slow_data(small_data, started, release)))
    first = queue.submit(TINY_DENSE)
    assert started.wait(30)
    second = queue.submit(TINY_CONV)
    queue.stop(second)
    assert second.state == CANCELLED
    release.set()
    assert queue.wait(first, timeout=120)
    assert ModelStore(tmp_path).load(TINY_CONV) is None  # never trained


def test_a_failing_training_is_reported_and_the_queue_goes_on(tmp_path, small_data):
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise OSError("disk on fire (test)")
        return small_data

    queue = TrainingQueue(ModelStore(tmp_path), InProcess(flaky))
    failing = queue.submit(TINY_DENSE)
    assert queue.wait(failing, timeout=60)
    assert failing.state == FAILED and "disk on fire" in failing.message
    after = queue.submit(TINY_CONV)
    assert queue.wait(after, timeout=120) and after.state == DONE


def test_trainings_of_different_specs_never_overlap_across_stores(tmp_path, small_data, monkeypatch):
    """Two queues (as two app processes would have) train different specs one after the other."""
    from convlab import training

    intervals, real_train = [], training.train

    def recorded(*args, **kwargs):
        start = time.monotonic()
        try:
            return real_train(*args, **kwargs)
        finally:
            intervals.append((start, time.monotonic()))

    monkeypatch.setattr(training, "train", recorded)
    queues = [TrainingQueue(ModelStore(tmp_path / name), InProcess(lambda: small_data)) for name in ("a", "b")]
    jobs = [queues[0].submit(TINY_CONV), queues[1].submit(TINY_DENSE)]
    for queue, job in zip(queues, jobs):
        assert queue.wait(job, timeout=120) and job.state == DONE
    (_, first_end), (second_start, _) = sorted(intervals)
    assert len(intervals) == 2 and second_start >= first_end


def test_a_job_says_when_it_waits_for_another_training_on_the_machine(tmp_path, small_data):
    import tempfile

    from filelock import FileLock

    from convlab.store import WAITING_FOR_MACHINE

    other_process = FileLock(Path(tempfile.gettempdir()) / "convlab-training.lock", thread_local=False)
    other_process.acquire()
    try:
        queue = TrainingQueue(ModelStore(tmp_path), InProcess(lambda: small_data))
        job = queue.submit(TINY_DENSE)
        deadline = time.monotonic() + 30
        while job.message != WAITING_FOR_MACHINE and time.monotonic() < deadline:
            time.sleep(0.05)
        assert job.message == WAITING_FOR_MACHINE and job.state == "running" and job.epoch == 0
    finally:
        other_process.release()
    assert queue.wait(job, timeout=120) and job.state == DONE and job.message is None


def test_the_requester_is_kept_and_the_words_follow_the_job(tmp_path, small_data):
    """Issue 22: the page that asked for a job reads "your training", with its real place in the queue;
    a second request for the same spec gets the first one's job, requester and all."""
    from convlab.jobs import QUEUED, RUNNING, ordinal, your_training

    started, release = threading.Event(), threading.Event()
    queue = TrainingQueue(ModelStore(tmp_path), InProcess(slow_data(small_data, started, release)))
    first = queue.submit(TINY_DENSE, requester="page-a")
    assert started.wait(30)
    second = queue.submit(TINY_CONV, requester="page-b")
    assert queue.submit(TINY_DENSE, requester="page-b") is first and first.requester == "page-a"
    # Running, before its first epoch: the worker gets ready; no batches to count yet.
    assert first.state == RUNNING and first.batches_per_epoch == 0
    assert your_training(first, queue.position(first)) == (
        "Your training has started: loading the training images and building the model…"
    )
    assert second.state == QUEUED and queue.position(second) == 1
    assert your_training(second, queue.position(second)) == (
        "Your training is 2nd in the queue: it starts when the 1 training before it has finished."
    )
    release.set()
    assert queue.wait(second, timeout=120)
    with pytest.raises(ValueError, match="active job"):
        your_training(second, -1)
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111)] == [
        "1st",
        "2nd",
        "3rd",
        "4th",
        "11th",
        "12th",
        "13th",
        "21st",
        "22nd",
        "101st",
        "111th",
    ]


def test_your_training_words_epochs_places_and_waits():
    from convlab.jobs import RUNNING, Job, your_training

    running = Job(spec=TINY_CONV, state=RUNNING, batches_per_epoch=16, epoch=1)
    assert your_training(running, 0) == f"Your training has started: epoch 2 of {TINY_CONV.epochs}."
    third = Job(spec=TINY_CONV)
    assert your_training(third, 2) == (
        "Your training is 3rd in the queue: it starts when the 2 trainings before it have finished."
    )
    assert your_training(Job(spec=TINY_CONV), 0) == "Your training is 1st in the queue: it starts in a moment."
    waiting = Job(spec=TINY_CONV, message="waiting for room on the Ray cluster")
    assert your_training(waiting, 0) == "Your training is in the queue: waiting for room on the Ray cluster."
