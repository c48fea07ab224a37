"""The class feed: a teacher's changes pushed to every follower's open connection, none polling a script.

Followers used to rerun their page on the server twice a second to ask for news, one Python
process serialising hundreds of reruns. Now each follower's page holds one connection (the
server-sent events of ``ui/feed.py``), and this module, one per server process, watches the
classes that have followers: a change published on this server wakes them at once
(:meth:`ClassFeed.notify`), and every :data:`POLL_SECONDS` one cheap ``version`` call per watched
class catches a change published on another server that shares the store (Redis), whatever the
number of followers. Each change is read once per server and written to every open connection.

The feed runs on the server's event loop; the store's calls (a lock, or a Redis round trip that
may time out) run in a worker thread so a slow store never stalls the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from .classroom import ClassError, ClassState, ClassStore, StoreUnavailable, valid_code

POLL_SECONDS = 0.1  # another server's change reaches this one's followers within this (plus a read)
PING_SECONDS = 15.0  # a comment line on a quiet connection, so proxies and browsers keep it open
GONE = "gone"  # what follow() yields when the class has ended
PING = "ping"  # ... and when nothing happened for PING_SECONDS


@dataclass
class _Channel:
    """One watched class: its newest state and the followers waiting for the next one."""

    state: ClassState | None = None
    gone: bool = False
    listeners: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def publish(self, state: ClassState | None) -> None:
        """A new state (None: the class is gone): wake everyone waiting, and give later waiters a fresh event."""
        if state is None:
            self.gone = True
        else:
            self.state = state
        woken, self.changed = self.changed, asyncio.Event()
        woken.set()


class ClassFeed:
    """The classes this server's followers watch; ``store`` is called for the store (it may change)."""

    def __init__(
        self, store: Callable[[], ClassStore], *, poll_seconds: float = POLL_SECONDS, ping_seconds: float = PING_SECONDS
    ) -> None:
        self._store = store
        self.poll_seconds = poll_seconds
        self.ping_seconds = ping_seconds
        self._channels: dict[str, _Channel] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watcher: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None
        self._lock = threading.Lock()  # guards _loop, read from the script threads in notify()

    # -- what the server's route calls ------------------------------------------------------------
    async def follow(self, code: str) -> AsyncIterator[ClassState | str]:
        """The class's state now, then each newer one as it happens; PING on a quiet spell, GONE at the end.

        ClassError at once for a malformed code or a class that doesn't exist; StoreUnavailable
        when the store can't be reached to begin with.
        """
        code = valid_code(code)
        state = await asyncio.to_thread(self._store().read, code)
        self._start_watching()
        channel = self._channels.setdefault(code, _Channel())
        if channel.state is None or channel.state.version < state.version:
            channel.state, channel.gone = state, False
        channel.listeners += 1
        try:
            sent = None
            while True:
                if channel.gone:
                    yield GONE
                    return
                if channel.state is not None and (sent is None or channel.state.version > sent):
                    sent = channel.state.version
                    yield channel.state
                    continue
                waiting = channel.changed
                try:
                    await asyncio.wait_for(waiting.wait(), self.ping_seconds)
                except TimeoutError:
                    yield PING
        finally:
            channel.listeners -= 1
            if channel.listeners == 0 and self._channels.get(code) is channel:
                del self._channels[code]  # nobody watches it here: memory stays with the followers

    def notify(self, code: str) -> None:
        """A class changed on this server (any thread): look at once instead of at the next poll."""
        with self._lock:
            loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and code in self._channels:
            with contextlib.suppress(RuntimeError):  # the loop closed: the server is stopping
                loop.call_soon_threadsafe(wake.set)

    def watched(self) -> dict[str, int]:
        """Each watched class's number of open connections on this server (for the page and the tests)."""
        return {code: channel.listeners for code, channel in self._channels.items()}

    # -- the watcher ------------------------------------------------------------------------------
    def _start_watching(self) -> None:
        if self._watcher is not None and not self._watcher.done():
            return
        with self._lock:
            self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        self._watcher = asyncio.get_running_loop().create_task(self._watch(), name="convlab-class-feed")

    async def _watch(self) -> None:
        """Every poll_seconds (or at once when notified), each watched class's version; a newer one is read."""
        while self._channels:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            self._wake.clear()
            for code, channel in list(self._channels.items()):
                try:
                    await self._check(code, channel)
                except StoreUnavailable:
                    continue  # the store is back soon or the page says so; followers keep what they have
        self._watcher = None

    async def _check(self, code: str, channel: _Channel) -> None:
        store = self._store()
        try:
            version = await asyncio.to_thread(store.version, code)
            if channel.state is not None and version <= channel.state.version:
                return
            state = await asyncio.to_thread(store.read, code)
        except ClassError:
            channel.publish(None)
            return
        channel.publish(state)
