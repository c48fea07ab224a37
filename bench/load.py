"""Load test: 10 browser sessions on one ConvLab server at once (not part of the unit tests).

Run from the repository root (``bench/README.md`` says how long it takes)::

    python bench/load.py            # options: --sessions 10 --seconds 60 --max-actions 60

It starts one ``streamlit run app.py`` on a loopback port and opens 10 pages, each in its own
browser context (so its own Streamlit session), in one Chromium. Each session opens the app
with its own images and filter in the URL (``?images=...&filter=...``), then for about 60
seconds (and at most ``--max-actions`` presses) moves its filter (the number box: a server rerun a press)
and its second image's
number box with the keyboard, staying inside value ranges no other session uses. After each press
it waits for its own journey plot (the plotly div in the app's plotly_react component's
element) to redraw, and records:

- the time from keydown to ``plotly_afterplot`` of the changed heatmaps (in-page timers);
- errors: an exception or error box on the page, or no redraw within the timeout;
- isolation: the drawn row titles ("Image 2 · test #1234 · ...") name exactly this session's
  three images, and its sliders and its address bar (written by the server) hold its values.

Meanwhile the server's VmRSS is sampled every second; VmHWM is read at the end. Results go to
``bench/results/load.json`` and ``bench/results/load.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import random
import re
import sys
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import RESULTS, AppServer, summary  # noqa: E402

FILTER_SPAN = 6  # session i owns filters 6i..6i+5 (10 sessions: 0..59 of 64)
IMAGE_SPAN = 1000  # session i owns test images 1000i..1000i+999
PRESS_TIMEOUT_MS = 30_000
TITLE = re.compile(r"^Image (\d) · test #(\d+) ")


def own_values(session: int) -> dict:
    base = IMAGE_SPAN * session
    return {
        "images": [base + 11, base + 500, base + 977],
        "filter": FILTER_SPAN * session,
        "filter_range": (FILTER_SPAN * session, FILTER_SPAN * session + FILTER_SPAN - 1),
        "image_range": (base + 400, base + 600),
    }


async def _press(page, key: str, press: str) -> dict:
    """Press a key on slider (or number box) ``key``; wait until this page's journey plot shows a changed figure."""
    thumb = page.locator(f".st-key-{key} input[type=range], .st-key-{key} input[type=number]").first
    if not await thumb.evaluate("e => document.activeElement === e"):
        await thumb.focus()
    seq = await page.evaluate("() => window.__bench.seq")
    await page.keyboard.press(press)
    await page.wait_for_function(
        "seq => window.__bench.samples.some(s => s.seq === seq)", arg=seq + 1, timeout=PRESS_TIMEOUT_MS, polling=20
    )
    return await page.evaluate("seq => window.__bench.samples.find(s => s.seq === seq)", seq + 1)


async def _check_own_state(page, expected: dict) -> list[str]:
    """What, if anything, on this page is not this session's: row titles, sliders, address bar."""
    problems = []
    titles = await page.evaluate(common.ROW_TITLES_JS)  # from the journey's plot, in the component's element
    drawn = {}
    for title in titles:
        match = TITLE.match(title)
        if match:
            drawn[int(match.group(1)) - 1] = int(match.group(2))
    if [drawn.get(slot) for slot in range(3)] != expected["images"]:
        problems.append(f"row titles show images {[drawn.get(s) for s in range(3)]}, expected {expected['images']}")
    values = await page.evaluate(
        "() => Object.fromEntries(['image_0', 'image_1', 'image_2', 'filter_box'].map(k => "
        "[k, Number(document.querySelector(`.st-key-${k} input`)?.value)]))"
    )
    if [values[f"image_{s}"] for s in range(3)] != expected["images"] or values["filter_box"] != expected["filter"]:
        problems.append(f"sliders show {values}, expected images {expected['images']} filter {expected['filter']}")
    params = {
        k: v[0] for k, v in urllib.parse.parse_qs((await page.evaluate("() => location.search")).lstrip("?")).items()
    }
    wanted = {"images": ",".join(map(str, expected["images"])), "filter": str(expected["filter"])}
    if {k: params.get(k) for k in wanted} != wanted:
        problems.append(f"address bar has {params}, expected {wanted}")
    errors = await page.evaluate(common.ERRORS_JS)
    if errors:
        problems.append(f"error on the page: {errors}")
    return problems


class Start:
    """The pressing starts when every page has opened (page loads happen together), for ``seconds``."""

    def __init__(self, sessions: int, seconds: float):
        self.waiting, self.seconds = sessions, seconds
        self.event = asyncio.Event()
        self.deadline = None

    def arrived(self) -> None:
        self.waiting -= 1
        if self.waiting == 0:
            self.deadline = time.monotonic() + self.seconds
            self.event.set()

    async def wait(self) -> float:
        await asyncio.wait_for(self.event.wait(), timeout=300)
        return self.deadline


async def run_session(browser, url: str, session: int, start: Start, max_actions: int, pause: float) -> dict:
    own = own_values(session)
    expected = {"images": list(own["images"]), "filter": own["filter"]}
    record = {"session": session, "start_values": dict(expected), "actions": [], "errors": [], "isolation_failures": []}
    context = await browser.new_context(viewport=common.VIEWPORT)
    context.set_default_timeout(PRESS_TIMEOUT_MS)
    await context.add_init_script(common.PAGE_TIMERS_JS)
    arrived = False
    try:
        page = await context.new_page()
        images = ",".join(map(str, own["images"]))
        opened = time.monotonic()
        await page.goto(f"{url}/?images={images}&filter={own['filter']}")
        await page.wait_for_function(common.journey_ready_js(), timeout=180_000, polling=100)
        await page.wait_for_function(common.IDLE_JS, timeout=60_000, polling=50)
        record["page_open_s"] = round(time.monotonic() - opened, 1)
        problems = await _check_own_state(page, expected)
        if problems:
            record["isolation_failures"].append({"action": 0, "problems": problems})
        arrived = True
        start.arrived()
        deadline = await start.wait()
        rng = random.Random(session)
        while len(record["actions"]) < max_actions and time.monotonic() < deadline:
            if rng.random() < 0.5:
                key, low, high, field = "filter_box", *own["filter_range"], "filter"  # typed: a rerun each
                value = expected["filter"]
            else:
                key, low, high, field = "image_1", *own["image_range"], None
                value = expected["images"][1]
            up = value < high and (value == low or rng.random() < 0.6)
            step = 1 if up else -1
            press = "ArrowUp" if up else "ArrowDown"  # number boxes, each press a server rerun
            started = time.monotonic()
            try:
                sample = await _press(page, key, press)
                ms = round(sample["drawn"] - sample["keydown"], 1)
                parts = common.sample_ms(sample)
            except Exception as error:  # a timeout: counted, then carry on from what the page shows
                record["errors"].append(
                    {
                        "action": len(record["actions"]) + 1,
                        "kind": "timeout",
                        "detail": f"{key} {press}: {type(error).__name__}: {str(error)[:200]}",
                    }
                )
                record["actions"].append(
                    {"slider": key, "press": press, "ms": None, "wall_ms": round((time.monotonic() - started) * 1000)}
                )
                await asyncio.sleep(1.0)
                continue
            if field == "filter":
                expected["filter"] += step
            else:
                expected["images"][1] += step
            record["actions"].append(
                {
                    "slider": key,
                    "press": press,
                    "ms": ms,
                    "keydown_to_chart_message_ms": None
                    if sample["bigMsg"] is None
                    else round(sample["bigMsg"] - sample["keydown"], 1),
                    "chart_message_to_drawn_ms": parts["chart_message_to_drawn"],
                }
            )
            await page.wait_for_function(common.IDLE_JS, timeout=PRESS_TIMEOUT_MS, polling=50)
            problems = await _check_own_state(page, expected)
            if problems:
                record["isolation_failures"].append({"action": len(record["actions"]), "problems": problems})
                if any(p.startswith("error on the page") for p in problems):
                    record["errors"].append(
                        {"action": len(record["actions"]), "kind": "page error", "detail": problems[-1][:300]}
                    )
            await asyncio.sleep(pause * rng.uniform(0.5, 1.5))  # a person's pace, roughly
    except Exception as error:
        record["errors"].append(
            {
                "action": len(record["actions"]),
                "kind": "session failed",
                "detail": f"{type(error).__name__}: {str(error)[:300]}",
            }
        )
    finally:
        if not arrived:
            start.arrived()  # a session that failed to open doesn't hold the others back
        await context.close()
    record["end_values"] = expected
    return record


async def run_all(server: AppServer, sessions: int, seconds: float, max_actions: int, pause: float) -> list[dict]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await common.launch_chromium(playwright)
        try:
            start = Start(sessions, seconds)
            return await asyncio.gather(
                *(run_session(browser, server.url, i, start, max_actions, pause) for i in range(sessions))
            )
        finally:
            await browser.close()


def markdown(report: dict) -> str:
    s = report["summary"]
    r = s["response_ms"]
    lines = [
        "# ConvLab load test",
        "",
        f"{report['date']} · {report['machine']['nproc']} cores · {report['sessions']} sessions in one Chromium, "
        f"one server · {report['duration_s']:.0f} s · "
        f"load average at start {report['load_at_start']['loadavg'][0]:.2f} · "
        f"commit {report['code']['commit']}"
        + (" (app code has uncommitted changes)" if report["code"]["uncommitted"] else ""),
        "",
        *(
            [f"**Experiment: the server ran `{report['app']}`, not `app.py`.**", ""]
            if report["app"] != "app.py"
            else []
        ),
        "| measure | value |",
        "|---|---|",
        f"| actions done (key presses redrawn) | {s['actions_done']} of {s['actions_tried']} tried |",
        f"| errors (timeouts, error boxes, failed sessions) | {s['errors']} |",
        f"| isolation failures (another session's images or filter shown) | {s['isolation_failures']} |",
        "| response, key press → own journey redrawn: p50 / p95 / max | "
        f"{r.get('p50', 0):.0f} / {r.get('p95', 0):.0f} / "
        f"{r.get('max', 0):.0f} ms |",
        f"| server fragment runs during the test: p50 / p95 | {s['server_journey_ms'].get('p50', 0):.1f} / "
        f"{s['server_journey_ms'].get('p95', 0):.1f} ms ({s['server_journey_ms'].get('n', 0)} runs, "
        f"{s['server_script_runs']} full script runs) |",
        f"| server RSS: start / max sampled / end | {s['rss_mb_first']:.0f} / "
        f"{s['rss_mb_max']:.0f} / {s['rss_mb_last']:.0f} MB |",
        f"| server peak RSS (VmHWM) at the end | {s['hwm_mb']:.0f} MB |",
        f"| pages opened together: p50 / max time to the journey drawn | {s['page_open_s'].get('p50', 0):.1f} / "
        f"{s['page_open_s'].get('max', 0):.1f} s |",
        f"| where it goes: key press → chart message handled / → drawn, p50 (p95) | "
        f"{s['keydown_to_chart_message_ms'].get('p50', 0):.0f} "
        f"({s['keydown_to_chart_message_ms'].get('p95', 0):.0f}) / "
        f"{s['chart_message_to_drawn_ms'].get('p50', 0):.0f} ({s['chart_message_to_drawn_ms'].get('p95', 0):.0f}) ms |",
        f"| CPU over the test: server / Chromium and Playwright / other users / capacity | "
        f"{s['cpu']['server_s']:.0f} / {s['cpu']['browser_and_driver_s']:.0f} / {s['cpu']['other_users_s']:.0f} / "
        f"{s['cpu']['machine_capacity_s']:.0f} core-seconds |",
        "",
        "Per session: "
        + "; ".join(
            f"#{x['session']} {x['actions']} actions, p50 {x['p50_ms']:.0f} ms"
            if x["p50_ms"] is not None
            else f"#{x['session']} {x['actions']} actions"
            for x in s["per_session"]
        ),
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60, help="how long each session keeps pressing keys")
    parser.add_argument("--max-actions", type=int, default=60, help="at most this many presses per session")
    parser.add_argument("--pause", type=float, default=0.3, help="mean pause between a session's presses, s")
    parser.add_argument(
        "--app",
        default="app.py",
        help="the script streamlit serves instead of app.py: for experiments (a wrapper that changes it)",
    )
    args = parser.parse_args()
    common.APP = args.app
    if args.sessions * FILTER_SPAN > 64 or args.sessions * IMAGE_SPAN > 10_000:
        parser.error("at most 10 sessions: each owns 6 filters and 1000 images")

    started = time.perf_counter()
    RESULTS.mkdir(parents=True, exist_ok=True)
    rss, stop = [], threading.Event()
    report = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": "python bench/load.py " + " ".join(sys.argv[1:]),
        "machine": common.machine(),
        "code": common.code_version(),
        "load_at_start": common.load_snapshot(),
        "sessions": args.sessions,
        "seconds_per_session": args.seconds,
        "max_actions": args.max_actions,
        "pause_s": args.pause,
        "app": args.app,
    }
    try:
        with AppServer("load") as server:
            cpu_seen: dict[int, tuple[str, float]] = {}  # every descendant process's CPU, last seen

            def sample_rss():
                while not stop.is_set():
                    try:
                        rss.append((round(time.time() - report_started, 1), server.status_kb("VmRSS")))
                        cpu_seen.update(common.descendants_cpu(os.getpid()))
                    except (OSError, RuntimeError):
                        pass
                    stop.wait(1.0)

            report_started = time.time()
            cpu_before, machine_before = server.cpu_seconds(), common.machine_busy_seconds()
            self_before = sum(os.times()[:2])  # this script's own CPU (Playwright's driver and Chromium are children)
            sampler = threading.Thread(target=sample_rss, daemon=True)
            sampler.start()
            print(
                f"{args.sessions} sessions on {server.url}, about {args.seconds:.0f} s of key presses each…", flush=True
            )
            try:
                sessions = asyncio.run(run_all(server, args.sessions, args.seconds, args.max_actions, args.pause))
            finally:
                stop.set()
                sampler.join(timeout=5)
            hwm_kb = server.status_kb("VmHWM")
            server_cpu = server.cpu_seconds() - cpu_before
            machine_after = common.machine_busy_seconds()
            machine_busy = machine_after[0] - machine_before[0]
            machine_total = machine_after[1] - machine_before[1]
            self_cpu = sum(os.times()[:2]) - self_before
            # Chromium and the driver started during the test, so all their CPU counts (last seen, sampled each second).
            server_tree = {server.process.pid, *common.descendants_cpu(server.process.pid)}
            browser_cpu = sum(cpu for pid, (_, cpu) in cpu_seen.items() if pid not in server_tree)
            timings = server.timings()
            log_text = server.log_tail(200_000)
    finally:
        common.stop_all_children()

    times = [a["ms"] for s in sessions for a in s["actions"] if a["ms"] is not None]
    start_epoch = report_started
    journey = [r["seconds"] * 1000 for r in timings if r["name"] == "journey" and r["end"] >= start_epoch]
    report.update(
        {
            "duration_s": time.perf_counter() - started,
            "per_session": sessions,
            "rss_kb_every_second": rss,
            "server_timings": timings,
            "server_log_tracebacks": log_text.count("Traceback"),
            "summary": {
                "actions_tried": sum(len(s["actions"]) for s in sessions),
                "actions_done": len(times),
                "errors": sum(len(s["errors"]) for s in sessions),
                "error_list": [dict(e, session=s["session"]) for s in sessions for e in s["errors"]],
                "isolation_failures": sum(len(s["isolation_failures"]) for s in sessions),
                "response_ms": summary(times),
                "server_journey_ms": summary(journey),
                "server_script_runs": sum(1 for r in timings if r["name"] == "script"),
                "rss_mb_first": rss[0][1] / 1024 if rss else 0,
                "rss_mb_max": max(v for _, v in rss) / 1024 if rss else 0,
                "rss_mb_last": rss[-1][1] / 1024 if rss else 0,
                "hwm_mb": hwm_kb / 1024,
                "page_open_s": summary([s["page_open_s"] for s in sessions if "page_open_s" in s]),
                "cpu": {
                    "server_s": server_cpu,
                    "browser_and_driver_s": browser_cpu,
                    "this_script_s": self_cpu,
                    "machine_busy_s": machine_busy,
                    "machine_capacity_s": machine_total,
                    "other_users_s": max(machine_busy - server_cpu - browser_cpu - self_cpu, 0.0),
                },
                "keydown_to_chart_message_ms": summary(
                    [
                        a["keydown_to_chart_message_ms"]
                        for s in sessions
                        for a in s["actions"]
                        if a.get("keydown_to_chart_message_ms") is not None
                    ]
                ),
                "chart_message_to_drawn_ms": summary(
                    [
                        a["chart_message_to_drawn_ms"]
                        for s in sessions
                        for a in s["actions"]
                        if a.get("chart_message_to_drawn_ms") is not None
                    ]
                ),
                "per_session": [
                    {
                        "session": s["session"],
                        "actions": len(s["actions"]),
                        "p50_ms": summary([a["ms"] for a in s["actions"] if a["ms"] is not None]).get("p50"),
                    }
                    for s in sessions
                ],
            },
        }
    )
    text = markdown(report)
    common.save_report("load", report, text)
    print()
    print(text)
    if report["summary"]["error_list"]:
        print("Errors:")
        for error in report["summary"]["error_list"][:20]:
            print(f"  session {error['session']}, action {error['action']}: {error['kind']}: {error['detail']}")
    print(f"Wrote {RESULTS / 'load.json'} and {RESULTS / 'load.md'}; total runtime {report['duration_s']:.0f} s.")
    return 0 if report["summary"]["errors"] == 0 and report["summary"]["isolation_failures"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
