"""The queue's limit per page: trainings queued or running per requester are capped, a sweep counting its
variants; past the limit nothing is queued and the refusal says how many there are and what to do."""

from __future__ import annotations

import threading

import pytest

from conftest import TINY_DENSE
from convlab.jobs import CANCELLED, FAILED, MAX_ACTIVE_PER_REQUESTER, QUEUED, QueueFull, TrainingQueue
from convlab.models import ModelSpec
from convlab.store import ModelStore


class Held:
    """An executor whose trainings last until the test lets them go (then fail: nothing is trained here)."""

    slots = 1

    def __init__(self):
        self.release = threading.Event()

    def describe(self) -> str:
        return "held by the test"

    def run(self, job, store):
        self.release.wait(60)
        raise RuntimeError("released by the test")


def variants(count: int, start: int = 0) -> list[ModelSpec]:
    return [ModelSpec(**{**TINY_DENSE.to_dict(), "seed": seed}) for seed in range(start, start + count)]


@pytest.fixture
def queue(tmp_path):
    executor = Held()
    queue = TrainingQueue(ModelStore(tmp_path), executor)
    yield queue
    executor.release.set()
    for job in queue.jobs():
        queue.wait(job, timeout=10)


def test_past_the_limit_a_training_is_refused_with_a_note(queue):
    jobs = [queue.submit(spec, requester="page-a") for spec in variants(MAX_ACTIVE_PER_REQUESTER)]
    assert all(job.active for job in jobs) and queue.active_count("page-a") == MAX_ACTIVE_PER_REQUESTER
    [extra] = variants(1, start=100)
    with pytest.raises(QueueFull) as refused:
        queue.submit(extra, requester="page-a")
    note = str(refused.value)
    assert note.startswith(f"You have {MAX_ACTIVE_PER_REQUESTER} trainings queued or running")
    assert f"the limit of {MAX_ACTIVE_PER_REQUESTER} per page" in note and "nothing was queued" in note
    assert "Wait for some to finish, or cancel" in note
    assert queue.find(extra.key()) is None and len(queue.jobs()) == MAX_ACTIVE_PER_REQUESTER
    # Asking again for one already queued is no new training: it is returned, not refused.
    assert queue.submit(jobs[-1].spec, requester="page-a") is jobs[-1]
    # Cancelling one makes room for one.
    queue.stop(jobs[-1])
    assert jobs[-1].state == CANCELLED
    assert queue.submit(extra, requester="page-a").state == QUEUED


def test_a_sweep_counts_its_variants_and_is_queued_whole_or_not_at_all(queue):
    queue.submit_all(variants(MAX_ACTIVE_PER_REQUESTER - 2), requester="page-a")
    sweep = variants(3, start=100)
    with pytest.raises(QueueFull) as refused:
        queue.submit_all(sweep, requester="page-a")
    assert refused.value.active == MAX_ACTIVE_PER_REQUESTER - 2 and refused.value.asked == 3
    assert "and 3 more would pass the limit" in str(refused.value)
    assert all(queue.find(spec.key()) is None for spec in sweep)  # none of it was queued
    jobs = queue.submit_all(sweep[:2], requester="page-a")  # two fit
    assert [job.key for job in jobs] == [spec.key() for spec in sweep[:2]]
    assert queue.active_count("page-a") == MAX_ACTIVE_PER_REQUESTER


def test_other_pages_and_requests_without_a_page_are_unaffected(queue):
    queue.submit_all(variants(MAX_ACTIVE_PER_REQUESTER), requester="page-a")
    with pytest.raises(QueueFull):
        queue.submit_all(variants(1, start=100), requester="page-a")
    others = queue.submit_all(variants(MAX_ACTIVE_PER_REQUESTER, start=200), requester="page-b")
    assert all(job.state == QUEUED and job.requester == "page-b" for job in others)
    lesson = queue.submit(variants(1, start=300)[0])  # the app's own (the lesson's models): no page, no limit
    assert lesson.state == QUEUED and queue.active_count("page-b") == MAX_ACTIVE_PER_REQUESTER


def test_a_stored_model_that_cannot_be_loaded_now_gets_a_failed_job_not_a_training(tmp_path, monkeypatch):
    import keras

    from test_setaside import save_untrained

    save_untrained(tmp_path, TINY_DENSE)
    executor = Held()
    queue = TrainingQueue(ModelStore(tmp_path), executor)

    def out_of_memory(*args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr(keras.saving, "load_model", out_of_memory)
    job = queue.submit(TINY_DENSE, requester="page-a")
    assert job.state == FAILED and "kept where they are" in job.message and queue.find(TINY_DENSE.key()) is job
    assert queue.active_count("page-a") == 0 and all(path.exists() for path in queue.store.paths(TINY_DENSE))
    monkeypatch.undo()
    again = queue.submit(TINY_DENSE, requester="page-a")  # tried again: loads now
    assert again.state == "done" and again.stored is not None
    executor.release.set()


def test_the_queue_forgets_the_oldest_finished_jobs(queue):
    from convlab.jobs import MAX_FINISHED_KEPT

    first = queue.submit_all(variants(MAX_FINISHED_KEPT + 5))
    queue.executor.release.set()
    assert all(queue.wait(job, timeout=30) for job in first)
    last = queue.submit(variants(1, start=1000)[0])
    kept = queue.jobs()
    assert len(kept) == MAX_FINISHED_KEPT + 1 and kept[-1] is last
    assert queue.find(first[0].key) is None and queue.find(first[-1].key) is first[-1]


def test_the_same_spec_twice_in_one_request_is_one_job(queue):
    [spec] = variants(1)
    first, second = queue.submit_all([spec, spec], requester="page-a")
    assert first is second and queue.active_count("page-a") == 1
