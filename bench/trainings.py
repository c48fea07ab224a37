"""Trainings off the server, measured: each figure next to its reference, in the same run.

Run from the repository root (about 8 minutes on 2 cores)::

    python bench/trainings.py              # every phase
    python bench/trainings.py ray          # only some: repaint, ray, cold_start

It writes ``bench/results/trainings.json`` (machine, date, raw samples, summaries, targets) and
``bench/results/trainings.md`` (the table it prints at the end). The phases:

1. ``repaint``: filter key press → journey repainted, in Chromium (the in-page timers of
   ``bench/run.py``), 40 presses with the app idle, then 40 while a preset-sized lab training
   (the lesson's conv model with another seed) runs, started and then stopped from a second
   page's lab. Twice: the app as it is (trainings in its worker process) and, as the reference,
   the app training in a thread of the server as it did before (``bench/app_training_in_thread.py``).
   Target: during / idle p95 ≤ 1.3 for the app as it is.
2. ``ray``: a local Ray cluster (``ray start --head``, 4 logical CPUs). Ray's own cost per
   training: tiny trainings one after another, submit → model in the app's store, minus the
   task's own time on its node (the first on a fresh Ray worker, the rest on a reused one); and
   two longer trainings submitted together, showing that they run at the same time, against
   the same two one after the other. Target: ≤ 2 s per training.
3. ``cold_start``: ``streamlit run`` → the journey drawn in Chromium, the app as it is against the
   commit before trainings moved off the server (a git worktree), alternated, 3 each. Target:
   no slower (Ray is not imported unless configured).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import run  # noqa: E402  (the interaction phase's helpers)
from common import REPO, RESULTS, summary  # noqa: E402

REPAINT_PRESSES = 40
RAY_TINY_TRAININGS = 5
COLD_STARTS = 3
BEFORE_COMMIT = "af7510a"  # the last commit that trained in the server's thread
TARGETS = {"repaint_ratio": 1.3, "ray_overhead_s": 2.0, "cold_start_ratio": 1.0}
LAB_SEED = 43  # the lesson's conv model with another seed: preset-sized, and never in models/


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- 1. repaint during a training ------------------------------------------------------------
def _models_copy() -> Path:
    """The shipped models in a temp folder: a lab training must never land in the repo's models/."""
    folder = Path(tempfile.mkdtemp(prefix="convlab-bench-models-"))
    for path in (REPO / "models").glob("*-*.*"):
        if path.is_file():
            shutil.copy(path, folder / path.name)
    return folder


def _presses(page, server, presses: int, seed: int) -> dict:
    samples: list[dict] = []
    low, high = common.slider(page, "filter_box").evaluate("e => [Number(e.min), Number(e.max)]")
    run._drive_slider(
        page,
        "filter_box",
        presses,
        low,
        high,
        max(1, round((high - low) / 10)),
        avoid_repeats=False,
        seed=seed,
        samples=samples,
    )
    records = server.timings()
    totals = [common.sample_ms(s, common.match_server_run(s, records))["total"] for s in samples]
    return {"browser_ms": summary([t for t in totals if t is not None]), "samples_ms": totals}


def _start_lab_training(browser, server) -> object:
    """A second page that starts the lesson's conv model (seed 43) in the lab; returns once it trains."""
    page = common.new_page(browser, timeout_ms=120_000)
    page.goto(server.url + "/?tab=lab")
    seed = page.locator(".st-key-lab_seed input")
    seed.wait_for()
    seed.fill(str(LAB_SEED))
    seed.press("Enter")
    common.wait_idle(page)
    page.locator(".st-key-lab_train button").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('p')].some(p => /Batch [1-9]/.test(p.innerText))",
        timeout=180_000,
        polling=200,
    )  # the worker has loaded TensorFlow and is past batch 1
    return page


def _stop_lab_training(page) -> None:
    page.locator("button:visible", has_text="Stop training").first.click()
    page.get_by_text("trained in").first.wait_for(timeout=300_000)
    page.context.close()


MODES = (("worker process (the app)", "app.py"), ("server thread (before)", "bench/app_training_in_thread.py"))
ONLY_MODES: set[str] = set()  # --modes worker: skip the reference (for experiments)


def measure_repaint(result: dict) -> None:
    for mode, app in MODES:
        if ONLY_MODES and mode.split()[0] not in ONLY_MODES:
            continue
        models = _models_copy()
        entry = result.setdefault("modes", {})[mode] = {"app": app}
        try:
            with run.journey_page(f"trainings-repaint-{Path(app).stem}", app=app, models_dir=models) as (server, page):
                log(f"repaint, {mode}: {REPAINT_PRESSES} filter presses, idle")
                entry["idle"] = _presses(page, server, REPAINT_PRESSES, seed=1)
                trainer = _start_lab_training(page.context.browser, server)
                log(f"repaint, {mode}: {REPAINT_PRESSES} filter presses during a lab training")
                entry["training"] = _presses(page, server, REPAINT_PRESSES, seed=2)
                # The training must have lasted through every press: else the figure is partly idle.
                entry["still_training_after"] = trainer.locator("button:visible", has_text="Stop training").count() > 0
                _stop_lab_training(trainer)
                entry["ratio_p95"] = entry["training"]["browser_ms"]["p95"] / entry["idle"]["browser_ms"]["p95"]
                entry["ratio_p50"] = entry["training"]["browser_ms"]["p50"] / entry["idle"]["browser_ms"]["p50"]
                log(
                    f"  p95 idle {entry['idle']['browser_ms']['p95']:.0f} ms, during training "
                    f"{entry['training']['browser_ms']['p95']:.0f} ms: {entry['ratio_p95']:.2f}×"
                )
        finally:
            shutil.rmtree(models, ignore_errors=True)


# -- 2. Ray ------------------------------------------------------------------------------------
def _tiny(seed: int, **changes):
    from convlab.models import ModelSpec

    values = {"conv_filters": (4,), "dense_units": 16, "epochs": 1, "train_samples": 512, "seed": seed, **changes}
    return ModelSpec(**values)


def _timed_training(queue, executor, spec) -> dict:
    from convlab.jobs import DONE

    job = queue.submit(spec)
    assert queue.wait(job, timeout=300) and job.state == DONE, job.message
    t = executor.timings[spec.key()]
    return {
        "end_to_end_s": t["landed"] - t["submitted"],
        "on_node_s": t["seconds_on_node"],
        "overhead_s": t["landed"] - t["submitted"] - t["seconds_on_node"],
        "to_first_event_s": t["on_node"] - t["submitted"],
        "landing_s": t["landed"] - t["result_received"],
    }


def measure_ray(result: dict) -> None:
    import ray

    from convlab.cluster import RayCluster
    from convlab.jobs import DONE, TrainingQueue
    from convlab.store import ModelStore
    from convlab_testing.ray_cluster import local_ray_cluster

    models = Path(tempfile.mkdtemp(prefix="convlab-bench-ray-"))
    try:
        # A. No worker readied at connect: the first training waits for Ray to start one.
        with local_ray_cluster(cpus=4) as address:
            executor = RayCluster(address, warm_workers=0)
            queue = TrainingQueue(ModelStore(models / "a"), executor)
            executor.connect()
            result["fresh_worker"] = _timed_training(queue, executor, _tiny(99))
            log(
                "ray: a training on a worker Ray starts for it: "
                f"Ray's cost {result['fresh_worker']['overhead_s']:.2f} s, "
                f"{result['fresh_worker']['on_node_s']:.2f} s on its node (TensorFlow imported there)"
            )
            ray.shutdown()

        # B. As the app does it: workers readied at connect, then tiny trainings one after another.
        started = time.perf_counter()
        with local_ray_cluster(cpus=4) as address:
            result["cluster_start_s"] = time.perf_counter() - started
            executor = RayCluster(address)
            queue = TrainingQueue(ModelStore(models / "b"), executor)
            connect_started = time.perf_counter()
            executor.connect()
            result["connect_s"] = time.perf_counter() - connect_started
            ray.get(executor.warming)
            result["warm_up_s"] = time.perf_counter() - connect_started - result["connect_s"]
            result["cluster"] = executor.describe()
            log(
                f"ray: cluster up in {result['cluster_start_s']:.1f} s, connected in {result['connect_s']:.1f} s, "
                f"{len(executor.warming)} workers readied in {result['warm_up_s']:.1f} s more"
            )
            runs = result["tiny"] = []
            for number in range(RAY_TINY_TRAININGS):
                runs.append(_timed_training(queue, executor, _tiny(100 + number)))
                log(
                    f"  tiny training {number + 1}: end to end {runs[-1]['end_to_end_s']:.2f} s, on its node "
                    f"{runs[-1]['on_node_s']:.2f} s, Ray's cost {runs[-1]['overhead_s']:.2f} s"
                )
            result["overhead_median_s"] = statistics.median(r["overhead_s"] for r in runs)
            result["overhead_max_s"] = max(r["overhead_s"] for r in runs)

            # Two at once, and two others like them one after the other.
            def pair(seed: int):
                return [_tiny(seed + n, conv_filters=(16,), epochs=2, train_samples=20_000) for n in range(2)]

            together_started = time.perf_counter()
            jobs = [queue.submit(spec) for spec in pair(200)]
            for job in jobs:
                assert queue.wait(job, timeout=600) and job.state == DONE, job.message
            together = time.perf_counter() - together_started
            spans = [
                (executor.timings[job.key]["on_node"], executor.timings[job.key]["result_received"]) for job in jobs
            ]
            overlap = max(0.0, min(end for _, end in spans) - max(start for start, _ in spans))
            one_by_one_started = time.perf_counter()
            for spec in pair(300):
                _timed_training(queue, executor, spec)
            one_by_one = time.perf_counter() - one_by_one_started
            result["pair"] = {
                "spans_s": [(round(a - together_started, 2), round(b - together_started, 2)) for a, b in spans],
                "overlap_s": overlap,
                "longest_s": max(b - a for a, b in spans),
                "together_wall_s": together,
                "one_after_the_other_wall_s": one_by_one,
            }
            log(
                f"  two at once: {together:.1f} s wall, running together for {overlap:.1f} s; "
                f"one after the other: {one_by_one:.1f} s"
            )
            ray.shutdown()
    finally:
        shutil.rmtree(models, ignore_errors=True)


# -- 3. cold start, before and after -----------------------------------------------------------
@contextlib.contextmanager
def _worktree(commit: str):
    folder = Path(tempfile.mkdtemp(prefix="convlab-before-"))
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(folder), commit], cwd=REPO, check=True, capture_output=True
    )
    try:
        yield folder
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(folder)], cwd=REPO, capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def measure_cold_start(result: dict) -> None:
    from playwright.sync_api import sync_playwright

    with _worktree(BEFORE_COMMIT) as before, sync_playwright() as playwright:
        # The worktree's app.py: streamlit puts its folder first on sys.path, so its own convlab and ui load.
        apps = {"now": "app.py", "before": str(before / "app.py")}
        runs = result["runs"] = {name: [] for name in apps}
        browser = common.launch_chromium(playwright)
        try:
            for number in range(COLD_STARTS):
                for name, app in apps.items():
                    common.APP = app
                    runs[name].append(run._cold_start_once(browser, number)["seconds"])
                    log(f"cold start {number + 1}, {name}: {runs[name][-1]:.2f} s")
        finally:
            common.APP = "app.py"
            browser.close()
    result["median_s"] = {name: statistics.median(values) for name, values in runs.items()}
    result["ratio"] = result["median_s"]["now"] / result["median_s"]["before"]


# -- the report ----------------------------------------------------------------------------------
PHASES = [("repaint", measure_repaint), ("ray", measure_ray), ("cold_start", measure_cold_start)]


def _machine_text(machine: dict) -> str:
    versions = machine.get("versions", {})
    return (
        f"{machine.get('nproc')} cores ({machine.get('cpu_model')}), {machine.get('memory_total_gb')} GB; "
        + ", ".join(f"{name} {version}" for name, version in versions.items() if name != "matplotlib")
        + f"; {machine.get('chromium', '')}"
    )


def _row(measure: str, convlab: str, reference: str, target: str, met) -> str:
    """A row of the report's table; ``met`` a verdict (True / False) or the words to show."""
    verdict = met if isinstance(met, str) else ("yes" if met else "NO")
    return f"| {measure} | {convlab} | {reference} | {target} | {verdict} |"


def markdown(report: dict) -> str:
    m = report["measures"]
    lines = [
        f"# Trainings off the server: {report['date']}",
        "",
        f"Machine: {_machine_text(report['machine'])}. Code: {report['code']['commit']}"
        + (" with uncommitted changes" if report["code"].get("uncommitted") else "")
        + ".",
        "",
        "| measure | ConvLab | reference | target | met |",
        "|---|---|---|---|---|",
    ]
    modes = m.get("repaint", {}).get("modes", {})
    now, before = modes.get("worker process (the app)", {}), modes.get("server thread (before)", {})
    if "ratio_p95" in now:
        idle_before, training_before = before.get("idle", {}), before.get("training", {})
        lines.append(
            _row(
                "filter key press → repaint p95 during a lab training / idle",
                f"idle {now['idle']['browser_ms']['p95']:.0f} ms, training {now['training']['browser_ms']['p95']:.0f} "
                f"ms: **{now['ratio_p95']:.2f}×**",
                f"training in the server's thread: idle {idle_before['browser_ms']['p95']:.0f} ms, training "
                f"{training_before['browser_ms']['p95']:.0f} ms, {before['ratio_p95']:.2f}×"
                if "ratio_p95" in before
                else "–",
                f"≤ {TARGETS['repaint_ratio']}×",
                now["ratio_p95"] <= TARGETS["repaint_ratio"],
            )
        )
    ray_result = m.get("ray", {})
    if "overhead_median_s" in ray_result:
        worst = ray_result["overhead_max_s"]
        lines.append(
            _row(
                "Ray's own cost per tiny training (submit → in the app's store, minus the task's own time), "
                f"{RAY_TINY_TRAININGS} in a row",
                f"median {ray_result['overhead_median_s']:.2f} s, worst {worst:.2f} s",
                "–",
                f"≤ {TARGETS['ray_overhead_s']:.0f} s",
                worst <= TARGETS["ray_overhead_s"],
            )
        )
    if "fresh_worker" in ray_result:
        fresh = ray_result["fresh_worker"]
        lines.append(
            _row(
                "the same, on a Ray worker started for it (none readied at connect)",
                f"{fresh['overhead_s']:.2f} s (+ {fresh['on_node_s']:.1f} s on the node, TensorFlow's import included)",
                "–",
                f"(readied at connect in {ray_result.get('warm_up_s', float('nan')):.1f} s)",
                "–",
            )
        )
    if "pair" in ray_result:
        pair = ray_result["pair"]
        lines.append(
            _row(
                "two trainings submitted together",
                f"ran at the same time for {pair['overlap_s']:.1f} s of {pair['longest_s']:.1f} s; "
                f"{pair['together_wall_s']:.1f} s wall",
                f"one after the other: {pair['one_after_the_other_wall_s']:.1f} s",
                "run together",
                pair["overlap_s"] > 0.5 * pair["longest_s"],
            )
        )
    cold = m.get("cold_start", {})
    if "ratio" in cold:
        now, before = cold["runs"]["now"], cold["runs"]["before"]
        within_noise = min(now) <= max(before)  # the fastest start now is no slower than the slowest before
        lines.append(
            _row(
                f"cold start, Ray not configured (median of {COLD_STARTS}, alternated)",
                f"{cold['median_s']['now']:.2f} s ({min(now):.2f}–{max(now):.2f})",
                f"{cold['median_s']['before']:.2f} s ({min(before):.2f}–{max(before):.2f}) at {BEFORE_COMMIT}",
                "as fast: the ranges overlap",
                f"{'yes' if within_noise else 'NO'} ({cold['ratio']:.2f}×)",
            )
        )
    for name, result in m.items():
        if "error" in result:
            lines.append(f"\n**{name} failed:** `{result['error'].strip().splitlines()[-1]}`")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("phases", nargs="*", metavar="PHASE", help="run only these: repaint, ray, cold_start")
    parser.add_argument("--modes", default="", help="repaint only these modes: worker, server (for experiments)")
    args = parser.parse_args()
    ONLY_MODES.update(filter(None, args.modes.split(",")))
    unknown = set(args.phases) - {name for name, _ in PHASES}
    if unknown:
        parser.error(f"unknown phase(s) {sorted(unknown)}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": common.machine(),
        "code": common.code_version(),
        "targets": TARGETS,
        "measures": {},
    }
    started = time.perf_counter()
    try:
        for name, measure in PHASES:
            if args.phases and name not in args.phases:
                continue
            log(f"== {name}")
            result = report["measures"][name] = {}
            phase_started = time.perf_counter()
            try:
                measure(result)
            except Exception as error:  # the other phases still run
                result["error"] = "".join(traceback.format_exception(error))
                log(f"{name} FAILED: {type(error).__name__}: {error}")
            result["phase_seconds"] = round(time.perf_counter() - phase_started, 1)
            common.write_json(RESULTS / "trainings.json", report)
    finally:
        common.stop_all_children()
    report["total_seconds"] = time.perf_counter() - started
    text = markdown(report)
    common.save_report("trainings", report, text)
    print()
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
