"""Charts on the page: every Plotly figure goes through ``chart`` or ``live_chart``.

Figures are built as plain dicts by ``convlab.figures``; here they meet Streamlit: the PNG
export settings, the maps' colour map the page chose (``figures.recoloured``: every map of every
view in one palette), the charts updated in place (``components/plotly_react``, an ``st.components.v2``
component in the page's own DOM) and the test-image thumbnails.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import io
import os
import re
import shutil

import numpy as np
import streamlit as st

from convlab.data import CLASS_NAMES
from convlab.figures.journey import JourneyStyle, journey_of, row_titles
from convlab.figures.scales import DEFAULT_PALETTE, PALETTES, recoloured
from convlab.figures.typed import pack

from . import assets

PLOT_CONFIG = {
    "displaylogo": False,
    "toImageButtonOptions": {"format": "png", "scale": 2},
    # Nothing leaves the machine: no "Share chart…" / "Edit in Chart Studio" (Plotly's cloud).
    "showSendToCloud": False,
    "showEditInChartStudio": False,
    "modeBarButtonsToRemove": ["sendDataToCloud", "editInChartStudio"],
}


PALETTE = "palette"  # session key: the maps' colour map (figures.scales.PALETTES), each page's own, never a class's


def palette() -> str:
    """The maps' colour map the page chose (``ui.state.palette_ui``); the lesson's inferno until one is chosen."""
    chosen = st.session_state.get(PALETTE)
    return chosen if chosen in PALETTES else DEFAULT_PALETTE


def chart(figure: dict, key: str, on_select=None) -> None:
    """A chart that doesn't fit itself to the room or scrub (every chart but the journey's and the filters grid's).

    Drawn by the same component as the live charts (not ``st.plotly_chart``, whose chart is drawn anew every
    time its view opens, with a second, full plotly.js): a view opened again shows it as it was drawn. With
    ``on_select``, a click calls it; ``chart_event(key)`` then gives the click: on a map's cell as
    ``live_chart``'s clicks, on any other point ``{"kind": "click", "click": {"panel": None, "x", "y", "curve",
    "point"}}``.
    """
    title = figure.get("layout", {}).get("title")  # a screen reader's name for it
    title = title.get("text") if isinstance(title, dict) else title
    picks = on_select is not None
    live_chart(figure, key, clicks=picks, points=picks, on_change=on_select, title=title or "Chart")


# The journey's chart is redrawn on every slider move. st.plotly_chart gives a chart whose data
# changed a new identity, so the page would tear the old chart down and mount a new one; this
# component (components/plotly_react) keeps one chart and hands it each figure through
# Plotly.react. It is an st.components.v2 component mounted in the page's own DOM (an iframe per
# chart ran plotly.js again on every view opened): its modules and plotly.js's cartesian bundle
# (vendor/plotly.js-cartesian: the same release as the plotly package's, a third of its parse time)
# come from ui/assets.py's route, where the browser keeps them, plotly.js once per page; the journey's
# packed maps reach it there too, as files named by their content's hash: the page's reruns then carry
# a file name, and the browser fetches each set of maps once.
MAPS_DIR = assets.MAPS_DIR
MAPS_KEPT = 256  # files; the oldest go first (a set is about 200 KB)
atexit.register(shutil.rmtree, MAPS_DIR, ignore_errors=True)


CHART_FILES = assets.ROOTS["plotly_react"]
GALLERY_FILES = CHART_FILES.parent / "gallery"  # read once, into the component (not served as modules)


@st.cache_resource(show_spinner=False)
def _chart_component():
    """The chart's mount callable, registered once (in a run, as every component here): its markup (without
    its long comment), its CSS, all under ``.convlab-chart``, and ``loader.js``, which imports ``main.js``
    from the address in each mount's data. ``isolate_styles=False``: in the page's DOM, no shadow root, so
    Plotly's own stylesheet (which it adds to the page's head) reaches the chart."""
    html = re.sub(r"<!--.*?-->", "", (CHART_FILES / "chart.html").read_text(encoding="utf-8"), flags=re.S).strip()
    return st.components.v2.component(
        "plotly_react",
        html=html,
        css=(CHART_FILES / "chart.css").read_text(encoding="utf-8"),
        js=(CHART_FILES / "loader.js").read_text(encoding="utf-8"),
        isolate_styles=False,
    )


def _ignore() -> None:
    """The report's callback when the caller has none: components v2 knows a state by its ``on_<name>_change``
    (the names its defaults and session-state writes accept). (The state isn't named "value": Streamlit reads a
    state dict of "value" alone as the old protocol's value, and calls no callback for it.)"""


def publish(data: bytes) -> str:
    """Serve ``data`` to the browser (``ui.assets``' maps route); returns its file name, which the chart fetches."""
    name = hashlib.sha256(data).hexdigest()[:24] + ".bin"
    path = MAPS_DIR / name
    if path.exists():
        os.utime(path)  # in use again: last to be pruned
        return name
    temporary = path.with_suffix(f".{os.getpid()}.{id(data)}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)  # complete or absent: a browser never reads half a file
    files = sorted(MAPS_DIR.glob("*.bin"), key=lambda file: file.stat().st_mtime)
    for old in files[:-MAPS_KEPT]:
        old.unlink(missing_ok=True)
    return name


def image_names(indices, labels) -> list[str]:
    """How a map's description names each row's image: "image 23 (Ankle boot)", or a picture's name as it is
    (``ui.state.Pictures.ids``: "your drawing", whose label is None)."""
    return [
        index if isinstance(index, str) else f"image {int(index)} ({CLASS_NAMES[int(label)]})"
        for index, label in zip(indices, labels)
    ]


def journey_grid(
    activations, images, pictures, filters_per_layer, filter_index: int, *, scale: str, panel: int, key: str, title: str
) -> None:
    """A journey grid beside the journey itself (the replay's snapshot, the probe's moved images): ``images``
    (``pictures``' pixels, or moved) through the conv and pool layers at ``filter_index``, each row named by
    its picture and the prediction in ``activations``."""
    labels = list(pictures.labels)
    figure = journey_of(
        activations,
        images,
        filters_per_layer,
        filter_index,
        row_titles(pictures.ids, labels, activations.probabilities),
        labels,
        JourneyStyle(scale=scale, panel=panel),
    )
    describe = {"filter": filter_index, "images": image_names(pictures.ids, labels)}
    live_chart(figure, key=key, title=title, describe=describe)


def live_chart(
    figure: dict,
    key: str,
    fit: bool = False,
    clicks: bool = False,
    on_change=None,
    page_keys: bool = False,
    scrub: dict | None = None,
    title: str = "Chart",
    describe: dict | None = None,
    points: bool = False,
) -> None:
    """A chart that reruns update in place (the journey, the filters grid; ``chart``'s, with less).

    With ``fit``, the chart reports the room it has as its value (``chart_room``); with
    ``page_keys`` (presenter mode) the filter keys and 1 2 3 pressed anywhere on the page count;
    with ``fit`` or ``clicks``, a click on a heatmap cell (the trace's ``meta``, x, y) is reported.
    With ``scrub`` (the journey: its packed maps' file from ``publish``, the page's filter and
    ``figures.journey_scrub_parts``), the chart has its own filter control and redraws any filter
    itself, reporting the filter it shows ({kind: "filter", filter, n}: while it plays or is dragged,
    as often as the page keeps up, so every control shows the same filter). ``on_change`` is
    called when the value changes (with ``points``, a click on any point not a map's cell is reported too,
    see ``chart``). ``title`` names the chart (a figure) for a screen reader; with
    ``describe`` ({"filter": the maps' filter, "images": ``image_names`` of the rows}) the chart
    writes out, for a screen reader, what each map shows and where it is brightest (a journey
    figure's heatmaps, named by their ``meta``). Its maps are drawn in the page's colour map.
    """
    colours = palette()
    if scrub is not None:
        scrub = recoloured(scrub, colours)  # the maps the browser paints itself: the same colour map
    args = {
        "figure": pack(recoloured(figure, colours)),  # its long arrays in binary: a fifth of a second less a run
        "config": PLOT_CONFIG,
        "fit": fit,
        "clicks": clicks,
        "pageKeys": page_keys,
        "scrub": scrub,
        "title": title,
        "describe": describe,
        "points": points,
    }
    # main.js at today's version of the modules (a new address after an edit), under the server's base path
    module = assets.asset_url("plotly_react", "main.js", st.get_option("server.baseUrlPath") or "")
    _chart_component()(
        key=key,
        data={"module": module, "key": key, "args": args},
        on_report_change=on_change or _ignore,
    )


def chart_room(key: str) -> dict:
    """What a live chart last reported (its state ``report``): {width, height, fullscreen} (fitted), its last
    click, key or filter ({kind, click, key or filter, n}); {} before it has reported anything."""
    state = st.session_state.get(key)
    value = state.get("report") if isinstance(state, dict) else None
    if isinstance(value, dict):
        st.session_state[f"{key}_room"] = value
        return value
    # Streamlit drops a component's state while its view isn't shown; its chart, kept in the browser, doesn't
    # report the same room again: the last report, kept here, lays the figure out as it was (drawn at once).
    kept = st.session_state.get(f"{key}_room")
    return kept if isinstance(kept, dict) else {}


def chart_event(key: str) -> dict | None:
    """The live chart's newest click or key press, once: None for a size report or an event already seen."""
    value = chart_room(key)
    if value.get("n") is None or value["n"] == st.session_state.get(f"{key}_seen"):
        return None
    st.session_state[f"{key}_seen"] = value["n"]
    return value


def enlarge(image: np.ndarray, factor: int = 4) -> np.ndarray:
    """Nearest-neighbour upscaling: a browser would blur a 28-pixel image."""
    image = np.asarray(image).reshape(28, 28)
    return np.kron(image, np.ones((factor, factor), dtype=image.dtype))


def thumbnails(images: np.ndarray, name: str, entries: list[tuple[int, str]], per_row: int, on_click) -> None:
    """Test images in even rows, each with its caption and a "→ journey" button: ``entries`` are (test image,
    caption); ``on_click(index)`` runs when a button is pressed.

    One element, ``components/gallery`` (key ``<name>_thumbnails``), for the whole gallery: an ``st.image`` and
    an ``st.button`` per thumbnail were 48 elements that the page mounted again every time their view opened,
    half of a revisit of Predictions. Each image goes as a 28×28 PNG, scaled by the browser with sharp pixels.
    """
    key = f"{name}_thumbnails"
    _gallery_component()(
        key=key,
        data={
            "perRow": per_row,
            "entries": [
                {
                    "index": index,
                    "caption": caption,
                    "src": image_url(images[index]),
                    "alt": f"Test image {caption}",  # the caption names it: "#23 Ankle boot …"
                    "help": f"Put test image #{index} into the journey's next slot",
                }
                for index, caption in entries
            ],
        },
        on_picked_change=_ignore,
    )
    # A press is known once the gallery is mounted, after the page's navigation: the run starts again from the top.
    picked = (st.session_state.get(key) or {}).get("picked")
    if isinstance(picked, dict) and isinstance(picked.get("index"), int):
        on_click(picked["index"])
        st.rerun()


@st.cache_resource(show_spinner=False)
def _gallery_component():
    """The gallery's mount callable, registered once; in the page's DOM (``isolate_styles=False``), so the page's
    tests and felt find its images as they found Streamlit's."""
    return st.components.v2.component(
        "gallery",
        css=(GALLERY_FILES / "gallery.css").read_text(encoding="utf-8"),
        js=(GALLERY_FILES / "gallery.js").read_text(encoding="utf-8"),
        isolate_styles=False,
    )


def image_url(image: np.ndarray) -> str:
    """A 28×28 grey image in [0, 1] as a PNG ``data:`` URL."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray((np.asarray(image).reshape(28, 28) * 255).round().astype(np.uint8)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
