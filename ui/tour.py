"""The lesson tour: its steps in a compact strip above the tabs, each setting the page's view and telling what to see.

The steps and their numbers come from ``convlab.tour``, computed from the shipped models (which
filter shows what the boots share is found in the model, not copied from the video). The strip
keeps the picture on the screen (issue 21): one line with the step, its dots and Back / Next
(Finish on the last step) / Close; then the step's lead (its whole text under "More") and its
question, with Reveal on the same line. ← / → move through the steps while the tour is open; the
step is in the URL (``tour=3``), so any step can be linked, and a class follows it.
"""

from __future__ import annotations

import functools
import threading
from concurrent.futures import Future
from pathlib import Path

import streamlit as st

from convlab import background
from convlab.models import PRESETS
from convlab.store import StoredModel
from convlab.timing import timed
from convlab.tour import Step, lesson_tour

from . import runs as runs_module
from . import state
from .resources import get_inspector, get_test_split, get_testset_cache, get_tour_cache

# The images of the open step when it mixes classes on purpose (``Step.mixed``): the journey then
# leaves out its "these images don't share a label" note, the tour's words say why.
MIXED = "tour_mixed_images"
NOTED = "tour_file_noted"  # the session was told what went wrong with the saved tour's file
KEYS = "tour_keys"  # the ← → keys' component (components/tour_keys)
KEYS_JS = Path(__file__).resolve().parent.parent / "components" / "tour_keys" / "keys.js"
_STARTING = threading.Lock()  # two sessions asking at once start one computation of the tour
# The strip's own spacing (Streamlit's default gaps and paddings would take a fifth of a 720 px
# screen), and, while the tour is open, the journey's heading and helper line give way to it: the
# tour says what to look at.
CSS = """<style>
div.st-key-tour { gap: 0.3rem; padding: 0.4rem 0.75rem; }
div.st-key-tour button { min-height: 1.6rem; padding-top: 0; padding-bottom: 0; }
div.st-key-tour_dots p { letter-spacing: 0.08em; white-space: nowrap; }
/* A narrow strip (1024 px with the sidebar open) gives the dots' room to the step's heading, which
   else wrapped over three lines beside them; Back / Next keep their words whole (issue 22). */
div.st-key-tour { container-type: inline-size; }
@container (max-width: 700px) { div.st-key-tour_dots { display: none; } }
div.st-key-tour_head, div.st-key-tour_text { overflow: visible; }  /* a paragraph's margin is no reason to scroll */
div.st-key-tour_keys { display: none; }  /* the keys' listener: nothing to see */
[data-testid="stElementContainer"]:has(~ [data-testid="stLayoutWrapper"] > .st-key-journey_controls) { display: none; }
</style>"""
# Presenter mode: 768 px of a projector's height hold the bar, the strip in 20 px type, the tabs
# and the grid only if the journey's number boxes go without their labels while the tour is open
# (the grid's row titles name each row's image, its own bar the filter).
PRESENTER_CSS = """<style>
div.st-key-journey_controls [data-testid="stWidgetLabel"] { display: none; }
</style>"""


@st.cache_resource(show_spinner=False)
def _tours() -> dict[tuple[str, str], Future]:
    """(conv model's creation time, dense model's) -> its tour, being computed or done: one computation per
    server process (a retrained model gets a new tour)."""
    return {}


def start(conv: StoredModel, dense: StoredModel, queue: list | None = None) -> Future:
    """The tour of the lesson's two models, unless it is under way or done: (steps, a note on the saved file or
    None), read from beside the models (``convlab.tourcache``) or computed in a daemon thread, or, with ``queue``,
    by the page's background work after its other pieces (app.py hands this to ``resources.warm_up``)."""
    key, tours = (conv.meta.get("created", ""), dense.meta.get("created", "")), _tours()
    with _STARTING:
        work = tours.get(key)
        if work is None or (work.done() and work.exception() is not None):  # a failure is tried again
            work = tours[key] = Future()
            # The conv model's shared inspector: its runs go through the same lock as every session's.
            inspector, kept = get_inspector(conv.spec.key(), conv), get_tour_cache()
            job = functools.partial(_compute, work, conv, dense, get_test_split(), inspector, get_testset_cache(), kept)
            # A tour saved by an earlier server is read at once (a teacher may open it first thing); measuring
            # waits its turn behind the views' own warm-up.
            if queue is None or kept.path(conv).exists():
                background.start(job, name="convlab-tour")
            else:
                queue.append(job)
    return work


def _compute(work: Future, conv, dense, split, inspector, testset_cache, kept) -> None:
    def measure() -> list[Step]:
        # Each filter's typical response from the test-set maxima kept beside the model (convlab.testset),
        # waited for before taking the background's turn to run TensorFlow.
        maxima = testset_cache.get(conv, split)[0].maxima
        with background.heavy, timed("tour"):
            return lesson_tour(conv, dense, split, inspector, maxima)

    if not work.set_running_or_notify_cancel():
        return
    try:
        with timed("tour kept or measured"):
            work.set_result(kept.get(conv, dense, split, measure))
    except BaseException as error:  # noqa: BLE001 - raised where the tour is asked for
        work.set_exception(error)


def _tour(runs: dict[str, runs_module.Run]) -> list[Step]:
    # A missing or damaged lesson model is trained first (runs.load).
    work = start(*(runs_module.load(runs[PRESETS[name].key()]) for name in ("conv", "dense")))
    if not work.done():
        with st.spinner("Finding, in the model, the filters the tour shows…"):
            work.result()
    steps, note = work.result()
    if note and not st.session_state.get(NOTED):  # a saved tour unreadable or unsavable: said once a session
        st.session_state[NOTED] = True
        st.toast(note)
    return steps


def _within(number, steps: list[Step]) -> int:
    """Step ``number`` (1-based) clamped to the tour's steps."""
    return min(max(int(number), 1), len(steps))


def go(number: int, runs: dict[str, runs_module.Run]) -> None:
    """Open step ``number`` (1-based): its view becomes the page's."""
    steps = _tour(runs)
    number = _within(number, steps)
    state.apply_view(steps[number - 1].view, runs)
    st.session_state[state.TOUR] = number


def open_linked_step(runs: dict[str, runs_module.Run]) -> None:
    """A link naming a step (``?tour=4``) opens that step's view: the step sets what the link leaves out (its
    model, images, filter, view), once, when the tour is known; what the link names itself stays."""
    named = st.session_state.pop(state.LINKED_STEP, None)
    number = st.session_state.get(state.TOUR)
    if named is None or not number:
        return
    steps = _tour(runs)
    state.take_view(steps[_within(number, steps) - 1].view, runs, keep=named)


def close() -> None:
    st.session_state.pop(state.TOUR, None)
    st.session_state.pop(MIXED, None)


def step_from(shown: int, number: int, runs: dict[str, runs_module.Run]) -> None:
    """Back, Next, Finish and the ← → keys: move from step ``shown`` to ``number`` (past the last: close), only
    if ``shown`` is the session's step. A press that reaches the server after the step changed (a stale copy
    of a button, a key pressed while a rerun was on its way) is dropped: the tour moves once. (The session's
    step, set by the move itself, not the step a run last drew: that record could lag, and under load a
    stale press then moved the tour twice.)"""
    current, steps = st.session_state.get(state.TOUR), _tour(runs)
    if not current or _within(current, steps) != shown:
        return
    if number > len(steps):
        close()
    elif number >= 1:
        go(number, runs)


def _key_pressed(runs: dict[str, runs_module.Run]) -> None:
    """The ← → keys' callback (components/tour_keys): {from: the step the page showed, by: -1 or 1, n}."""
    move = (st.session_state.get(KEYS) or {}).get("move")
    if isinstance(move, dict) and isinstance(move.get("from"), int) and move.get("by") in (-1, 1):
        step_from(move["from"], move["from"] + move["by"], runs)


@st.cache_resource(show_spinner=False)
def _keys_component():
    """The ← → keys' mount callable (no markup: a listener on the page), registered once."""
    return st.components.v2.component("tour_keys", js=KEYS_JS.read_text(encoding="utf-8"))


def is_open() -> bool:
    return bool(st.session_state.get(state.TOUR))


def mixed_on_purpose(indices) -> bool:
    """Whether the page shows the open step's images and that step mixes classes on purpose."""
    return is_open() and st.session_state.get(MIXED) == [int(index) for index in indices]


def start_button(runs: dict[str, runs_module.Run]) -> None:
    st.sidebar.button(
        "🧭 Lesson tour",
        key="tour_start",
        on_click=go,
        args=(1, runs),
        width="stretch",
        help="The lesson in ten steps on ConvLab's own models: each step sets the view and says what "
        "to look for. ← / → move between steps.",
    )


def presenter_button(runs: dict[str, runs_module.Run]) -> None:
    """Presenter mode's bar: start the tour while it is closed (the open tour's strip has its own controls)."""
    if not is_open():
        st.button(
            "🧭 Tour",
            key="present_tour_start",
            on_click=go,
            args=(1, runs),
            help="The lesson in ten steps: each sets the view and says what to look for.",
        )


def tour_ui(runs: dict[str, runs_module.Run]) -> None:
    number = st.session_state.get(state.TOUR)
    if not number:
        st.session_state.pop(MIXED, None)
        return
    steps = _tour(runs)
    number = _within(number, steps)
    step = steps[number - 1]
    st.session_state[MIXED] = [int(i) for i in step.view["images"].split(",")] if step.mixed else None
    revealed = bool(step.question) and st.session_state.get(f"tour_revealed_{number}", False)
    st.html(CSS + (PRESENTER_CSS if state.presenting() else ""))
    with st.container(key="tour", border=True):
        with st.container(key="tour_head", horizontal=True, vertical_alignment="center", gap="small", wrap=False):
            st.markdown(f"**🧭 Step {number} of {len(steps)}: {step.title}**", width="stretch")
            with st.container(key="tour_dots", width="content"):
                st.markdown(
                    " ".join("●" if n == number else "○" for n in range(1, len(steps) + 1)),
                    help=" · ".join(f"{n}. {s.title}" for n, s in enumerate(steps, start=1)),
                )
            # Keyed by the step, and moving from it (``step_from``): a click on a copy of the last step's button,
            # still on the page while a rerun is on its way, changes nothing.
            st.button(
                "◀ Back",
                key=f"tour_back_{number}",
                on_click=step_from,
                args=(number, number - 1, runs),
                disabled=number == 1,
                help="Back a step (←)",
            )
            if number < len(steps):
                st.button(
                    "Next ▶",
                    key=f"tour_next_{number}",
                    on_click=step_from,
                    args=(number, number + 1, runs),
                    help="The next step (→)",
                    type="primary",
                )
            else:  # the last step: Finish closes the tour
                st.button(
                    "✓ Finish",
                    key="tour_finish",
                    on_click=step_from,
                    args=(number, number + 1, runs),
                    help="Close the tour (→)",
                    type="primary",
                )
            st.button("✕", key="tour_close", on_click=close, help="Close the tour")
        # One paragraph: the lead and the question (once revealed: the question and the answer's first
        # sentence, which answers it); "More" holds the step's whole text, Reveal the answer.
        if revealed:
            words = f"**❓ {step.question}** 💡 {step.verdict}"
        else:
            words = step.short + (f" **❓ {step.question}**" if step.question else "")
        with st.container(key="tour_text", horizontal=True, vertical_alignment="center", gap="small", wrap=False):
            st.markdown(words, width="stretch")
            with st.popover("More", key="tour_more"):
                st.markdown(step.narration)
                if revealed:
                    st.markdown(f"💡 {step.answer}")
            if step.question and not revealed:
                st.button(
                    "Reveal",
                    key=f"tour_reveal_{number}",
                    on_click=st.session_state.__setitem__,
                    args=(f"tour_revealed_{number}", True),
                    type="primary",
                )
        _keys_component()(key=KEYS, data={"step": number}, on_move_change=functools.partial(_key_pressed, runs))
