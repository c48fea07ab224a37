"""Follow the teacher: the class box, the teacher's page publishing its view, students following.

A teacher starts a class and shows its code, link and QR code (a link every device in the room
can open: ``convlab.classlink``). The teacher's page publishes its view (the URL parameters
``ui.state.sync_url`` writes, without presenter mode) whenever it changes, and says it is still
open once a minute (the heartbeat), so the class lives as long as the teacher does.

A student's page holds the class's feed open (``components/class_follow``, ``ui/feed.py``). A
change of the filter alone is painted by the journey's chart from the maps it holds; new images
are drawn by the journey's own run; any other change reruns the page, which reads the class's
view and applies it before any widget is drawn (:func:`follow_the_class`). Nothing reruns on the server per
student for a filter change. A
student's own move detaches the page ("You're exploring on your own · Rejoin the class"); a
student's moves never reach the class: only a page holding the teacher's token publishes, and a
link with a wrong teacher key opens a student's page with a note.
"""

from __future__ import annotations

import html
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import streamlit as st
import streamlit.components.v1 as components

from convlab.classlink import ENV_VAR as PUBLIC_URL_VAR
from convlab.classlink import ClassLink, class_link
from convlab.classroom import ClassError, NotTheTeacher, StoreUnavailable, qr_svg, valid_code

from . import feed, runtime

CLASS, TEACHER = "class", "teacher"  # the page's state (and URL) keys: the class code, the teacher's token
FOLLOWING = "following"  # a student's page applies the teacher's view (False: exploring alone)
BEFORE = "class_before"  # a following page's views before the class's it applied that the browser may not show yet
UNCONFIRMED_SECONDS = 5  # how long after the class's view is applied a browser may still send its widgets' old values
# Each page keeps its own presenter mode, its role and its maps' colour map (a colour-blind student's own).
NOT_FOLLOWED = ("present", "palette", CLASS, TEACHER)
CONNECTION = "class_connection"  # the invisible component's key


@st.cache_resource(show_spinner=False)
def _connection():
    """Declared in a run, not at import (see ``ui.charts._chart_component``)."""
    return components.declare_component(
        "class_follow", path=str(Path(__file__).resolve().parent.parent / "components" / "class_follow")
    )


def get_class_store():
    """(store, problem): Redis when ``CONVLAB_REDIS_URL`` is set and answers, else this server's memory."""
    return feed.class_store()


def role() -> str | None:
    if not st.session_state.get(CLASS):
        return None
    return "teacher" if st.session_state.get(TEACHER) else "student"


def following() -> bool:
    return role() == "student" and st.session_state.get(FOLLOWING, True)


def _say(problem: str) -> None:
    st.session_state["class_problem"] = problem


def _leave(problem: str | None = None) -> None:
    keys = (CLASS, TEACHER, "class_version", "class_published", "class_shown", BEFORE, FOLLOWING, "class_link_note")
    for key in keys:
        st.session_state.pop(key, None)
    if problem:
        _say(problem)


def shared(view: dict[str, str]) -> dict[str, str]:
    """What a class shares of a page's view: all but presenter mode, the maps' colour map and the page's role."""
    return {name: value for name, value in view.items() if name not in NOT_FOLLOWED}


# -- a link that opened this page ------------------------------------------------------------------
def check_link() -> None:
    """After a link's class and teacher key are taken: a class that isn't running is left with a
    note; a teacher key that isn't the class's makes this page a student's, with a note."""
    code = st.session_state.get(CLASS)
    if not code:
        return
    store, _ = get_class_store()
    try:
        store.read(code)
        token = st.session_state.get(TEACHER)
        if token and not store.is_teacher(code, token):
            st.session_state.pop(TEACHER)
            st.session_state[FOLLOWING] = True
            st.session_state["class_link_note"] = (
                f"This link's teacher key isn't class {code}'s, so this page follows the class like a "
                "student's. To lead it, open the link the class started with (on the teacher's device)."
            )
    except ClassError as error:
        _leave(str(error))
    except StoreUnavailable as error:
        _say(f"{error} This page keeps working on its own meanwhile.")


# -- the teacher ---------------------------------------------------------------------------------
def _client() -> str:
    """Who starts a class, for the limit on starts a minute: the address a proxy saw, else the socket's."""
    headers = st.context.headers or {}
    for value in (headers.get("X-Real-Ip"), headers.get("X-Forwarded-For"), st.context.ip_address):
        if isinstance(value, str) and value.split(",")[0].strip():
            return value.split(",")[0].strip()
    return f"session {runtime.session_id()}"  # no address known (a test's page): this session


def _start() -> None:
    store, _ = get_class_store()
    try:
        started = store.start(client=_client())
    except (ClassError, StoreUnavailable) as error:  # too many classes, too many starts, or no store
        _say(str(error))
        return
    st.session_state[CLASS], st.session_state[TEACHER] = started.code, started.token
    st.session_state.pop("class_published", None)
    st.session_state.pop("class_problem", None)
    st.session_state["class_show_now"] = True  # what a teacher does next: put the code up for the room


def _end() -> None:
    code, token = st.session_state.get(CLASS), st.session_state.get(TEACHER)
    if code and token:
        store, _ = get_class_store()
        try:
            store.end(code, token)
            feed.FEED.notify(code)
        except (ClassError, NotTheTeacher, StoreUnavailable):
            pass  # ended already, or unreachable: either way this page leaves it
    _leave("The class has ended.")


def publish(view: dict[str, str]) -> None:
    """The teacher's page: publish the view when it changed (called by ``state.sync_url``)."""
    if role() == "student":
        st.session_state["class_shown"] = shared(view)  # a student's own move is told from this
        return
    if role() != "teacher":
        return
    view, published = shared(view), st.session_state.get("class_published")
    if published is not None and view == published | ({"layer": view["layer"]} if "layer" in view else {}):
        return  # unchanged, or only the filters view's default layer named: followers draw the same
    store, _ = get_class_store()
    code = st.session_state[CLASS]
    try:
        store.publish(code, st.session_state[TEACHER], view)
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
    feed.FEED.notify(code)  # followers on this server hear of it now, not at the next look
    st.session_state["class_published"] = view
    st.session_state.pop("class_problem", None)


# -- the students --------------------------------------------------------------------------------
def _join() -> None:
    try:
        code = valid_code(st.session_state.get("join_code", ""))
        get_class_store()[0].read(code)
    except (ClassError, StoreUnavailable) as error:
        _say(str(error))
        return
    _leave()
    st.session_state[CLASS], st.session_state[FOLLOWING] = code, True
    st.session_state.pop("class_problem", None)


def detach() -> None:
    """A following student's own move (a callback says so): the page explores on its own from here."""
    if following():
        st.session_state[FOLLOWING] = False
        st.session_state.pop(BEFORE, None)
        st.session_state["class_detached_now"] = True


def _follow(on: bool) -> None:
    st.session_state[FOLLOWING] = on
    st.session_state.pop(BEFORE, None)
    if on:
        st.session_state.pop("class_version", None)  # rejoin: take the teacher's view now


def follow_the_class(
    view_now: Callable[[], dict[str, str]], apply_view: Callable[[dict], None], in_fragment: bool = False
) -> None:
    """At the start of a following student's run: a move of the student's own detaches the page;
    otherwise the class's newest view, if the page doesn't show it yet, is applied.

    ``view_now``: the page's view as URL parameters (its widgets' new values included);
    ``apply_view``: makes a view the page's. A fragment (``in_fragment``, the journey) passes what
    its own run takes of a view (``IN_PLACE``): a change beyond that reruns the whole page, which
    applies it.
    """
    whole_run = not in_fragment
    if role() != "student" or (not whole_run and not runtime.in_fragment_run()):
        return  # a fragment drawn in a whole run: that run has checked
    found, now = None, shared(view_now())
    before = _unconfirmed(now)
    if following():
        store, _ = get_class_store()
        try:
            found = store.read(st.session_state[CLASS])
        except ClassError as error:
            _leave(str(error))
            if not whole_run:
                st.rerun(scope="app")
            return
        except StoreUnavailable as error:
            _say(f"{error} This page keeps working on its own meanwhile.")
        if _moved_by_student(now, st.session_state.get("class_shown"), found.view if found else None, before):
            detach()
    if not following():
        if st.session_state.pop("class_detached_now", False) and not whole_run:
            st.rerun(scope="app")  # the sidebar and the banner say so
        return
    if found is None or (found.version == st.session_state.get("class_version") and not before):
        return  # shown already (else the browser's widgets sent old values back: the view is applied again)
    if not whole_run:
        changed = {name for name in set(found.view) | set(now) if found.view.get(name) != now.get(name)}
        if not changed <= IN_PLACE:
            st.rerun(scope="app")  # more than the journey shows: the whole page applies it
    st.session_state["class_version"] = found.version
    st.session_state.pop("class_problem", None)
    # What the browser's widgets hold until this run's values reach it: a run asked for meanwhile sends them back.
    since = st.session_state[BEFORE]["at"] if before else time.monotonic()
    st.session_state[BEFORE] = {"at": since, "views": [*before, now][-8:]}
    apply_view(found.view)
    st.session_state["class_shown"] = shared(view_now())  # a run stopped early still left this behind


def _moved_by_student(
    now: dict[str, str],
    shown: dict[str, str] | None,
    teachers: dict[str, str] | None,
    before: Sequence[dict[str, str]] = (),
) -> bool:
    """Whether the page's view ``now`` holds a move of the student's own: a parameter changed (or
    gained) since the page last showed ``shown``, to a value that isn't the class's (``teachers``).

    A parameter lost is Streamlit's clean-up of a widget not drawn; a layer gained is the filters
    view's default, not a choice; a value the class's view holds came from the class (a run that
    applied it and was stopped before its end); a value of a view in ``before`` (:func:`_unconfirmed`)
    is a widget sending back what the browser still shows.
    """
    if shown is None:
        return False
    return any(
        shown.get(name) != value
        and (name in shown or name != "layer")
        and (teachers is None or teachers.get(name) != value)
        and all(view.get(name) != value for view in before)
        for name, value in now.items()
    )


def _unconfirmed(now: dict[str, str]) -> list[dict[str, str]]:
    """The views the page showed before the class's views it applied and the browser may not show yet
    (a run stopped before its end, or a browser slow to draw what it was sent): until ``now``, the
    view the browser sends, has every value they changed, or for ``UNCONFIRMED_SECONDS``."""
    kept, shown = st.session_state.get(BEFORE), st.session_state.get("class_shown") or {}
    if not kept:
        return []
    changed = {name for view in kept["views"] for name in set(view) | set(shown) if view.get(name) != shown.get(name)}
    if time.monotonic() - kept["at"] > UNCONFIRMED_SECONDS or all(now.get(name) == shown.get(name) for name in changed):
        st.session_state.pop(BEFORE)
        return []
    return kept["views"]


IN_PLACE = {"filter", "images"}  # what the journey's fragment applies by itself (a filter is painted first)


def connection_ui() -> None:
    """The page's connection to its class: a follower's feed, or the teacher's heartbeat (invisible)."""
    code = st.session_state.get(CLASS)
    if role() == "teacher":
        args = {
            "role": "teacher",
            "alive": feed.alive_path(code),
            "token": st.session_state[TEACHER],
            "heartbeat": feed.HEARTBEAT_SECONDS,
        }
    elif role() == "student":
        args = {
            "role": "student",
            "feed": feed.feed_path(code),
            "following": following(),
            "version": st.session_state.get("class_version", -1),
            "view": st.session_state.get("class_shown") or {},
            "chart": "journey_chart",  # the key of the journey's chart (ui.views.journey.CHART), where a filter goes
        }
    else:
        return
    with st.sidebar:
        # Its value changes when the class has news the page must rerun for: this run is it.
        _connection()(key=CONNECTION, default=None, height=0, **args)


def banner_ui() -> None:
    """Above the views, on a student's page: whose view it shows, and the way back to the class."""
    if role() != "student":
        return
    code = st.session_state[CLASS]
    if following():
        st.caption(
            f"👩‍🏫 Following class **{code}**: this page shows the teacher's view. Any move of yours "
            "explores on your own."
        )
        return
    # One line, so the journey's grid keeps its room on a laptop's screen.
    with st.container(key="class_banner", horizontal=True, vertical_alignment="center", gap="small"):
        st.markdown(
            f"🧭 **You're exploring on your own** (class **{code}**): the teacher's changes wait for you.",
            width="content",
        )
        st.button("Rejoin the class", key="class_banner_rejoin", on_click=_follow, args=(True,), type="primary")


# -- the sidebar's box ---------------------------------------------------------------------------
def classroom_ui() -> None:
    with st.sidebar.expander("👩‍🏫 Class: follow the teacher", expanded=role() is not None):
        problem = st.session_state.get("class_problem")
        store_problem = get_class_store()[1]
        for text in (store_problem, problem, st.session_state.get("class_link_note") if role() else None):
            if text:
                st.warning(text)
        if role() == "teacher":
            _teacher_box()
        elif role() == "student":
            _student_box()
        else:
            st.button(
                "Start a class",
                key="class_start",
                on_click=_start,
                width="stretch",
                help="Your students open the link (or scan the QR code) and see your view as you change it.",
            )
            st.text_input("…or join one with its code", key="join_code", placeholder="K7PQ2M", max_chars=12)
            st.button("Join", key="class_join", on_click=_join, width="stretch")


def presenter_class_ui(container) -> None:
    """Presenter mode's class controls, in ``container`` (a column of its bar): start, show the code, end."""
    if role() == "teacher":
        code = st.session_state[CLASS]
        show, end = container.columns(2, gap="small")
        _show_button(show, f"📣 {code}", "present_class_show", help="Show the code, link and QR code")
        end.button("End class", key="present_class_end", on_click=_end, width="stretch")
    elif role() == "student":
        container.markdown(f"👩‍🏫 Class **{st.session_state[CLASS]}**")
    else:
        container.button("👩‍🏫 Start a class", key="present_class_start", on_click=_start, width="stretch")


def _listen_address() -> str | None:
    try:
        return st.get_option("server.address") or None
    except RuntimeError:
        return None


def _link(code: str) -> ClassLink:
    from streamlit import net_util

    return class_link(
        code,
        st.context.url,
        public_url=os.environ.get(PUBLIC_URL_VAR),
        network_ip=net_util.get_internal_ip(),
        listen_address=_listen_address(),
    )


def _teacher_box() -> None:
    code = st.session_state[CLASS]
    link = _link(code)
    st.markdown(f"Class code **`{code}`**  \nStudents open [this link]({link.url}) or scan:")
    if link.problem:
        st.warning(link.problem)
    st.image(qr_svg(link.url), width=220, alt=f"QR code of the class link, {link.url}")
    st.code(link.url, language=None, wrap_lines=True)
    st.caption(
        f"Only this page changes the class. The class lives in {get_class_store()[0].describe()} while "
        "this page is open, and ends an hour after it closes."
    )
    _show_button(st, "📣 Show it to the class", "class_show", link=link, type="primary")
    st.button("End the class", key="class_end", on_click=_end, width="stretch")


def _show_button(container, label: str, key: str, link: ClassLink | None = None, **options) -> None:
    """A button that puts the code up large; pressed, or the class just started (once: the sidebar's
    box and presenter mode's bar both draw one)."""
    just_started = st.session_state.pop("class_show_now", False)
    if container.button(label, key=key, width="stretch", **options) or just_started:
        code = st.session_state[CLASS]
        _show_to_the_class(code, link or _link(code))


@st.dialog("Join the class", width="large")
def _show_to_the_class(code: str, link: ClassLink) -> None:
    """The code, the link and the QR code large enough to read and scan from the back of a room."""
    words, picture = st.columns([3, 2], vertical_alignment="center")
    words.markdown(
        f"<div style='font-size: 4.5rem; font-weight: 700; letter-spacing: 0.15em'>{code}</div>", unsafe_allow_html=True
    )
    words.markdown(
        f"<div style='font-size: 1.6rem; line-height: 1.4'>Open <b>{html.escape(link.url)}</b>, or scan "
        "the code: your page then follows this one.</div>",
        unsafe_allow_html=True,
    )
    if link.problem:
        words.warning(link.problem)
    picture.image(qr_svg(link.url), width="stretch", alt=f"QR code of the class link, {link.url}")


def _student_box() -> None:
    code = st.session_state[CLASS]
    if following():
        st.markdown(f"Following class **`{code}`**: this page shows the teacher's view.")
        st.button("Explore on my own", key="class_detach", on_click=_follow, args=(False,), width="stretch")
    else:
        st.markdown(f"Exploring on your own (class **`{code}`**).")
        st.button(
            "Rejoin the class", key="class_rejoin", on_click=_follow, args=(True,), width="stretch", type="primary"
        )
    st.button("Leave the class", key="class_leave", on_click=_leave, width="stretch")
