"""Every view, found and read, in Chromium (issue 22): at 1280×720 with the sidebar open and at
1024×768 in presenter mode.

The top bar's navigation shows every section without scrolling or folding any away, and names the
open view; each view opens through it with no error, nothing cut off (``clip_support``) and no
serious or critical axe-core violation of WCAG 2.1 A/AA (``axe_support``), in its frames too. The collapsed
sidebar (a 1024-px window) says
what it holds. An old link's ``?tab=`` opens its view at its own address. One server (the shared
``shipped_server``) and one page per screen size.
"""

from __future__ import annotations

import pytest

from axe_support import axe_violations
from browser_support import exception_texts, open_app, open_view, save_screenshot, wait_drawn, wait_idle, wait_until
from clip_support import clipped_texts
from ui.navigation import SECTIONS
from ui.state import TITLES

pytestmark = pytest.mark.timeout(420)  # twenty views, a few of them first visits

SCREENS = {
    "laptop": ({"width": 1280, "height": 720}, ""),
    "projector": ({"width": 1024, "height": 768}, "?present=1"),
}
VIEW_READY_TIMEOUT = 60_000  # ms: a view's first visit on a busy machine

# The navigation's sections: their labels, whether each is inside the window, and whether the bar
# folded any into an overflow menu (rc-overflow hides an item it has no room for).
NAV_JS = """() => [...document.querySelectorAll('[data-testid="stTopNav"] .rc-overflow-item')].map(item => {
  const box = item.getBoundingClientRect();
  const hidden = getComputedStyle(item).opacity === '0' || item.getAttribute('aria-hidden') === 'true';
  return {text: item.innerText.trim(), left: box.left, right: box.right, hidden};
})"""


def _check_navigation(page, slug: str, width: int) -> None:
    items = page.evaluate(NAV_JS)
    sections = [item for item in items if item["text"]]
    assert len(sections) == len(SECTIONS), items  # no overflow menu: all sections, each its own item
    for item, section in zip(sections, SECTIONS):
        assert item["text"].startswith(section) and not item["hidden"], items
        assert 0 <= item["left"] and item["right"] <= width, (item, width)
    named = [item["text"] for item in sections if TITLES[slug] in item["text"]]
    assert named, f"no section names the open view {TITLES[slug]}: {items}"


@pytest.mark.parametrize("screen", list(SCREENS))
def test_every_view_opens_from_the_navigation_named_uncut_and_accessible(browser, shipped_server, screen):
    viewport, query = SCREENS[screen]
    problems = {}
    with open_app(browser, shipped_server, query=query, viewport=viewport) as page:
        _check_navigation(page, "journey", viewport["width"])
        for slugs in SECTIONS.values():
            for slug in slugs:
                open_view(page, slug)
                wait_idle(page, timeout=VIEW_READY_TIMEOUT)
                wait_drawn(page)
                wait_until(
                    page,
                    "title => [...document.querySelectorAll('[data-testid=stTopNavSection]')]"
                    ".some(s => s.innerText.includes(title))",
                    TITLES[slug],
                    what=f"the navigation names {TITLES[slug]}",
                )
                _check_navigation(page, slug, viewport["width"])
                assert exception_texts(page) == [], slug
                save_screenshot(page, f"view-{screen}-{slug}")
                problems[slug] = clipped_texts(page) + axe_violations(page)
    assert not {slug: found for slug, found in problems.items() if found}, problems


def test_the_collapsed_sidebar_says_what_it_holds_and_old_links_open_their_view(browser, shipped_server):
    with open_app(
        browser, shipped_server, query="?tab=lab&filter=5", viewport={"width": 1024, "height": 768}, journey_traces=None
    ) as page:
        wait_until(
            page,
            "() => location.pathname === '/lab' && location.search.includes('filter=5')",
            what="the old link's view opens at its own address, with its filter",
        )
        page.locator(".st-key-lab_blocks").wait_for(state="visible")
        button = page.locator('[data-testid="stExpandSidebarButton"]')
        button.wait_for(state="visible")  # a 1024-px window starts with the sidebar collapsed
        # The page's CSS is sent again by the run the old link's view switch starts: read once it is in.
        wait_until(
            page,
            "() => /Model/.test(getComputedStyle(document.querySelector("
            "'[data-testid=\"stExpandSidebarButton\"]'), '::after').content)",
            what="the collapsed sidebar's button says what it holds",
        )
        said = button.evaluate("b => getComputedStyle(b, '::after').content")
        assert "Model" in said and "tour" in said and "class" in said, said
        box = button.bounding_box()
        assert box["width"] > 100, box  # the words take room: not an unlabelled "»"
        button.click()
        page.get_by_role("button", name="Lesson tour").wait_for(state="visible")
        # /journey, as the other views' addresses invite: the journey (served at /), with the link's filter.
        page.goto(shipped_server.url + "/journey?filter=6", wait_until="domcontentloaded")
        wait_until(
            page,
            "() => location.pathname === '/' && location.search.includes('filter=6')",
            what="/journey opens the journey at / with its filter",
        )
        wait_idle(page)
        assert "Page not found" not in page.content()
        page.locator(".st-key-journey_chart").wait_for(state="visible")


def test_every_chart_is_the_pages_own_and_streamlits_chart_code_is_never_fetched(browser, shipped_server):
    """Every chart is drawn by the chart component (``ui/charts.py``), in the page, with the cartesian
    plotly.js it loads once: the views with the most charts open without Streamlit's own chart code (a
    second, full plotly.js) ever being fetched, and a click on the confusion matrix still picks its cell."""
    with open_app(browser, shipped_server, fresh=True) as page:  # a first visit: nothing cached yet
        for slug in ("predictions", "portraits", "compare"):
            open_view(page, slug)
            wait_drawn(page, timeout=VIEW_READY_TIMEOUT)
            plots = page.evaluate(
                "() => [...document.querySelectorAll('.js-plotly-plot')].map(p => !!p.closest('.convlab-chart'))"
            )
            assert plots and all(plots), (slug, plots)
        fetched = page.evaluate(
            "() => performance.getEntriesByType('resource').map(e => e.name).filter(n => /PlotlyChart/.test(n))"
        )
        assert fetched == [], fetched
        assert exception_texts(page) == []


def test_a_view_opened_again_shows_its_kept_chart_and_redraws_it_only_when_its_figure_changed(browser, shipped_server):
    """A view left takes its charts off the page; opened again, the journey's chart is the one drawn before
    (the same Plotly div, put back), not drawn again when the page's figure is the same; when the figure
    changed meanwhile (a filter chosen in the Filters view) the kept chart draws the new one."""
    chart = ".st-key-journey_chart .cl-chart"
    with open_app(browser, shipped_server) as page:
        wait_drawn(page)
        page.locator(chart).evaluate(
            "d => { d.convlabMark = 'kept'; window.__plots = 0; d.on('plotly_afterplot', () => window.__plots++); }"
        )
        before = page.locator(chart).evaluate("d => d.convlabShown()")
        open_view(page, "compare")
        wait_drawn(page)
        assert page.locator(chart).count() == 0  # off the page while another view shows
        open_view(page, "journey")
        wait_drawn(page)
        assert page.locator(chart).evaluate("d => d.convlabMark") == "kept"
        assert page.evaluate("() => window.__plots") == 0  # the same figure: not drawn again
        again = page.locator(chart).evaluate("d => d.convlabShown()")
        assert again["maps"] == before["maps"] and again["filter"] == before["filter"]

        open_view(page, "filters")
        wait_drawn(page)
        chosen = (before["filter"] + 5) % 64
        box = page.locator(".st-key-filter_pick input")
        box.fill(str(chosen))
        box.press("Enter")
        wait_until(page, "f => location.search.includes('filter=' + f)", chosen, what="the Filters view's filter")
        open_view(page, "journey")
        wait_until(
            page,
            f"f => {{ const d = document.querySelector('{chart}'); return d && d.dataset.filter === String(f) "
            "&& d.dataset.exact === 'yes' && window.__plots > 0; }",
            chosen,
            what="the kept chart draws the new filter's figure",
        )
        assert page.locator(chart).evaluate("d => d.convlabMark") == "kept"
        shown = page.locator(chart).evaluate("d => d.convlabShown()")
        assert shown["filter"] == chosen and shown["maps"] != before["maps"]
        assert exception_texts(page) == []
