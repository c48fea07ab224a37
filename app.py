"""ConvLab: the dashboard. Run with ``streamlit run app.py``.

This file is the page's table of contents: start-up, the sidebar, and the views, one page each
(``ui/views/``, in the top bar's navigation: ``ui/navigation.py``). Every computation lives in
``convlab``; everything Streamlit in ``ui``. Only the open view runs, and the journey is a
fragment, so moving its controls reruns only the journey; the page's choices live in the URL
(``ui/state.py``).
"""

from __future__ import annotations

import streamlit as st

# The first paint: the title and a loading line go out before the imports below, which take a
# noticeable part of a second on a server's first run (AppTest also runs this file as __main__).
if __name__ == "__main__":
    st.set_page_config(page_title="ConvLab", page_icon="🔬", layout="wide", initial_sidebar_state="expanded")
    st.sidebar.title("🔬 ConvLab")
    LOADING = st.empty()
    LOADING.caption("⏳ Loading the Fashion-MNIST test images and the lesson's models…")

from convlab.data import DataError, Split  # noqa: E402
from convlab.figures.scales import SCALE_MODES  # noqa: E402
from convlab.models import PRESETS  # noqa: E402
from convlab.timing import timed  # noqa: E402
from ui import assets, classroom, feed, modelroute, navigation, page, runs, runtime, state, tour  # noqa: E402
from ui.resources import get_store, get_test_split, warm_up  # noqa: E402
from ui.views import (  # noqa: E402
    Page,
    compare,
    draw,
    filters,
    journey,
    lab,
    looked,
    portraits,
    predictions,
    probe,
    replay,
    upload,
)

runtime.skip_keras_reset_after_each_run()

# slug: (render, whether it needs the model loaded); titles in ui.state.VIEWS, sections in ui.navigation
VIEWS = {
    "journey": (journey.render, False),  # draws its grid with the inputs while TensorFlow loads
    "filters": (filters.render, True),
    "looked": (looked.render, True),
    "portraits": (portraits.render, True),
    "replay": (replay.render, True),
    "probe": (probe.render, True),
    "predictions": (predictions.render, True),
    "draw": (draw.render, True),
    "upload": (upload.render, True),
    "compare": (compare.render, True),
    "lab": (lab.render, True),
}


def sidebar_ui(split: Split, stored_runs: dict[str, runs.Run]) -> str:
    """Returns the key of the run the views show."""
    st.sidebar.markdown(
        "See what a convolutional network sees. Based on the TensorFlow lesson "
        "*Improving computer vision accuracy using convolutions*, on Fashion-MNIST."
    )
    state.choose_model(stored_runs)
    key = st.sidebar.selectbox(
        "Model",
        list(stored_runs),
        key=state.MODEL,
        format_func=lambda key: stored_runs[key].label,
        persist_state=state.KEEP,  # a run that switches views stops before the sidebar is drawn
        help="The lesson's two models, and every variant trained in the lab.",
    )
    if len(stored_runs[key].label) > 26:  # the box cuts long names short
        st.sidebar.caption(stored_runs[key].label)
    st.sidebar.radio(
        "Colour scale of the maps",
        list(SCALE_MODES),
        key=state.SCALE,
        format_func=SCALE_MODES.get,
        persist_state=state.KEEP,
        help="Per panel shows each map's own pattern best (the lesson's way); a shared scale "
        "lets you compare how strongly layers or images respond.",
    )
    state.palette_ui()
    st.sidebar.toggle(
        "🎥 Presenter mode",
        key=state.PRESENT,
        persist_state=state.KEEP,
        help="For a projector: large type, no sidebar or helper texts, the journey as large as the "
        "screen allows, and keys for the filter and the images anywhere on the page.",
    )
    tour.start_button(stored_runs)
    classroom.classroom_ui()
    st.sidebar.caption(f"Test images: {len(split):,} from `{split.source}`")
    with st.sidebar.popover("🔗 Link to this view", width="stretch"):
        st.caption("Opens exactly what you see now, on any device that reaches this server.")
        st.code(state.shared_link(), language=None, wrap_lines=True)
    return key


def view_ui(slug: str, view_page: Page) -> None:
    render, needs_model = VIEWS[slug]
    if needs_model and view_page.stored is None:
        st.info("Loading TensorFlow and the model: a few seconds, once per server start.", icon="⏳")
        return
    render(view_page)


def main() -> None:
    runtime.whole_run_started()
    page.style()
    tensorflow_import = runtime.start_importing_tensorflow()
    try:
        split = get_test_split()
    except DataError as error:
        LOADING.empty()
        st.error("**ConvLab can't load the Fashion-MNIST images.**\n\n```\n" + str(error) + "\n```")
        st.stop()
    store = get_store()
    runs.ensure_models(store)
    stored_runs = runs.list_runs(store)
    LOADING.empty()
    page.collapse_sidebar_on_narrow_screens()
    state.apply_url_once(stored_runs)
    if tensorflow_import is None:  # the tour's steps are computed from the models
        tour.open_linked_step(stored_runs)  # a link's ?tour=4: the step's view, under what the link names
    view_page = None  # what the open view is given, once the model is loaded
    slug, pages = navigation.navigate({slug: lambda slug=slug: view_ui(slug, view_page) for slug in VIEWS})
    # A following student's page: the class's newest view, unless the student moved something.
    classroom.follow_the_class(state.view_params, lambda view: state.apply_view(view, stored_runs))
    navigation.go_where_asked(slug, pages)  # a link's ?tab=, a button's or the class's view
    key = sidebar_ui(split, stored_runs)
    if state.presenting():
        page.presenter_bar(state.leave_presenter_mode, lambda: tour.presenter_button(stored_runs))
    state.url_notes_ui()
    classroom.banner_ui()
    if tensorflow_import is None:  # the tour's steps are computed from the models
        tour.tour_ui(stored_runs)
    stored = None
    if tensorflow_import is None:  # else this run draws without a model and reruns once Keras is in
        stored = runs.load(stored_runs[key])
        if stored is None:  # a lab run's files were unusable (set aside): the lesson's model meanwhile
            st.warning(runs.problem(key) + " Showing the lesson's conv model instead.")
            key = PRESETS["conv"].key()
            stored = runs.load(stored_runs[key])
    runs.store_notes_ui(store, stored_runs)
    view_page = Page(split=split, runs=stored_runs, run=stored_runs[key], stored=stored)
    state.sync_url()  # now, not only at the end: a view's first visit can compute for seconds
    pages[slug].run()
    state.sync_url()
    classroom.connection_ui()  # after the view is final: a follower's feed compares changes with it
    page.scroll_into_view()
    if tensorflow_import is not None:
        runtime.rerun_once_tensorflow_is_in(tensorflow_import)
    runtime.freeze_loaded_objects()
    runtime.keep_memory_flat()
    warm_up(stored, later=tour.start)  # now the page is drawn: the views' first-visit work, behind it
    runtime.whole_run_done()


if __name__ == "__main__":
    with timed("script"):
        main()
else:  # `streamlit run app.py` imports this file for its server: Streamlit's routes, the class's, the browser's files
    app = st.App(__file__, routes=[*feed.ROUTES, *assets.ROUTES, *modelroute.ROUTES])
