"""tests/clip_support.py against pages made by hand in Chromium: what is cut off is reported, what fits
or merely scrolls out of view is not; Plotly texts on top of each other or running together; and a
grid column narrower than its words (``narrow_columns``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly
import pytest

from browser_support import require_browser
from clip_support import clipped_texts, narrow_columns, text_widths

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
FONT = "font: 16px sans-serif; white-space: nowrap;"


@pytest.fixture
def page(browser):
    require_browser(browser)
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    yield context.new_page()
    context.close()


def test_words_cut_off_by_their_box_or_an_ellipsis_are_reported_and_the_rest_not(page):
    page.set_content(f"""<body style="margin: 0">
      <div class="st-key-cut" style="width: 60px; overflow: hidden; {FONT}"><button>Replay its training</button></div>
      <button style="width: 70px; overflow: hidden; text-overflow: ellipsis; {FONT}">Show in the journey</button>
      <div style="width: 400px; overflow: hidden; {FONT}"><button>Fits easily</button></div>
      <div style="display: none; width: 10px; overflow: hidden; {FONT}">Hidden, so nobody sees it cut</div>
      <div style="height: 40px; overflow: auto;"><div style="height: 400px"></div><p>Below, scrolled to</p></div>
      <p style="width: 100px; {FONT}">Overflowing but visible words, all of them on the page</p>
    </body>""")
    found = clipped_texts(page)
    assert len(found) == 2, found
    assert found[0].startswith('button "Replay its training" in cut: cut off by its box')
    assert found[1].startswith('button "Show in the journey": ends in "…"')


def test_words_past_the_windows_right_edge_are_reported(page):
    page.set_content(f'<h2 style="margin-left: 980px; {FONT}">best test accuracy</h2>')
    [found] = clipped_texts(page)
    assert found.startswith('heading "best test accuracy": runs past the window\'s right edge by')


def plot(page, layout: dict, traces: list[dict], width: int = 420) -> None:
    page.set_content(f'<div id="chart" style="width: {width}px; height: 300px"></div>')
    page.add_script_tag(path=str(PLOTLY_JS))
    page.evaluate("([data, layout]) => Plotly.newPlot('chart', data, layout)", [traces, layout])


LINES = [
    {"type": "scatter", "x": [1, 2, 3], "y": [0.5, 0.7, 0.8], "name": f"a long run name · {split}"}
    for split in ("train", "test", "best")
]


def test_a_legend_on_the_axis_title_is_reported_and_one_above_the_plot_is_not(page):
    below = {
        "xaxis": {"title": {"text": "epoch"}},
        "legend": {"orientation": "h", "y": -0.1},
        "margin": {"l": 40, "r": 10, "t": 10, "b": 60},
        "font": {"size": 20},
    }
    plot(page, below, LINES)
    found = clipped_texts(page)
    assert any(
        'legend entry "a long run name' in line and 'title "epoch"' in line and "on top of each other" in line
        for line in found
    ), found
    above = {**below, "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"}}
    plot(page, above, LINES)
    assert clipped_texts(page) == []


def test_headings_that_touch_run_together_and_headings_apart_do_not(page):
    """Touching boxes leave only their padding between the words ("26×26pool1", the replay's headings in
    issue 22); a space's worth apart, they read as two."""

    def headings(gap: float) -> dict:
        label = {
            "xref": "paper",
            "yref": "paper",
            "y": 1,
            "yanchor": "bottom",
            "showarrow": False,
            "font": {"size": 15},
        }
        return {
            "annotations": [
                {**label, "text": "conv1 · 26×26", "x": 0.5, "xanchor": "right"},
                {**label, "text": "pool1 · 13×13", "x": 0.5 + gap, "xanchor": "left"},
            ],
            "margin": {"t": 40},
            "xaxis": {"visible": False},
            "yaxis": {"visible": False},
        }

    plot(page, headings(-0.006), [])  # plotly parts right- and left-anchored boxes by 1 px: make them touch
    found = clipped_texts(page)
    assert len(found) == 1 and "run together" in found[0] and '"conv1 · 26×26"' in found[0], found
    plot(page, headings(0.05), [])
    assert clipped_texts(page) == []


def test_a_grid_column_narrower_than_its_words_is_named(page):
    page.set_content("<body></body>")
    frame = pd.DataFrame(
        {"run": ["dense (lesson)", "conv 16, dense 128, 3 epochs, train samples 1,000"], "params": [101_770, 347_690]}
    )
    assert narrow_columns(page, frame, {"run": {"width": 400}, "params": {}}) == []
    [found] = narrow_columns(page, frame, {"run": {"width": "medium"}})
    assert found.startswith("column 'run': 200px wide, its widest text needs")
    # Numbers as the grid writes them: a width between "347690" and "347,690" fits the plain number only.
    import streamlit as st

    plain, separated = text_widths(page, ["347690", "347,690"])
    width = round((plain + separated) / 2) + 16  # 16: a cell's padding
    numbers = pd.DataFrame({"n": [347_690]})  # a header narrower than its number
    [found] = narrow_columns(page, numbers, {"n": st.column_config.NumberColumn(format="localized", width=width)})
    assert found.startswith(f"column 'n': {width}px wide")
    assert narrow_columns(page, numbers, {"n": st.column_config.NumberColumn(format="%d", width=width)}) == []
