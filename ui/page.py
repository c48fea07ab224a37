"""The page around the views: its CSS, and small scripts it runs (scrolling, the sidebar)."""

from __future__ import annotations

import streamlit as st

# Less empty space above the tabs (Streamlit's default is large), so the journey's controls and
# its three rows fit a 1280×720 laptop screen; hidden script holders; even thumbnails.
CSS = """<style>
[data-testid="stMainBlockContainer"] { padding-top: 2.6rem; padding-bottom: 3rem; }
[class*="st-key-script_"] { display: none; }
[class*="_thumbnails"] img { image-rendering: pixelated; }
[class*="_thumbnails"] [data-testid="stImageCaption"] { min-height: 4.2em; }
</style>"""
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
# labels 20 px, headings larger.
PRESENTER_CSS = """<style>
html { font-size: 20px; }
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"],
[data-testid="stHeader"], [data-testid="stCaptionContainer"], [data-testid="stTooltipIcon"],
[data-testid="stElementToolbar"] { display: none !important; }
[data-testid="stMainBlockContainer"] { max-width: 100%; padding: 0.4rem 1.2rem 2rem; }
[data-testid="stWidgetLabel"] p, .stTabs [role="tab"] p, [data-testid="stMarkdownContainer"] p { font-size: 1rem; }
</style>"""
PRESENTER_KEYS = "**Keys:** ← → filter · Page Up / Down ±10 % · Space plays the filters · 1 2 3 pick an image, ↑ ↓ step it"


def style() -> None:
    st.html(CSS)


def presenter_bar(leave) -> None:
    """Presenter mode's styles and its one line: the keys, and the way out (the sidebar, with its
    switch, is hidden)."""
    st.html(PRESENTER_CSS)
    keys, out = st.columns([3.2, 1], vertical_alignment="center")
    keys.markdown(PRESENTER_KEYS)
    out.button("✕ Exit presenter", key="leave_presenter", on_click=leave, width="stretch")


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
    page_script("scroll", f"""/* scroll {number} */
const wanted = {selector!r};
let tries = 0;
const timer = setInterval(() => {{
  const element = document.querySelector(wanted);
  if (element || ++tries > 50) clearInterval(timer);
  if (element) element.scrollIntoView({{behavior: "smooth", block: "start"}});
}}, 100);""")
