"""Helpers for the real-browser tests: a Streamlit server in a subprocess, Chromium, and waits.

The browser is Debian's Chromium driven by Playwright's sync API; Playwright's own browser
download needs the internet, so it is never used (no ``playwright install``).
"""

from __future__ import annotations

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

import pytest

REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = REPO / "artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
VIEWPORT = {"width": 1400, "height": 1100}
SERVER_START_TIMEOUT = 90  # s, until /_stcore/health answers "ok"
SERVER_STOP_TIMEOUT = 10  # s, after SIGTERM before SIGKILL
PAGE_READY_TIMEOUT = 90_000  # ms: the first session imports TensorFlow and loads the models
ACTION_TIMEOUT = 30_000  # ms, Playwright's default for every other wait


def require_chromium() -> None:
    """Fail (never skip) when Debian's Chromium is missing, saying how to get it."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"The browser tests need Debian's Chromium at {CHROMIUM}, which is missing. Install it with "
            "`sudo apt-get install chromium fonts-noto-color-emoji` (`.ci/run` does this). "
            "Don't run `playwright install`: it downloads a browser from the internet.",
            pytrace=False,
        )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StreamlitServer:
    """``streamlit run app.py`` from the repo root on a free localhost port, logging to a file.

    ``models_dir``: the model folder it serves (a copy of the shipped models, so a lab training
    in a test never lands in the repo's models/); None for the repo's own.
    """

    def __init__(self, log_path: Path, app: str = "app.py", models_dir: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.app = app
        self.models_dir = models_dir
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        env.pop("CONVLAB_MODELS_DIR", None)  # the shipped models, as the AppTest tests use
        if self.models_dir is not None:
            env["CONVLAB_MODELS_DIR"] = str(self.models_dir)
        command = [
            sys.executable, "-m", "streamlit", "run", self.app,
            "--server.port", str(self.port), "--server.address", "127.0.0.1", "--server.headless", "true",
            # No reruns or file-watching threads if someone edits the source while the tests run.
            "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false",
        ]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group, so teardown can kill all of it
            )
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        health = f"{self.url}/_stcore/health"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                pytest.fail(f"streamlit exited with code {self.process.returncode} before answering "
                            f"{health}.\n--- server log ---\n{self.log_text()}", pytrace=False)
            try:
                with urllib.request.urlopen(health, timeout=2) as response:
                    if response.read().decode().strip() == "ok":
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.25)
        self.stop()
        pytest.fail(f"{health} did not answer 'ok' within {SERVER_START_TIMEOUT} s.\n"
                    f"--- server log ---\n{self.log_text()}", pytrace=False)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL for the whole process group if it is still there after 10 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=SERVER_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=SERVER_STOP_TIMEOUT)

    def log_text(self) -> str:
        """The server's output so far, without the colour codes of Streamlit's tracebacks."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return _ANSI.sub("", text)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


# -- reading the page -------------------------------------------------------------------------
# Charts are named by their element's key class. A chart's plotly div is in the main document
# (st.plotly_chart) or, for the journey (app.py's live_chart component), inside the element's iframe.
JOURNEY_PLOT = ".st-key-journey_chart"
CURVES_PLOT = ".st-key-curves_chart"
_FIND_PLOT_JS = (
    "(sel => { const box = document.querySelector(sel); if (!box) return null; "
    "const frame = box.querySelector('iframe'); const root = frame ? frame.contentDocument : box; "
    "return root ? root.querySelector('.js-plotly-plot') : null; })"
)


def plot_js(selector: str) -> str:
    """A JavaScript expression for the plotly div of the chart ``selector`` (null until it exists)."""
    return f"{_FIND_PLOT_JS}({json.dumps(selector)})"


def plot_data(page, selector: str = JOURNEY_PLOT) -> list[dict]:
    """The traces plotly drew in ``selector`` (name, z, ...), read from the div plotly attaches them to."""
    return page.evaluate(
        f"() => {{ const div = {plot_js(selector)}; return div && div.data ? "
        "div.data.map(t => ({name: t.name, type: t.type, z: t.z || null, y: t.y || null})) : null; }"
    )


def drawn_z(page, selector: str = JOURNEY_PLOT) -> str:
    """Every trace's z as one JSON string: a cheap fingerprint of what the grid shows."""
    return page.evaluate(f"() => JSON.stringify({plot_js(selector)}.data.map(t => t.z))")


def slider(page, key: str):
    """The thumb of the slider with widget key ``key`` (role=slider: an <input type=range>)."""
    return page.locator(f".st-key-{key}").get_by_role("slider")


# aria-valuenow when the thumb carries it; an <input type=range> has it implicitly, as its value.
_SLIDER_VALUE_JS = "e => Number(e.getAttribute('aria-valuenow') ?? e.value)"


def slider_value(page, key: str) -> int:
    """The value of slider ``key``, or of number box ``key`` (the journey's images)."""
    control = page.locator(f".st-key-{key} input[type=range], .st-key-{key} [role=slider], "
                           f".st-key-{key} input[type=number]").first
    return control.evaluate(_SLIDER_VALUE_JS)


def radio_value(page, key: str) -> str:
    return page.locator(f".st-key-{key} input[type=radio]:checked").evaluate("e => e.value")


def wait_until(page, script: str, arg=None, *, what: str, timeout: float = ACTION_TIMEOUT):
    """page.wait_for_function with a readable failure (and a screenshot of what the page showed)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        return page.wait_for_function(script, arg=arg, timeout=timeout, polling=100)
    except PlaywrightTimeout:
        path = save_screenshot(page, "failed-" + re.sub(r"\W+", "-", what)[:60])
        raise AssertionError(f"timed out after {timeout / 1000:.0f} s waiting until {what} (screenshot: {path})")


def wait_for_sliders(page, expected: dict[str, int], *, what: str) -> None:
    wait_until(
        page,
        "expected => Object.entries(expected).every(([key, value]) => { "
        "const e = document.querySelector(`.st-key-${key} input[type=range], .st-key-${key} [role=slider], "
        ".st-key-${key} input[type=number]`); "
        "return e && Number(e.getAttribute('aria-valuenow') ?? e.value) === value; })",
        expected, what=what,
    )


def wait_idle(page, timeout: float = ACTION_TIMEOUT) -> None:
    """Connected, no script (or fragment) running, nothing greyed out as stale."""
    wait_until(
        page,
        "() => !!document.querySelector('[data-testid=stApp][data-test-connection-state=CONNECTED]"
        "[data-test-script-state=notRunning]') && !document.querySelector('[data-stale=true]')",
        what="the app is idle (script not running, no stale elements)", timeout=timeout,
    )


def exception_texts(page) -> list[str]:
    """What Streamlit shows for errors: exception boxes, and any alert mentioning a traceback."""
    boxes = page.locator('[data-testid="stException"]').all_inner_texts()
    alerts = [t for t in page.locator('[data-testid="stAlertContainer"]').all_inner_texts() if "Traceback" in t]
    return boxes + alerts


def save_screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    # full_page: Streamlit scrolls inside its own container, so this is the whole viewport.
    page.screenshot(path=str(path), full_page=True)
    return path


def journey_ready_js(traces: int) -> str:
    return f"() => {{ const d = {plot_js(JOURNEY_PLOT)}; return !!(d && d.data && d.data.length === {traces}); }}"


# The first page load ends with the journey drawn, or with an error box (so a broken app fails
# in seconds, not after the 90 s timeout).
_DRAWN_OR_ERROR_JS = (
    "traces => { const d = " + plot_js(JOURNEY_PLOT) + "; "
    "return !!(d && d.data && d.data.length === traces) || "
    "!!document.querySelector('[data-testid=stException], [data-testid=stAlertContentError]'); }"
)


@contextlib.contextmanager
def open_app(browser, server: StreamlitServer, *, journey_traces: int = 15, query: str = "",
             viewport: dict | None = None):
    """A fresh page (a new Streamlit session, default state or ``query``'s) with the journey and label table drawn.

    On the way out it checks the server printed no traceback meanwhile; if the test failed, it
    saves a screenshot of the page as ``artifacts/screenshots/failed-<test>.png``.
    """
    require_chromium()
    log_start = len(server.log_text())
    context = browser.new_context(viewport=viewport or VIEWPORT)
    context.set_default_timeout(ACTION_TIMEOUT)
    page = context.new_page()
    try:
        page.goto(server.url + query, wait_until="domcontentloaded")
        wait_until(page, _DRAWN_OR_ERROR_JS, journey_traces, what="the journey chart is drawn",
                   timeout=PAGE_READY_TIMEOUT)
        errors = page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]').all_inner_texts()
        assert not errors, (f"the page shows an error: {errors}\n"
                            f"--- server log (the page redacts details) ---\n{server.log_text()[log_start:][-6000:]}")
        wait_until(page, journey_ready_js(journey_traces), what="the journey chart is drawn")
        page.locator(".st-key-label_table canvas").first.wait_for(state="visible")
        wait_idle(page)
        yield page
        new_log = server.log_text()[log_start:]
        assert "Traceback" not in new_log, f"the server printed a traceback:\n{new_log}"
    except BaseException:
        test = os.environ.get("PYTEST_CURRENT_TEST", "test").split(" ")[0].split("::")[-1]
        with contextlib.suppress(Exception):
            save_screenshot(page, f"failed-{test}")
        raise
    finally:
        context.close()
