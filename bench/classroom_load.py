"""Classroom load test: a teacher and up to hundreds of followers, one server or several behind nginx (not a unit test).

Run from the repository root::

    python bench/classroom_load.py                           # 30 followers, one server: about 2 minutes
    python bench/classroom_load.py --students 200 --servers 2
    python bench/classroom_load.py --curve                   # the curve below: about 20 minutes

What it measures: how fast a teacher's change reaches every follower of a class ("follow the
teacher": ``ui/classroom.py``, ``ui/feed.py``), and what that costs the servers. The teacher's
page, in Chromium, starts a class from the sidebar's box and moves the journey chart's own filter
slider (→, sometimes ←) ``--changes`` times, ``--gap`` seconds apart. For every (change,
follower) the time from the key press (``time.time()`` just before Playwright's press) to that
follower holding the new filter is recorded: for a light student, its feed delivering a view with
the new ``filter``; for a Chromium student, its journey chart's ``#chart`` element's
``data-filter`` becoming it (a MutationObserver in the chart's frame, on the same clock). Target
(issue 21): 200 followers, p95 ≤ 1.0 s, no change missed, no connection error, each server's
peak RSS ≤ 1.5 GB.

With ``--image-change`` (the curve's 30 and 100) the teacher then changes image 3, a change
each follower's page reruns for on the server: per light student, the time until its websocket
got the page's new ``images=`` (a ``page_info_changed``) and that run finished.

``--servers 1``: one ``streamlit run app.py``, classes in its memory, everyone connects to it.
``--servers K`` (K ≥ 2): a throwaway Redis, K servers sharing classes through it, and Debian's
nginx with sticky sessions in front (``convlab_testing.balancer``); the teacher and every student
go through nginx, each with its own ``convlab_backend`` cookie, so followers spread over the
servers as browsers would. Before the followers join, each server other than the teacher's draws
one page (directly), as a deployment's readiness check would; ``--cold-servers`` skips that, and
the followers are then the first pages of those servers (TensorFlow, the models and the first
maps loaded while a crowd waits).

The students are LIGHT CLIENTS, not browsers (a few Chromium students are the cross-check), all
in this one asyncio process: hundreds of Chromium pages would spend the 2 cores in the browsers
and measure them rather than the servers. What a light student is on the wire: ``light_client.py``.

Reported per run: latency p50 / p95 / max over every (change, light student), the last student
per change, the Chromium students' latency, changes missed, connection errors, the servers' CPU
(user + system seconds per wall second, from /proc, all ConvLab server processes together; nginx
and Redis apart) while the teacher changes the filter and while the students join, each server's
peak RSS (VmHWM), this process's CPU and event-loop lateness (whether the clients kept up).
Results: ``bench/results/classroom.json`` (every sample) and ``bench/results/classroom.md`` (the
table, printed at the end); ``bench/README.md`` says how to read them. The script exits non-zero
when a run of at most 200 followers misses the target.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import RESULTS, summary  # noqa: E402
from convlab_testing.balancer import BACKEND_HEADER, COOKIE, Balancer  # noqa: E402
from convlab_testing.live_app import StreamlitServer  # noqa: E402
from convlab_testing.redis_server import RedisServer  # noqa: E402
from light_client import FINISHED, LightStudent, query_dict  # noqa: E402

TARGET_P95_S = 1.0
TARGET_RSS_MB = 1536
TARGET_STUDENTS = 200  # the lecture hall: runs of at most this many followers must meet the target
# The curve: (followers, servers, time a non-filter change too).
CURVE = [(30, 1, True), (100, 1, True), (200, 1, False), (300, 1, False), (200, 2, False)]
# The teacher's key presses: mostly forward, sometimes back (a value seen before comes back).
PATTERN = [
    "ArrowRight",
    "ArrowRight",
    "ArrowRight",
    "ArrowLeft",
    "ArrowRight",
    "ArrowRight",
    "ArrowLeft",
    "ArrowRight",
    "ArrowRight",
    "ArrowRight",
]
SETTLE_TIMEOUT_S = 15.0  # after a press, a follower without the change by then has missed it
IMAGE_TIMEOUT_S = 300.0  # the non-filter change: every follower's page reruns on the server
IDLE_WINDOW_S = 5.0  # the servers' CPU with every follower connected and nothing changing
JOURNEY_SLIDER = common.JOURNEY_SLIDER  # the journey chart's own filter slider
IMAGE_BOX = ".st-key-image_2 input"  # image 3's number box on the teacher's page


# -- a Chromium student (the cross-check) and the teacher -----------------------------------------------
# In the page: each address (history.replaceState/pushState), and each filter the journey chart's plot div
# draws (its data-filter), seen by a MutationObserver on it (attached again whenever the chart is new),
# all on the machine's clock (Date.now), as time.time() here.
CHROMIUM_LOG_JS = r"""
(() => {
  if (window.top !== window || window.__chartLog) return;
  const chartLog = window.__chartLog = [], urlLog = window.__urlLog = [];
  const noteUrl = () => { const s = location.search;
                          if (!urlLog.length || urlLog[urlLog.length - 1][1] !== s)
                            urlLog.push([Date.now() / 1000, s]); };
  for (const name of ['replaceState', 'pushState']) {
    const original = history[name];
    history[name] = function (...args) { const r = original.apply(this, args); noteUrl(); return r; };
  }
  noteUrl();
  const attach = () => {
    const chart = document.querySelector('.st-key-journey_chart .cl-chart');
    if (!chart || chart.__convlabLogged) return;
    chart.__convlabLogged = true;
    const note = () => {
      if (chart.dataset.filter === undefined) return;
      const value = Number(chart.dataset.filter);
      if (!chartLog.length || chartLog[chartLog.length - 1][1] !== value) chartLog.push([Date.now() / 1000, value]);
    };
    new MutationObserver(note).observe(chart, {attributes: true, attributeFilter: ['data-filter']});
    note();
  };
  setInterval(attach, 50);
})();
"""
CONNECTION_ERROR_JS = (
    "() => document.body.innerText.includes('Connection error') || "
    "!document.querySelector('[data-testid=stApp][data-test-connection-state=CONNECTED]')"
)


class ChromiumStudent:
    def __init__(self, index: int, page, backend: str | None) -> None:
        self.index, self.page, self.backend = index, page, backend
        self.chart_log: list[tuple[float, int]] = []
        self.url_log: list[tuple[float, str]] = []
        self.errors: list[str] = []

    async def refresh(self) -> None:
        self.chart_log = [tuple(x) for x in await self.page.evaluate("() => window.__chartLog || []")]
        self.url_log = [tuple(x) for x in await self.page.evaluate("() => window.__urlLog || []")]

    def filter_at(self, since: float, value: int) -> float | None:
        return next((t for t, shown in self.chart_log if t >= since and shown == value), None)

    def images_at(self, since: float, images: str) -> float | None:
        return next(
            (t for t, search in self.url_log if t >= since and query_dict(search).get("images") == images), None
        )


async def new_context(browser, url: str, cookie: str | None = None):
    context = await browser.new_context(viewport=common.VIEWPORT)
    context.set_default_timeout(30_000)
    if cookie:
        await context.add_cookies([{"name": COOKIE, "value": cookie, "url": url}])
    return context


async def backend_of_page(page, url: str) -> str | None:
    """The server the page's requests reach (its cookie), as nginx's header says; None without nginx."""
    response = await page.context.request.get(url + "/_stcore/health")
    return response.headers.get(BACKEND_HEADER.lower())


async def start_class(browser, url: str):
    context = await new_context(browser, url)
    page = await context.new_page()
    await page.goto(url, wait_until="domcontentloaded")
    await page.wait_for_function(common.journey_ready_js(), timeout=180_000, polling=100)
    await page.wait_for_function(common.IDLE_JS, timeout=60_000, polling=50)
    start = page.locator(".st-key-class_start button").first
    if not await start.is_visible():
        await page.get_by_text("Class: follow the teacher").click()
    await start.click()
    await page.wait_for_function("() => location.search.includes('teacher=')", timeout=30_000, polling=50)
    dialog = page.get_by_role("dialog")  # the code, link and QR code put up large: closed, as a teacher does
    await dialog.wait_for(timeout=30_000)
    await page.keyboard.press("Escape")
    await dialog.wait_for(state="hidden", timeout=30_000)
    await page.wait_for_function(common.IDLE_JS, timeout=30_000, polling=50)
    return page, query_dict(urllib.parse.urlparse(page.url).query)["class"]


async def warm_up(browser, url: str) -> float:
    """One page drawn on the server at ``url`` (directly, not through nginx), so its first followers don't
    pay its start (TensorFlow, the models, the first maps); returns the seconds it took."""
    started = time.perf_counter()
    context = await new_context(browser, url)
    try:
        page = await context.new_page()
        await page.goto(url, wait_until="domcontentloaded")
        await page.wait_for_function(common.journey_ready_js(), timeout=180_000, polling=100)
        await page.wait_for_function(common.IDLE_JS, timeout=60_000, polling=50)
    finally:
        await context.close()
    return round(time.perf_counter() - started, 1)


async def teacher_filter(page) -> int:
    return int(await page.locator(JOURNEY_SLIDER).evaluate("e => Number(e.value)"))


# -- the servers, and measuring them -----------------------------------------------------------------
@contextlib.contextmanager
def served(count: int, tag: str):
    """``count`` ConvLab servers (started together); with 2 or more, Redis between them and nginx in front."""
    logs = RESULTS / "logs"
    with contextlib.ExitStack() as stack:
        redis = stack.enter_context(RedisServer()) if count > 1 else None
        env = {"CONVLAB_REDIS_URL": redis.url} if redis else {}
        servers = [
            StreamlitServer(
                logs / f"classroom-{tag}-{n}.log", env=env, timings_path=logs / f"classroom-{tag}-{n}-timings.jsonl"
            )
            for n in range(count)
        ]
        for server in servers:
            stack.callback(server.stop)
            server.start()
        for server in servers:
            server.wait_healthy()
        balancer = stack.enter_context(Balancer([s.port for s in servers])) if count > 1 else None
        yield SimpleNamespace(
            servers=servers,
            redis=redis,
            balancer=balancer,
            url=balancer.url if balancer else servers[0].url,
            port=balancer.port if balancer else servers[0].port,
        )


def _proc_cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def _status_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Sampler:
    """Every half second: each server's CPU and VmRSS, nginx's and Redis' CPU, this process's CPU."""

    def __init__(self, setup) -> None:
        self.setup = setup
        self.balancer_pids = setup.balancer.pids() if setup.balancer else []
        self.samples: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def take(self) -> dict:
        servers = self.setup.servers
        sample = {
            "t": time.time(),
            "server_cpu_s": [_proc_cpu(s.process.pid) for s in servers],
            "rss_kb": [_status_kb(s.process.pid, "VmRSS") for s in servers],
            "nginx_cpu_s": sum(_proc_cpu(pid) for pid in self.balancer_pids),
            "redis_cpu_s": _proc_cpu(self.setup.redis.process.pid) if self.setup.redis else 0.0,
            "client_cpu_s": sum(os.times()[:2]),
            "machine": common.machine_busy_seconds(),
        }
        self.samples.append(sample)
        return sample

    def _loop(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError):
                self.take()
            self._stop.wait(0.5)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def window(a: dict, b: dict) -> dict:
    """CPU over the window between two samples, in core-seconds per wall second."""
    wall = b["t"] - a["t"]
    busy, total = b["machine"][0] - a["machine"][0], b["machine"][1] - a["machine"][1]
    per_server = [(y - x) / wall for x, y in zip(a["server_cpu_s"], b["server_cpu_s"])]
    return {
        "wall_s": round(wall, 2),
        "server_cpu_per_s": sum(per_server),
        "per_server_cpu_per_s": per_server,
        "nginx_cpu_per_s": (b["nginx_cpu_s"] - a["nginx_cpu_s"]) / wall,
        "redis_cpu_per_s": (b["redis_cpu_s"] - a["redis_cpu_s"]) / wall,
        "client_cpu_per_s": (b["client_cpu_s"] - a["client_cpu_s"]) / wall,
        "machine_busy_per_s": busy / wall,
        "machine_cores": total / wall,
    }


async def loop_lag(stop: asyncio.Event, lags: list[tuple[float, float]]) -> None:
    """How late this process's event loop wakes up (a 50 ms sleep): whether the light clients keep up."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        before = loop.time()
        await asyncio.sleep(0.05)
        lags.append((time.time(), (loop.time() - before - 0.05) * 1000))


async def wait_until(predicate, timeout: float, poll: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(poll)
    return predicate()


# -- one run ----------------------------------------------------------------------------------------
async def wind_down(stop: asyncio.Event, tasks, browser) -> None:
    """The end of a run, whatever happened: the clients told to stop, each given 5 s, the browser closed."""
    stop.set()
    for task in tasks:
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, Exception):
            await asyncio.wait_for(task, timeout=5)
    await browser.close()


async def run_class(setup, config, sampler: Sampler) -> dict:
    from playwright.async_api import async_playwright

    stop = asyncio.Event()
    lags: list[tuple[float, float]] = []
    tasks: list[asyncio.Task] = []
    out: dict = {"changes": [], "notes": []}
    async with async_playwright() as playwright:
        browser = await common.launch_chromium(playwright)
        try:
            print("  teacher: opening the app in Chromium and starting a class…", flush=True)
            teacher, code = await start_class(browser, setup.url)
            out["code"] = code
            out["teacher_backend"] = await backend_of_page(teacher, setup.url)
            start_filter = await teacher_filter(teacher)
            out["warmed_up"] = []
            if not config.cold_servers:  # as a deployment's readiness check would: each server has drawn a page
                for server in setup.servers:
                    if f"127.0.0.1:{server.port}" != out["teacher_backend"] and setup.balancer is not None:
                        out["warmed_up"].append(await warm_up(browser, server.url))
            tasks.append(asyncio.ensure_future(loop_lag(stop, lags)))

            join_start = sampler.take()
            students = [LightStudent(i, "127.0.0.1", setup.port, code) for i in range(config.students)]
            for student in students:  # they come in over a while, as a room does, not all in one instant
                tasks.append(asyncio.ensure_future(student.run(stop)))
                await asyncio.sleep(1.0 / config.join_rate)
            chromium_students: list[ChromiumStudent] = []
            for i in range(config.browser_students):
                cookie = None
                if setup.balancer is not None:  # the cross-check's page on another server than the teacher's first
                    others = [
                        f"127.0.0.1:{s.port}" for s in setup.servers if f"127.0.0.1:{s.port}" != out["teacher_backend"]
                    ]
                    wanted = others[i % len(others)] if i % 2 == 0 and others else out["teacher_backend"]
                    for _ in range(40):
                        cookie = secrets.token_hex(16)
                        if setup.balancer.backend_of(cookie) == wanted:
                            break
                context = await new_context(browser, setup.url, cookie)
                await context.add_init_script(CHROMIUM_LOG_JS)
                page = await context.new_page()
                await page.goto(f"{setup.url}/?class={code}", wait_until="domcontentloaded")
                chromium_students.append(ChromiumStudent(i, page, await backend_of_page(page, setup.url)))
            print(
                f"  {config.students} light students"
                + (f" and {config.browser_students} Chromium student(s)" if config.browser_students else "")
                + " joining…",
                flush=True,
            )
            ready = await wait_until(lambda: all(s.ready() for s in students), 60 + 1.5 * config.students, 0.1)
            for b in chromium_students:
                await b.page.wait_for_function(common.journey_ready_js(), timeout=180_000, polling=100)
                await b.page.wait_for_function(common.IDLE_JS, timeout=60_000, polling=50)
            join_end = sampler.take()
            out["join"] = {
                **window(join_start, join_end),
                "first_run_s": summary(
                    [
                        next(r["end"] for r in s.runs if r["status"] == FINISHED) - s.runs[0]["start"]
                        for s in students
                        if s.ready()
                    ]
                ),
            }
            if not ready:
                late = [s.index for s in students if not s.ready()]
                raise RuntimeError(
                    f"{len(late)} light students never showed the class (e.g. {late[:10]}) within "
                    f"{60 + 1.5 * config.students:.0f} s; errors: {[s.errors for s in students if s.errors][:3]}"
                )
            print(
                f"  every follower shows the class ({join_end['t'] - join_start['t']:.0f} s after the first joined; "
                f"servers {out['join']['server_cpu_per_s']:.2f} CPU-s/s meanwhile).",
                flush=True,
            )

            # Following alone: every follower connected, nothing changing.
            await asyncio.sleep(1.0)
            idle_start = sampler.take()
            await asyncio.sleep(IDLE_WINDOW_S)
            out["idle"] = window(idle_start, sampler.take())

            slider = teacher.locator(JOURNEY_SLIDER)  # the journey chart's own slider
            expected = start_filter
            out["changes_start"] = sampler.take()
            for k in range(config.changes):
                key = PATTERN[k % len(PATTERN)]
                if key == "ArrowLeft" and expected == 0:
                    key = "ArrowRight"
                expected += 1 if key == "ArrowRight" else -1
                if not await slider.evaluate("e => document.activeElement === e"):
                    await slider.focus()
                pressed = time.time()  # right before the key press
                await teacher.keyboard.press(key)
                everyone = await wait_until(
                    lambda t=pressed, v=expected: all(s.filter_at(t, v) for s in students), SETTLE_TIMEOUT_S
                )
                arrived = time.time()
                for b in chromium_students:
                    with contextlib.suppress(Exception):
                        await b.page.wait_for_function(
                            "([t, v]) => (window.__chartLog || []).some(([at, f]) => at >= t && f === v)",
                            arg=[pressed, expected],
                            timeout=SETTLE_TIMEOUT_S * 1000,
                            polling=50,
                        )
                shown = await teacher_filter(teacher)
                last = max((s.filter_at(pressed, expected) or arrived) - pressed for s in students) if students else 0.0
                out["changes"].append(
                    {
                        "index": k + 1,
                        "key": key,
                        "value": expected,
                        "teacher_slider": shown,
                        "pressed": pressed,
                        "everyone": everyone,
                    }
                )
                print(
                    f"    change {k + 1:2d}: {key:10s} → filter {expected:2d}: "
                    + (
                        f"the last light student after {last:.2f} s"
                        if everyone
                        else f"NOT every light student within {SETTLE_TIMEOUT_S:.0f} s"
                    ),
                    flush=True,
                )
                if shown != expected:
                    out["notes"].append(f"change {k + 1}: the teacher's slider shows {shown}, expected {expected}")
                    expected = shown
                await asyncio.sleep(max(config.gap - (time.time() - pressed), 1.0 - (time.time() - arrived)))
            out["changes_end"] = sampler.take()

            if config.image_change:
                out["image_change"] = await change_image(teacher, students, chromium_students, sampler)
            for b in chromium_students:
                await b.refresh()
                if await b.page.evaluate(CONNECTION_ERROR_JS):
                    b.errors.append("the page shows a connection error or isn't connected")
                b.errors += [f"error on the page: {e}" for e in await b.page.evaluate(common.ERRORS_JS)]
            out["teacher_errors"] = await teacher.evaluate(common.ERRORS_JS)
            out["students"], out["chromium_students"] = students, chromium_students
        finally:
            await wind_down(stop, tasks, browser)
    out["loop_lag_ms"] = lags
    return out


async def change_image(teacher, students, chromium_students, sampler) -> dict:
    """The teacher changes image 3 (a change every follower's page reruns for); until each page has it."""
    images = query_dict(urllib.parse.urlparse(teacher.url).query).get("images", "")
    now = images.split(",")
    value = "1" if now[-1] != "1" else "2"
    wanted = ",".join(now[:-1] + [value])
    box = teacher.locator(IMAGE_BOX)
    await box.fill(value)
    start = sampler.take()
    pressed = time.time()
    await box.press("Enter")
    print(f"    image 3 → {value} (images={wanted}): waiting for every follower's page to rerun…", flush=True)
    everyone = await wait_until(lambda: all(s.page_shows(pressed, wanted) for s in students), IMAGE_TIMEOUT_S, 0.05)
    end = sampler.take()
    for b in chromium_students:
        with contextlib.suppress(Exception):
            await b.page.wait_for_function(
                f"() => new URLSearchParams(location.search).get('images') === {json.dumps(wanted)}",
                timeout=IMAGE_TIMEOUT_S * 1000,
                polling=50,
            )
        await b.refresh()
    shown = [s.page_shows(pressed, wanted) for s in students]
    result = {
        "images": wanted,
        "pressed": pressed,
        "everyone": everyone,
        "address_s": summary([a - pressed for a, _ in filter(None, shown)]),
        "finished_s": summary([f - pressed for _, f in filter(None, shown)]),
        "missed": sum(1 for x in shown if x is None),
        "chromium_address_s": summary(
            [t - pressed for b in chromium_students if (t := b.images_at(pressed, wanted)) is not None]
        ),
        "cpu": window(start, end),
    }
    print(f"    every page reran: last after {result['finished_s'].get('max', float('nan')):.2f} s", flush=True)
    return result


def analyse(result: dict, config) -> dict:
    """Latency per (change, follower); misses; runs the filter changes started on the followers' pages."""
    changes = result["changes"]
    students, chromium_students = result["students"], result["chromium_students"]
    light, chromium, missed, per_change = [], [], [], []

    def arrivals(followers, kind: str, change: dict, end: float) -> list[float]:
        """Seconds from the key press to each follower having the change; the others listed as missed."""
        start, value, times = change["pressed"], change["value"], []
        for follower in followers:
            t = follower.filter_at(start, value)
            if t is None or t > end:
                missed.append({"change": change["index"], "student": f"{kind} {follower.index}", "value": value})
            else:
                times.append(t - start)
        return times

    for n, change in enumerate(changes):
        end = changes[n + 1]["pressed"] if n + 1 < len(changes) else result["changes_end"]["t"]
        arrived = arrivals(students, "light", change, end)
        chromium += arrivals(chromium_students, "chromium", change, end)
        light += arrived
        per_change.append(
            {
                "change": change["index"],
                "value": change["value"],
                "arrived": len(arrived),
                "p50_s": common.percentile(arrived, 50),
                "last_s": max(arrived) if arrived else None,
            }
        )
    t0 = changes[0]["pressed"] if changes else 0.0
    t1 = result["changes_end"]["t"]
    reruns = sum(1 for s in students for run in s.runs if t0 <= run["start"] <= t1)
    connection_errors = [f"light {s.index}: {e}" for s in students for e in s.errors]
    connection_errors += [
        f"chromium {b.index}: {e}" for b in chromium_students for e in b.errors if "connection" in e.lower()
    ]
    page_errors = [f"light {s.index}: {e}" for s in students for e in s.page_errors]
    page_errors += [
        f"chromium {b.index}: {e}" for b in chromium_students for e in b.errors if "connection" not in e.lower()
    ]
    page_errors += [f"teacher: {e}" for e in result["teacher_errors"]]
    backends: dict[str, int] = {}
    for s in students:
        backends[s.feed_backend or "direct"] = backends.get(s.feed_backend or "direct", 0) + 1
    return {
        "latency_s": summary(light),
        "chromium_latency_s": summary(chromium),
        "last_student_s": summary([c["last_s"] for c in per_change if c["last_s"] is not None]),
        "per_change": per_change,
        "missed": missed,
        "follower_runs_during_filter_changes": reruns,
        "connection_errors": connection_errors,
        "page_errors": page_errors,
        "students_per_backend": backends,
        "not_sticky": sum(1 for s in students if s.ws_backend != s.feed_backend),
        "all_latencies_s": light,
    }


def run_one(config) -> dict:
    """One class: fresh servers, the teacher, the followers, the changes; the run's report."""
    tag = f"{config.students}x{config.servers}"
    started = time.perf_counter()
    print(
        f"Run: {config.students} followers, {config.servers} server(s)"
        + (" behind nginx, classes in Redis" if config.servers > 1 else ", classes in its memory"),
        flush=True,
    )
    with served(config.servers, tag) as setup:
        sampler = Sampler(setup)
        before = sampler.take()
        sampler.start()
        try:
            result = asyncio.run(run_class(setup, config, sampler))
        finally:
            sampler.stop()
        hwm_mb = [_status_kb(s.process.pid, "VmHWM") / 1024 for s in setup.servers]
        tracebacks = sum(s.log_text().count("Traceback") for s in setup.servers)
        backends = [f"127.0.0.1:{s.port}" for s in setup.servers]
        nginx_errors = [
            line
            for line in (setup.balancer.log_text() if setup.balancer else "").splitlines()
            if "[error]" in line or "[crit]" in line or "[alert]" in line
        ]
    analysis = analyse(result, config)
    lat = analysis["latency_s"]
    rss = [x["rss_kb"] for x in sampler.samples]
    memory = {
        "rss_mb_before": [kb / 1024 for kb in before["rss_kb"]],
        "rss_mb_max": [max(sample[i] for sample in rss) / 1024 for i in range(config.servers)] if rss else [],
        "hwm_mb": hwm_mb,
    }
    met = (
        bool(lat.get("n"))
        and lat["p95"] <= TARGET_P95_S
        and not analysis["missed"]
        and not analysis["connection_errors"]
        and max(hwm_mb) <= TARGET_RSS_MB
    )
    t0, t1 = result["changes_start"]["t"], result["changes_end"]["t"]
    return {
        "students": config.students,
        "servers": config.servers,
        "browser_students": config.browser_students,
        "changes": config.changes,
        "gap_s": config.gap,
        "backends": backends,
        "teacher_backend": result["teacher_backend"],
        "duration_s": round(time.perf_counter() - started, 1),
        "class_code": result["code"],
        "notes": result["notes"],
        "server_log_tracebacks": tracebacks,
        "nginx_errors": len(nginx_errors),
        "nginx_error_lines": nginx_errors[:50],
        "target_met": met,
        "target_applies": config.students <= TARGET_STUDENTS,
        "summary": {k: v for k, v in analysis.items()},
        "cpu_changes": window(result["changes_start"], result["changes_end"]),
        "cpu_idle": result["idle"],
        "join": result["join"],
        "memory": memory,
        "image_change": result.get("image_change"),
        "loop_lag_ms": summary([lag for t, lag in result["loop_lag_ms"] if t0 <= t <= t1]),
        "warmed_up": result["warmed_up"],
        "change_log": result["changes"],
        "samples": [{k: v for k, v in x.items() if k != "machine"} for x in sampler.samples],
        "per_student": [
            {
                "student": s.index,
                "backend": s.feed_backend,
                "websocket_backend": s.ws_backend,
                "messages": s.messages,
                "bytes": s.bytes,
                "errors": s.errors,
                "page_errors": s.page_errors,
                "feed": [(t, v, view.get("filter"), view.get("images")) for t, v, view in s.feed_events],
                "painted": s.painted,
                "rerun_requests": s.rerun_requests,
                "runs": s.runs,
            }
            for s in result["students"]
        ],
        "per_chromium_student": [
            {"student": b.index, "backend": b.backend, "chart": b.chart_log, "urls": b.url_log, "errors": b.errors}
            for b in result["chromium_students"]
        ],
    }


# -- the report ------------------------------------------------------------------------------------
def fmt(value, unit="s", digits=2) -> str:
    return "–" if value is None else f"{value:.{digits}f}{unit and ' ' + unit}"


def triple(stats: dict, digits: int = 2) -> str:
    if not stats.get("n"):
        return "–"
    return " / ".join(f"{stats[k]:.{digits}f}" for k in ("p50", "p95", "max"))


def markdown(report: dict) -> str:
    machine = report["machine"]
    lines = [
        "# ConvLab classroom load test: follow the teacher",
        "",
        f"{report['date']} · {machine['nproc']} cores ({machine['cpu_model']}) · commit {report['code']['commit']}"
        + (" (app code has uncommitted changes)" if report["code"]["uncommitted"] else "")
        + f" · load average at start {report['load_at_start']['loadavg'][0]:.2f} · `{report['command']}`",
        "",
        "One teacher in Chromium moving the journey chart's filter slider; followers: light clients (a page's "
        "websocket speaking Streamlit's protocol + the class feed's server-sent events, see bench/README.md) and "
        "Chromium student(s) as a cross-check. Latency: the teacher's key press → a follower holds the new filter "
        f"(light: its feed delivered it; Chromium: its chart drew it). Target at ≤ {TARGET_STUDENTS} followers: "
        f"p95 ≤ {TARGET_P95_S:g} s, 0 missed, 0 connection errors, "
        f"each server's peak RSS ≤ {TARGET_RSS_MB / 1024:g} GB.",
        "",
        "| followers | servers | latency p50 / p95 / max (s) | last follower per change, p95 (s) "
        "| Chromium p50 / p95 / max (s) "
        "| missed | connection errors | follower reruns for filter changes | servers' CPU-s/s during changes (idle) "
        "| nginx + Redis CPU-s/s | peak RSS per server (MB) | target met |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in report["runs"]:
        s, cpu = run["summary"], run["cpu_changes"]
        verdict = (
            ("yes" if run["target_met"] else "NO")
            if run["target_applies"]
            else ("(yes)" if run["target_met"] else "(no)")
        )
        lines.append(
            f"| {run['students']} | {run['servers']}{' + nginx' if run['servers'] > 1 else ''} | "
            f"{triple(s['latency_s'])} "
            f"| {fmt(s['last_student_s'].get('p95'), '')} | {triple(s['chromium_latency_s'])} | {len(s['missed'])} "
            f"| {len(s['connection_errors'])} | {s['follower_runs_during_filter_changes']} "
            f"| {cpu['server_cpu_per_s']:.2f} ({run['cpu_idle']['server_cpu_per_s']:.2f}) "
            f"| {cpu['nginx_cpu_per_s'] + cpu['redis_cpu_per_s']:.2f} "
            f"| {' / '.join(f'{m:.0f}' for m in run['memory']['hwm_mb'])} | {verdict} |"
        )
    images = [run for run in report["runs"] if run.get("image_change")]
    if images:
        lines += [
            "",
            "A change every follower's page reruns for (the teacher changes image 3): key press → each light "
            "student's page has the new `images=` / its run finished; Chromium's address bar.",
            "",
            "| followers | servers | new address p50 / p95 / max (s) | run finished p50 / p95 / max (s) "
            "| Chromium address (s) | missed | servers' CPU-s/s |",
            "|---|---|---|---|---|---|---|",
        ]
        for run in images:
            change = run["image_change"]
            lines.append(
                f"| {run['students']} | {run['servers']} | {triple(change['address_s'])} "
                f"| {triple(change['finished_s'])} | {triple(change['chromium_address_s'])} | {change['missed']} "
                f"| {change['cpu']['server_cpu_per_s']:.2f} |"
            )
    lines += ["", "Per run:", ""]
    for run in report["runs"]:
        s, join = run["summary"], run["join"]
        lines.append(
            f"- {run['students']} followers on {run['servers']} server(s), "
            f"{run['changes']} changes {run['gap_s']:g} s apart, "
            f"{run['duration_s']:.0f} s: joining took {join['wall_s']:.0f} s (each page's first run p50 "
            f"{fmt(join['first_run_s'].get('p50'))}, servers {join['server_cpu_per_s']:.2f} CPU-s/s); followers per "
            f"server {s['students_per_backend']}"
            + (f", {s['not_sticky']} whose websocket and feed reached different servers" if run["servers"] > 1 else "")
            + (
                "; servers other than the teacher's warmed up first by one page "
                f"({', '.join(f'{w:g} s' for w in run['warmed_up'])})"
                if run["warmed_up"]
                else "; no server warmed up but the teacher's"
                if run["servers"] > 1
                else ""
            )
            + f"; page errors {len(s['page_errors'])}, server tracebacks {run['server_log_tracebacks']}"
            + (f", nginx errors {run['nginx_errors']}" if run["servers"] > 1 else "")
            + "; this process "
            f"{run['cpu_changes']['client_cpu_per_s']:.2f} CPU-s/s, its event loop late p95 "
            f"{run['loop_lag_ms'].get('p95', 0):.0f} ms; the machine {run['cpu_changes']['machine_busy_per_s']:.2f} of "
            f"{run['cpu_changes']['machine_cores']:.0f} cores busy during the changes."
            + (f" Notes: {'; '.join(run['notes'])}." if run["notes"] else "")
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30, help="light students following the teacher (default 30)")
    parser.add_argument(
        "--servers",
        type=int,
        default=1,
        help="ConvLab servers; 2 or more: Redis between them and nginx in front (default 1)",
    )
    parser.add_argument("--changes", type=int, default=10, help="filter changes the teacher makes (default 10)")
    parser.add_argument(
        "--gap", type=float, default=2.5, help="seconds between the teacher's key presses (default 2.5)"
    )
    parser.add_argument("--join-rate", type=float, default=20.0, help="light students joining per second (default 20)")
    parser.add_argument(
        "--browser-students",
        type=int,
        default=1,
        help="also this many students as Chromium pages (the cross-check; default 1)",
    )
    parser.add_argument(
        "--image-change",
        action="store_true",
        help="then time a change every follower's page reruns for (the teacher changes image 3)",
    )
    parser.add_argument(
        "--cold-servers",
        action="store_true",
        help="with several servers, let the followers be the first pages of the servers other than "
        "the teacher's (by default one page is drawn on each first, as a readiness check would)",
    )
    parser.add_argument(
        "--curve",
        action="store_true",
        help="the curve: 30 and 100 (with --image-change), 200 and 300 followers on one server, "
        "200 on 2 servers behind nginx",
    )
    args = parser.parse_args()

    configs = (
        [
            SimpleNamespace(**{**vars(args), "students": students, "servers": servers, "image_change": image})
            for students, servers, image in CURVE
        ]
        if args.curve
        else [args]
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = {
        **common.report_header("classroom_load.py"),
        "targets": {"p95_s": TARGET_P95_S, "rss_mb": TARGET_RSS_MB, "followers": TARGET_STUDENTS},
        "runs": [],
    }
    if report["load_at_start"]["busy_processes"]:
        busy = ", ".join(
            f"{p['command'][:60]} ({p['cpu_percent']:.0f} %)" for p in report["load_at_start"]["busy_processes"][:3]
        )
        print(f"Note: the machine is busy with other work: {busy}", flush=True)
    started = time.perf_counter()
    failed = False
    try:
        for config in configs:
            try:
                report["runs"].append(run_one(config))
            except Exception as error:  # noqa: BLE001 - one failed run is reported; the curve goes on
                failed = True
                print(f"  the run failed: {type(error).__name__}: {error}", flush=True)
                report.setdefault("failed_runs", []).append(
                    {
                        "students": config.students,
                        "servers": config.servers,
                        "error": f"{type(error).__name__}: {error}",
                    }
                )
            finally:
                common.stop_all_children()
    except KeyboardInterrupt:
        print("Interrupted: the servers, nginx, Redis and the browser are stopped.", flush=True)
        return 130
    report["duration_s"] = round(time.perf_counter() - started, 1)
    report["load_at_end"] = list(os.getloadavg())
    text = markdown(report)
    if report.get("failed_runs"):
        text += (
            "\nFailed runs: "
            + "; ".join(f"{r['students']}×{r['servers']}: {r['error'][:300]}" for r in report["failed_runs"])
            + "\n"
        )
    common.save_report("classroom", report, text)
    print()
    print(text)
    for run in report["runs"]:
        for item in (run["summary"]["connection_errors"] + run["summary"]["page_errors"])[:10]:
            print(f"  {run['students']}×{run['servers']}: {item}")
    print(
        f"Wrote {RESULTS / 'classroom.json'} and {RESULTS / 'classroom.md'}; "
        f"total runtime {report['duration_s']:.0f} s."
    )
    missed_target = any(run["target_applies"] and not run["target_met"] for run in report["runs"])
    return 1 if failed or missed_target else 0


if __name__ == "__main__":
    sys.exit(main())
