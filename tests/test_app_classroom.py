"""The lesson tour and following a class, through AppTest: the state each step and each class change sets."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from apptest_support import APP, TIMEOUT, page_at
from convlab.models import PRESETS
from convlab.store import DEFAULT_ROOT, ModelStore
from convlab.tour import lesson_tour


@pytest.fixture(scope="module")
def steps(test_split):
    store = ModelStore(DEFAULT_ROOT)
    return lesson_tour(store.load(PRESETS["conv"]), store.load(PRESETS["dense"]), test_split)


def page(monkeypatch, **query) -> AppTest:
    monkeypatch.delenv("CONVLAB_MODELS_DIR", raising=False)
    monkeypatch.delenv("CONVLAB_REDIS_URL", raising=False)
    return page_at(query)


def shown_state(at) -> dict[str, str]:
    """The page's view as its URL says it: the parameters, and the view that ran (the address's path)."""
    return dict(at.query_params) | {"tab": at.session_state["open_tab"]}


def test_each_tour_step_sets_exactly_the_view_it_names(monkeypatch, steps):
    at = page(monkeypatch)
    at.button(key="tour_start").click().run()
    for number, step in enumerate(steps, start=1):
        assert not at.exception, at.exception
        url = shown_state(at)
        assert url["tour"] == str(number)
        for name, value in step.view.items():
            assert url.get(name) == value, (step.slug, name, url)
        assert at.session_state["tab"] == step.view["tab"]
        text = " ".join(m.value for m in at.markdown)
        assert f"Step {number} of {len(steps)}: {step.title}" in text
        if step.question:  # asked first, answered on request
            assert step.question in text and (step.answer or "") not in text
            at.button(key=f"tour_reveal_{number}").click().run()
            assert step.answer in " ".join(m.value for m in at.markdown)
        if number < len(steps):
            at.button(key=f"tour_next_{number}").click().run()
    assert not any((button.key or "").startswith("tour_next") for button in at.button)  # the last step finishes instead
    at.button(key=f"tour_back_{len(steps)}").click().run()
    assert shown_state(at)["tour"] == str(len(steps) - 1)
    at.button(key="tour_close").click().run()
    assert "tour" not in shown_state(at)
    assert not any(f"of {len(steps)}:" in m.value for m in at.markdown)  # the tour's panel is gone
    at.button(key="tour_start").click().run()
    for number in range(1, len(steps)):
        at.button(key=f"tour_next_{number}").click().run()
    at.button(key="tour_finish").click().run()
    assert "tour" not in shown_state(at) and not at.exception


def test_a_linked_tour_step_opens_there_and_a_bad_one_is_clamped(monkeypatch, steps):
    at = page(monkeypatch, tour="4", **steps[3].view)
    assert f"Step 4 of {len(steps)}" in " ".join(m.value for m in at.markdown)
    # A short link (?tour=4 alone): the step sets its view, as Next would; what a link names stays.
    at = page(monkeypatch, tour="4")
    assert f"Step 4 of {len(steps)}" in " ".join(m.value for m in at.markdown) and not at.exception
    assert {name: shown_state(at)[name] for name in steps[3].view} == steps[3].view
    at = page(monkeypatch, tour="4", filter="7")
    assert shown_state(at)["filter"] == "7" and shown_state(at)["images"] == steps[3].view["images"]
    at.run()  # later runs keep the page's own moves
    assert shown_state(at)["filter"] == "7"
    at = page(monkeypatch, tour="99")
    assert any("tour=`99` is outside 1 to 10" in w.value for w in at.warning)


def test_a_student_follows_the_teacher_and_never_leads(monkeypatch):
    teacher = page(monkeypatch)
    teacher.button(key="class_start").click().run()
    code, _ = teacher.query_params["class"], teacher.query_params["teacher"]
    student = AppTest.from_file(APP, default_timeout=TIMEOUT)
    student.query_params["class"] = code
    student.run()
    assert "teacher" not in student.query_params and not student.exception
    teacher.number_input(key="filter_box").set_value(9).run()
    teacher.number_input(key="image_2").set_value(1).run()
    student.run()  # its feed asks it to rerun: the run applies the class's newest view
    assert student.session_state["filter"] == 9 and student.query_params["images"] == "0,23,1"
    assert not student.number_input(key="image_0").disabled and "filter_box" not in [
        box.key for box in student.number_input
    ]  # the teacher's filter is on the chart's slider
    student.number_input(key="image_0").set_value(5).run()  # a student's own move...
    assert any("exploring on your own" in m.value for m in student.markdown)  # ...detaches the page
    assert student.button(key="class_banner_rejoin")
    teacher.run()
    assert teacher.query_params["images"] == "0,23,1"  # ...and never reaches the teacher
    teacher.number_input(key="filter_box").set_value(11).run()
    student.run()
    assert student.session_state["filter"] == 9 and student.query_params["images"] == "5,23,1"  # exploring alone
    student.button(key="class_banner_rejoin").click().run()
    assert student.session_state["filter"] == 11 and student.query_params["images"] == "0,23,1"
    teacher.button(key="class_end").click().run()
    student.run()
    assert "class" not in student.query_params
    assert any("ended" in w.value or "no class" in w.value.lower() for w in student.warning), [
        w.value for w in student.warning
    ]


def test_a_forged_teacher_key_makes_a_students_page_with_a_note(monkeypatch):
    teacher = page(monkeypatch)
    teacher.button(key="class_start").click().run()
    code, token = teacher.query_params["class"], teacher.query_params["teacher"]
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")  # the right length, the wrong key
    at = page_at({"class": code, "teacher": forged}, clear_resources=False)
    assert "teacher" not in at.query_params and at.query_params["class"] == code
    assert any("teacher key isn't" in w.value for w in at.warning), [w.value for w in at.warning]
    keys = [button.key for button in at.button]
    assert "class_end" not in keys and "present_class_end" not in keys and "class_detach" in keys
    teacher.number_input(key="filter_box").set_value(6).run()
    at.run()
    assert at.session_state["filter"] == 6  # it follows the class, as a student's page


def test_a_guessed_or_broken_class_link_gets_a_note_and_the_ordinary_page(monkeypatch):
    at = page(monkeypatch, **{"class": "ZZZZZZ"})
    assert "class" not in at.query_params and not at.exception
    assert [w.value for w in at.warning]
    at = page(monkeypatch, **{"class": "0O0"})
    assert any("is not a class code" in w.value for w in at.warning)


def test_redis_down_mid_class_is_said_and_the_page_keeps_working(monkeypatch):
    """Classes in a real Redis; Redis stops mid-class: the teacher's page says the class can't be
    reached and goes on working on its own."""
    from convlab_testing.redis_server import redis_server

    with redis_server() as redis:
        monkeypatch.setenv("CONVLAB_REDIS_URL", redis.url)
        monkeypatch.delenv("CONVLAB_MODELS_DIR", raising=False)
        teacher = page_at({})
        teacher.button(key="class_start").click().run()
        assert "Redis at" in " ".join(c.value for c in teacher.caption)
        redis.stop()
        teacher.number_input(key="filter_box").set_value(7).run()
        assert any("keeps working" in t.value for t in teacher.toast)  # said at once
        teacher.run()
    assert not teacher.exception
    assert any("CONVLAB_REDIS_URL" in w.value and "keeps working" in w.value for w in teacher.warning)
    assert teacher.session_state["filter"] == 7 and teacher.query_params["filter"] == "7"


def test_the_class_link_is_the_public_address_when_one_is_set(monkeypatch):
    monkeypatch.setenv("CONVLAB_PUBLIC_URL", "https://convlab.school.example/")
    teacher = page(monkeypatch)
    teacher.button(key="class_start").click().run()
    code = teacher.query_params["class"]
    assert f"https://convlab.school.example/?class={code}" in [block.value for block in teacher.code]
    shared = [block.value for block in teacher.code if "images=" in block.value]  # "Link to this view"
    assert shared and all("teacher" not in link and "class=" not in link for link in shared)


def test_the_teachers_drawing_reaches_the_students_pads(monkeypatch, test_split):
    """The teacher starts the pad from test image 23: a student's pad starts from the same picture, to draw
    its journey with the student's own browser model."""
    import json

    from convlab.urlstate import drawing_pixels
    from ui.feed import class_store

    # This file's other tests started classes from the same client a moment ago: no limit for this one.
    monkeypatch.setattr(class_store()[0], "starts_per_minute", 1_000)
    teacher = page(monkeypatch, tab="draw")
    teacher.button(key="class_start").click().run()
    assert not teacher.exception, teacher.exception
    teacher.button(key="pad_use_slot_1").click().run()  # the journey's image 2, test image 23
    sent = teacher.query_params["drawing"]
    assert drawing_pixels(sent) == [int(round(p * 255)) for p in test_split.images[23].reshape(-1)]
    student = AppTest.from_file(APP, default_timeout=TIMEOUT)
    student.query_params["class"] = teacher.query_params["class"]
    student.run()
    student.run()  # the class's view: the Draw view, its drawing
    [pad] = [c for c in student.get("component_instance") if c.proto.component_name.endswith(".drawpad")]
    assert json.loads(pad.proto.json_args)["start"]["pixels"] == drawing_pixels(sent)


def test_a_value_the_browser_still_shows_from_before_the_class_moved_is_no_move_of_the_students():
    """Hand-made views: the page showed image 28, the class moved it to 1 (the browser not yet redrawn). The old
    28 coming back from the browser's box is no move; any other image the student typed is, and so is 28 once
    the browser has shown the class's view (no view left in ``before``)."""
    from ui.classroom import _moved_by_student

    shown = {"tab": "journey", "images": "0,23,1", "filter": "6"}  # what the page's last run applied
    teachers = {"tab": "filters", "images": "0,23,1", "filter": "6"}  # the class has moved on meanwhile
    before = [{"tab": "journey", "images": "0,23,28", "filter": "6"}]
    stale = {"tab": "journey", "images": "0,23,28", "filter": "6"}
    assert not _moved_by_student(stale, shown, teachers, before)
    assert _moved_by_student(stale, shown, teachers)
    assert _moved_by_student({**stale, "images": "0,23,5"}, shown, teachers, before)
    assert _moved_by_student({**shown, "filter": "63"}, shown, teachers, before)  # a new filter of its own
    assert not _moved_by_student(dict(shown), shown, teachers, before)  # nothing changed
