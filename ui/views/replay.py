"""Watch the filters learn: a training replayed from the snapshots it recorded.

A slider (and a Play switch) moves through the snapshots: the journey's grid, conv1's kernels
and the accuracy so far, all as they were at that moment, so edge detectors are seen emerging
from noise. The replay exports as an animated GIF for slides, and the moment shown as a PNG.
"""

from __future__ import annotations

import functools

import streamlit as st

from convlab import frames
from convlab.figures.curves import replay_accuracy_figure
from convlab.figures.journey import row_titles
from convlab.figures.scales import SCALE_MODES
from convlab.figures.tiles import KERNELS, tiles_figure
from convlab.replay import Replay
from convlab.timing import timed

from .. import state
from ..charts import journey_grid, live_chart
from ..resources import get_replay
from . import Page

FRAME_SECONDS = 0.8  # while playing: time to see each moment, yet a whole training plays in seconds
PLAYING, TICKING = "replay_playing", "replay_ticking"


def render(page: Page) -> None:
    st.header("Watch the filters learn")
    replay, problem = get_replay(page.run.key, page.run.meta.get("created", ""), page.stored)
    if replay is None:
        st.info(problem, icon="⏯️")
        return
    playing = bool(st.session_state.get(PLAYING, False))
    st.session_state[TICKING] = playing  # the cadence this fragment was started with
    state.fragment(run_every=FRAME_SECONDS if playing else None)(_replay_ui)(page, replay)


def _replay_ui(page: Page, replay: Replay) -> None:
    with timed("replay"):  # a slider move or a tick reruns just this
        _replay(page, replay)


def _replay(page: Page, replay: Replay) -> None:
    count, points = len(replay), replay.snapshots.points
    index = state.choose_snapshot(count)
    if st.session_state.get(PLAYING) and st.session_state.get(TICKING):
        if index < count - 1:
            index = st.session_state[state.SNAPSHOT] = index + 1
        else:
            st.session_state[PLAYING] = False  # the end: stop (before the switch is drawn)
    layers = page.run.spec.feature_layers()
    num_filters = max((filters for _, _, filters in layers), default=0)
    st.caption(
        f"This training recorded its weights {count} times: before it started (random), "
        f"{sum(1 for p in points if 0 < p.epochs < 1)} times during the first epoch, where learning is fastest, "
        "and at each epoch's end. Move the slider or press Play: everything below is as it was at that moment."
    )
    play, slider, box = st.columns([1.2, 6, 1.4] if num_filters else [1.2, 7, 0.01], vertical_alignment="bottom")
    playing = play.toggle(
        "▶ Play",
        key=PLAYING,
        on_change=_rewind_at_end,
        args=(count,),
        help=f"Step through the snapshots, one every {FRAME_SECONDS:g} s; moving the slider meanwhile takes over.",
    )
    if playing != st.session_state.get(TICKING):  # the rerun cadence is set where the fragment starts
        st.rerun(scope="app")
    slider.select_slider(
        "Snapshot",
        options=range(count),
        key=state.SNAPSHOT,
        format_func=lambda i: points[i].label,
        on_change=_stop_playing,
        help="← / → step through the snapshots once the slider is clicked.",
    )
    point = points[index]
    sample = replay.snapshots.sample
    train_source = (
        f"on {sample.get('train', 0):,} training images"
        if index == 0
        else "Keras' running figure for the epoch so far, as the lesson prints it"
    )
    st.markdown(
        f"**{point.label}** · {point.epochs:.2f} epochs trained · accuracy: train **{point.train_accuracy:.1%}** "
        f"({train_source}), test **{point.test_accuracy:.1%}** (on {sample.get('test', 0):,} test images)"
    )
    pictures = state.pictures(page.split)  # test images, or the page's drawing in the slot it was sent to
    images = pictures.pixels
    activations = replay.activations(index, images)
    history = page.run.meta.get("history", {}).get("test_accuracy", [])
    if not num_filters:
        st.info(f"The model **{page.run.label}** has no conv layers: there are no filters to watch, only its accuracy.")
        live_chart(replay_accuracy_figure(points, index, history), key="replay_accuracy")
        return
    filter_index = state.filter_box(box, "replay_filter", num_filters, label="Filter")
    # The grid across the page's width: beside the kernels its column titles ran together (issue 22).
    with st.container():
        journey_grid(
            activations,
            images,
            pictures,
            replay.inspector.filters_per_layer,
            filter_index,
            scale=state.current().scale,
            panel=130,
            key="replay_chart",
            title="The journey's images at this snapshot",
        )
        st.caption(
            f"The journey's images through filter {filter_index}, with this snapshot's weights; "
            f"colour scale: {SCALE_MODES[state.current().scale]}. The predictions are this snapshot's too."
        )
    kernels_column, accuracy_column = st.columns(2)
    with kernels_column:
        kernels = replay.kernels(index)
        limit = replay.kernel_limit
        live_chart(
            tiles_figure(
                [kernels[:, :, 0, f] for f in range(kernels.shape[-1])],
                [str(f) for f in range(kernels.shape[-1])],
                KERNELS.sized(columns=8, tile_px=34),
                shared_range=(-limit, limit),
                highlight=filter_index if filter_index < kernels.shape[-1] else None,
            ),
            key="replay_kernels",
            title="conv1's kernels at this snapshot",
        )
        st.caption(
            f"conv1's {kernels.shape[-1]} kernels, on one colour scale for the whole replay "
            f"(±{limit:.2f}): watch them turn from noise into edge and blob detectors."
        )
    with accuracy_column:
        live_chart(
            replay_accuracy_figure(points, index, history),
            key="replay_accuracy",
            title="Accuracy during training, up to this snapshot",
        )
    _downloads_ui(page, replay, pictures, index, filter_index)


def _rewind_at_end(count: int) -> None:
    """Play pressed at the last snapshot: start again from the beginning."""
    if st.session_state.get(PLAYING) and st.session_state.get(state.SNAPSHOT, 0) >= count - 1:
        st.session_state[state.SNAPSHOT] = 0


def _stop_playing() -> None:
    st.session_state[PLAYING] = False


def _downloads_ui(page: Page, replay: Replay, pictures: state.Pictures, index: int, filter_index: int) -> None:
    name = f"convlab-replay-{page.run.key}-filter{filter_index}"
    arguments = dict(
        replay=replay,
        pictures=pictures,
        filter_index=filter_index,
        scale=state.current().scale,
        title=page.run.label,
    )
    # The buttons as wide as their words, the note beside them while there is room (else below): never cut.
    row = st.container(horizontal=True, vertical_alignment="center", gap="small")
    row.download_button(
        "⬇ This moment (PNG)",
        data=functools.partial(_png, index=index, **arguments),
        file_name=f"{name}-snapshot{index}.png",
        mime="image/png",
        on_click="ignore",
        key="replay_png",
    )
    row.download_button(
        "⬇ The whole replay (GIF)",
        data=functools.partial(_gif, **arguments),
        file_name=f"{name}.gif",
        mime="image/gif",
        on_click="ignore",
        key="replay_gif",
    )
    row.caption(
        f"For slides: the grid, the kernels and the accuracy in one picture; the GIF plays all "
        f"{len(replay)} snapshots, one every {FRAME_SECONDS:g} s, and holds the last."
    )


# Called by the download buttons when clicked, outside the script run: everything they need is passed in.
def _frames(
    replay: Replay,
    pictures: state.Pictures,
    filter_index: int,
    scale: str,
    title: str,
    snapshots: list[int],
) -> list:
    """The replay's pictures at ``snapshots``, on colour scales shared by all of them."""
    images, labels = pictures.pixels, list(pictures.labels)
    runs = [replay.activations(index, images) for index in snapshots]
    maps = [activations.filter_maps(filter_index) for activations in runs]
    tops = frames.fixed_map_tops(maps, scale) if scale != "panel" else None
    points = [frames.FramePoint(p.epochs, p.train_accuracy, p.test_accuracy) for p in replay.snapshots.points]
    return [
        frames.replay_frame(
            images=images,
            maps=frame_maps,
            layer_names=list(activations.layer_names),
            row_titles=row_titles(pictures.ids, labels, activations.probabilities),
            wrong=activations.mistaken(labels),
            kernels=replay.kernels(index),
            chosen_filter=filter_index,
            points=points,
            current=index,
            title=f"{title} · {replay.snapshots.points[index].label} · filter {filter_index}",
            scale=scale,
            kernel_range=replay.kernel_limit,
            map_tops=tops,
        )
        for index, activations, frame_maps in zip(snapshots, runs, maps)
    ]


def _png(index: int, **arguments) -> bytes:
    return frames.png_bytes(_frames(snapshots=[index], **arguments)[0])


def _gif(**arguments) -> bytes:
    pictures = _frames(snapshots=list(range(len(arguments["replay"]))), **arguments)
    return frames.gif_bytes(pictures, seconds_per_frame=FRAME_SECONDS)
