"""Follow the teacher in real browsers: a teacher's page and students' pages, each its own Streamlit session.

One server (shared with the tour's tests), listening on every address as a teacher's laptop
serves a room (the tests still connect on loopback): the class link opened from ``localhost`` names the machine's
network address; two students follow ten rounds of changes while the teacher visits other views,
one through a browser slow to draw what its page sends (its sockets' messages held), one detaches with
a move of its own while the class moves on, and rejoins; a forged teacher key opens a student's page. The
classes of several servers in Redis, behind nginx, are tests/test_browser_balancer.py's.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from types import SimpleNamespace
from urllib.parse import parse_qs, urlparse

import pytest

from browser_support import (
    FOLLOW_TIMEOUT,
    HeldSocket,
    chart_filter,
    exception_texts,
    open_app,
    open_view,
    slider,
    start_class,
    wait_idle,
    wait_sees_filter,
    wait_until,
)
from convlab.classlink import is_loopback
from convlab_testing.live_app import journey_ready_js

pytestmark = pytest.mark.timeout(300)


def _open_tab(page, slug: str) -> None:
    open_view(page, slug)
    wait_idle(page)


def _post(url: str, body: dict) -> int:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_two_students_follow_every_change_whatever_views_the_teacher_visits(browser, shipped_server):
    with open_app(browser, shipped_server) as teacher:
        _open_tab(teacher, "filters")  # its first visit computes for seconds (issue 22): not what's timed here
        _open_tab(teacher, "journey")
        code, token = start_class(teacher)
        assert re.fullmatch(r"[A-Z2-9]{6}", code)
        sockets = (HeldSocket(), HeldSocket())  # the students' Streamlit sockets, relayed: their answers can be held
        with (
            open_app(browser, shipped_server, query=f"?class={code}", socket=sockets[0]) as first,
            open_app(browser, shipped_server, query=f"?class={code}", socket=sockets[1]) as second,
        ):
            students = (first, second)
            for student in students:
                assert token not in student.url and token not in student.content()  # the key stays with the teacher
                assert "Following class" in student.content()
            expected = 1
            for round_number in range(5):  # two glances at another view among them (rounds 2 and 5)
                slider(teacher, "filter").press("ArrowRight")
                expected += 1
                wait_sees_filter(teacher, expected, f"the teacher's page has filter {expected}")
                for number, student in enumerate(students, start=1):
                    wait_sees_filter(
                        student, expected, f"student {number} follows to filter {expected} (round {round_number + 1})"
                    )
                if round_number % 3 == 1:  # a glance at another view and back, between changes
                    _open_tab(teacher, "filters")
                    for student in students:
                        wait_until(
                            student,
                            "() => location.pathname === '/filters'",
                            what="the students follow to the filters view",
                            timeout=FOLLOW_TIMEOUT,
                        )
                    _open_tab(teacher, "journey")
                    wait_until(teacher, journey_ready_js(), what="the teacher's journey is drawn again")
                    for student in students:
                        wait_until(
                            student,
                            "() => ['/', '/journey'].includes(location.pathname)",
                            what="the students follow back to the journey",
                            timeout=FOLLOW_TIMEOUT,
                        )
            # New images, twice, while the first student's browser is slow to draw what its page sends: its
            # boxes still hold the old images when the second change asks its page to run. That is no move of
            # its own (once, it detached the student).
            sockets[0].hold()
            for box, value, images in (("image_2", "1", "0%2C23%2C1"), ("image_1", "2", "0%2C2%2C1")):
                teacher.locator(f".st-key-{box} input").fill(value)
                teacher.locator(f".st-key-{box} input").press("Enter")
                wait_until(
                    second,
                    f"() => location.search.includes('images={images}')",
                    what=f"the second student follows to images {images}",
                    timeout=FOLLOW_TIMEOUT,
                )
                first.wait_for_timeout(1_000)  # the first student's page has run: what it sent is held
            assert sockets[0].release() > 0
            for student in students:
                wait_until(
                    student,
                    "() => location.search.includes('images=0%2C2%2C1')",
                    what="the students follow to images 0, 2, 1",
                    timeout=FOLLOW_TIMEOUT,
                )
            for student in students:
                wait_idle(student)
                text = student.content()
                assert "Connection error" not in text and "ForwardMsg" not in text
                assert "Following class" in text and "exploring on your own" not in text

            # A student's own move explores on its own: visibly, and nothing reaches the class. The class
            # moves on before the student's page has answered the move: the chart keeps the student's filter.
            sockets[1].hold()
            slider(second, "filter").press("End")
            slider(teacher, "filter").press("ArrowRight")
            expected += 1
            wait_sees_filter(first, expected, "the following student moves on")
            second.wait_for_timeout(700)  # the class's filter has reached the second student's page
            sockets[1].release()
            wait_until(
                second,
                '() => document.body.innerText.includes("You\'re exploring on your own")',
                what="the student's own move detaches its page",
            )
            slider(teacher, "filter").press("ArrowRight")
            expected += 1
            wait_sees_filter(first, expected, "the following student moves on")
            second.wait_for_timeout(1_000)
            assert chart_filter(second) == 63 and chart_filter(teacher) == expected
            second.locator(".st-key-class_banner_rejoin button").click()
            wait_sees_filter(second, expected, "the rejoined student is back on the teacher's filter")
            assert all(exception_texts(page) == [] for page in (teacher, first, second))

        # The routes beside the page: the feed of no class, and a heartbeat without the key, refused.
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{shipped_server.url}/convlab/class/ZZZZZZ/feed", timeout=10)
        assert refused.value.code == 404 and "no class ZZZZZZ" in refused.value.read().decode()
        assert _post(f"{shipped_server.url}/convlab/class/{code}/alive", {"token": token[::-1]}) == 403
        assert _post(f"{shipped_server.url}/convlab/class/{code}/alive", {"token": token}) == 204


def test_a_class_started_at_localhost_links_the_machines_network_address(browser, shipped_server):
    at_localhost = SimpleNamespace(
        url=shipped_server.url.replace("127.0.0.1", "localhost"), log_text=shipped_server.log_text
    )
    with open_app(browser, at_localhost) as teacher:
        code, _ = start_class(teacher)
        link = teacher.locator('[data-testid="stSidebar"] [data-testid="stCode"]').first.inner_text().strip()
        parts = urlparse(link)
        assert parse_qs(parts.query) == {"class": [code]}, link  # never the teacher's key
        assert not is_loopback(parts.hostname) and parts.port == shipped_server.port, link
        assert "localhost" not in teacher.locator('[data-testid="stSidebar"]').inner_text().split("Students open")[1]


def test_a_forged_teacher_key_opens_a_students_page_with_a_note(browser, shipped_server):
    with open_app(browser, shipped_server) as teacher:
        # The teacher's page says it is open (the class lives while it does), at once and every minute.
        with teacher.expect_request(
            lambda request: (
                request.method == "POST" and request.url.endswith("/alive") and '"token"' in (request.post_data or "")
            )
        ) as heartbeat:
            code, token = start_class(teacher)
        assert f"/convlab/class/{code}/alive" in heartbeat.value.url
        forged = token[:-1] + ("A" if token[-1] != "A" else "B")  # the right length, the wrong key
        with open_app(browser, shipped_server, query=f"?class={code}&teacher={forged}") as page:
            assert "teacher=" not in page.url
            text = page.locator('[data-testid="stSidebar"]').inner_text()
            assert "teacher key isn't" in text and "End the class" not in text
            slider(teacher, "filter").press("ArrowRight")
            wait_sees_filter(page, 2, "the page with the forged key follows like a student's")
            assert exception_texts(page) == []
