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
from ui import runtime
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


def test_streamlits_chart_code_is_fetched_while_the_first_view_is_looked_at(browser, shipped_server):
    """Streamlit loads its Plotly chart's code the first time a view shows an st.plotly_chart; the page
    asks for it in the browser's idle time after the journey is drawn (``ui.page.prefetch_chart_code``),
    so a later view's first chart doesn't wait for it. The journey itself shows no st.plotly_chart."""
    chunk = runtime.streamlit_chunk("PlotlyChart")
    assert chunk, "this Streamlit names no single PlotlyChart chunk in its page script: see ui/runtime.py"
    with open_app(browser, shipped_server, fresh=True) as page:  # a first visit: nothing cached yet
        # the journey: its chart is the component's, in the page (.convlab-chart), not an st.plotly_chart
        plots = (
            "() => [...document.querySelectorAll('.js-plotly-plot')].filter(p => !p.closest('.convlab-chart')).length"
        )
        assert page.evaluate(plots) == 0
        assert page.locator(".convlab-chart .js-plotly-plot").count() == 1
        wait_until(
            page,
            "name => performance.getEntriesByType('resource').some(e => e.name.endsWith('/' + name))",
            chunk,
            what="the page fetched Streamlit's chart code before any view needed it",
        )
        open_view(page, "compare")
        wait_drawn(page)
        fetched = page.evaluate(
            "name => performance.getEntriesByType('resource').filter(e => e.name.endsWith('/' + name)).length", chunk
        )
        assert fetched == 1, fetched  # Streamlit's own import found it loaded: no second request


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
