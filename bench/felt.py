"""What a person waits for, in Chromium: each action to its answer on screen, next to the commit before (issue 22).

Run from the repository root (about 15 minutes with the default 3 rounds)::

    python bench/felt.py                 # every phase
    python bench/felt.py --rounds 5      # more fresh servers per view
    python bench/felt.py revisits cells  # some phases only

Two apps are measured the same way in the same run: ConvLab as it is (``app.py``) and the
reference, the commit before the test-set caches (``REFERENCE_COMMIT``, checked out in a git
worktree and served from there: Streamlit puts the script's folder first on ``sys.path``, so its
own ``convlab`` and ``ui`` load). Both serve one temporary copy of the shipped model folder (the
models, their snapshots, portraits and invariance results), so neither writes into ``models/``.

Every time runs on the page's own clock, from the action (the ``pointerdown`` of a click, the
``keydown`` of a key, in the page or in a component's frame) to the first animation frame at which the
answer is on screen: the server answered after the action, the app is connected and idle (no
script or fragment running, nothing greyed out as stale, no loading skeleton), each of the view's
charts is drawn (its Plotly plot inside its box, st.plotly_chart's or the update-in-place chart's: a
chart's box is on the page before the code that draws it has loaded), its other
elements are there, every other visible chart is drawn too and every visible image is loaded.

Phases:

1. ``prime``: a fresh server on the copied folder, whose test-set and tour caches don't exist yet; the
   Filters view opened as soon as the journey is drawn (it waits for the background work), and
   the time until the caches are on disk. Later servers read them, as a server started again does.
2. ``first``: a fresh server for every view and round: the journey drawn, a second's glance,
   then the view opened (a tab today; ``open_view`` also knows the top navigation's menus).
3. ``tour``: a fresh server per round: the tour opened from the sidebar, then Next through its
   steps.
4. ``revisits``: one server per app, every view visited once, then ``REVISIT_CYCLES`` passes
   through all views in shuffled orders (each a revisit); then the tour opened again.
5. ``cells``: on that server's journey, ``CELL_CLICKS`` clicks on map cells (random image, layer,
   row and column) → the cell's explanation drawn.
6. ``images``: ``IMAGE_PRESSES`` presses of ↑ in image 1's box → the new maps drawn (the in-page
   timers of ``common.PAGE_TIMERS_JS``, keydown → ``plotly_afterplot`` of the changed grid).

Writes ``bench/results/felt.json`` (every sample) and ``felt.md`` (the table it prints), with
dated copies in ``bench/results/history/``; server logs in ``bench/results/logs/``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import REPO, AppServer, summary  # noqa: E402

REFERENCE_COMMIT = "26ca104"  # the last commit before the test-set caches (issue 22's "today")
ROUNDS = 3
REVISIT_CYCLES = 3
CELL_CLICKS = 24
IMAGE_PRESSES = 30
GLANCE_S = 1.0  # a look at what is drawn before the next click (nobody clicks within a frame of the answer)
TIMEOUT_MS = 120_000
TARGETS = {
    "first_visit_p95_s": 1.0,
    "revisit_p95_ms": 300.0,
    "tour_open_p95_ms": 500.0,
    "tour_step_p95_ms": 300.0,
    "cell_p95_ms": 300.0,
    "image_p95_ms": 200.0,
}
# slug: (the tab's label or the navigation's title, its charts (each drawn once the view is), its other elements)
VIEWS = {
    "journey": ("Journey", ["journey_chart"], ["label_table"]),
    "filters": ("Filters", ["filters_chart", "kernels_chart", "classic_chart", "mix_chart"], ["finder_thumbnails"]),
    "looked": ("Where it looked", ["looked_chart"], []),
    "portraits": ("Portraits", ["portrait_chart", "portrait_mix", "portraits_chart"], ["portrait_thumbnails"]),
    "replay": ("Replay", ["replay_chart", "replay_kernels", "replay_accuracy"], []),
    "probe": ("Shift probe", ["probe_chart", "invariance_chart"], []),
    "predictions": ("Predictions", ["probabilities_chart", "confusion_chart", "why_chart"], ["mistake_thumbnails"]),
    "upload": ("Your image", [], ["upload"]),
    "compare": ("Compare", ["curves_chart"], []),
    "lab": ("Lab", [], ["lab_mode", "lab_run"]),
}
TOUR_STEPS = 10
JOURNEY_LAYERS = ("conv1", "pool1", "conv2", "pool2")  # the lesson's conv model: the grid's columns after the input
LAYER_SIDES = {"conv1": 26, "pool1": 13, "conv2": 11, "pool2": 5}

# Installed in the main page before its scripts: the actions (pointerdown, keydown), the times of the
# app's websocket messages (a run's first message says it started: the page's script-state attribute can
# skip "running" altogether when a run is quick), and ``ready(since, keys, text)``: why the answer isn't on
# screen yet, or "ok".
FELT_JS = r"""
(() => {
  if (window.top !== window) {  // a component's frame (same origin): its clicks and keys count, on the page's clock
    const forward = e => { try {
      const F = window.top.__felt, t = performance.timeOrigin + performance.now() - window.top.performance.timeOrigin;
      if (F) F.actions.push({type: e.type, t, key: e.key || null, frame: true});
    } catch (error) {} };
    if (window.__feltFrame) return;
    window.__feltFrame = true;  // on the window: a frame's first document is replaced, its window kept
    window.addEventListener('pointerdown', forward, true);
    window.addEventListener('keydown', forward, true);
    return;
  }
  if (window.__felt) return;
  const F = window.__felt = {actions: [], messages: []};
  const mark = e => F.actions.push({type: e.type, t: performance.now(), key: e.key || null});
  window.addEventListener('pointerdown', mark, true);
  window.addEventListener('keydown', mark, true);
  const Native = window.WebSocket;
  window.WebSocket = new Proxy(Native, {construct(target, args) {
    const socket = new target(...args);
    socket.addEventListener('message', () => F.messages.push(performance.now()));
    return socket;
  }});
  const shown = e => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden';
  const drawn = d => !!(d && d._fullLayout && d.querySelector('.main-svg'));
  F.ready = (since, charts, others, text) => {
    if (!F.messages.some(t => t >= since)) return 'no answer from the server yet';
    const app = document.querySelector('[data-testid=stApp]');
    const state = app.dataset;
    if (state.testConnectionState !== 'CONNECTED' || state.testScriptState !== 'notRunning') return 'running';
    if (document.querySelector('[data-stale=true]')) return 'stale';
    if ([...document.querySelectorAll('[data-testid=stSkeleton]')].some(shown)) return 'skeleton';
    for (const key of others) {
      const e = document.querySelector('.st-key-' + key);
      if (!e || !shown(e)) return 'missing ' + key;
    }
    for (const key of charts) {  // a chart's box is there before its code is: its plot must be drawn
      const e = document.querySelector('.st-key-' + key);  // plotly_react's div (in the page), or st.plotly_chart's
      const f = e && e.querySelector('iframe');  // a reference commit's plotly_react, in its frame
      const plot = f ? f.contentDocument && f.contentDocument.getElementById('chart')
                     : e && (e.querySelector('.convlab-chart .cl-chart') || e.querySelector('.js-plotly-plot'));
      if (!e || !shown(e) || !drawn(plot)) return 'chart not drawn: ' + key;
    }
    const says = ([where, words]) => [...document.querySelectorAll(where)].some(e => e.innerText.includes(words));
    if (text && !text.every(says)) return 'text';
    for (const d of document.querySelectorAll('.js-plotly-plot')) if (shown(d) && !drawn(d)) return 'chart';
    for (const c of document.querySelectorAll('.convlab-chart')) {  // plotly_react's: drawn once plotly.js is in
      if (shown(c) && !drawn(c.querySelector('.cl-chart'))) return 'chart element';
    }
    for (const f of document.querySelectorAll('iframe')) {  // a reference commit's plotly_react frames
      if (!shown(f) || !/plotly_react/.test(f.src || '')) continue;
      const doc = f.contentDocument;
      if (!doc || !drawn(doc.getElementById('chart'))) return 'chart frame';
    }
    for (const i of document.querySelectorAll('[data-testid=stMain] img, [data-testid=stSidebar] img'))
      if (shown(i) && !(i.complete && i.naturalWidth > 0)) return 'image';
    return 'ok';
  };
})();
"""
# Wait (each animation frame) until the answer is on screen; note that frame's time, and the action's: the
# last before the server's first answer to it (opening a menu first doesn't count).
WAIT_JS = """([n, charts, others, text]) => { const F = window.__felt; const a = F.actions[n];
  if (!a) return false; const why = F.ready(a.t, charts, others, text); F.why = why;
  if (why !== 'ok') return false;
  const answer = F.messages.find(t => t >= a.t);
  F.start = F.actions.slice(n).filter(b => b.t <= answer).at(-1).t; F.done = performance.now(); return true; }"""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- the pages ---------------------------------------------------------------------------------
def open_view(page, slug: str) -> None:
    """Open view ``slug`` as a person does: its tab (before the top navigation), or the top bar's link to it,
    or its section's menu and then its entry (``st.navigation(position="top")``, sections)."""
    title = VIEWS[slug][0]
    tab = page.get_by_role("tab", name=re.compile(re.escape(title)))
    if tab.count():
        tab.first.click()
        return
    at = f'[href$="/{slug}"], [href*="/{slug}?"]'
    link = page.locator(f"[data-testid=stTopNavLink]:is({at})")
    if link.count():
        link.first.click()
        return
    menus = page.locator("[data-testid=stTopNavPopover]")
    for section in page.locator("[data-testid=stTopNavSection]").all():
        section.click()
        menus.first.wait_for(state="visible", timeout=5000)
        entries = menus.locator("[data-testid=stTopNavDropdownLink]")
        entry = entries.and_(page.locator(at))
        if not entry.count():  # the default view's address is the root: its title then
            entry = entries.filter(has_text=re.compile(rf"(^|\W){re.escape(title)}\s*$"))
        if entry.count():
            entry.first.click()
            return
        page.keyboard.press("Escape")
        page.wait_for_function("() => !document.querySelector('[data-testid=stTopNavPopover]')", timeout=5000)
    raise RuntimeError(f"no tab, link or menu entry opens the view {slug!r} ({title})")


def timed(page, action, charts=(), others=(), text=None, timeout_ms: int = TIMEOUT_MS) -> float:
    """Milliseconds from the action ``action()`` starts (its pointerdown or keydown) to the answer on screen:
    ``charts`` and ``others`` are element keys (``st-key-…``), ``text`` [selector, words] pairs."""
    n = page.evaluate("() => window.__felt.actions.length")
    action()
    try:
        page.wait_for_function(WAIT_JS, arg=[n, list(charts), list(others), text], polling="raf", timeout=timeout_ms)
    except Exception as error:  # Playwright's TimeoutError: say what was missing
        why = page.evaluate("n => [window.__felt.why, window.__felt.actions.slice(n)]", n)
        raise TimeoutError(f"no answer within {timeout_ms / 1000:.0f} s (why, actions: {why})") from error
    return page.evaluate("() => window.__felt.done - window.__felt.start")


def button(page, key: str):
    """The button of widget ``key`` (by its role: a hidden copy of it doesn't count)."""
    return page.locator(f".st-key-{key}").get_by_role("button").first


def visit(page, slug: str) -> float:
    return timed(page, lambda: open_view(page, slug), *VIEWS[slug][1:])


def new_page(browser):
    page = common.new_page(browser, timeout_ms=TIMEOUT_MS)
    page.context.add_init_script(FELT_JS)
    return page


@contextlib.contextmanager
def app_page(browser, name: str, app: str, models_dir: Path):
    """A fresh server of ``app`` on ``models_dir`` and a page showing its journey: (server, page)."""
    server = AppServer(name, app=app)
    server.models_dir = models_dir
    with server:
        page = new_page(browser)
        try:
            page.goto(server.url)
            page.wait_for_function(common.journey_ready_js(), timeout=TIMEOUT_MS, polling=50)
            common.wait_idle(page, TIMEOUT_MS)
            yield server, page
            errors = page.evaluate(common.ERRORS_JS)
            if errors:
                raise RuntimeError(f"{name}: error boxes on the page: {errors}")
        finally:
            page.context.close()


# -- the apps ------------------------------------------------------------------------------------
@contextlib.contextmanager
def apps(reference: str):
    """{"convlab": app.py, "reference": the reference commit's app.py} and the model folder both serve."""
    folder = Path(tempfile.mkdtemp(prefix="convlab-felt-"))
    worktree, models = folder / "reference", folder / "models"
    shutil.copytree(REPO / "models", models, ignore=shutil.ignore_patterns(".*", "corrupt", "testset"))
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(worktree), reference], cwd=REPO, check=True, capture_output=True
    )
    try:
        yield {"convlab": "app.py", "reference": str(worktree / "app.py")}, models
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=REPO, capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


# -- the phases ----------------------------------------------------------------------------------
def measure_prime(browser, apps_: dict, models: Path, result: dict) -> None:
    """ConvLab on a folder without test-set caches: Filters opened at once waits for the background work."""
    started = time.time()
    with app_page(browser, "felt-prime", apps_["convlab"], models) as (server, page):
        drawn = time.time()
        result["filters_at_once_ms"] = visit(page, "filters")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (
            list((models / "testset").glob("*.npz"))[1:] and list((models / "tour").glob("*.json"))
        ):
            time.sleep(0.1)
        result["caches"] = sorted(
            f"{path.parent.name}/{path.name}" for path in [*models.glob("testset/*.npz"), *models.glob("tour/*.json")]
        )
        result["caches_on_disk_after_page_s"] = time.time() - drawn
    result["server_s"] = time.time() - started
    log(
        f"prime: Filters opened as the page was drawn, empty cache: {result['filters_at_once_ms']:.0f} ms; "
        f"caches {result['caches']} on disk {result['caches_on_disk_after_page_s']:.1f} s after the page"
    )


def measure_first(browser, apps_: dict, models: Path, result: dict, rounds: int) -> None:
    """A fresh server per (round, view, app): the view's first visit on it."""
    views = [slug for slug in VIEWS if slug != "journey"]
    for name in apps_:
        result.setdefault(name, {slug: [] for slug in views})
    for number in range(rounds):
        for slug in views:
            for name, app in apps_.items():
                with app_page(browser, f"felt-first-{name}", app, models) as (server, page):
                    time.sleep(GLANCE_S)
                    result[name][slug].append(visit(page, slug))
                log(f"first visit, round {number + 1}, {slug}, {name}: {result[name][slug][-1]:.0f} ms")


def _tour(page, result: dict, first: bool) -> None:
    opened = timed(
        page, lambda: button(page, "tour_start").click(), [], ["tour"], [[".st-key-tour", f"Step 1 of {TOUR_STEPS}"]]
    )
    result.setdefault("open_first" if first else "open_again", []).append(opened)
    if not first:
        return
    for step in range(2, TOUR_STEPS + 1):
        result.setdefault("steps", []).append(
            timed(
                page,
                lambda: button(page, f"tour_next_{step - 1}").click(),
                [],
                ["tour"],
                [[".st-key-tour", f"Step {step} of {TOUR_STEPS}"]],
            )
        )
    button(page, "tour_finish").click()
    common.wait_idle(page, TIMEOUT_MS)


def measure_tour(browser, apps_: dict, models: Path, result: dict, rounds: int) -> None:
    for number in range(rounds):
        for name, app in apps_.items():
            with app_page(browser, f"felt-tour-{name}", app, models) as (server, page):
                time.sleep(GLANCE_S)
                _tour(page, result.setdefault(name, {}), first=True)
            r = result[name]
            log(
                f"tour, round {number + 1}, {name}: opened in {r['open_first'][-1]:.0f} ms, steps "
                + ", ".join(f"{ms:.0f}" for ms in r["steps"][-(TOUR_STEPS - 1) :])
                + " ms"
            )


def measure_warm(browser, apps_: dict, models: Path, result: dict, phases: set) -> None:
    """One server per app: revisits, the tour opened again, cells explained, new images."""
    for name, app in apps_.items():
        r = result.setdefault(name, {})
        with app_page(browser, f"felt-warm-{name}", app, models) as (server, page):
            rng = random.Random(22)
            if "revisits" in phases:
                for slug in [slug for slug in VIEWS if slug != "journey"] + ["journey"]:
                    time.sleep(GLANCE_S)
                    visit(page, slug)  # the first visits: not measured here
                samples = r["revisits"] = []
                last = "journey"
                for _ in range(REVISIT_CYCLES):
                    order = list(VIEWS)
                    rng.shuffle(order)
                    if order[0] == last:
                        order.append(order.pop(0))
                    for slug in order:
                        time.sleep(GLANCE_S)  # a look at the view before the next: its own reruns (a chart fitting) end
                        samples.append({"view": slug, "ms": visit(page, slug)})
                    last = order[-1]
                log(
                    f"revisits, {name}: p50 {summary([s['ms'] for s in samples])['p50']:.0f} ms, "
                    f"p95 {summary([s['ms'] for s in samples])['p95']:.0f} ms"
                )
                if last != "journey":
                    time.sleep(GLANCE_S)
                    visit(page, "journey")
            if "cells" in phases:
                r["cells"] = _cells(page, rng)
                log(
                    f"cells, {name}: p50 {summary([s['ms'] for s in r['cells']])['p50']:.0f} ms, "
                    f"p95 {summary([s['ms'] for s in r['cells']])['p95']:.0f} ms"
                )
            if "images" in phases:
                r["images"] = _images(page)
                log(
                    f"images, {name}: p50 {summary(r['images'])['p50']:.0f} ms, "
                    f"p95 {summary(r['images'])['p95']:.0f} ms"
                )
            if "revisits" in phases:  # last: the tour's first step shows the dense model
                time.sleep(GLANCE_S)
                _tour(page, r.setdefault("tour", {}), first=False)
                log(f"tour opened again, {name}: {r['tour']['open_again'][-1]:.0f} ms")


def _cells(page, rng: random.Random) -> list[dict]:
    """Clicks on journey map cells, each a new one: click → the explanation of that cell drawn."""
    page.locator(common.JOURNEY_ELEMENT).scroll_into_view_if_needed()
    chart = common.journey_scope(page)
    samples = []
    for _ in range(CELL_CLICKS):
        slot, column = rng.randrange(3), rng.randrange(len(JOURNEY_LAYERS))
        layer = JOURNEY_LAYERS[column]
        side = LAYER_SIDES[layer]
        row, col = rng.randrange(side), rng.randrange(side)
        box = chart.locator(".heatmaplayer image").nth(slot * (1 + len(JOURNEY_LAYERS)) + 1 + column).bounding_box()
        x, y = box["x"] + box["width"] * (col + 0.5) / side, box["y"] + box["height"] * (row + 0.5) / side
        time.sleep(GLANCE_S / 2)
        ms = timed(
            page,
            lambda: page.mouse.click(x, y),
            ["explanation_chart"],
            ["explanation"],
            [[".st-key-explanation", f"{layer}'s number at row {row}, column {col} of image {slot + 1}"]],
        )
        samples.append({"slot": slot, "layer": layer, "row": row, "col": col, "ms": ms})
    button(page, "explanation_close").click()
    common.wait_idle(page, TIMEOUT_MS)
    return samples


def _images(page) -> list[float]:
    """↑ in image 1's box, a new image each time: keydown → the changed grid drawn (Plotly's afterplot)."""
    page.locator(common.JOURNEY_ELEMENT).scroll_into_view_if_needed()
    samples = []
    for _ in range(IMAGE_PRESSES):
        sample = common.press_and_time(page, "image_1", "ArrowUp", timeout_ms=TIMEOUT_MS)
        samples.append(common.sample_ms(sample)["total"])
        common.wait_idle(page, TIMEOUT_MS)
    return samples


# -- the report ----------------------------------------------------------------------------------
def _figure(values: list[float], unit: str = "ms") -> str:
    s = summary(values)
    if not s["n"]:
        return "–"
    if unit == "s":
        return f"{s['p50'] / 1000:.2f} / {s['p95'] / 1000:.2f} s (n={s['n']})"
    return f"{s['p50']:.0f} / {s['p95']:.0f} ms (n={s['n']})"


def rows(report: dict) -> list[dict]:
    """The table: each measure's p50 / p95 for ConvLab and the reference, its target, met or not."""
    m = report["measures"]
    first, tour, warm = m.get("first", {}), m.get("tour", {}), m.get("warm", {})
    table = []

    def add(measure, ours, theirs, target, limit, unit="ms"):
        p95 = summary(ours).get("p95")
        table.append(
            {
                "measure": measure,
                "convlab": _figure(ours, unit),
                "reference": _figure(theirs, unit),
                "target": target,
                "met": None if p95 is None else p95 <= limit,
            }
        )

    if first:
        for slug in [slug for slug in VIEWS if slug != "journey"]:
            add(
                f"first visit: {VIEWS[slug][0]}",
                first["convlab"][slug],
                first["reference"][slug],
                "≤ 1.0 s",
                TARGETS["first_visit_p95_s"] * 1000,
                "s",
            )
        every = lambda name: [ms for values in first[name].values() for ms in values]  # noqa: E731
        add(
            "first visit: any view",
            every("convlab"),
            every("reference"),
            "≤ 1.0 s",
            TARGETS["first_visit_p95_s"] * 1000,
            "s",
        )
    if "revisits" in warm.get("convlab", {}):
        ms = lambda name: [s["ms"] for s in warm[name]["revisits"]]  # noqa: E731
        add("revisit: any view", ms("convlab"), ms("reference"), "≤ 300 ms", TARGETS["revisit_p95_ms"])
    if tour:
        add(
            "tour: opened (a fresh server)",
            tour["convlab"]["open_first"],
            tour["reference"]["open_first"],
            "≤ 500 ms",
            TARGETS["tour_open_p95_ms"],
        )
    if "tour" in warm.get("convlab", {}):
        add(
            "tour: opened again (the same server)",
            warm["convlab"]["tour"]["open_again"],
            warm["reference"]["tour"]["open_again"],
            "≤ 500 ms",
            TARGETS["tour_open_p95_ms"],
        )
    if tour:
        add(
            "tour: each step (Next)",
            tour["convlab"]["steps"],
            tour["reference"]["steps"],
            "≤ 300 ms",
            TARGETS["tour_step_p95_ms"],
        )
    if "cells" in warm.get("convlab", {}):
        ms = lambda name: [s["ms"] for s in warm[name]["cells"]]  # noqa: E731
        add("a map cell clicked → its explanation", ms("convlab"), ms("reference"), "≤ 300 ms", TARGETS["cell_p95_ms"])
    if "images" in warm.get("convlab", {}):
        add(
            "image box ↑ → new maps drawn",
            warm["convlab"]["images"],
            warm["reference"]["images"],
            "≤ 200 ms",
            TARGETS["image_p95_ms"],
        )
    prime = m.get("prime")
    if prime and "filters_at_once_ms" in prime:
        table.append(
            {
                "measure": "empty cache: Filters opened as the page is drawn (waits for the background work)",
                "convlab": f"{prime['filters_at_once_ms'] / 1000:.2f} s; caches on disk "
                f"{prime['caches_on_disk_after_page_s']:.1f} s after the page",
                "reference": "",
                "target": "",
                "met": None,
            }
        )
    return table


def markdown(report: dict) -> str:
    lines = [
        f"# What a person waits for, in Chromium: {report['date']}",
        "",
        f"ConvLab at {report['code']['commit']}"
        + (f" (uncommitted: {', '.join(report['code']['uncommitted'])})" if report["code"]["uncommitted"] else "")
        + f"; reference: commit {report['reference']}, same run, same models. p50 / p95 (samples).",
        "",
        f"Machine: {report['machine'].get('nproc')} cores ({report['machine'].get('cpu_model')}), "
        f"{report['machine'].get('chromium')}; load average at start {report['load']['loadavg']}"
        + (
            f"; other busy processes: {len(report['load'].get('busy_processes', []))}"
            if report["load"].get("busy_processes")
            else ""
        )
        + f"; {report['seconds'] / 60:.1f} minutes.",
        "",
        "| measure | ConvLab | reference | target (p95) | met? |",
        "|---|---|---|---|---|",
    ]
    for row in report["rows"]:
        met = "" if row["met"] is None else ("yes" if row["met"] else "**no**")
        lines.append(f"| {row['measure']} | {row['convlab']} | {row['reference']} | {row['target']} | {met} |")
    for phase, error in report.get("errors", {}).items():
        lines.append(f"\n**{phase} failed**: `{error.splitlines()[-1]}`")
    return "\n".join(lines) + "\n"


PHASES = ("prime", "first", "tour", "revisits", "cells", "images")


def code_version() -> dict:
    """``common.code_version`` with the page's code too (ui/): what this benchmark measures is mostly there."""
    version = common.code_version()
    changed = subprocess.run(
        ["git", "status", "--porcelain", "--", "app.py", "convlab", "ui", "components", ".streamlit"],
        cwd=REPO,
        capture_output=True,
        text=True,
    ).stdout.rstrip()
    return {**version, "uncommitted": changed.splitlines()}


def main() -> int:
    parser = argparse.ArgumentParser(description="Felt latency in Chromium (see the module docstring).")
    parser.add_argument("phases", nargs="*", help=f"only these phases (default: all): {', '.join(PHASES)}")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="fresh servers per view and for the tour")
    parser.add_argument("--reference", default=REFERENCE_COMMIT, help="the commit measured as the reference")
    args = parser.parse_args()
    phases = set(args.phases or PHASES)
    if phases - set(PHASES):
        parser.error(f"unknown phase(s): {sorted(phases - set(PHASES))}")
    from playwright.sync_api import sync_playwright

    started = time.perf_counter()
    report = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "reference": args.reference,
        "code": code_version(),
        "machine": common.machine(),
        "load": common.load_snapshot(),
        "rounds": args.rounds,
        "targets": TARGETS,
        "measures": {},
        "errors": {},
    }
    measures = report["measures"]
    with apps(args.reference) as (served, models), sync_playwright() as playwright:
        browser = common.launch_chromium(playwright)
        try:
            steps = [
                ("prime", lambda: measure_prime(browser, served, models, measures.setdefault("prime", {}))),
                (
                    "first",
                    lambda: measure_first(browser, served, models, measures.setdefault("first", {}), args.rounds),
                ),
                ("tour", lambda: measure_tour(browser, served, models, measures.setdefault("tour", {}), args.rounds)),
                ("warm", lambda: measure_warm(browser, served, models, measures.setdefault("warm", {}), phases)),
            ]
            if "prime" not in phases:  # the caches are still computed once, before anything is measured
                measure_prime(browser, served, models, {})
            for name, measure in steps:
                if name in phases or (name == "warm" and phases & {"revisits", "cells", "images"}):
                    try:
                        measure()
                    except Exception:
                        report["errors"][name] = traceback.format_exc()
                        log(f"{name} failed:\n{report['errors'][name]}")
        finally:
            browser.close()
    report["seconds"] = time.perf_counter() - started
    report["rows"] = rows(report)
    text = markdown(report)
    common.save_report("felt", report, text)
    print(text)
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
