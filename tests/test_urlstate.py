"""URL state: valid links restore a view; malformed, huge, negative or path-like values never pass."""

from __future__ import annotations

import pytest

from convlab import urlstate

CONV, DENSE = "be710513fe7d", "d8953741195c"
LIMITS = urlstate.Limits(
    run_keys=(CONV, DENSE),
    num_images=10_000,
    tabs=("journey", "filters", "lab"),
    filters_for=lambda key: 64 if key == CONV else 0,
    layers_for=lambda key: ["conv1", "pool1", "conv2", "pool2"] if key == CONV else [],
    sides_for=lambda key: {"conv1": 26, "pool1": 13, "conv2": 11, "pool2": 5} if key == CONV else {},
    snapshots_for=lambda key: 14 if key == CONV else 0,
)


def parse(**params):
    """The view a link's parameters give, by the page's state names (``Link.given``), and the notes."""
    link, notes = urlstate.parse(params, LIMITS, default_model=CONV)
    return link.given(), notes


def encode(values: dict) -> dict[str, str]:
    """The link of a page's state given by its names (``Link.of``)."""
    return urlstate.encode(urlstate.Link.of(values))


def test_a_valid_link_round_trips():
    state = {
        "model": CONV,
        "image_0": 5,
        "image_1": 17,
        "image_2": 9999,
        "filter": 63,
        "layer": "conv2",
        "scale": "layer",
        "tab": "filters",
    }
    parsed, notes = urlstate.parse(encode(state), LIMITS, default_model=CONV)
    assert parsed.given() == state and notes == []
    # typed: the fields a view reads, as the page's widgets hold them
    assert parsed.images == (5, 17, 9999) and parsed.filter == 63 and parsed.class_code is None
    assert urlstate.Link.of(state) == parsed


@pytest.mark.parametrize(
    "params, expected, note",
    [
        ({"images": "-5,10000,99999999999999999999"}, {"image_0": 0, "image_1": 9999}, "out of range"),
        ({"images": "1,abc,2.5"}, {"image_0": 1}, "not a whole number"),
        ({"images": "1,2,3,4"}, {"image_0": 1, "image_1": 2, "image_2": 3}, "Only 3 images"),
        ({"filter": "64"}, {"filter": 63}, "out of range 0–63"),
        ({"filter": "-1"}, {"filter": 0}, "out of range"),
        ({"filter": "1e9"}, {}, "not a whole number"),
        ({"model": "../../etc/passwd"}, {}, "no stored run"),
        ({"model": "/root/models/conv-be710513fe7d.keras"}, {}, "no stored run"),
        ({"model": "aaaaaaaaaaaa"}, {}, "no stored run"),
        ({"layer": "../conv1"}, {}, "this model's layers are conv1"),
        ({"tab": "<script>"}, {}, "the tabs are journey"),
        ({"scale": "log"}, {}, "the colour scales are panel, layer, figure"),
        ({"colour": "red"}, {}, "unknown URL parameter"),
    ],
)
def test_bad_values_are_clamped_or_ignored_with_a_note(params, expected, note):
    state, notes = parse(**params)
    assert state == expected
    assert any(note in n for n in notes), notes


def test_notes_never_echo_a_huge_value_or_markdown():
    state, notes = parse(model="`" + "x" * 10_000, images="**bold**")
    assert state == {}
    assert all(len(n) < 300 for n in notes)
    assert not any("`x" in n for n in notes)  # the backtick is neutralised


def test_a_dense_model_link_drops_filter_and_layer_quietly():
    state, notes = parse(model=DENSE, filter="3", layer="conv1")
    assert state == {"model": DENSE} and notes == []


def test_an_explained_cell_round_trips_and_bad_cells_get_a_note():
    cell = {"slot": 2, "layer": "conv2", "row": 4, "col": 10}
    assert parse(**encode({"cell": cell})) == ({"cell": cell}, [])
    assert parse(cell="3,conv2,4,10") == ({"cell": cell}, [])  # the image counted from 1, as on the page
    state, notes = parse(cell="1,pool2,9,-1")
    assert state == {"cell": {"slot": 0, "layer": "pool2", "row": 4, "col": 0}} and "5×5" in notes[0]
    for value, note in [
        ("4,conv1,0,0", "image must be 1–3"),
        ("1,dense,0,0", "layers are conv1"),
        ("1,conv1,x,0", "expected image,layer,row,column"),
        ("1,conv1", "expected"),
    ]:
        state, notes = parse(cell=value)
        assert state == {} and note in notes[0], (value, notes)
    state, notes = parse(model=DENSE, cell="1,conv1,0,0")  # a dense model has no maps
    assert state == {"model": DENSE} and "layers are none" in notes[0]


def test_the_replay_snapshot_and_the_probe_transform_round_trip():
    state = {"snapshot": 13, "shift_x": -6, "shift_y": 4, "rotate": -22.5, "zoom": 1.25}
    encoded = encode(state)
    assert encoded == {"snapshot": "13", "shift": "-6,4", "rotate": "-22.5", "zoom": "1.25"}
    assert parse(**encoded) == (state, [])
    # The unmoved picture adds nothing to a link.
    assert encode({"shift_x": 0, "shift_y": 0, "rotate": 0.0, "zoom": 1.0}) == {}


@pytest.mark.parametrize(
    "params, expected, note",
    [
        ({"snapshot": "14"}, {"snapshot": 13}, "outside 0 to 13"),
        ({"snapshot": "-3"}, {"snapshot": 0}, "outside 0 to 13"),
        ({"snapshot": "last"}, {}, "not a whole number"),
        ({"model": DENSE, "snapshot": "2"}, {"model": DENSE}, "no recorded snapshots"),
        ({"shift": "9,-9"}, {"shift_x": 6, "shift_y": -6}, "outside -6 to 6"),
        ({"shift": "1.5,0"}, {"shift_y": 0}, "not a whole number"),
        ({"shift": "3"}, {}, "expected x,y"),
        ({"rotate": "90"}, {"rotate": 45.0}, "outside -45 to 45"),
        ({"rotate": "nan"}, {}, "not a number"),
        ({"rotate": "1e999"}, {}, "not a number"),
        ({"zoom": "0"}, {"zoom": 0.7}, "outside 0.7 to 1.3"),
        ({"zoom": "x" * 500}, {}, "not a number"),
    ],
)
def test_bad_snapshots_and_transforms_are_clamped_or_ignored_with_a_note(params, expected, note):
    state, notes = parse(**params)
    assert state == expected
    assert any(note in n for n in notes), notes
    assert all(len(n) < 300 for n in notes)


def test_presenter_mode_round_trips_and_a_bad_flag_gets_a_note():
    assert parse(present="1") == ({"present": True}, [])
    assert encode({"present": True}) == {"present": "1"} and encode({"present": False}) == {}
    assert parse(present="off") == ({"present": False}, [])
    state, notes = parse(present="maybe")
    assert state == {} and "present=1" in notes[0]


def test_the_maps_colour_map_round_trips_and_a_bad_one_gets_a_note():
    for palette in ("viridis", "cividis"):
        assert encode({"palette": palette}) == {"palette": palette}
        assert parse(**encode({"palette": palette})) == ({"palette": palette}, [])
    assert encode({"palette": "inferno"}) == {}  # the lesson's colour map adds nothing to a link
    assert parse(palette="inferno") == ({"palette": "inferno"}, [])
    assert parse(palette=" Viridis ") == ({"palette": "viridis"}, [])  # as a person might type it
    for value in ("rainbow", "../inferno", "`jet`" * 50):
        state, notes = parse(palette=value)
        assert state == {} and len(notes) == 1 and len(notes[0]) < 300
        assert "Ignored palette=" in notes[0] and "inferno, viridis, cividis; using inferno" in notes[0], notes


def test_a_drawing_round_trips_and_anything_else_gets_a_note():
    pixels = [(7 * i) % 256 for i in range(784)]
    text = urlstate.drawing_text(pixels)
    assert len(text) == urlstate.DRAWING_LENGTH and urlstate.drawing_pixels(text) == pixels
    from convlab.classroom import MAX_DRAWING_TEXT

    assert MAX_DRAWING_TEXT == urlstate.DRAWING_LENGTH  # a class carries a drawing as a link does
    assert parse(**encode({"drawing": text})) == ({"drawing": text}, [])
    for value in (text[:-1], text + "A", "x" * urlstate.DRAWING_LENGTH + "!", text[:-2] + "=="):
        state, notes = parse(drawing=value)
        assert state == {} and "isn't a 28×28 drawing" in notes[0] and len(notes[0]) < 300
    with pytest.raises(ValueError, match="784 whole numbers"):
        urlstate.drawing_text([0] * 783)
    with pytest.raises(ValueError):
        urlstate.drawing_text([256] + [0] * 783)


def test_a_drawn_slot_round_trips_with_its_drawing_and_nothing_else_passes():
    text = urlstate.drawing_text([(3 * i) % 256 for i in range(784)])
    state = {"drawing": text, "drawn_slot": 2, "image_0": 0, "image_1": 23, "image_2": 28}
    params = encode(state)
    assert params["drawn_slot"] == "3"  # 1-based, as the page numbers its images
    assert parse(**params) == (state, [])
    assert "drawn_slot" not in encode({"drawing": text})
    for value in ("0", "4", "-1", "two", "1.5", ""):
        state, notes = parse(drawing=text, drawn_slot=value)
        assert state == {"drawing": text} and len(notes) == 1, (value, notes)
        assert "Ignored drawn_slot=" in notes[0] and "must be 1–3" in notes[0]
    state, notes = parse(drawn_slot="2")  # a slot with nothing to show in it
    assert state == {} and "it belongs with a drawing" in notes[0]
    state, notes = parse(drawn_slot="2", drawing="not a drawing")
    assert state == {} and len(notes) == 2
