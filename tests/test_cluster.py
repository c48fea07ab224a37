"""Trainings on a real local Ray cluster: in parallel, progress streamed back, Stop, models landed, one per spec."""

from __future__ import annotations

import time

import pytest

from conftest import TINY_CONV, model_files
from convlab.jobs import DONE, TrainingQueue
from convlab.models import ModelSpec
from convlab.store import WAITING_FOR_SPEC, ModelStore
from convlab_testing.ray_cluster import local_ray_cluster

ray = pytest.importorskip("ray", reason="Ray is installed from requirements.txt (what .ci/run does)")
from convlab.cluster import RayCluster  # noqa: E402  (imports Ray)

# Long enough to be caught running and stopped: 100 batches an epoch, 20 epochs; the short one takes two of them.
LONG = ModelSpec(conv_filters=(4,), dense_units=16, epochs=20, batch_size=8, train_samples=800, seed=3)
SHORT = ModelSpec(conv_filters=(4,), dense_units=16, epochs=2, batch_size=8, train_samples=800, seed=5)


@pytest.fixture(scope="module")
def cluster():
    """A head node with 4 logical CPUs: room for two trainings of 2 CPUs at once."""
    with local_ray_cluster(cpus=4) as address:
        yield address
        ray.shutdown()


def wait_for(condition, seconds: float = 120, step: float = 0.05) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(step)


def test_two_trainings_run_at_once_one_is_stopped_the_other_lands_with_full_metadata(cluster, tmp_path, test_split):
    executor = RayCluster(cluster)
    queue = TrainingQueue(ModelStore(tmp_path), executor)
    long, short = queue.submit(LONG), queue.submit(SHORT)
    assert queue.submit(LONG) is long  # the same spec is never handed over twice

    # Both run at the same moment: each is running once its task has started on a node (the stream's first
    # event), before it trains. (Waiting for both to report a batch lost a race in CI: the short one was done
    # before the long one's first batch came back.)
    def both_running() -> bool:
        return all(job.state == "running" and "Ray node" in job.where for job in (long, short))

    wait_for(lambda: both_running() or not short.active)
    assert both_running(), [(job.state, job.where) for job in (long, short)]
    assert "2 CPUs" in executor.describe() and "up to 2 run at once" in executor.describe()
    assert queue.wait(short, timeout=120) and short.state == DONE, short.message
    assert long.active  # still going when the other finished: they overlapped
    stopped_at = time.monotonic()
    queue.stop(long)
    assert queue.wait(long, timeout=60) and long.state == DONE, long.message
    assert time.monotonic() - stopped_at < 10
    meta = long.stored.meta
    assert meta["stopped_by_request"] and 1 <= meta["epochs_run"] < LONG.epochs
    assert long.history == meta["history"]  # every epoch's figures came back through the stream

    # The finished run landed in the app's store as a local one would: files, checksums, snapshots, metadata.
    store = ModelStore(tmp_path)
    landed = store.load(SHORT)
    assert landed is not None and landed.meta == short.stored.meta
    assert set(landed.meta) >= {
        "spec",
        "history",
        "metrics",
        "versions",
        "created",
        "seconds",
        "snapshots",
        "model_sha256",
        "machine",
        "params",
        "layers",
    }
    assert landed.meta["epochs_run"] == SHORT.epochs and not landed.meta["stopped_by_request"]
    assert short.history == landed.meta["history"]
    _, accuracy = landed.model.evaluate(test_split.images, test_split.labels, verbose=0)
    assert accuracy == pytest.approx(landed.meta["metrics"]["test_accuracy"], abs=1e-6)
    snapshots, problem = store.load_snapshots(landed)
    assert problem is None and len(snapshots.points) == len(landed.meta["snapshots"]["points"])
    # Nothing but whole runs in the folder.
    stems = {f"conv-{spec.key()}" for spec in (LONG, SHORT)}
    assert model_files(tmp_path) == sorted(
        f"{stem}{suffix}" for stem in stems for suffix in (".json", ".keras", ".snapshots.npz")
    )
    # A stored spec is served from the store, not trained again.
    trained = set(executor.timings)
    again = queue.submit(SHORT)
    assert again.state == DONE and again.stored.meta["created"] == landed.meta["created"]
    assert set(executor.timings) == trained


def test_two_servers_on_one_folder_train_a_spec_once(cluster, tmp_path):
    """Two queues (two app servers sharing CONVLAB_MODELS_DIR) asking Ray for the same spec."""
    executors = [RayCluster(cluster), RayCluster(cluster)]
    queues = [TrainingQueue(ModelStore(tmp_path), executor) for executor in executors]
    first = queues[0].submit(TINY_CONV)
    wait_for(lambda: first.state == "running" or not first.active)
    second = queues[1].submit(TINY_CONV)
    wait_for(lambda: second.message == WAITING_FOR_SPEC or not second.active)
    assert second.message == WAITING_FOR_SPEC and second.active  # it waits: the folder says someone trains it
    assert queues[0].wait(first, timeout=120) and queues[1].wait(second, timeout=60)
    assert first.state == second.state == DONE
    assert second.stored.meta["created"] == first.stored.meta["created"]  # loaded, not trained again
    assert TINY_CONV.key() in executors[0].timings and TINY_CONV.key() not in executors[1].timings


def test_an_unreachable_cluster_is_said_and_the_local_worker_trains_instead(tmp_path):
    from convlab.worker import LocalWorker
    from convlab_testing.live_app import free_port

    queue = TrainingQueue(ModelStore(tmp_path), RayCluster(f"127.0.0.1:{free_port()}"))
    job = queue.submit(TINY_CONV)
    assert queue.wait(job, timeout=120) and job.state == DONE, job.message
    assert "can't be reached" in queue.notice and "CONVLAB_RAY_ADDRESS" in queue.notice
    assert isinstance(queue.executor, LocalWorker) and "worker process" in job.where


def test_the_lab_trains_on_ray_and_says_where(cluster, tmp_path, monkeypatch):
    """The page with CONVLAB_RAY_ADDRESS set: the lab names the cluster, the training runs on a Ray
    node with its progress on the page, and the run lands in the page's models folder."""
    import shutil

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from apptest_support import APP, TIMEOUT, frame_with, open_tab
    from convlab.models import PRESETS
    from convlab.store import DEFAULT_ROOT

    for spec in PRESETS.values():
        for path in ModelStore(DEFAULT_ROOT).paths(spec):
            shutil.copy(path, tmp_path / path.name)
    monkeypatch.setenv("CONVLAB_MODELS_DIR", str(tmp_path))
    monkeypatch.setenv("CONVLAB_RAY_ADDRESS", cluster)
    st.cache_resource.clear()
    st.cache_data.clear()
    at = open_tab(AppTest.from_file(APP, default_timeout=TIMEOUT).run(), "lab")

    def connected() -> bool:  # the queue joins the cluster in the background; the lab then names its size
        at.run()
        return any("on the Ray cluster at" in c.value and "CPUs" in c.value for c in at.caption)

    wait_for(connected, seconds=60, step=0.5)
    spec = ModelSpec(conv_filters=(16,), epochs=2, train_samples=1_000)
    at.radio(key="lab_blocks").set_value(1)
    at.select_slider(key="lab_filters_0").set_value(16)
    at.slider(key="lab_epochs").set_value(2)
    at.selectbox(key="lab_samples").set_value(1_000).run()
    at.button(key="lab_train").click().run()
    seen_on_node = []

    def finished() -> bool:
        at.run()
        assert not at.exception, at.exception
        seen_on_node.extend(m.value for m in at.markdown if "training on Ray node" in m.value)
        return any("Trained in" in s.value for s in at.success)

    wait_for(finished, seconds=180, step=0.5)
    assert seen_on_node  # its progress was on the page while a Ray node trained it
    assert spec.label() in list(frame_with(at, "key")["run"])
    assert ModelStore(tmp_path).load(spec).meta["epochs_run"] == 2
