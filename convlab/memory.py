"""A long-running server's memory kept flat: glibc's allocator told to hand freed large blocks back.

A server that runs each page in a thread of its own (Streamlit) and frees large buffers again and again
(cached maps evicted, a run's arrays) lets glibc keep freed memory in its per-thread arenas, so the
process's resident size creeps for an hour though Python holds no more (docs/performance.md, "Soak").
Two of glibc's own settings prevent it:

* ``mallopt(M_MMAP_THRESHOLD)``: blocks of ``MMAP_THRESHOLD`` or more are always mapped on their own and
  unmapped when freed. By default glibc raises that threshold after each such free (up to 32 MB on 64-bit),
  which sends later large blocks into the arenas, where they stay as holes;
* ``malloc_trim(0)`` every ``TRIM_EVERY`` seconds: the arenas' free pages go back to the system.

Elsewhere (macOS, musl, Windows) both are left alone and nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import threading

from . import background

MMAP_THRESHOLD = 256 * 1024  # bytes: a cached set of maps is above it, Python's small objects far below
TRIM_EVERY = 60.0  # seconds between two trims (each takes a few milliseconds)
_M_MMAP_THRESHOLD = -3  # glibc's malloc.h
TRIM_THREAD = "convlab-memory-trim"
_guard = threading.Lock()
_trimmer = None  # the trimming thread: one per process (started again if background work was stopped)


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The C library if it is glibc (it has ``mallopt`` and ``malloc_trim``), else None."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    if not (hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") and hasattr(libc, "gnu_get_libc_version")):
        return None
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.malloc_trim.argtypes = [ctypes.c_size_t]
    return libc


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD) -> bool:
    """Blocks of ``threshold`` bytes or more mapped on their own from now on; True when glibc took it."""
    if threshold <= 0:
        raise ValueError(f"threshold must be a positive number of bytes, not {threshold}")
    libc = _glibc()
    return libc is not None and libc.mallopt(_M_MMAP_THRESHOLD, threshold) == 1


def trim() -> bool:
    """Hand the arenas' free pages back to the system now; True if glibc released any."""
    libc = _glibc()
    return libc is not None and libc.malloc_trim(0) == 1


def keep_flat(every: float = TRIM_EVERY) -> bool:
    """Both settings, for the rest of the process's life; False where the C library isn't glibc. Called again
    (Streamlit's resource cache cleared, another test's app), it starts no second trimming thread."""
    global _trimmer
    if every <= 0:
        raise ValueError(f"every must be a positive number of seconds, not {every}")
    if not fix_mmap_threshold():
        return False
    with _guard:
        if _trimmer is None or not _trimmer.is_alive():
            _trimmer = background.start(_trim_every, every, name=TRIM_THREAD)
    return True


def _trim_every(every: float) -> None:
    while not background.stopping.wait(every):
        trim()
