"""Trainings on a Ray cluster: for when a class outgrows one machine.

With ``$CONVLAB_RAY_ADDRESS`` set (``auto``, ``host:port`` or ``ray://host:port``) the queue
hands every job to ``RayCluster``, which submits it to Ray at once as a task asking for 2 CPUs
(or 1 GPU where the cluster has one). Ray's own scheduler decides what runs where and when:
as many at once as the cluster has room for, the rest waiting in Ray's queue. Nothing here is
imported, and Ray is never imported, unless that variable is set.

A training is a Ray *generator task* (``train_on_node``): it trains in a temp folder on its
node through an ordinary ``ModelStore`` and yields its progress events as it goes, which
stream back to the page; its last yield carries the saved files (model, metadata, snapshots),
which the app's store ``adopt``s with its usual checks and atomic writes, so the model lands
exactly as a local one does. Stop is a flag in a small actor (``StopRequests``) the task polls
twice a second, so a stopped training still ends cleanly after its batch and keeps its epochs.
While a job is out on the cluster the app holds the spec's lock in the models folder, so no
other server sharing that folder trains the same spec meanwhile.

If the cluster can't be reached, ``run`` raises ``jobformat.Unavailable`` and the queue falls back
to the local worker, saying why on the page.
"""

from __future__ import annotations

import queue
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import ray

from .data import train_and_test
from .jobformat import Cancelled, Job, Unavailable, apply_event, progress_events
from .models import ModelSpec
from .store import ModelStore, StoredModel, file_stem

CPUS_PER_TRAINING = 2  # the lesson's model keeps two cores busy; more barely helps at batch size 32
CONNECT_SECONDS = 20  # ray.init to an address with no cluster behind it waits far longer than a page should
MAX_WARM_WORKERS = 4  # Ray workers readied at connect (TensorFlow and the data loaded), at most one per training slot
STOP_POLL_SECONDS = 0.5
PACKAGE = Path(__file__).resolve().parent  # shipped to the cluster with each job (runtime_env py_modules)


@ray.remote(num_cpus=0)
class StopRequests:
    """The keys of the trainings someone asked to stop; tasks poll it."""

    def __init__(self):
        self.keys: set[str] = set()

    def request(self, key: str) -> None:
        self.keys.add(key)

    def requested(self, key: str) -> bool:
        return key in self.keys

    def forget(self, key: str) -> None:
        self.keys.discard(key)


@ray.remote
def train_on_node(spec_values: dict, stops):
    """Train one spec on whichever node Ray chose, yielding progress events, then the saved files."""
    started = time.perf_counter()
    spec = ModelSpec.from_dict(spec_values)
    cpus = int(ray.get_runtime_context().get_assigned_resources().get("CPU", CPUS_PER_TRAINING) or CPUS_PER_TRAINING)
    yield {"event": "start", "where": f"Ray node {ray.util.get_node_ip_address()} ({cpus} CPUs)"}
    _limit_threads(cpus)
    events: queue.Queue = queue.Queue()
    stop, outcome = threading.Event(), {}

    def work() -> None:
        folder = Path(tempfile.mkdtemp(prefix="convlab-ray-"))
        try:
            store = ModelStore(folder)
            # Ray decides how many trainings share a node: no machine-wide one-at-a-time lock here.
            stored = store.get_or_train(
                spec,
                train_and_test,
                callbacks=[progress_events(events.put, 0.2)],
                stop_event=stop,
                one_per_machine=False,
            )
            if not stored.saved:
                raise OSError(store.problems.get(spec.key(), f"could not save into {folder}"))
            outcome["files"] = {path.name: path.read_bytes() for path in folder.glob(f"{file_stem(spec)}.*")}
        except Exception as error:  # sent back as the job's message
            outcome["error"] = _failure(error)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            events.put(None)

    threading.Thread(target=work, daemon=True).start()
    polled = time.monotonic()
    while True:
        try:
            event = events.get(timeout=STOP_POLL_SECONDS)
        except queue.Empty:
            event = {}
        if time.monotonic() - polled >= STOP_POLL_SECONDS and not stop.is_set():
            polled = time.monotonic()
            if ray.get(stops.requested.remote(spec.key())):
                stop.set()
        if event is None:
            break
        if event:
            yield event
    seconds = time.perf_counter() - started
    if "error" in outcome:
        yield {"event": "failed", "message": outcome["error"], "seconds_on_node": seconds}
    else:
        yield {"event": "done", "files": outcome["files"], "seconds_on_node": seconds}


@ray.remote
def warm_up() -> str:
    """Start a Ray worker and load what a training needs (TensorFlow, the data), so the first trainings don't wait."""
    import tensorflow  # noqa: F401

    from . import training  # noqa: F401

    train_and_test()  # kept by this Ray worker process, which Ray reuses for the next training
    return ray.util.get_node_ip_address()


def _limit_threads(cpus: int) -> None:
    """TensorFlow's thread pools sized to the CPUs Ray gave this task (only possible before its first op)."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(cpus)
        tf.config.threading.set_inter_op_parallelism_threads(min(cpus, 2))
    except RuntimeError:  # a worker Ray reuses: set by its first training already
        pass


def _failure(error: Exception) -> str:
    from .data import DataError

    node = ray.util.get_node_ip_address()
    if isinstance(error, DataError):
        return f"the Ray node {node} has no Fashion-MNIST: {error}"
    return f"training failed on the Ray node {node}: {type(error).__name__}: {error}"


class RayCluster:
    """The queue's executor when ``$CONVLAB_RAY_ADDRESS`` is set: every job goes to Ray at once."""

    slots = None  # Ray's scheduler decides how many run at once

    def __init__(self, address: str, connect_seconds: float = CONNECT_SECONDS, warm_workers: int | None = None):
        self.address = address
        self.connect_seconds = connect_seconds
        self.warm_workers = warm_workers  # None: as many as trainings fit at once, up to MAX_WARM_WORKERS
        self.warming: list = []  # the warm-up tasks' refs (the benchmark waits for them)
        # Per job key, for the benchmark (perf_counter times): submitted, on_node (its first event),
        # result_received, landed (adopted into the store); and seconds_on_node, the task's own time.
        self.timings: dict[str, dict[str, float]] = {}
        self._lock = threading.Lock()
        self._stops = None
        self._error: str | None = None
        self._resources: dict[str, float] = {}

    def describe(self) -> str:
        if not self._resources:
            return f"on the Ray cluster at {self.address}"
        cpus, gpus = int(self._resources.get("CPU", 0)), int(self._resources.get("GPU", 0))
        each = "1 GPU" if gpus else f"{CPUS_PER_TRAINING} CPUs"
        room = gpus if gpus else cpus // CPUS_PER_TRAINING
        return (
            f"on the Ray cluster at {self.address} ({cpus} CPUs, {gpus} GPUs): each training asks for {each}, "
            f"so up to {room} run at once and Ray queues the rest"
        )

    # -- connecting --------------------------------------------------------------------------
    def connect(self) -> None:
        """Join the cluster once; raise ``Unavailable`` with a sentence for the page if it can't be reached."""
        with self._lock:
            if self._stops is not None:
                return
            if self._error is None:
                self._error = self._try_connect()
            if self._error is not None:
                raise Unavailable(self._error)

    def _try_connect(self) -> str | None:
        problem = _unreachable(self.address)
        if problem is None:
            done, errors = threading.Event(), []

            def init() -> None:
                try:
                    ray.init(
                        address=self.address,
                        namespace="convlab",
                        logging_level="ERROR",
                        log_to_driver=False,
                        runtime_env={"py_modules": [str(PACKAGE)], "env_vars": {"TF_CPP_MIN_LOG_LEVEL": "2"}},
                        ignore_reinit_error=True,
                    )
                except Exception as error:  # said on the page
                    errors.append(f"{type(error).__name__}: {str(error).strip().splitlines()[0]}")
                finally:
                    done.set()

            threading.Thread(target=init, name="convlab-ray-connect", daemon=True).start()
            if not done.wait(self.connect_seconds):
                problem = f"no answer within {self.connect_seconds:.0f} s"
            elif errors:
                problem = errors[0]
        if problem is not None:
            return (
                f"The Ray cluster at {self.address} (CONVLAB_RAY_ADDRESS) can't be reached ({problem}), so "
                "trainings run in this machine's worker process instead. Start the cluster (ray start --head) "
                "or correct the address, then restart ConvLab."
            )
        self._resources = dict(ray.cluster_resources())
        self._stops = StopRequests.remote()
        # A fresh Ray worker takes seconds to start and seconds more to import TensorFlow: ready some now.
        room = int(self._resources.get("GPU", 0)) or int(self._resources.get("CPU", 0)) // CPUS_PER_TRAINING
        count = min(room, MAX_WARM_WORKERS) if self.warm_workers is None else self.warm_workers
        self.warming = [warm_up.options(**self._task_options()).remote() for _ in range(count)]
        return None

    def _task_options(self) -> dict:
        """What one training asks of the cluster: a GPU where it has one, else 2 CPUs."""
        return {"num_gpus": 1, "num_cpus": 1} if self._resources.get("GPU", 0) else {"num_cpus": CPUS_PER_TRAINING}

    # -- running -----------------------------------------------------------------------------
    def run(self, job: Job, store: ModelStore) -> StoredModel:
        self.connect()
        job.message = "waiting for room on the Ray cluster"
        with store.claim(job.spec, on_wait=lambda why: apply_event(job, {"event": "waiting", "why": why})):
            found = store.load(job.spec)  # another server on this folder trained it while we waited
            if found is not None:
                return found
            return self._train(job, store)

    def _train(self, job: Job, store: ModelStore) -> StoredModel:
        timing = self.timings[job.key] = {"submitted": time.perf_counter()}
        stream = train_on_node.options(**self._task_options()).remote(job.spec.to_dict(), self._stops)
        stop_sent = False
        try:
            while True:
                if job.stop_event.is_set() and not stop_sent:
                    if job.started is None:  # still waiting in Ray's queue: take it back
                        ray.cancel(stream)
                        raise Cancelled()
                    self._stops.request.remote(job.key)
                    stop_sent = True
                ready, _ = ray.wait([stream], timeout=0.2)
                if not ready:
                    continue
                try:
                    event = ray.get(next(stream))
                except StopIteration:
                    raise RuntimeError("the Ray task ended without a result") from None
                if event["event"] == "start":
                    timing["on_node"] = time.perf_counter()
                if event["event"] == "failed":
                    raise RuntimeError(event["message"])
                if event["event"] == "done":
                    timing["result_received"] = time.perf_counter()
                    timing["seconds_on_node"] = event["seconds_on_node"]
                    stored = self._land(job.spec, event["files"], store)
                    timing["landed"] = time.perf_counter()
                    return stored
                apply_event(job, event)
        finally:
            if stop_sent:
                self._stops.forget.remote(job.key)

    @staticmethod
    def _land(spec: ModelSpec, files: dict[str, bytes], store: ModelStore) -> StoredModel:
        """Write the node's files into a temp folder and adopt them into the app's store."""
        folder = Path(tempfile.mkdtemp(prefix="convlab-landing-"))
        try:
            for name, data in files.items():
                (folder / Path(name).name).write_bytes(data)  # a bare name: never a path from elsewhere
            return store.adopt(spec, folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def _unreachable(address: str, seconds: float = 3.0) -> str | None:
    """A quick TCP look at ``host:port`` (ray.init itself would wait minutes); None if it answers or for 'auto'."""
    target = address.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        return None  # "auto" and the like: ray.init finds the cluster itself
    try:
        with socket.create_connection((host, int(port)), timeout=seconds):
            return None
    except OSError as error:
        return f"nothing answers at {host}:{port}: {error.strerror or error}"
