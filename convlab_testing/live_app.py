"""The app as people use it: ``streamlit run`` on a free loopback port, and a Chromium to drive it.

Shared by the real-browser tests (``tests/browser_support.py``) and the benchmark
(``bench/common.py``). It imports neither the app, TensorFlow, pytest nor Playwright: callers
bring Playwright (its sync or its async API) and turn the exceptions raised here
(:class:`ServerError`, :class:`BrowserMissing`) into a failed test or a failed benchmark phase.

The browser is Debian's Chromium when it is installed, else the one that
``python -m playwright install chromium`` put in Playwright's cache (:func:`find_chromium`). The
tests ask for Debian's headless shell of the same Chromium when it is there, as Playwright itself
runs headless tests; the benchmark times the full browser a person uses.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VIEWPORT = {"width": 1400, "height": 1100}

# -- Chromium --------------------------------------------------------------------------------
DEBIAN_CHROMIUM = Path("/usr/bin/chromium")
# The same Chromium built for headless use only (Playwright's choice for headless runs): the same Blink and
# V8 without the full browser's UI layer, about a fifth less of the CPU in the browser tests.
DEBIAN_HEADLESS_SHELL = Path("/usr/bin/chromium-headless-shell")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MISSING_BROWSER = (
    f"Neither Debian's Chromium ({DEBIAN_CHROMIUM}) nor Playwright's own is installed. "
    "Install one with `sudo apt-get install chromium fonts-noto-color-emoji` (what `.ci/run` does) "
    "or with `python -m playwright install chromium` (a download from the internet)."
)


class BrowserMissing(RuntimeError):
    """Neither Debian's Chromium nor Playwright's is installed (the message says how to get one)."""


def find_chromium(playwright=None, *, headless_shell: bool = False) -> str | None:
    """The Chromium to launch: Debian's when present, else Playwright's download; None with neither.

    ``playwright``: a started Playwright (sync or async API), asked where its own Chromium is.
    Without one, a sync Playwright is started just for that question, so don't call it so from
    inside a running event loop. ``headless_shell``: Debian's headless shell first, when installed.
    """
    if headless_shell and DEBIAN_HEADLESS_SHELL.exists():
        return str(DEBIAN_HEADLESS_SHELL)
    if DEBIAN_CHROMIUM.exists():
        return str(DEBIAN_CHROMIUM)
    if playwright is None:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as started:
            return find_chromium(started)
    path = playwright.chromium.executable_path  # where `playwright install chromium` puts it, there or not
    return path if path and Path(path).exists() else None


def launch_chromium(playwright, *, headless_shell: bool = False, **options):
    """``playwright.chromium.launch`` of :func:`find_chromium`'s browser, with :data:`CHROMIUM_ARGS`.

    With the sync API this returns the Browser; with the async API, a coroutine to await.
    ``options`` go to ``launch`` (``headless=False`` to watch, never with ``headless_shell``).
    Raises BrowserMissing.
    """
    path = find_chromium(playwright, headless_shell=headless_shell and options.get("headless", True))
    if path is None:
        raise BrowserMissing(MISSING_BROWSER)
    return playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, **options)


# -- child processes: each one started here is stopped on exit, whatever happens ------------
CHILDREN: list[subprocess.Popen] = []


def popen(command: list[str], *, log_path: Path, env: dict | None = None) -> subprocess.Popen:
    """Start a child from the repo root in its own process group (so stopping it stops its
    children too), its output going to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    CHILDREN.append(process)
    return process


def stop_process(process: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM to the child's process group, SIGKILL after ``grace`` seconds."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=grace)


def stop_all_children() -> None:
    for process in list(CHILDREN):
        with contextlib.suppress(Exception):
            stop_process(process)


atexit.register(stop_all_children)


def child_env(**extra: str) -> dict:
    """This process's environment for a child: TensorFlow's info logs off, and the shipped models
    in models/ unless ``extra`` names another folder (``CONVLAB_MODELS_DIR``)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("CONVLAB_MODELS_DIR", None)
    return {**env, **extra}


# -- the app server --------------------------------------------------------------------------
SERVER_START_TIMEOUT = 90  # s: the server's imports on a busy machine
SERVER_STOP_TIMEOUT = 10  # s after SIGTERM before SIGKILL


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_answers(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def health_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.read().decode().strip() == "ok"
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def wait_started(
    process: subprocess.Popen, ready, *, what: str, timeout: float, log_text, stop, error: type[Exception]
) -> None:
    """Until ``ready()`` (every 20 ms): a throwaway server (Redis, nginx) has started. ``error`` with
    its log if it exits first, or after ``stop()`` when ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None:
            raise error(f"{what}: it exited with code {process.returncode} first.\n--- its log ---\n{log_text()}")
        if time.monotonic() > deadline:
            stop()
            raise error(f"{what}: not within {timeout:.0f} s.\n--- its log ---\n{log_text()}")
        time.sleep(0.02)


class ServerError(RuntimeError):
    """The server exited, or did not get ready in time; the message ends with its log."""


class StreamlitServer:
    """``streamlit run APP`` from the repo root on a free loopback port, logging to ``log_path``.

    ``app``: the script served (an experiment may serve a wrapper of app.py). ``models_dir``: the
    model folder it serves (``$CONVLAB_MODELS_DIR``; None for the shipped models in models/).
    ``address``: the address it listens on (loopback unless a test needs the machine's network
    address in a link). ``timings_path``: where the app's timing hook (``$CONVLAB_TIMINGS``) writes one JSON line per
    script or fragment run, read back by :meth:`timings` (None: no timings). ``env``: more
    environment variables for the app (say ``CONVLAB_REDIS_URL``).

    :meth:`start` returns at once (``started_at`` is perf_counter() just before the Popen), so a
    caller can time the start-up; :meth:`wait_port` or :meth:`wait_healthy` then waits. As a
    context manager it starts, waits until healthy, and stops on the way out.
    """

    def __init__(
        self,
        log_path: Path,
        *,
        app: str = "app.py",
        models_dir: Path | None = None,
        timings_path: Path | None = None,
        env: dict[str, str] | None = None,
        address: str = "127.0.0.1",
    ) -> None:
        self.port = free_port()
        self.address = address  # "0.0.0.0": as a teacher's laptop serves a room (tests still connect on loopback)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_path)
        self.app = app
        self.models_dir = models_dir
        self.timings_path = timings_path
        self.env = dict(env or {})
        self.process: subprocess.Popen | None = None
        self.started_at: float | None = None

    def start(self) -> None:
        extra = dict(self.env)
        if self.models_dir is not None:
            extra["CONVLAB_MODELS_DIR"] = str(self.models_dir)
        if self.timings_path is not None:
            self.timings_path.parent.mkdir(parents=True, exist_ok=True)
            self.timings_path.unlink(missing_ok=True)
            extra["CONVLAB_TIMINGS"] = str(self.timings_path)
        command = [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            self.app,
            "--server.port",
            str(self.port),
            "--server.address",
            self.address,
            "--server.headless",
            "true",
            # No reruns or file-watching threads if someone edits the source meanwhile.
            "--server.fileWatcherType",
            "none",
            "--browser.gatherUsageStats",
            "false",
        ]
        self.started_at = time.perf_counter()
        self.process = popen(command, log_path=self.log_path, env=child_env(**extra))

    def wait_port(self, timeout: float = SERVER_START_TIMEOUT) -> float:
        """Poll the port every 10 ms; returns perf_counter() when it first accepts a connection."""
        return self._wait(lambda: port_answers(self.port), f"port {self.port} accepts connections", timeout, 0.01)

    def wait_healthy(self, timeout: float = SERVER_START_TIMEOUT) -> float:
        """Wait until ``/_stcore/health`` answers "ok"; returns perf_counter() then."""
        return self._wait(lambda: health_ok(self.url), f"{self.url}/_stcore/health answers 'ok'", timeout, 0.25)

    def _wait(self, ready, what: str, timeout: float, poll: float) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(
                    f"streamlit exited with code {self.process.returncode} before {what}."
                    f"\n--- server log ---\n{self.log_text()}"
                )
            if ready():
                return time.perf_counter()
            time.sleep(poll)
        raise ServerError(
            f"timed out after {timeout:.0f} s waiting until {what}.\n--- server log ---\n{self.log_text()}"
        )

    def stop(self) -> None:
        """SIGTERM, then SIGKILL for the whole process group if it is still there after a while."""
        if self.process is not None:
            stop_process(self.process, SERVER_STOP_TIMEOUT)

    def __enter__(self) -> StreamlitServer:
        self.start()
        try:
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def log_text(self) -> str:
        """The server's output so far, without the colour codes of Streamlit's tracebacks."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return _ANSI.sub("", text)

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_text()[-chars:]

    def status_kb(self, field: str) -> int:
        """A memory line of /proc/PID/status (VmRSS, VmHWM) in kB, for the streamlit process."""
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise RuntimeError(f"{field} missing from /proc/{self.process.pid}/status")

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far (all its threads)."""
        with open(f"/proc/{self.process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def timings(self) -> list[dict]:
        """The timing hook's records so far (``timings_path``): name, seconds, end (epoch s)."""
        if self.timings_path is None or not self.timings_path.exists():
            return []
        return [json.loads(line) for line in self.timings_path.read_text().splitlines() if line.strip()]


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


# -- reading the page ------------------------------------------------------------------------
# Charts are named by their element's key class. A chart's plotly div is in the page's own document,
# inside that element: st.plotly_chart's, and the app's plotly_react component's (the journey's). Before
# the component moved into the page (st.components.v2) it was in the element's same-origin iframe: the
# benchmarks still measure such a commit as their reference.
JOURNEY_PLOT = ".st-key-journey_chart"
JOURNEY_TRACES = 15  # 3 images x (input + conv1, pool1, conv2, pool2)
_FIND_PLOT_JS = (
    "(sel => { const box = document.querySelector(sel); if (!box) return null; "
    "const frame = box.querySelector('iframe'); const root = frame ? frame.contentDocument : box; "
    "return root ? root.querySelector('.js-plotly-plot') : null; })"
)


def plot_js(selector: str) -> str:
    """A JavaScript expression for the plotly div of the chart ``selector`` (null until it exists)."""
    return f"{_FIND_PLOT_JS}({json.dumps(selector)})"


def journey_ready_js(traces: int = JOURNEY_TRACES) -> str:
    """A JavaScript function: true once the journey's plot holds ``traces`` traces."""
    return f"() => {{ const d = {plot_js(JOURNEY_PLOT)}; return !!(d && d.data && d.data.length === {traces}); }}"


def click_view(page, section: str, title: str) -> None:
    """Open a view as a person does: its section in the top bar's navigation, then its entry."""
    page.locator('[data-testid="stTopNavSection"]', has_text=section).click()
    page.get_by_role("menuitem", name=title).click()


def view_of_url(url: str) -> str:
    """The view's slug an address names: its path (/filters), the journey at the root."""
    from urllib.parse import urlsplit

    return urlsplit(url).path.strip("/") or "journey"


# Connected, no script (or fragment) running, nothing greyed out as stale.
IDLE_JS = (
    "() => !!document.querySelector('[data-testid=stApp][data-test-connection-state=CONNECTED]"
    "[data-test-script-state=notRunning]') && !document.querySelector('[data-stale=true]')"
)
# The page's script runs from now on, counted in window.__runs: each change of Streamlit's script state
# (a run starts, ends), watched over the whole page (the app's element may be drawn anew).
COUNT_RUNS_JS = """() => { window.__runs = 0;
  new MutationObserver((records) => { window.__runs += records.length; })
    .observe(document.body, {attributes: true, subtree: true, attributeFilter: ['data-test-script-state']}); }"""
# What Streamlit shows for an error: an exception box, or an st.error alert.
ERROR_BOXES = "[data-testid=stException], [data-testid=stAlertContentError]"
ERRORS_JS = f"() => [...document.querySelectorAll('{ERROR_BOXES}')].map(e => e.innerText.slice(0, 300))"
