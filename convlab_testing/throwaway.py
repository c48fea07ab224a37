"""A throwaway server process for tests and benchmarks (Redis, nginx): its own temporary folder,
started and waited for until it answers, stopped on the way out whatever happens.

A subclass says what to run (:meth:`ThrowawayServer.command`), how to tell it is ready
(:meth:`ThrowawayServer.ready`) and where its log goes; starting, waiting and stopping are here.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from .live_app import popen, stop_process, wait_started

START_TIMEOUT = 15  # s: Redis and nginx start in milliseconds; a busy machine gets slack
STOP_TIMEOUT = 5  # s after SIGTERM before SIGKILL


class ThrowawayServer:
    """One server process in a temporary folder. As a context manager it starts (waiting until
    :meth:`ready`) and stops it and removes the folder; :meth:`stop` may also be called early, and again."""

    error: type[Exception] = RuntimeError  # what a server that exits or never gets ready raises
    what = "the server"  # what the errors call it

    def __init__(self, folder_prefix: str, log_name: str) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix=folder_prefix))
        self.log_path = self.folder / log_name
        self.process = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, timeout: float = START_TIMEOUT) -> None:
        self.process = popen(self.command(), log_path=self.log_path)
        wait_started(
            self.process,
            self.ready,
            what=self.what,
            timeout=timeout,
            log_text=self.log_text,
            stop=self.stop,
            error=self.error,
        )

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it is still there after a while; a no-op once stopped."""
        if self.process is not None:
            stop_process(self.process, STOP_TIMEOUT)

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
