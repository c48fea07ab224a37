"""The command line: the same specs as the lab, refusals, and a SIGKILL mid-training."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import TINY_CONV, TINY_DENSE, model_files
from convlab.__main__ import main
from convlab.models import PRESETS, ModelSpec
from convlab.store import ModelStore, file_stem

REPO = Path(__file__).resolve().parent.parent


def parse(*argv):

    from convlab import __main__ as cli

    captured = {}

    def fake_train(specs, store):
        captured["specs"] = specs
        return 0

    original = cli.train_command
    cli.train_command = fake_train
    try:
        assert main(["--models-dir", "/nonexistent-test-dir", "train", *argv]) == 0
    finally:
        cli.train_command = original
    return captured["specs"]


def test_specs_from_the_command_line():
    assert parse() == list(PRESETS.values())
    assert parse("conv") == [PRESETS["conv"]]
    assert parse("--blocks", "1", "--filters", "32", "--epochs", "3", "--stop-loss", "0.4") == [
        ModelSpec(conv_filters=(32,), epochs=3, stop_loss=0.4)
    ]
    assert parse("--blocks", "3", "--filters", "16,32,64") == [ModelSpec(conv_filters=(16, 32, 64))]
    assert parse("--blocks", "0") == [ModelSpec(conv_filters=())]
    assert parse("conv", "--epochs", "20") == [ModelSpec(epochs=20)]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--blocks", "4", "--filters", "8"], "at most 3 conv blocks"),
        (["--blocks", "1", "--filters", "0"], "filters per conv layer"),
        (["conv", "--epochs", "21"], "epochs must be 1..20"),
        (["--blocks", "2", "--filters", "8,8,8"], "one per block"),
        (["all", "--epochs", "3"], "apply to one model"),
    ],
)
def test_invalid_specs_are_refused_before_any_work(argv, message, tmp_path, capsys):
    assert main(["--models-dir", str(tmp_path), "train", *argv]) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_info_lists_the_shipped_models(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "conv (lesson)" in out and "243,786" in out and "dense (lesson)" in out and "101,770" in out


def test_info_lists_the_good_runs_and_notes_a_broken_one(tmp_path, small_data, capsys):
    ModelStore(tmp_path).get_or_train(TINY_DENSE, lambda: small_data)
    (tmp_path / f"{file_stem(TINY_CONV)}.json").write_text('{"format": 1, "spec": {"epochs": 0}}')
    (tmp_path / f"{file_stem(TINY_CONV)}.keras").write_bytes(b"a model")
    assert main(["--models-dir", str(tmp_path), "info"]) == 0
    out, err = capsys.readouterr()
    assert TINY_DENSE.key() in out and TINY_DENSE.describe()[:44] in out and TINY_CONV.key() not in out
    [note] = err.splitlines()
    assert note.startswith(f"note: The lab run's metadata {file_stem(TINY_CONV)}.json was unreadable (ValueError: ")
    assert "moved to corrupt/" in note


def test_sigkill_mid_training_leaves_no_model_file(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "convlab",
            "--models-dir",
            str(tmp_path),
            "train",
            "--blocks",
            "1",
            "--filters",
            "16",
            "--epochs",
            "20",
            "--train-samples",
            "3000",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # wait until training is really under way
            line = process.stdout.readline()
            if "epoch 1/20" in line:
                break
        else:
            pytest.fail("training never reported its first epoch")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert model_files(tmp_path) == []


def test_a_sweep_trains_every_variant_and_prints_one_comparison(tmp_path, capsys):
    from convlab.sweeps import load_sweeps

    argv = [
        "--models-dir",
        str(tmp_path),
        "sweep",
        "--blocks",
        "0,1",
        "--filters",
        "4",
        "--epochs",
        "1",
        "--train-samples",
        "512",
        "--dense-units",
        "16",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    store = ModelStore(tmp_path)
    [record] = load_sweeps(tmp_path)
    specs = record.sweep.specs()
    assert [spec.conv_filters for spec in specs] == [(), (4,)]  # the dense baseline and one conv block
    metas = [store.load(spec).meta for spec in specs]  # both trained and stored
    best = max(metas, key=lambda meta: meta["metrics"]["test_accuracy"])
    [best_line] = [line for line in out.splitlines() if line.endswith("<- best")]
    assert ModelSpec.from_dict(best["spec"]).label()[:56] in best_line
    assert f"{best['metrics']['test_accuracy']:.4f}" in best_line and f"{best['params']:,}" in best_line
    # Asked again, nothing trains: every variant comes from the store.
    created = [meta["created"] for meta in metas]
    assert main(argv) == 0
    assert [store.load(spec).meta["created"] for spec in specs] == created


def test_a_bad_sweep_is_refused_with_the_reason(tmp_path, capsys):
    assert main(["--models-dir", str(tmp_path), "sweep", "--blocks", "1,4"]) == 2
    assert "at most 3 conv blocks" in capsys.readouterr().err
    assert main(["--models-dir", str(tmp_path), "sweep", "--filters", "16,many"]) == 2
    assert "whole numbers" in capsys.readouterr().err
