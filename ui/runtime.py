"""Every workaround of Streamlit's or TensorFlow's internals, in one place.

Each says why in a line and names the test that fails if an upgrade breaks it:

* ``skip_keras_reset_after_each_run``: Streamlit clears Keras' session after every run
  (tests/test_app.py::test_reruns_skip_streamlits_keras_reset_full_gc_and_module_walk);
* ``freeze_loaded_objects``: the objects the first run loaded are moved out of the garbage
  collector's reach (``runner.postScriptGC = false`` in .streamlit/config.toml, checked by
  the same test, does the rest);
* ``keep_memory_flat``: glibc's allocator (not Streamlit's) kept from holding freed large blocks in the
  server's threads' arenas (tests/test_memory.py);
* ``start_importing_tensorflow`` and ``rerun_once_tensorflow_is_in``: a server's first page is
  drawn while TensorFlow imports in a thread
  (tests/test_app.py::test_a_servers_first_run_draws_the_page_while_tensorflow_loads, and
  tests/test_faults.py for a broken install);
* ``in_fragment_run``: a fragment's own run, told from a full run (tests/test_browser_classroom.py),
  and ``session_id`` (tests/test_app_classroom.py);
* ``fragment`` with ``whole_run_started`` / ``whole_run_done``: a click inside a fragment stops a
  whole run that is still drawing the page (Streamlit lets a fragment's own run preempt one), which
  would leave the rest of the page as the run before drew it; the fragment then reruns the whole page
  (tests/test_browser_tour.py, the tour's strip after a step);
* ``requested_page``: the page a run was asked for, before ``st.navigation`` resolves it
  (tests/test_browser_views.py, the navigation naming the open view);
* the plotly.js route the journey's chart loads is declared in ``ui.charts``, beside the
  component that finds it by its module's name.
"""

from __future__ import annotations

import functools
import gc
import importlib
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor

import streamlit as st

from convlab import memory


def skip_keras_reset_after_each_run() -> None:
    """Stop Streamlit from calling ``keras.backend.clear_session()`` after every run.

    Streamlit (``script_runner._clean_problem_modules``) does that whenever Keras is imported,
    for apps that build models in their script. ConvLab builds none there, and the call costs a
    full ``gc.collect()`` plus TensorFlow's kernel caches after every slider move; it would also
    reset Keras' state under a training that is running in its own thread. matplotlib's
    clean-up, the other half, is kept.
    """
    from streamlit.runtime.scriptrunner import script_runner

    def clean_matplotlib_only() -> None:
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")

    if hasattr(script_runner, "_clean_problem_modules"):
        script_runner._clean_problem_modules = clean_matplotlib_only


@st.cache_resource(show_spinner=False)
def freeze_loaded_objects() -> bool:
    """Exempt what the first run loaded (TensorFlow, models, data) from garbage collection.

    Hundreds of thousands of long-lived objects make every full collection hold the interpreter
    for a noticeable time; frozen once, collections only scan what later runs allocate. The one
    full collection this takes runs a moment later, off the script thread: it holds the
    interpreter too, and would otherwise delay sending the page it follows.
    """

    def collect_and_freeze() -> None:
        gc.collect()
        gc.freeze()

    threading.Timer(1.0, collect_and_freeze).start()
    return True


@st.cache_resource(show_spinner=False)
def keep_memory_flat() -> bool:
    """glibc's allocator told, once per server process, to hand freed large blocks back (``convlab.memory``):
    without it the server's resident size crept for an hour of a class (docs/performance.md, "Soak")."""
    return memory.keep_flat()


def start_importing_tensorflow() -> Future | None:
    """Import Keras (and so TensorFlow) in the background; None if it is already imported.

    Nothing app.py imports at the top loads TensorFlow (``convlab`` defers it), so on a server's
    first run the page can be drawn without a model (the journey shows its grid with the input
    images) while the import goes on; then the page reruns with the model. The browser
    meanwhile fetches and compiles plotly.js for the journey's chart, which the rerun then only
    updates. Code that needs Keras before the import ends simply waits for it.
    """
    if "keras" in sys.modules:
        return None
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="convlab-import-keras")
    imported = executor.submit(importlib.import_module, "keras")
    executor.shutdown(wait=False)  # the thread ends with the import
    return imported


def rerun_once_tensorflow_is_in(tensorflow_import: Future) -> None:
    """The first run's end: wait for the import, then rerun with the model (or say what broke)."""
    error = tensorflow_import.exception()
    if error is not None:  # a broken install: rerunning would only try again, and again
        st.error(
            f"**ConvLab can't import TensorFlow (Keras)**: `{type(error).__name__}: {error}`\n\n"
            "Install the versions it was built with, `pip install -r requirements.txt`, then reload the page."
        )
        st.stop()
    st.rerun()


def _script_context():
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    return get_script_run_ctx()


def session_id() -> str:
    """This page's session (the class's limit on starts, when no address is known: AppTest's pages)."""
    context = _script_context()
    return context.session_id if context else "none"


def in_fragment_run() -> bool:
    """True while Streamlit reruns only a fragment (its context lists the fragments of this run);
    a following student's page then checks the class itself (tests/test_browser_classroom.py)."""
    context = _script_context()
    return bool(context and context.fragment_ids_this_run)


def requested_page(pages: dict[str, st.Page]) -> str | None:
    """The key of the page in ``pages`` this run was asked for (a click in the navigation, or an
    address's path), as ``st.navigation`` will resolve it; None for the default page or if unknown.
    The navigation names the open view in its section's label, so it must know it before it is drawn."""
    context = _script_context()
    manager = getattr(context, "pages_manager", None)
    try:
        wanted_hash, wanted_name = manager.intended_page_script_hash, manager.intended_page_name
        for key, page in pages.items():
            if (wanted_hash and page._script_hash == wanted_hash) or (
                not wanted_hash and wanted_name and wanted_name == page.url_path
            ):
                return key
    except AttributeError:  # another Streamlit: the labels then name no view, nothing else changes
        pass
    return None


def open_instead(page: st.Page) -> bool:
    """Make this run open ``page`` rather than the one the browser asked for, before ``st.navigation``
    resolves it: one run where ``st.switch_page`` after it costs a second (the first one's page thrown
    away). False on another Streamlit, whose callers then switch pages the public way."""
    manager = getattr(_script_context(), "pages_manager", None)
    try:
        manager.set_script_intent(page._script_hash, "")
    except (AttributeError, TypeError):
        return False
    return True


def requested_path() -> str:
    """The view's address this run was asked for ("filters" for /filters), "" for the page's root or if unknown."""
    manager = getattr(_script_context(), "pages_manager", None)
    return str(getattr(manager, "intended_page_name", "") or "").strip("/")


WHOLE_RUN = "whole_run"  # session key: "started" while a whole run draws the page, "done" once it has


def whole_run_started() -> None:
    st.session_state[WHOLE_RUN] = "started"


def whole_run_done() -> None:
    st.session_state[WHOLE_RUN] = "done"


def fragment(body=None, *, run_every: float | None = None):
    """``st.fragment`` whose own runs first finish a whole run they cut short: a click inside a
    fragment preempts a whole run still drawing the page, and then only a whole rerun draws the rest
    (a whole run stopped on purpose, by ``st.rerun`` or a page switch, costs one more run: harmless)."""
    if body is None:
        return functools.partial(fragment, run_every=run_every)

    @functools.wraps(body)
    def finishing_first(*args, **kwargs):
        if in_fragment_run() and st.session_state.get(WHOLE_RUN) == "started":
            st.rerun(scope="app")
        return body(*args, **kwargs)

    return st.fragment(finishing_first, run_every=run_every)
