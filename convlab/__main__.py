"""Command line: ``python -m convlab train [dense|conv|all]`` and ``python -m convlab info``.

The shipped models in ``models/`` are made with ``train all``.
"""

from __future__ import annotations

import argparse
import sys
import time

from .data import DataError, load_split
from .models import PRESETS
from .store import ModelStore, default_root, file_stem


def _load_data():
    return load_split("train"), load_split("test")


def _progress_line(name: str, started: float):
    from .training import EpochProgress

    def report(done: int, total: int, logs: dict) -> None:
        print(
            f"  {name} epoch {done}/{total}: loss {logs['loss']:.4f} acc {logs['accuracy']:.4f} "
            f"test loss {logs['val_loss']:.4f} test acc {logs['val_accuracy']:.4f} "
            f"({time.perf_counter() - started:.0f} s)",
            flush=True,
        )

    return EpochProgress(report)


def train_command(names: list[str], store: ModelStore) -> int:
    for name in names:
        spec = PRESETS[name]
        print(f"{name}: {spec.describe()} -> {store.root / file_stem(spec)}.keras", flush=True)
        stored = store.get_or_train(spec, _load_data, callbacks=[_progress_line(name, time.perf_counter())])
        metrics = stored.meta["metrics"]
        print(
            f"{name}: train acc {metrics['train_accuracy']:.4f}, test acc {metrics['test_accuracy']:.4f}, "
            f"{stored.meta['seconds']:.0f} s, {'saved' if stored.saved else 'NOT saved'}",
            flush=True,
        )
        if stored.spec.key() in store.problems:
            print(f"  note: {store.problems[stored.spec.key()]}", file=sys.stderr)
    return 0


def info_command(store: ModelStore) -> int:
    rows = store.list_metadata()
    if not rows:
        print(f"No models in {store.root}. Make the lesson's with: python -m convlab train all")
        return 0
    print(f"{'file':28} {'model':34} {'params':>8} {'train acc':>9} {'test acc':>8} {'seconds':>8}  created")
    for meta in rows:
        metrics = meta.get("metrics", {})
        print(
            f"{meta['file']:28} {meta.get('description', '?'):34} {meta.get('params', 0):>8,} "
            f"{metrics.get('train_accuracy', float('nan')):>9.4f} {metrics.get('test_accuracy', float('nan')):>8.4f} "
            f"{meta.get('seconds', 0):>8.0f}  {meta.get('created', '?')}"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m convlab", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models-dir", default=str(default_root()), help="the model cache (default: $CONVLAB_MODELS_DIR or models/)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    train_parser = commands.add_parser("train", help="train a preset (or all) and save it in the cache")
    train_parser.add_argument("preset", choices=[*PRESETS, "all"], nargs="?", default="all")
    commands.add_parser("info", help="list cached models with their metrics")
    args = parser.parse_args(argv)
    store = ModelStore(args.models_dir)
    try:
        if args.command == "train":
            return train_command(list(PRESETS) if args.preset == "all" else [args.preset], store)
        return info_command(store)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
