"""Classroom load test: one teacher, 30 following students, one server (not part of the unit tests).

Run from the repository root (about 1.5 minutes on 2 cores)::

    python bench/classroom_load.py      # options: --students 30 --changes 20 --gap 3 --browser-students 1

What it measures: "follow the teacher" (``ui/classroom.py``) with a class of 30. It starts one
``streamlit run app.py`` (the shipped models) and opens the teacher's page in Chromium, which
starts a class from the sidebar's box (``class_start``) and reads the class code from its address
bar. Then 30 students join at ``/?class=CODE``. The teacher moves the journey's filter slider
(ArrowRight, sometimes ArrowLeft) 20 times, a few seconds apart, and for every (change, student)
the time from the key press to the student's page holding the new ``filter=`` in its query string
is recorded. Target: p95 ≤ 1.5 s. Reported too: the server's CPU (user + system seconds per wall
second, from /proc) and memory (VmRSS, VmHWM), and this process's own CPU. Results go to
``bench/results/classroom.json`` and ``bench/results/classroom.md`` (``bench/README.md`` says
how to read them).

The students are LIGHT CLIENTS, not browsers: each is one websocket to ``/_stcore/stream`` that
speaks Streamlit's protocol (its protobuf BackMsg and ForwardMsg) as the browser's frontend does,
all 30 in this one asyncio process. Thirty Chromium pages, each redrawing the whole page on every
change, would spend the 2 cores in the browsers and measure those rather than the server. A
light client sends exactly what the frontend would to the server:

* on connecting, BackMsg ``rerun_script`` with a ClientState holding ``query_string="class=CODE"``
  (and a ContextInfo: time zone, locale, URL), like a page opened at ``/?class=CODE``;
* for each ForwardMsg ``auto_rerun`` (a fragment with ``run_every``: the student's poll, every
  0.5 s), a timer that sends ``rerun_script`` with that ``fragment_id``, ``is_auto_rerun=True``,
  the page's current query string and page script hash, every interval, as the frontend's
  ``setInterval`` does; ``stop_auto_rerun`` stops it, and a ``new_session`` of a full run (one
  with no fragment ids in its metadata) clears every timer, as the frontend's
  ``cleanupAutoReruns`` does, until the run sends ``auto_rerun`` again;
* ``page_info_changed`` updates the page's query string (the frontend's ``replaceState``): the
  arrival time of each new ``filter=`` value is taken there.

What it does not send: widget states (a browser sends every widget's value with each rerun
request; a student here never moves a widget, so it sends none and the server keeps its own), and
no ``cached_message_hashes``, so the server sends every message in full (never a ``ref_hash``
the client would have to resolve); the server waits for no acknowledgement. A light client
checks what it was sent, not what a page would draw: the journey's caption ("Filter 7; colour
scale: ...", sent after the chart) tells that the view for the new filter arrived.

So one student also joins in Chromium, as a cross-check of the light clients and of what a page
really shows (``--browser-students N``, 0 for none): its address bar's ``replaceState`` calls are
timed in the page, and after each change, once the page is idle, it must show the journey with
the caption naming the new filter, nothing greyed out.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import os
import re
import sys
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import RESULTS, AppServer, summary  # noqa: E402

TARGET_P95_S = 1.5
# The teacher's key presses: mostly forward, sometimes back (a value seen before comes back).
PATTERN = ["ArrowRight", "ArrowRight", "ArrowRight", "ArrowLeft", "ArrowRight",
           "ArrowRight", "ArrowLeft", "ArrowRight", "ArrowRight", "ArrowRight"]
SETTLE_TIMEOUT_S = 20.0  # after a press, give up waiting for the last student after this long
READY_TIMEOUT_S = 120.0  # every student connected and showing the teacher's view
IDLE_WINDOW_S = 5.0  # before the first press: the server's CPU with only the students' polls
CONTEXT = {"timezone": "UTC", "timezone_offset": 0, "locale": "en-US", "is_embedded": False, "color_scheme": "light"}
NOT_FOLLOWED = ("teacher", "present")  # the teacher's own; never in a student's address
# The journey's caption under its chart names the filter drawn (when the three images share a class,
# as the default three do): "All three are **Ankle boot**. Filter 7; colour scale: ...".
CAPTION = re.compile(r"\bFilter (\d+); colour scale")


def _query(qs: str) -> dict[str, str]:
    return {k: v[0] for k, v in urllib.parse.parse_qs(qs, keep_blank_values=True).items()}


def _filter_of(qs: str) -> int | None:
    value = _query(qs).get("filter")
    return int(value) if value is not None and value.lstrip("-").isdigit() else None


# -- a light client: one student's websocket ----------------------------------------------------
class LightStudent:
    """One student session speaking Streamlit's websocket protocol (see the module's docstring)."""

    def __init__(self, index: int, port: int, code: str) -> None:
        self.index = index
        self.port = port
        self.url = f"http://127.0.0.1:{port}/?class={code}"
        self.query_string = f"class={code}"
        self.page_script_hash = ""
        self.timers: dict[str, tuple[float, asyncio.Task]] = {}
        self.ws = None
        self.filters: list[tuple[float, int | None]] = []  # (time.time(), filter) each time it changed
        self.query_log: list[tuple[float, str]] = []  # every page_info_changed
        self.finished: list[tuple[float, int, bool]] = []  # script_finished: (time, status, fragment run?)
        # the journey's caption ("... Filter 7; colour scale: ..."), sent after its chart: the view drawn
        self.captions: list[tuple[float, int]] = []
        # every run the server started for this page (new_session): start, fragment run?, what it sent
        self.runs: list[dict] = []
        self.errors: list[str] = []
        self.messages = 0
        self.bytes = 0
        self.sent = 0
        self.polls_sent = 0
        self.connected_at: float | None = None
        self.closed = False

    def _rerun(self, fragment_id: str | None = None) -> bytes:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = self.query_string
        state.page_script_hash = self.page_script_hash
        state.page_name = ""
        state.widget_states.SetInParent()
        if fragment_id:
            state.fragment_id = fragment_id
            state.is_auto_rerun = True
        info = state.context_info
        for name, value in CONTEXT.items():
            setattr(info, name, value)
        info.url = self.url
        return msg.SerializeToString()

    async def _send(self, data: bytes) -> None:
        if self.ws is None or self.closed:
            return
        try:
            await self.ws.send(data)
            self.sent += 1
        except Exception as error:  # noqa: BLE001 - the connection went away: recorded, the run carries on
            if not self.closed:
                self.errors.append(f"send failed: {type(error).__name__}: {error}")
                self.closed = True

    async def _tick(self, fragment_id: str, interval: float) -> None:
        """The frontend's setInterval: a rerun request for the fragment every ``interval`` seconds."""
        loop = asyncio.get_running_loop()
        due = loop.time() + interval
        while not self.closed:
            await asyncio.sleep(max(0.0, due - loop.time()))
            due += interval
            self.polls_sent += 1
            await self._send(self._rerun(fragment_id))

    def _clear_timers(self, ids=None) -> None:
        for fragment_id in list(self.timers if ids is None else ids):
            entry = self.timers.pop(fragment_id, None)
            if entry is not None:
                entry[1].cancel()

    def _handle(self, data: bytes, now: float) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        msg = ForwardMsg()
        msg.ParseFromString(data)
        self.messages += 1
        self.bytes += len(data)
        kind = msg.WhichOneof("type")
        if kind == "page_info_changed":
            self.query_string = msg.page_info_changed.query_string
            self.query_log.append((now, self.query_string))
            value = _filter_of(self.query_string)
            if self.runs:
                self.runs[-1]["filter"] = value
            if not self.filters or self.filters[-1][1] != value:
                self.filters.append((now, value))
        elif kind == "auto_rerun":
            fragment_id, interval = msg.auto_rerun.fragment_id, msg.auto_rerun.interval
            if not fragment_id:
                return
            known = self.timers.get(fragment_id)
            if known is not None and known[0] == interval:
                return  # the frontend keeps a running timer of the same interval
            self._clear_timers([fragment_id])
            self.timers[fragment_id] = (interval, asyncio.get_running_loop().create_task(self._tick(fragment_id, interval)))
        elif kind == "stop_auto_rerun":
            self._clear_timers(msg.stop_auto_rerun.fragment_ids)
        elif kind == "new_session":
            self.page_script_hash = msg.new_session.page_script_hash or self.page_script_hash
            self.runs.append({"start": now, "fragment": bool(msg.metadata.run.fragment_ids), "deltas": 0,
                              "bytes": 0, "status": None, "end": None, "filter": None, "caption": None})
            if not msg.metadata.run.fragment_ids:  # a full run: the frontend drops every auto-rerun timer
                self._clear_timers()
        elif kind == "script_finished":
            self.finished.append((now, int(msg.script_finished), bool(msg.metadata.run.fragment_ids)))
            if self.runs:
                self.runs[-1].update(status=int(msg.script_finished), end=now)
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            if self.runs:
                self.runs[-1]["deltas"] += 1
                self.runs[-1]["bytes"] += len(data)
            element = msg.delta.new_element.WhichOneof("type")
            if element == "markdown":
                found = CAPTION.search(msg.delta.new_element.markdown.body)
                if found:
                    self.captions.append((now, int(found.group(1))))
                    if self.runs:
                        self.runs[-1]["caption"] = int(found.group(1))
            elif element == "exception":
                self.errors.append(f"exception on the page: {msg.delta.new_element.exception.message[:200]}")
            elif element == "alert" and msg.delta.new_element.alert.format == 1:  # st.error
                self.errors.append(f"error box: {msg.delta.new_element.alert.body[:200]}")
        elif kind == "session_event" and msg.session_event.WhichOneof("type") == "script_compilation_exception":
            self.errors.append("script compilation exception")

    async def run(self, stop: asyncio.Event) -> None:
        from websockets.asyncio.client import connect

        try:
            async with connect(f"ws://127.0.0.1:{self.port}/_stcore/stream", subprotocols=["streamlit"],
                               origin=f"http://127.0.0.1:{self.port}", max_size=None, open_timeout=60,
                               ping_interval=None) as ws:
                self.ws = ws
                self.connected_at = time.time()
                await self._send(self._rerun())  # the page opened at /?class=CODE
                reader = asyncio.ensure_future(self._read(ws))
                waiter = asyncio.ensure_future(stop.wait())
                await asyncio.wait({reader, waiter}, return_when=asyncio.FIRST_COMPLETED)
                self.closed = True
                for task in (reader, waiter):
                    task.cancel()
        except Exception as error:  # noqa: BLE001 - recorded and reported
            self.errors.append(f"connection failed: {type(error).__name__}: {error}")
        finally:
            self.closed = True
            self._clear_timers()

    async def _read(self, ws) -> None:
        try:
            async for data in ws:
                self._handle(data, time.time())
        except Exception as error:  # noqa: BLE001
            if not self.closed:
                self.errors.append(f"connection lost: {type(error).__name__}: {error}")
        if not self.closed:
            self.errors.append("the server closed the connection")

    # -- what the benchmark reads
    def current_filter(self) -> int | None:
        return self.filters[-1][1] if self.filters else None

    def in_sync_with(self, view: dict[str, str]) -> bool:
        """The page shows ``view`` (the teacher's, without its own keys) and a poll since found no change."""
        if {k: v for k, v in _query(self.query_string).items() if k not in NOT_FOLLOWED} != view:
            return False
        last_change = self.query_log[-1][0] if self.query_log else 0.0
        return any(status == 3 and t >= last_change for t, status, _ in self.finished[-5:])

    def caption_after(self, t: float, value: int) -> float | None:
        """When the journey's caption first named filter ``value`` after ``t`` (the view drawn for it)."""
        return next((at for at, shown in self.captions if at >= t and shown == value), None)


# -- a Chromium student (the cross-check) ---------------------------------------------------------
# Streamlit writes the address with history.replaceState/pushState: log each new search string.
URL_LOG_JS = r"""
(() => {
  if (window.top !== window || window.__urlLog) return;
  window.__urlLog = [];
  const note = () => { const s = location.search; const log = window.__urlLog;
                       if (!log.length || log[log.length - 1][1] !== s) log.push([Date.now() / 1000, s]); };
  for (const name of ['replaceState', 'pushState']) {
    const original = history[name];
    history[name] = function (...args) { const r = original.apply(this, args); note(); return r; };
  }
  note();
})();
"""


BROWSER_VIEW_JS = (
    "() => ({text: document.body.innerText, search: location.search, "
    "stale: document.querySelectorAll('[data-stale=true]').length, "
    "captions: [...document.querySelectorAll('[data-testid=stCaptionContainer]')].map(e => e.innerText.slice(0, 60)), "
    "state: (document.querySelector('[data-testid=stApp]') || {dataset: {}}).dataset})"
)


class BrowserStudent:
    def __init__(self, index: int, context, page) -> None:
        self.index, self.context, self.page = index, context, page
        self.filters: list[tuple[float, int | None]] = []
        self.errors: list[str] = []
        self.checks: list[dict] = []  # after each change: the caption's filter, elements left greyed out (stale)

    async def check(self, change: int, value: int) -> None:
        """Once the page has the change: wait until idle, then what it shows."""
        try:
            await self.page.wait_for_function(f"() => new URLSearchParams(location.search).get('filter') === '{value}'",
                                              timeout=10_000, polling=50)
            await self.page.wait_for_function(common.IDLE_JS, timeout=5_000, polling=50)
            idle = True
        except Exception:  # noqa: BLE001 - recorded: not idle (or not there) within the time
            idle = False
        shown = await self.page.evaluate(BROWSER_VIEW_JS)
        found = CAPTION.search(shown["text"])
        if not found or int(found.group(1)) != value:  # a moment's state, or one that lasts? look again
            await asyncio.sleep(1.5)
            shown = await self.page.evaluate(BROWSER_VIEW_JS)
            found = CAPTION.search(shown["text"])
        self.checks.append({"change": change, "value": value, "idle": idle, "stale": shown["stale"],
                            "caption_filter": int(found.group(1)) if found else None, "search": shown["search"],
                            "captions": shown["captions"], "state": shown["state"], "at": time.time()})

    async def refresh(self) -> None:
        log = await self.page.evaluate("() => window.__urlLog || []")
        filters = []
        for t, search in log:
            value = _filter_of(search.lstrip("?"))
            if not filters or filters[-1][1] != value:
                filters.append((t, value))
        self.filters = filters

    def current_filter(self) -> int | None:
        return self.filters[-1][1] if self.filters else None


# -- the teacher (Chromium) ----------------------------------------------------------------------
async def start_class(browser, server) -> tuple[object, object, str, dict[str, str]]:
    context = await browser.new_context(viewport=common.VIEWPORT)
    context.set_default_timeout(30_000)
    page = await context.new_page()
    await page.goto(server.url, wait_until="domcontentloaded")
    await page.wait_for_function(common.journey_ready_js(), timeout=180_000, polling=100)
    await page.wait_for_function(common.IDLE_JS, timeout=60_000, polling=50)
    start = page.locator(".st-key-class_start button").first
    if not await start.is_visible():
        await page.get_by_text("Class: follow the teacher").click()
    await start.click()
    await page.wait_for_function("() => location.search.includes('teacher=')", timeout=30_000, polling=50)
    await page.wait_for_function(common.IDLE_JS, timeout=30_000, polling=50)
    query = _query(urllib.parse.urlparse(page.url).query)
    return context, page, query["class"], query


async def teacher_view(page) -> dict[str, str]:
    search = await page.evaluate("() => location.search")
    return {k: v for k, v in _query(search.lstrip("?")).items() if k not in NOT_FOLLOWED}


async def teacher_filter(page) -> int:
    return int(await page.frame_locator(common.JOURNEY_FRAME).locator("#filter").evaluate("e => Number(e.value)"))


# -- measuring the processes ---------------------------------------------------------------------
def _proc_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class Sampler:
    """Every half second: the server's CPU (it and its children), its VmRSS, and this process's CPU."""

    def __init__(self, server_pid: int) -> None:
        self.pid = server_pid
        self.samples: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def server_cpu(self, children: bool = True) -> float:
        own = _proc_cpu(self.pid)
        return own + sum(cpu for _, cpu in common.descendants_cpu(self.pid).values()) if children else own

    def take(self, children: bool = True) -> dict:
        """A sample; ``children=False`` skips the walk over /proc for the server's children (the
        periodic samples: it holds this process's GIL for a while, delaying the clients' clocks)."""
        sample = {"t": time.time(), "server_cpu_s": self.server_cpu(children), "rss_kb": _status_kb(self.pid, "VmRSS"),
                  "client_cpu_s": sum(os.times()[:2]), "machine": common.machine_busy_seconds()}
        if children:  # Chromium (the teacher, any browser students) and Playwright's driver: our other children
            server = {self.pid, *common.descendants_cpu(self.pid)}
            sample["browser_cpu_s"] = sum(cpu for pid, (_, cpu) in common.descendants_cpu(os.getpid()).items()
                                          if pid not in server)
        self.samples.append(sample)
        return sample

    def _loop(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError):
                self.take(children=False)
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
    return {"wall_s": round(wall, 2),
            "server_cpu_per_s": (b["server_cpu_s"] - a["server_cpu_s"]) / wall,
            "client_cpu_per_s": (b["client_cpu_s"] - a["client_cpu_s"]) / wall,
            "browser_cpu_per_s": (b.get("browser_cpu_s", 0.0) - a.get("browser_cpu_s", 0.0)) / wall,
            "machine_busy_per_s": busy / wall, "machine_cores": total / wall}


async def loop_lag(stop: asyncio.Event, lags: list[tuple[float, float]]) -> None:
    """How late this process's event loop wakes up (a 50 ms sleep): whether the 30 clients keep up."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        before = loop.time()
        await asyncio.sleep(0.05)
        lags.append((time.time(), (loop.time() - before - 0.05) * 1000))


# -- the run ---------------------------------------------------------------------------------------
async def wait_until(predicate, timeout: float, poll: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(poll)
    return predicate()


async def run_class(server, args, sampler: Sampler) -> dict:
    from playwright.async_api import async_playwright

    stop = asyncio.Event()
    lags: list[tuple[float, float]] = []  # (time.time(), ms late)
    tasks: list[asyncio.Task] = []
    out: dict = {"changes": [], "notes": []}
    async with async_playwright() as playwright:
        browser = await common.launch_chromium(playwright)
        try:
            print("Teacher: opening the app in Chromium and starting a class…", flush=True)
            _, teacher, code, _ = await start_class(browser, server)
            view = await teacher_view(teacher)
            start_filter = await teacher_filter(teacher)
            out.update(code=code, teacher_start_view=view, start_filter=start_filter)
            print(f"Class {code}; the teacher's view: {urllib.parse.urlencode(view)}", flush=True)

            tasks.append(asyncio.ensure_future(loop_lag(stop, lags)))
            students = [LightStudent(i, server.port, code) for i in range(args.students)]
            joined = time.time()
            for student in students:  # they come in within a couple of seconds, not all in one instant
                tasks.append(asyncio.ensure_future(student.run(stop)))
                await asyncio.sleep(args.join_spread / max(1, args.students))
            browser_students: list[BrowserStudent] = []
            for i in range(args.browser_students):
                context = await browser.new_context(viewport=common.VIEWPORT)
                context.set_default_timeout(30_000)
                await context.add_init_script(URL_LOG_JS)
                page = await context.new_page()
                await page.goto(f"{server.url}/?class={code}", wait_until="domcontentloaded")
                browser_students.append(BrowserStudent(i, context, page))
            print(f"{args.students} light clients" + (f" and {args.browser_students} Chromium student(s)"
                                                       if args.browser_students else "") + " joining…", flush=True)

            ok = await wait_until(lambda: all(s.in_sync_with(view) for s in students), READY_TIMEOUT_S, 0.1)
            for b in browser_students:
                await b.page.wait_for_function(f"() => location.search.includes('filter={start_filter}') "
                                               f"&& location.search.includes('class={code}')", timeout=120_000)
                await b.page.wait_for_function(common.journey_ready_js(), timeout=120_000, polling=100)
                await b.page.wait_for_function(common.IDLE_JS, timeout=60_000, polling=50)
            out["join_s"] = round(time.time() - joined, 1)
            if not ok:
                lagging = [s.index for s in students if not s.in_sync_with(view)]
                raise RuntimeError(f"students {lagging} never showed the teacher's view within {READY_TIMEOUT_S:.0f} s; "
                                   f"errors: {[s.errors for s in students if s.errors][:3]}")
            print(f"All {len(students) + len(browser_students)} students show the teacher's view "
                  f"({out['join_s']:.1f} s after the first joined).", flush=True)

            # The cost of following alone: every student polling, nobody changing anything.
            await asyncio.sleep(1.0)
            idle_start = sampler.take()
            polls_before = sum(s.polls_sent for s in students)
            await asyncio.sleep(IDLE_WINDOW_S)
            idle_end = sampler.take()
            out["idle"] = {**window(idle_start, idle_end),
                           "polls_per_s": (sum(s.polls_sent for s in students) - polls_before) / (idle_end["t"] - idle_start["t"])}
            print(f"Polling alone: server {out['idle']['server_cpu_per_s']:.2f} CPU-s/s for "
                  f"{out['idle']['polls_per_s']:.0f} polls/s.", flush=True)

            slider = teacher.frame_locator(common.JOURNEY_FRAME).locator("#filter")  # the journey chart's own slider
            expected = start_filter
            out["measured_start"] = sampler.take()
            for k in range(args.changes):
                key = PATTERN[k % len(PATTERN)]
                if key == "ArrowLeft" and expected == 0:
                    key = "ArrowRight"
                expected += 1 if key == "ArrowRight" else -1
                if not await slider.evaluate("e => document.activeElement === e"):
                    await slider.focus()
                pressed = time.time()  # right before the key press
                await teacher.keyboard.press(key)

                def everyone_has(value=expected) -> bool:
                    return all(s.current_filter() == value for s in students)

                settled = await wait_until(everyone_has, SETTLE_TIMEOUT_S)
                arrived = time.time()
                # then each student's journey for the new filter arrives, and the teacher's page is idle
                if not await wait_until(lambda t=pressed, v=expected: all(s.caption_after(t, v) for s in students),
                                        5.0):
                    lagging = [s.index for s in students if not s.caption_after(pressed, expected)]
                    out["notes"].append(f"change {k + 1}: students {lagging} got no journey caption naming filter "
                                        f"{expected} within 5 s")
                for b in browser_students:
                    await b.check(k + 1, expected)
                with contextlib.suppress(Exception):
                    await teacher.wait_for_function(common.IDLE_JS, timeout=10_000, polling=50)
                shown = await teacher_filter(teacher)
                change = {"index": k + 1, "key": key, "value": expected, "teacher_slider": shown,
                          "pressed": pressed, "all_arrived": settled}
                out["changes"].append(change)
                last = max((next((t for t, v in s.filters if v == expected and t >= pressed), pressed)
                            for s in students), default=pressed) if settled else None
                print(f"  change {k + 1:2d}: {key:10s} → filter {expected:2d} (teacher's slider {shown}); "
                      + (f"last student after {last - pressed:.2f} s" if settled else
                         f"NOT every student within {SETTLE_TIMEOUT_S:.0f} s"), flush=True)
                if shown != expected:
                    out["notes"].append(f"change {k + 1}: the teacher's slider shows {shown}, expected {expected}")
                    expected = shown  # follow what the teacher's page really shows
                    change["value"] = shown
                # a few seconds apart, and at least a second of quiet after the last student
                await asyncio.sleep(max(args.gap - (time.time() - pressed), 1.0 - (time.time() - arrived)))
            out["measured_end"] = sampler.take()
            for b in browser_students:
                await b.refresh()
                errors = await b.page.evaluate(common.ERRORS_JS)
                b.errors += [f"error on the page: {e}" for e in errors]
            out["teacher_errors"] = await teacher.evaluate(common.ERRORS_JS)
            out["students"] = students
            out["browser_students"] = browser_students
        finally:
            stop.set()
            for task in tasks:
                with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, Exception):
                    await asyncio.wait_for(task, timeout=5)
            await browser.close()
    out["loop_lag_ms"] = lags
    return out


def analyse(result: dict, timings: list[dict]) -> dict:
    """Latency per (change, student), the last student per change, misses and wrong values.

    A student has a change when its query string holds the new ``filter=`` (the metric), and has
    the view drawn when the journey's caption naming that filter arrived (sent after the chart).
    Wrong: any other filter value in its address or caption between this press and the next.
    """
    changes = result["changes"]
    everyone = [("light", s) for s in result["students"]] + [("browser", b) for b in result["browser_students"]]
    latencies = {"light": [], "browser": []}
    drawn = []
    per_change = []
    missed, wrong, not_drawn = [], [], []
    teacher_runs = sorted((r for r in timings if r["name"] == "journey"), key=lambda r: r["end"])
    for i, change in enumerate(changes):
        start = change["pressed"]
        end = changes[i + 1]["pressed"] if i + 1 < len(changes) else float("inf")
        value = change["value"]
        arrivals, last_drawn = [], None
        for kind, student in everyone:
            who = f"{kind} {student.index}"
            seen = [(t, v) for t, v in student.filters if start <= t < end]
            hit = next((t for t, v in seen if v == value), None)
            if hit is None:
                missed.append({"change": change["index"], "student": who, "value": value, "seen": [v for _, v in seen]})
                continue
            if any(v != value for _, v in seen):
                wrong.append({"change": change["index"], "student": who, "expected": value, "in": "address",
                              "seen": [v for _, v in seen]})
            latencies[kind].append(hit - start)
            arrivals.append(hit - start)
            if kind == "light":
                captions = [(t, v) for t, v in student.captions if start <= t < end]
                if any(v != value for _, v in captions):
                    wrong.append({"change": change["index"], "student": who, "expected": value, "in": "caption",
                                  "seen": [v for _, v in captions]})
                shown = next((t for t, v in captions if v == value), None)
                if shown is None:
                    not_drawn.append({"change": change["index"], "student": who, "value": value})
                else:
                    drawn.append(shown - start)
                    last_drawn = max(last_drawn or 0.0, shown - start)
        # the teacher's own journey run (the key press → the view published): the first one ending after the press
        published = next((r["end"] - start for r in teacher_runs if start <= r["end"] < end), None)
        per_change.append({"change": change["index"], "key": change["key"], "value": value,
                           "students_arrived": len(arrivals), "first_s": min(arrivals) if arrivals else None,
                           "last_s": max(arrivals) if arrivals else None, "last_drawn_s": last_drawn,
                           "p50_s": common.percentile(arrivals, 50), "teacher_published_s": published})
    # Full runs of the students' pages that never sent script_finished (see the README: a poll that
    # lands as a run ends makes Streamlit start a new ScriptRunner and drop the old one's last events).
    t0 = changes[0]["pressed"] if changes else 0.0
    full_runs = [run for s in result["students"] for run in s.runs if not run["fragment"] and run["start"] >= t0]
    unfinished = [run for run in full_runs if run["status"] is None]
    return {"latency_s": summary(latencies["light"]), "browser_latency_s": summary(latencies["browser"]),
            "drawn_s": summary(drawn),
            "last_student_s": summary([c["last_s"] for c in per_change if c["last_s"] is not None]),
            "last_drawn_s": summary([c["last_drawn_s"] for c in per_change if c["last_drawn_s"] is not None]),
            "teacher_published_s": summary([c["teacher_published_s"] for c in per_change
                                            if c["teacher_published_s"] is not None]),
            "per_change": per_change, "missed": missed, "wrong": wrong, "not_drawn": not_drawn,
            "student_full_runs": len(full_runs), "full_runs_without_script_finished": len(unfinished),
            "unfinished_runs_with_caption": sum(1 for run in unfinished if run["caption"] is not None),
            "browser_problems": [dict(c, student=b.index) for b in result["browser_students"] for c in b.checks
                                 if c["caption_filter"] != c["value"] or not c["idle"] or c["stale"]],
            "all_latencies_s": latencies}


def fmt(value, unit="s", digits=2) -> str:
    return "–" if value is None else f"{value:.{digits}f} {unit}".strip()


def markdown(report: dict) -> str:
    s = report["summary"]
    lat, last = s["latency_s"], s["last_student_s"]
    cpu, idle, mem = s["cpu"], s["idle"], s["memory"]
    met = "yes" if s["target_met"] else "NO"
    lines = [
        "# ConvLab classroom load test: follow the teacher",
        "",
        f"{report['date']} · {report['machine']['nproc']} cores ({report['machine']['cpu_model']}) · one server, "
        f"one teacher in Chromium, {report['students']} students as light clients speaking Streamlit's websocket "
        f"protocol in one Python process (not browsers: see bench/README.md)"
        + (f" + {report['browser_students']} Chromium student(s) as a cross-check" if report["browser_students"] else "")
        + f" · {report['changes']} filter changes {report['gap_s']:g} s apart · {report['duration_s']:.0f} s in all · "
        f"load average at start {report['load_at_start']['loadavg'][0]:.2f}, at the end {report['load_at_end'][0]:.2f} · "
        f"commit {report['code']['commit']}" + (" (app code has uncommitted changes)" if report["code"]["uncommitted"] else ""),
        "",
        "| measure | value | target | met? |",
        "|---|---|---|---|",
        f"| teacher's key press → a student's query string holds the new `filter=`, p50 / p95 / max "
        f"({lat.get('n', 0)} = {report['changes']} changes × {report['students']} students) | "
        f"{fmt(lat.get('p50'))} / {fmt(lat.get('p95'))} / {fmt(lat.get('max'))} | p95 ≤ {TARGET_P95_S:g} s | {met} |",
        f"| per change, until the LAST student has it: p50 / p95 / max over the {last.get('n', 0)} changes | "
        f"{fmt(last.get('p50'))} / {fmt(last.get('p95'))} / {fmt(last.get('max'))} | | |",
        f"| missed (a student's address never showed the value) / wrong (another value in its address or its journey "
        f"caption before the next press) / not drawn (no journey caption naming the value) | "
        f"{len(s['missed'])} / {len(s['wrong'])} / {len(s['not_drawn'])} | 0 / 0 / 0 | "
        f"{'yes' if not (s['missed'] or s['wrong'] or s['not_drawn']) else 'NO'} |",
        f"| errors (exceptions or error boxes sent to a student, lost connections) | {s['errors']} | 0 | "
        f"{'yes' if s['errors'] == 0 else 'NO'} |",
        f"| key press → the teacher's page published the view (its journey run ended), p50 / max | "
        f"{fmt(s['teacher_published_s'].get('p50'))} / {fmt(s['teacher_published_s'].get('max'))} | | |",
        f"| key press → a student's journey drawn for the new filter (its caption, sent after the chart, arrived), "
        f"p50 / p95 / max; until the last student, p95 over the changes | {fmt(s['drawn_s'].get('p50'))} / "
        f"{fmt(s['drawn_s'].get('p95'))} / {fmt(s['drawn_s'].get('max'))}; {fmt(s['last_drawn_s'].get('p95'))} | | |",
        f"| students' full reruns that never sent `script_finished` (Streamlit dropped the run's last events: "
        f"see bench/README.md) | {s['full_runs_without_script_finished']} of {s['student_full_runs']} "
        f"({s['unfinished_runs_with_caption']} of them had sent the journey already) | | |",
        f"| students' full reruns (server's timing hook), p50 / p95 | {fmt(s['script_run_ms'].get('p50'), 'ms', 0)} / "
        f"{fmt(s['script_run_ms'].get('p95'), 'ms', 0)} ({s['script_run_ms'].get('n', 0)} runs) | | |",
        f"| server CPU while the teacher changed the filter (user + sys, it and its children) | "
        f"{cpu['server_cpu_per_s']:.2f} CPU-s per s ({cpu['server_cpu_per_s'] / report['machine']['nproc'] * 100:.0f} % "
        f"of the machine) over {cpu['wall_s']:.0f} s | | |",
        f"| server CPU with the students only polling (no change; {idle['polls_per_s']:.0f} polls/s) | "
        f"{idle['server_cpu_per_s']:.2f} CPU-s per s over {idle['wall_s']:.0f} s | | |",
        f"| server RSS: before the students / max sampled / end; peak (VmHWM) | {mem['rss_mb_before_students']:.0f} / "
        f"{mem['rss_mb_max']:.0f} / {mem['rss_mb_end']:.0f} MB; {mem['hwm_mb']:.0f} MB | | |",
        f"| this process (the {report['students']} light clients, Playwright's client) CPU; its event loop late by p95 / max | "
        f"{cpu['client_cpu_per_s']:.2f} CPU-s per s; {s['loop_lag_ms'].get('p95', 0):.0f} / {s['loop_lag_ms'].get('max', 0):.0f} ms"
        " | | |",
        f"| Chromium (the teacher's page and any Chromium students) and Playwright's driver | "
        f"{cpu['browser_cpu_per_s']:.2f} CPU-s per s | | |",
        f"| the whole machine busy meanwhile (everyone: server, Chromium, clients, other users) | "
        f"{cpu['machine_busy_per_s']:.2f} of {cpu['machine_cores']:.0f} cores | | |",
    ]
    if report["browser_students"]:
        b = s["browser_latency_s"]
        lines.append(f"| cross-check, Chromium students: key press → address bar holds `filter=`, p50 / p95 / max | "
                     f"{fmt(b.get('p50'))} / {fmt(b.get('p95'))} / {fmt(b.get('max'))} ({b.get('n', 0)}) | | |")
        problems = s["browser_problems"]
        blank = sum(1 for c in problems if c["caption_filter"] is None)
        lines.append(f"| cross-check, Chromium students after each change (once idle, and again 1.5 s later): the page "
                     f"shows no journey (main area blank) / the journey of another filter / elements left greyed out "
                     f"or not idle within 5 s | {blank} / "
                     f"{sum(1 for c in problems if c['caption_filter'] not in (None, c['value']))} / "
                     f"{sum(1 for c in problems if c['stale'] or not c['idle'])} of "
                     f"{report['changes'] * report['browser_students']} | 0 | {'yes' if not problems else 'NO'} |")
    lines += ["", "Per change (key → new filter: first / median / last student's address, teacher published):", ""]
    for c in s["per_change"]:
        lines.append(f"- {c['change']:2d}. {c['key']} → {c['value']}: {fmt(c['first_s'])} / {fmt(c['p50_s'])} / "
                     f"{fmt(c['last_s'])} ({c['students_arrived']} students; the last journey drawn after "
                     f"{fmt(c['last_drawn_s'])}), published after {fmt(c['teacher_published_s'])}")
    if report.get("notes"):
        lines += ["", "Notes: " + "; ".join(report["notes"])]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30, help="light clients following the teacher")
    parser.add_argument("--changes", type=int, default=20, help="filter changes the teacher makes")
    parser.add_argument("--gap", type=float, default=3.0, help="seconds between the teacher's key presses (at least)")
    parser.add_argument("--join-spread", type=float, default=3.0, help="the students join within this many seconds")
    parser.add_argument("--browser-students", type=int, default=1,
                        help="also this many students as Chromium pages (a cross-check of the light clients; 0: none)")
    args = parser.parse_args()

    started = time.perf_counter()
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
              "command": "python bench/classroom_load.py " + " ".join(sys.argv[1:]), "machine": common.machine(),
              "code": common.code_version(), "load_at_start": common.load_snapshot(),
              "students": args.students, "browser_students": args.browser_students, "changes": args.changes,
              "gap_s": args.gap, "client": "light clients: Streamlit's websocket protocol (rerun_script BackMsgs, "
              "auto-rerun timers as the frontend's setInterval), all in this Python process", "target_p95_s": TARGET_P95_S,
              "app": common.APP}
    if report["load_at_start"]["busy_processes"]:
        busy = ", ".join(f"{p['command'][:60]} ({p['cpu_percent']:.0f} %)" for p in report["load_at_start"]["busy_processes"][:3])
        print(f"Note: the machine is busy with other work: {busy}", flush=True)
    try:
        with AppServer("classroom") as server:
            sampler = Sampler(server.process.pid)
            before_students = sampler.take()
            sampler.start()
            print(f"Server on {server.url}.", flush=True)
            try:
                result = asyncio.run(run_class(server, args, sampler))
            finally:
                sampler.stop()
            hwm_kb = _status_kb(server.process.pid, "VmHWM")
            end_rss_kb = _status_kb(server.process.pid, "VmRSS")
            timings = server.timings()
            log_text = server.log_tail(200_000)
    except KeyboardInterrupt:
        print("Interrupted: stopping the server and the browser.", flush=True)
        return 130
    finally:
        common.stop_all_children()

    analysis = analyse(result, timings)
    measured = window(result["measured_start"], result["measured_end"])
    t0, t1 = result["measured_start"]["t"], result["measured_end"]["t"]
    script_runs = [r["seconds"] * 1000 for r in timings if r["name"] == "script" and t0 <= r["end"] <= t1]
    rss = [x["rss_kb"] for x in sampler.samples]
    students = result["students"]
    errors = [f"light {s.index}: {e}" for s in students for e in s.errors]
    errors += [f"browser {b.index}: {e}" for b in result["browser_students"] for e in b.errors]
    errors += [f"teacher: {e}" for e in result["teacher_errors"]]
    lat = analysis["latency_s"]
    target_met = bool(lat.get("n")) and lat["p95"] <= TARGET_P95_S
    report.update({
        "duration_s": time.perf_counter() - started,
        "load_at_end": list(os.getloadavg()),
        "class_code": result["code"], "teacher_start_view": result["teacher_start_view"],
        "notes": result["notes"],
        "server_log_tracebacks": log_text.count("Traceback"),
        "samples": [{k: v for k, v in x.items() if k != "machine"} for x in sampler.samples],
        "server_timings": [r for r in timings if r["end"] >= t0 - 60],
        "per_student": [{"student": s.index, "messages": s.messages, "bytes": s.bytes, "sent": s.sent,
                         "polls_sent": s.polls_sent, "filters": s.filters, "errors": s.errors,
                         "captions": s.captions,
                         "full_runs": [r for r in s.runs if not r["fragment"]],
                         "fragment_runs": sum(1 for r in s.runs if r["fragment"])} for s in students],
        "per_browser_student": [{"student": b.index, "filters": b.filters, "errors": b.errors, "checks": b.checks}
                                for b in result["browser_students"]],
        "change_log": result["changes"],
        "summary": {
            **{k: v for k, v in analysis.items() if k != "all_latencies_s"},
            "all_latencies_s": analysis["all_latencies_s"],
            "target_met": target_met,
            "errors": len(errors) + (1 if log_text.count("Traceback") else 0), "error_list": errors[:50],
            "cpu": measured, "idle": result["idle"],
            "script_run_ms": summary(script_runs),
            "memory": {"rss_mb_before_students": before_students["rss_kb"] / 1024,
                       "rss_mb_max": max(rss) / 1024 if rss else 0, "rss_mb_end": end_rss_kb / 1024,
                       "hwm_mb": hwm_kb / 1024},
            "loop_lag_ms": summary([lag for t, lag in result["loop_lag_ms"] if t0 <= t <= t1]),
            "join_s": result["join_s"],
            "messages_per_student": summary([s.messages for s in students]),
            "megabytes_per_student": summary([s.bytes / 2**20 for s in students]),
        },
    })
    text = markdown(report)
    common.save_report("classroom", report, text)
    print()
    print(text)
    if errors:
        print("Errors:")
        for error in errors[:20]:
            print("  " + error)
    for item in (analysis["missed"] + analysis["wrong"] + analysis["not_drawn"])[:20]:
        print("  " + str(item))
    print(f"Wrote {RESULTS / 'classroom.json'} and {RESULTS / 'classroom.md'}; total runtime {report['duration_s']:.0f} s.")
    ok = (target_met and not errors and not analysis["missed"] and not analysis["wrong"] and not analysis["not_drawn"]
          and not analysis["browser_problems"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
