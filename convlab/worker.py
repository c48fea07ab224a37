"""The training worker: a process beside the server that trains, so the server never does.

A training takes both cores for minutes; run in a thread of the Streamlit server it doubled
everyone's slider latency. ``LocalWorker`` (the queue's default executor) starts
``python -m convlab.worker MODELS_DIR`` once, at a lower CPU priority than the server, and
keeps it for the next training (TensorFlow and the data load once), closing it after a quiet
spell. The two speak JSON lines: ``{"train": spec}`` and ``{"stop": key}`` go in; progress
events (``jobformat.progress_events``) and a last ``done`` or ``failed`` come out.

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
from pathlib import Path

from .data import train_and_test
from .jobformat import Job, apply_event, progress_events
from .models import ModelSpec
from .store import ModelStore, StoredModel

NICENESS = (
    19  # the lowest: the server and the browsers (niceness 0) get about 98 of every 100 time slices they contend for
)
NICENESS_VARIABLE = "CONVLAB_TRAINING_NICENESS"  # 0: trainings at the server's priority (a test run, a training box)
IDLE_SECONDS = 300  # a worker with nothing to do exits after this; the next training starts a new one
BATCH_EVENTS_EVERY = 0.1  # seconds between batch events: enough for a progress bar polled once a second
PACKAGE_PARENT = Path(__file__).resolve().parent.parent  # where ``python -m convlab.worker`` finds convlab


def configured_niceness() -> int:
    """The workers' niceness: ``CONVLAB_TRAINING_NICENESS`` (0 to 19) if set, else ``NICENESS``.

    The lowest priority is right beside people's pages; on a machine where nothing waits for the
    CPU but other work (the test suite's two processes), trainings in the idle class would crawl.
    """
    text = os.environ.get(NICENESS_VARIABLE, "").strip()
    if not text:
        return NICENESS
    if not text.isdigit() or int(text) > 19:
        raise ValueError(f"{NICENESS_VARIABLE} must be a whole number from 0 to 19, not {text!r}")
    return int(text)


class WorkerDied(RuntimeError):
    """The worker process ended mid-training; ``page_message`` says so in the page's words."""

    def __init__(self, page_message: str):
        super().__init__(page_message)
        self.page_message = page_message


class _Process:
    """One worker process and its pipes, shared by every LocalWorker of this process with the same niceness."""

    def __init__(self, niceness: int, idle_seconds: float):
        self.niceness, self.idle_seconds = niceness, idle_seconds
        self.popen: subprocess.Popen | None = None
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        self.lock = threading.Lock()  # one training at a time through it
        self.busy = False
        self.idle_timer: threading.Timer | None = None

    def alive(self) -> subprocess.Popen | None:
        return self.popen if self.popen is not None and self.popen.poll() is None else None

    def start(self) -> subprocess.Popen:
        if self.alive():
            return self.popen
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(PACKAGE_PARENT), *filter(None, [os.environ.get("PYTHONPATH")])]),
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "convlab.worker", str(self.niceness)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            cwd=PACKAGE_PARENT,
            env=env,
            start_new_session=True,  # its own session, so its own scheduling group (see _lower_priority)
        )
        self.lines = queue.Queue()
        self.stderr_tail.clear()
        threading.Thread(target=_pump, args=(self.popen.stdout, self.lines.put, None), daemon=True).start()
        threading.Thread(target=_pump, args=(self.popen.stderr, self.stderr_tail.append, ""), daemon=True).start()
        return self.popen

    def send(self, message: dict) -> None:
        try:
            self.popen.stdin.write(json.dumps(message) + "\n")
            self.popen.stdin.flush()
        except (OSError, ValueError, AttributeError):  # it died: the reader finds out from its output and says so
            pass

    def close_later(self) -> None:
        self.idle_timer = threading.Timer(self.idle_seconds, self.close)
        self.idle_timer.daemon = True
        self.idle_timer.start()

    def close(self) -> None:
        """Let the worker exit (its input closes); the next training starts a new one."""
        with self.lock:
            popen = self.alive()
            if popen is not None:
                try:
                    popen.stdin.close()
                    popen.wait(timeout=10)
                except (OSError, subprocess.TimeoutExpired):
                    popen.kill()
            self.popen = None

    def kill(self) -> None:
        popen = self.alive()
        if popen is not None:
            popen.kill()
            popen.wait()


_PROCESSES: dict[tuple[int, float], _Process] = {}
_PROCESSES_LOCK = threading.Lock()


def stop_trainings() -> None:
    """End at once every worker process of this process that is training (the test suite, after each test);
    idle ones stay for the next training."""
    for process in list(_PROCESSES.values()):
        if process.busy:
            process.kill()


class LocalWorker:
    """The queue's default executor: one training at a time in a worker process.

    The process is this server's one worker (shared by every queue of the process: in the app there
    is one), started at the first training and kept for the next ones.
    """

    slots = 1

    def __init__(self, niceness: int | None = None, idle_seconds: float = IDLE_SECONDS):
        niceness = configured_niceness() if niceness is None else niceness
        with _PROCESSES_LOCK:
            self._process = _PROCESSES.setdefault((niceness, idle_seconds), _Process(niceness, idle_seconds))

    def describe(self) -> str:
        return "one at a time, in a worker process beside the server (at a lower CPU priority)"

    @property
    def pid(self) -> int | None:
        popen = self._process.alive()
        return popen.pid if popen is not None else None

    def run(self, job: Job, store: ModelStore) -> StoredModel:
        process = self._process
        with process.lock:
            if process.idle_timer is not None:
                process.idle_timer.cancel()
            popen = process.start()
            apply_event(job, {"event": "start", "where": f"this machine's worker process (pid {popen.pid})"})
            process.busy = True
            process.send({"train": job.spec.to_dict(), "models_dir": str(store.root)})
            try:
                return self._follow(job, store)
            finally:
                process.busy = False
                process.close_later()

    def close(self) -> None:
        self._process.close()

    def kill(self) -> None:
        """End the worker process at once; a training it was running is reported as its death."""
        self._process.kill()

    # -- the parent's side ---------------------------------------------------------------
    def _follow(self, job: Job, store: ModelStore) -> StoredModel:
        process, stop_sent = self._process, False
        while True:
            if job.stop_event.is_set() and not stop_sent:
                process.send({"stop": job.key})
                stop_sent = True
            try:
                line = process.lines.get(timeout=0.2)
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
        process = self._process
        code = process.popen.wait()
        process.popen = None
        store.sweep_temp_files(job.spec)  # what it was writing, if anything, was never renamed into place
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
        if code == -signal.SIGKILL:
            how += ": out of memory, or someone ended it"
        tail = "".join(process.stderr_tail).strip().splitlines()[-3:]
        if tail:
            print("convlab: the training worker died; its last words:\n  " + "\n  ".join(tail), file=sys.stderr)
        when = (
            f"during epoch {job.epoch + 1} of {job.spec.epochs}" if job.batches_per_epoch else "before training began"
        )
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
def main(argv: list[str]) -> int:
    """``python -m convlab.worker [NICENESS]``: train what stdin asks, report on the channel."""
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # whatever a library prints goes to stderr: stdout is the protocol's alone
    _lower_priority(int(argv[0]) if argv else NICENESS)
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
        request = requests.get()
        spec = ModelSpec.from_dict(request["train"])
        # A store afresh for each training: the app may have deleted a run this worker trained before.
        store = ModelStore(request["models_dir"])
        try:
            stored = store.get_or_train(
                spec,
                train_and_test,
                callbacks=[progress_events(send, BATCH_EVENTS_EVERY)],
                stop_event=stop,
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
    without autogroups. Its threads are in Linux's idle scheduling class besides, so a server
    or browser thread that wakes up is placed on a core running only the worker and runs at once.
    """
    if niceness == 0:  # asked for the server's priority (CONVLAB_TRAINING_NICENESS=0)
        return
    os.nice(niceness)
    try:
        Path("/proc/self/autogroup").write_text(str(niceness))
    except OSError:  # no autogroups here (or not Linux): os.nice alone decides
        pass
    try:  # and Linux's idle class: a CPU running only this counts as free for a thread that wakes up
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # before TensorFlow starts its threads
    except (AttributeError, OSError):
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
