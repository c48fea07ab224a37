"""The lab page through Streamlit's AppTest: set-aside runs listed with their reason and restored (or the
restore refused, saying why), and a training past the page's limit refused with a note."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from apptest_support import APP, TIMEOUT, frame_with, open_tab
from conftest import TINY_CONV
from convlab.jobs import MAX_ACTIVE_PER_REQUESTER
from convlab.models import ModelSpec
from convlab.store import ModelStore
from test_queue_limits import Held, variants
from test_setaside import save_untrained


def test_a_set_aside_run_is_listed_and_restored_in_the_lab(models_dir):
    store = save_untrained(models_dir)
    model_path = store.paths(TINY_CONV)[0]
    good = model_path.read_bytes()
    model_path.write_bytes(good[:2000])
    assert store.load(TINY_CONV) is None  # set aside, as a view loading it would
    [aside] = store.set_aside_runs()
    at = open_tab(AppTest.from_file(APP, default_timeout=TIMEOUT).run(), "lab")
    listed = [m.value for m in at.markdown if m.value.startswith(f"**{TINY_CONV.label()}** · set aside")]
    assert len(listed) == 1 and "is not a whole zip archive" in listed[0]
    assert TINY_CONV.label() not in list(frame_with(at, "key")["run"])
    # Still broken: the restore is refused, saying why, and the page goes on.
    at.button(key=f"restore_{aside.id}").click().run()
    assert not at.exception, at.exception
    assert any("still fails the check" in w.value and "not a whole zip archive" in w.value for w in at.warning)
    assert ModelStore(models_dir).set_aside_runs() == [aside]
    # Repaired in corrupt/: restored, and back in the runs table.
    (models_dir / dict(aside.files)[model_path.name]).write_bytes(good)
    at.button(key=f"restore_{aside.id}").click().run()
    assert not at.exception, at.exception
    assert any(f"{TINY_CONV.label()} is back in the runs." in s.value for s in at.success)
    assert TINY_CONV.label() in list(frame_with(at, "key")["run"])
    assert ModelStore(models_dir).set_aside_runs() == []


@pytest.fixture
def held_queue(models_dir):
    """The app's queue, its trainings held by the test (nothing trains), released afterwards."""
    from ui.resources import get_queue

    queue = get_queue()
    queue.executor = Held()
    yield queue
    queue.executor.release.set()
    for job in queue.jobs():
        queue.wait(job, timeout=10)


def test_a_training_past_the_pages_limit_is_refused_with_a_note(models_dir, held_queue):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["lab_requester"] = "this-page"
    open_tab(at.run(), "lab")
    held_queue.submit_all(variants(MAX_ACTIVE_PER_REQUESTER), requester="this-page")
    at.slider(key="lab_epochs").set_value(3).run()
    at.button(key="lab_train").click().run()
    assert not at.exception, at.exception
    spec = ModelSpec(epochs=3)
    notes = [w.value for w in at.warning if "queued or running" in w.value]
    assert len(notes) == 1 and notes[0].startswith(f"You have {MAX_ACTIVE_PER_REQUESTER} trainings queued")
    assert held_queue.find(spec.key()) is None
    # Another page is not held back by this one's trainings.
    other = AppTest.from_file(APP, default_timeout=TIMEOUT)
    other.session_state["lab_requester"] = "another-page"
    open_tab(other.run(), "lab")
    other.slider(key="lab_epochs").set_value(3).run()
    other.button(key="lab_train").click().run()
    assert not other.exception, other.exception
    assert held_queue.find(spec.key()).requester == "another-page"
