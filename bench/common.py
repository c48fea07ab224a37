"""Shared by ``bench/run.py`` and ``bench/load.py``: the app server, Chromium, in-page timers, stats.

Nothing here imports the app or TensorFlow; the app always runs in its own ``streamlit run``
process, as people use it. The server, the Chromium (Debian's, else Playwright's own download)
and the child processes come from ``convlab_testing.live_app``, which the browser tests use too;
this module adds the benchmark's side: where logs and timings go, the in-page timers, stats.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo root, for convlab_testing

# Re-exported for run.py and load.py, which reach everything through this module.
from convlab_testing.live_app import (  # noqa: E402, F401
    CHILDREN,
    COUNT_RUNS_JS,
    ERRORS_JS,
    IDLE_JS,
    JOURNEY_PLOT,
    REPO,
    VIEWPORT,
    StreamlitServer,
    child_env,
    click_view,
    find_chromium,
    journey_ready_js,
    launch_chromium,
    plot_js,
    popen,
    stop_all_children,
    stop_process,
)

RESULTS = REPO / "bench" / "results"
# The journey's chart is the app's plotly_react component (components/plotly_react): an element
# in the main page (st.components.v2, no iframe) holding one plotly div that every rerun updates
# with Plotly.react. JOURNEY_DIV is that div's selector inside the element.
JOURNEY_ELEMENT = ".st-key-journey_chart"
JOURNEY_DIV = ".cl-chart.js-plotly-plot"
JOURNEY_SLIDER = f"{JOURNEY_ELEMENT} .cl-filter"  # the chart's own filter slider
APP = "app.py"  # the script ``streamlit run`` serves; ``bench/run.py --app`` changes it for experiments


def _on_signal(signum, frame):  # SIGTERM (a kill): stop the children, then exit
    stop_all_children()
    sys.exit(128 + signum)


signal.signal(signal.SIGTERM, _on_signal)


def run_child(script: str, args: list[str], *, log_path: Path, timeout: float) -> dict:
    """Run ``bench/<script>`` with ``python``; it writes its result as JSON to a file we read back."""
    out = log_path.with_suffix(".json")
    out.unlink(missing_ok=True)
    process = popen([sys.executable, str(REPO / "bench" / script), str(out), *args], log_path=log_path, env=child_env())
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired as error:
        raise RuntimeError(f"{script} took more than {timeout:.0f} s; log: {log_path}") from error
    finally:
        stop_process(process)
    if code != 0 or not out.exists():
        tail = log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{script} exited with code {code}; log tail:\n{tail}")
    return json.loads(out.read_text())


def wall_time(command: list[str]) -> float:
    """Seconds from start to exit of a child (its output discarded)."""
    started = time.perf_counter()
    subprocess.run(
        command,
        cwd=REPO,
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
        timeout=120,
    )
    return time.perf_counter() - started


# -- the app server and Chromium -------------------------------------------------------------
class AppServer(StreamlitServer):
    """The benchmark's server: its log in ``results/logs/<name>.log`` and, unless ``timings`` is
    False, the app's timing hook writing to ``results/logs/<name>-timings.jsonl``."""

    def __init__(self, name: str, *, timings: bool = True, app: str | None = None) -> None:
        logs = RESULTS / "logs"
        super().__init__(
            logs / f"{name}.log", app=app or APP, timings_path=logs / f"{name}-timings.jsonl" if timings else None
        )
        self.name = name


def new_page(browser, *, timeout_ms: int = 30_000):
    """A page in a fresh browser context (a separate Streamlit session) with the in-page timers installed."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(timeout_ms)
    context.add_init_script(PAGE_TIMERS_JS)
    return context.new_page()


# The journey's row titles as drawn ("Image 2 · test #123 · ..."), from the plot's layout.
ROW_TITLES_JS = (
    f"() => {{ const d = {plot_js(JOURNEY_PLOT)}; return d && d.layout ? "
    f"(d.layout.annotations || []).map(a => a.text).filter(t => t.startsWith('Image ')) : []; }}"
)


def journey_scope(page):
    """Where the journey's plot is: the component's element, or the iframe in it (a reference commit's)."""
    framed = f"{JOURNEY_ELEMENT} iframe"
    return page.frame_locator(framed) if page.locator(framed).count() else page.locator(JOURNEY_ELEMENT)


def journey_locator(page):
    """The journey's plotly div (in the component's element, or its frame's) as a Playwright locator."""
    return journey_scope(page).locator(".js-plotly-plot")


# Installed before any page script runs, in the page and in each of its frames. For every key
# pressed on a slider or a number box (an <input type=range> or type=number) it records, in the
# main page's performance.now() milliseconds:
#   keydown   the key press
#   send      the first websocket message the page sends after it (the widget's new value)
#   firstMsg  the first message back from the server; bigMsg the largest one (the chart)
#   dataSeen  the animation frame that first sees the journey plot with different z values
#   drawn     plotly_afterplot of the journey plot with different z values (the heatmaps drawn)
# The journey plot is a div in the plotly_react component's element, in the main page, which
# registers its own plotly_afterplot listener on it, so every time is taken on the main page's
# clock. The component updates that div in place with Plotly.react, but the element (and so the
# div) may be created late or replaced, so the listener is attached to whichever div is there: a
# MutationObserver on the page (the div created, or becoming a plotly plot, before its first
# plotly_afterplot), and a requestAnimationFrame poll re-attaches too and is the fallback when an
# afterplot was missed. A drawn figure is identified by a hash of every trace's z plus the row
# titles, so only a real change of what is shown completes a sample.
PAGE_TIMERS_JS = r"""
(() => {
  const ELEMENT = __ELEMENT__, PLOT = __PLOT__;
  if (window.top !== window) return;  // a frame (the drawing pad's, ...): the journey isn't in one
  if (window.__bench) return;
  const B = window.__bench = {seq: 0, pending: null, samples: [], drawnSig: null, seenSig: null, wsSent: 0,
                              wsReceived: 0, bigMessages: [], firstElementEpochMs: null, firstChartEpochMs: null,
                              firstDrawnEpochMs: null, firstAnyDrawnEpochMs: null, journeyPlotlyJs: null};
  const now = () => performance.now();
  const epochMs = () => performance.timeOrigin + performance.now();
  const Native = window.WebSocket;
  const nativeSend = Native.prototype.send;
  Native.prototype.send = function (data) {
    B.wsSent++;
    if (B.firstSendEpochMs === undefined) B.firstSendEpochMs = performance.timeOrigin + now();  // the session connects
    const p = B.pending;
    if (p && p.send === null) p.send = now();
    return nativeSend.call(this, data);
  };
  window.WebSocket = new Proxy(Native, {construct(target, args) {
    const ws = new target(...args);
    ws.addEventListener('message', e => {
      B.wsReceived++;
      const t = now(), size = e.data.byteLength ?? e.data.size ?? e.data.length ?? 0;
      if (size >= 10000 && B.bigMessages.length < 50) B.bigMessages.push([performance.timeOrigin + t, size]);
      const p = B.pending;
      if (!p || p.send === null) return;
      if (p.firstMsg === null) p.firstMsg = t;
      if (size > p.bigBytes) { p.bigBytes = size; p.bigMsg = t; }
    });
    return ws;
  }});
  document.addEventListener('keydown', e => {
    const t = e.target;
    if (!(t instanceof HTMLInputElement) || (t.type !== 'range' && t.type !== 'number')) return;
    const box = t.closest('[class*="st-key-"]');
    const widget = box ? [...box.classList].find(c => c.startsWith('st-key-')).slice(7) : null;
    B.pending = {seq: ++B.seq, key: e.key, widget, before: Number(t.value), epoch0: performance.timeOrigin,
                 keydown: now(), send: null,
                 firstMsg: null, bigMsg: null, bigBytes: 0, dataSeen: null, drawn: null, how: null};
  }, true);
  const signature = d => {
    let h = 0;
    for (const trace of d.data || []) {
      for (const row of trace.z || []) for (const v of row) h = (h * 31 + Math.round(v * 1e6)) % 2147483647;
      h = (h * 31 + 7) % 2147483647;
    }
    const titles = ((d.layout || {}).annotations || []).map(a => a.text).join('|');
    return h + ':' + titles;
  };
  const complete = (how, t) => {
    const p = B.pending;
    if (!p) return;
    p.drawn = t; p.how = how;
    if (p.dataSeen === null) p.dataSeen = t;
    B.samples.push(p);
    B.pending = null;
  };
  const onAfterplot = d => () => {
    if (!d.data || d.data.length === 0) return;
    if (B.firstAnyDrawnEpochMs === null) B.firstAnyDrawnEpochMs = epochMs();  // on a first run, the inputs-only grid
    if (B.firstDrawnEpochMs === null && d.data.length === 15) B.firstDrawnEpochMs = epochMs();  // the first page load
    const s = signature(d);
    if (s === B.drawnSig) return;
    B.drawnSig = s;
    complete('afterplot', now());
  };
  const element = () => document.querySelector(ELEMENT);
  const journeyDiv = () => {
    const e = element();
    if (!e) return null;
    const f = e.querySelector('iframe');  // a reference commit's chart, before it moved into the page
    try { return f ? (f.contentDocument ? f.contentDocument.querySelector('.js-plotly-plot') : null)
                   : e.querySelector(PLOT); } catch (error) { return null; }
  };
  // plotly.js as the page fetched it for the charts (resource timing, converted to epoch ms)
  const notePlotlyJs = () => {
    const e = performance.getEntriesByType('resource').find(e => /plotly-cartesian[\w.-]*\.js$/.test(e.name));
    if (e) B.journeyPlotlyJs = {name: e.name, requestedEpochMs: performance.timeOrigin + e.startTime,
                                loadedEpochMs: performance.timeOrigin + e.responseEnd,
                                transferBytes: e.transferSize, bodyBytes: e.encodedBodySize,
                                decodedBytes: e.decodedBodySize};
  };
  const attach = B.attach = () => {
    const f = element();
    if (!f) return;
    if (B.firstElementEpochMs === null) B.firstElementEpochMs = epochMs();  // the component's element is in the page
    if (B.journeyPlotlyJs === null) notePlotlyJs();
    const d = journeyDiv();
    if (!d) return;
    if (B.firstChartEpochMs === null) B.firstChartEpochMs = epochMs();  // the journey's div becomes a plotly plot
    if (!d.__benchAttached && typeof d.on === 'function') {
      d.__benchAttached = true; d.on('plotly_afterplot', onAfterplot(d));
    }
  };
  // childList: Plotly fills the div (js-plotly-plot, its svg) before its first plotly_afterplot
  new MutationObserver(attach).observe(document, {subtree: true, childList: true});
  let lastData = null, quietFrames = 0;
  const tick = () => {
    attach();
    const d = journeyDiv();
    if (d && d.data && d.data !== lastData && d._fullLayout) {
      lastData = d.data; quietFrames = 0;
      const s = signature(d);
      if (s !== B.seenSig) { B.seenSig = s; if (B.pending && B.pending.dataSeen === null) B.pending.dataSeen = now(); }
    }
    // Fallback: new data on screen for 3 frames and no afterplot seen (the listener came too late).
    if (B.pending && B.pending.dataSeen !== null && B.seenSig !== B.drawnSig && ++quietFrames >= 3) {
      B.drawnSig = B.seenSig; complete('frame', B.pending.dataSeen);
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})();
""".replace("__ELEMENT__", json.dumps(JOURNEY_ELEMENT)).replace("__PLOT__", json.dumps(JOURNEY_DIV))


def slider(page, key: str):
    """The <input> of widget ``key``: a slider's range input, or a number box (the journey's images)."""
    return page.locator(f".st-key-{key} input[type=range], .st-key-{key} input[type=number]").first


def slider_value(page, key: str) -> int:
    return int(slider(page, key).evaluate("e => Number(e.value)"))


def is_number_box(page, key: str) -> bool:
    return slider(page, key).evaluate("e => e.type === 'number'")


def drawn_row_titles(page) -> list[str]:
    """The journey's row titles as drawn ("Image 2 · test #123 · ..."), from the plot's layout."""
    return page.evaluate(ROW_TITLES_JS)


def press_and_time(page, key: str, press: str, *, timeout_ms: int = 15_000) -> dict:
    """Press ``press`` on slider (or number box) ``key`` and wait until the journey plot shows a changed figure.

    Returns the in-page sample (milliseconds since keydown for each step) plus the slider's value
    before and after. Raises TimeoutError when nothing was redrawn within ``timeout_ms``.
    """
    thumb = slider(page, key)
    if not thumb.evaluate("e => document.activeElement === e"):
        thumb.focus()
    seq = page.evaluate("() => window.__bench.seq")
    page.keyboard.press(press)
    try:
        page.wait_for_function(
            "seq => window.__bench.samples.some(s => s.seq === seq)", arg=seq + 1, timeout=timeout_ms, polling=10
        )
    except Exception as error:  # Playwright's TimeoutError
        raise TimeoutError(f"{press} on {key}: no redraw within {timeout_ms / 1000:.0f} s") from error
    sample = page.evaluate("seq => window.__bench.samples.find(s => s.seq === seq)", seq + 1)
    sample["after"] = int(thumb.evaluate("e => Number(e.value)"))
    return sample


def wait_idle(page, timeout_ms: int = 30_000) -> None:
    page.wait_for_function(IDLE_JS, timeout=timeout_ms, polling=20)


def match_server_run(sample: dict, records: list[dict], name: str = "journey") -> dict | None:
    """The app's timing record (``$CONVLAB_TIMINGS``) of the run this press caused: the one that
    ended between the keydown and the redraw (page and server share the machine's clock)."""
    keydown = (sample["epoch0"] + sample["keydown"]) / 1000
    drawn = (sample["epoch0"] + sample["drawn"]) / 1000
    runs = [r for r in records if r["name"] == name and keydown <= r["end"] <= drawn]
    return runs[0] if len(runs) == 1 else None


def sample_ms(sample: dict, run: dict | None = None) -> dict:
    """One press's timeline as durations in ms: the total and its parts.

    Browser-only parts: keydown -> the widget value sent -> the chart's message handled by the
    page -> plotly_afterplot. With the server's record of the fragment run, the middle part
    splits into: waiting for the run to start, the run itself, and getting its chart drawn on
    the page's main thread (transport, plus any time the main thread was busy).
    """

    def span(start, end):
        a, b = sample.get(start), sample.get(end)
        return None if a is None or b is None else round(b - a, 2)

    parts = {
        "total": span("keydown", "drawn"),
        "keydown_to_send": span("keydown", "send"),
        "send_to_first_message": span("send", "firstMsg"),
        "send_to_chart_message": span("send", "bigMsg"),
        "chart_message_to_drawn": span("bigMsg", "drawn"),
        "keydown_to_run_start": None,
        "server_run": None,
        "run_end_to_chart_message": None,
        "how": sample.get("how"),
    }
    if run is not None:
        epoch = lambda t: sample["epoch0"] + t  # noqa: E731 - page ms -> epoch ms
        start_ms, end_ms = (run["end"] - run["seconds"]) * 1000, run["end"] * 1000
        parts["keydown_to_run_start"] = round(start_ms - epoch(sample["keydown"]), 2)
        parts["server_run"] = round(run["seconds"] * 1000, 2)
        if sample.get("bigMsg") is not None:
            parts["run_end_to_chart_message"] = round(epoch(sample["bigMsg"]) - end_ms, 2)
    return parts


BROWSER_PARTS = (
    "total",
    "keydown_to_send",
    "send_to_first_message",
    "send_to_chart_message",
    "chart_message_to_drawn",
    "keydown_to_run_start",
    "server_run",
    "run_end_to_chart_message",
)


# -- stats and machine -----------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (NumPy's default), without NumPy."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "mean": statistics.fmean(values),
        "min": min(values),
        "max": max(values),
    }


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    mem_kb = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal:"))
    versions = {"python": sys.version.split()[0]}
    from importlib.metadata import PackageNotFoundError, version

    for package in ("tensorflow", "keras", "streamlit", "plotly", "numpy", "matplotlib", "playwright"):
        with contextlib.suppress(PackageNotFoundError):
            versions[package] = version(package)
    browser = find_chromium()
    chromium = (
        subprocess.run([browser, "--version"], capture_output=True, text=True).stdout.strip() if browser else None
    )
    nproc = int(subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip() or 0)
    return {
        "nproc": nproc,
        "cpu_model": cpu,
        "memory_total_gb": round(mem_kb / 2**20, 1),
        "versions": versions,
        "chromium": chromium,
    }


def code_version() -> dict:
    """The commit measured, and any uncommitted changes to the app's code at the time."""

    def git(*args: str) -> str:
        # only trailing whitespace: a porcelain line starts with a space (" M app.py")
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.rstrip()

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted": git(
            "status", "--porcelain", "--", "app.py", "convlab", "components", ".streamlit", "models"
        ).splitlines(),
    }


def _cpu_ticks() -> dict[int, tuple[int, str]]:
    ticks = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            ticks[int(stat.parent.name)] = (int(fields[11]) + int(fields[12]), command)
        except (OSError, ValueError, IndexError):
            continue
    return ticks


def report_header(script: str) -> dict:
    """What a report starts with: when, the command as typed (``script`` under bench/), the machine, the code,
    and the load when it started."""
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": f"python bench/{script} " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "code": code_version(),
        "load_at_start": load_snapshot(),
    }


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, summed over cores (/proc/stat)."""
    with open("/proc/stat") as stat:
        ticks = [int(v) for v in stat.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - idle) / hz, sum(ticks) / hz


def descendants_cpu(root: int) -> dict[int, tuple[str, float]]:
    """{pid: (command name, CPU seconds so far)} for every live descendant process of ``root``."""
    children: dict[int, list[int]] = {}
    info = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, rest = stat.read_text().rsplit(")", 1)
            fields = rest.split()
            pid = int(stat.parent.name)
            children.setdefault(int(fields[1]), []).append(pid)
            info[pid] = (head.split("(", 1)[1], (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
        except (OSError, ValueError, IndexError):
            continue
    found, todo = {}, list(children.get(root, []))
    while todo:
        pid = todo.pop()
        if pid in info:
            found[pid] = info[pid]
        todo += children.get(pid, [])
    return found


def load_snapshot(busy: bool = True) -> dict:
    """The load average and, with ``busy``, other processes using over 10% of a core (sampled for 1 s).

    The machine may be shared: this says whether someone else was competing for its cores.
    """
    snapshot = {"loadavg": list(os.getloadavg())}
    if busy:
        before, hz = _cpu_ticks(), os.sysconf("SC_CLK_TCK")
        time.sleep(1.0)
        after = _cpu_ticks()
        ours = {os.getpid()} | {p.pid for p in CHILDREN}
        snapshot["busy_processes"] = sorted(
            (
                {"pid": pid, "command": command[:160], "cpu_percent": round(100 * (ticks - before[pid][0]) / hz, 1)}
                for pid, (ticks, command) in after.items()
                if pid in before and pid not in ours and (ticks - before[pid][0]) / hz > 0.10
            ),
            key=lambda p: -p["cpu_percent"],
        )
    return snapshot


def save_report(name: str, report: dict, text: str) -> None:
    """Write ``results/<name>.json`` (the report) and ``results/<name>.md`` (its table), and keep
    dated copies of both in ``results/history/``."""
    write_json(RESULTS / f"{name}.json", report)
    (RESULTS / f"{name}.md").write_text(text)
    stamp = report["date"][:19].replace(":", "").replace("-", "")
    for suffix in (".json", ".md"):
        keep_copy(RESULTS / f"{name}{suffix}", stamp)


def keep_copy(path: Path, stamp: str) -> None:
    """Also keep ``results/history/<name>-<stamp>.<ext>``: the next run (maybe someone else's) overwrites ``path``."""
    history = path.parent / "history"
    history.mkdir(parents=True, exist_ok=True)
    (history / f"{path.stem}-{stamp}{path.suffix}").write_bytes(path.read_bytes())


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    tmp.replace(path)
