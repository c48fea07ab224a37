"""The page's navigation: the views as Streamlit pages in the top bar, grouped by what a
person wants to do, each with its own address (/filters, /lab, ...).

The section holding the open view names it ("The lesson: 🧩 Filters"), so the current view is
in sight at 1024 px as at 1280. Views never switch pages themselves: they ask for a view
(``state.open_tab``), and the next run opens it here; an old link's ``?tab=filters`` does the same.
That run opens it at once (``runtime.open_instead``), rather than drawing the old page's start and
switching with ``st.switch_page``: a second run, and a tour step 45 ms slower (docs/performance.md).
The class's view, known only after the navigation is drawn, still switches.
"""

from __future__ import annotations

from typing import Callable

import streamlit as st

from . import runtime, state

SECTIONS = {  # section -> its views' slugs, in the order a lesson meets them
    "The lesson": ("journey", "filters", "predictions"),
    "How and why": ("looked", "portraits"),
    "Training": ("replay", "lab", "compare"),
    "Beyond": ("probe", "draw", "upload"),
}
DEFAULT = "journey"
# The default view is served at "/", yet Streamlit reserves its url_path without serving it: /journey, which
# its siblings' addresses (/filters, /lab) invite, said "Page not found". A hidden page there sends it to "/".
RESERVED = "journey-default"


def navigate(views: dict[str, Callable[[], None]]) -> tuple[str, dict[str, st.Page]]:
    """Declare the views as pages (``views``: slug -> what draws it) and return the open view's
    slug, with the pages (``pages[slug].run()`` draws one)."""
    pages = {
        slug: st.Page(
            draw,
            title=state.TITLES[slug],
            icon=state.ICONS[slug],
            url_path=RESERVED if slug == DEFAULT else slug,
            default=slug == DEFAULT,
        )
        for slug, draw in views.items()
    }
    alias = st.Page(_to_default, title=state.TITLES[DEFAULT], url_path=DEFAULT, visibility="hidden")
    asked = runtime.requested_page(pages) or DEFAULT
    pending = state.asked_since_last_run()  # a button's or a link's view: this run opens it
    if pending in pages and pending != asked and runtime.open_instead(pages[pending]):
        asked = pending
    sections = {_label(section, slugs, asked): [pages[slug] for slug in slugs] for section, slugs in SECTIONS.items()}
    next(iter(sections.values())).append(alias)
    opened = st.navigation(sections, position="top")
    if opened is alias:
        st.switch_page(pages[DEFAULT])  # the page's state came from the address already (state.apply_url_once)
    slug = next(slug for slug, page in pages.items() if page is opened)
    state.view_opened(slug)
    return slug, pages


def _to_default() -> None:
    """/journey's page: never drawn (``navigate`` switches to the default page first)."""


def _label(section: str, slugs: tuple[str, ...], open_now: str) -> str:
    if open_now not in slugs:
        return section
    return f"{section}: **{state.ICONS[open_now]} {state.TITLES[open_now]}**"


def go_where_asked(slug: str, pages: dict[str, st.Page]) -> None:
    """Switch to the view a link, a button or the class asked for, if it isn't the open one (``slug``: after
    ``navigate`` the page's open view, so ``state.asked_since_last_run`` names only a view asked for since)."""
    asked = state.asked_since_last_run()
    if asked in pages and asked != slug:
        st.switch_page(pages[asked])
