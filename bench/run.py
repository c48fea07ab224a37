"""ConvLab's benchmark: each figure measured next to its reference, in the same run.

Run from the repository root (``bench/README.md`` says how long it takes; it starts no new work
after 9.5 minutes)::

    pip install -r requirements.txt -r bench/requirements.txt
    python bench/run.py

It writes ``bench/results/benchmark.json`` (machine, date, every raw sample, summaries,
targets) and ``bench/results/benchmark.md`` (the table it prints at the end); server and child
logs go to ``bench/results/logs/``. What it measures, one function each:

1. ``measure_interaction``: the real app (``streamlit run``) driven by Chromium.
   Keyboard presses on the filter's number box (each a server rerun; the chart's own slider,
   which redraws in the browser, is ``bench/scrub.py``'s), then on an image's number box (new
   images each time, so every press misses the activation cache). Server side: the app's timing hook
   (``$CONVLAB_TIMINGS``) records every journey-fragment run and every full script run; we
   report the fragment runs' p50/p95 and check no full run happened. Browser side: in-page
   timers from keydown to ``plotly_afterplot`` of the changed heatmaps (the journey's plotly
   div, in the app's plotly_react component's element), split into client, server and
   drawing time. Reference: the lesson's visualisation cell as written (12
   ``predict`` calls, a matplotlib 3x4 grid rendered to PNG), timed in a subprocess
   (``bench/lesson_cell.py``).
2. ``measure_cold_start``: from ``Popen`` of ``streamlit run`` to the journey drawn in
   Chromium, 3 fresh servers, median; reference: ``python -c "import tensorflow"``, 3 runs,
   median, interleaved with the app's.
3. ``measure_explain``: a click on a journey cell → its explanation (the journey fragment's
   server rerun, timed by the app's hook), and saliency + Grad-CAM of three images for the
   dense and the conv model, as the "Where it looked" view computes them.
3. ``measure_memory``: peak RSS (VmHWM) of the server after visiting every tab (with an upload,
   and the sidebar model switched to dense and back).
4. ``measure_replay``: arrow keys on the replay's snapshot slider and on the shift probe's
   sliders in Chromium, each rerunning its view's fragment (timed by the app's hook); and the
   invariance chart of the conv and the dense model measured into an empty cache, then read back.
5. ``measure_training``: one epoch of the conv preset through ConvLab's training path vs a
   bare ``model.fit`` + ``evaluate``, and vs ConvLab's path without snapshots (the replay's
   cost), alternating, 2 to 4 times each as the time limit allows (``bench/training_child.py``);
   wall time as asked, plus CPU time and fastest-vs-fastest, which are steadier on a shared machine.

A phase that fails records its error and the others still run; every server, browser and
child process is stopped on the way out.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import random
import re
import statistics
import sys
import threading
import time
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import RESULTS, AppServer, summary  # noqa: E402

FILTER_PRESSES = 55  # brief: >= 50 changes per slider
IMAGE_PRESSES = 55
LESSON_REPEATS = 10
COLD_STARTS = 3
TRAINING_ROUNDS = 4  # at least 2; rounds 3 and 4 only when the time limit allows
TIME_LIMIT_S = 9.5 * 60  # the whole run stays under 10 minutes
RUN_STARTED = time.perf_counter()
TARGETS = {
    "filter_p95_ms": 50.0,
    "filter_speedup": 20.0,
    "image_p95_ms": 150.0,
    "browser_p95_ms": 300.0,
    "cold_start_margin_s": 3.0,
    "training_overhead": 0.05,
    "peak_rss_gb": 1.5,
    "explain_p95_ms": 100.0,
    "saliency_p95_ms": 150.0,
    "portraits_s": 20.0,
    "snapshot_overhead": 0.03,
    "replay_p95_ms": 100.0,
    "probe_p95_ms": 100.0,
    "invariance_s": 30.0,
}
REPLAY_PRESSES = 40  # arrow keys on the replay's snapshot slider
PROBE_PRESSES = 40  # arrow keys on the shift probe's four sliders, in turn
EXPLAIN_CLICKS = 30  # journey cells clicked, each explained
SALIENCY_REPEATS = 30  # three journey images, both models


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- 1. interaction ----------------------------------------------------------------------------
KEYS_WEIGHTED = [("ArrowRight", 4), ("ArrowLeft", 3), ("PageUp", 1), ("PageDown", 1), ("Home", 0.4), ("End", 0.4)]
BOX_KEYS_WEIGHTED = [("ArrowUp", 4), ("ArrowDown", 3)]  # a number box (the journey's images) steps by one


def _predict(value: int, key: str, low: int, high: int, page_step: int) -> int:
    step = {
        "ArrowRight": 1,
        "ArrowLeft": -1,
        "ArrowUp": 1,
        "ArrowDown": -1,
        "PageUp": page_step,
        "PageDown": -page_step,
    }.get(key)
    if step is not None:
        return min(max(value + step, low), high)
    return low if key == "Home" else high


def _drive_slider(
    page,
    key: str,
    presses: int,
    low: int,
    high: int,
    page_step: int,
    *,
    avoid_repeats: bool,
    seed: int,
    samples: list[dict],
) -> None:
    """``presses`` keyboard changes of slider ``key``, each one a real change (and, for images, a
    value not shown before); after each, wait for the redraw and for the app to be idle. Each
    press's in-page timeline is appended to ``samples``."""
    rng = random.Random(seed)
    value = common.slider_value(page, key)
    seen = {value}
    keys = BOX_KEYS_WEIGHTED if common.is_number_box(page, key) else KEYS_WEIGHTED

    def moves(start: int, excluded: set[int]) -> list[tuple[str, float, int]]:
        ends = ((k, w, _predict(start, k, low, high, page_step)) for k, w in keys)
        return [(k, w, end) for k, w, end in ends if end != start and end not in excluded]

    for _ in range(presses):
        choices = moves(value, seen if avoid_repeats else set())
        if avoid_repeats:  # look one step ahead: never walk into a value whose every neighbour was shown
            choices = [c for c in choices if moves(c[2], seen | {c[2]})] or choices
            if not choices:  # boxed in: allow a repeat (a cache hit), counted in the report
                choices = moves(value, set())
        press = rng.choices([k for k, _, _ in choices], weights=[w for _, w, _ in choices])[0]
        expected = _predict(value, press, low, high, page_step)
        sample = common.press_and_time(page, key, press)
        common.wait_idle(page)
        if sample["after"] == sample["before"]:
            raise RuntimeError(f"{press} did not change {key} (still {sample['before']})")
        sample["expected"] = expected
        samples.append(sample)
        value = sample["after"]
        seen.add(value)


def _server_runs(server: AppServer, start: float, end: float) -> dict[str, list[float]]:
    records = [r for r in server.timings() if start <= r["end"] <= end]
    return {name: [r["seconds"] for r in records if r["name"] == name] for name in ("journey", "script")}


PLOTLY_DRAW_JS = """
async ({data, layout}) => {
  const box = document.createElement('div');
  box.style.cssText = 'position:absolute; top:0; left:0; width:1300px; z-index:-1';
  document.body.appendChild(box);
  const times = {version: Plotly.version, newPlot: [], react: []};
  for (let i = 0; i < 5; i++) {  // a fresh div each time: the figure drawn from scratch
    const div = document.createElement('div'); box.appendChild(div);
    const t = performance.now(); await Plotly.newPlot(div, data, layout); times.newPlot.push(performance.now() - t);
    Plotly.purge(div); div.remove();
  }
  const div = document.createElement('div'); box.appendChild(div);
  await Plotly.newPlot(div, data, layout);
  for (let i = 0; i < 5; i++) {  // the same div, new z values: what an in-place update costs
    const next = data.map(trace => ({...trace, z: trace.z.map(row => row.map(v => v * (1.01 + i / 100)))}));
    const t = performance.now(); await Plotly.react(div, next, layout); times.react.push(performance.now() - t);
  }
  Plotly.purge(div);
  // The same panels as image traces with PNG data URIs (what a server could send instead of z
  // values): drawing from scratch when plotly has pictures to place rather than heatmaps to paint.
  const asImages = data.map(trace => {
    const z = trace.z, h = z.length, w = z[0].length, canvas = document.createElement('canvas');
    canvas.width = w; canvas.height = h;
    const context = canvas.getContext('2d'), pixels = context.createImageData(w, h);
    const flat = z.flat(), low = Math.min(...flat), span = (Math.max(...flat) - low) || 1;
    flat.forEach((v, i) => { const g = 255 * (v - low) / span; pixels.data.set([g, g, g, 255], 4 * i); });
    context.putImageData(pixels, 0, 0);
    return {type: 'image', source: canvas.toDataURL('image/png'), xaxis: trace.xaxis, yaxis: trace.yaxis,
            hoverinfo: 'skip'};
  });
  times.images = [];
  for (let i = 0; i < 5; i++) {
    const fresh = document.createElement('div'); box.appendChild(fresh);
    const t = performance.now(); await Plotly.newPlot(fresh, asImages, layout);
    times.images.push(performance.now() - t);
    Plotly.purge(fresh); fresh.remove();
  }
  box.remove();
  return times;
}
"""


def _plotly_draw_times(page) -> dict:
    """Diagnostic: how long plotly.js itself takes to draw the journey figure in this Chromium.

    In the page, with the plotly.js the journey's component loaded into it (the cartesian bundle of
    the release the Python plotly package ships), draws a copy of the journey figure the app just
    showed, on extra divs: from scratch on a new div (``Plotly.newPlot``), and updated in place with
    ``Plotly.react`` (what the component does with each new figure). Then the same with the plotly
    package's full bundle loaded into the page (``main_page``, the figures of earlier reports).
    """
    import plotly

    figure = page.evaluate(
        "sel => { const d = document.querySelector(sel); "
        "return {data: d.data, layout: JSON.parse(JSON.stringify(d.layout))}; }",
        f"{common.JOURNEY_ELEMENT} {common.JOURNEY_DIV}",
    )
    if not page.evaluate("() => typeof Plotly === 'object' && typeof Plotly.react === 'function'"):
        raise RuntimeError("the page has no plotly.js (the journey component loads it)")
    times = page.evaluate(PLOTLY_DRAW_JS, figure)
    page.add_script_tag(path=str(Path(plotly.__file__).parent / "package_data" / "plotly.min.js"))
    times["main_page"] = page.evaluate(PLOTLY_DRAW_JS, figure)
    for where in (times, times["main_page"]):
        for name in ("newPlot", "react", "images"):
            where[f"{name}_ms"] = summary(where[name])
    return times


@contextlib.contextmanager
def journey_page(name: str, app: str | None = None, models_dir: Path | None = None):
    """A server of the real app (timings on; ``app`` and ``models_dir`` as ``AppServer`` and
    ``StreamlitServer`` take them) and a Chromium page showing its journey: (server, page)."""
    from playwright.sync_api import sync_playwright

    server = AppServer(name, app=app)
    server.models_dir = models_dir
    with server, sync_playwright() as playwright:
        browser = common.launch_chromium(playwright)
        try:
            page = common.new_page(browser)
            page.goto(server.url)
            page.wait_for_function(common.journey_ready_js(), timeout=120_000, polling=50)
            common.wait_idle(page)
            yield server, page
        finally:
            browser.close()


def measure_interaction(result: dict) -> None:
    with journey_page("interaction") as (server, page):
        for phase, key, presses, avoid, seed in (
            ("filter_box", "filter_box", FILTER_PRESSES, False, 1),  # typed filters: a server rerun each
            ("image_slider", "image_1", IMAGE_PRESSES, True, 2),  # new images only: cache misses
        ):
            low, high = common.slider(page, key).evaluate("e => [Number(e.min), Number(e.max)]")
            page_step = max(1, round((high - low) / 10))  # Page Up/Down move a tenth of the range
            log(f"interaction: {presses} key presses on the {key} slider")
            start = time.time()
            samples = []
            result[phase] = {"slider": key, "raw_samples": samples}  # kept if a press fails
            _drive_slider(page, key, presses, low, high, page_step, avoid_repeats=avoid, seed=seed, samples=samples)
            time.sleep(0.3)  # the last timing line is written as the run ends
            runs = _server_runs(server, start, time.time())
            errors = page.evaluate(common.ERRORS_JS)
            records = server.timings()
            browser_ms = [common.sample_ms(s, common.match_server_run(s, records)) for s in samples]
            result[phase].update(
                {
                    "presses": [
                        {"key": s["key"], "before": s["before"], "after": s["after"], "expected": s["expected"]}
                        for s in samples
                    ],
                    "unexpected_values": sum(s["after"] != s["expected"] for s in samples),
                    "distinct_values": len({s["after"] for s in samples}),
                    "server_journey_seconds": runs["journey"],
                    "server_script_seconds": runs["script"],
                    "fragment_runs": len(runs["journey"]),
                    "full_script_runs": len(runs["script"]),
                    "server_ms": summary([s * 1000 for s in runs["journey"]]),
                    "browser_samples_ms": browser_ms,
                    "browser_ms": {
                        part: summary([b[part] for b in browser_ms if b[part] is not None])
                        for part in common.BROWSER_PARTS
                    },
                    "drawn_detected_by": {
                        how: sum(b["how"] == how for b in browser_ms) for how in ("afterplot", "frame")
                    },
                    "page_errors": errors,
                }
            )
            log(
                f"  server fragment p50 {result[phase]['server_ms']['p50']:.1f} ms, "
                f"p95 {result[phase]['server_ms']['p95']:.1f} ms; browser p95 "
                f"{result[phase]['browser_ms']['total']['p95']:.0f} ms; "
                f"{len(runs['journey'])} fragment runs, {len(runs['script'])} full runs"
            )
        result["plotly_draw"] = _plotly_draw_times(page)
        log(
            f"  plotly.js {result['plotly_draw']['version']} alone draws the journey figure in "
            f"{result['plotly_draw']['newPlot_ms']['p50']:.0f} ms on a new div, "
            f"{result['plotly_draw']['react_ms']['p50']:.0f} ms in place, as image traces "
            f"{result['plotly_draw']['images_ms']['p50']:.0f} ms on a new div (medians of 5) in the component's "
            f"frame; in the main page {result['plotly_draw']['main_page']['newPlot_ms']['p50']:.0f}, "
            f"{result['plotly_draw']['main_page']['react_ms']['p50']:.0f} and "
            f"{result['plotly_draw']['main_page']['images_ms']['p50']:.0f} ms"
        )
    log(f"interaction: the lesson's cell, {LESSON_REPEATS} runs in a subprocess")
    lesson = common.run_child(
        "lesson_cell.py", [str(LESSON_REPEATS)], log_path=RESULTS / "logs" / "lesson_cell.log", timeout=240
    )
    lesson["ms"] = summary([s * 1000 for s in lesson["seconds"]])
    result["lesson_cell"] = lesson
    log(f"  lesson cell p50 {lesson['ms']['p50']:.0f} ms, p95 {lesson['ms']['p95']:.0f} ms")


# -- 2. cold start ---------------------------------------------------------------------------
COLD_START_PAGE_JS = """() => {
  const B = window.__bench;
  let plotlyJs = B.journeyPlotlyJs;
  if (!plotlyJs) {  // the page's poll had not seen it yet: read the resource timing now
    const e = performance.getEntriesByType('resource').find(e => /plotly-cartesian[\\w.-]*\\.js$/.test(e.name));
    if (e) plotlyJs = {name: e.name, requestedEpochMs: performance.timeOrigin + e.startTime,
                       loadedEpochMs: performance.timeOrigin + e.responseEnd,
                       transferBytes: e.transferSize, bodyBytes: e.encodedBodySize, decodedBytes: e.decodedBodySize};
  }
  const chunk = performance.getEntriesByType('resource').find(e => /PlotlyChart/.test(e.name));
  return {send: B.firstSendEpochMs, element: B.firstElementEpochMs, chart: B.firstChartEpochMs,
          drawn: B.firstDrawnEpochMs, anyDrawn: B.firstAnyDrawnEpochMs, big: B.bigMessages, plotlyJs,
          streamlitPlotly: chunk ? performance.timeOrigin + chunk.startTime : null};
}"""


def _cold_start_once(browser, number: int) -> dict:
    server = AppServer(f"cold-start-{number}")
    context = page = None
    try:
        page = common.new_page(browser, timeout_ms=120_000)
        context = page.context
        wall_start = time.time()
        server.start()
        port_at = server.wait_port(timeout=120) - server.started_at
        page.goto(server.url, wait_until="commit")
        page.wait_for_function(common.journey_ready_js(), timeout=120_000, polling="raf")
        drawn_at = time.perf_counter() - server.started_at
        common.wait_idle(page, timeout_ms=60_000)  # after the clock stopped: the script runs have written their timings
        time.sleep(0.2)
        page_times = page.evaluate(COLD_START_PAGE_JS)
        runs = [r for r in server.timings() if r["name"] == "script"]
        first = runs[0] if runs else None
        plotly_js = page_times["plotlyJs"]
        since = lambda epoch_ms: epoch_ms / 1000 - wall_start if epoch_ms else None  # noqa: E731
        return {
            "seconds": drawn_at,
            "port_answers_s": port_at,
            "session_connects_s": since(page_times["send"]),
            "script_main_starts_s": first["end"] - first["seconds"] - wall_start if first else None,
            "script_main_seconds": first["seconds"] if first else None,
            "script_ends_s": first["end"] - wall_start if first else None,
            # a server's first run draws the page without a model, then reruns with it
            "script_runs": len(runs),
            "script_rerun_ends_s": runs[1]["end"] - wall_start if len(runs) > 1 else None,
            "big_messages_s_bytes": [(round(since(t), 3), size) for t, size in page_times["big"]],
            # the plotly.js the journey's component loads into the page (resource timing)
            "journey_plotly_js_url": plotly_js["name"] if plotly_js else None,
            "journey_plotly_js_bytes": (plotly_js["decodedBytes"] or None) if plotly_js else None,  # uncompressed
            "journey_plotly_js_transfer_bytes": (plotly_js["transferBytes"] or None) if plotly_js else None,
            "journey_plotly_js_requested_s": since(plotly_js["requestedEpochMs"]) if plotly_js else None,
            "journey_plotly_js_loaded_s": since(plotly_js["loadedEpochMs"]) if plotly_js else None,
            # Streamlit's own Plotly chunk: not expected for the journey tab any more (None)
            "streamlit_plotly_chunk_requested_s": since(page_times["streamlitPlotly"]),
            "journey_element_created_s": since(page_times["element"]),
            "journey_div_created_s": since(page_times["chart"]),
            "journey_pending_afterplot_s": since(page_times["anyDrawn"])
            if page_times["anyDrawn"] != page_times["drawn"]
            else None,
            "journey_first_afterplot_s": since(page_times["drawn"]),
        }
    finally:
        if context is not None:
            context.close()
        server.stop()


def measure_cold_start(result: dict) -> None:
    from playwright.sync_api import sync_playwright

    tf_import, app = result["tf_import_seconds"], result["app_runs"] = [], []
    with sync_playwright() as playwright:
        browser = common.launch_chromium(playwright)  # launched before the clock starts
        try:
            for number in range(COLD_STARTS):
                tf_import.append(common.wall_time([sys.executable, "-c", "import tensorflow"]))
                app.append(_cold_start_once(browser, number))
                log(
                    f"cold start {number + 1}: TF import {tf_import[-1]:.2f} s, app {app[-1]['seconds']:.2f} s "
                    f"(port {app[-1]['port_answers_s']:.2f} s, "
                    f"main() starts {app[-1]['script_main_starts_s'] or 0:.2f} s,"
                    f" lasts {app[-1]['script_main_seconds'] or 0:.2f} s)"
                )
        finally:
            browser.close()
    median = lambda key: statistics.median(run[key] for run in app if run[key] is not None)  # noqa: E731
    result.update(
        tf_import_median_s=statistics.median(tf_import),
        app_median_s=median("seconds"),
        breakdown_median_s={
            key: median(key)
            for key in (
                "port_answers_s",
                "session_connects_s",
                "script_main_starts_s",
                "script_main_seconds",
                "script_ends_s",
                "script_rerun_ends_s",
                "journey_plotly_js_requested_s",
                "journey_plotly_js_loaded_s",
                "journey_element_created_s",
                "journey_div_created_s",
                "journey_pending_afterplot_s",
                "journey_first_afterplot_s",
            )
            if any(run[key] is not None for run in app)
        },
    )


# -- 3. memory -------------------------------------------------------------------------------
VIEWS = [  # the view's title (ui.state.TITLES), what shows it has rendered: a selector, or a function giving a locator
    ("Journey", common.journey_locator),  # the plotly div in the journey component's element
    ("Filters", ".st-key-mix_chart .js-plotly-plot"),
    ("Where it looked", ".st-key-looked_chart .js-plotly-plot"),
    ("Portraits", ".st-key-portraits_chart .js-plotly-plot"),
    ("Replay", ".st-key-replay_chart .js-plotly-plot"),
    ("Shift probe", ".st-key-invariance_chart .js-plotly-plot"),
    ("Predictions", ".st-key-confusion_chart .js-plotly-plot"),
    ("Your image", ".st-key-upload_journey .js-plotly-plot"),
    ("Compare", ".st-key-curves_chart .js-plotly-plot"),
    ("Lab", "text=Build a variant"),
]


def _upload_picture() -> Path:
    """A dark pair of trousers on white, as a phone photo of one might look (made here, no files needed)."""
    from PIL import Image, ImageDraw

    path = RESULTS / "upload-trousers.png"
    image = Image.new("RGB", (300, 400), "white")
    draw = ImageDraw.Draw(image)
    draw.polygon([(90, 40), (210, 40), (230, 370), (165, 370), (150, 140), (135, 370), (70, 370)], fill=(40, 40, 60))
    image.save(path)
    return path


def _open_view(page, tab: str, ready, picture: Path) -> None:
    from ui.navigation import SECTIONS
    from ui.state import TITLES

    slug = next(slug for slug, title in TITLES.items() if title == tab)
    common.click_view(page, next(section for section, slugs in SECTIONS.items() if slug in slugs), tab)
    if tab == "Your image":
        page.locator("[data-testid=stFileUploader] input[type=file]").set_input_files(str(picture))
    (ready(page) if callable(ready) else page.locator(ready)).first.wait_for(state="visible", timeout=180_000)
    common.wait_idle(page, timeout_ms=180_000)


def _switch_model(page, label: str) -> None:
    page.locator("[data-testid=stSidebar] [data-testid=stSelectbox]").first.click()
    page.get_by_role("option", name=re.compile("^" + re.escape(label))).click()
    common.wait_idle(page, timeout_ms=120_000)


def measure_memory(result: dict) -> None:
    from playwright.sync_api import sync_playwright

    picture = _upload_picture()
    steps, rss_trace = result["views"], result["rss_trace_kb"] = [], []
    stop = threading.Event()
    with AppServer("memory", timings=False) as server, sync_playwright() as playwright:

        def sample_rss():
            while not stop.is_set():
                try:
                    rss_trace.append((round(time.time(), 2), server.status_kb("VmRSS")))
                except (OSError, RuntimeError):
                    pass
                stop.wait(0.5)

        sampler = threading.Thread(target=sample_rss, daemon=True)
        sampler.start()
        browser = common.launch_chromium(playwright)
        try:
            page = common.new_page(browser, timeout_ms=120_000)
            page.goto(server.url)
            page.wait_for_function(common.journey_ready_js(), timeout=120_000, polling=50)
            common.wait_idle(page)
            for tab, ready in VIEWS:
                started = time.perf_counter()
                _open_view(page, tab, ready, picture)
                steps.append(
                    {
                        "view": tab,
                        "seconds": round(time.perf_counter() - started, 2),
                        "rss_mb": server.status_kb("VmRSS") / 1024,
                        "hwm_mb": server.status_kb("VmHWM") / 1024,
                    }
                )
                log(
                    f"memory: {tab} rendered in {steps[-1]['seconds']:.1f} s; RSS {steps[-1]['rss_mb']:.0f} MB, "
                    f"peak {steps[-1]['hwm_mb']:.0f} MB"
                )
            model_switch = None
            try:  # the sidebar model: the dense model, its journey (no conv layers), then back to conv
                _switch_model(page, "dense")
                _open_view(page, "Journey", "text=has no conv or pool layers", picture)
                _switch_model(page, "conv")
                _open_view(page, "Journey", common.journey_locator, picture)
                page.wait_for_function(common.journey_ready_js(), timeout=60_000)
                model_switch = "dense and back to conv"
                steps.append(
                    {
                        "view": "model dense -> conv",
                        "rss_mb": server.status_kb("VmRSS") / 1024,
                        "hwm_mb": server.status_kb("VmHWM") / 1024,
                    }
                )
            except Exception as error:  # "if easy": recorded, not fatal
                model_switch = f"failed: {type(error).__name__}: {str(error)[:200]}"
            log(f"memory: model switch {model_switch}")
            errors = page.evaluate(common.ERRORS_JS)
            hwm_kb = server.status_kb("VmHWM")
        finally:
            stop.set()
            browser.close()
    result.update(model_switch=model_switch, page_errors=errors, peak_rss_kb=hwm_kb, peak_rss_gb=hwm_kb / 2**20)


# -- 3b. how and why: a clicked cell explained, where the models looked ------------------------
def measure_explain(result: dict) -> None:
    """Server side, as the app runs it: each click on a journey cell reruns the journey fragment
    with the cell's explanation (the app's timing hook times it); and saliency + Grad-CAM of the
    three journey images for the dense and the conv model, as the "Where it looked" view computes them."""
    from convlab.data import load_split
    from convlab.models import PRESETS
    from convlab.saliency import Explainer
    from convlab.store import ModelStore

    clicks = result["clicks"] = []
    with journey_page("explain") as (server, page):
        panels = page.locator(common.JOURNEY_ELEMENT).locator(".heatmaplayer image")
        heatmaps = [n for n in range(panels.count()) if n % 5]  # the input column (every fifth) explains nothing
        rng = random.Random(3)
        for number in range(EXPLAIN_CLICKS):
            box = panels.nth(heatmaps[number % len(heatmaps)]).bounding_box()
            before = page.evaluate("() => location.search")
            start = time.time()
            page.mouse.click(
                box["x"] + box["width"] * rng.uniform(0.1, 0.9), box["y"] + box["height"] * rng.uniform(0.1, 0.9)
            )
            page.wait_for_function(
                "before => location.search !== before && !!document.querySelector('.st-key-explanation')",
                arg=before,
                timeout=15_000,
                polling=20,
            )
            common.wait_idle(page)
            time.sleep(0.2)  # the timing line is written as the run ends
            runs = _server_runs(server, start, time.time())["journey"]
            clicks.append({"url": page.evaluate("() => location.search"), "server_ms": [r * 1000 for r in runs]})
        errors = page.evaluate(common.ERRORS_JS)
    result["page_errors"] = errors
    result["server_ms"] = summary([max(click["server_ms"]) for click in clicks if click["server_ms"]])
    log(f"explain: {len(clicks)} cells clicked, server p95 {result['server_ms']['p95']:.1f} ms")

    split, store = load_split("test"), ModelStore()
    explainers = {name: Explainer(store.load(PRESETS[name]).model) for name in ("dense", "conv")}
    rng = np.random.default_rng(4)
    times = []
    for repeat in range(SALIENCY_REPEATS + 1):  # the first call compiles: reported apart
        images = split.images[rng.choice(len(split), 3, replace=False)]
        started = time.perf_counter()
        for name, explainer in explainers.items():
            explainer.saliency(images, [0, 1, 2])
        explainers["conv"].grad_cam(images, [0, 1, 2])
        times.append((time.perf_counter() - started) * 1000)
    result["saliency_first_ms"] = round(times[0], 1)
    portraits_timed(result, store)
    result["saliency_ms"] = summary(times[1:])
    log(
        f"explain: saliency + Grad-CAM, 3 images, both models: p95 {result['saliency_ms']['p95']:.1f} ms "
        f"(first call {times[0]:.0f} ms)"
    )


# -- 4. replay and shift probe -------------------------------------------------------------------
def _fragment_presses(page, server: AppServer, keys: list[str], presses: int, fragment: str) -> dict:
    """``presses`` arrow keys spread over the sliders ``keys`` (right, then left at the end of the
    range); after each, wait for the app to be idle. The fragment's server runs, from the timing hook."""
    rng = random.Random(5)
    start = time.time()
    for number in range(presses):
        key = keys[number % len(keys)]
        thumb = page.locator(f".st-key-{key}").get_by_role("slider").first  # an <input type=range>
        value, high = thumb.evaluate(
            "e => [Number(e.getAttribute('aria-valuenow') ?? e.value), "
            "Number(e.getAttribute('aria-valuemax') ?? e.max)]"
        )
        thumb.focus()
        page.keyboard.press("ArrowLeft" if value >= high or rng.random() < 0.2 else "ArrowRight")
        common.wait_idle(page)
        time.sleep(0.05)
    time.sleep(0.3)  # the last timing line is written as the run ends
    records = [r for r in server.timings() if start <= r["end"] <= time.time()]
    runs = [r["seconds"] * 1000 for r in records if r["name"] == fragment]
    return {
        "presses": presses,
        "fragment_runs": len(runs),
        "full_runs": sum(r["name"] == "script" for r in records),
        "server_ms": summary(runs),
        "page_errors": page.evaluate(common.ERRORS_JS),
    }


def measure_replay(result: dict) -> None:
    """The replay's slider and the shift probe's sliders in the real app, and the invariance chart's cost."""
    import tempfile

    from convlab.data import load_split
    from convlab.invariance import InvarianceCache
    from convlab.models import PRESETS
    from convlab.store import ModelStore

    with journey_page("replay") as (server, page):
        for tab, keys, presses, fragment in (
            ("replay", ["snapshot"], REPLAY_PRESSES, "replay"),
            ("probe", ["shift_x", "shift_y", "rotate", "zoom"], PROBE_PRESSES, "probe"),
        ):
            page.goto(f"{server.url}/?tab={tab}")
            page.locator(f".st-key-{keys[0]}").get_by_role("slider").first.wait_for(timeout=120_000)
            common.wait_idle(page)
            log(f"replay: {presses} key presses on the {tab} view's sliders")
            result[tab] = _fragment_presses(page, server, keys, presses, fragment)
            log(
                f"  server fragment p50 {result[tab]['server_ms']['p50']:.1f} ms, "
                f"p95 {result[tab]['server_ms']['p95']:.1f} ms "
                f"({result[tab]['fragment_runs']} runs, {result[tab]['full_runs']} full runs)"
            )
    split, store = load_split("test"), ModelStore()
    result["invariance"] = {}
    with tempfile.TemporaryDirectory() as root:
        for name in ("conv", "dense"):
            stored = store.load(PRESETS[name])
            started = time.perf_counter()
            InvarianceCache(root).load_or_measure(stored, split)
            first = time.perf_counter() - started
            started = time.perf_counter()
            InvarianceCache(root).load_or_measure(stored, split)  # a new cache object: read from the file
            result["invariance"][name] = {
                "first_s": round(first, 2),
                "cached_ms": round((time.perf_counter() - started) * 1000, 1),
            }
            log(
                f"replay: invariance chart of the {name} model {first:.1f} s, from the cache "
                f"{result['invariance'][name]['cached_ms']:.0f} ms"
            )


def _replay_rows(replay: dict) -> list[dict]:
    rows = []
    for tab, label in (("replay", "Replay slider move → new grid"), ("probe", "Shift-probe slider move → new journey")):
        ms, t = replay[tab]["server_ms"], TARGETS[f"{tab}_p95_ms"]
        rows.append(
            _row(
                f"{label}: server fragment rerun, p95 ({ms['n']} presses, {replay[tab]['full_runs']} full runs)",
                f"{ms['p95']:.1f} ms (p50 {ms['p50']:.1f})",
                "—",
                "—",
                f"≤ {t:.0f} ms",
                ms["p95"] <= t,
                _over(ms["p95"], t, 1),
            )
        )
    t = TARGETS["invariance_s"]
    for name, found in replay["invariance"].items():
        rows.append(
            _row(
                f"Invariance chart, {name} model, all 10,000 test images: first time (then from the cache)",
                f"{found['first_s']:.1f} s (cached {found['cached_ms']:.0f} ms)",
                "—",
                "—",
                f"≤ {t:.0f} s",
                found["first_s"] <= t,
                f"{found['first_s'] - t:.1f} s over",
            )
        )
    return rows


# -- 5. training -----------------------------------------------------------------------------
def measure_training(result: dict) -> None:
    budget = max(TIME_LIMIT_S - (time.perf_counter() - RUN_STARTED) - 15, 0)
    log(
        f"training: ConvLab vs bare model.fit, one epoch each, alternating, up to {TRAINING_ROUNDS} rounds "
        f"within {budget:.0f} s (a few minutes)"
    )
    data = common.run_child(
        "training_child.py",
        [str(TRAINING_ROUNDS), f"{budget:.0f}"],
        log_path=RESULTS / "logs" / "training.log",
        timeout=600,
    )
    convlab_s = [r["seconds"] for r in data["runs"] if r["name"] == "convlab"]
    bare_s = [r["seconds"] for r in data["runs"] if r["name"] == "bare"]
    plain_s = [r["seconds"] for r in data["runs"] if r["name"] == "no_snapshots"]
    cpu_of = {
        name: statistics.median(r["cpu_seconds"] for r in data["runs"] if r["name"] == name)
        for name in ("convlab", "no_snapshots")
    }
    data["snapshots"] = {
        "count": data["runs"][0]["snapshots"],
        "ratio": statistics.median(convlab_s) / statistics.median(plain_s),
        "min_ratio": min(convlab_s) / min(plain_s),
        "cpu_ratio": cpu_of["convlab"] / cpu_of["no_snapshots"],
        # The recorder's own time inside each training: what snapshots cost, without the machine's noise.
        "direct_share": statistics.median(
            r["snapshot_seconds"] / r["train_seconds"] for r in data["runs"] if r["name"] == "convlab"
        ),
    }
    data.update(
        convlab_seconds=convlab_s,
        bare_seconds=bare_s,
        convlab_median_s=statistics.median(convlab_s),
        bare_median_s=statistics.median(bare_s),
    )
    data["ratio"] = data["convlab_median_s"] / data["bare_median_s"]
    data["paired_ratios"] = [
        c / b for c, b in zip(convlab_s, bare_s, strict=True)
    ]  # each ConvLab run / the bare run after it
    data["min_ratio"] = min(convlab_s) / min(
        bare_s
    )  # other processes only ever add time: the fastest runs are the cleanest
    data["others_cpu_seconds"] = [round(r["others_cpu_seconds"], 1) for r in data["runs"]]
    cpu = {
        name: statistics.median(r["cpu_seconds"] for r in data["runs"] if r["name"] == name)
        for name in ("convlab", "bare")
    }
    data["cpu_median_s"], data["cpu_ratio"] = cpu, cpu["convlab"] / cpu["bare"]
    result.update(data)


# -- the table -------------------------------------------------------------------------------
def _row(measure: str, convlab: str, reference: str, ratio: str, target: str, met: bool | None, note: str) -> dict:
    """One row of the table. ``note`` is what the verdict adds: by how much a missed target was
    missed, or, for a failed phase (``met`` None), its error."""
    verdict = "✅ yes" if met else f"❌ no: {note}" if met is not None else f"⚠️ phase failed: {note}"
    return {
        "measure": measure,
        "convlab": convlab,
        "reference": reference,
        "ratio": ratio,
        "target": target,
        "met": met,
        "verdict": verdict,
    }


def _over(value: float, target: float, digits: int) -> str:
    """How far over its target a p95 is, in ms and in percent."""
    return f"{value - target:.{digits}f} ms over ({value / target - 1:+.0%})"


def _interaction_rows(inter: dict) -> list[dict]:
    f_ms, i_ms, lesson = (
        inter["filter_box"]["server_ms"],
        inter["image_slider"]["server_ms"],
        inter["lesson_cell"]["ms"],
    )
    t = TARGETS["filter_p95_ms"]
    rows = [
        _row(
            f"Filter box: server fragment rerun, p95 ({f_ms['n']} presses)",
            f"{f_ms['p95']:.1f} ms (p50 {f_ms['p50']:.1f})",
            f"lesson cell {lesson['p95']:.0f} ms (p50 {lesson['p50']:.0f})",
            f"{lesson['p95'] / f_ms['p95']:.0f}× faster",
            f"≤ {t:.0f} ms",
            f_ms["p95"] <= t,
            _over(f_ms["p95"], t, 1),
        )
    ]
    s = TARGETS["filter_speedup"]
    for stat in ("p50", "p95"):
        speedup = lesson[stat] / f_ms[stat]
        rows.append(
            _row(
                f"Filter box vs the lesson's cell, {stat} vs {stat}",
                f"{f_ms[stat]:.1f} ms",
                f"{lesson[stat]:.0f} ms",
                f"{speedup:.0f}× faster",
                f"≥ {s:.0f}× faster",
                speedup >= s,
                f"only {speedup:.1f}× ({s / speedup:.1f}× short)",
            )
        )
    t = TARGETS["image_p95_ms"]
    rows.append(
        _row(
            f"Image slider: server fragment rerun (cache miss), p95 ({i_ms['n']} presses)",
            f"{i_ms['p95']:.1f} ms (p50 {i_ms['p50']:.1f})",
            f"lesson cell {lesson['p95']:.0f} ms",
            f"{lesson['p95'] / i_ms['p95']:.0f}× faster",
            f"≤ {t:.0f} ms",
            i_ms["p95"] <= t,
            _over(i_ms["p95"], t, 1),
        )
    )
    b = inter["filter_box"]["browser_ms"]["total"]
    t = TARGETS["browser_p95_ms"]
    rows.append(
        _row(
            f"Filter box: key press → heatmaps drawn in Chromium, p95 ({b['n']} presses)",
            f"{b['p95']:.0f} ms (p50 {b['p50']:.0f})",
            f"lesson cell {lesson['p95']:.0f} ms",
            f"{lesson['p95'] / b['p95']:.1f}× faster",
            f"≤ {t:.0f} ms",
            b["p95"] <= t,
            _over(b["p95"], t, 0),
        )
    )
    runs = sum(inter[p]["full_script_runs"] for p in ("filter_box", "image_slider"))
    frags = sum(inter[p]["fragment_runs"] for p in ("filter_box", "image_slider"))
    presses = f_ms["n"] and len(inter["filter_box"]["presses"]) + len(inter["image_slider"]["presses"])
    rows.append(
        _row(
            "Slider presses rerun only the fragment (runs: fragment / full script)",
            f"{frags} / {runs}",
            f"{presses} presses",
            "—",
            "one fragment run per press, 0 full runs",
            runs == 0 and frags == presses,
            f"{frags} fragment, {runs} full runs",
        )
    )
    return rows


def _cold_start_rows(cold: dict) -> list[dict]:
    app, tf = cold["app_median_s"], cold["tf_import_median_s"]
    limit = tf + TARGETS["cold_start_margin_s"]
    return [
        _row(
            f"Cold start: Popen → journey drawn in Chromium (median of {len(cold['app_runs'])})",
            f"{app:.2f} s",
            f"`import tensorflow` {tf:.2f} s",
            f"{app / tf:.2f}×",
            f"≤ TF import + 3 s = {limit:.2f} s",
            app <= limit,
            f"{app - limit:.2f} s over",
        )
    ]


def _training_rows(train: dict) -> list[dict]:
    overhead = train["ratio"] - 1
    t = TARGETS["training_overhead"]
    row = _row(
        f"Training, conv preset, 1 epoch + test evaluation (median of {len(train['convlab_seconds'])})",
        f"{train['convlab_median_s']:.1f} s",
        f"bare fit+evaluate {train['bare_median_s']:.1f} s",
        f"{train['ratio']:.3f} ({overhead:+.1%}; fastest vs fastest {train['min_ratio'] - 1:+.1%}; "
        f"CPU time {train['cpu_ratio'] - 1:+.1%}; pairs {', '.join(f'{r:.2f}' for r in train['paired_ratios'])})",
        f"overhead ≤ {t:.0%}",
        overhead <= t,
        f"{overhead - t:.1%} points over",
    )
    pairs = train["paired_ratios"]
    if max(pairs) - min(pairs) > 2 * t:  # the machine's noise is bigger than the effect measured
        row["verdict"] += (
            f" (⚠️ noisy: paired ratios span {min(pairs):.2f}–{max(pairs):.2f}; the fastest-vs-fastest "
            f"and CPU-time figures are steadier)"
        )
    return [row]


def _snapshot_rows(train: dict) -> list[dict]:
    snap, t = train["snapshots"], TARGETS["snapshot_overhead"]
    overhead = snap["cpu_ratio"] - 1
    return [
        _row(
            f"Snapshots' cost: conv preset, 1 epoch ({snap['count']} snapshots) vs the same without them",
            f"CPU time {overhead:+.1%}",
            "ConvLab's training without snapshots",
            f"wall {snap['ratio'] - 1:+.1%}, fastest vs fastest {snap['min_ratio'] - 1:+.1%}; "
            f"the recorder's own time {snap['direct_share']:.1%} of training",
            f"≤ {t:.0%}",
            overhead <= t,
            f"{overhead - t:.1%} points over",
        )
    ]


def _memory_rows(memory: dict) -> list[dict]:
    # /proc counts in KiB, so GB is read as GiB (1.5 GiB = 1536 MiB); the decimal reading is shown too.
    gib, t = memory["peak_rss_gb"], TARGETS["peak_rss_gb"]
    mib, decimal_gb = memory["peak_rss_kb"] / 1024, memory["peak_rss_kb"] * 1024 / 1e9
    row = _row(
        "Peak RSS (VmHWM) of the server after every view",
        f"{gib:.2f} GiB ({mib:.0f} MiB = {decimal_gb:.2f} GB)",
        "—",
        "—",
        f"≤ {t} GB (GiB)",
        gib <= t,
        f"{(gib - t) * 1024:.0f} MiB over",
    )
    if gib <= t:
        row["verdict"] += f", {(t - gib) * 1024:.0f} MiB under" + (
            f" (but over a decimal {t} GB = {t * 1e9 / 2**20:.0f} MiB)" if decimal_gb > t else ""
        )
    return [row]


def portraits_timed(result: dict, store) -> None:
    """All 64 conv2 portraits of the lesson's conv model: drawn into an empty cache, then read back."""
    import tempfile

    from convlab.models import PRESETS
    from convlab.portraits import PortraitCache

    stored = store.load(PRESETS["conv"])
    with tempfile.TemporaryDirectory() as root:
        cache = PortraitCache(root)
        started = time.perf_counter()
        cache.load_or_make(stored, "conv2")
        result["portraits_first_s"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        PortraitCache(root).load_or_make(stored, "conv2")  # a new cache object: read from the file
        result["portraits_cached_s"] = round(time.perf_counter() - started, 3)
    log(
        f"explain: 64 conv2 portraits in {result['portraits_first_s']:.1f} s, from the cache in "
        f"{result['portraits_cached_s'] * 1000:.0f} ms"
    )


def _explain_rows(explain: dict) -> list[dict]:
    click, t = explain["server_ms"], TARGETS["explain_p95_ms"]
    saliency, ts = explain["saliency_ms"], TARGETS["saliency_p95_ms"]
    return [
        _row(
            f"A journey cell clicked → its explanation: server fragment rerun, p95 ({click['n']} clicks)",
            f"{click['p95']:.1f} ms (p50 {click['p50']:.1f})",
            "—",
            "—",
            f"≤ {t:.0f} ms",
            click["p95"] <= t,
            _over(click["p95"], t, 1),
        ),
        _row(
            "Saliency + Grad-CAM, 3 journey images, dense and conv models, p95",
            f"{saliency['p95']:.1f} ms (p50 {saliency['p50']:.1f}; first call {explain['saliency_first_ms']:.0f} ms)",
            "—",
            "—",
            f"≤ {ts:.0f} ms",
            saliency["p95"] <= ts,
            _over(saliency["p95"], ts, 1),
        ),
        _row(
            "Portraits of all 64 conv2 filters, first time (then from the cache)",
            f"{explain['portraits_first_s']:.1f} s (cached {explain['portraits_cached_s'] * 1000:.0f} ms)",
            "—",
            "—",
            f"≤ {TARGETS['portraits_s']:.0f} s",
            explain["portraits_first_s"] <= TARGETS["portraits_s"],
            f"{explain['portraits_first_s'] - TARGETS['portraits_s']:.1f} s over",
        ),
    ]


TABLE = [  # phase, its name in a failure row, its rows: the table's order
    ("interaction", "Interaction (filter and image sliders)", _interaction_rows),
    ("cold_start", "Cold start", _cold_start_rows),
    ("training", "Training", _training_rows),
    ("memory", "Memory", _memory_rows),
    ("explain", "How and why", _explain_rows),
    ("replay", "Replay and shift probe", _replay_rows),
    ("training", "Snapshots", _snapshot_rows),
]


def table_rows(measures: dict) -> list[dict]:
    """One row per target: measure, ConvLab figure, reference, ratio, target, met?"""
    rows = []
    for name, label, phase_rows in TABLE:
        result = measures.get(name, {})
        if not result:
            continue  # not run (a phase was picked on the command line)
        if "error" in result:
            rows.append(_row(label, "—", "—", "—", "—", None, result["error"].splitlines()[-1][:120]))
        else:
            rows += phase_rows(result)
    return rows


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        "# ConvLab benchmark",
        "",
        f"{report['date']} · {m['nproc']} cores ({m['cpu_model']}) · {m['memory_total_gb']} GB · "
        f"Python {m['versions'].get('python')}, TensorFlow {m['versions'].get('tensorflow')}, "
        f"Streamlit {m['versions'].get('streamlit')} · {m.get('chromium') or ''} · "
        f"load average at start {report['load']['start']['loadavg'][0]:.2f}, "
        f"at end {report['load']['end']['loadavg'][0]:.2f} · "
        f"total {report['total_seconds']:.0f} s · commit {report['code']['commit']}"
        + (
            f" with uncommitted changes to {', '.join(line[3:] for line in report['code']['uncommitted'])}"
            if report["code"]["uncommitted"]
            else ""
        ),
        "",
        *(
            [f"**Experiment: the server ran `{report['app']}`, not `app.py`.**", ""]
            if report["app"] != "app.py"
            else []
        ),
        "| measure | ConvLab | reference | ratio | target | met? |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['measure']} | {r['convlab']} | {r['reference']} | {r['ratio']} | {r['target']} | {r['verdict']} |"
        for r in report["rows"]
    ]
    inter = report["measures"].get("interaction", {})
    for phase in ("filter_box", "image_slider"):
        parts = inter.get(phase, {}).get("browser_ms")
        if not parts:
            continue
        text = ", ".join(
            f"{label} {parts[part]['p50']:.0f}"
            for part, label in (
                ("keydown_to_run_start", "key press → fragment run starts"),
                ("server_run", "the run"),
                ("run_end_to_chart_message", "run ends → page handles the chart message"),
                ("chart_message_to_drawn", "→ heatmaps drawn"),
            )
            if parts[part].get("n")
        )
        lines += [
            "",
            f"Where the browser time goes, {phase.replace('_', ' ')} (medians, ms): {text}; "
            f"total p50 {parts['total']['p50']:.0f}, p95 {parts['total']['p95']:.0f}.",
        ]
    if "newPlot_ms" in inter.get("plotly_draw", {}):
        draw = inter["plotly_draw"]
        lines += [
            "",
            f"plotly.js {draw['version']} alone, same figure, in the journey component's frame: "
            f"{draw['newPlot_ms']['p50']:.0f} ms "
            f"to draw it from scratch on a new div (Plotly.newPlot), "
            f"{draw['react_ms']['p50']:.0f} ms to update it in place with Plotly.react (what the journey's "
            f"component does with each new figure), "
            f"{draw['images_ms']['p50']:.0f} ms to draw the same panels as image traces (PNG data URIs) "
            f"on a new div (medians of 5).",
        ]
        if "main_page" in draw:
            main = draw["main_page"]
            lines[-1] += (
                f" The same with the plotly package's full bundle in the page (earlier reports' "
                f"figures): {main['newPlot_ms']['p50']:.0f} ms from scratch, "
                f"{main['react_ms']['p50']:.0f} ms in place, {main['images_ms']['p50']:.0f} ms as image traces."
            )
    cold = report["measures"].get("cold_start", {})
    if "breakdown_median_s" in cold:
        b = cold["breakdown_median_s"]

        def at(key: str, text: str) -> list[str]:  # a step some runs may not have (None in all of them)
            return [text.format(b[key])] if b.get(key) is not None else []

        sizes = [
            (r["journey_plotly_js_bytes"], r.get("journey_plotly_js_transfer_bytes"))
            for r in cold["app_runs"]
            if r.get("journey_plotly_js_bytes")
        ]
        size = (
            (
                f" ({sizes[0][0] / 1e6:.1f} MB of JavaScript"
                + (f", {sizes[0][1] / 1e6:.1f} MB transferred" if sizes[0][1] else "")
                + ")"
            )
            if sizes
            else ""
        )
        steps = [
            *at("port_answers_s", "port answers {:.2f} s"),
            *at("session_connects_s", "page connects {:.2f} s"),
            *at("script_main_starts_s", "app.py's imports done and main() starts {:.2f} s"),
            *at(
                "script_main_seconds",
                "the first run of main() takes {:.2f} s"
                + (f" (ends {b['script_ends_s']:.2f} s)" if b.get("script_ends_s") is not None else ""),
            ),
            *at("script_rerun_ends_s", "its rerun ends {:.2f} s"),
            *at("journey_element_created_s", "the journey component's element appears {:.2f} s"),
            *at(
                "journey_plotly_js_requested_s",
                "the page asks for plotly.js for the journey chart" + size + " {:.2f} s",
            ),
            *at("journey_plotly_js_loaded_s", "and has it {:.2f} s"),
            *at("journey_div_created_s", "its chart div becomes a plotly plot {:.2f} s"),
            *at("journey_pending_afterplot_s", "plotly_afterplot of the first figure (inputs only) {:.2f} s"),
            *at("journey_first_afterplot_s", "first plotly_afterplot of the 15-trace figure {:.2f} s"),
        ]
        lines += [
            "",
            "Cold start, medians from Popen: "
            + ", ".join(steps)
            + f", 15 traces seen drawn {cold['app_median_s']:.2f} s.",
        ]
    train = report["measures"].get("training", {})
    if train.get("runs") and "others_cpu_seconds" in train["runs"][0]:
        lines += [
            "",
            "Training runs in order (wall s / own CPU s / other processes' CPU s / idle fraction of each core; "
            "a run with about as much CPU as wall time ran one core at a time): "
            + "; ".join(
                f"{r['name']} {r['seconds']:.1f} / {r['cpu_seconds']:.1f} / {r['others_cpu_seconds']:.1f} / "
                + ", ".join(f"{i:.2f}" for i in r.get("core_idle_fraction", []))
                for r in train["runs"]
            ),
        ]
    busy = report["load"]["start"].get("busy_processes")
    if busy:
        lines += [
            "",
            "Other processes busy on the machine at the start (not ours): "
            + "; ".join(f"{p['command'][:60]} {p['cpu_percent']:.0f}%" for p in busy),
        ]
    return "\n".join(lines) + "\n"


# -- main ------------------------------------------------------------------------------------
PHASES = [  # cold start first, on a quiet machine; training last, it takes longest
    ("cold_start", measure_cold_start),
    ("interaction", measure_interaction),
    ("memory", measure_memory),
    ("explain", measure_explain),
    ("replay", measure_replay),
    ("training", measure_training),
]


def main() -> int:
    global RUN_STARTED
    started = RUN_STARTED = time.perf_counter()
    RESULTS.mkdir(parents=True, exist_ok=True)
    parser = argparse.ArgumentParser(description="ConvLab's benchmark (see the module docstring).")
    parser.add_argument(
        "phases",
        nargs="*",
        metavar="PHASE",
        help=f"run only these phases (default: all): {', '.join(name for name, _ in PHASES)}",
    )
    parser.add_argument(
        "--app",
        default="app.py",
        help="the script streamlit serves instead of app.py: for experiments (a wrapper that changes it)",
    )
    args = parser.parse_args()
    only = set(args.phases)
    if only - {name for name, _ in PHASES}:
        parser.error(f"unknown phase(s) {sorted(only - {name for name, _ in PHASES})}")
    common.APP = args.app
    report = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join(["python bench/run.py", *sys.argv[1:]]),
        "app": args.app,
        "machine": common.machine(),
        "code": common.code_version(),
        "targets": TARGETS,
        "load": {"start": common.load_snapshot()},
        "measures": {},
    }
    try:
        for name, measure in PHASES:
            if only and name not in only:
                continue
            phase_started = time.perf_counter()
            log(f"== {name}")
            result = report["measures"][name] = {}  # filled as the phase goes: partial data survives an error
            try:
                measure(result)
            except Exception as error:  # the other phases still run
                result["error"] = "".join(traceback.format_exception(error))
                log(f"{name} FAILED: {type(error).__name__}: {error}")
            report["measures"][name]["phase_seconds"] = round(time.perf_counter() - phase_started, 1)
            report["measures"][name]["loadavg_after"] = common.load_snapshot(busy=False)["loadavg"]
            common.write_json(RESULTS / "benchmark.json", report)  # partial results survive a crash
    finally:
        common.stop_all_children()
    report["load"]["end"] = common.load_snapshot()
    report["total_seconds"] = time.perf_counter() - started
    report["rows"] = table_rows(report["measures"])
    text = markdown(report)
    common.save_report("benchmark", report, text)
    print()
    print(text)
    print(
        f"Wrote {RESULTS / 'benchmark.json'} and {RESULTS / 'benchmark.md'} "
        f"(copies in {RESULTS / 'history'}); total runtime "
        f"{report['total_seconds']:.0f} s ({report['total_seconds'] / 60:.1f} min)."
    )
    return 0 if all(row["met"] is not None for row in report["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
