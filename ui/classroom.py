"""Follow the teacher: the sidebar's class box, the teacher's page publishing its view, students following.

A teacher starts a class and shows its code, link and QR code. The teacher's page publishes its
view (the URL parameters ``ui.state.sync_url`` writes, without presenter mode) whenever it
changes. A student's page polls the class's version twice a second in a small fragment; when it
grows, it reads the view and reruns the page, which applies it before any widget is drawn
(``apply_pending``). A student can detach to explore and rejoin with one click; a student's own
moves never reach the class: only a page holding the teacher's token publishes.
"""

from __future__ import annotations

from urllib.parse import urlencode

import streamlit as st

from convlab.classroom import (
    ClassError, MemoryStore, NotTheTeacher, StoreUnavailable, open_store, qr_svg, valid_code,
)

CLASS, TEACHER = "class", "teacher"  # the page's state (and URL) keys: the class code, the teacher's token
FOLLOWING = "following"  # a student's page applies the teacher's view (False: exploring alone)
POLL_SECONDS = 0.5  # students see a change within about a second: half a second's wait, then a rerun
NOT_FOLLOWED = ("present", CLASS, TEACHER)  # each page keeps its own presenter mode and its role


@st.cache_resource(show_spinner=False)
def get_class_store():
    """(store, problem): Redis when ``CONVLAB_REDIS_URL`` is set and answers, else this server's memory."""
    try:
        return open_store(), None
    except StoreUnavailable as error:
        return MemoryStore(), f"{error} Classes live in this server's memory meanwhile."


def role() -> str | None:
    if not st.session_state.get(CLASS):
        return None
    return "teacher" if st.session_state.get(TEACHER) else "student"


def _say(problem: str) -> None:
    st.session_state["class_problem"] = problem


def _leave(problem: str | None = None) -> None:
    for key in (CLASS, TEACHER, "class_version", "class_published"):
        st.session_state.pop(key, None)
    if problem:
        _say(problem)


# -- the teacher ---------------------------------------------------------------------------------
def _start() -> None:
    store, _ = get_class_store()
    try:
        started = store.start()
    except StoreUnavailable as error:
        _say(str(error))
        return
    st.session_state[CLASS], st.session_state[TEACHER] = started.code, started.token
    st.session_state.pop("class_published", None)


def _end() -> None:
    store, _ = get_class_store()
    try:
        store.end(st.session_state[CLASS], st.session_state[TEACHER])
    except (ClassError, NotTheTeacher, StoreUnavailable):
        pass  # ended already, or unreachable: either way this page leaves it
    _leave("The class has ended.")


def publish(view: dict[str, str]) -> None:
    """The teacher's page: publish the view when it changed (called by ``state.sync_url``)."""
    if role() != "teacher":
        return
    shared = {name: value for name, value in view.items() if name not in NOT_FOLLOWED}
    if shared == st.session_state.get("class_published"):
        return
    store, _ = get_class_store()
    try:
        store.publish(st.session_state[CLASS], st.session_state[TEACHER], shared)
    except NotTheTeacher:
        st.session_state.pop(TEACHER)
        _say("This page's teacher link doesn't match the class, so it follows the class instead of leading it.")
        return
    except ClassError as error:
        _leave(str(error))
        return
    except StoreUnavailable as error:
        if not st.session_state.get("class_problem"):  # said once at once; the class box keeps saying it
            st.toast("The class can't be reached: this page keeps working on its own.", icon="⚠️")
        _say(f"{error} This page keeps working on its own; the class sees its changes once the class store is back.")
        return
    st.session_state["class_published"] = shared
    st.session_state.pop("class_problem", None)


# -- the students --------------------------------------------------------------------------------
def _join() -> None:
    try:
        code = valid_code(st.session_state.get("join_code", ""))
        get_class_store()[0].read(code)
    except (ClassError, StoreUnavailable) as error:
        _say(str(error))
        return
    st.session_state[CLASS], st.session_state[FOLLOWING] = code, True
    st.session_state.pop(TEACHER, None)
    st.session_state.pop("class_version", None)
    st.session_state.pop("class_problem", None)


def _follow(on: bool) -> None:
    st.session_state[FOLLOWING] = on
    if on:
        st.session_state.pop("class_version", None)  # rejoin: take the teacher's view now


def _poll() -> None:
    """A student's page: when the class's version grew, fetch the view and rerun the page to apply it."""
    if role() != "student" or not st.session_state.get(FOLLOWING, True):
        return
    store, _ = get_class_store()
    code = st.session_state[CLASS]
    try:
        if store.version(code) == st.session_state.get("class_version"):
            return
        found = store.read(code)
    except ClassError as error:
        _leave(str(error))
        st.rerun(scope="app")
    except StoreUnavailable as error:
        _say(f"{error} This page keeps working on its own meanwhile.")
        return
    st.session_state["class_version"] = found.version
    st.session_state["pending_view"] = found.view
    st.session_state.pop("class_problem", None)
    st.rerun(scope="app")


def apply_pending(apply_view) -> None:
    """At the start of a run, before any widget: the teacher's view a poll fetched, applied."""
    view = st.session_state.pop("pending_view", None)
    if view is not None and st.session_state.get(FOLLOWING, True):
        apply_view(view)


# -- the sidebar's box ---------------------------------------------------------------------------
def classroom_ui() -> None:
    with st.sidebar.expander("👩‍🏫 Class: follow the teacher", expanded=role() is not None):
        problem = st.session_state.get("class_problem")
        store_problem = get_class_store()[1]
        for text in (store_problem, problem):
            if text:
                st.warning(text)
        if role() == "teacher":
            _teacher_box()
        elif role() == "student":
            _student_box()
        else:
            st.button("Start a class", key="class_start", on_click=_start, width="stretch",
                      help="Your students open the link (or scan the QR code) and see your view as you change it.")
            st.text_input("…or join one with its code", key="join_code", placeholder="K7PQ2M", max_chars=12)
            st.button("Join", key="class_join", on_click=_join, width="stretch")
    if role() == "student":
        # In the sidebar: in the main area, a poll landing just after the full rerun it caused could
        # leave a student's main area blank under load (Streamlit's stale-element cleanup; see
        # bench/classroom_load.py's Chromium student).
        with st.sidebar:
            st.fragment(run_every=POLL_SECONDS)(_poll)()


def _link(code: str) -> str:
    base = (st.context.url or "").split("?")[0] or "http://localhost:8501/"
    return f"{base}?{urlencode({CLASS: code})}"


def _teacher_box() -> None:
    code = st.session_state[CLASS]
    link = _link(code)
    st.markdown(f"Class code **`{code}`**  \nStudents open [this link]({link}) or scan:")
    st.image(qr_svg(link), width=220)
    st.caption(f"Only this page changes the class (its address holds your teacher key: don't share it). "
               f"The class lives in {get_class_store()[0].describe()} and ends after an hour without a change.")
    if st.button("📣 Show it to the class", key="class_show", width="stretch", type="primary"):
        _show_to_the_class(code, link)
    st.button("End the class", key="class_end", on_click=_end, width="stretch")


@st.dialog("Join the class", width="large")
def _show_to_the_class(code: str, link: str) -> None:
    """The code, the link and the QR code large enough to read and scan from the back of a room."""
    words, picture = st.columns([3, 2], vertical_alignment="center")
    words.markdown(f"<div style='font-size: 4.5rem; font-weight: 700; letter-spacing: 0.15em'>{code}</div>",
                   unsafe_allow_html=True)
    words.markdown(f"Open **{link}**, or scan the code: your page then follows this one.")
    picture.image(qr_svg(link), width="stretch")


def _student_box() -> None:
    code = st.session_state[CLASS]
    if st.session_state.get(FOLLOWING, True):
        st.markdown(f"Following class **`{code}`**: this page shows the teacher's view.")
        st.button("Explore on my own", key="class_detach", on_click=_follow, args=(False,), width="stretch")
    else:
        st.markdown(f"Exploring on your own (class **`{code}`**).")
        st.button("Rejoin the class", key="class_rejoin", on_click=_follow, args=(True,), width="stretch",
                  type="primary")
    st.button("Leave the class", key="class_leave", on_click=_leave, width="stretch")
