"""The lesson tour on a projector and on a laptop, in Chromium (issue 21, points 2-4).

At 1024×768 in presenter mode and at 1280×720 without it (the sidebar open), every one of the
ten steps, reached with its Next button, shows its heading, its question and Reveal, and on the
journey's steps all three rows of the grid, inside the window without scrolling; in presenter
mode the grid's axis and colour-bar numbers are at least 16 px. Presenter mode's bar starts the
tour, the last step's Finish closes it, and the bar's keys line says what the keys do at the time.
One server and one page per screen size.
"""

from __future__ import annotations

import time

import pytest

from browser_support import (
    JOURNEY_FILTER_JS,
    exception_texts,
    journey_filter,
    open_app,
    save_screenshot,
    wait_drawn,
    wait_idle,
    wait_until,
)
from convlab.tour import SLUGS

pytestmark = pytest.mark.timeout(240)  # the first page also starts the server and imports TensorFlow

STEPS = len(SLUGS)
ASKING = {SLUGS.index(slug) + 1 for slug in ("boots", "pullover", "trouser", "other-filter", "trousers", "shirts")}
MIXED = {SLUGS.index(slug) + 1 for slug in ("pullover", "trouser")}  # two boots and another class, on purpose
BOOTS_STEP = SLUGS.index("boots") + 1
SCREENS = {
    "projector": ({"width": 1024, "height": 768}, "?present=1"),
    "laptop": ({"width": 1280, "height": 720}, ""),
}
MIN_TEXT = 16  # px: the grid's axis and colour-bar numbers in presenter mode
CHART = ".st-key-journey_chart .convlab-chart"  # the journey chart, in its element
FIT_TIMEOUT = 15_000  # ms: a step's grid is drawn, then redrawn for the room it reports


def _box(locator):
    """The element, once visible: ``_assert_in_view`` reads where it is."""
    locator.wait_for(state="visible")
    return locator


def _assert_in_view(name: str, where, height: int, settle_s: float = 5.0) -> None:
    """The element (a locator) ends up inside the window's height: read until the page's layout has
    settled (a step's text and grid are laid out again as the run's last elements and the fonts come
    in), failing with where it was last."""
    deadline = time.monotonic() + settle_s
    while True:
        box = where.bounding_box()
        inside = box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height
        if inside or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert box is not None, f"{name} is not drawn"
    top, bottom = box["y"], box["y"] + box["height"]
    assert top >= 0 and bottom <= height, f"{name} spans {top:.0f}..{bottom:.0f} px, outside the window's 0..{height}"


# The journey's chart, fitted: its frame (and so all three rows) ends inside the window.
_CHART_FITS_JS = (
    "selector => { const f = document.querySelector(selector); "
    "return !!f && f.getBoundingClientRect().bottom <= innerHeight && window.scrollY === 0; }"
)


def _check_journey_step(page, number: int, height: int, presenting: bool) -> None:
    # The step's filter (its URL's, written at the end of the run) in the page's box (none in presenter
    # mode while touring: the room goes to the maps) and drawn by the chart: the page has caught up with
    # the step (the app goes idle a moment before the browser redraws).
    wait_until(
        page,
        "() => { const j = (" + JOURNEY_FILTER_JS + ")(); "
        "const wanted = Number(new URLSearchParams(location.search).get('filter')); "
        f"return j && j.page === ({'null' if presenting else 'wanted'}) && j.control === wanted "
        "&& j.drawn === wanted && j.exact; }",
        what=f"step {number}'s grid shows its filter",
    )
    wait_until(page, _CHART_FITS_JS, CHART, what=f"step {number}'s grid fits the window", timeout=FIT_TIMEOUT)
    wait_idle(page)
    _assert_in_view(f"step {number}'s chart", _box(page.locator(CHART)), height)
    panels = page.locator(CHART).locator(".heatmaplayer image")
    assert panels.count() == 15, panels.count()  # 3 rows × (input + conv1, pool1, conv2, pool2)
    for row in range(3):
        _assert_in_view(f"step {number}'s row {row + 1}", panels.nth(5 * row + 4), height)
    if presenting:
        chart = page.locator(CHART)
        sizes = "els => els.map(e => parseFloat(getComputedStyle(e).fontSize))"  # the SVG text as rendered
        numbers = chart.locator(".ytick text").evaluate_all(sizes)
        bars = chart.locator(".colorbar text").evaluate_all(sizes)
        titles = chart.locator(".annotation-text").evaluate_all(sizes)
        assert numbers and min(numbers) >= MIN_TEXT, numbers
        assert titles and min(titles) >= MIN_TEXT, titles
        assert number != BOOTS_STEP or bars, "the boots' step shares a colour scale per layer: it has colour bars"
        assert not bars or min(bars) >= MIN_TEXT, bars
    if number in MIXED:  # the tour's words say the classes are mixed on purpose: no generic note
        assert page.locator('[data-testid="stAlertContainer"]').filter(has_text="don't share a label").count() == 0


def _keys_line(page) -> str:
    return page.locator(".st-key-presenter_bar").inner_text()


@pytest.mark.parametrize("screen", list(SCREENS))
def test_every_tour_step_and_its_grid_fit_the_screen(browser, shipped_server, screen):
    viewport, query = SCREENS[screen]
    height, presenting = viewport["height"], bool(query)
    with open_app(browser, shipped_server, query=query, viewport=viewport) as page:
        if presenting:
            assert "← → filter" in _keys_line(page) and "step the tour" not in _keys_line(page)
            page.locator(".st-key-presenter_bar .st-key-present_class_start button:visible").wait_for()  # the class
            page.locator(".st-key-present_tour_start button:visible").click()  # the bar starts the tour
        else:
            wait_drawn(page)  # the journey's chart as drawn for its room: then it must not be drawn again
            page.locator(CHART + " .cl-chart").evaluate(
                "d => { window.__journey = d; window.__plots = 0; d.on('plotly_afterplot', () => window.__plots++); }"
            )
            page.locator(".st-key-tour_start button:visible").click()
        tour = page.locator(".st-key-tour")
        for number in range(1, STEPS + 1):
            wait_until(page, f"() => location.search.includes('tour={number}')", what=f"step {number} opens")
            heading = tour.get_by_text(f"Step {number} of {STEPS}:")
            heading.wait_for()
            wait_idle(page)
            if number == 1 and not presenting:
                # Step 1 opens Compare in the run the click asks for. The journey's chart, rendered as that run
                # starts, has left the page before its draw: kept aside as it was, not drawn again at no width.
                kept = page.evaluate("() => [__journey.isConnected, !!__journey._fullLayout, __plots]")
                assert kept == [False, True, 0], kept
            if page.locator(CHART).is_visible():
                _check_journey_step(page, number, height, presenting)
            _assert_in_view(f"step {number}'s heading", _box(heading), height)
            _assert_in_view(
                f"step {number}'s lead",
                _box(page.locator(".st-key-tour_text [data-testid='stMarkdownContainer']").first),
                height,
            )
            reveal = page.locator(".st-key-tour_text button:visible", has_text="Reveal")
            if number in ASKING:
                _assert_in_view(f"step {number}'s question", _box(tour.locator("strong", has_text="❓")), height)
                _assert_in_view(f"step {number}'s Reveal", _box(reveal), height)
            else:
                assert reveal.count() == 0
            assert page.evaluate("() => window.scrollY") == 0
            if presenting:
                assert "← → step the tour" in _keys_line(page), _keys_line(page)
            if number == BOOTS_STEP:
                save_screenshot(page, f"tour-boots-{screen}")
            if number == BOOTS_STEP and presenting:
                # One meaning per key: → on the page steps the tour, not also the grid's filter.
                filter_before = journey_filter(page)["page"]
                page.evaluate("() => document.activeElement && document.activeElement.blur()")
                page.keyboard.press("ArrowRight")
                wait_until(page, f"() => location.search.includes('tour={number + 1}')", what="→ steps the tour")
                wait_idle(page)
                assert journey_filter(page)["page"] == filter_before  # the next step keeps the boots' filter
                continue
            if number < STEPS:
                assert page.locator(".st-key-tour_finish").count() == 0
                page.locator(f".st-key-tour_next_{number} button:visible").click()
        # The last step: Next has become Finish, which closes the tour.
        assert page.locator("[class*='st-key-tour_next_']").count() == 0
        page.locator(".st-key-tour_finish button:visible").click()
        wait_until(page, "() => !location.search.includes('tour=')", what="Finish closes the tour")
        tour.wait_for(state="detached")
        if presenting:
            page.locator(".st-key-present_tour_start button:visible").wait_for()  # the bar offers the tour again
            assert "step the tour" not in _keys_line(page)
        assert exception_texts(page) == []
