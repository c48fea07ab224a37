"""Accessibility in a real browser, and one filter everywhere.

axe-core (the engine behind Lighthouse, vendored: ``tests/axe_support.py``) checks every view in
tests/test_browser_views.py; here, that the check itself can fail, and what axe can't judge: the maps' colour map
kept in the URL and
used for every map (Plotly's and the chart's own painted canvases), the journey's words for a
screen reader against the model's own maps, play under ``prefers-reduced-motion``, the chart's
controls under the keyboard with a visible focus, and the journey's Filter box following the
chart while it plays. All on the one shared server (``shipped_server``).
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import plotly.colors
import pytest

from axe_support import axe_violations
from browser_support import (
    ERROR_BOXES,
    IDLE_JS,
    JOURNEY_FILTER_JS,
    JOURNEY_PLOT,
    PAGE_READY_TIMEOUT,
    HeldSocket,
    journey_ready_js,
    new_page,
    plot_js,
    require_browser,
    wait_drawn,
    wait_for_sliders,
    wait_idle,
    wait_until,
)
from conftest import shipped_conv_maps
from convlab.data import CLASS_NAMES
from convlab.figures.scales import PALETTE_COLORSCALES
from convlab.filtermeasures import peak_place
from ui.state import DEFAULT_FILTER, DEFAULT_IMAGES

LAPTOP = {"width": 1280, "height": 720}  # the screen the page is laid out for (every view: test_browser_views.py)
CHART = ".st-key-journey_chart"  # the journey chart's element (components/plotly_react, in the page)
LAYERS = ("conv1", "pool1", "conv2", "pool2")


# -- opening views --------------------------------------------------------------------------------
def open_view(page, server, slug: str, query: str = "") -> None:
    """Open view ``slug`` at its own address (/filters?…, the journey at /), ``query`` kept; return once
    the view is drawn: idle, no error box, and nothing on the page or in its frames still changing."""
    page.goto(
        f"{server.url}/{'' if slug == 'journey' else slug}{'?' + query if query else ''}", wait_until="domcontentloaded"
    )
    wait_until(page, IDLE_JS, what=f"/{slug} is drawn", timeout=PAGE_READY_TIMEOUT)
    if slug == "journey":  # its chart draws once plotly.js is loaded, which may be after the page is idle
        wait_until(page, journey_ready_js(), what="the journey chart is drawn")
    wait_drawn(page)
    errors = page.locator(ERROR_BOXES).all_inner_texts()
    assert not errors, f"/{slug} shows an error: {errors}\n--- server log ---\n{server.log_text()[-4000:]}"


def chart_element(page):
    return page.locator(CHART)


# -- axe-core -------------------------------------------------------------------------------------
def test_axe_support_finds_what_it_should_in_the_page_and_in_frames(browser):
    """The checker itself can fail: a picture without words, a frame without title or language, and
    grey text on white, each found, in the page and inside a frame."""
    require_browser(browser)
    context = browser.new_context()
    try:
        page = context.new_page()
        frame = "<html><body><p style='color:#aaa'>faint</p><img src='data:,'></body></html>"
        page.set_content(
            f"<html lang='en'><head><title>t</title></head><body><main><img src='data:,'>"
            f'<iframe srcdoc="{frame}"></iframe></main></body></html>'
        )
        page.wait_for_function("() => document.querySelector('iframe').contentDocument.querySelector('p')")
        found = axe_violations(page)
        rules = sorted(line.split(" ")[0] for line in found)
        assert rules == [
            "color-contrast",
            "document-title",
            "frame-title",
            "html-has-lang",
            "image-alt",
            "image-alt",
        ], found
        assert any(line.startswith("image-alt [critical] iframe ") for line in found), found
    finally:
        context.close()


# -- the maps' colour map -------------------------------------------------------------------------
def _map_scales_js(selector: str) -> str:
    """JavaScript: the colour scales of a chart's feature maps (heatmaps but the inputs), each one's colours joined."""
    return (
        f"() => [...new Set({plot_js(selector)}.data.filter(t => t.type === 'heatmap' && "
        "!(t.meta && t.meta.layer === 'input')).map(t => t.colorscale.map(stop => stop[1]).join(' ')))]"
    )


def _map_scales(page, selector: str) -> set[str]:
    return set(page.evaluate(_map_scales_js(selector)))


def _scale_of(palette: str) -> str:
    """A palette's colours as ``_map_scales`` gives them (its stops are evenly spaced, see figures._rgb_scale)."""
    return " ".join(colour for _, colour in PALETTE_COLORSCALES[palette])


# What the chart showed at its first painted draw after the listener was set: a paint lasts until the page
# catches up (a busy machine's page can do so before a test reads it), so it is caught as it happens.
CATCH_PAINT_JS = """chart => { window.__paintCaught = null;
  chart.addEventListener('convlab:drawn', event => {
    if (event.detail.painted && !window.__paintCaught) window.__paintCaught = chart.convlabShown(); }); }"""


def _painted_after(page, press) -> dict:
    """``convlabShown()`` at the chart's first painted draw after ``press()`` (a key pressed on its control)."""
    chart = chart_element(page).locator(".cl-chart")
    chart.evaluate(CATCH_PAINT_JS)
    press()
    wait_until(
        page,
        "() => !!window.__paintCaught",
        what="the chart paints the next filter itself",
    )
    return chart.evaluate("() => window.__paintCaught")


def _assert_painted_in(shown: dict, palette: str) -> None:
    """The chart's painted canvases: each cell in ``palette``'s colour for its value on its panel's range."""
    assert shown["painted"] and shown["colours"], "no filter is painted"
    for key, colours in shown["colours"].items():
        values = np.array(shown["maps"][key], dtype=np.float64)
        top = values.max() or 1.0
        wanted = np.array(
            [
                plotly.colors.unlabel_rgb(colour)
                for colour in plotly.colors.sample_colorscale(
                    PALETTE_COLORSCALES[palette], list(np.clip(values.ravel() / top, 0, 1))
                )
            ]
        )
        assert np.abs(np.array(colours).reshape(-1, 3) - wanted).max() <= 2, (palette, key)


def test_the_colour_map_is_kept_in_the_url_and_paints_every_map(browser, shipped_server):
    """``palette=viridis`` in a link: the journey's maps (Plotly's and the chart's own painted canvases)
    and the filters view's tiles are viridis, the inputs stay grey, the address keeps it. Cividis
    chosen in the sidebar: everything follows and the address says so. A bad value: a note, inferno."""
    with new_page(browser, shipped_server, LAPTOP) as page:
        open_view(page, shipped_server, "journey", "palette=viridis")
        assert "palette=viridis" in page.url
        assert _map_scales(page, JOURNEY_PLOT) == {_scale_of("viridis")}
        grey = page.evaluate(
            f"() => JSON.stringify({plot_js(JOURNEY_PLOT)}.data.find(t => t.meta.layer === 'input').colorscale)"
        )
        assert "rgb(255, 255, 255)" in grey and "viridis" not in grey  # the input's own black-to-white
        chart_element(page).locator(".cl-filter").focus()
        # painted by the chart itself, before the page hears of it
        _assert_painted_in(_painted_after(page, lambda: page.keyboard.press("ArrowRight")), "viridis")

        page.locator(".st-key-palette").get_by_text("cividis").click()
        wait_until(page, "() => location.search.includes('palette=cividis')", what="the address names cividis")
        wait_idle(page)
        wait_until(
            page,
            f"wanted => ({_map_scales_js(JOURNEY_PLOT)})().join() === wanted",
            _scale_of("cividis"),
            what="the journey's maps are cividis",
        )
        shown = _painted_after(page, lambda: chart_element(page).locator(".cl-filter").press("ArrowRight"))
        _assert_painted_in(shown, "cividis")
        open_view(page, shipped_server, "filters", page.url.split("?", 1)[1])
        assert _map_scales(page, ".st-key-filters_chart") == {_scale_of("cividis")}

        open_view(page, shipped_server, "journey", "palette=rainbow")
        note = page.locator('[data-testid="stAlert"]', has_text="palette").inner_text()
        assert "Ignored palette=rainbow" in note.replace("`", "") and "inferno" in note, note
        assert _map_scales(page, JOURNEY_PLOT) == {_scale_of("inferno")}
        assert "palette=" not in page.url


# -- the maps described -------------------------------------------------------------------------
def _described(page) -> list[str]:
    return chart_element(page).locator(".cl-described li").all_text_contents()


def _expected_lines(test_split, filter_index: int, maps: list[np.ndarray]) -> list[str]:
    """What the chart should say of ``maps`` (row by row, layer by layer): each one's brightest ninth."""
    lines = []
    for number, feature_map in enumerate(maps):
        slot, layer = divmod(number, len(LAYERS))
        index = DEFAULT_IMAGES[slot]
        where = f"brightest at the {peak_place(feature_map)}" if np.max(feature_map) > 0 else "all zero"
        lines.append(
            f"{LAYERS[layer]}, filter {filter_index}, image {index} ({CLASS_NAMES[test_split.labels[index]]}): {where}"
        )
    return lines


def test_the_maps_are_described_as_the_model_computes_them(browser, shipped_server, test_split):
    """A screen reader hears, for each map on screen, its layer, filter and image and where it is
    brightest: the same ninth ``convlab.filtermeasures.peak_place`` finds (numpy) in the model's own maps; the
    chart is a figure named for what it shows, in English. A filter the chart paints itself is described at once
    (from the 8-bit maps it paints), and again from the exact maps once the page has them."""
    with new_page(browser, shipped_server, LAPTOP) as page:
        open_view(page, shipped_server, "journey")
        images = test_split.images[list(DEFAULT_IMAGES)]
        wanted = _expected_lines(test_split, DEFAULT_FILTER, shipped_conv_maps(images, DEFAULT_FILTER))
        assert _described(page) == wanted
        figure = chart_element(page).locator(".convlab-chart")
        assert figure.get_attribute("role") == "figure" and figure.get_attribute("aria-label").startswith("The journey")
        assert figure.evaluate("e => e.closest('[lang]').lang") == "en"

        for _ in range(3):
            chart_element(page).locator(".cl-filter").press("ArrowRight")
        # the maps on screen and their words, read in one go (the chart may move on between two reads)
        shown, described = chart_element(page).evaluate(
            "e => [e.querySelector('.cl-chart').convlabShown(), [...e.querySelectorAll('.cl-described li')]"
            ".map(li => li.textContent)]"
        )
        if shown["painted"]:  # the page hasn't answered yet: the words are of the painted maps
            painted = [np.array(shown["maps"][f"{slot}/{layer}"]) for slot in range(3) for layer in LAYERS]
            assert described == _expected_lines(test_split, shown["filter"], painted)
        wait_for_sliders(page, {"filter": 4}, what="the page learns filter 4")
        wanted = _expected_lines(test_split, 4, shipped_conv_maps(images, 4))
        deadline = time.monotonic() + 10
        while _described(page) != wanted and time.monotonic() < deadline:  # the exact figure, drawn a moment later
            page.wait_for_timeout(100)
        assert _described(page) == wanted


# -- motion and the keyboard ----------------------------------------------------------------------
def test_play_steps_one_filter_a_press_for_reduced_motion(browser, shipped_server):
    """With ``prefers-reduced-motion: reduce`` nothing plays by itself: ▶ becomes ⏭ (Next filter),
    each press (or Space) moves one filter and the page learns it; no speed to choose."""
    with new_page(browser, shipped_server, LAPTOP, reduced_motion="reduce") as page:
        open_view(page, shipped_server, "journey")
        element = chart_element(page)
        button = element.locator(".cl-play")
        assert button.inner_text() == "⏭" and button.get_attribute("aria-label") == "Next filter"
        assert element.locator(".cl-speed").is_hidden()
        button.click()
        wait_for_sliders(page, {"filter": DEFAULT_FILTER + 1}, what="one press: one filter on")
        page.wait_for_timeout(1500)  # a second and a half: a player would have moved on by now
        assert page.evaluate(JOURNEY_FILTER_JS)["drawn"] == DEFAULT_FILTER + 1
        element.locator(".cl-filter").press(" ")
        wait_for_sliders(page, {"filter": DEFAULT_FILTER + 2}, what="Space: one filter more")
        assert button.inner_text() == "⏭"


def _focus_ring(locator) -> str:
    """How a focused element shows its focus: its outline, else its box shadow ('' for neither)."""
    return locator.evaluate(
        "e => { const s = getComputedStyle(e); "
        "if (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2) "
        "return 'outline ' + s.outlineWidth + ' ' + s.outlineColor; "
        "return s.boxShadow !== 'none' ? 'shadow ' + s.boxShadow : ''; }"
    )


def test_the_charts_controls_take_the_keyboard_and_show_the_focus(browser, shipped_server):
    """Tab goes from ▶ to the filter slider, the speed and Plotly's toolbar buttons (camera, full
    screen), each showing a focus ring; Enter on the full-screen button fills the screen."""
    with new_page(browser, shipped_server, LAPTOP) as page:
        open_view(page, shipped_server, "journey")
        element = chart_element(page)
        element.locator(".cl-play").wait_for(state="visible")  # the control bar shows with the maps' parts
        wait_idle(page)
        element.locator(".cl-play").focus()
        page.keyboard.press("Tab")
        reached, toolbar = [], {"Full screen (Esc to leave)", "Download plot as a PNG"}
        for _ in range(12):
            focused = element.locator(":focus")
            name = focused.evaluate(
                "e => ((e.getAttribute('class') || '').match(/\\bcl-(\\w+)/) || [])[1] || e.getAttribute('aria-label')"
            )
            reached.append(name)
            assert _focus_ring(focused), f"{name} shows no focus"
            if toolbar <= set(reached):
                break
            page.keyboard.press("Tab")
        assert reached[:2] == ["filter", "speed"] and toolbar <= set(reached), reached
        while element.locator(":focus").get_attribute("aria-label") != "Full screen (Esc to leave)":
            page.keyboard.press("Shift+Tab")
        page.keyboard.press("Enter")
        wait_until(
            page,
            "() => !!document.fullscreenElement "
            "&& document.fullscreenElement === document.querySelector('" + CHART + " .convlab-chart')",
            what="Enter on the full-screen button fills the screen",
        )
        page.keyboard.press("Escape")


# -- one filter everywhere ----------------------------------------------------------------------
# Every 20 ms: the chart's filter on screen and the journey's Filter box (the page's own control).
_SAMPLE_JS = (
    "() => { window.__samples = []; window.__sampler = setInterval(() => { const j = ("
    + JOURNEY_FILTER_JS
    + ")(); if (j) window.__samples.push([performance.now(), j.drawn, j.page]); }, "
    "20); }"
)


def test_the_filter_box_follows_the_chart_while_it_plays(browser, shipped_server):
    """Playing at a quarter of a second a filter, the journey's Filter box shows the filter the chart
    shows, not the one play started from: each filter played, a round trip of the page later (never
    ahead), and playing stays on its beat while the page answers.

    Then the page's messages are held for longer than the chart waits for an answer (its report goes
    again), and let through at once: the answers to both reports arrive late, the older first. The chart
    plays on forward through them, and the box is never ahead of it. (A late answer once moved the chart
    back to the filter it answered, a full run's load was enough: the box showed a filter the chart had left.)"""
    socket = HeldSocket()
    with new_page(browser, shipped_server, LAPTOP) as page:
        socket.install(page)
        open_view(page, shipped_server, "journey")
        element = chart_element(page)
        element.locator(".cl-chart").evaluate(
            "c => { window.__draws = []; c.addEventListener('convlab:drawn', "
            "e => { if (e.detail.painted) window.__draws.push([performance.now(), "
            "e.detail.filter]); }); }"
        )
        element.locator(".cl-speed").select_option("0.25")
        page.evaluate(_SAMPLE_JS)
        element.locator(".cl-play").click()
        page.wait_for_timeout(4000)
        socket.hold()
        held_from = page.evaluate("() => performance.now()")
        page.wait_for_timeout(3600)  # past the chart's wait for an answer (control.js's ANSWER_WITHIN): it reports anew
        stalled = socket.release()
        page.wait_for_timeout(1500)
        element.locator(".cl-play").click()
        everything = page.evaluate("() => { clearInterval(window.__sampler); return window.__samples; }")
        stopped = page.evaluate(JOURNEY_FILTER_JS)["control"]
        wait_for_sliders(page, {"filter": stopped}, what="the page has the filter play stopped on")
        count = int(element.locator(".cl-count").inner_text())  # the layer's filters: play goes round
        draws = element.locator(".cl-chart").evaluate("() => window.__draws")

    samples = [sample for sample in everything if sample[0] < held_from]  # while the page answered at once
    played = sorted({drawn for _, drawn, _ in samples})
    boxed = sorted({box for _, _, box in samples})
    assert len(played) >= 12, played  # 4 s at ¼ s a filter
    # the box shows them as they go (when the page answers slower than play, it skips one now and then)
    assert len(set(boxed) & set(played)) >= len(played) // 2, f"played {played}, the box showed {boxed}"
    # How long after the chart showed each filter the box showed it too: a round trip of the page.
    first = {}
    for at, drawn, box in samples:
        first.setdefault(("chart", drawn), at)
        first.setdefault(("box", box), at)
    delays = [first[("box", f)] - first[("chart", f)] for f in played[1:-1] if ("box", f) in first]
    same = sum(drawn == box for _, drawn, box in samples) / len(samples)
    print(
        f"box behind the chart: median {statistics.median(delays):.0f} ms, most {max(delays):.0f} ms; "
        f"the same filter {same:.0%} of the time"
    )
    # A round trip of the page (about 0.1 s on a quiet 2-core machine; more while other work runs):
    # generous bounds, but a box that waits for the pause misses every filter played.
    assert statistics.median(delays) <= 300 and max(delays) <= 1500, sorted(delays)

    # Through the held answers and after: the chart only ever steps forward (round from the last filter to
    # the first), and the box is never ahead of it: it shows a filter the chart has shown (wrap-aware).
    assert stalled >= 2, f"{stalled} messages held: the page answered nothing while held, so nothing came late"
    drawn = [d for _, d, _ in everything]
    assert all((after - before) % count < count // 2 for before, after in zip(drawn, drawn[1:])), f"went back: {drawn}"
    assert len(set(drawn)) >= 30, drawn  # 9 s at ¼ s a filter
    assert all((d - b) % count < count // 2 for _, d, b in everything if b is not None), everything

    # each filter's first paint (the page's answer paints it again, in place): on the beat
    beats = np.diff([t for number, (t, shown) in enumerate(draws) if number == 0 or shown != draws[number - 1][1]])
    print(f"beats: median {statistics.median(beats):.0f} ms, {min(beats):.0f} to {max(beats):.0f} ms")
    # on its beat while the page answers (a single late beat under load is the benchmark's business)
    assert statistics.median(beats) == pytest.approx(250, abs=25), beats.round()
