"""The Draw view in AppTest: a link's (or a class's) drawing is the picture the pad starts from."""

from __future__ import annotations

import json

from apptest_support import page_at
from convlab.urlstate import drawing_text


def _pad_args(at) -> dict:
    [pad] = [c for c in at.get("component_instance") if c.proto.component_name.endswith(".drawpad")]
    return json.loads(pad.proto.json_args)


def test_a_link_with_a_drawing_starts_the_pad_from_it(monkeypatch, test_split):
    monkeypatch.delenv("CONVLAB_MODELS_DIR", raising=False)
    pixels = [int(round(p * 255)) for p in test_split.images[23].reshape(-1)]
    at = page_at({"tab": "draw", "drawing": drawing_text(pixels)}, clear_resources=False)
    args = _pad_args(at)
    assert args["start"]["pixels"] == pixels
    assert [entry["label"] for entry in args["models"]] == ["conv (lesson)", "dense (lesson)"]
    assert [tuple(layer) for layer in args["layers"]] == [
        ("conv1", 26, 64),
        ("pool1", 13, 64),
        ("conv2", 11, 64),
        ("pool2", 5, 64),
    ]
    assert at.query_params["drawing"] == drawing_text(pixels)  # the view's link carries it on
