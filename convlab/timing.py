"""A benchmark hook: how long the app's script and fragment runs take, measured from inside.

With ``$CONVLAB_TIMINGS`` set to a file path, ``timed(name)`` appends one JSON line per run
(``{"name": ..., "seconds": ..., "end": ...}``) to it; otherwise it does nothing and costs
nothing. ``bench/`` sets it to time reruns in the real server while a browser drives the page.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time

_write_lock = threading.Lock()


@contextlib.contextmanager
def timed(name: str):
    path = os.environ.get("CONVLAB_TIMINGS")
    if not path:
        yield
        return
    started = time.perf_counter()
    try:
        yield
    finally:
        record = {"name": name, "seconds": time.perf_counter() - started, "end": time.time()}
        with _write_lock, open(path, "a") as file:  # one line per write: readers never see half a record
            file.write(json.dumps(record) + "\n")
