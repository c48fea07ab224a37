"""End to end in a real browser: `streamlit run app.py` in a subprocess, driven with Chromium through Playwright.

Where test_app.py checks the script through Streamlit's AppTest, these tests check what a person
sees and does: the drawn journey grid, a slider moved with the keyboard, the class picker, a click
in the label table's canvas, the tabs. Each view is saved to artifacts/screenshots/.
"""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

from browser_support import (
    CURVES_PLOT,
    JOURNEY_FILTER_JS,
    build_one_block_of_16,
    copy_shipped_models,
    drawn_z,
    exception_texts,
    open_app,
    open_view,
    plot_data,
    radio_value,
    save_screenshot,
    served_app,
    slider,
    slider_value,
    wait_for_sliders,
    wait_idle,
    wait_until,
)
from conftest import shipped_conv_maps
from convlab.data import first_of_class
from convlab.models import PRESETS, ModelSpec
from convlab.store import DEFAULT_ROOT, ModelStore
from convlab_testing.live_app import COUNT_RUNS_JS, JOURNEY_PLOT, journey_ready_js, plot_js, view_of_url

pytestmark = pytest.mark.timeout(150)  # the first test also starts the server and imports TensorFlow

DEFAULT_IMAGES = [0, 23, 28]  # the lesson's three ankle boots
LAYERS = ["conv1", "pool1", "conv2", "pool2"]  # the lesson's conv model
SIDES = [26, 13, 11, 5]


@pytest.fixture(scope="module")
def streamlit_server(tmp_path_factory):
    """The app served by `streamlit run app.py` on a free port; stopped (or killed) at the end.

    It serves a copy of the shipped models, so the lab's training test leaves models/ alone.
    """
    models_dir = copy_shipped_models(tmp_path_factory.mktemp("models"), caches=True)
    with served_app(tmp_path_factory.mktemp("streamlit") / "server.log", models_dir=models_dir) as server:
        yield server


@pytest.fixture(scope="module")
def app_url(streamlit_server) -> str:
    return streamlit_server.url


def heatmaps(traces: list[dict]) -> list[dict]:
    return [trace for trace in traces if trace["name"] != "input"]


def test_page_loads_without_errors_and_draws_the_journey(browser, streamlit_server, app_url):
    with open_app(browser, streamlit_server) as page:
        assert page.url.startswith(app_url)
        assert exception_texts(page) == []
        traces = plot_data(page, JOURNEY_PLOT)
        inputs = [trace for trace in traces if trace["name"] == "input"]
        assert len(inputs) == 3
        assert all(np.array(trace["z"]).shape == (28, 28) for trace in inputs)
        maps = heatmaps(traces)
        assert len(maps) == 12
        assert [trace["name"] for trace in maps] == LAYERS * 3
        assert all(trace["type"] == "heatmap" for trace in maps)
        assert [np.array(trace["z"]).shape for trace in maps] == [(side, side) for side in SIDES] * 3
        assert [slider_value(page, f"image_{slot}") for slot in range(3)] == DEFAULT_IMAGES
        assert slider_value(page, "filter") == 1
        assert_painted(page, ".st-key-journey_chart")
        # The chart's text is in the app's own font (Source Sans, a web font of the page), not the
        # browser's fallback: the page's font faces, loaded, and the chart's titles set in them.
        wait_until(
            page,
            "() => { const d = document.querySelector('.st-key-journey_chart'); "
            "return [...document.fonts].some(f => f.family.replace(/\"/g, '') === 'Source Sans' "
            "&& f.status === 'loaded') "
            "&& getComputedStyle(d.querySelector('.annotation-text')).fontFamily.includes('Source Sans'); }",
            what="the journey chart's titles are in Source Sans",
        )
        save_screenshot(page, "journey")

        # The chart's own full-screen button (Plotly's toolbar): the grid fills the screen, and back.
        element = page.locator(".st-key-journey_chart")
        size_in_page = page.evaluate(
            f"() => [{plot_js(JOURNEY_PLOT)}._fullLayout.width, {plot_js(JOURNEY_PLOT)}._fullLayout.height]"
        )
        element.locator(".js-plotly-plot").hover()
        element.locator('[data-title="Full screen (Esc to leave)"]').click()
        in_full_screen = (
            "() => { const d = " + plot_js(JOURNEY_PLOT) + "; "
            "return document.fullscreenElement === d.closest('.convlab-chart') "
            "&& d.layout.height > window.innerHeight - 120; }"
        )
        wait_until(page, in_full_screen, what="the journey, with its filter slider, fills the screen")
        # Laid out again for the screen: larger text, the slider and its filter number in large type too.
        number = (
            "n => { const d = document.querySelector('.st-key-journey_chart'); "
            "return d.querySelector('.cl-number').textContent === String(n) "
            "&& parseFloat(getComputedStyle(d.querySelector('.cl-bar')).fontSize) >= 20 "
            "&& d.querySelector('.cl-bar').getBoundingClientRect().height > 0; }"
        )
        wait_until(page, number, 1, what="the full-screen chart names filter 1 in large type")
        titles = page.evaluate(
            "() => " + plot_js(JOURNEY_PLOT) + ".layout.annotations.filter(a => a.text === "
            "'conv1 · 26×26').map(a => a.font.size)"
        )
        assert titles and min(titles) >= 20, titles  # 15 px in the page
        # The toolbar sits in the right margin, off the column titles.
        assert page.evaluate("() => " + plot_js(JOURNEY_PLOT) + ".layout.modebar.orientation") == "v"
        element.locator(".js-plotly-plot").press("ArrowRight")  # the keys work in full screen
        wait_for_sliders(page, {"filter": 2}, what="the page's filter follows the arrow key pressed in full screen")
        wait_until(page, number, 2, what="the full-screen chart shows filter 2")
        assert page.evaluate(in_full_screen), "the key press left full screen"
        wait_until(page, "() => location.search.includes('filter=2')", what="the URL has filter 2")
        save_screenshot(page, "journey-full-screen")
        element.locator(".js-plotly-plot").hover()
        element.locator('[data-title="Full screen (Esc to leave)"]').click()  # the same button leaves
        wait_until(
            page,
            "size => { const d = " + plot_js(JOURNEY_PLOT) + "; return !d.ownerDocument.fullscreenElement "
            "&& d._fullLayout.width === size[0] && d._fullLayout.height === size[1]; }",
            size_in_page,
            what="the journey is back in the page at its own size",
        )
        assert_no_cloud_buttons(page)


def _assert_shows_filter(page, filter_index: int, test_split, scale: str = "panel") -> dict:
    """The journey chart shows filter ``filter_index``: every map within its 8-bit bound of the
    model's own activations (exact ones within float error), and while the filter is painted
    over the panels, every cell in inferno's colour for its value on ``scale``'s range."""
    import plotly.colors

    from convlab.figures.scales import ACTIVATION_COLORSCALE

    shown = page.locator(".st-key-journey_chart .cl-chart").evaluate("c => c.convlabShown()")
    assert shown["filter"] == filter_index, shown["filter"]
    expected = shipped_conv_maps(test_split.images[DEFAULT_IMAGES], filter_index)  # [image][layer], flattened
    maps = {}
    for number, reference in enumerate(expected):
        slot, layer = divmod(number, len(LAYERS))
        drawn = np.array(shown["maps"][f"{slot}/{LAYERS[layer]}"], dtype=np.float64)
        bound = 1e-5 if shown["exact"] else float(reference.max()) / 510 + 1e-5  # half a step of 255
        assert drawn.shape == reference.shape and np.abs(drawn - reference).max() <= bound, (
            slot,
            LAYERS[layer],
            np.abs(drawn - reference).max(),
            bound,
        )
        maps[(slot, layer)] = drawn
    for key, colours in shown["colours"].items():  # painted: the colours Plotly would give these values
        slot, name = key.split("/")
        layer = LAYERS.index(name)
        drawn = maps[(int(slot), layer)]
        column = [maps[(s, layer)].max() for s in range(3)]
        everything = [m.max() for m in maps.values()]
        top = {"panel": drawn.max(), "layer": max(column), "figure": max(everything)}[scale] or 1.0
        wanted = np.array(
            [
                plotly.colors.unlabel_rgb(c)
                for c in plotly.colors.sample_colorscale(
                    ACTIVATION_COLORSCALE, list(np.clip(drawn.ravel() / top, 0, 1))
                )
            ]
        )
        assert np.abs(np.array(colours).reshape(-1, 3) - wanted).max() <= 2, key
    return shown


def _drawn_then_learnt(page, filter_index: int, test_split) -> None:
    """The chart draws ``filter_index`` (painted or not, its maps are that filter's), then the page
    learns it and the chart shows the page's own figure of it."""
    wait_until(
        page,
        "f => { const j = (" + JOURNEY_FILTER_JS + ")(); return j && j.drawn === f; }",
        filter_index,
        what=f"the chart draws filter {filter_index}",
    )
    _assert_shows_filter(page, filter_index, test_split)
    wait_for_sliders(
        page, {"filter": filter_index}, what=f"the page learns filter {filter_index} and sends its exact figure"
    )
    _assert_shows_filter(page, filter_index, test_split)


def test_filter_keys_redraw_the_maps_in_the_browser_and_the_page_learns_the_last(browser, streamlit_server, test_split):
    """Keys on the chart's slider redraw the maps at once, from the maps the browser holds (no
    server rerun: the filter is painted, 8-bit, before the page hears of it); the page learns the
    last filter a moment later and its exact figure replaces the painted one, in place. Play
    steps through the filters at the chosen speed."""
    with open_app(browser, streamlit_server) as page:
        page.evaluate(f"() => {{ {plot_js(JOURNEY_PLOT)}.convlabMark = 'drawn before the key press'; }}")
        element = page.locator(".st-key-journey_chart")
        element.locator(".cl-chart").evaluate(
            "c => { window.__drawn = []; c.addEventListener('convlab:drawn', "
            "e => window.__drawn.push([e.detail.filter, e.detail.painted])); }"
        )
        slider(page, "filter").focus()
        page.keyboard.press("ArrowRight")
        _drawn_then_learnt(page, 2, test_split)
        # Painted in the browser first (the page can't have answered within the frame), then the
        # page's own figure, updated in place (Plotly.react), not a new chart drawn from scratch.
        assert [2, True] in element.locator(".cl-chart").evaluate("() => window.__drawn")
        assert page.evaluate(f"() => {plot_js(JOURNEY_PLOT)}.convlabMark") == "drawn before the key press"

        # Presses faster than a rerun: drawn in the browser, the page told of the last only.
        wait_idle(page)
        for key in ["ArrowRight"] * 5 + ["PageUp", "PageDown", "End", "Home", "ArrowRight", "ArrowRight", "ArrowRight"]:
            page.keyboard.press(key)
        assert slider_value(page, "filter") == 3  # 2 + 5 = 7, + 6, − 6, 63, 0, 1, 2, 3
        for _ in range(4):
            page.keyboard.press("ArrowRight")
        _drawn_then_learnt(page, 7, test_split)
        # At most one draw an animation frame, of what the slider shows then: the burst's filters
        # that were on the slider at a frame were painted in the browser, the page never asked.
        painted = [
            filter_index
            for filter_index, was_painted in element.locator(".cl-chart").evaluate("() => window.__drawn")
            if was_painted
        ]
        assert len(set(painted) - {2}) >= 2, painted
        assert "filter=7" in page.evaluate("() => location.search")

        # Play, at a quarter of a second a filter: past the last filter, round to the first; pause
        # hands the filter it stopped on to the page.
        page.keyboard.press("End")
        element.locator(".cl-speed").select_option("0.25")
        element.locator(".cl-play").click()
        assert element.locator(".cl-play").inner_text() == "⏸"
        wait_until(
            page,
            "() => { const j = (" + JOURNEY_FILTER_JS + ")(); return j && j.control === 1 && j.drawn === 1; }",
            what="play goes round from the last filter to the first",
            timeout=15_000,
        )
        element.locator(".cl-play").click()
        stopped = slider_value(page, "filter")
        assert element.locator(".cl-play").inner_text() == "▶" and stopped in (1, 2, 3)
        wait_for_sliders(page, {"filter": stopped}, what="the page learns the filter play stopped on")
        _assert_shows_filter(page, stopped, test_split)
        assert exception_texts(page) == []


def test_dragging_the_filter_slider_redraws_as_it_moves_and_a_filter_tile_moves_it(
    browser, streamlit_server, test_split
):
    """A drag redraws filter after filter while the mouse moves (colours on the per-layer scale
    computed in the browser); the page follows as it goes, and where it ends is the page's filter
    (the URL, the filters tab). Then a tile clicked on the filters tab moves the slider."""
    with open_app(browser, streamlit_server, query="?scale=layer&filter=5") as page:
        assert slider_value(page, "filter") == 5  # a link's filter is the slider's
        element = page.locator(".st-key-journey_chart")
        element.locator(".cl-chart").evaluate(
            "c => { window.__drawn = []; c.addEventListener('convlab:drawn', "
            "e => window.__drawn.push([e.detail.filter, e.detail.painted])); }"
        )
        control = slider(page, "filter")
        box = control.bounding_box()
        y = box["y"] + box["height"] / 2
        page.mouse.move(box["x"] + 8, y)
        page.mouse.down()
        for step in range(1, 31):  # to about two thirds of the way
            page.mouse.move(box["x"] + 8 + (box["width"] - 16) * 0.66 * step / 30, y)
        drawn = element.locator(".cl-chart").evaluate("() => window.__drawn")
        end = slider_value(page, "filter")
        assert 30 <= end <= 50, end
        _assert_shows_filter(page, end, test_split, scale="layer")  # before the mouse is released
        # The page follows the hand as it goes (its Filter box shows the chart's filter), before it lets go.
        wait_until(
            page,
            "end => (" + JOURNEY_FILTER_JS + ")().page === end",
            end,
            what="the page's Filter box follows the slider while the hand still holds it",
        )
        page.mouse.up()
        filters = [filter_index for filter_index, painted in drawn if painted]
        assert len(set(filters)) >= 10 and filters == sorted(filters), filters  # filter after filter, in order
        wait_for_sliders(page, {"filter": end}, what="the page learns where the drag ended")
        _assert_shows_filter(page, end, test_split, scale="layer")
        assert f"filter={end}" in page.evaluate("() => location.search")
        _open_tab(page, "filters", ".st-key-filters_chart .js-plotly-plot")
        assert page.locator(".st-key-filter_pick input").input_value() == str(end)
        highlight = page.evaluate(FRAMED_TILE_JS)
        assert highlight == end, highlight  # the all-filters grid frames tile `end`
        _click_a_tile_and_see_it_explained(page, test_split)


# The filters grid is one heatmap, a mosaic of tiles (convlab.figures.tiles_figure): its customdata names
# each cell's tile and place; the frame drawn around the chosen tile, and where a tile's cell is on screen.
FRAMED_TILE_JS = (
    "() => { const d = " + plot_js(".st-key-filters_chart") + ", s = d.layout.shapes.find(s => "
    "s.name === 'highlight'); return d.data[0].customdata[Math.round((s.y0 + s.y1) / 2)]"
    "[Math.round((s.x0 + s.x1) / 2)][0]; }"
)
CELL_ON_SCREEN_JS = (
    "([tile, x, y]) => { const d = " + plot_js(".st-key-filters_chart") + ", w = d.data[0].customdata; "
    "const xa = d._fullLayout.xaxis, ya = d._fullLayout.yaxis; "
    "for (let r = 0; r < w.length; r++) for (let c = 0; c < w[r].length; c++) "
    "if (w[r][c][0] === tile && w[r][c][1] === x && w[r][c][2] === y) "
    "return [xa._offset + xa.l2p(c), ya._offset + ya.l2p(r)]; return null; }"
)


def _click_a_tile_and_see_it_explained(page, test_split) -> None:
    """A click on a cell of tile 10 of the all-filters grid: filter 10 becomes the page's, the panel
    below computes that cell's number (Keras' own, to four decimals), and back on the journey
    the chart's slider is on filter 10."""
    page.locator(".st-key-filters_chart").evaluate("e => e.scrollIntoView({block: 'center'})")
    wait_until(
        page,
        "() => { const d = " + plot_js(".st-key-filters_chart") + "; "
        "return !!(d && d.data && d.data[0].meta.ranges.length === 64 && d.querySelector('.heatmaplayer image')); }",
        what="all 64 filter tiles are drawn",
    )
    wait_idle(page)
    assert_painted(page, ".st-key-filters_chart")
    box = page.locator(".st-key-filters_chart .cl-chart").bounding_box()
    x, y = page.evaluate(CELL_ON_SCREEN_JS, [10, 12, 8])  # tile 10, column 12, row 8: where the mosaic draws it
    page.mouse.click(box["x"] + x, box["y"] + y)
    wait_until(
        page, "() => document.querySelector('.st-key-filter_pick input').value === '10'", what="filter 10 is chosen"
    )
    wait_until(page, "() => location.search.includes('filter=10')", what="the URL holds the filter")
    panel = page.locator(".st-key-explanation")
    panel.get_by_text("How conv1's number at row 8, column 12 of image 1").wait_for()
    expected = shipped_conv_maps(test_split.images[DEFAULT_IMAGES], 10)[0][8, 12]  # image 1's conv1, filter 10
    assert f"{float(expected):.4f}" in panel.inner_text()
    assert_no_cloud_buttons(page)
    save_screenshot(page, "filters")
    _open_tab(page, "journey", JOURNEY_PLOT)
    wait_for_sliders(page, {"filter": 10}, what="the journey's slider moved to filter 10")
    _assert_shows_filter(page, 10, test_split, scale="layer")
    assert exception_texts(page) == []


def test_choosing_a_class_fills_the_three_slots(browser, streamlit_server, test_split):
    expected = first_of_class(test_split.labels, 5)  # the first three sandals
    with open_app(browser, streamlit_server) as page:
        # The picker at the top of the view: near the bottom edge, opening the list scrolls the
        # page, and the list closes on scroll.
        page.get_by_role("heading", name="Pick images by label").evaluate("e => e.scrollIntoView({block: 'start'})")
        picker = page.locator(".st-key-fill_class")
        picker.get_by_role("combobox").click()
        option = page.get_by_role("option", name="5 · Sandal", exact=True)
        option.click()
        wait_for_sliders(
            page,
            {f"image_{slot}": index for slot, index in enumerate(expected)},
            what=f"the three image sliders read {expected}",
        )
        wait_until(
            page,
            "indices => { const d = " + plot_js(JOURNEY_PLOT) + "; "
            "const titles = d.layout.annotations.map(a => a.text).join(' '); "
            "return indices.every(i => titles.includes(`test #${i} · <b>Sandal</b>`)); }",
            expected,
            what="the journey's row titles name the three sandals",
        )
        wait_idle(page)
        assert [slider_value(page, f"image_{slot}") for slot in range(3)] == expected
        assert picker.get_by_role("combobox").input_value() == "5 · Sandal"
        # The picker sits below the grid: the page scrolls back up to the journey's controls.
        wait_until(
            page,
            "() => { const r = document.querySelector('.st-key-journey_controls').getBoundingClientRect(); "
            "return r.top >= -2 && r.top < 150; }",
            what="the journey's controls are brought into view",
        )
        assert exception_texts(page) == []
        save_screenshot(page, "label-picker")


def _row_checkbox(page, row: int) -> tuple[float, float]:
    """Where row ``row``'s selection checkbox is drawn in the label table's canvas (page pixels).

    glide-data-grid draws on a canvas, so the geometry comes from the grid itself: its scroller
    is as tall as all rows plus the header (one row high), aria-rowcount counts the header too.
    """
    wait_until(
        page,
        "() => !!document.querySelector('.st-key-label_table [role=grid][aria-rowcount]')",
        what="the label table's grid is drawn",
    )
    geometry = page.locator(".st-key-label_table").evaluate(
        "e => { const grid = e.querySelector('[role=grid]'); const canvas = e.querySelector('canvas'); "
        "return {rows: Number(grid.getAttribute('aria-rowcount')), "
        "content: e.querySelector('.dvn-scroller').scrollHeight, "
        "scrollTop: e.querySelector('.dvn-scroller').scrollTop, box: canvas.getBoundingClientRect().toJSON()}; }"
    )
    assert geometry["rows"] == 101, geometry  # header + the lesson's first 100 test labels
    assert geometry["scrollTop"] == 0, geometry
    row_height = geometry["content"] / geometry["rows"]
    assert 20 <= row_height <= 60, geometry
    box = geometry["box"]
    y = box["y"] + row_height * (row + 1) + row_height / 2  # +1: the header
    assert y < box["y"] + box["height"] - row_height / 2, f"row {row} is not visible: {geometry}"
    return box["x"] + 16, y  # the checkbox column is about 32 px wide


def _click_row(page, row: int) -> None:
    x, y = _row_checkbox(page, row)
    page.mouse.click(x, y)


def _click_row_into_slot(page, row: int, slot: int) -> None:
    """Click a label-table row; it fills image ``slot`` and the slot radio moves on to the next."""
    wait_idle(page)
    _click_row(page, row)
    wait_for_sliders(page, {f"image_{slot}": row}, what=f"slot {slot + 1} holds the clicked row's test index {row}")
    next_slot = (slot + 1) % 3
    wait_until(
        page,
        f"() => document.querySelector('.st-key-target_slot input[type=radio]:checked').value === '{next_slot}'",
        what=f"the slot radio moves on to slot {next_slot + 1}",
    )
    wait_idle(page)


def test_clicking_label_table_rows_fills_the_slots_in_turn(browser, streamlit_server, test_split):
    with open_app(browser, streamlit_server) as page:
        table = page.locator(".st-key-label_table")
        table.evaluate("e => e.scrollIntoView({block: 'center'})")
        assert radio_value(page, "target_slot") == "0"  # slot 1
        _click_row_into_slot(page, 6, slot=0)
        assert [slider_value(page, f"image_{slot}") for slot in range(3)] == [6, 23, 28]
        # The same row again fills slot 2 (a click is an action, so the table clears its tick),
        # and another row fills slot 3.
        _click_row_into_slot(page, 6, slot=1)
        _click_row_into_slot(page, 2, slot=2)
        assert [slider_value(page, f"image_{slot}") for slot in range(3)] == [6, 6, 2]
        # The grid redraws for the new images; the labels say they are two coats and a trouser.
        assert [int(test_split.labels[i]) for i in (6, 6, 2)] == [4, 4, 1]
        warning = page.locator('[data-testid="stAlertContainer"]', has_text="don't share a label")
        assert warning.is_visible()
        assert all(name in warning.inner_text() for name in ("Coat", "Trouser"))
        assert exception_texts(page) == []


def test_switching_tabs_shows_dense_vs_conv_and_back(browser, streamlit_server):
    with open_app(browser, streamlit_server) as page:
        open_view(page, "compare")  # the address names the view at once
        wait_until(
            page,
            "() => [...document.querySelectorAll('[data-testid=stTopNavSection]')].some(t => "
            "t.innerText.includes('Compare'))",
            what="the navigation names the open view",
        )
        table = page.locator('[data-testid="stMain"] [data-testid="stDataFrame"]').first
        table.wait_for(state="visible")
        # The table's accessible rows (the canvas itself has no text): one per model.
        wait_until(
            page,
            "() => { const rows = [...document.querySelectorAll('[data-testid=stMain] [data-testid=stDataFrame] "
            "[role=row]')].map(r => r.innerText); return rows.some(t => t.startsWith('dense')) && "
            "rows.some(t => t.startsWith('conv')); }",
            what="the comparison table lists dense and conv",
        )
        curves = page.locator(CURVES_PLOT)
        curves.wait_for(state="visible")
        wait_until(
            page, f"() => (({plot_js(CURVES_PLOT)} || {{}}).data || []).length > 0", what="the curves chart has traces"
        )
        names = {trace["name"] for trace in plot_data(page, CURVES_PLOT)}
        assert any(name.startswith("dense") for name in names) and any(name.startswith("conv") for name in names), names
        wait_idle(page)
        assert exception_texts(page) == []
        save_screenshot(page, "dense-vs-conv")

        assert_no_cloud_buttons(page)
        open_view(page, "journey")
        page.locator(JOURNEY_PLOT).wait_for(state="visible")
        wait_until(
            page,
            f"() => (({plot_js(JOURNEY_PLOT)} || {{}}).data || []).length === 15",
            what="the journey chart is drawn again",
        )
        assert not curves.is_visible()
        assert exception_texts(page) == []


def assert_painted(page, selector: str) -> None:
    """The chart is visibly painted, not just present in the DOM: inferno heatmaps are mostly dark."""
    import io

    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(page.locator(selector).screenshot())).convert("L"))
    dark = (pixels < 60).mean()
    assert dark > 0.05, f"{selector} looks blank ({dark:.1%} dark pixels)"


def _open_tab(page, slug: str, ready_selector: str) -> None:
    """Open view ``slug`` through the navigation and wait for ``ready_selector`` (a first visit can compute)."""
    open_view(page, slug)
    page.locator(ready_selector).first.wait_for(state="visible", timeout=90_000)
    wait_idle(page)


def test_clicking_a_confusion_cell_lists_those_mistakes(browser, streamlit_server, test_split):
    with open_app(browser, streamlit_server) as page:
        _open_tab(page, "predictions", ".st-key-confusion_chart .js-plotly-plot")
        page.locator(".st-key-confusion_chart").evaluate("e => e.scrollIntoView({block: 'center'})")
        wait_idle(page)
        box = page.locator(".st-key-confusion_chart .js-plotly-plot .nsewdrag").first.bounding_box()
        # The cell (true Shirt = row 6, predicted T-shirt/top = column 0) of the 10×10 grid.
        page.mouse.click(box["x"] + box["width"] * 0.05, box["y"] + box["height"] * 0.65)
        drawn = page.locator(".st-key-confusion_chart .js-plotly-plot").evaluate("d => d.data[0].z[6][0]")
        wait_until(
            page,
            "n => [...document.querySelectorAll('[data-testid=stMarkdownContainer]')]"
            ".some(e => e.innerText.startsWith(n.toLocaleString('en-US') + ' mistakes match'))",
            drawn,
            what="the gallery lists the clicked cell's mistakes",
        )
        # The gallery's thumbnails are one size and its buttons line up, however the captions wrap.
        gallery = page.locator(".st-key-mistake_thumbnails")
        for end in ("end", "start"):  # the images load lazily, as they come into view
            gallery.evaluate(f"e => e.scrollIntoView({{block: '{end}'}})")
            wait_until(
                page,
                "() => [...document.querySelectorAll('.st-key-mistake_thumbnails img')].every("
                "i => i.getBoundingClientRect().bottom < 0 || i.getBoundingClientRect().top > innerHeight "
                "|| (i.complete && i.naturalWidth > 0))",
                what="the gallery's visible images are loaded",
            )
        geometry = page.locator(".st-key-mistake_thumbnails").evaluate(
            "e => ({images: [...e.querySelectorAll('img')].map(i => [Math.round(i.getBoundingClientRect().width), "
            "Math.round(i.getBoundingClientRect().height), Math.round(i.getBoundingClientRect().top)]), "
            "buttons: [...e.querySelectorAll('button')].filter(b => b.offsetParent)"
            ".map(b => [Math.round(b.getBoundingClientRect().top), "
            "Math.round(b.getBoundingClientRect().width)])})"
        )
        assert len(geometry["images"]) == min(drawn, 24) and len({(w, h) for w, h, _ in geometry["images"]}) == 1, (
            geometry
        )
        rows = {}
        for (_, _, top), (button_top, button_width) in zip(geometry["images"], geometry["buttons"]):
            rows.setdefault(top, set()).add(button_top)
        assert all(len(tops) == 1 for tops in rows.values()), geometry  # one button line per row of images
        assert len({width for _, width in geometry["buttons"]}) == 1, geometry
        assert_no_cloud_buttons(page)
        save_screenshot(page, "predictions")
        # A mistake's button puts it into the journey's first slot and opens the journey (the finder's and the
        # portraits' galleries are the same component).
        button = gallery.locator("button").nth(1)
        index = int(button.get_attribute("aria-label").split("#")[1].split()[0])
        button.click()
        wait_until(
            page,
            "i => ['/', '/journey'].includes(location.pathname)"
            " && (new URLSearchParams(location.search).get('images') || '').startsWith(i + ',')",
            index,
            what="the journey opens with the mistake in its first slot",
        )
        wait_until(page, journey_ready_js(), what="the journey is drawn")
        assert exception_texts(page) == []


def test_uploading_a_picture_shows_its_journey(browser, streamlit_server, test_split, tmp_path):
    from PIL import Image

    picture = (255 - test_split.images[9, :, :, 0] * 255).astype(np.uint8)  # a sneaker, dark on white
    Image.fromarray(np.kron(picture, np.ones((10, 10), np.uint8))).convert("RGB").save(tmp_path / "shoe.jpg")
    (tmp_path / "fake.png").write_bytes(b"not really a picture")
    with open_app(browser, streamlit_server) as page:
        _open_tab(page, "upload", "[data-testid=stFileUploader]")
        page.locator("[data-testid=stFileUploader] input[type=file]").set_input_files(str(tmp_path / "shoe.jpg"))
        page.locator(".st-key-upload_journey .js-plotly-plot").wait_for(state="visible", timeout=60_000)
        assert_painted(page, ".st-key-upload_journey")
        assert page.get_by_text("thinks it is a Sneaker").is_visible()
        assert_no_cloud_buttons(page)
        save_screenshot(page, "upload")
        page.locator("[data-testid=stFileUploader] input[type=file]").set_input_files(str(tmp_path / "fake.png"))
        page.get_by_text("isn't a PNG or JPEG").wait_for(state="visible")
        assert exception_texts(page) == []


# -- what a teacher's run-through found (issue 10) -----------------------------------------------
def assert_no_cloud_buttons(page) -> None:
    """No chart offers to send itself to Plotly's cloud ("Share chart…", "Edit in Chart Studio")."""
    titles = page.evaluate(
        "() => [document, ...[...document.querySelectorAll('iframe')].map(f => { try { return f.contentDocument; } "
        "catch (e) { return null; } })].filter(Boolean).flatMap(d => [...d.querySelectorAll('.modebar-btn')]"
        ".map(b => b.getAttribute('data-title')))"
    )
    assert titles, "no chart toolbar found"
    assert not [t for t in titles if re.search(r"share|cloud|chart studio", t or "", re.I)], titles


def _panel_pixels(page, number: int) -> np.ndarray:
    """What the screen shows of the journey's heatmap number ``number`` (trace order), as RGB."""
    import io

    from PIL import Image

    box = page.locator(".st-key-journey_chart").locator(".heatmaplayer image").nth(number).bounding_box()
    shot = page.screenshot(clip=box)
    return np.asarray(Image.open(io.BytesIO(shot)).convert("RGB")).astype(int)


def test_an_all_zero_map_is_drawn_black_and_says_so(browser, streamlit_server, test_split):
    """The lesson's moment: the third image set to 1 (a pullover) and filter 1. The model's conv2
    and pool2 maps of it are all zero: on screen they are black (inferno's bottom), not the
    crimson middle of the scale, and labelled."""
    reference = shipped_conv_maps(test_split.images[[0, 23, 1]], 1)
    assert not reference[10].any() and not reference[11].any()
    with open_app(browser, streamlit_server, query="/?images=0,23,1&filter=1") as page:
        for number in (13, 14):  # traces: row 3 (input 10, conv1 11, pool1 12, conv2 13, pool2 14)
            pixels = _panel_pixels(page, number)
            corner = pixels[: pixels.shape[0] // 4, : pixels.shape[1] // 4]  # away from the label in the middle
            assert corner.max() <= 40, f"panel {number} is not black: {corner.reshape(-1, 3).mean(axis=0)}"
        assert _panel_pixels(page, 11).max() > 150  # conv1 of the same image has bright cells
        labels = page.locator(".st-key-journey_chart").locator(".annotation-text", has_text="all zero")
        assert labels.count() == 2
        save_screenshot(page, "journey-all-zero")


def test_image_number_boxes_step_by_one(browser, streamlit_server):
    with open_app(browser, streamlit_server) as page:
        page.locator(".st-key-image_2 [data-testid=stNumberInputStepUp]").click()
        wait_for_sliders(page, {"image_2": 29}, what="image 3's box reads 29")
        wait_until(
            page,
            "() => " + plot_js(JOURNEY_PLOT) + ".layout.annotations.some(a => a.text.includes('test #29'))",
            what="the journey's third row shows test image 29",
        )
        wait_until(
            page,
            "() => /images=0(%2C|,)23(%2C|,)29/.test(location.search)",
            what="the address names image 29 (the run's end writes it, after the chart's update)",
        )


@pytest.mark.parametrize("size", [(1280, 720), (1024, 768)], ids=["laptop-1280x720", "projector-1024x768"])
def test_the_journey_fits_one_screen(browser, streamlit_server, size):
    """The controls and all three rows in one screen, without scrolling; a narrow screen starts
    with the sidebar collapsed."""
    width, height = size
    with open_app(browser, streamlit_server, viewport={"width": width, "height": height}) as page:
        wait_until(
            page,
            "h => { const f = document.querySelector('.st-key-journey_chart .convlab-chart'); "
            "return f && f.getBoundingClientRect().bottom <= h; }",
            height,
            what="the journey's chart ends inside the window",
        )
        wait_idle(page)
        layout = page.evaluate(
            "() => ({controls: document.querySelector('.st-key-journey_controls').getBoundingClientRect().top, "
            "chart: document.querySelector('.st-key-journey_chart .convlab-chart').getBoundingClientRect().toJSON(), "
            "scrolled: document.querySelector('[data-testid=stMain]').scrollTop, "
            "sidebar: document.querySelector('[data-testid=stSidebar]').getAttribute('data-collapsed')})"
        )
        assert layout["scrolled"] == 0 and layout["controls"] > 0, layout
        assert layout["chart"]["bottom"] <= height, layout
        assert len(heatmaps(plot_data(page))) == 12  # all three rows are in that chart
        assert layout["sidebar"] == ("true" if width < 1100 else "false"), layout
        save_screenshot(page, f"journey-{width}x{height}")


def test_a_trained_variant_is_shown_in_the_journey(browser, streamlit_server):
    """The lab's finished-training box: "Show in the journey" makes the new run the page's model
    and opens the journey (its button sits in the panel that refreshes itself while training)."""
    spec = ModelSpec(conv_filters=(16,), epochs=1, train_samples=1_000)
    with open_app(browser, streamlit_server) as page:
        _open_tab(page, "lab", ".st-key-lab_blocks")
        build_one_block_of_16(page)
        epochs = slider(page, "lab_epochs")
        epochs.focus()
        page.keyboard.press("Home")
        page.locator(".st-key-lab_samples").click()
        page.get_by_role("option", name="1,000 (quick)").click()
        wait_idle(page)
        wait_until(
            page,
            "label => [...document.querySelectorAll('strong')].some(e => e.innerText.startsWith(label))",
            spec.label(),
            what="the builder shows the variant to train",
        )
        page.locator(".st-key-lab_train button").click()
        # The training's progress comes into view, with one Stop button at a time.
        visible_stops = (
            "() => [...document.querySelectorAll('button')]"
            ".filter(b => b.innerText.includes('Stop training') && b.offsetParent).length"
        )
        counts = []
        deadline = time.monotonic() + 120
        while not page.get_by_text("trained in").count() and time.monotonic() < deadline:
            counts.append(page.evaluate(visible_stops))
            time.sleep(0.1)
        assert max(counts) <= 1, counts
        wait_until(
            page,
            "() => { const r = document.querySelector('.st-key-training_panel').getBoundingClientRect(); "
            "return r.top >= 0 && r.top < innerHeight; }",
            what="the training panel is in view",
        )
        wait_idle(page)
        page.locator(f".st-key-journey_{spec.key()} button").click()
        wait_until(
            page,
            "key => location.search.includes('model=' + key) && ['/', '/journey'].includes(location.pathname)",
            spec.key(),
            what="the URL names the new run and the journey",
        )
        wait_until(page, journey_ready_js(3 + 3 * 2), what="the journey shows the one-block model's maps")
        assert "Journey" in page.locator('[data-testid="stTopNavSection"]').first.inner_text()  # named open
        assert spec.label() in page.locator("[data-testid=stSidebar]").inner_text()  # the model box, and its full name
        assert exception_texts(page) == []


def test_clicking_a_journey_cell_explains_that_number(browser, streamlit_server, test_split):
    """A click on a conv2 cell of image 3 opens the panel that computes it; its final number is
    the one Keras computes for that cell, and the URL names the cell."""
    with open_app(browser, streamlit_server) as page:
        image = page.locator(".st-key-journey_chart").locator(".heatmaplayer image").nth(13)  # row 3, conv2
        box = image.bounding_box()
        page.mouse.click(box["x"] + box["width"] * (4.5 / 11), box["y"] + box["height"] * (3.5 / 11))  # row 3, column 4
        wait_until(
            page,
            "() => location.search.includes('cell=3%2Cconv2%2C3%2C4') || location.search.includes('cell=3,conv2,3,4')",
            what="the URL names the clicked cell",
        )
        panel = page.locator(".st-key-explanation")
        panel.get_by_text("How conv2's number at row 3, column 4 of image 3").wait_for()
        expected = shipped_conv_maps(test_split.images[DEFAULT_IMAGES], 1)[10][3, 4]  # image 3's conv2, filter 1
        assert f"{float(expected):.4f}" in panel.inner_text()
        wait_until(
            page,
            "() => document.querySelectorAll('.st-key-explanation .js-plotly-plot').length === 2",
            what="the channels' shares and the largest channel written out are drawn",
        )
        wait_until(
            page,
            "() => " + plot_js(JOURNEY_PLOT) + ".layout.shapes.length === 2",
            what="the cell and its window are framed on the grid",
        )
        save_screenshot(page, "journey-explained")
        assert exception_texts(page) == []


def test_playing_the_replay_redraws_the_grid_snapshot_by_snapshot(browser, streamlit_server):
    """Play on the replay, from a link to its seventh snapshot from the end: the snapshot slider advances by
    itself, the grid and the kernels are redrawn with each snapshot's numbers, the URL follows, and playing
    stops at the last snapshot."""
    replay_plot, kernels_plot = ".st-key-replay_chart", ".st-key-replay_kernels"
    count = ModelStore(DEFAULT_ROOT).load(PRESETS["conv"]).meta["snapshots"]["count"]
    start = count - 7  # six frames to play (0.8 s each): the whole training's would take twice as long
    with open_app(browser, streamlit_server, query=f"/replay?snapshot={start}", journey_traces=None) as page:
        page.locator(".st-key-replay_chart .js-plotly-plot").first.wait_for(state="visible", timeout=90_000)
        wait_until(
            page,
            f"() => {{ const d = {plot_js(replay_plot)}; return !!(d && d.data && d.data.length === 15); }}",
            what="the replay's grid is drawn",
        )
        wait_idle(page)
        assert slider_value(page, "snapshot") == start
        seen = {start: drawn_z(page, replay_plot)}
        kernels = {drawn_z(page, kernels_plot)}
        save_screenshot(page, "replay")
        page.locator(".st-key-replay_playing label").click()
        # A training's snapshots at 0.8 s each play in seconds alone; a busy machine (the suite's other process)
        # makes each frame's run seconds long: the loop ends when the last one plays, the deadline is a backstop.
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            value = slider_value(page, "snapshot")
            fingerprint = drawn_z(page, replay_plot)
            if value not in seen and fingerprint not in seen.values():
                seen[value] = fingerprint
            kernels.add(drawn_z(page, kernels_plot))  # at each look: a busy page may draw them after the grid
            if value == count - 1 and not page.locator(".st-key-replay_playing input").is_checked():
                break
            time.sleep(0.1)
        assert slider_value(page, "snapshot") == count - 1, "playing reached the last snapshot"
        assert not page.locator(".st-key-replay_playing input").is_checked(), "playing stopped at the end"
        played = count - start
        assert len(seen) >= played // 2 + 1, f"the grid was redrawn for only {sorted(seen)} of {start}…{count - 1}"
        assert len(kernels) >= played // 2 + 1  # conv1's kernels changed with them
        wait_until(page, f"() => location.search.includes('snapshot={count - 1}')", what="the URL holds the snapshot")
        # The GIF for slides, made when its button is clicked: one frame per snapshot.
        from PIL import Image

        with page.expect_download(timeout=60_000) as download:
            page.locator(".st-key-replay_gif button").click()
        gif = Image.open(download.value.path())
        assert gif.format == "GIF" and gif.n_frames == count
        assert download.value.suggested_filename == f"convlab-replay-{PRESETS['conv'].key()}-filter1.gif"
        assert exception_texts(page) == []


def test_presenter_mode_fits_a_projector_and_takes_keys_anywhere(browser, streamlit_server):
    """present=1 at 1024×768: no sidebar, type of at least 18 px, the whole journey on the screen
    without scrolling; ← → step the filter and 3 then ↑ step the third image, with nothing focused."""
    with open_app(browser, streamlit_server, query="?present=1", viewport={"width": 1024, "height": 768}) as page:
        assert not page.locator('[data-testid="stSidebar"]').is_visible()
        sizes = page.evaluate("""() => [...document.querySelectorAll(
                                   '[data-testid="stWidgetLabel"] p, [data-testid="stTopNavSection"] p')]
                                 .map(e => parseFloat(getComputedStyle(e).fontSize))""")
        assert sizes and min(sizes) >= 18, sizes
        # The grid is laid out again once the chart has told the page its room (a rerun): wait for that.
        wait_until(
            page,
            "() => { const panels = document.querySelectorAll('.st-key-journey_chart .heatmaplayer image');"
            " return panels.length > 0 && panels[panels.length - 1].getBoundingClientRect().bottom <= 768; }",
            what="the journey's last panel is on the projector's screen",
        )
        frame = page.locator(".st-key-journey_chart .convlab-chart")
        box = frame.bounding_box()
        panels = page.locator(".st-key-journey_chart").locator(".heatmaplayer image")
        last = panels.nth(panels.count() - 1).bounding_box()
        assert last["y"] + last["height"] <= 768, f"the last panel ends at {last['y'] + last['height']:.0f} px"
        assert box["y"] >= 0 and page.evaluate("() => window.scrollY") == 0
        fonts = (
            page.locator(".st-key-journey_chart")
            .locator(".annotation-text, .ytick text")
            .evaluate_all("els => els.map(e => parseFloat(getComputedStyle(e).fontSize))")
        )
        assert min(fonts) >= 18, fonts  # the chart's own titles and axis numbers too
        save_screenshot(page, "presenter-1024x768")
        page.mouse.click(5, 300)  # on the page, nothing focused: keys go to the page
        page.keyboard.press("ArrowRight")
        wait_for_sliders(page, {"filter": 2}, what="→ steps the filter")
        page.keyboard.press("3")
        page.keyboard.press("ArrowUp")
        wait_for_sliders(page, {"image_2": 29}, what="3 then ↑ steps the third image")
        assert "present=1" in page.url
        page.locator(".st-key-leave_presenter button").click()
        wait_until(page, "() => !location.search.includes('present=1')", what="presenter mode is left")
        page.locator(".st-key-leave_presenter").wait_for(state="detached")
        page.locator('[data-testid="stHeader"]').wait_for(state="visible")  # the page's own chrome is back
        assert exception_texts(page) == []


def test_the_tour_moves_with_the_arrow_keys_and_the_focused_slider_keeps_them(browser, streamlit_server):
    """← / → on the page move the lesson tour (each step sets its view); on the focused filter
    slider they still step the filter, and the tour stays where it is."""
    with open_app(browser, streamlit_server) as page:
        page.locator(".st-key-tour_start button").first.click()
        wait_until(page, "() => location.search.includes('tour=1')", what="the tour opens at step 1")
        page.locator(".st-key-tour").get_by_text("Step 1 of 10").wait_for()
        # The keys' listener starts once its component's script has run, a moment after the strip shows.
        wait_until(
            page,
            "() => { const t = window.convlabTourKeys; return !!(t && t.step === 1 && t.send && t.listener); }",
            what="the tour's keys listen at step 1",
        )
        page.mouse.click(5, 400)  # nothing focused
        for step in (2, 3, 4):
            page.keyboard.press("ArrowRight")
            wait_until(page, f"() => location.search.includes('tour={step}')", what=f"→ opens step {step}")
            wait_idle(page)
        assert "filter=" in page.url and view_of_url(page.url) == "journey"  # step 4 set the journey's view
        wait_until(
            page,
            "() => { const j = (" + JOURNEY_FILTER_JS + ")(); return j && j.control === j.page && j.exact; }",
            what="the chart's slider shows the step's filter",
        )
        before = slider_value(page, "filter")
        slider(page, "filter").press("ArrowRight")  # focuses the slider, then presses
        wait_for_sliders(page, {"filter": before + 1}, what="→ on the slider steps the filter")
        assert "tour=4" in page.url
        wait_idle(page)
        # A press from a step the page no longer shows (a copy of step 3's controls, or a key pressed while a
        # rerun was on its way) reaches the server, which drops it: the tour moves from the step it drew.
        page.evaluate(COUNT_RUNS_JS)
        page.evaluate("() => window.convlabTourKeys.send('move', {from: 3, by: -1, n: -1})")
        wait_until(page, "() => window.__runs >= 2", what="the stale press's rerun")
        wait_idle(page)
        assert "tour=4" in page.url and page.locator(".st-key-tour").get_by_text("Step 4 of 10").count() == 1
        page.mouse.click(5, 400)
        page.keyboard.press("ArrowLeft")
        wait_until(page, "() => location.search.includes('tour=3')", what="← goes back a step")
        page.locator(".st-key-tour").get_by_text("Step 3 of 10").wait_for()
        wait_idle(page)
        assert "tour=3" in page.url  # once: not on to step 2
        assert exception_texts(page) == []
