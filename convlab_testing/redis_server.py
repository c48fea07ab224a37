"""A throwaway ``redis-server`` on a free loopback port, for tests of classes shared across servers.

Shared by the class-store tests (``tests/test_classroom.py``) and the browser tests that run
several app servers against one Redis. It imports neither redis-py nor pytest: readiness is a
raw ``PING`` on the socket, and failures are :class:`RedisMissing` or :class:`RedisServerError`
for the caller to turn into a failed test.

The server keeps nothing on disk (``--save "" --appendonly no``, its working folder a temporary
one), unless asked to keep an append-only file (``persist=True``: what a lecture hall's Redis runs
with, so its classes survive a restart, :meth:`RedisServer.restart`). It is stopped on exit, whatever
happens: SIGTERM, then SIGKILL (``throwaway.ThrowawayServer``).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
from collections.abc import Iterator

from .live_app import free_port
from .throwaway import ThrowawayServer

MISSING_SERVER = (
    "redis-server is not installed, and the Redis tests start one of their own. "
    "Install it with `sudo apt-get install redis-server` (what `.ci/run` does)."
)


class RedisMissing(RuntimeError):
    """No ``redis-server`` on the PATH (the message says how to install it)."""


class RedisServerError(RuntimeError):
    """The server exited, or did not answer PING in time; the message ends with its log."""


def find_redis_server() -> str:
    path = shutil.which("redis-server")
    if path is None:
        raise RedisMissing(MISSING_SERVER)
    return path


def answers_ping(port: int) -> bool:
    """True once a Redis on ``port`` answers an inline ``PING`` with ``+PONG``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer(ThrowawayServer):
    """``redis-server`` on a free port of 127.0.0.1, nothing saved, logging to a temporary folder.

    :meth:`start` waits until it answers PING; :meth:`stop` may be called early (a test of a
    Redis that dies mid-class) and again later. As a context manager it starts and stops it.
    """

    error = RedisServerError

    def __init__(self, persist: bool = False) -> None:
        super().__init__("convlab-redis-", "redis.log")
        self.persist = persist  # an append-only file, written at every change (appendfsync always)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.what = f"redis-server answering PING on port {self.port}"

    def command(self) -> list[str]:
        return [
            find_redis_server(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            # A test's data dies with the server (no RDB snapshot, no append-only file), unless it persists.
            "--save",
            "",
            "--appendonly",
            "yes" if self.persist else "no",
            *(["--appendfsync", "always"] if self.persist else []),
            "--dir",
            str(self.folder),
        ]

    def ready(self) -> bool:
        return answers_ping(self.port)

    def restart(self) -> None:
        """Stop it and start it again on the same port and folder (with ``persist``, its data comes back)."""
        self.stop()
        self.start()


@contextlib.contextmanager
def redis_server(persist: bool = False) -> Iterator[RedisServer]:
    """A started :class:`RedisServer` (``.url``, ``.port``, ``.stop()``, ``.restart()``), stopped on the way out."""
    with RedisServer(persist) as server:
        yield server
