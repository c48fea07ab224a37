"""The lesson's grid, made interactive: three images through every conv and pool layer, one filter.

Rows are images, columns the input and each feature layer. Moving a control reruns only the
journey (a fragment), and its chart is updated in place; the chart reports the room it has so
the grid fits the window (or the whole screen, where it also takes the filter keys). Below
it, the lesson's label printout picks images by class.
"""

from __future__ import annotations

import functools

import numpy as np
import streamlit as st

from convlab.arithmetic import ConvCell, PoolCell, explain_cell, slide
from convlab.data import CLASS_NAMES, Split, first_of_class
from convlab.figures.explanations import arithmetic_figure, contributions_figure, slide_figure, window_figure
from convlab.figures.journey import (
    PANEL,
    JourneyStyle,
    journey_figure,
    journey_of,
    journey_panel,
    journey_scrub_parts,
    row_titles,
)
from convlab.figures.scales import SCALE_MODES
from convlab.models import ModelSpec
from convlab.store import StoredModel
from convlab.timing import timed

from .. import classroom, runtime, state
from ..charts import chart, chart_event, chart_room, image_names, live_chart
from ..page import request_scroll
from ..resources import get_inspector, get_test_split, journey_activations, journey_maps_file, label_table
from ..tour import mixed_on_purpose
from . import Page

LABEL_TABLE_ROWS = 100  # the lesson prints the first 100 test labels
FULL_SCREEN_FONT = 1.6  # text in full screen, legible from the back of a room
PRESENTER_FONT = 1.65  # presenter mode: the chart's smallest text (axis numbers, 11 px) becomes 18 px
PRESENTER_TOUR_FONT = 1.46  # the tour's strip above it: axis numbers 16 px, colour-bar numbers 18 px
CHART = "journey_chart"
CHART_TITLE = "The journey: each image's maps through the conv and pool layers, one filter"
FILTER_HELP = (
    "Which filter of the conv layers to show (the lesson's CONVOLUTION_NUMBER, counted from 0): type it here, "
    "or drag the slider above the grid, which redraws as you move. Keys, once the slider or the grid is clicked: "
    "← / → step by one, Page Up / Page Down by a tenth of the range, Home / End to the first and last filter, "
    "Space plays the filters one after another."
)


def render(page: Page) -> None:
    journey_ui(page.run.spec, page.stored, page.split)
    if page.stored is not None:
        slide_ui(page.stored, page.split)
    label_picker_ui()  # outside the fragment: a slider move needn't redraw the table


@state.fragment
def journey_ui(spec: ModelSpec, stored: StoredModel | None, split: Split) -> None:
    """The journey of ``spec``'s model; without ``stored`` (TensorFlow still loading) the grid holds the inputs."""
    with timed("journey"):  # a filter or image move reruns just this
        _journey(spec, stored, split)


def _journey(spec: ModelSpec, stored: StoredModel | None, split: Split) -> None:
    classroom.follow_the_class(state.view_params, state.take_journey, in_fragment=True)  # a follower's own move here
    if not state.presenting():  # a projector needs the room for the grid
        st.markdown("#### The journey of an image through the conv and pool layers")
    layers = spec.feature_layers()  # known from the spec alone, before any model is loaded
    if not layers:
        st.info(
            f"The model **{spec.label()}** has no conv or pool layers, so there is no journey "
            "to show: its first layer flattens the image. Choose a model with conv blocks in the sidebar."
        )
        return
    st.caption(
        "Pick three test images (type a number, or choose a class below), then step through the filters: "
        "each row follows one image, each column shows what a layer's filter makes of it. Filter *n* of "
        "conv2 is a different filter from filter *n* of conv1: the same number, another learned kernel."
    )
    num_filters = max(filters for _, _, filters in layers)
    filter_index = image_controls_ui(split, num_filters)
    pictures = state.pictures(split)  # test images, or the page's drawing in the slot it was sent to
    labels = list(pictures.labels)
    scale = state.current().scale
    style = _journey_style(len(pictures), 1 + len(layers), scale)
    if stored is None:
        live_chart(
            journey_figure(
                pictures.pixels,
                [[None] * len(layers)] * len(pictures),
                layers,
                row_titles(pictures.ids, labels, [None] * len(pictures)),
                style,
                pending=True,
            ),
            key=CHART,
            fit=True,
            on_change=_chart_event,
            page_keys=_page_keys(),
            title=CHART_TITLE,
        )
        st.caption("⏳ Loading TensorFlow and the model to compute the maps: a few seconds, once per server start.")
        return
    inspector = get_inspector(spec.key(), stored)
    activations = journey_activations(spec.key(), pictures.keys, inspector, pictures.pixels)
    cell = _valid_cell(layers)
    # Every filter's maps go to the browser once per set of images: the chart's control redraws any
    # filter there and tells the page the one it settles on.
    try:
        scrub = {
            "url": journey_maps_file(spec.key(), pictures.keys, activations),
            "filter": filter_index,
            "filters": num_filters,
            "font_scale": style.font_scale,
            **journey_scrub_parts(layers, style),
        }
        if classroom.following():  # the class's view this page was drawn from: a later filter painted stays
            scrub["class_version"] = st.session_state.get("class_version", -1)
    except ValueError as error:  # maps that aren't numbers (a diverged training): the page draws each filter
        scrub = None
        st.warning(f"The grid's own filter slider is off for this model: {error}. Type a filter in the box.")
    live_chart(
        journey_of(
            activations,
            pictures.pixels,
            inspector.filters_per_layer,
            filter_index,
            row_titles(pictures.ids, labels, activations.probabilities),
            labels,
            style,
            marks=_marks(cell, layers, spec),
        ),
        key=CHART,
        fit=True,
        on_change=_chart_event,
        page_keys=_page_keys(),
        scrub=scrub,
        title=CHART_TITLE,
        describe={"filter": filter_index, "images": image_names(pictures.ids, labels)},
    )
    explanation_ui(cell, inspector, activations, pictures.pixels, pictures.names, filter_index)
    known = [label for label in labels if label is not None]  # the drawing has no label to share
    mixed = len(set(known)) > 1
    on_purpose = pictures.drawn is None and mixed_on_purpose(pictures.indices)  # the tour's step says why itself
    if mixed and not on_purpose:
        st.warning(
            "These images don't share a label ("
            + ", ".join(CLASS_NAMES[label] for label in known)
            + ("; your drawing has none" if pictures.drawn is not None else "")
            + "). The lesson compares images of one class to see which features a filter picks up "
            "for that class; choose a class below to pick three."
        )
    elif not mixed:
        same = (
            f"All three are **{CLASS_NAMES[known[0]]}**."
            if pictures.drawn is None
            else f"The test images are **{CLASS_NAMES[known[0]]}**; your drawing has no label, so its row says "
            "only what the model makes of it."
        )
        st.caption(
            f"{same} Colour scale: "
            f"{SCALE_MODES[scale]} ({state.palette()}: dark = low, bright = high). Each map is smaller than the one "
            f"before it: a {spec.kernel_size}×{spec.kernel_size} convolution trims the edges, "
            f"a {spec.pool_size}×{spec.pool_size} max-pool divides the size by {spec.pool_size}."
        )


# -- one number, explained ------------------------------------------------------------------------
def _valid_cell(layers: list[tuple[str, int, int]]) -> dict | None:
    """The cell to explain, if this model has it (a cell of another model's layers is forgotten)."""
    cell = state.current().cell
    sides = {name: side for name, side, _ in layers}
    if (
        cell
        and cell.get("layer") in sides
        and 0 <= cell["row"] < sides[cell["layer"]]
        and 0 <= cell["col"] < sides[cell["layer"]]
        and 0 <= cell["slot"] < len(state.IMAGES)
    ):
        return cell
    if cell:
        state.forget_cell()
    return None


def _marks(cell: dict | None, layers: list[tuple[str, int, int]], spec: ModelSpec) -> list:
    """The explained cell framed, and the window of the map before it that it comes from."""
    if cell is None:
        return []
    column = 1 + [name for name, _, _ in layers].index(cell["layer"])
    size = spec.pool_size if cell["layer"].startswith("pool") else spec.kernel_size
    stride = spec.pool_size if cell["layer"].startswith("pool") else 1
    return [
        (cell["slot"], column, cell["row"], cell["col"], 1),
        (cell["slot"], column - 1, cell["row"] * stride, cell["col"] * stride, size),
    ]


def explanation_ui(cell, inspector, activations, images, names, filter_index) -> None:
    """How the clicked number comes about: the window it is computed from, step by step (``names``: how a
    sentence names each image, ``ui.state.Pictures.names``)."""
    with st.container(key="explanation", border=True):
        if cell is None:
            st.caption("🔎 Click any cell of a conv or pool map above to see how that number is computed.")
            return
        slot, layer = cell["slot"], cell["layer"]
        maps = [m[slot] for m in activations.maps]
        try:
            explained = explain_cell(
                inspector.layers, images[slot], maps, layer, cell["row"], cell["col"], filter_index
            )
        except ValueError as error:  # a filter this layer doesn't have
            st.info(str(error))
            return
        head, close = st.columns([6, 1], vertical_alignment="center")
        head.markdown(
            f"**How {layer}'s number at row {cell['row']}, column {cell['col']} of image "
            f"{slot + 1} ({names[slot]}), filter {filter_index}, comes about**"
        )
        close.button("Close", key="explanation_close", on_click=state.forget_cell)
        if isinstance(explained, PoolCell):
            _pool_ui(explained)
        else:
            _conv_ui(explained)


def _conv_ui(cell: ConvCell) -> None:
    source = "the input image" if cell.source == "input" else f"{cell.source}'s maps"
    size = cell.kernel.shape[-1]
    if len(cell.contributions) == 1:
        chart(
            arithmetic_figure(
                cell.patches[0],
                cell.kernel[0],
                cell.products()[0],
                (f"{source}: the {size}×{size} patch", f"filter {cell.filter}'s kernel", "products"),
            ),
            key="explanation_chart",
        )
        st.markdown(
            f"**This number says how well this {size}×{size} patch of the picture matches the filter's "
            f"{size}×{size} pattern: each pixel times the weight over it, all added up.** The {size * size} "
            f"products add up to **{cell.contributions[0]:.4f}**; plus the bias (a number the filter always "
            f"adds) {cell.bias:+.4f} makes **{cell.total:.4f}**; ReLU keeps it if positive, else 0: "
            f"**{cell.value:.4f}**, the number the map shows."
        )
        return
    channels = len(cell.contributions)
    top = int(cell.order()[0])
    st.markdown(
        f"**This number says how well this spot of the {channels} maps before it matches the filter's "
        "pattern: a small patch of each map, weighted and added up.** "
        f"A {cell.layer} filter looks at all **{channels} channels** of {source} at once: for each channel "
        f"a {size}×{size} patch × its own {size}×{size} kernel, and the {channels} sums add up. "
        f"The channels that contribute most come first:"
    )
    left, right = st.columns([3, 2])
    with left:
        chart(contributions_figure(cell.contributions, cell.order(), cell.bias), key="contributions_chart")
    with right:
        chart(
            arithmetic_figure(
                cell.patches[top],
                cell.kernel[top],
                cell.products()[top],
                (f"channel {top}'s patch", "its kernel", "products"),
            ),
            key="explanation_chart",
        )
        st.caption(f"The largest contribution, channel {top}, written out: {cell.contributions[top]:+.4f}.")
    st.markdown(
        f"Sum over the {channels} channels **{cell.contributions.sum():.4f}**; plus the bias "
        f"{cell.bias:+.4f} makes **{cell.total:.4f}**; ReLU: **{cell.value:.4f}**, the number the map shows."
    )


def _pool_ui(cell: PoolCell) -> None:
    size = cell.window.shape[0]
    left, right = st.columns([1, 2], vertical_alignment="center")
    with left:
        chart(
            window_figure(
                cell.window,
                cell.winner,
                f"{cell.source}, rows {cell.origin[0]}–{cell.origin[0] + size - 1}, "
                f"columns {cell.origin[1]}–{cell.origin[1] + size - 1}",
            ),
            key="explanation_chart",
        )
    right.markdown(
        f"**This number is simply the largest of the {size * size} numbers under it.** "
        f"Max-pooling keeps the largest of the {size}×{size} window of {cell.source} under it: "
        f"**{cell.value:.4f}** (framed) wins, so the map halves in size and keeps where a feature "
        "fired strongly, not exactly where."
    )


# -- passing a filter over an image ------------------------------------------------------------------
SLIDE_SPEED = 0.15  # seconds a step while playing: slow enough to follow the window


def slide_ui(stored: StoredModel, split: Split) -> None:
    """For a clicked conv1 cell: the filter's 3×3 window walks over the image and fills the map."""
    cell = state.current().cell
    inspector = get_inspector(stored.spec.key(), stored)
    if not cell or not inspector.layers or cell["layer"] != inspector.layers[0].name:
        return
    playing = st.session_state.get("slide_playing", False)
    st.session_state["slide_ticking"] = playing
    runtime.fragment(run_every=SLIDE_SPEED if playing else None)(_slide)(stored, split, cell)


def _slide(stored: StoredModel, split: Split, cell: dict) -> None:
    inspector = get_inspector(stored.spec.key(), stored)
    filter_index = state.filter_within(inspector.filters_per_layer[0])
    kernel, bias = inspector.layers[0].get_weights()
    pictures = state.pictures(split)
    image = pictures.pixels[cell["slot"]].reshape(28, 28)
    steps = _slide_steps(
        stored.spec.key(),
        pictures.keys[cell["slot"]],
        filter_index,
        image,
        kernel[:, :, 0, filter_index],
        float(bias[filter_index]),
    )
    side = int(round(len(steps) ** 0.5))
    key = "slide_step"
    if st.session_state.get("slide_cell") != cell:  # a newly clicked cell: the window starts there
        st.session_state["slide_cell"] = cell
        st.session_state[key] = cell["row"] * side + cell["col"]
    elif st.session_state.get("slide_playing"):
        st.session_state[key] = (st.session_state.get(key, 0) + 1) % len(steps)
    with st.container(key="slide", border=True):
        st.markdown(
            f"**Passing filter {filter_index} over image {cell['slot'] + 1}**: at each position the "
            f"3×3 window's nine pixels × the kernel, plus the bias, then ReLU, make one cell of the map."
        )
        back, left, forward, right = st.columns([1, 8, 1, 2], vertical_alignment="bottom")
        back.button("◀", key="slide_back", help="One position back", on_click=_step_slide, args=(-1, len(steps)))
        forward.button("▶", key="slide_forward", help="One position on", on_click=_step_slide, args=(1, len(steps)))
        step = left.slider("Window position (← / → step through it)", 0, len(steps) - 1, key=key)
        playing = right.toggle("▶ Play", key="slide_playing")
        if playing != st.session_state.get("slide_ticking"):  # the rerun cadence is set where the fragment starts
            st.rerun(scope="app")
        row, col, value = steps[step]
        output = np.full((side, side), np.nan)
        for r, c, v in steps[: step + 1]:
            output[r, c] = v
        chart(
            slide_figure(image, output, row, col, kernel.shape[0], f"conv1, filter {filter_index}"), key="slide_chart"
        )
        st.caption(f"Window at row {row}, column {col}: the map's cell there is **{value:.4f}**.")


def _step_slide(step: int, count: int) -> None:
    st.session_state["slide_step"] = (st.session_state.get("slide_step", 0) + step) % count


@st.cache_data(show_spinner=False, max_entries=32)
def _slide_steps(model_key: str, picture: int | tuple, filter_index: int, _image, _kernel, _bias) -> list:
    # Keyed by model, picture (Pictures.keys: a test index or a drawing's checksum) and filter: the arrays follow.
    return slide(_image, _kernel, _bias)


# -- the controls --------------------------------------------------------------------------------
def image_controls_ui(split: Split, num_filters: int) -> int:
    """Three image number boxes (the drawing's slot says so instead) and the filter's box; returns the filter.

    Number boxes, not sliders, for the images: 10,000 images on a slider of a few hundred
    pixels can't be dragged to image 1 or 2; a box takes a typed number and steps by one. The
    filter's slider is the chart's own (drawn in the browser, it redraws as the hand moves).
    """
    state.keep_images()  # the defaults, on a first visit
    state.show_filter(state.filter_within(num_filters))
    if state.presenting() and st.session_state.get(state.TOUR):  # a projector's room goes to the maps:
        return state.current().filter  # the tour sets the images, the grid's slider the filter
    columns = st.container(key="journey_controls").columns([1, 1, 1, 1], vertical_alignment="bottom")
    drawn = state.drawn_slot()
    for slot, key in enumerate(state.IMAGES):
        if slot == drawn:
            _drawn_slot_ui(columns[slot], slot)
            continue
        columns[slot].number_input(
            f"Image {slot + 1}" + ("" if state.presenting() else " (test index)"),
            0,
            len(split) - 1,
            step=1,
            key=key,
            persist_state=state.KEEP,
            help=f"A test image, 0–{len(split) - 1}: type its number, or step with − / + (↓ / ↑ in the box).",
        )
    if classroom.following():  # the teacher's filter is painted on the chart's slider, not typed here
        columns[3].caption("Filter: the teacher's, on the slider above the grid")
    else:
        state.filter_box(columns[3], "filter_box", num_filters, label="Filter", help=FILTER_HELP)
    return state.current().filter


def _drawn_slot_ui(column, slot: int) -> None:
    """In place of a slot's number box: it shows the drawing, and a button brings its test image back."""
    index = state.images()[slot]
    with column.container(key="journey_drawn_slot"):
        st.markdown(f"Image {slot + 1}: ✏️ **{state.DRAWING_NAME}**")
        st.button(
            f"↩ Back to test #{index}",
            key="drawn_slot_back",
            on_click=state.forget_drawn_slot,
            help=f"Show test image #{index} in this slot again. Your drawing stays on the ✏️ Draw pad.",
        )


def _journey_style(rows: int, columns: int, scale: str) -> JourneyStyle:
    """The panel size and font scale that fit the room the journey's chart reported."""
    room = chart_room(CHART)
    if not room.get("width") or not room.get("height"):
        return JourneyStyle(scale=scale)  # not reported yet (the first draw, AppTest): the default size
    fullscreen = bool(room.get("fullscreen"))
    presenter_font = PRESENTER_TOUR_FONT if st.session_state.get(state.TOUR) else PRESENTER_FONT
    font_scale = FULL_SCREEN_FONT if fullscreen else presenter_font if state.presenting() else 1.0
    largest = 10_000 if fullscreen or state.presenting() else PANEL  # a projector: as large as the screen allows
    panel = journey_panel(rows, columns, room["width"], room["height"], scale, font_scale, largest)
    return JourneyStyle(scale=scale, panel=panel, font_scale=font_scale)


def _chart_event() -> None:
    """The filter the chart's control settled on, a cell clicked (explain it), or presenter mode's image keys."""
    event = chart_event(CHART)
    if event is None:
        return
    if event.get("kind") == "filter" and isinstance(event.get("filter"), int) and event["filter"] >= 0:
        classroom.detach()  # a follower's chart reports only the student's own moves
        state.show_filter(event["filter"])  # clamped to the model's filters where it is drawn
    elif event.get("kind") == "click":
        click = event.get("click") or {}
        panel = click.get("panel") or {}
        if panel.get("layer") not in (None, "input"):  # a pixel of the input is no computation
            state.explain_cell(panel["slot"], panel["layer"], click["y"], click["x"])
    elif (
        event.get("kind") == "key"
        and state.presenting()
        and event.get("key") in ("1", "2", "3", "ArrowUp", "ArrowDown")
    ):
        _image_key(event["key"])  # presenter mode: 1 2 3 pick an image, ↑ ↓ step it


def _page_keys() -> bool:
    """Presenter mode's keys anywhere on the page, unless the tour is open: its ← / → move the tour."""
    return state.presenting() and not st.session_state.get(state.TOUR)


def _image_key(key: str) -> None:
    """Presenter mode's image keys: 1 2 3 choose the slot that ↑ / ↓ step (the third at first, the
    one the lesson changes)."""
    if key in ("1", "2", "3"):
        st.session_state[state.KEYED_SLOT] = int(key) - 1
        return
    slot = st.session_state.get(state.KEYED_SLOT, len(state.IMAGES) - 1)
    index = state.images()[slot]
    state.set_image(slot, min(max(index + (1 if key == "ArrowUp" else -1), 0), len(get_test_split()) - 1))


# -- picking images by label -----------------------------------------------------------------------
def label_picker_ui() -> None:
    st.subheader("Pick images by label")
    st.caption(
        "The lesson prints the first 100 test labels so you can pick images of one class. "
        "Choose a class to fill all three slots, or click rows to fill the slots one by one."
    )
    st.button(  # its own line: beside the words, a projector's 1024 px cut it
        "✏️ Draw your own",
        key="journey_draw",
        on_click=state.open_tab,
        args=("draw",),
        help="Opens ✏️ Draw: draw a picture, watch every layer answer as you draw, then send it here as image "
        "1, 2 or 3.",
    )
    left, right = st.columns([2, 1])
    left.selectbox(
        "Fill the three slots with the first three test images of class",
        [None, *range(len(CLASS_NAMES))],
        key="fill_class",
        on_change=_fill_slots_with_class,
        persist_state=state.KEEP,
        format_func=lambda c: "—" if c is None else f"{c} · {CLASS_NAMES[c]}",
    )
    st.session_state.setdefault(state.TARGET_SLOT, 0)
    right.radio(
        "A clicked image goes into slot",
        range(len(state.IMAGES)),
        key=state.TARGET_SLOT,
        persist_state=state.KEEP,
        format_func=lambda slot: str(slot + 1),
        horizontal=True,
    )
    table_key = f"label_table_{st.session_state.get('label_table_version', 0)}"
    st.container(key="label_table").dataframe(
        label_table(LABEL_TABLE_ROWS),
        key=table_key,
        on_select=functools.partial(_put_row_in_slot, table_key),
        selection_mode="single-row",
        hide_index=True,
        height=300,
        column_config={
            "image": st.column_config.ImageColumn("image", width="small"),
            "index": st.column_config.NumberColumn("test index"),
            "label": st.column_config.NumberColumn("label"),
        },
    )


def _fill_slots_with_class() -> None:
    class_index = st.session_state["fill_class"]
    if class_index is None:
        return
    state.set_images(first_of_class(get_test_split().labels, class_index))
    request_scroll(".st-key-journey_controls")  # the picker sits below the grid: show the grid


def _put_row_in_slot(table_key: str) -> None:
    rows = st.session_state[table_key].selection.rows
    if rows:
        state.send_to_journey(int(rows[0]))
    # A click is an action, not a lasting choice: a fresh table (new key) clears the tick, so
    # clicking the same row again puts that image into the next slot too.
    st.session_state["label_table_version"] = st.session_state.get("label_table_version", 0) + 1
