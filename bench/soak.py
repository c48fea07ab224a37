"""Soak test: an hour of a real class on one server, measured minute by minute (not a unit test).

Run from the repository root::

    python bench/soak.py               # 60 minutes of use (about 62 minutes with the start)
    python bench/soak.py --minutes 5   # the quick mode: about 7 minutes
    python bench/soak.py --explorer-kind browser   # the explorers in Chromium (the default: light explorers)

What runs (issue 25, part 3), all against one ``streamlit run app.py`` serving a temporary copy of
the shipped models (the repository's ``models/`` is never written):

- **a teacher** in Chromium starts a class (``classroom_load.start_class``) and moves the journey
  chart's filter slider every ``--teacher-gap`` seconds (20), right until filter 63, then left;
- **``--followers`` light students** (30; ``light_client.LightStudent``: a page's websocket and the
  class feed, see bench/README.md) follow it. "follow" is the time from the teacher's key press to
  a follower's feed holding the new filter; a follower without it within 15 s, or before the next
  press, has **missed** that update;
- **``--explorers`` explorers** (10), each in its own session with its own images and filter
  (``load.own_values``), at a person's pace (a pause of ``--pause`` s, ±50 %, between actions):
  "image" (image 2's box one up or down), "filter" (the filter box one up or down) and "tab" (Filters
  or Predictions opened from the top bar, then the Journey again: two timed actions). Of
  ``--explorer-kind``:

  - ``light`` (the default): light explorers (``light_explorer.LightExplorer``: a page's websocket,
    without a browser, as each student's browser runs on its own device in a classroom; ten Chromium
    pages would hold this machine's 2 cores and the soak would measure them waiting). "image" and
    "filter" send the box's new value and are timed from the send to the run's ``script_finished``
    (the server's share of the wait), then checked: the run's journey chart describes the explorer's
    own images and filter, and its boxes and address hold them; "tab" sends the view's
    ``page_script_hash``, timed the same way, and checks the view drew its first chart. A lost
    connection or a timeout is an error, and the explorer opens its page again at its own address;
  - ``browser``: Chromium pages. "image" and "filter" are ↑/↓ in the box, each timed from keydown to
    the journey's changed plot drawn (``common.PAGE_TIMERS_JS``) and followed by load.py's check that
    the page shows only its own images and filter; "tab" is a click in the top bar's menu, timed until
    the address names the view, the page is idle and the view's first chart (the journey: its plot)
    is there;
- **a lab training every 10 minutes** (minute 1, 11, …; the quick mode: one, at minute 1): one more
  Chromium page on the Lab view builds one conv block of 16 filters, 1 epoch, 1,000 images, with a
  new seed each time (so never a variant already trained), presses Train, and waits until the app's
  worker process has written the model into the folder.

Read the report (``bench/results/soak.md``, ``soak.json``, ``soak.png``) as: the targets table
(0 errors of any kind: the explorers' timeouts, lost connections, error boxes and wrong state, the followers' and the
teacher's connection and page errors, the lab's failed trainings, tracebacks in the server's log;
0 missed updates; the server's RSS, the mean of each minute, grows ≤ 5 % from minute 10 to the last
minute; each interaction's p95 in the last 10 minutes within 20 % of the first 10 minutes'), then
the per-minute table and plot. The quick mode scales the windows to a sixth of the run (minute 1
against minute 5; the first minute against the last). The server's RSS is its own process (the
training worker is a separate process, started per training). The script exits non-zero when a
target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from classroom_load import (  # noqa: E402
    SETTLE_TIMEOUT_S,
    Sampler,
    _status_kb,
    loop_lag,
    start_class,
    teacher_filter,
    wait_until,
    wind_down,
    window,
)
from common import REPO, RESULTS, percentile, summary  # noqa: E402
from convlab_testing.live_app import StreamlitServer, view_of_url  # noqa: E402
from light_client import LightStudent  # noqa: E402
from light_explorer import LightExplorer  # noqa: E402
from load import _check_own_state, _press, own_values  # noqa: E402

TARGET_RSS_GROWTH = 0.05  # RSS from minute 10 to the last ≤ +5 %
TARGET_P95_DRIFT = 0.20  # each interaction's p95, last 10 minutes against the first 10: within 20 %
INTERACTIONS = ("follow", "image", "filter", "tab")
TABS = ("filters", "predictions")
# A view: its top-bar section, its menu entry's title, an element it draws (the journey: its plot, awaited apart).
VIEWS = {
    "journey": ("The lesson", "Journey", "journey_chart"),
    "filters": ("The lesson", "Filters", "filters_chart"),
    "predictions": ("The lesson", "Predictions", "probabilities_chart"),
    "lab": ("Training", "Lab", "lab_blocks"),
}
VIEW_READY_JS = (
    "([slug, key]) => (location.pathname.replace(/^\\/+|\\/+$/g, '') || 'journey') === slug "
    "&& !!document.querySelector('.st-key-' + key) "
    f"&& ({common.IDLE_JS})()"
)
ACTION_TIMEOUT_MS = 60_000
TRAINING_TIMEOUT_S = 600.0  # the worker loads TensorFlow first on a busy machine
TRAINING_EVERY_MIN = 10
PLOTLY_JS = REPO / "vendor" / "plotly.js-cartesian" / "plotly-cartesian.min.js"


def models_copy() -> Path:
    """The shipped model folder copied (without its caches): the server trains and caches into it, not models/."""
    folder = Path(tempfile.mkdtemp(prefix="convlab-soak-")) / "models"
    shutil.copytree(REPO / "models", folder, ignore=shutil.ignore_patterns(".*", "corrupt", "testset"))
    return folder


async def open_view(page, slug: str) -> None:
    """Open ``slug`` as a person does: its section in the top bar, then its entry."""
    section, title, _ = VIEWS[slug]
    await page.locator("[data-testid=stTopNavSection]", has_text=section).click()
    entry = page.locator("[data-testid=stTopNavPopover] [data-testid=stTopNavDropdownLink]", has_text=title)
    await entry.first.click()


async def view_ready(page, slug: str) -> None:
    await page.wait_for_function(VIEW_READY_JS, arg=[slug, VIEWS[slug][2]], timeout=ACTION_TIMEOUT_MS, polling=50)
    if slug == "journey":
        await page.wait_for_function(common.journey_ready_js(), timeout=ACTION_TIMEOUT_MS, polling=50)


# -- the explorers --------------------------------------------------------------------------------
async def explorer(browser, url: str, index: int, clock: SimpleNamespace, pause: float, log: list) -> dict:
    """One person exploring on their own until ``clock.end``; every action into ``log`` as (kind, t, ms)."""
    own = own_values(index)
    expected = {"images": list(own["images"]), "filter": own["filter"]}
    record = {"explorer": index, "actions": 0, "errors": []}
    context = await browser.new_context(viewport=common.VIEWPORT)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    await context.add_init_script(common.PAGE_TIMERS_JS)
    rng = random.Random(index)
    try:
        page = await context.new_page()
        await page.goto(f"{url}/?images={','.join(map(str, own['images']))}&filter={own['filter']}")
        await page.wait_for_function(common.journey_ready_js(), timeout=180_000, polling=100)
        await page.wait_for_function(common.IDLE_JS, timeout=60_000, polling=50)
        clock.ready += 1
        await clock.started.wait()
        while time.time() < clock.end:
            await asyncio.sleep(pause * rng.uniform(0.5, 1.5))  # a person's pace, roughly
            if time.time() >= clock.end:
                break
            kind = rng.choices(("image", "filter", "tab"), weights=(4, 4, 2))[0]
            started = time.time()
            try:
                if kind == "tab":
                    for slug in (rng.choice(TABS), "journey"):  # there and back: two timed actions
                        started = time.time()
                        await open_view(page, slug)
                        await view_ready(page, slug)
                        log.append((kind, started, (time.time() - started) * 1000))
                else:
                    key, field = ("image_1", "image") if kind == "image" else ("filter_box", "filter")
                    low, high = own["image_range"] if kind == "image" else own["filter_range"]
                    value = expected["images"][1] if kind == "image" else expected["filter"]
                    up = value < high and (value == low or rng.random() < 0.6)
                    sample = await _press(page, key, "ArrowUp" if up else "ArrowDown")
                    log.append((kind, started, sample["drawn"] - sample["keydown"]))
                    if field == "image":
                        expected["images"][1] += 1 if up else -1
                    else:
                        expected["filter"] += 1 if up else -1
                    await page.wait_for_function(common.IDLE_JS, timeout=ACTION_TIMEOUT_MS, polling=50)
                record["actions"] += 1
                problems = await _check_own_state(page, expected)
                if problems:
                    record["errors"].append({"t": time.time(), "kind": f"after {kind}", "detail": problems})
            except Exception as error:  # a timeout: counted, then carry on from where the page is
                record["errors"].append(
                    {"t": started, "kind": f"{kind} failed", "detail": f"{type(error).__name__}: {str(error)[:300]}"}
                )
                with contextlib.suppress(Exception):  # back on the journey, as the next action expects
                    if view_of_url(page.url) != "journey":
                        await open_view(page, "journey")
                    await view_ready(page, "journey")
    except Exception as error:
        clock.ready += 1
        record["errors"].append({"t": time.time(), "kind": "explorer failed", "detail": f"{error!r}"[:300]})
    finally:
        await context.close()
    return record


async def light_explorer(url: str, index: int, clock: SimpleNamespace, pause: float, log: list) -> dict:
    """``explorer``'s person, the same actions at the same pace, as a page on the wire (``LightExplorer``).

    Each action is timed from its rerun sent to its run finished (the server's share of the wait), then
    checked: the journey's run draws the chart of its own images and filter, its boxes and address hold them.
    """
    own = own_values(index)
    expected = {"images": list(own["images"]), "filter": own["filter"]}
    record = {"explorer": index, "actions": 0, "errors": []}
    page = LightExplorer("127.0.0.1", int(url.rsplit(":", 1)[1]), own["images"], own["filter"])
    timeout = ACTION_TIMEOUT_MS / 1000
    rng = random.Random(index)
    try:
        _, run = await page.open(expected["images"], expected["filter"], 180)
        if problems := page.journey_problems(run, expected):
            record["errors"].append(_error(time.time(), "opened", problems))
        clock.ready += 1
        await clock.started.wait()
        while time.time() < clock.end and (kind := await _next_action(rng, pause, clock)):
            started = time.time()
            try:
                if kind == "tab":
                    run = await _light_tab(page, rng.choice(TABS), log, record["errors"], timeout)
                else:
                    run = await _light_move(page, kind, own, expected, rng.random, log, timeout)
                record["actions"] += 1
                if problems := page.journey_problems(run, expected):
                    record["errors"].append(_error(time.time(), f"after {kind}", problems))
            except Exception as error:  # a lost connection or a timeout: counted, then a new page at its address
                record["errors"].append(
                    _error(started, f"{kind} failed", f"{type(error).__name__}: {str(error)[:300]}")
                )
                with contextlib.suppress(Exception):
                    await page.open(expected["images"], expected["filter"], timeout)
    except Exception as error:
        clock.ready += 1
        record["errors"].append(_error(time.time(), "explorer failed", f"{error!r}"[:300]))
    finally:
        with contextlib.suppress(Exception):
            await page.close()
    return record


async def _next_action(rng: random.Random, pause: float, clock: SimpleNamespace) -> str | None:
    """After a pause of ``pause`` s ± 50 %, the next action: image, filter or tab (4 : 4 : 2); None at the end."""
    await asyncio.sleep(pause * rng.uniform(0.5, 1.5))
    return None if time.time() >= clock.end else rng.choices(("image", "filter", "tab"), weights=(4, 4, 2))[0]


async def _light_tab(page: LightExplorer, slug: str, log: list, errors: list, timeout: float) -> dict:
    """View ``slug`` opened, then the Journey again, each a timed "tab"; the journey's run returned."""
    for path in (slug, ""):  # "": the default page, the journey
        sent = time.time()
        ms, run = await page.open_view(path, timeout)
        log.append(("tab", sent, ms))
        if path and (problems := page.view_problems(run, path, VIEWS[path][2])):
            errors.append(_error(time.time(), f"{path} opened", problems))
    return run


async def _light_move(page: LightExplorer, kind: str, own: dict, expected: dict, coin, log: list, timeout: float):
    """Image 2's box or the filter box one step, within its range (up 6 times in 10); timed; the run returned."""
    low, high = own[f"{kind}_range"]
    value = expected["images"][1] if kind == "image" else expected["filter"]
    step = 1 if value < high and (value == low or coin() < 0.6) else -1
    sent = time.time()
    ms, run = await page.set_box("image_1" if kind == "image" else "filter_box", value + step, timeout)
    log.append((kind, sent, ms))
    if kind == "image":
        expected["images"][1] += step
    else:
        expected["filter"] += step
    return run


def _error(t: float, kind: str, detail) -> dict:
    return {"t": t, "kind": kind, "detail": detail}


# -- the lab -----------------------------------------------------------------------------------------
async def lab(browser, url: str, models: Path, clock: SimpleNamespace, log: list) -> list[dict]:
    """A training every ``TRAINING_EVERY_MIN`` minutes (from minute 1), each a new seed; until the model is saved."""
    trainings: list[dict] = []
    context = await browser.new_context(viewport=common.VIEWPORT)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    page = await context.new_page()
    try:
        await page.goto(url)
        await page.wait_for_function(common.journey_ready_js(), timeout=180_000, polling=100)
        await open_view(page, "lab")
        await view_ready(page, "lab")
        await page.locator(".st-key-lab_blocks").get_by_text("1", exact=True).click()  # one conv block
        await page.wait_for_function(common.IDLE_JS, polling=50)
        await page.locator(".st-key-lab_filters_0").get_by_role("slider").focus()
        for _ in range(2):
            await page.keyboard.press("ArrowLeft")  # 64 → 32 → 16 filters
        await page.wait_for_function(common.IDLE_JS, polling=50)
        await page.locator(".st-key-lab_epochs").get_by_role("slider").focus()
        await page.keyboard.press("Home")  # 1 epoch
        await page.wait_for_function(common.IDLE_JS, polling=50)
        await page.locator(".st-key-lab_samples").get_by_role("combobox").click()
        await page.get_by_role("option", name="1,000 (quick)").click()
        await page.wait_for_function(common.IDLE_JS, polling=50)
        clock.ready += 1
        await clock.started.wait()
        k = 0
        while (at := clock.start + 60 * (1 + TRAINING_EVERY_MIN * k)) < clock.end:
            await asyncio.sleep(max(0.0, at - time.time()))
            seed = 1000 + k  # a new variant each time: never one the folder already holds
            k += 1
            entry = {"seed": seed, "t": time.time(), "error": None}
            trainings.append(entry)
            try:
                seed_box = page.locator(".st-key-lab_seed input")
                await seed_box.fill(str(seed))
                await seed_box.press("Enter")
                await page.wait_for_function(common.IDLE_JS, polling=50)
                before = {p.name for p in models.glob("*.keras")}
                await page.locator(".st-key-lab_train button").click()
                saved = await wait_until(
                    lambda b=before: {p.name for p in models.glob("*.keras")} - b, TRAINING_TIMEOUT_S, 1.0
                )
                entry["s"] = round(time.time() - entry["t"], 1)
                if not saved:
                    entry["error"] = f"no model saved within {TRAINING_TIMEOUT_S:.0f} s"
                errors = await page.evaluate(common.ERRORS_JS)
                if errors:
                    entry["error"] = f"error on the lab page: {errors}"
            except Exception as error:
                entry["error"] = f"{type(error).__name__}: {str(error)[:300]}"
            print(
                f"    lab: seed {seed} "
                + (f"FAILED: {entry['error']}" if entry["error"] else f"saved in {entry['s']} s")
            )
            log.append(("training", entry["t"], entry.get("s", 0) * 1000))
    except Exception as error:
        clock.ready += 1
        trainings.append({"seed": None, "t": time.time(), "error": f"lab failed: {error!r}"[:300]})
    finally:
        await context.close()
    return trainings


# -- the class ------------------------------------------------------------------------------------
async def teach(teacher, students: list, clock: SimpleNamespace, gap: float, log: list) -> list[dict]:
    """The teacher's filter changes, ``gap`` s apart, until the end; each follower's arrival logged as "follow"."""
    slider = teacher.locator(common.JOURNEY_SLIDER)
    expected = await teacher_filter(teacher)
    direction, changes = 1, []
    while time.time() + gap < clock.end:
        if not 0 <= expected + direction <= 63:
            direction = -direction
        expected += direction
        if not await slider.evaluate("e => document.activeElement === e"):
            await slider.focus()
        pressed = time.time()
        await teacher.keyboard.press("ArrowRight" if direction > 0 else "ArrowLeft")
        everyone = await wait_until(
            lambda t=pressed, v=expected: all(s.filter_at(t, v) for s in students), SETTLE_TIMEOUT_S
        )
        missed = [s.index for s in students if not s.filter_at(pressed, expected)]
        for s in students:
            if (t := s.filter_at(pressed, expected)) is not None:
                log.append(("follow", pressed, (t - pressed) * 1000))
        changes.append({"t": pressed, "value": expected, "everyone": everyone, "missed": missed})
        shown = await teacher_filter(teacher)
        if shown != expected:
            changes[-1]["teacher_shows"] = shown
            expected = shown
        await asyncio.sleep(max(0.0, gap - (time.time() - pressed)))
    return changes


async def soak(url: str, models: Path, config, sampler: Sampler) -> dict:
    from playwright.async_api import async_playwright

    stop = asyncio.Event()
    log: list[tuple[str, float, float]] = []
    lags: list[tuple[float, float]] = []
    tasks: list[asyncio.Task] = []
    out: dict = {}
    async with async_playwright() as playwright:
        browser = await common.launch_chromium(playwright)
        try:
            print("  teacher: starting a class…", flush=True)
            teacher, code = await start_class(browser, url)
            port = int(url.rsplit(":", 1)[1])
            students = [LightStudent(i, "127.0.0.1", port, code) for i in range(config.followers)]
            for student in students:
                tasks.append(asyncio.ensure_future(student.run(stop)))
                await asyncio.sleep(0.05)
            if not await wait_until(lambda: all(s.ready() for s in students), 60 + 1.5 * config.followers, 0.1):
                raise RuntimeError(f"followers never showed the class: {[s.index for s in students if not s.ready()]}")
            print(
                f"  {config.followers} followers in the class; {config.explorers} {config.explorer_kind} explorers "
                "and the lab opening…"
            )
            clock = SimpleNamespace(ready=0, started=asyncio.Event(), start=0.0, end=float("inf"))
            if config.explorer_kind == "light":
                explorers = [
                    asyncio.ensure_future(light_explorer(url, i, clock, config.pause, log))
                    for i in range(config.explorers)
                ]
            else:
                explorers = [
                    asyncio.ensure_future(explorer(browser, url, i, clock, config.pause, log))
                    for i in range(config.explorers)
                ]
            trainer = asyncio.ensure_future(lab(browser, url, models, clock, log))
            await wait_until(lambda: clock.ready >= config.explorers + 1, 600, 0.5)
            clock.start = time.time()
            clock.end = clock.start + 60 * config.minutes
            clock.started.set()
            tasks.append(asyncio.ensure_future(loop_lag(stop, lags)))
            print(f"  soaking for {config.minutes} minutes from {time.strftime('%H:%M:%S')}…", flush=True)

            async def progress():
                while time.time() < clock.end:
                    await asyncio.sleep(60)
                    minute = int((time.time() - clock.start) // 60)
                    rss = _status_kb(sampler.setup.servers[0].process.pid, "VmRSS") / 1024
                    recent = [ms for kind, t, ms in log if t >= time.time() - 60 and kind != "training"]
                    print(
                        f"    minute {minute}: RSS {rss:.0f} MB, {len(recent)} timings, p95 "
                        f"{percentile(recent, 95) or 0:.0f} ms",
                        flush=True,
                    )

            ticker = asyncio.ensure_future(progress())
            out["changes"] = await teach(teacher, students, clock, config.teacher_gap, log)
            out["explorers"] = await asyncio.gather(*explorers)
            out["trainings"] = await trainer
            ticker.cancel()
            out["teacher_errors"] = await teacher.evaluate(common.ERRORS_JS)
            out["start"], out["end"] = clock.start, clock.end
            out["students"] = students
        finally:
            await wind_down(stop, tasks, browser)
    out["log"], out["loop_lag_ms"] = log, lags
    return out


# -- the report ------------------------------------------------------------------------------------
def per_minute(result: dict, samples: list[dict], minutes: int) -> list[dict]:
    rows = []
    for m in range(minutes):
        t0 = result["start"] + 60 * m
        t1 = t0 + 60
        rss = [s["rss_kb"][0] / 1024 for s in samples if t0 <= s["t"] < t1]
        row = {"minute": m + 1, "rss_mb": sum(rss) / len(rss) if rss else None}
        for kind in INTERACTIONS:
            times = [ms for k, t, ms in result["log"] if k == kind and t0 <= t < t1]
            row[kind] = {"n": len(times), "p95_ms": percentile(times, 95)}
        row["trainings"] = sum(1 for x in result["trainings"] if x["seed"] is not None and t0 <= x["t"] < t1)
        rows.append(row)
    return rows


def targets(result: dict, rows: list[dict], minutes: int, errors: list[str], missed: int) -> list[dict]:
    span = max(1, minutes // 6)  # the 10 of 60 minutes
    first, last = result["start"], result["start"] + 60 * minutes
    out = [
        {"measure": "errors", "value": len(errors), "target": "0", "met": not errors},
        {"measure": "missed updates (follower × change)", "value": missed, "target": "0", "met": missed == 0},
    ]
    start_rss, end_rss = rows[span - 1]["rss_mb"], rows[-1]["rss_mb"]
    growth = (end_rss - start_rss) / start_rss if start_rss and end_rss else None
    out.append(
        {
            "measure": f"server RSS, minute {span} → minute {minutes} (each minute's mean)",
            "value": None if growth is None else f"{start_rss:.0f} → {end_rss:.0f} MB ({growth:+.1%})",
            "target": f"≤ +{TARGET_RSS_GROWTH:.0%}",
            "met": growth is not None and growth <= TARGET_RSS_GROWTH,
        }
    )
    for kind in INTERACTIONS:
        early = [ms for k, t, ms in result["log"] if k == kind and t < first + 60 * span]
        late = [ms for k, t, ms in result["log"] if k == kind and t >= last - 60 * span]
        a, b = percentile(early, 95), percentile(late, 95)
        drift = (b - a) / a if a and b else None
        out.append(
            {
                "measure": f"{kind} p95, first {span} min → last {span} min",
                "value": None
                if drift is None
                else f"{a:.0f} → {b:.0f} ms ({drift:+.0%}; n = {len(early)}, {len(late)})",
                "target": f"within ±{TARGET_P95_DRIFT:.0%}",
                "met": drift is not None and abs(drift) <= TARGET_P95_DRIFT,
            }
        )
    return out


def markdown(report: dict) -> str:
    machine = report["machine"]
    light = report.get("explorer_kind", "browser") == "light"
    timed = (
        "image, filter = the box's new value sent → its run finished (the server's share); tab = the view's rerun "
        "sent → its run finished"
        if light
        else "image, filter = keydown → the journey redrawn; tab = click → the view drawn and idle"
    )
    lines = [
        f"# ConvLab soak test: {report['minutes']} minutes of a class",
        "",
        f"{report['date']} · {machine['nproc']} cores ({machine['cpu_model']}) · commit {report['code']['commit']}"
        + (" (app code has uncommitted changes)" if report["code"]["uncommitted"] else "")
        + f" · load average at start {report['load_at_start']['loadavg'][0]:.2f} · `{report['command']}`",
        "",
        f"One server; a teacher (Chromium) changing the journey's filter every {report['teacher_gap_s']:g} s, "
        f"{report['followers']} light followers; {report['explorers']} {'light' if light else 'Chromium'} "
        "explorers (image, filter, tab; "
        f"a pause of {report['pause_s']:g} s ± 50 % between actions); {len(report['trainings'])} lab training(s) "
        "(1 conv block of 16, 1 epoch, 1,000 images, a new seed each). Times: follow = key press → the follower's "
        f"feed has it; {timed}.",
        "",
        "| target | value | wanted | met |",
        "|---|---|---|---|",
    ]
    for t in report["targets"]:
        lines.append(f"| {t['measure']} | {t['value']} | {t['target']} | {'yes' if t['met'] else 'NO'} |")
    lines += [
        "",
        "![server RSS and p95 per minute](soak.png)",
        "",
        "| minute | server RSS (MB) | "
        + " | ".join(f"{k} p95 ms (n)" for k in INTERACTIONS)
        + " | trainings started |",
        "|---|---|" + "---|" * len(INTERACTIONS) + "---|",
    ]
    for row in report["per_minute"]:
        cells = ["–" if row[k]["p95_ms"] is None else f"{row[k]['p95_ms']:.0f} ({row[k]['n']})" for k in INTERACTIONS]
        rss = "–" if row["rss_mb"] is None else f"{row['rss_mb']:.0f}"
        lines.append(f"| {row['minute']} | {rss} | " + " | ".join(cells) + f" | {row['trainings']} |")
    trainings = "; ".join(
        f"seed {x['seed']}: " + (f"FAILED ({x['error']})" if x["error"] else f"saved in {x.get('s', 0):.0f} s")
        for x in report["trainings"]
    )
    lines += [
        "",
        f"Lab: {trainings or 'none'}. Server peak RSS (VmHWM) {report['hwm_mb']:.0f} MB; tracebacks in its log "
        f"{report['server_log_tracebacks']}; this process's event loop late p95 "
        f"{report['loop_lag_ms'].get('p95', 0):.0f} ms; explorers' actions {report['explorer_actions']}. "
        f"CPU over the run (core-seconds per second): the server {report['cpu'].get('server_cpu_per_s', 0):.2f}, "
        f"the whole machine {report['cpu'].get('machine_busy_per_s', 0):.2f} of "
        f"{report['cpu'].get('machine_cores', 0):.0f} cores (the rest: Chromium's "
        f"{2 if light else report['explorers'] + 2} pages, "
        "the lab's worker, this process" + (", which holds the light pages" if light else "") + ").",
    ]
    if report["errors"]:
        lines += ["", "Errors (first 20):", ""] + [f"- {e}" for e in report["errors"][:20]]
    return "\n".join(lines) + "\n"


PLOT_JS = """async ({rows, kinds}) => {
  const x = rows.map(r => r.minute);
  const ms = {title: {text: 'ms'}, type: 'log', tickvals: [50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000]};
  const common = {margin: {l: 70, r: 20, t: 50, b: 45}, width: 1000, height: 330, font: {size: 14},
                  xaxis: {title: {text: 'minute'}, dtick: x.length > 20 ? 5 : 1}};
  await Plotly.newPlot('rss', [{x, y: rows.map(r => r.rss_mb), mode: 'lines+markers', name: 'server RSS'}],
    {...common, title: {text: 'Server RSS, each minute\\'s mean (MB)'}, yaxis: {title: {text: 'MB'}}});
  await Plotly.newPlot('p95', kinds.map(k => ({x, y: rows.map(r => r[k].p95_ms), mode: 'lines+markers', name: k})),
    {...common, title: {text: 'p95 of each interaction, per minute (ms)'}, yaxis: ms});
}"""


async def plot(rows: list[dict], path: Path) -> None:
    """The per-minute figure, drawn by the vendored plotly.js in Chromium and screenshotted to a PNG."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await common.launch_chromium(playwright)
        try:
            page = await browser.new_page(viewport={"width": 1000, "height": 660})
            await page.set_content(
                "<body style='margin:0;background:#fff'><div id=plots style='width:1000px'>"
                "<div id=rss style='height:330px'></div><div id=p95 style='height:330px'></div></div></body>"
            )
            await page.add_script_tag(path=str(PLOTLY_JS))
            await page.evaluate(PLOT_JS, {"rows": rows, "kinds": list(INTERACTIONS)})
            await page.locator("#plots").screenshot(path=str(path))
        finally:
            await browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=60, help="how long the class runs (default 60; 5: quick)")
    parser.add_argument("--followers", type=int, default=30, help="light students following the teacher")
    parser.add_argument("--explorers", type=int, default=10, help="explorers, each on their own (≤ 10)")
    parser.add_argument(
        "--explorer-kind",
        choices=("light", "browser"),
        default="light",
        help="light: pages on the wire, without a browser (default); browser: Chromium pages",
    )
    parser.add_argument("--pause", type=float, default=6.0, help="an explorer's mean pause between actions, s")
    parser.add_argument("--teacher-gap", type=float, default=20.0, help="seconds between the teacher's changes")
    args = parser.parse_args()
    if args.explorers > 10:
        parser.error("at most 10 explorers: each owns 6 filters and 1000 images (load.own_values)")

    RESULTS.mkdir(parents=True, exist_ok=True)
    report = {
        **common.report_header("soak.py"),
        "minutes": args.minutes,
        "followers": args.followers,
        "explorers": args.explorers,
        "explorer_kind": args.explorer_kind,
        "pause_s": args.pause,
        "teacher_gap_s": args.teacher_gap,
    }
    models = models_copy()
    logs = RESULTS / "logs"
    server = StreamlitServer(logs / "soak.log", models_dir=models, timings_path=logs / "soak-timings.jsonl")
    try:
        server.start()
        server.wait_healthy()
        sampler = Sampler(SimpleNamespace(servers=[server], balancer=None, redis=None))
        sampler.start()
        try:
            result = asyncio.run(soak(server.url, models, args, sampler))
        finally:
            sampler.stop()
        hwm_mb = _status_kb(server.process.pid, "VmHWM") / 1024
        tracebacks = server.log_text().count("Traceback")
    except KeyboardInterrupt:
        print("Interrupted: the server and the browser are stopped.", flush=True)
        return 130
    finally:
        server.stop()
        common.stop_all_children()
        shutil.rmtree(models.parent, ignore_errors=True)

    students = result["students"]
    errors = [f"explorer {r['explorer']}: {e['kind']}: {e['detail']}" for r in result["explorers"] for e in r["errors"]]
    errors += [f"follower {s.index}: {e}" for s in students for e in s.errors + s.page_errors]
    errors += [f"teacher: {e}" for e in result["teacher_errors"]]
    errors += [f"lab, seed {x['seed']}: {x['error']}" for x in result["trainings"] if x["error"]]
    errors += [f"server log: {tracebacks} traceback(s)"] if tracebacks else []
    missed = sum(len(c["missed"]) for c in result["changes"])
    rows = per_minute(result, sampler.samples, args.minutes)
    during = [x for x in sampler.samples if result["start"] <= x["t"] <= result["end"]]
    cpu = window(during[0], during[-1]) if len(during) > 1 else {}
    report.update(
        {
            "targets": targets(result, rows, args.minutes, errors, missed),
            "per_minute": rows,
            "errors": errors,
            "missed": missed,
            "changes": result["changes"],
            "trainings": result["trainings"],
            "explorer_actions": sum(r["actions"] for r in result["explorers"]),
            "hwm_mb": hwm_mb,
            "cpu": cpu,
            "server_log_tracebacks": tracebacks,
            "loop_lag_ms": summary([lag for _, lag in result["loop_lag_ms"]]),
            "timings": result["log"],
            "samples": [{k: v for k, v in s.items() if k != "machine"} for s in sampler.samples],
        }
    )
    asyncio.run(plot(rows, RESULTS / "soak.png"))
    text = markdown(report)
    common.save_report("soak", report, text)
    common.keep_copy(RESULTS / "soak.png", report["date"][:19].replace(":", "").replace("-", ""))
    print()
    print(text)
    print(f"Wrote {RESULTS / 'soak.md'}, soak.json and soak.png.")
    return 0 if all(t["met"] for t in report["targets"]) else 1


if __name__ == "__main__":
    sys.exit(main())
