"""The training worker: a process beside the server that trains, so the server never does.

A training takes both cores for minutes; run in a thread of the Streamlit server it doubled
everyone's slider latency. ``LocalWorker`` (the queue's default executor) starts
``python -m convlab.worker MODELS_DIR`` once, at a lower CPU priority than the server, and
keeps it for the next training (TensorFlow and the data load once), closing it after a quiet
spell. The two speak JSON lines: ``{"train": spec}`` and ``{"stop": key}`` go in; progress
events (``jobs.progress_events``) and a last ``done`` or ``failed`` come out.

The worker trains through its own ``ModelStore`` on the same folder, so the store's rules
hold unchanged: temp file + rename, one training per spec, one at a time on the machine. If
the worker dies mid-training (SIGKILL, out of memory), nothing was renamed into place; the
queue reports it, sweeps the temp files and starts a fresh worker for the next job.
"""

from __future__ import annotations

import collections
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import weakref
from functools import lru_cache
from pathlib import Path

from .jobs import Job, apply_event, progress_events
from .models import ModelSpec
from .store import ModelStore, StoredModel

NICENESS = 19  # the lowest: the server and the browsers (niceness 0) get about 98 of every 100 time slices they contend for
IDLE_SECONDS = 300  # a worker with nothing to do exits after this; the next training starts a new one
BATCH_EVENTS_EVERY = 0.1  # seconds between batch events: enough for a progress bar polled once a second
PACKAGE_PARENT = Path(__file__).resolve().parent.parent  # where ``python -m convlab.worker`` finds convlab


class WorkerDied(RuntimeError):
    """The worker process ended mid-training; ``page_message`` says so in the page's words."""

    def __init__(self, page_message: str):
        super().__init__(page_message)
        self.page_message = page_message


_WORKERS: weakref.WeakSet = weakref.WeakSet()  # every LocalWorker of this process, for stop_all


def stop_all() -> None:
    """End every worker process of this process now, mid-training or not (the test suite, between tests)."""
    for worker in list(_WORKERS):
        worker.kill()


class LocalWorker:
    """The queue's default executor: one training at a time in a worker process."""

    slots = 1

    def __init__(self, models_dir: Path | str, niceness: int = NICENESS, idle_seconds: float = IDLE_SECONDS):
        self.models_dir = Path(models_dir)
        self.niceness, self.idle_seconds = niceness, idle_seconds
        self._process: subprocess.Popen | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        self._lock = threading.Lock()  # one job at a time; also guards starting and closing the process
        self._idle_timer: threading.Timer | None = None
        _WORKERS.add(self)

    def describe(self) -> str:
        return "one at a time, in a worker process beside the server (at a lower CPU priority)"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    def run(self, job: Job, store: ModelStore) -> StoredModel:
        with self._lock:
            if self._idle_timer is not None:
                self._idle_timer.cancel()
            process = self._ensure_process()
            apply_event(job, {"event": "start", "where": f"this machine's worker process (pid {process.pid})"})
            self._send({"train": job.spec.to_dict()})
            try:
                return self._follow(job, store)
            finally:
                self._idle_timer = threading.Timer(self.idle_seconds, self.close)
                self._idle_timer.daemon = True
                self._idle_timer.start()

    def close(self) -> None:
        """Let the worker exit (its input closes); the next training starts a new one."""
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                try:
                    self._process.stdin.close()
                    self._process.wait(timeout=10)
                except (OSError, subprocess.TimeoutExpired):
                    self._process.kill()
            self._process = None

    def kill(self) -> None:
        """End the worker process at once; a training it was running is reported as its death."""
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        if self._idle_timer is not None:
            self._idle_timer.cancel()

    # -- the parent's side ---------------------------------------------------------------
    def _ensure_process(self) -> subprocess.Popen:
        if self._process is not None and self._process.poll() is None:
            return self._process
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(PACKAGE_PARENT), *filter(None, [os.environ.get("PYTHONPATH")])]), "TF_CPP_MIN_LOG_LEVEL": "2"}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "convlab.worker", str(self.models_dir), str(self.niceness)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
            cwd=PACKAGE_PARENT, env=env,
            start_new_session=True,  # its own session, so its own scheduling group (see _lower_priority)
        )
        self._lines = queue.Queue()
        self._stderr_tail.clear()
        threading.Thread(target=_pump, args=(self._process.stdout, self._lines.put, None), daemon=True).start()
        threading.Thread(target=_pump, args=(self._process.stderr, self._stderr_tail.append, ""), daemon=True).start()
        return self._process

    def _send(self, message: dict) -> None:
        try:
            self._process.stdin.write(json.dumps(message) + "\n")
            self._process.stdin.flush()
        except (OSError, ValueError):  # it died: _follow finds out from its output and says so
            pass

    def _follow(self, job: Job, store: ModelStore) -> StoredModel:
        stop_sent = False
        while True:
            if job.stop_event.is_set() and not stop_sent:
                self._send({"stop": job.key})
                stop_sent = True
            try:
                line = self._lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                raise self._died(job, store)
            try:
                event = json.loads(line)
            except ValueError:
                continue  # not ours: a library printed to the channel before the worker redirected it
            if event.get("event") == "done":
                if event.get("folder"):  # the folder was read-only: the run comes back through a temp folder
                    try:
                        return store.adopt(job.spec, Path(event["folder"]))
                    finally:
                        shutil.rmtree(event["folder"], ignore_errors=True)
                stored = store.load(job.spec)
                if stored is None:
                    raise RuntimeError(store.problems.get(job.key, "the worker saved the model but it can't be read"))
                return stored
            if event.get("event") == "failed":
                raise RuntimeError(event["message"])
            apply_event(job, event)

    def _died(self, job: Job, store: ModelStore) -> WorkerDied:
        code = self._process.wait()
        self._process = None
        store.sweep_temp_files(job.spec)  # what it was writing, if anything, was never renamed into place
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
        if code == -signal.SIGKILL:
            how += ": out of memory, or someone ended it"
        tail = "".join(self._stderr_tail).strip().splitlines()[-3:]
        if tail:
            print("convlab: the training worker died; its last words:\n  " + "\n  ".join(tail), file=sys.stderr)
        when = f"during epoch {job.epoch + 1} of {job.spec.epochs}" if job.batches_per_epoch else "before training began"
        return WorkerDied(
            f"the training worker process stopped unexpectedly ({how}) {when}. Nothing of this training was "
            "kept; the queue went on with the next one. Press Train to try again."
        )


def _pump(stream, put, end) -> None:
    """Copy a pipe's lines to ``put`` until it closes, then put ``end``."""
    for line in stream:
        put(line)
    put(end)


# -- the worker's side -----------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _load_data():
    from .data import load_split

    return load_split("train"), load_split("test")


def main(argv: list[str]) -> int:
    """``python -m convlab.worker MODELS_DIR [NICENESS]``: train what stdin asks, report on the channel."""
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # whatever a library prints goes to stderr: stdout is the protocol's alone
    _lower_priority(int(argv[1]) if len(argv) > 1 else NICENESS)
    store = ModelStore(argv[0])
    stop, requests, sending = threading.Event(), queue.Queue(), threading.Lock()

    def send(event: dict) -> None:
        with sending:
            channel.write(json.dumps(event) + "\n")

    def read() -> None:
        for line in sys.stdin:
            message = json.loads(line)
            if "stop" in message:
                stop.set()  # the parent only ever stops the one training it sent
            else:
                stop.clear()
                requests.put(message)
        os._exit(0)  # the server is gone or closed us: a training half-done is swept by the next store

    threading.Thread(target=read, daemon=True).start()
    while True:
        spec = ModelSpec.from_dict(requests.get()["train"])
        try:
            stored = store.get_or_train(
                spec, _load_data, callbacks=[progress_events(send, BATCH_EVENTS_EVERY)], stop_event=stop,
                on_wait=lambda why: send({"event": "waiting", "why": why}),
            )
            send({"event": "done", "folder": None if stored.saved else _save_elsewhere(stored)})
        except Exception as error:  # said on the page; the worker lives on for the next one
            send({"event": "failed", "message": _failure(error)})


def _lower_priority(niceness: int) -> None:
    """Yield the CPU to the server, and to the browsers on this machine, whenever they want it.

    Linux schedules each session as a group ("autogroup") and shares the CPUs between groups
    before niceness counts inside one: a nice worker in the server's group would still take
    half the CPUs from a browser's group. So the worker runs in a session of its own (its
    parent starts it so) and gives that group the niceness too; ``os.nice`` covers systems
    without autogroups.
    """
    os.nice(niceness)
    try:
        Path("/proc/self/autogroup").write_text(str(niceness))
    except OSError:  # no autogroups here (or not Linux): os.nice alone decides
        pass


def _save_elsewhere(stored: StoredModel) -> str:
    """The models folder is read-only: save into a temp folder the server adopts (into its memory)."""
    folder = tempfile.mkdtemp(prefix="convlab-run-")
    elsewhere = ModelStore(folder)
    elsewhere._save(stored)
    if not stored.saved:
        raise OSError(elsewhere.problems.get(stored.spec.key(), f"can't save into {folder} either"))
    return folder


def _failure(error: Exception) -> str:
    from .data import DataError

    if isinstance(error, DataError):
        return f"the training data could not be loaded: {error}"
    return f"training failed: {type(error).__name__}: {error}"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
