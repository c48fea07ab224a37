"""The page's shared state: model, images (and the slot showing the page's drawing), filter, layer, colour
scale, tab, explained cell, the replay's snapshot and the shift probe's transform.

It is read from the URL once per session (checked and clamped by ``convlab.urlstate``, with
notes on what was refused) and written back after every run, so the address bar always
shares the exact view. Widgets bound to it use the keys below; views change it through the
helpers here ("send this image to the journey", "show this filter", "use this model"), never
through ``st.session_state`` itself.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from urllib.parse import urlencode

import numpy as np
import streamlit as st

from convlab import urlstate
from convlab.data import Split
from convlab.figures.scales import DEFAULT_PALETTE, PALETTES, SCALE_MODES
from convlab.models import PRESETS
from convlab.tour import SLUGS as TOUR_SLUGS
from convlab.transforms import Transform

from . import classroom, runtime
from . import runs as runs_module
from .charts import PALETTE, palette  # the maps' colour map: the charts draw every map in it
from .resources import get_test_split

DEFAULT_IMAGES = (0, 23, 28)  # the lesson's three ankle boots
DEFAULT_FILTER = 1  # the lesson's CONVOLUTION_NUMBER
VIEWS = {  # URL slug -> (icon, title); each view is a page at /<slug> (ui/navigation.py)
    "journey": ("🔍", "Journey"),
    "filters": ("🧩", "Filters"),
    "looked": ("👀", "Where it looked"),
    "portraits": ("🎨", "Portraits"),
    "replay": ("⏯️", "Replay"),
    "probe": ("↔️", "Shift probe"),
    "predictions": ("🎯", "Predictions"),
    "draw": ("✏️", "Draw"),
    "upload": ("🖼️", "Your image"),
    "compare": ("📊", "Compare"),
    "lab": ("🧪", "Lab"),
}
ICONS = {slug: icon for slug, (icon, _) in VIEWS.items()}
TITLES = {slug: title for slug, (_, title) in VIEWS.items()}
TABS = {slug: f"{icon} {title}" for slug, (icon, title) in VIEWS.items()}  # as a person reads the view's name
KEEP = "session"  # persist_state: a widget keeps its value while another view is open

# The keys of the shared state, for the widgets bound to it.
MODEL, FILTER, LAYER, SCALE, CELL = "model", "filter", "layer", "scale", "cell"
TAB = "tab"  # the view asked for (a slug): the open one, or one a link, a button or the class asks for
SNAPSHOT = "snapshot"  # the replay's snapshot index; set once the replay has been opened
SHIFT_X, SHIFT_Y, ROTATE, ZOOM = "shift_x", "shift_y", "rotate", "zoom"  # the shift probe's transform
PRESENT = "present"  # presenter mode: laid out for a projector
TOUR = "tour"  # the lesson tour's step, 1-based; absent when the tour is closed
LINKED_STEP = "tour_linked"  # a link's tour step whose view is still to be set: the names the link gave itself
DRAWING = "drawing"  # the drawing pad's picture (urlstate.drawing_text): in the Draw view's link and a class
DRAWN_SLOT = "drawn_slot"  # the journey's slot showing the drawing (0-based); its test index waits to come back
DRAWING_NAME = "your drawing"  # how the pages name the drawing where they would name a test image
KEYED_SLOT = "keyed_slot"  # presenter mode: the image slot ↑ / ↓ step (1 2 3 choose it)
IMAGES = tuple(f"image_{slot}" for slot in range(len(DEFAULT_IMAGES)))
TARGET_SLOT = "target_slot"  # the image slot a picked image goes into next


@dataclass(frozen=True)
class PageState:
    model: str | None  # a run's key
    images: tuple[int, ...]  # test indices, one per slot
    filter: int  # the journey's filter, the same number in every layer
    layer: str | None  # the filters view's layer
    scale: str  # a key of convlab.figures.SCALE_MODES
    tab: str  # the open tab's slug
    cell: dict | None  # the journey cell being explained: {"slot", "layer", "row", "col"}
    snapshot: int | None  # the replay's snapshot; None until the replay is opened
    transform: Transform  # the shift probe's: shift, rotation and zoom of the journey's images
    palette: str = DEFAULT_PALETTE  # the maps' colour map, a key of convlab.figures.PALETTES


def current() -> PageState:
    return PageState(
        model=st.session_state.get(MODEL),
        images=tuple(images()),
        filter=int(st.session_state.get(FILTER, DEFAULT_FILTER)),
        layer=st.session_state.get(LAYER),
        scale=st.session_state.get(SCALE, "panel"),
        tab=st.session_state.get(TAB, "journey"),
        cell=st.session_state.get(CELL),
        snapshot=st.session_state.get(SNAPSHOT),
        transform=Transform(
            shift_x=int(st.session_state.get(SHIFT_X, 0)),
            shift_y=int(st.session_state.get(SHIFT_Y, 0)),
            rotate=float(st.session_state.get(ROTATE, 0.0)),
            scale=float(st.session_state.get(ZOOM, 1.0)),
        ),
        palette=palette(),
    )


def images() -> list[int]:
    return [int(st.session_state.get(key, default)) for key, default in zip(IMAGES, DEFAULT_IMAGES)]


def drawn_slot() -> int | None:
    """The journey's slot that shows the page's drawing; None when none does, or there is no drawing to show."""
    slot = st.session_state.get(DRAWN_SLOT)
    if slot is None or urlstate.drawing_pixels(st.session_state.get(DRAWING)) is None:
        return None
    return int(slot)


@dataclass(frozen=True)
class Pictures:
    """The journey's three pictures: test images, and the page's drawing in the slot it was sent to."""

    pixels: np.ndarray  # (3, 28, 28, 1) floats 0–1, as the test split holds its images
    labels: tuple[int | None, ...]  # each picture's true class; None for the drawing, which has none
    names: tuple[str, ...]  # as a sentence names each: "test #23", or "your drawing"
    ids: tuple[int | str, ...]  # as a row title names each (figures.journey.row_titles): the test index, or its name
    keys: tuple  # what each picture's computed results are cached by: its test index, or ("drawing", its sha256)
    indices: tuple[int, ...]  # the slots' test indices (a drawn slot's is the one it goes back to)
    drawn: int | None = None  # the slot showing the drawing

    def __len__(self) -> int:
        return len(self.keys)

    @classmethod
    def of(cls, split: Split, indices, drawn: int | None = None, drawing: str | None = None) -> Pictures:
        """Test images ``indices`` of ``split``, but the picture ``drawing`` (``urlstate.drawing_text``) in slot
        ``drawn``; ValueError for a drawn slot without a drawing."""
        indices = tuple(int(index) for index in indices)
        pixels = np.array(split.images[list(indices)], dtype=np.float32)
        labels, names, ids, keys = [], [], [], []
        for slot, index in enumerate(indices):
            if slot == drawn:
                values = urlstate.drawing_pixels(drawing)
                if values is None:
                    raise ValueError(f"slot {slot} shows a drawing, but {drawing!r:.40} isn't one")
                pixels[slot] = np.asarray(values, dtype=np.float32).reshape(28, 28, 1) / 255
                labels.append(None)
                names.append(DRAWING_NAME)
                ids.append(DRAWING_NAME)
                keys.append(("drawing", hashlib.sha256(drawing.encode()).hexdigest()))
            else:
                labels.append(int(split.labels[index]))
                names.append(f"test #{index}")
                ids.append(index)
                keys.append(index)
        pixels.flags.writeable = False  # cached results are keyed by ``keys``, not by these numbers
        return cls(pixels, tuple(labels), tuple(names), tuple(ids), tuple(keys), indices, drawn)


def pictures(split: Split | None = None) -> Pictures:
    """The journey's pictures: each slot's test image of ``split`` (the test split by default), but the page's
    drawing in ``drawn_slot()``."""
    split = split if split is not None else get_test_split()
    return Pictures.of(split, images(), drawn_slot(), st.session_state.get(DRAWING))


def filter_within(num_filters: int) -> int:
    """The page's filter, clamped to a model with ``num_filters`` filters (its last, past the end)."""
    return min(int(st.session_state.get(FILTER, DEFAULT_FILTER)), num_filters - 1)


def filter_box(container, key: str, num_filters: int, label: str = "Filter (the journey's)", **options) -> int:
    """A number box for the page's filter, following it (set before the box is drawn); returns the filter the
    view shows, the page's within ``num_filters`` (``filter_within``)."""
    shown = st.session_state[key] = filter_within(num_filters)
    st.session_state[f"{key}_shown"] = st.session_state.get(FILTER, DEFAULT_FILTER)
    container.number_input(
        label, 0, num_filters - 1, step=1, key=key, on_change=_filter_from_box, args=(key,), **options
    )
    return shown


def _filter_from_box(key: str) -> None:
    # The box echoes the filter it was last shown. When the chart's slider moved in the same
    # request, the box's value is that old echo, not a choice: keep the slider's.
    if st.session_state.get(FILTER, DEFAULT_FILTER) == st.session_state.get(f"{key}_shown"):
        show_filter(st.session_state[key])


def palette_ui(container=None) -> None:
    """The maps' colour map (in ``container``, the sidebar by default): the lesson's inferno, or a
    colour-blind-safe one. Kept in the URL; a class never changes it (ui.classroom.NOT_FOLLOWED)."""
    st.session_state[PALETTE] = palette()  # a first visit, or a value no longer offered
    (container or st.sidebar).radio(
        "Colour map of the maps",
        list(PALETTES),
        key=PALETTE,
        format_func=PALETTES.get,
        persist_state=KEEP,
        help="Inferno is the lesson's. Viridis and cividis run from dark to light, so "
        "they read the same with every kind of colour vision.",
    )


# -- what views do to it (callbacks: they run before the next run's widgets) -----------------------
def show_filter(index: int) -> None:
    st.session_state[FILTER] = int(index)


def set_images(indices) -> None:
    """Put test images ``indices`` into the three slots: the drawing, if one was shown, gives way."""
    for slot, index in enumerate(indices):
        set_image(slot, index)


def set_image(slot: int, index: int) -> None:
    """Put test image ``index`` into ``slot``: a drawing shown there gives way to it."""
    st.session_state[IMAGES[slot]] = int(index)
    if st.session_state.get(DRAWN_SLOT) == slot:
        forget_drawn_slot()


def keep_images(indices=None) -> None:
    """Hold the slots' test indices (the page's, or ``indices``) for their number boxes, leaving a drawn slot be."""
    for key, index in zip(IMAGES, images() if indices is None else indices):
        st.session_state[key] = int(index)


def send_drawing_to_journey(slot: int) -> None:
    """Show the page's drawing as the journey's image ``slot`` (0-based; its test image waits to come back) and
    open the journey."""
    if not 0 <= slot < len(IMAGES):
        raise ValueError(f"the journey has images 0–{len(IMAGES) - 1}, not {slot}")
    keep_images()
    st.session_state[DRAWN_SLOT] = int(slot)
    open_tab("journey")


def forget_drawn_slot() -> None:
    """The drawn slot shows its test image again."""
    st.session_state.pop(DRAWN_SLOT, None)


def take_journey(view: dict[str, str]) -> None:
    """The filter and images of ``view`` (the class's), taken by the journey's own run (``classroom.IN_PLACE``)."""
    if view.get("filter", "").isdigit():
        show_filter(int(view["filter"]))
    parts = view.get("images", "").split(",")
    if len(parts) == len(IMAGES) and all(part.isdigit() for part in parts):
        last = len(get_test_split()) - 1
        keep_images([min(int(part), last) for part in parts])  # the class's drawn slot, if any, is unchanged


def send_to_journey(index: int) -> None:
    """Put a test image into the next slot and open the journey (the filter finder and gallery)."""
    slot = st.session_state.get(TARGET_SLOT, 0)
    set_image(slot, index)
    st.session_state[TARGET_SLOT] = (slot + 1) % len(DEFAULT_IMAGES)  # three clicks fill three slots
    open_tab("journey")


def explain_cell(slot: int, layer: str, row: int, col: int) -> None:
    """Explain one number of the journey: image ``slot``'s map of ``layer`` at (row, col), the page's filter."""
    st.session_state[CELL] = {"slot": int(slot), "layer": layer, "row": int(row), "col": int(col)}


def forget_cell() -> None:
    st.session_state.pop(CELL, None)


def open_tab(slug: str) -> None:
    """Ask for view ``slug``: the next run switches to it (ui/navigation.py)."""
    st.session_state[TAB] = slug


def use_model(key: str, whole_page: bool = False, tab: str = "journey") -> None:
    """Make run ``key`` the page's model and open the journey (or view ``tab``).

    ``whole_page``: the button is inside a fragment, where a callback reruns only the
    fragment; the fragment then asks for a whole rerun (``whole_page_wanted``).
    """
    st.session_state[MODEL] = key
    open_tab(tab)
    if whole_page:
        st.session_state["rerun_app"] = True


def whole_page_wanted() -> bool:
    """True once after ``use_model(..., whole_page=True)``: the caller reruns the whole page."""
    return bool(st.session_state.pop("rerun_app", False))


def choose_model(runs: dict[str, runs_module.Run]) -> None:
    """Before the model box is drawn: a first visit, or a run deleted meanwhile, gets the lesson's conv model."""
    if st.session_state.get(MODEL) not in runs:
        st.session_state[MODEL] = PRESETS["conv"].key()


def choose_layer(layer_names: list[str]) -> None:
    """Before the layer radio is drawn: a layer this model doesn't have becomes its first."""
    if st.session_state.get(LAYER) not in layer_names:
        st.session_state[LAYER] = layer_names[0]


def presenting() -> bool:
    return bool(st.session_state.get(PRESENT, False))


def leave_presenter_mode() -> None:
    st.session_state[PRESENT] = False


def choose_snapshot(count: int) -> int:
    """Before the replay's slider is drawn: the page's snapshot within this run's ``count`` (the start on a
    first visit)."""
    index = min(max(int(st.session_state.get(SNAPSHOT, 0)), 0), count - 1)
    st.session_state[SNAPSHOT] = index
    return index


IDENTITY = ((SHIFT_X, 0), (SHIFT_Y, 0), (ROTATE, 0.0), (ZOOM, 1.0))  # the picture as it is


def reset_transform() -> None:
    for key, value in IDENTITY:
        st.session_state[key] = value


def choose_transform() -> None:
    """Before the shift probe's sliders are drawn: the picture unmoved on a first visit (a slider
    would otherwise start at its minimum)."""
    for key, value in IDENTITY:
        st.session_state.setdefault(key, value)


def asked_since_last_run() -> str | None:
    """The view a link, a button or the class asked for since the last run, if it isn't the open one."""
    asked = st.session_state.get(TAB)
    return asked if asked in TABS and asked != st.session_state.get("open_tab") else None


def view_opened(slug: str) -> None:
    """The view Streamlit opened this run: a click in the navigation (or an address) makes it the
    page's view, unless a link, a button or the class asked for another since the last run."""
    if asked_since_last_run() is None:
        st.session_state[TAB] = slug
    st.session_state["open_tab"] = slug


# -- the URL ------------------------------------------------------------------------------------
def _limits(runs: dict[str, runs_module.Run]) -> urlstate.Limits:
    """What a link (or a teacher's view) may name, from the stored runs' specs (no model is loaded to read a link)."""
    layers = {key: run.spec.feature_layers() for key, run in runs.items()}  # (name, map side, filters)
    return urlstate.Limits(
        run_keys=tuple(runs),
        num_images=len(get_test_split()),
        tabs=tuple(TABS),
        scales=tuple(SCALE_MODES),
        palettes=tuple(PALETTES),
        filters_for=lambda key: max((filters for _, _, filters in layers[key]), default=0),
        layers_for=lambda key: [name for name, _, _ in layers[key]],
        sides_for=lambda key: {name: side for name, side, _ in layers[key]},
        snapshots_for=lambda key: int((runs[key].meta.get("snapshots") or {}).get("count", 0)),
        tour_steps=len(TOUR_SLUGS),  # known without computing the tour: a link's tour=N is checked first
    )


def _take(values: dict) -> None:
    for name, value in values.items():
        st.session_state[name] = value


def apply_url_once(runs: dict[str, runs_module.Run]) -> None:
    """On a session's first run, take the view the URL asks for; keep notes on what was refused."""
    if st.session_state.get("url_applied"):
        return
    st.session_state["url_applied"] = True
    link, notes = urlstate.parse(st.query_params.to_dict(), _limits(runs), default_model=PRESETS["conv"].key())
    given = link.given()
    _take(given)
    if link.tour:  # a step's link: the step's view fills in what the link leaves out (ui.tour.open_linked_step)
        st.session_state[LINKED_STEP] = sorted({*given, TAB} if runtime.requested_path() else given)
    st.session_state["url_notes"] = notes
    classroom.check_link()  # a class that ended, or a teacher key that isn't the class's


def apply_view(view: dict[str, str], runs: dict[str, runs_module.Run]) -> None:
    """A teacher's view, on a student's page: what it names, and the defaults for what it doesn't
    (no explained cell, the picture unmoved, no tour step), so the page shows exactly that view."""
    for name in (CELL, SNAPSHOT, TOUR, DRAWN_SLOT):
        st.session_state.pop(name, None)
    reset_transform()
    take_view(view, runs)


def take_view(view: dict[str, str], runs: dict[str, runs_module.Run], keep=()) -> None:
    """What ``view`` (URL parameters) names, except the page-state names in ``keep``, over the page's state; the
    rest of it stays (a linked tour step's view under what its link named itself). Never presenter mode or a class."""
    link, _ = urlstate.parse(view, _limits(runs), default_model=PRESETS["conv"].key())
    skip = {*keep, "present", "class", "teacher"}
    _take({name: value for name, value in link.given().items() if name not in skip})


def view_params() -> dict[str, str]:
    """The page's view as URL parameters, its view's slug as ``tab`` (the address carries it as its path)."""
    now = current()
    session = st.session_state
    drawn = drawn_slot()
    return urlstate.encode(
        urlstate.Link(
            model=now.model,
            images=now.images,
            filter=session.get(FILTER),
            layer=now.layer,
            scale=session.get(SCALE),
            palette=session.get(PALETTE),
            tab=now.tab,
            cell=now.cell,
            snapshot=now.snapshot,
            shift_x=session.get(SHIFT_X),
            shift_y=session.get(SHIFT_Y),
            rotate=session.get(ROTATE),
            zoom=session.get(ZOOM),
            present=session.get(PRESENT),
            tour=session.get(TOUR),
            class_code=session.get(classroom.CLASS),
            teacher=session.get(classroom.TEACHER),
            # The drawing where the view shows it: other views' links stay short.
            drawing=session.get(DRAWING) if now.tab == "draw" or drawn is not None else None,
            drawn_slot=drawn,
        )
    )


def sync_url() -> None:
    """Write the current view into the address bar, so copying it shares this exact view (the
    view's own slug is the address's path)."""
    view = view_params()
    wanted = {name: value for name, value in view.items() if name != "tab"}
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)
    classroom.publish(view)  # a teacher's page: the class sees it too; a student's: what it shows


def fragment(body=None, *, run_every: float | None = None):
    """A view's fragment (``runtime.fragment``) whose own runs end by writing the URL (``sync_url``): a whole
    run writes it at its end (app.py), so each run writes the address once, whichever way the view returns."""
    if body is None:
        return functools.partial(fragment, run_every=run_every)

    @functools.wraps(body)
    def then_the_url(*args, **kwargs):
        result = body(*args, **kwargs)
        if runtime.in_fragment_run():
            sync_url()
        return result

    return runtime.fragment(then_the_url, run_every=run_every)


def shared_link() -> str:
    """A link to this view for anyone: no teacher key, no presenter mode, the class only for its followers."""
    params = {name: value for name, value in view_params().items() if name not in ("teacher", "present", "tab")}
    if classroom.role() == "teacher":
        params.pop("class", None)  # a colleague's copy of this view shouldn't join them to the class
    base = (st.context.url or "").split("?")[0] or "http://localhost:8501/"
    return base + ("?" + urlencode(params) if params else "")


def url_notes_ui() -> None:
    notes = st.session_state.get("url_notes")
    if notes:
        st.warning(
            "**This link asked for things ConvLab can't show, so it adjusted them:**\n\n"
            + "\n".join(f"- {note}" for note in notes)
        )
        st.button("Dismiss", key="dismiss_url_notes", on_click=st.session_state.pop, args=("url_notes", None))
