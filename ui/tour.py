"""The lesson tour: about ten steps above the tabs, each setting the page's view and telling what to see.

The steps and their numbers come from ``convlab.tour``, computed from the shipped models (which
filter shows what the boots share is found in the model, not copied from the video). Back and
Next (or ← / →) move through them; a step that asks a question hides its answer until "Reveal";
the step is in the URL (``tour=3``), so any step can be linked, and a class follows it.
"""

from __future__ import annotations

import streamlit as st

from convlab.models import PRESETS
from convlab.tour import SLUGS, Step, lesson_tour

from . import runs as runs_module
from . import state
from .resources import get_inspector, get_store, get_test_split

def step_count() -> int:
    """The tour's steps, known without computing them (a link's tour=N is checked before any model loads)."""
    return len(SLUGS)


@st.cache_resource(show_spinner="Finding, in the model, the filters the tour shows…")
def get_tour(conv_created: str, dense_created: str) -> list[Step]:
    """The tour for the shipped models (keyed by their creation times: a retrained model gets a new tour)."""
    store = get_store()
    conv = store.load(PRESETS["conv"])
    # The conv model's shared inspector: its runs go through the same lock as every session's.
    return lesson_tour(conv, store.load(PRESETS["dense"]), get_test_split(), get_inspector(conv.spec.key(), conv))


def _tour(runs: dict[str, runs_module.Run]) -> list[Step]:
    for spec in PRESETS.values():
        runs_module.load(runs[spec.key()])  # a missing or damaged lesson model is trained first
    return get_tour(runs[PRESETS["conv"].key()].meta.get("created", ""), runs[PRESETS["dense"].key()].meta.get("created", ""))


def go(number: int, runs: dict[str, runs_module.Run]) -> None:
    """Open step ``number`` (1-based): its view becomes the page's."""
    steps = _tour(runs)
    number = min(max(number, 1), len(steps))
    state.apply_view(steps[number - 1].view, runs)
    st.session_state[state.TOUR] = number


def close() -> None:
    st.session_state.pop(state.TOUR, None)


def start_button(runs: dict[str, runs_module.Run]) -> None:
    st.sidebar.button("🧭 Lesson tour", key="tour_start", on_click=go, args=(1, runs), width="stretch",
                      help="The lesson in ten steps on ConvLab's own models: each step sets the view and says what "
                           "to look for. ← / → move between steps.")


def tour_ui(runs: dict[str, runs_module.Run]) -> None:
    number = st.session_state.get(state.TOUR)
    if not number:
        return
    steps = _tour(runs)
    number = min(max(int(number), 1), len(steps))
    step = steps[number - 1]
    with st.container(key="tour", border=True):
        head, dots, close_column = st.columns([5, 4, 1], vertical_alignment="center")
        head.markdown(f"**🧭 Step {number} of {len(steps)}: {step.title}**")
        dots.markdown(" ".join("●" if n == number else "○" for n in range(1, len(steps) + 1)),
                      help=" · ".join(f"{n}. {s.title}" for n, s in enumerate(steps, start=1)))
        close_column.button("✕", key="tour_close", on_click=close, help="Close the tour", width="stretch")
        st.markdown(step.narration)
        if step.question:
            revealed = st.session_state.get(f"tour_revealed_{number}", False)
            st.markdown(f"**❓ {step.question}**")
            if revealed:
                st.markdown(step.answer or "")
            else:
                st.button("Reveal", key=f"tour_reveal_{number}", on_click=st.session_state.__setitem__,
                          args=(f"tour_revealed_{number}", True), type="primary")
        back, _, forward = st.columns([1, 4, 1])
        back.button("◀ Back", key="tour_back", on_click=go, args=(number - 1, runs), disabled=number == 1,
                    shortcut="Left", width="stretch")
        forward.button("Next ▶", key="tour_next", on_click=go, args=(number + 1, runs), disabled=number == len(steps),
                       shortcut="Right", width="stretch", type="primary")
