"""The page around the views: its CSS, and small scripts it runs (scrolling, the sidebar)."""

from __future__ import annotations

import streamlit as st

# Less empty space below the top bar (its navigation: ui/navigation.py; Streamlit's default gap is
# large), so the journey's controls and its three rows fit a 1280×720 laptop screen; the collapsed
# sidebar's button says what the sidebar holds; hidden script holders.
CSS = """<style>
[data-testid="stMainBlockContainer"] { padding-top: 4.2rem; padding-bottom: 3rem; }
[data-testid="stExpandSidebarButton"]::after { content: "Model · tour · class"; margin-left: 0.3rem;
  font-size: 0.875rem; white-space: nowrap; }
[class*="st-key-script_"], [data-testid="stLayoutWrapper"]:has(> [class*="st-key-script_"]) { display: none; }
button:focus-visible, a:focus-visible, summary:focus-visible {
  outline: 2px solid #b83140 !important; outline-offset: 2px; }
</style>"""
# That last rule: the keyboard's focus in sight on every button and link (WCAG 2.4.7). Streamlit's own
# ring is a faint grey on the top bar's and the header's buttons and missing on a picture's full-screen
# button (its "outline: none" wins without !important); #b83140 is the theme's primary colour
# (.streamlit/config.toml), 5.9:1 on white.
NARROW_SCREEN = 1100  # px: below this the sidebar starts collapsed (a 1024×768 projector)
# Once per browser tab: a narrow window starts with the sidebar out of the way (Streamlit's own
# "auto" collapses it only on phones).
COLLAPSE_SIDEBAR_JS = f"""
if (window.innerWidth < {NARROW_SCREEN} && !sessionStorage.getItem("convlab-sidebar-checked")) {{
  let tries = 0;
  const timer = setInterval(() => {{
    const button = document.querySelector('[data-testid="stSidebar"] button[aria-label="Collapse sidebar"]');
    const open = document.querySelector('[data-testid="stSidebar"][data-collapsed="false"]');
    if ((button && open) || ++tries > 40) clearInterval(timer);
    if (button && open) {{ button.click(); sessionStorage.setItem("convlab-sidebar-checked", "1"); }}
  }}, 100);
}}
"""


# Presenter mode: a projector at 1024×768 read from the back of a room. No sidebar, no helper
# texts, and every size grows with the root font (Streamlit sizes in rem): body text and widget
# labels 20 px, headings larger; the gaps between elements stay small, so that the journey (and the
# tour's strip above it) fit the screen. The bar is the teacher's, in smaller type: the keys as they
# work now, the tour, the class and the way out.
PRESENTER_CSS = """<style>
html { font-size: 20px; }
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"],
[data-testid="stCaptionContainer"], [data-testid="stTooltipIcon"]:not(:has([data-testid^="stBaseButton"])),
[data-testid="stElementToolbar"] { display: none !important; }
[data-testid="stMainBlockContainer"] { max-width: 100%; padding: 2.5rem 1.2rem 2rem; }
[data-testid="stHeader"], [data-testid="stHeader"] [data-testid="stToolbar"] { height: 2.3rem; min-height: 2.3rem; }
[data-testid="stTopNav"] [data-testid="stMarkdownContainer"] p { font-size: 0.9rem; }
[data-testid="stMainBlockContainer"] [data-testid="stVerticalBlock"] { gap: 0.5rem; }
[data-testid="stWidgetLabel"] p, [data-testid="stMarkdownContainer"] p { font-size: 1rem; }
div.st-key-presenter_bar [data-testid="stMarkdownContainer"] p { font-size: 0.8rem; }
div.st-key-presenter_bar button { min-height: 1.6rem; padding: 0 0.6rem; }
div.st-key-presenter_bar button p { font-size: 0.8rem; }
div.st-key-presenter_bar { overflow: visible; }
</style>"""
# The keys as they work now, one meaning each: while the tour is open ← / → step it (the journey's
# chart then takes its filter keys only once clicked); else, on the journey's tab, presenter mode's
# keys anywhere on the page; on another tab they do nothing.
PRESENTER_KEYS = "**Keys:** ← → filter · Page Up / Down ±10 % · Space plays · 1 2 3 pick an image, ↑ ↓ step it"
PRESENTER_TOUR_KEYS = "**Keys:** ← → step the tour · click the grid's filter slider for the filter keys"
PRESENTER_TOUR_ELSEWHERE_KEYS = "**Keys:** ← → step the tour"
PRESENTER_ELSEWHERE_KEYS = "**Keys** on 🔍 Journey: ← → filter · Page Up / Down ±10 % · Space plays · 1 2 3 · ↑ ↓"


CLASS_WIDTH = 270  # px: the presenter bar's room for a teacher's "📣 CODE" and "End class"


def style() -> None:
    st.html(CSS)


def keys_line(touring: bool, journey: bool) -> str:
    """The keys line for a page with the tour open (``touring``) or not, on the journey's tab or another."""
    if touring:
        return PRESENTER_TOUR_KEYS if journey else PRESENTER_TOUR_ELSEWHERE_KEYS
    return PRESENTER_KEYS if journey else PRESENTER_ELSEWHERE_KEYS


def presenter_bar(leave, tour_button=None) -> None:
    """Presenter mode's styles and its one compact line (the sidebar, with its switches, is hidden):
    the keys as they work now, ``tour_button`` (draws the tour's start while it is closed; the open
    tour's strip has Back / Next / Finish / Close), the class controls and the way out."""
    from . import classroom, state

    st.html(PRESENTER_CSS)
    with st.container(key="presenter_bar", horizontal=True, vertical_alignment="center", gap="small", wrap=False):
        journey = st.session_state.get(state.TAB, "journey") == "journey"
        st.markdown(keys_line(bool(st.session_state.get(state.TOUR)), journey), width="stretch")
        if tour_button is not None:
            tour_button()
        # The class: start it, or a teacher's two buttons (the code, End) sharing the room in two columns.
        teaching = classroom.role() == "teacher"
        classroom.presenter_class_ui(st.container(key="presenter_class", width=CLASS_WIDTH if teaching else "content"))
        st.button("✕ Exit presenter", key="leave_presenter", on_click=leave)


def collapse_sidebar_on_narrow_screens() -> None:
    page_script("sidebar", COLLAPSE_SIDEBAR_JS)


def page_script(name: str, script: str) -> None:
    """Run ``script`` in the page itself (not in an iframe): scrolling, the sidebar.

    The script runs when its element is new: a script that must run again after an action
    carries that action's number (see ``scroll_into_view``).
    """
    with st.container(key=f"script_{name}"):
        st.html(f"<script>{script}</script>", unsafe_allow_javascript=True)


def request_scroll(selector: str) -> None:
    """Ask the next run to bring ``selector`` into view (after a choice that changes what it shows)."""
    st.session_state["scroll_to"] = (selector, st.session_state.get("scroll_to", (None, 0))[1] + 1)


def scroll_into_view() -> None:
    """Bring into view what ``request_scroll`` asked for, once, when the element is on the page."""
    request = st.session_state.pop("scroll_to", None)
    if request is None:
        return
    selector, number = request
    page_script(
        "scroll",
        f"""/* scroll {number} */
const wanted = {selector!r};
let tries = 0;
const timer = setInterval(() => {{
  const element = document.querySelector(wanted);
  if (element || ++tries > 50) clearInterval(timer);
  // a smooth scroll is motion: not for someone whose system asks for less
  const still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  if (element) element.scrollIntoView({{behavior: still ? "auto" : "smooth", block: "start"}});
}}, 100);""",
    )
