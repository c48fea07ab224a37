"""Work in daemon threads that the process waits for on its way out.

Background work (the test set through a model, the tour's filters) runs in daemon threads, so it
never keeps a server from stopping. But TensorFlow aborts the whole process ("terminate called
after throwing an instance of …", exit code 134) when the interpreter shuts down while a daemon
thread is inside one of its ops. So ``start`` keeps each thread it starts, and at exit (``atexit``
runs before daemon threads are stopped) ``stopping`` is set, long work stops at its next check
(``convlab.testset.compute`` between batches), and each thread is waited for.

Background work that runs TensorFlow holds ``heavy`` meanwhile, so such work goes one piece at a
time: on 2 cores, a pass over the test set and the tour's filters at once took 3.8 s, one after
the other 1.8 s. (The sessions' own work never waits for it; it only shares the cores.) Work that
waits for other background work must not hold ``heavy`` while it waits.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable

EXIT_WAIT = 30.0  # seconds the process waits, at most, for its background threads at exit

stopping = threading.Event()  # set at exit: long work returns (or raises Stopped) at its next check
heavy = threading.Lock()  # held by background work while it runs TensorFlow: one piece at a time
_threads: set[threading.Thread] = set()
_guard = threading.Lock()


class Stopped(RuntimeError):
    """The process is exiting: the work was left unfinished."""


def start(target: Callable, *args, name: str) -> threading.Thread:
    """``target(*args)`` in a new daemon thread, waited for at exit."""
    thread = threading.Thread(target=_run, args=(target, args), name=name, daemon=True)
    with _guard:  # started inside the guard: stop_all never sees (and joins) a thread not yet started
        _threads.add(thread)
        thread.start()
    return thread


def check() -> None:
    """Raise Stopped if the process is exiting (long work calls this between its steps)."""
    if stopping.is_set():
        raise Stopped("the process is exiting")


def _run(target: Callable, args: tuple) -> None:
    try:
        target(*args)
    except Stopped:  # the process is exiting: unfinished work is simply left (nothing was half-written)
        pass
    finally:
        with _guard:
            _threads.discard(threading.current_thread())


def stop_all(timeout: float = EXIT_WAIT) -> None:
    """Stop all background work and wait for it, ``timeout`` seconds at most in all (at exit). ``stopping`` stays
    set; a process that goes on clears it, and work asked for later starts afresh (the tests, after each test)."""
    stopping.set()
    with _guard:
        threads = list(_threads)
    for thread in threads:
        thread.join(timeout / max(len(threads), 1))


atexit.register(stop_all)
