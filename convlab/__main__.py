"""Command line: train presets or variants, list and delete cached models.

python -m convlab train all                      # the lesson's two models (how models/ was made)
python -m convlab train conv --epochs 20         # a preset with other settings
python -m convlab train --blocks 1 --filters 32 --epochs 3 --stop-loss 0.4
python -m convlab sweep conv --filters 16,32,64 --blocks 1,2,3   # a grid, compared in one table
python -m convlab info
python -m convlab delete KEY
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

from .data import DataError, train_and_test
from .models import PRESETS, ModelSpec
from .store import ModelStore, ModelUnavailable, default_root, file_stem

VARIANT_OPTIONS = (
    "blocks",
    "filters",
    "dense_units",
    "epochs",
    "batch_size",
    "seed",
    "train_samples",
    "stop_loss",
    "stop_accuracy",
)


def _progress_line(label: str, started: float):
    from .training import EpochProgress

    def report(done: int, total: int, logs: dict) -> None:
        print(
            f"  {label} epoch {done}/{total}: loss {logs['loss']:.4f} acc {logs['accuracy']:.4f} "
            f"test loss {logs['val_loss']:.4f} test acc {logs['val_accuracy']:.4f} "
            f"({time.perf_counter() - started:.0f} s)",
            flush=True,
        )

    return EpochProgress(report)


def spec_from_args(args: argparse.Namespace) -> list[ModelSpec]:
    """The specs a ``train`` call asks for; raises ValueError (with the spec's own words) if invalid."""
    changes = {name: getattr(args, name) for name in VARIANT_OPTIONS if getattr(args, name) is not None}
    if not changes:
        return list(PRESETS.values()) if args.preset in (None, "all") else [PRESETS[args.preset]]
    if args.preset == "all":
        raise ValueError("options like --epochs apply to one model: name dense or conv, or none")
    base = PRESETS[args.preset] if args.preset else ModelSpec()
    filters = [int(n) for n in str(changes.pop("filters", "")).split(",") if n.strip()] or list(
        base.conv_filters[:1] or [64]
    )
    blocks = changes.pop("blocks", None)
    if blocks is not None:
        if len(filters) not in (1, blocks):
            raise ValueError(f"--filters gives {len(filters)} counts for {blocks} blocks: give one, or one per block")
        changes["conv_filters"] = tuple(filters * blocks if len(filters) == 1 else filters)
    elif args.filters is not None:
        changes["conv_filters"] = tuple(filters if len(filters) > 1 else filters * max(len(base.conv_filters), 1))
    return [dataclasses.replace(base, **changes)]


def train_command(specs: list[ModelSpec], store: ModelStore) -> int:
    for spec in specs:
        label = spec.label()
        print(f"{label} -> {store.root / file_stem(spec)}.keras", flush=True)
        stored = store.get_or_train(spec, train_and_test, callbacks=[_progress_line(label, time.perf_counter())])
        metrics = stored.meta["metrics"]
        print(
            f"{label}: train acc {metrics['train_accuracy']:.4f}, test acc {metrics['test_accuracy']:.4f}, "
            f"{stored.meta['epochs_run']} epochs, {stored.meta['seconds']:.0f} s, "
            f"{'saved' if stored.saved else 'NOT saved'}"
            + (f" ({stored.meta['stop_reason']})" if stored.meta.get("stop_reason") else ""),
            flush=True,
        )
        if spec.key() in store.problems:
            print(f"  note: {store.problems[spec.key()]}", file=sys.stderr)
    return 0


SWEEP_AXES = ("blocks", "filters", "epochs", "dense_units", "batch_size", "train_samples", "seed")


def sweep_from_args(args: argparse.Namespace):
    """The sweep a ``sweep`` call asks for: each option given as a comma list is an axis."""
    from .sweeps import Sweep

    axes = {}
    for name in SWEEP_AXES:
        text = getattr(args, name)
        if text is not None:
            try:
                axes[name] = [int(value) for value in text.split(",") if value.strip()]
            except ValueError:
                raise ValueError(
                    f"--{name.replace('_', '-')} takes whole numbers separated by commas, not {text!r}"
                ) from None
    base = PRESETS[args.preset] if args.preset else PRESETS["conv"]
    return Sweep.of(base, axes, name=args.name or "")


def sweep_command(sweep, store: ModelStore) -> int:
    """Train every variant (one after another here, in parallel on Ray), then print one comparison."""
    from .jobs import DONE, InProcess, TrainingQueue, executor_for_environment
    from .sweeps import best, comparison, save_sweep

    specs = sweep.specs()
    executor = executor_for_environment(store) if os.environ.get("CONVLAB_RAY_ADDRESS") else InProcess(train_and_test)
    queue = TrainingQueue(store, executor)
    save_sweep(store.root, sweep)
    print(f"sweep {sweep.key()}: {sweep.describe()}, trained {queue.describe()}", flush=True)
    jobs = [queue.submit(spec) for spec in specs]
    reported, notice = set(), None
    while len(reported) < len(jobs):
        for job in jobs:
            if job.key not in reported and queue.wait(job, timeout=0.5):
                reported.add(job.key)
                outcome = (
                    f"test acc {job.stored.meta['metrics']['test_accuracy']:.4f}, {job.stored.meta['seconds']:.0f} s"
                    if job.state == DONE
                    else f"{job.state}: {job.message}"
                )
                print(f"  [{len(reported)}/{len(jobs)}] {job.spec.label()}: {outcome}", flush=True)
        if queue.notice != notice:  # the Ray cluster couldn't be reached: said once
            notice = queue.notice
            print(f"note: {notice}", file=sys.stderr)
    rows = comparison(
        sweep, {job.key: job.stored.meta for job in jobs if job.state == DONE}, {job.key: job.state for job in jobs}
    )
    winner = best(rows)
    print(f"\n  {'variant':56} {'params':>9} {'test acc':>8} {'seconds':>7}")
    for row in rows:
        accuracy = f"{row['test accuracy']:.4f}" if row["test accuracy"] is not None else row["state"]
        seconds = f"{row['training time (s)']:.0f}" if row["training time (s)"] is not None else ""
        mark = "  <- best" if row["key"] == winner else ""
        print(f"  {row['variant'][:56]:56} {row['params']:>9,} {accuracy:>8} {seconds:>7}{mark}")
    return 0 if all(job.state == DONE for job in jobs) else 1


def info_command(store: ModelStore) -> int:
    rows = store.list_metadata()
    if not rows:
        print(f"No models in {store.root}. Make the lesson's with: python -m convlab train all")
    else:
        _print_table(rows)
    _print_notes(store)  # runs left out of the table because their files were unusable
    return 0


def _print_notes(store: ModelStore) -> None:
    sys.stdout.flush()  # the table first, then the notes, when both go to one terminal
    for message in store.problems.values():
        print(f"note: {message}", file=sys.stderr)


def _print_table(rows: list[dict]) -> None:
    print(
        f"{'key':12}  {'model':44} {'params':>8} {'epochs':>6} {'train acc':>9} {'test acc':>8} {'seconds':>7}  created"
    )
    for meta in rows:
        metrics = meta["metrics"]
        label = ModelSpec.from_dict(meta["spec"]).label()
        print(
            f"{meta['key']:12}  {label[:44]:44} {meta['params']:>8,} {meta['epochs_run']:>6} "
            f"{metrics['train_accuracy']:>9.4f} {metrics['test_accuracy']:>8.4f} "
            f"{meta['seconds']:>7.0f}  {meta['created']}"
        )


def delete_command(key: str, store: ModelStore) -> int:
    for meta in store.list_metadata():
        if meta["key"] == key:
            store.delete(ModelSpec.from_dict(meta["spec"]))
            print(f"deleted {meta['file']} and its metadata")
            _print_notes(store)
            return 0
    _print_notes(store)
    print(f"error: no model with key {key!r}; see: python -m convlab info", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m convlab", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--models-dir", default=str(default_root()), help="the model cache (default: $CONVLAB_MODELS_DIR or models/)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    train_parser = commands.add_parser("train", help="train a preset, all presets, or a variant, and cache it")
    train_parser.add_argument("preset", choices=[*PRESETS, "all"], nargs="?", help="start from this preset")
    train_parser.add_argument("--blocks", type=int, help="number of Conv2D+MaxPool blocks, 0-3 (0 = dense)")
    train_parser.add_argument("--filters", help="filters per conv layer: one count for all, or a list like 16,32")
    train_parser.add_argument("--dense-units", type=int)
    train_parser.add_argument("--epochs", type=int)
    train_parser.add_argument("--batch-size", type=int)
    train_parser.add_argument("--seed", type=int)
    train_parser.add_argument("--train-samples", type=int, help="train on the first N of the 60,000 images")
    train_parser.add_argument("--stop-loss", type=float, help="stop once training loss is below this")
    train_parser.add_argument("--stop-accuracy", type=float, help="stop once training accuracy is above this")
    sweep_parser = commands.add_parser(
        "sweep", help="train a grid of variants and compare them (on Ray when CONVLAB_RAY_ADDRESS is set)"
    )
    sweep_parser.add_argument("preset", choices=list(PRESETS), nargs="?", help="the base (default: conv)")
    sweep_parser.add_argument("--blocks", help="conv block counts to try, e.g. 1,2,3 (0 = the dense baseline)")
    sweep_parser.add_argument("--filters", help="filters per conv layer to try, e.g. 16,32,64")
    for name in SWEEP_AXES[2:]:
        sweep_parser.add_argument(
            f"--{name.replace('_', '-')}", dest=name, help=f"{name.replace('_', ' ')} values to try"
        )
    sweep_parser.add_argument("--name", help="a name to remember the sweep by")
    commands.add_parser("info", help="list cached models with their metrics")
    delete_parser = commands.add_parser("delete", help="delete a cached model by its key (see info)")
    delete_parser.add_argument("key")
    args = parser.parse_args(argv)
    store = ModelStore(args.models_dir)
    try:
        if args.command == "train":
            return train_command(spec_from_args(args), store)
        if args.command == "sweep":
            return sweep_command(sweep_from_args(args), store)
        if args.command == "delete":
            return delete_command(args.key, store)
        return info_command(store)
    except (DataError, ValueError, ModelUnavailable) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
