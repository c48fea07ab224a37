"""The drawing pad in Chromium (issue 23): pen move → journey and probabilities painted, with no server run.

Run from the repository root (about two minutes)::

    python bench/drawpad.py

For each of ``ROUNDS`` fresh servers (and pages): the Draw view opened from the journey, and the time
from the navigation's click to the first live drawing (the models loaded in the page: the pad answers
strokes); then ``DRAW_SECONDS`` of continuous drawing, a pen moving round and round (pointer events
dispatched in the page every ``MOVE_MS``, as a mouse reports them: Playwright's own mouse moves are a
round trip each, slower than a hand), the pad's own clock timing each update from the input event to
the next animation frame after its maps and bars were painted; the page's script runs counted
meanwhile (each change of Streamlit's script state). The reference, in the same run on the same
server: a change that costs a server run today, the journey's image box stepped with ↑ (key press →
the new maps drawn, ``common.press_and_time``). Then the shift probe's picture dragged to and fro by
hand, a whole pixel a move, for as long, timed the same way, its server runs counted too.

Writes ``bench/results/drawpad.json`` and ``drawpad.md`` (and dated copies in ``results/history/``).
"""

from __future__ import annotations

import datetime
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
ROUNDS = 3
DRAW_SECONDS = 6
MOVE_MS = 16  # a mouse reports about 60 moves a second
REFERENCE_PRESSES = 15
TARGETS = {"move_p95_ms": 50.0, "updates_per_s": 30.0, "first_live_s": 1.5, "server_runs": 0}
PAD = "iframe[title='Drawing pad and its journey']"
# A hand on the pad for ``ms``, a move every ``every`` ms: "pen" goes round and round, "drag" moves the
# probe's picture to and fro a whole pixel a move. Resolves once the hand lifted, with the page's script
# runs counted until just before it lifted (the lift itself tells the page).
HAND_JS = """([ms, every, kind]) => new Promise((resolve) => {
  const pad = document.getElementById('pad'), box = pad.getBoundingClientRect(), cell = box.width / 28;
  const pen = (k) => ({clientX: box.left + box.width * (0.5 + 0.33 * Math.cos(k * 0.05)),
                       clientY: box.top + box.height * (0.5 + 0.33 * Math.sin(k * 0.05))});
  const drag = (k) => ({clientX: box.left + box.width / 2 + cell * (Math.abs(((k + 6) % 24) - 12) - 6),
                        clientY: box.top + box.height / 2});
  const at = (k) => Object.assign({pointerId: 7, buttons: 1, bubbles: true}, kind === 'pen' ? pen(k) : drag(k));
  pad.dispatchEvent(new PointerEvent('pointerdown', at(0)));
  let moves = 0; const start = performance.now();
  const timer = setInterval(() => {
    if (performance.now() - start > ms) {
      clearInterval(timer);
      const runs = window.parent.__runs;
      pad.dispatchEvent(new PointerEvent('pointerup', at(moves)));
      resolve({moves, runs});
      return;
    }
    pad.dispatchEvent(new PointerEvent('pointermove', at(++moves)));
  }, every);
})"""
PROBE_PAD = "iframe[title='The pictures moved by hand, and their journey']"


def hand(page, frame, kind: str) -> dict:
    """``HAND_JS`` on ``frame``'s pad, the page idle first: the pad's update times, updates and the runs meanwhile."""
    common.wait_idle(page)
    page.evaluate(common.COUNT_RUNS_JS)
    frame.evaluate("() => { window.__pad.times.length = 0; window.__pad.updates = 0; }")
    done = frame.evaluate(HAND_JS, [DRAW_SECONDS * 1000, MOVE_MS, kind])
    return {
        **done,
        "times": frame.evaluate("() => window.__pad.times.slice()"),
        "updates": frame.evaluate("() => window.__pad.updates"),
    }


def one_round(browser, models: Path, number: int) -> dict:
    server = common.AppServer(f"drawpad-{number}", timings=False)
    server.models_dir = models
    with server:
        page = common.new_page(browser, timeout_ms=90_000)
        try:
            page.goto(server.url)
            page.wait_for_function(common.journey_ready_js(), timeout=90_000, polling=50)
            common.wait_idle(page, 90_000)
            reference = [common.press_and_time(page, "image_0", "ArrowUp") for _ in range(REFERENCE_PRESSES)]
            common.wait_idle(page)
            started = time.perf_counter()
            common.click_view(page, "Beyond", "Draw")
            page.locator(PAD).wait_for(state="visible")
            frame = page.locator(PAD).element_handle().content_frame()
            frame.wait_for_function("() => window.__pad && window.__pad.loadedMs > 0", polling=10)
            first_live = time.perf_counter() - started
            pen = hand(page, frame, "pen")
            backend = frame.locator("#status").inner_text()
            loaded_ms = frame.evaluate("() => window.__pad.loadedMs")
            common.wait_idle(page)
            common.click_view(page, "Beyond", "Shift probe")
            page.get_by_text("Move them by hand").click()
            page.locator(PROBE_PAD).wait_for(state="visible")
            probe = page.locator(PROBE_PAD).element_handle().content_frame()
            probe.wait_for_function("() => window.__pad && window.__pad.models === 2", polling=10)
            drag = hand(page, probe, "drag")
            return {
                "first_live_s": first_live,
                "move_ms": pen["times"],
                "updates_per_s": pen["updates"] / DRAW_SECONDS,
                "moves": pen["moves"],
                "runs_while_drawing": pen["runs"],
                "drag_ms": drag["times"],
                "runs_while_dragging": drag["runs"],
                "status": backend,
                "loaded_ms": loaded_ms,
                "reference_ms": [sample["drawn"] - sample["keydown"] for sample in reference],
            }
        finally:
            page.context.close()


def main() -> None:
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="convlab-drawpad-"))
    models = folder / "models"
    shutil.copytree(REPO / "models", models, ignore=shutil.ignore_patterns(".*", "corrupt"))
    began = time.time()
    load_before = common.load_snapshot()
    rounds = []
    try:
        with sync_playwright() as playwright:
            browser = common.launch_chromium(playwright)
            try:
                for number in range(ROUNDS):
                    rounds.append(one_round(browser, models, number))
                    print(f"round {number + 1}: {len(rounds[-1]['move_ms'])} updates", flush=True)
            finally:
                browser.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    moves = [ms for r in rounds for ms in r["move_ms"]]
    drags = [ms for r in rounds for ms in r["drag_ms"]]
    reference = [ms for r in rounds for ms in r["reference_ms"]]
    first = [r["first_live_s"] for r in rounds]
    rate = min(r["updates_per_s"] for r in rounds)
    runs = sum(r["runs_while_drawing"] for r in rounds)
    drag_runs = sum(r["runs_while_dragging"] for r in rounds)
    report = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "code": common.code_version(),
        "machine": common.machine(),
        "load": {"before": load_before, "after": common.load_snapshot()},
        "targets": TARGETS,
        "rounds": rounds,
        "seconds": time.time() - began,
    }
    move, ref, drag = common.summary(moves), common.summary(reference), common.summary(drags)
    rows = [
        (
            "pen move → journey and both models' probabilities painted",
            f"{move['p50']:.1f} / {move['p95']:.1f} ms (n={move['n']})",
            f"a server run (image box ↑ → new maps): {ref['p50']:.0f} / {ref['p95']:.0f} ms (n={ref['n']})",
            f"p95 ≤ {TARGETS['move_p95_ms']:.0f} ms",
            move["p95"] <= TARGETS["move_p95_ms"],
        ),
        (
            "updates a second while drawing continuously (the slowest round)",
            f"{rate:.0f}",
            "–",
            f"≥ {TARGETS['updates_per_s']:.0f}",
            rate >= TARGETS["updates_per_s"],
        ),
        ("server runs while drawing", str(runs), "every change", "0", runs == 0),
        (
            "shift probe: the picture dragged a pixel → its journey and both models' answers painted",
            f"{drag['p50']:.1f} / {drag['p95']:.1f} ms (n={drag['n']}); {drag_runs} server runs while dragging",
            "each slider step is a server run (as the image box above)",
            f"p95 ≤ {TARGETS['move_p95_ms']:.0f} ms, 0 runs",
            drag["p95"] <= TARGETS["move_p95_ms"] and drag_runs == 0,
        ),
        (
            "opening Draw → the first live drawing (models in the page)",
            f"{common.percentile(first, 50):.2f} / {max(first):.2f} s (n={len(first)})",
            "–",
            f"≤ {TARGETS['first_live_s']} s",
            max(first) <= TARGETS["first_live_s"],
        ),
    ]
    text = (
        f"# The drawing pad (issue 23), {report['date']}\n\n"
        f"Commit {report['code'].get('commit')}; {report['machine'].get('cpu_model')}, "
        f"{report['machine'].get('nproc')} cores; load average before {load_before.get('loadavg')}. "
        f"{ROUNDS} fresh servers; {DRAW_SECONDS} s of drawing each. The models: {rounds[0]['status']}\n\n"
        "| measure | ConvLab (p50 / p95) | reference, same run | target | met |\n|---|---|---|---|---|\n"
        + "".join(f"| {m} | {v} | {r} | {t} | {'yes' if ok else '**no**'} |\n" for m, v, r, t, ok in rows)
    )
    common.save_report("drawpad", report, text)
    print(text)


if __name__ == "__main__":
    main()
