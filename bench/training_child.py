"""Training overhead: ConvLab's training path against a bare ``model.fit``, one epoch each.

Run by ``bench/run.py`` in its own process: ``python bench/training_child.py OUT.json [ROUNDS [BUDGET_S]]``.
Both sides train the conv preset for one epoch on the 60,000 training images (batch 32, seed 42)
and evaluate the 10,000 test images once, silently:

- ConvLab: ``convlab.training.train`` with the training queue's progress callback
  (``convlab.jobformat.progress_events``, each event applied to a job as the queue does)
  and a stop event, exactly what the app's queue runs (it validates on the test split at the
  end of the epoch, and records the replay's snapshots);
- ConvLab without snapshots: the same with ``record_snapshots=False``, the snapshots' reference;
- bare: the lesson's ``model.fit`` then ``model.evaluate`` on the same model architecture.

They alternate (ConvLab, without snapshots, bare, ConvLab, ...) so drift in machine load hits all alike.
After the first two rounds, a round is only started if it should end within ``BUDGET_S``
seconds of the start (so the whole benchmark stays under its time limit on a busy machine).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def process_cpu() -> float:
    """User + system CPU seconds of this process (all its threads): less sensitive than wall
    time to other processes competing for the cores."""
    times = os.times()
    return times.user + times.system


def core_idle() -> list[float]:
    """Idle seconds of each core since boot (/proc/stat cpuN lines)."""
    with open("/proc/stat") as stat:
        rows = [line.split() for line in stat if line.startswith("cpu") and line[3].isdigit()]
    return [(int(row[4]) + int(row[5])) / os.sysconf("SC_CLK_TCK") for row in rows]


def machine_busy() -> float:
    """Busy CPU seconds of the whole machine since boot (/proc/stat), to see who else was using the cores."""
    with open("/proc/stat") as stat:
        ticks = [int(v) for v in stat.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    out, rounds = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 2
    budget = float(sys.argv[3]) if len(sys.argv) > 3 else float("inf")
    began = time.perf_counter()
    import keras

    import convlab.data
    import convlab.jobformat
    import convlab.models
    import convlab.training

    spec = dataclasses.replace(convlab.models.PRESETS["conv"], epochs=1)
    train_split, test_split = convlab.data.load_split("train"), convlab.data.load_split("test")

    def convlab_path(record_snapshots: bool = True) -> dict:
        job = convlab.jobformat.Job(spec=spec)
        progress = convlab.jobformat.progress_events(lambda event: convlab.jobformat.apply_event(job, event))
        result = convlab.training.train(
            spec,
            train_split,
            test_split,
            callbacks=[progress],
            stop_event=threading.Event(),
            record_snapshots=record_snapshots,
        )
        return {
            "test_accuracy": result.metrics["test_accuracy"],
            "batches": job.batches_per_epoch,
            "snapshots": len(result.snapshots) if result.snapshots else 0,
            "snapshot_seconds": result.snapshot_seconds,
            "train_seconds": result.seconds,
        }

    def bare_fit() -> dict:
        keras.utils.set_random_seed(42)
        model = convlab.models.build(spec)
        model.fit(train_split.images, train_split.labels, epochs=1, batch_size=32, verbose=0)
        _, accuracy = model.evaluate(test_split.images, test_split.labels, verbose=0)
        return {"test_accuracy": float(accuracy)}

    runs = []
    for round_number in range(rounds):
        used = time.perf_counter() - began
        if round_number >= 2 and used + used / round_number > budget:
            print(f"round {round_number + 1} skipped: it would end after the {budget:.0f} s budget", flush=True)
            break
        for name, work in (
            ("convlab", convlab_path),
            ("no_snapshots", lambda: convlab_path(False)),
            ("bare", bare_fit),
        ):
            started, cpu_started, machine_started, idle_started = (
                time.perf_counter(),
                process_cpu(),
                machine_busy(),
                core_idle(),
            )
            details = work()
            seconds, cpu = time.perf_counter() - started, process_cpu() - cpu_started
            others = max(machine_busy() - machine_started - cpu, 0.0)  # tick rounding can make it a hair below 0
            idle = [
                round((after - before) / seconds, 2) for before, after in zip(idle_started, core_idle(), strict=True)
            ]
            runs.append(
                {
                    "round": round_number,
                    "name": name,
                    "seconds": seconds,
                    "cpu_seconds": cpu,
                    "others_cpu_seconds": others,
                    "core_idle_fraction": idle,
                    **details,
                }
            )
            print(
                f"{name}: {seconds:.1f} s wall, {cpu:.1f} s CPU, other processes {others:.1f} s CPU, "
                f"cores idle {idle} {details}",
                flush=True,
            )
    out.write_text(
        json.dumps(
            {"spec": spec.to_dict(), "train_images": len(train_split), "test_images": len(test_split), "runs": runs}
        )
    )


if __name__ == "__main__":
    main()
