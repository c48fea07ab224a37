"""The benchmark hook writes one JSON line per timed block, and nothing without $CONVLAB_TIMINGS."""

from __future__ import annotations

import json
import time

from convlab.timing import timed


def test_timed_appends_a_line_per_run(tmp_path, monkeypatch):
    log = tmp_path / "timings.jsonl"
    monkeypatch.setenv("CONVLAB_TIMINGS", str(log))
    with timed("journey"):
        time.sleep(0.02)
    with timed("script"):
        pass
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["name"] for r in records] == ["journey", "script"]
    assert 0.02 <= records[0]["seconds"] < 1.0 and records[1]["seconds"] < records[0]["seconds"]


def test_timed_does_nothing_without_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("CONVLAB_TIMINGS", raising=False)
    monkeypatch.chdir(tmp_path)
    with timed("journey"):
        pass
    assert list(tmp_path.iterdir()) == []
