"""Follow the teacher in real browsers: a teacher's page and a student's page, each its own Chromium context.

Once with the class in the server's memory (both pages on one server), once in Redis (a real
`redis-server` on a free port) with the teacher and the student on two different app servers,
as behind a load balancer.
"""

from __future__ import annotations

import re
import shutil
from urllib.parse import parse_qs, urlparse

import pytest

from browser_support import chromium, exception_texts, open_app, served_app, slider, wait_for_sliders, wait_idle, wait_until
from convlab.models import PRESETS
from convlab.store import DEFAULT_ROOT, ModelStore
from convlab_testing.redis_server import redis_server

pytestmark = pytest.mark.timeout(240)
FOLLOW_TIMEOUT = 15_000  # ms: generous for a busy 2-core machine; the benchmark measures the real latency


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    for spec in PRESETS.values():
        for path in ModelStore(DEFAULT_ROOT).paths(spec):
            shutil.copy(path, folder / path.name)
    return folder


@pytest.fixture(scope="module")
def browser():
    with chromium() as found:
        yield found


def _open_class_box(page, button: str) -> None:
    """The sidebar's class box is open when the page is in a class, closed otherwise: open it if needed."""
    if not page.locator(f".st-key-{button} button").first.is_visible():
        page.get_by_text("Class: follow the teacher").click()


def _start_class(page) -> tuple[str, str]:
    _open_class_box(page, "class_start")
    page.locator(".st-key-class_start button").first.click()
    wait_until(page, "() => location.search.includes('teacher=')", what="the teacher's page holds its class and key")
    query = parse_qs(urlparse(page.url).query)
    return query["class"][0], query["teacher"][0]


def _press(page, key: str, press: str) -> None:
    slider(page, key).press(press)  # focuses it, then presses
    wait_idle(page)


def _follow_the_teacher(browser, teacher_server, student_server) -> None:
    with open_app(browser, teacher_server) as teacher:
        code, token = _start_class(teacher)
        assert re.fullmatch(r"[A-Z2-9]{6}", code)
        with open_app(browser, student_server, query=f"?class={code}") as student:
            assert token not in student.url and token not in student.content()  # the key stays with the teacher
            _press(teacher, "filter", "ArrowRight")
            wait_for_sliders(teacher, {"filter": 2}, what="the teacher's filter is 2")
            wait_until(student, "() => location.search.includes('filter=2')", what="the student follows to filter 2",
                       timeout=FOLLOW_TIMEOUT)
            wait_for_sliders(student, {"filter": 2}, what="the student's slider shows filter 2")
            teacher.locator(".st-key-image_2 input").fill("1")
            teacher.locator(".st-key-image_2 input").press("Enter")
            wait_until(student, "() => location.search.includes('images=0%2C23%2C1')",
                       what="the student follows to image 1", timeout=FOLLOW_TIMEOUT)
            # The student explores alone: the teacher's moves no longer arrive, and the student's never leave.
            _open_class_box(student, "class_detach")
            student.locator(".st-key-class_detach button").first.click()
            wait_idle(student)
            _press(student, "filter", "End")
            _press(teacher, "filter", "ArrowRight")
            wait_for_sliders(teacher, {"filter": 3}, what="the teacher moves on to filter 3")
            student.wait_for_timeout(2_000)  # four polls' worth
            wait_for_sliders(student, {"filter": 63}, what="the detached student keeps filter 63")
            wait_for_sliders(teacher, {"filter": 3}, what="the student's move never reached the teacher")
            student.locator(".st-key-class_rejoin button").first.click()
            wait_until(student, "() => location.search.includes('filter=3')", what="the rejoined student is back on 3",
                       timeout=FOLLOW_TIMEOUT)
            assert exception_texts(student) == [] and exception_texts(teacher) == []


def test_a_student_follows_the_teacher_on_one_server(browser, models_dir, tmp_path):
    with served_app(tmp_path / "server.log", models_dir=models_dir) as server:
        _follow_the_teacher(browser, server, server)


def test_a_student_follows_the_teacher_across_two_servers_through_redis(browser, models_dir, tmp_path):
    with redis_server() as redis, \
            served_app(tmp_path / "a.log", models_dir=models_dir, env={"CONVLAB_REDIS_URL": redis.url}) as first, \
            served_app(tmp_path / "b.log", models_dir=models_dir, env={"CONVLAB_REDIS_URL": redis.url}) as second:
        _follow_the_teacher(browser, first, second)
