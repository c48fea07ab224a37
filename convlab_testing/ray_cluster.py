"""A throwaway local Ray cluster (``ray start --head``) on a free loopback port, for tests and the benchmark.

``ray start --head --block`` runs in its own process group, so stopping it (SIGTERM to the
group, then SIGKILL: ``live_app.stop_process``) stops Ray's GCS, raylet and workers with it.
It asks for more logical CPUs than this 2-core machine has, so that two trainings of 2 CPUs
each can be seen running at the same time; the dashboard is off and the object store small.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from .live_app import child_env, free_port, popen, port_answers, stop_process

START_TIMEOUT = 60  # s: the head starts in about 3 s here; a busy machine gets slack
OBJECT_STORE_BYTES = 200_000_000  # a few trained models' files pass through it at a time


class RayClusterError(RuntimeError):
    """``ray start`` exited or never opened its port; the message ends with its log."""


@contextlib.contextmanager
def local_ray_cluster(cpus: int = 4) -> Iterator[str]:
    """Start a head node with ``cpus`` logical CPUs; yield its address (``127.0.0.1:PORT``); stop it."""
    ray = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="convlab-ray-test-"))
    log = folder / "ray.log"
    process = popen(
        [
            ray,
            "start",
            "--head",
            f"--port={port}",
            "--node-ip-address=127.0.0.1",
            f"--num-cpus={cpus}",
            "--num-gpus=0",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--object-store-memory={OBJECT_STORE_BYTES}",
            "--block",
        ],
        log_path=log,
        env=child_env(RAY_USAGE_STATS_ENABLED="0"),
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not port_answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RayClusterError(f"ray start --head did not come up on port {port}:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        # A head node drains for up to 30 s on SIGTERM; a throwaway one is killed after a short grace.
        stop_process(process, grace=3)
        shutil.rmtree(folder, ignore_errors=True)
