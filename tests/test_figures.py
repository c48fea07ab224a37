"""Figure builders: colour-scale modes and tile grids, checked against the arrays they draw."""

from __future__ import annotations

import re

import numpy as np
import plotly.colors
import pytest

from convlab.figures.curves import confusion_figure
from convlab.figures.journey import JourneyStyle, journey_figure, journey_panel
from convlab.figures.scales import ACTIVATION_COLORSCALE, DIVERGING_COLORSCALE
from convlab.figures.tiles import KERNELS, MAPS, TileStyle, tile_values, tiles_figure


def grid(rows=3, sides=(26, 13, 11, 5)):
    rng = np.random.default_rng(1)
    maps = [[rng.random((s, s)) * (column + 1) for column, s in enumerate(sides)] for _ in range(rows)]
    layers = [(f"layer{c}", s, 8) for c, s in enumerate(sides)]
    return np.zeros((rows, 28, 28, 1)), maps, layers


def activation_traces(figure):
    return [t for t in figure["data"] if t["name"] != "input"]


def all_zero_labels(figure):
    return [a for a in figure["layout"]["annotations"] if a["text"] == "all zero"]


def test_per_panel_scale_is_zero_to_each_panels_max():
    images, maps, layers = grid()
    figure = journey_figure(images, maps, layers, ["a", "b", "c"], JourneyStyle(scale="panel"))
    traces = activation_traces(figure)
    assert [(t["zmin"], t["zmax"]) for t in traces] == [(0.0, m.max()) for row in maps for m in row]
    assert not any(t["showscale"] for t in figure["data"])
    assert all("zmin" not in t for t in figure["data"] if t["name"] == "input")  # the input keeps its own range


def test_per_layer_scale_is_zero_to_each_columns_max():
    images, maps, layers = grid()
    traces = activation_traces(journey_figure(images, maps, layers, ["a", "b", "c"], JourneyStyle(scale="layer")))
    for column in range(4):
        column_traces = traces[column::4]
        values = np.concatenate([maps[row][column].ravel() for row in range(3)])
        assert {(t["zmin"], t["zmax"]) for t in column_traces} == {(0.0, values.max())}
    assert sum(t["showscale"] for t in traces) == 4  # one colour bar per layer


def test_whole_figure_scale_is_zero_to_the_max_of_every_activation_panel():
    images, maps, layers = grid()
    traces = activation_traces(journey_figure(images, maps, layers, ["a", "b", "c"], JourneyStyle(scale="figure")))
    values = np.concatenate([m.ravel() for row in maps for m in row])
    assert {(t["zmin"], t["zmax"]) for t in traces} == {(0.0, values.max())}
    assert sum(t["showscale"] for t in traces) == 1


@pytest.mark.parametrize("scale", ["panel", "layer", "figure"])
def test_an_all_zero_map_is_black_and_labelled(scale):
    images, maps, layers = grid()
    maps[1][2] = np.zeros_like(maps[1][2])  # row 1, layer 2: panel 1 * 5 + 3 + 1 = 9
    figure = journey_figure(images, maps, layers, ["a", "b", "c"], JourneyStyle(scale=scale))
    [dead] = [t for t in figure["data"] if t["xaxis"] == "x9"]
    others = np.concatenate([maps[row][2].ravel() for row in (0, 2)])
    top = {"panel": 1.0, "layer": others.max(), "figure": max(m.max() for row in maps for m in row)}[scale]
    assert (dead["zmin"], dead["zmax"]) == (0.0, top)  # 0 is the bottom of inferno: black, not its middle
    assert "%{z" in dead["hovertemplate"]
    [label] = all_zero_labels(figure)  # on that panel only
    assert (label["xref"], label["yref"], label["x"], label["y"]) == ("x9 domain", "y9 domain", 0.5, 0.5)
    assert label["font"]["color"] == "rgb(255, 255, 255)"


@pytest.mark.parametrize("scale", ["panel", "layer", "figure"])
def test_a_grid_of_only_zeros_is_drawn_black_in_every_scale(scale):
    images, maps, layers = grid()
    maps = [[np.zeros_like(m) for m in row] for row in maps]
    figure = journey_figure(images, maps, layers, ["a", "b", "c"], JourneyStyle(scale=scale))
    assert {(t["zmin"], t["zmax"]) for t in activation_traces(figure)} == {(0.0, 1.0)}
    assert len(all_zero_labels(figure)) == 12
    assert sum(t["showscale"] for t in figure["data"]) == {"panel": 0, "layer": 4, "figure": 1}[scale]


def tile_cells(figure, number):
    """Tile ``number``'s cells in a tiles figure's mosaic: a boolean mask over its z."""
    where = np.array(figure["data"][0]["customdata"])
    return where[..., 0] == number


def shown_z(figure, number):
    """The z Plotly draws for tile ``number`` (scaled into its range when the tiles' ranges differ), row by row."""
    z = np.array(figure["data"][0]["z"], dtype=float)
    cells = tile_cells(figure, number)
    rows, columns = np.nonzero(cells)
    return z[rows.min() : rows.max() + 1, columns.min() : columns.max() + 1]


def test_activation_tiles_with_a_floor_start_at_it_and_label_all_zero_tiles():
    rng = np.random.default_rng(3)
    tiles = [rng.random((4, 4)) * (i + 1) for i in range(5)]
    tiles[3] = np.zeros((4, 4))
    figure = tiles_figure(tiles, list("abcde"), MAPS.sized(columns=3, tile_px=92))
    mosaic = figure["data"][0]
    assert (mosaic["zmin"], mosaic["zmax"]) == (0.0, 1.0)  # each tile scaled into its own range, (0, its max)
    for number, tile in enumerate(tiles):
        np.testing.assert_allclose(shown_z(figure, number), tile / (tile.max() or 1.0))
        np.testing.assert_array_equal(tile_values(figure, number), tile)  # and its own values in the hover
    [label] = all_zero_labels(figure)
    assert tile_cells(figure, 3)[round(label["y"]), round(label["x"])]  # on tile 3
    assert np.isnan(np.array(mosaic["z"], dtype=float)[~(np.array(mosaic["customdata"])[..., 0] >= 0)]).all()


def test_activation_tiles_with_a_floor_and_a_shared_range_take_its_max():
    tiles = [np.full((3, 3), 2.0), np.zeros((3, 3))]
    figure = tiles_figure(tiles, ["a", "b"], MAPS, shared_range=(0.0, 2.0))
    mosaic = figure["data"][0]
    assert (mosaic["zmin"], mosaic["zmax"]) == (0.0, 2.0) and mosaic["showscale"]
    np.testing.assert_array_equal(shown_z(figure, 0), tiles[0])  # one range: the values themselves
    assert "%{z:.3f}" in mosaic["hovertemplate"]
    flat = tiles_figure([np.zeros((3, 3))] * 2, ["a", "b"], MAPS, shared_range=(0.0, 0.0))
    assert (flat["data"][0]["zmin"], flat["data"][0]["zmax"]) == (0.0, 1.0)
    assert len(all_zero_labels(flat)) == 2


def test_tiles_without_a_floor_keep_their_diverging_ranges():
    """Each tile centred on zmid by Plotly's own rule (the range reaches as far as the tile does either
    side): a zero tile draws the scale's middle (white), a tile of -2 its bottom."""
    tiles = [np.zeros((3, 3)), np.full((3, 3), -2.0), np.array([[1.0, -0.5]])]
    figure = tiles_figure(tiles, ["a", "b", "c"], TileStyle(DIVERGING_COLORSCALE, zmid=0.0))
    np.testing.assert_array_equal(shown_z(figure, 0), np.full((3, 3), 0.5))
    np.testing.assert_array_equal(shown_z(figure, 1), np.zeros((3, 3)))
    assert shown_z(figure, 2).max() == 1.0 and 0.25 in shown_z(figure, 2)  # 1 at the top, -0.5 a quarter up
    assert all_zero_labels(figure) == []


def rgb(color: str) -> tuple[int, int, int]:
    match = re.fullmatch(r"rgb\((\d+), (\d+), (\d+)\)", color)
    assert match, f"{color!r} is not an rgb(r, g, b) string"
    return tuple(int(part) for part in match.groups())


def test_diverging_scale_is_blue_white_red_written_as_rgb():
    positions = [position for position, _ in DIVERGING_COLORSCALE]
    assert positions[0] == 0.0 and positions[-1] == 1.0 and positions == sorted(positions)
    colors = [rgb(color) for _, color in DIVERGING_COLORSCALE]  # every entry rgb(): no hex for the theme to swap
    middle = rgb(plotly.colors.sample_colorscale(DIVERGING_COLORSCALE, [0.5])[0])
    assert middle in {(255, 255, 255), (247, 247, 247)}  # zero is white: "ignore it"
    (r0, _, b0), (r1, _, b1) = colors[0], colors[-1]
    assert b0 > r0 and r1 > b1  # negative blue, positive red


def confusion_matrix(normalised=False):
    rng = np.random.default_rng(4)
    counts = rng.integers(0, 60, (10, 10))
    np.fill_diagonal(counts, rng.integers(850, 980, 10))
    counts[6, 0] = 133  # shirts taken for T-shirts: the most common mistake
    return counts / counts.sum(axis=1, keepdims=True) if normalised else counts


@pytest.mark.parametrize("normalised", [False, True])
def test_confusion_mistakes_and_correct_cells_have_their_own_scales(normalised):
    matrix = confusion_matrix(normalised)
    figure = confusion_figure(matrix, normalised)
    mistakes, correct, targets = figure["data"]
    diagonal = np.eye(10, dtype=bool)
    off = np.array(mistakes["z"], dtype=float)  # None -> nan
    assert np.isnan(off[diagonal]).all() and np.array_equal(off[~diagonal], matrix[~diagonal])
    on = np.array(correct["z"], dtype=float)
    assert np.isnan(on[~diagonal]).all() and np.array_equal(on[diagonal], matrix[diagonal])
    assert (mistakes["zmin"], mistakes["zmax"]) == (0, matrix[6, 0])  # the 133 gets the top of the reds
    assert (correct["zmin"], correct["zmax"]) == (0, matrix[diagonal].max())
    written = (lambda v: f"{v:.0%}") if normalised else str  # each cell's value, written in its own trace only
    assert mistakes["text"][6][0] == written(matrix[6, 0]) and correct["text"][6][0] == ""
    assert correct["text"][2][2] == written(matrix[2, 2]) and mistakes["text"][2][2] == ""
    for trace in (mistakes, correct):
        assert all(rgb(color) for _, color in trace["colorscale"])
    assert rgb(mistakes["colorscale"][0][1])[1] > 240  # no mistakes: (nearly) white
    assert targets["type"] == "scatter" and targets["name"] == "choose" and len(targets["x"]) == 100


def test_a_confusion_matrix_without_mistakes_leaves_them_white():
    mistakes, correct, _ = confusion_figure(np.eye(10) * 5, normalised=False)["data"]
    assert (mistakes["zmin"], mistakes["zmax"]) == (0, 1.0) and (correct["zmin"], correct["zmax"]) == (0, 5.0)


def test_unknown_scale_is_refused():
    images, maps, layers = grid()
    with pytest.raises(ValueError, match="scale"):
        journey_figure(images, maps, layers, ["a", "b", "c"], JourneyStyle(scale="log"))


def test_pending_grid_draws_the_inputs_and_says_the_maps_are_loading():
    images, maps, layers = grid()
    images = np.random.default_rng(2).random((3, 28, 28, 1))
    figure = journey_figure(images, [[None] * 4] * 3, layers, ["a", "b", "c"], pending=True)
    assert [np.array(t["z"]).tolist() for t in figure["data"]] == [image.reshape(28, 28).tolist() for image in images]
    assert [a["text"] for a in figure["layout"]["annotations"]].count("loading…") == 12
    assert figure["layout"]["height"] == journey_figure(images, maps, layers, ["a", "b", "c"])["layout"]["height"]


def test_tiles_figure_draws_every_tile_and_frames_the_highlight():
    tiles = [np.full((3, 3), float(i) / 10) for i in range(10)]
    figure = tiles_figure(
        tiles,
        [str(i) for i in range(10)],
        TileStyle("RdBu_r", columns=4, zmid=0.0),
        highlight=6,
        shared_range=(-1.0, 1.0),
    )
    for number, tile in enumerate(tiles):
        np.testing.assert_array_equal(tile_values(figure, number), tile)
    rows, columns = np.nonzero(tile_cells(figure, 6))
    corner = {n: tuple(np.argwhere(tile_cells(figure, n))[0]) for n in range(10)}  # its top left cell
    assert corner[6][1] == corner[2][1] and corner[6][0] == corner[4][0] > corner[2][0]  # row 1, column 2 of 4
    [frame] = figure["layout"]["shapes"]
    assert frame["x0"] < columns.min() - 0.5 < columns.max() + 0.5 < frame["x1"]
    assert frame["y0"] < rows.min() - 0.5 < rows.max() + 0.5 < frame["y1"]
    inside = [
        n
        for n in range(10)
        if n != 6
        and tile_cells(figure, n)[
            int(np.ceil(frame["y0"])) : int(frame["y1"]) + 1, int(np.ceil(frame["x0"])) : int(frame["x1"]) + 1
        ].any()
    ]
    assert inside == []  # the frame holds tile 6 alone
    titles = figure["data"][1]
    assert titles["text"][6] == "<b>6</b>" and titles["text"][5] == "5"
    assert titles["textfont"]["color"][6] != titles["textfont"]["color"][5]


def test_a_tiles_cells_name_their_tile_and_place_as_a_click_reports_them():
    """The component reports a click on the mosaic by customdata[y][x] = (tile, x, y): each tile's own
    row and column, whatever its size in the mosaic (a 3×3 kernel beside 26×26 maps is enlarged)."""
    rng = np.random.default_rng(7)
    tiles = [rng.normal(size=(3, 3)), rng.normal(size=(26, 26)), rng.normal(size=(5, 5))]
    figure = tiles_figure(tiles, ["kernel", "response", "small"], TileStyle(DIVERGING_COLORSCALE, columns=2, zmid=0.0))
    where = np.array(figure["data"][0]["customdata"])
    for number, tile in enumerate(tiles):
        cells = where[..., 0] == number
        assert {(y, x) for x, y in where[cells][:, 1:3].astype(int)} == set(np.ndindex(tile.shape))
        np.testing.assert_allclose(tile_values(figure, number), tile)
    assert figure["data"][0]["text"][0][0] in {"", "kernel", "response", "small"}  # named tiles: hover names them


def test_every_builder_makes_a_figure_plotly_accepts():
    """The page hands figures to plotly.js unvalidated (ui/charts.py), so validate each kind here."""
    import plotly.graph_objects as go

    from convlab.figures.curves import class_mix_figure, confusion_figure, curves_figure, probabilities_figure

    images, maps, layers = grid()
    maps[0][3] = None  # a layer without the chosen filter
    maps[1][0] = np.zeros_like(maps[1][0])  # a dead map, labelled "all zero"
    history = {
        "train_loss": [1.0, 0.5],
        "train_accuracy": [0.6, 0.8],
        "test_loss": [1.1, 0.7],
        "test_accuracy": [0.55, 0.75],
    }
    figures = [
        *(
            journey_figure(images, maps, layers, ["a", "b", "c"], JourneyStyle(scale=s))
            for s in ("panel", "layer", "figure")
        ),
        journey_figure(images, [[None] * 4] * 3, layers, ["a", "b", "c"], pending=True),
        tiles_figure(
            [np.ones((3, 3))] * 5,
            list("abcde"),
            TileStyle(DIVERGING_COLORSCALE, columns=2, zmid=0.0),
            highlight=1,
            clickable=True,
            shared_range=(-1.0, 1.0),
        ),
        tiles_figure([np.ones((3, 3)), np.zeros((3, 3))], list("ab"), MAPS, clickable=True),
        curves_figure({"dense": history, "conv": history}),
        probabilities_figure(["x", "y"], {"dense": np.full((2, 10), 0.1), "conv": np.full((2, 10), 0.1)}),
        confusion_figure(np.eye(10) * 5, normalised=False),
        confusion_figure(confusion_matrix(), normalised=False),
        confusion_figure(confusion_matrix(normalised=True), normalised=True),
        class_mix_figure(np.arange(10), "mix"),
    ]
    for figure in figures:
        validated = go.Figure(figure).to_dict()
        assert len(validated["data"]) == len(figure["data"])


def test_a_tile_can_keep_the_range_of_the_grid_it_comes_from():
    """The learned kernel beside the kernel grid is drawn on the grid's range, the rest on their own."""
    rng = np.random.default_rng(4)
    tiles = [rng.normal(size=(3, 3)) * 0.2, rng.normal(size=(3, 3)), rng.normal(size=(26, 26))]
    figure = tiles_figure(
        tiles,
        ["learned", "sobel", "response"],
        TileStyle(DIVERGING_COLORSCALE, columns=2, zmid=0.0),
        tile_ranges=[(-0.9, 0.9), None, None],
    )
    learned = shown_z(figure, 0)
    grow = learned.shape[0] // 3
    np.testing.assert_allclose(learned[::grow, ::grow], (tiles[0] + 0.9) / 1.8)
    for number in (1, 2):
        reach = np.abs(tiles[number]).max()
        z = shown_z(figure, number)
        grow = z.shape[0] // tiles[number].shape[0]
        np.testing.assert_allclose(z[::grow, ::grow], (tiles[number] + reach) / (2 * reach))


@pytest.mark.parametrize(
    "width, height, expected",
    [
        (880, 420, (420 - 50 - 8 - 2 * 28) // 3),  # a laptop: the height decides
        (500, 2000, int((500 - 28 - 36) * (1 - 0.025 * 4) / 5)),  # a narrow column: the width decides
        (3000, 3000, 180),  # plenty of room: the largest panel
        (300, 100, 72),  # too little room: the smallest (the page scrolls)
    ],
)
def test_journey_panel_fits_the_room_it_is_given(width, height, expected):
    assert journey_panel(3, 5, width, height) == expected


def test_a_fitted_journey_is_as_tall_as_its_room():
    images, maps, layers = grid()
    panel = journey_panel(3, 5, 880, 420)
    figure = journey_figure(images, maps, layers, ["a", "b", "c"], JourneyStyle(panel=panel))
    assert 420 - 3 <= figure["layout"]["height"] <= 420
    big = journey_figure(
        images, maps, layers, ["a", "b", "c"], JourneyStyle(panel=400, font_scale=1.6, heading="Filter 3")
    )
    assert big["layout"]["height"] > 3 * 400
    texts = {a["text"]: a["font"]["size"] for a in big["layout"]["annotations"]}
    assert texts["Filter 3"] >= 24 and texts["layer0 · 26×26"] >= 24


def test_journey_panel_refuses_an_empty_grid():
    with pytest.raises(ValueError, match="rows and columns"):
        journey_panel(0, 5, 800, 600)


def test_the_explanation_figures_are_valid_plotly():
    """The journey's "this number, explained" panel: a convolution written out, channel shares, a pool window."""
    import plotly.graph_objects as go

    from convlab.figures.explanations import arithmetic_figure, contributions_figure, window_figure

    rng = np.random.default_rng(5)
    patch, kernel = rng.random((3, 3)), rng.normal(size=(3, 3))
    written_out = arithmetic_figure(patch, kernel, patch * kernel, ("patch", "kernel", "products"))
    go.Figure(written_out)
    assert [t["text"][1][2] for t in written_out["data"]] == [
        f"{v:.3f}" for v in (patch[1, 2], kernel[1, 2], patch[1, 2] * kernel[1, 2])
    ]
    contributions = rng.normal(size=64)
    order = np.argsort(-np.abs(contributions))
    bars = contributions_figure(contributions, order, bias=-0.05)
    go.Figure(bars)
    assert bars["data"][0]["y"][:2] == [f"channel {order[0]}", f"channel {order[1]}"]
    assert sum(bars["data"][0]["x"]) == pytest.approx(contributions.sum() - 0.05)  # every channel, and the bias
    window = window_figure(np.array([[0.1, 0.7], [0.3, 0.2]]), (0, 1), "conv1")
    go.Figure(window)
    assert window["layout"]["shapes"][0]["x0"] == 0.5 and window["layout"]["shapes"][0]["y0"] == -0.5


def test_where_it_looked_draws_saliency_alone_and_grad_cam_over_the_image():
    import plotly.graph_objects as go

    from convlab.figures.explanations import looked_figure

    rng = np.random.default_rng(6)
    images, saliency, cams = rng.random((3, 28, 28)), rng.random((3, 28, 28)), rng.random((3, 28, 28))
    figure = looked_figure(
        images, [("saliency", saliency, "saliency"), ("cam", cams, "cam"), ("none", None, "cam")], ["a", "b", "c"]
    )
    go.Figure(figure)
    first_row = [t for t in figure["data"] if t["yaxis"] in ("y", "y2", "y3", "y4")]
    assert [t["name"] for t in first_row] == ["input", "saliency", "input", "cam"]  # Grad-CAM lies over the image
    assert first_row[3]["opacity"] < 1 and first_row[1]["opacity"] == 1
    np.testing.assert_allclose(np.array(first_row[1]["z"]), saliency[0])
    assert sum("not for" in a["text"] for a in figure["layout"]["annotations"]) == 3  # one per row


def test_sliding_a_filter_shows_the_window_and_the_map_so_far():
    import plotly.graph_objects as go

    from convlab.figures.explanations import slide_figure

    output = np.full((26, 26), np.nan)
    output[:3, :] = 0.5
    output[3, :5] = 0.25
    figure = slide_figure(np.zeros((28, 28)), output, 3, 4, 3, "conv1, filter 1")
    go.Figure(figure)
    window, cell = figure["layout"]["shapes"]
    assert (window["x0"], window["x1"], window["y0"], window["y1"]) == (3.5, 6.5, 2.5, 5.5)  # 3×3 at row 3, column 4
    assert (cell["x0"], cell["y0"]) == (3.5, 2.5)
    drawn = figure["data"][1]["z"]
    assert drawn[3][4] == 0.25 and drawn[3][5] is None and drawn[25][25] is None  # not computed yet: blank
    assert figure["layout"]["yaxis2"]["range"] == [25.5, -0.5]  # the blank rows keep their room


def test_a_chosen_colour_map_recolours_every_map_and_nothing_else():
    """``recoloured``: each feature map (journey, tiles, the browser's scrub trace) on the chosen
    palette, sampled from Plotly's own viridis/cividis; inputs and diverging kernels stay; the
    figure given is left as it was."""
    from convlab.figures.journey import journey_scrub_parts
    from convlab.figures.scales import PALETTE_COLORSCALES, recoloured

    images, maps, layers = grid()
    figure = journey_figure(images, maps, layers, ["a", "b", "c"], JourneyStyle(scale="layer"))
    kernels = tiles_figure([np.ones((3, 3))] * 2, list("ab"), KERNELS)
    assert recoloured(figure, "inferno") is figure
    for palette, named in (
        ("viridis", plotly.colors.sequential.Viridis),
        ("cividis", plotly.colors.sequential.Cividis),
    ):
        wanted = ["rgb({}, {}, {})".format(*plotly.colors.hex_to_rgb(c)) for c in named]
        again = recoloured(figure, palette)
        for before, after in zip(figure["data"], again["data"]):
            if before["name"] == "input":
                assert after is before
            else:
                assert [colour for _, colour in after["colorscale"]] == wanted
                assert after["z"] is before["z"] and after.get("colorbar") == before.get("colorbar")
        assert all(t["colorscale"] == ACTIVATION_COLORSCALE for t in activation_traces(figure))  # untouched
        assert recoloured(kernels, palette)["data"] == kernels["data"]
        scrub = recoloured(journey_scrub_parts([(n, s, f) for n, s, f in layers]), palette)
        assert scrub["trace"]["colorscale"] == PALETTE_COLORSCALES[palette]
    with pytest.raises(ValueError, match="palette must be one of"):
        recoloured(figure, "jet")


def test_packed_figures_carry_the_same_numbers_in_binary():
    """typed.pack: long numeric arrays become typed-array specs (float32 where exact, else float64, gaps as
    NaN); unpack gives back exactly the JSON the figure was, and short arrays and text are left alone."""
    import base64
    import json

    from convlab.figures.typed import MIN_VALUES, pack, unpack

    rng = np.random.default_rng(3)
    maps = [rng.random((26, 26)).astype(np.float32) for _ in range(9)]
    figure = tiles_figure(maps, [str(i) for i in range(9)], MAPS)  # per-tile ranges: z normalised, gaps NaN
    figure["data"].append({"type": "bar", "x": ["a", "b"], "y": [0.25, 0.75], "text": ["a"] * MIN_VALUES})
    packed = pack(figure)
    tiles, bars = packed["data"][0], packed["data"][-1]
    assert bars == figure["data"][-1]  # short numbers, text: as they were
    z, where = tiles["z"], tiles["customdata"]
    assert z["dtype"] == "f8" and where["dtype"] == "f4"  # normalised values aren't float32; cell indices are
    plain = np.array(figure["data"][0]["z"], dtype=float)
    assert z["shape"] == ",".join(map(str, plain.shape))
    sent = np.frombuffer(base64.b64decode(z["bdata"]), dtype="<f8").reshape(plain.shape)
    assert np.array_equal(sent, plain, equal_nan=True) and np.isnan(plain).any()  # the mosaic has gaps
    as_json = lambda value: (  # noqa: E731 - a builder's NumPy array as JSON has it: NaN (a gap) as null
        np.where(np.isnan(value), None, value).tolist() if isinstance(value, np.ndarray) else value
    )
    plain_json = {**figure, "data": [{k: as_json(v) for k, v in trace.items()} for trace in figure["data"]]}
    assert unpack(json.loads(json.dumps(packed))) == json.loads(json.dumps(plain_json))
    short = pack({"data": [{"type": "heatmap", "z": np.array([[1.0, np.nan]])}]})["data"][0]["z"]
    assert short == [[1.0, None]]  # a short array: plain JSON, its gap None
