"""Helpers for the real-browser tests: the server and Chromium for the fixtures, reading the page, waits.

The server and the browser come from ``convlab_testing.live_app`` (shared with the benchmark);
this module turns their errors into test failures (never skips) and adds what the tests read
from the page. The browser is Debian's Chromium, else Playwright's own download, driven by
Playwright's sync API.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path

import pytest

from convlab_testing.live_app import (
    ERROR_BOXES,
    IDLE_JS,
    JOURNEY_PLOT,
    JOURNEY_TRACES,
    MISSING_BROWSER,
    REPO,
    VIEWPORT,
    ServerError,
    StreamlitServer,
    click_view,
    find_chromium,
    journey_ready_js,
    launch_chromium,
    plot_js,
)

SCREENSHOTS = REPO / "artifacts" / "screenshots"
PAGE_READY_TIMEOUT = 90_000  # ms: the first session imports TensorFlow and loads the models
ACTION_TIMEOUT = 30_000  # ms, Playwright's default for every other wait


@contextlib.contextmanager
def served_app(
    log_path: Path, *, models_dir: Path | None = None, env: dict[str, str] | None = None, address: str = "127.0.0.1"
):
    """``streamlit run app.py`` (see StreamlitServer), healthy, stopped (or killed) on the way out.

    If it exits or /_stcore/health doesn't answer "ok" in time, the test fails with its log.
    """
    server = StreamlitServer(log_path, models_dir=models_dir, env=env, address=address)
    try:
        server.start()
        try:
            server.wait_healthy()
        except ServerError as error:
            pytest.fail(str(error), pytrace=False)
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def chromium():
    """One Chromium (Debian's headless shell, else its full browser, else Playwright's), or None when
    none is installed: each test that opens a page then fails saying how to install one (see
    require_browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        if find_chromium(playwright) is None:
            yield None
            return
        browser = launch_chromium(playwright, headless_shell=True)
        try:
            yield browser
        finally:
            browser.close()


def require_browser(browser) -> None:
    """Fail (never skip) when there is no browser, saying how to get one."""
    if browser is None:
        pytest.fail(f"The browser tests need Chromium. {MISSING_BROWSER}", pytrace=False)


# -- reading the page (the journey's plot and plot_js: convlab_testing.live_app) ----------------
CURVES_PLOT = ".st-key-curves_chart"


def plot_data(page, selector: str = JOURNEY_PLOT) -> list[dict]:
    """The traces plotly drew in ``selector`` (name, z, ...), read from the div plotly attaches them to."""
    return page.evaluate(
        f"() => {{ const div = {plot_js(selector)}; return div && div.data ? "
        "div.data.map(t => ({name: t.name, type: t.type, z: t.z || null, y: t.y || null})) : null; }"
    )


def drawn_z(page, selector: str = JOURNEY_PLOT) -> str:
    """Every trace's z as one JSON string: a cheap fingerprint of what the grid shows."""
    return page.evaluate(f"() => JSON.stringify({plot_js(selector)}.data.map(t => t.z))")


JOURNEY_FILTER = "filter"  # the journey's filter slider: the chart's own, in its component's element


def slider(page, key: str):
    """The thumb of the slider with widget key ``key`` (role=slider: an <input type=range>); for
    "filter", the journey chart's own filter slider."""
    if key == JOURNEY_FILTER:
        return page.locator(".st-key-journey_chart .cl-filter")
    return page.locator(f".st-key-{key}").get_by_role("slider")


# aria-valuenow when the thumb carries it; an <input type=range> has it implicitly, as its value.
_SLIDER_VALUE_JS = "e => Number(e.getAttribute('aria-valuenow') ?? e.value)"


def build_one_block_of_16(page) -> None:
    """In the lab's builder: one conv block, its filters stepped down from 64 to 16."""
    page.locator(".st-key-lab_blocks").get_by_text("1", exact=True).click()
    wait_idle(page)
    page.locator(".st-key-lab_filters_0").get_by_role("slider").focus()
    for _ in range(2):
        page.keyboard.press("ArrowLeft")  # 64 → 32 → 16 filters
    wait_idle(page)


def slider_value(page, key: str) -> int:
    """The value of slider ``key``, or of number box ``key`` (the journey's images)."""
    if key == JOURNEY_FILTER:
        return slider(page, key).evaluate(_SLIDER_VALUE_JS)
    control = page.locator(
        f".st-key-{key} input[type=range], .st-key-{key} [role=slider], .st-key-{key} input[type=number]"
    ).first
    return control.evaluate(_SLIDER_VALUE_JS)


# The journey's filter as the chart's slider shows it, the maps it draws, and the page's own (its box).
JOURNEY_FILTER_JS = (
    "() => { const d = document.querySelector('.st-key-journey_chart'); "
    "const c = d && d.querySelector('.cl-filter'); "
    "const box = document.querySelector('.st-key-filter_box input'); "
    "return c ? {control: Number(c.value), drawn: Number(d.querySelector('.cl-chart').dataset.filter), "
    "exact: d.querySelector('.cl-chart').dataset.exact === 'yes', page: box ? Number(box.value) : null} : null; }"
)


def journey_filter(page) -> dict | None:
    """{control, drawn, exact, page}: the chart's slider, the filter its maps are of (exact: the
    page's own figure), and the page's filter (the box); None before the chart is there."""
    return page.evaluate(JOURNEY_FILTER_JS)


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
    """Until every slider or box ``key`` reads its value; for "filter", until the journey's chart shows
    that filter's own figure and the page has learnt it too."""
    wait_until(
        page,
        "expected => Object.entries(expected).every(([key, value]) => { "
        f"if (key === '{JOURNEY_FILTER}') {{ const j = ({JOURNEY_FILTER_JS})(); "
        "return j && j.control === value && j.drawn === value && j.exact && j.page === value; } "
        "const e = document.querySelector(`.st-key-${key} input[type=range], .st-key-${key} [role=slider], "
        ".st-key-${key} input[type=number]`); "
        "return e && Number(e.getAttribute('aria-valuenow') ?? e.value) === value; })",
        expected,
        what=what,
    )


def wait_idle(page, timeout: float = ACTION_TIMEOUT) -> None:
    """Connected, no script (or fragment) running, nothing greyed out as stale."""
    wait_until(page, IDLE_JS, what="the app is idle (script not running, no stale elements)", timeout=timeout)


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


# The first page load ends with the journey drawn, or with an error box (so a broken app fails
# in seconds, not after the 90 s timeout).
_DRAWN_OR_ERROR_JS = (
    "traces => { const d = " + plot_js(JOURNEY_PLOT) + "; "
    "return !!(d && d.data && d.data.length === traces) || "
    f"!!document.querySelector('{ERROR_BOXES}'); }}"
)


# Everything on the page and in its frames, counted: the same twice in a row is a page drawn.
_SIZE_JS = """() => [document, ...[...document.querySelectorAll('iframe')].map(f => {
  try { return f.contentDocument; } catch (e) { return null; } })].filter(d => d && d.body)
  .map(d => d.getElementsByTagName('*').length + '/' + [...d.querySelectorAll('.js-plotly-plot')]
  .map(p => (p.data || []).length).join(',')).join(' ')"""


def wait_drawn(page, timeout: float = ACTION_TIMEOUT) -> None:
    """Wait until the page is idle and nothing on it or in its frames still changes (charts drawn)."""
    deadline, last = time.monotonic() + timeout / 1000, None
    while time.monotonic() < deadline:
        page.wait_for_timeout(250)
        now = page.evaluate(_SIZE_JS) if page.evaluate(IDLE_JS) else None
        if now is not None and now == last:
            return
        last = now


def open_view(page, slug: str) -> None:
    """Open view ``slug`` through the top bar's navigation, and wait until the address names it
    (it does as soon as the view shows, before a first visit's last part is computed)."""
    from ui.navigation import SECTIONS
    from ui.state import TITLES

    click_view(page, next(section for section, slugs in SECTIONS.items() if slug in slugs), TITLES[slug])
    wait_until(
        page,
        "slug => (location.pathname.replace(/^\\/+|\\/+$/g, '') || 'journey') === slug",
        slug,
        what=f"the address names /{slug}",
    )


class HeldSocket:
    """A page's Streamlit socket relayed (Playwright's ``route_web_socket``): what the server sends the
    page can be held (``hold``), then let through in order (``release``), as a slow page would take it."""

    def __init__(self):
        self.held: list = []
        self.holding = False
        self.sockets: list = []

    def install(self, page) -> None:
        """Before the page opens its socket (before ``goto``)."""
        page.route_web_socket(lambda url: url.endswith("/_stcore/stream"), self._through)

    def _through(self, ws) -> None:
        server = ws.connect_to_server()
        server.on_message(lambda message: self.held.append(message) if self.holding else ws.send(message))
        ws.on_message(server.send)
        self.sockets.append(ws)

    def hold(self) -> None:
        self.holding = True

    def release(self) -> int:
        """Sends what was held, in order (a message arriving meanwhile joins the end); how many."""
        count = len(self.held)
        while self.held:
            self.sockets[-1].send(self.held.pop(0))
        self.holding = False
        return count


@contextlib.contextmanager
def open_app(
    browser,
    server: StreamlitServer,
    *,
    journey_traces: int | None = JOURNEY_TRACES,
    query: str = "",
    viewport: dict | None = None,
    fresh: bool = False,
    socket: HeldSocket | None = None,
):
    """A new page (a new Streamlit session, default state or ``query``'s) with the journey and label table
    drawn (``journey_traces=None``: a link to another view, drawn and idle); checked as ``new_page``'s
    (``fresh``: with an empty cache; ``socket``: its Streamlit socket relayed through it).
    """
    with new_page(browser, server, viewport or VIEWPORT, fresh=fresh) as page:
        if socket is not None:
            socket.install(page)
        log_start = len(server.log_text())
        page.goto(server.url + query, wait_until="domcontentloaded")
        if journey_traces is None:  # a link to another view: its page, drawn
            wait_idle(page, timeout=PAGE_READY_TIMEOUT)
        else:
            wait_until(
                page, _DRAWN_OR_ERROR_JS, journey_traces, what="the journey chart is drawn", timeout=PAGE_READY_TIMEOUT
            )
        errors = page.locator(ERROR_BOXES).all_inner_texts()
        assert not errors, (
            f"the page shows an error: {errors}\n"
            f"--- server log (the page redacts details) ---\n{server.log_text()[log_start:][-6000:]}"
        )
        if journey_traces is not None:
            wait_until(page, journey_ready_js(journey_traces), what="the journey chart is drawn")
            page.locator(".st-key-label_table canvas").first.wait_for(state="visible")
        wait_idle(page)
        yield page


_SHARED_CONTEXTS: dict[int, object] = {}  # id(browser) -> the context its plain pages share
# A shared page starts as a new visitor's: what an earlier page stored (Streamlit keeps the sidebar's collapsed
# state in localStorage) is cleared once, before the page's scripts run; its own reloads keep theirs.
_NEW_VISITOR_JS = """if (!sessionStorage.getItem("convlab-test-page")) {
  localStorage.clear(); sessionStorage.setItem("convlab-test-page", "1"); }"""


def shared_context(browser):
    """The browser's context for pages that need nothing of their own: they share its HTTP cache, so each page
    after the first takes Streamlit's, Plotly's and TensorFlow.js' scripts, compiled, from it (about 0.5 s of
    Chromium's time instead of 5 s). One for every screen size (each page sets its own): a context per size
    compiled them all again. Each page is still its own Streamlit session, as each tab of a browser is, and
    starts with empty storage (``new_page``)."""
    context = _SHARED_CONTEXTS.get(id(browser))
    if context is None or context.browser is not browser or not browser.is_connected():
        context = _SHARED_CONTEXTS[id(browser)] = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(ACTION_TIMEOUT)
    return context


@contextlib.contextmanager
def new_page(browser, server: StreamlitServer, viewport: dict = VIEWPORT, *, fresh: bool = False, **options):
    """A new browser page: in the browser's shared context (``shared_context``), or with ``fresh`` or
    ``options`` (Playwright's context options, e.g. reduced_motion) in a context of its own, an empty cache
    (a first visit, as a test of what is fetched needs). On the way out it checks the server printed no
    traceback meanwhile; if the test failed, it saves a screenshot of the page as
    ``artifacts/screenshots/failed-<test>.png``."""
    require_browser(browser)
    log_start = len(server.log_text())
    from playwright.sync_api import Browser

    if fresh or options or not isinstance(browser, Browser):  # a stand-in's contexts are its own (cookies)
        context = browser.new_context(viewport=viewport, **options)
        context.set_default_timeout(ACTION_TIMEOUT)
        page = context.new_page()
    else:
        context = None
        page = shared_context(browser).new_page()
        page.set_viewport_size(viewport)
        page.add_init_script(_NEW_VISITOR_JS)
    try:
        yield page
        new_log = server.log_text()[log_start:]
        assert "Traceback" not in new_log, f"the server printed a traceback:\n{new_log}"
    except BaseException:
        # The test's name without the xdist group pytest.ini's loadgroup appends to it ("@group").
        test = os.environ.get("PYTEST_CURRENT_TEST", "test").split(" ")[0].split("::")[-1].split("@")[0]
        with contextlib.suppress(Exception):
            save_screenshot(page, f"failed-{test}")
        raise
    finally:
        if context is None:
            page.close()
        else:
            context.close()


def copy_shipped_models(folder: Path, *, caches: bool = False) -> Path:
    """The lesson's two shipped models (with their snapshots) copied into ``folder``: a test server's own.

    ``caches``: with what the app keeps beside them too: the portraits and the invariance chart a fresh
    clone ships, and the test set's results and the tour's steps the app makes at its first start
    (``make_first_start_caches``), so that a test server doesn't spend seconds of the CPU making them again.
    """
    import shutil

    from convlab.models import PRESETS
    from convlab.store import DEFAULT_ROOT, ModelStore, file_stem

    if caches:
        make_first_start_caches()
    shipped = ModelStore(DEFAULT_ROOT)
    for spec in PRESETS.values():
        for path in [*shipped.paths(spec), shipped.snapshot_path(spec)]:
            shutil.copy(path, folder / path.name)
        if caches:
            for cached in [
                *DEFAULT_ROOT.glob(f"portraits/{file_stem(spec)}-*.npz"),
                *DEFAULT_ROOT.glob(f"invariance/{file_stem(spec)}.json"),
                *DEFAULT_ROOT.glob(f"testset/{file_stem(spec)}.npz"),
                *DEFAULT_ROOT.glob(f"tour/{file_stem(spec)}.json"),
            ]:
                (folder / cached.parent.name).mkdir(exist_ok=True)
                shutil.copy(cached, folder / cached.parent.name / cached.name)
    return folder


def make_first_start_caches() -> None:
    """What the app makes beside the shipped models in models/ at its first start (convlab.testset's results,
    convlab.tourcache's steps; derived, not committed), made now if missing, as the app would, once for the
    whole run: the test processes share models/, so one makes them while the others wait on a lock."""
    import fcntl

    from convlab.models import PRESETS
    from convlab.store import DEFAULT_ROOT, file_stem

    stems = [file_stem(spec) for spec in PRESETS.values()]
    wanted = [DEFAULT_ROOT / "testset" / f"{stem}.npz" for stem in stems] + [DEFAULT_ROOT / "tour" / f"{stems[0]}.json"]
    if all(path.exists() for path in wanted):
        return
    (DEFAULT_ROOT / ".locks").mkdir(exist_ok=True)
    with open(DEFAULT_ROOT / ".locks" / "first-start-caches", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if all(path.exists() for path in wanted):
            return  # another test process made them meanwhile
        from convlab.data import load_split
        from convlab.store import ModelStore
        from convlab.testset import TestSetCache
        from convlab.tour import lesson_tour
        from convlab.tourcache import TourCache

        store, split = ModelStore(DEFAULT_ROOT), load_split("test")
        conv, dense = store.load(PRESETS["conv"]), store.load(PRESETS["dense"])
        results = TestSetCache(DEFAULT_ROOT)
        maxima = results.get(conv, split)[0].maxima
        results.get(dense, split)
        TourCache(DEFAULT_ROOT).get(conv, dense, split, lambda: lesson_tour(conv, dense, split, maxima=maxima))


# -- a class's pages --------------------------------------------------------------------------
FOLLOW_TIMEOUT = 30_000  # ms: generous for three test processes on 2 cores; the benchmark measures the real latency
# The journey chart's filter on screen (the maps it drew), in a page.
CHART_FILTER_JS = (
    "() => { const c = document.querySelector('.st-key-journey_chart .cl-chart'); "
    "return c && c.dataset.filter !== undefined ? Number(c.dataset.filter) : null; }"
)


def chart_filter(page) -> int | None:
    """The filter whose maps the page's journey chart shows (painted or plotted); None without a chart."""
    return page.evaluate(CHART_FILTER_JS)


def wait_sees_filter(page, filter_index: int, what: str) -> None:
    """Until the page's chart shows ``filter_index`` and its address bar says so (a follower's page)."""
    wait_until(
        page,
        f"() => ({CHART_FILTER_JS})() === {filter_index} "
        f"&& new URLSearchParams(location.search).get('filter') === '{filter_index}'",
        what=what,
        timeout=FOLLOW_TIMEOUT,
    )


def start_class(page) -> tuple[str, str]:
    """Start a class from the sidebar's class box, as a teacher does; returns (code, teacher key).

    The page puts the code, link and QR code up large at once (a dialog); the teacher closes it
    with Esc, as here, once the room has it.
    """
    from urllib.parse import parse_qs, urlparse

    if not page.locator(".st-key-class_start button").first.is_visible():
        page.get_by_text("Class: follow the teacher").click()
    page.locator(".st-key-class_start button").first.click()
    wait_until(page, "() => location.search.includes('teacher=')", what="the teacher's page holds its class and key")
    query = parse_qs(urlparse(page.url).query)
    code = query["class"][0]
    wait_until(
        page,
        "code => { const d = document.querySelector('[role=dialog]'); "
        "return !!d && d.innerText.includes('?class=' + code); }",
        code,
        what="the class's code and link put up large",
    )
    dialog = page.get_by_role("dialog")
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    wait_idle(page)
    return code, query["teacher"][0]
