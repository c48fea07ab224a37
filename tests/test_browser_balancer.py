"""A class spread over two servers behind a real load balancer: nginx with sticky sessions, Redis between them.

The lecture hall's setup (issue 21): a real ``redis-server``, two ConvLab servers sharing classes
through it (``CONVLAB_REDIS_URL``), and Debian's nginx in front (``convlab_testing.balancer``).
A teacher and two students in Chromium, each its own browser context, all through nginx's port:
the teacher lands wherever nginx sends a new browser; one student sticks to the other server
(its feed learns the teacher's changes from Redis), one to the teacher's own (told at once).
The teacher moves the journey chart's slider three times, changes image 3, visits the Filters
view and comes back, moves once more: every student follows every change (a filter change
painted by its chart, the others by a rerun of its page), and each page's requests, websocket
and feed stay on the server its cookie names.

The same two servers share one models folder (``CONVLAB_MODELS_DIR``), as servers behind a
balancer do: a variant asked of both at once trains once. The second server's page says another
ConvLab is training it and then shows the first one's run (stopped early, to keep the test
short); a run one server finished is listed by the other. Last, the student's server is restarted
mid-class: its page reconnects by itself and follows the teacher's next change.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from browser_support import (
    CHART_FILTER_JS,
    FOLLOW_TIMEOUT,
    build_one_block_of_16,
    chart_filter,
    copy_shipped_models,
    exception_texts,
    open_app,
    open_view,
    require_browser,
    slider,
    start_class,
    wait_idle,
    wait_sees_filter,
    wait_until,
)
from convlab.models import ModelSpec
from convlab.store import ModelStore
from convlab_testing.balancer import BACKEND_HEADER, COOKIE, Balancer, BalancerError, NginxMissing
from convlab_testing.live_app import ServerError, StreamlitServer
from convlab_testing.redis_server import RedisMissing, RedisServerError, redis_server

pytestmark = pytest.mark.timeout(300)
COOKIE_TRIES = 40  # random cookies tried for a given server: each lands on it half the time


@contextlib.contextmanager
def _servers(folder, models_dir, env: dict[str, str], count: int):
    """``count`` ConvLab servers started together (their start-ups overlap), healthy, stopped on the way out."""
    servers = [StreamlitServer(folder / f"server-{n}.log", models_dir=models_dir, env=env) for n in range(count)]
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait_healthy()
        yield servers
    except ServerError as error:
        pytest.fail(str(error), pytrace=False)
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    """Redis, two ConvLab servers sharing classes through it, nginx in front: ``url`` is nginx's."""
    models_dir = copy_shipped_models(tmp_path_factory.mktemp("models"), caches=True)
    try:
        with (
            redis_server() as redis,
            _servers(tmp_path_factory.mktemp("streamlit"), models_dir, {"CONVLAB_REDIS_URL": redis.url}, 2) as servers,
            Balancer([server.port for server in servers]) as balancer,
        ):
            # What open_app needs of "a server": where to go, and the logs to search for tracebacks (both servers').
            yield SimpleNamespace(
                url=balancer.url,
                balancer=balancer,
                servers=servers,
                models_dir=models_dir,
                backends={f"127.0.0.1:{server.port}" for server in servers},
                log_text=lambda: "\n".join(server.log_text() for server in servers),
            )
    except (RedisMissing, RedisServerError, NginxMissing, BalancerError) as error:
        pytest.fail(str(error), pytrace=False)


class _StickyBrowser:
    """The browser for open_app, each new context holding nginx's cookie ``cookie``: its page lands on that
    cookie's server."""

    def __init__(self, browser, url: str, cookie: str) -> None:
        self.browser, self.url, self.cookie = browser, url, cookie

    def new_context(self, **options):
        context = self.browser.new_context(**options)
        context.add_cookies([{"name": COOKIE, "value": self.cookie, "url": self.url}])
        return context


def _cookie_for(room, wanted: str) -> str:
    """A cookie value nginx sends to the server ``wanted`` (host:port); a bounded number of random tries."""
    for _ in range(COOKIE_TRIES):
        cookie = secrets.token_hex(16)
        if room.balancer.backend_of(cookie) == wanted:
            return cookie
    raise AssertionError(f"none of {COOKIE_TRIES} random cookies reached {wanted}: nginx doesn't spread browsers")


def _backend_of_page(page, room) -> str:
    """The server the page's own requests reach now (its context's cookies), as nginx says."""
    response = page.context.request.get(room.url + "/_stcore/health")
    assert response.ok, response.status
    return response.headers[BACKEND_HEADER.lower()]


def _start_class(page) -> str:
    return start_class(page)[0]


def _all_follow(students: dict, script: str, what: str) -> None:
    for name, page in students.items():
        wait_until(page, script, what=f"{name} {what}", timeout=FOLLOW_TIMEOUT)


def _open_tab(page, slug: str) -> None:
    open_view(page, slug)
    wait_idle(page)


def test_students_on_both_servers_follow_every_change_through_nginx(browser, room):
    require_browser(browser)
    with open_app(browser, room) as teacher:
        # A new browser: nginx picks a server and sets its cookie; everything of the page then goes there.
        teachers_server = _backend_of_page(teacher, room)
        assert teachers_server in room.backends
        assert any(cookie["name"] == COOKIE for cookie in teacher.context.cookies())
        other_server = (room.backends - {teachers_server}).pop()
        code = _start_class(teacher)
        assert _backend_of_page(teacher, room) == teachers_server  # the websocket's reruns didn't move it

        on_other = _StickyBrowser(browser, room.url, _cookie_for(room, other_server))
        on_same = _StickyBrowser(browser, room.url, _cookie_for(room, teachers_server))
        with (
            open_app(on_other, room, query=f"?class={code}") as far,
            open_app(on_same, room, query=f"?class={code}") as near,
        ):
            assert _backend_of_page(far, room) == other_server  # learns the teacher's changes from Redis
            assert _backend_of_page(near, room) == teachers_server  # told at once by the teacher's own server
            students = {"the student on the other server": far, "the student on the teacher's server": near}
            for name, page in students.items():
                assert "Following class" in page.content(), name

            expected = chart_filter(teacher)
            for move in range(3):
                slider(teacher, "filter").press("ArrowRight")
                expected += 1
                for name, page in students.items():
                    wait_sees_filter(page, expected, f"{name} follows move {move + 1} to filter {expected}")

            teacher.locator(".st-key-image_2 input").fill("1")
            teacher.locator(".st-key-image_2 input").press("Enter")
            _all_follow(students, "() => location.search.includes('images=0%2C23%2C1')", "follows to image 1")

            _open_tab(teacher, "filters")
            _all_follow(students, "() => location.pathname === '/filters'", "follows to the Filters view")
            _open_tab(teacher, "journey")
            _all_follow(students, "() => ['/', '/journey'].includes(location.pathname)", "follows back to the journey")

            wait_until(
                teacher, f"() => ({CHART_FILTER_JS})() === {expected}", what="the teacher's journey is drawn again"
            )
            slider(teacher, "filter").press("ArrowRight")
            expected += 1
            for name, page in students.items():
                wait_sees_filter(page, expected, f"{name} follows the first move after the views to filter {expected}")

            for name, page in students.items():
                wait_idle(page)
                text = page.content()
                assert "Connection error" not in text and "ForwardMsg" not in text, name
            assert (_backend_of_page(far, room), _backend_of_page(near, room)) == (other_server, teachers_server)
            assert all(exception_texts(page) == [] for page in (teacher, far, near))


# -- one models folder ----------------------------------------------------------------------------
TRAINING_TIMEOUT = 180_000  # ms: a quick variant, but the worker loads TensorFlow first on a busy machine
SPEC = ModelSpec(conv_filters=(16,), epochs=5)  # a minute of training: time enough to be asked for twice


def build_the_variant(page) -> None:
    """In the lab: one conv block of 16 filters, 5 epochs, all 60,000 training images (the builder's default)."""
    open_view(page, "lab")
    page.locator(".st-key-lab_blocks").wait_for()
    build_one_block_of_16(page)
    wait_until(
        page,
        "label => [...document.querySelectorAll('strong')].some(e => e.innerText.startsWith(label))",
        SPEC.label(),
        what="the builder shows the variant",
    )


def test_two_servers_on_one_folder_train_a_variant_once_and_both_list_it(browser, room):
    first, second = room.servers
    models_dir = room.models_dir
    with open_app(browser, first) as page_a, open_app(browser, second) as page_b:
        for page in (page_a, page_b):
            build_the_variant(page)
        page_a.locator(".st-key-lab_train button").click()
        # Server A's worker trains it (past its first batches: it holds the spec's lock in the folder).
        wait_until(
            page_a,
            "() => [...document.querySelectorAll('p')].some(p => /Batch [1-9]/.test(p.innerText))",
            what="server A's worker is training",
            timeout=TRAINING_TIMEOUT,
        )
        page_b.locator(".st-key-lab_train button").click()
        # Server B's worker finds the spec claimed in the shared folder and waits instead of training it too.
        page_b.get_by_text("is training this exact variant").first.wait_for(timeout=TRAINING_TIMEOUT)
        page_a.locator("button:visible", has_text="Stop training").first.click()  # it keeps the epochs done
        page_a.get_by_text("trained in").first.wait_for(timeout=TRAINING_TIMEOUT)
        meta_path = ModelStore(models_dir).paths(SPEC)[1]
        trained = json.loads(meta_path.read_text())
        page_b.get_by_text("trained in").first.wait_for(timeout=TRAINING_TIMEOUT)
        assert json.loads(meta_path.read_text()) == trained  # B loaded A's run: nothing was trained or written again
        # B's page lists the run and will not train it again: its person's own request is done (issue 22's words).
        wait_idle(page_b)
        page_b.get_by_text("Your training is done").first.wait_for()
        assert not page_b.locator(".st-key-lab_train button").count()
        page_b.locator(".st-key-lab_run").click()
        page_b.get_by_role("option", name=SPEC.label()).wait_for()
        page_b.keyboard.press("Escape")
        assert exception_texts(page_a) == [] and exception_texts(page_b) == []
        # Neither server trained (their workers did) or loaded Ray: it is imported only when configured.
        for server in (first, second):
            maps = Path(f"/proc/{server.process.pid}/maps").read_text()
            assert "_raylet" not in maps and "/ray/" not in maps
        # And a third page on B, opened after the fact, lists it in the model box.
        with open_app(browser, second) as late:
            late.locator("[data-testid=stSidebar] .st-key-model").click()
            late.get_by_role("option", name=SPEC.label()).wait_for()


# -- a server restarted mid-class -----------------------------------------------------------------
# window.__lost: the page's connection to its server has been anything but CONNECTED since this ran.
WATCH_CONNECTION_JS = """() => { window.__lost = false;
  new MutationObserver(() => { const app = document.querySelector('[data-testid=stApp]');
    if (app && app.dataset.testConnectionState !== 'CONNECTED') window.__lost = true; })
    .observe(document.body, {attributes: true, subtree: true, attributeFilter: ['data-test-connection-state']}); }"""


def test_a_server_restarted_mid_class_its_student_follows_again_and_the_class_goes_on(browser, room):
    """The student's server is restarted (an upgrade, a crash): the page reconnects by itself, is a
    follower again (the class lives in Redis, its code in the page's address), and follows the next
    change. Last in this file: the restarted server starts a new log."""
    require_browser(browser)
    with open_app(browser, room) as teacher:
        teachers_server = _backend_of_page(teacher, room)
        other_server = (room.backends - {teachers_server}).pop()
        code = _start_class(teacher)
        on_other = _StickyBrowser(browser, room.url, _cookie_for(room, other_server))
        with open_app(on_other, room, query=f"?class={code}") as student:
            expected = chart_filter(teacher)
            slider(teacher, "filter").press("ArrowRight")
            expected += 1
            wait_sees_filter(student, expected, f"the student follows to filter {expected} before the restart")
            student.evaluate(WATCH_CONNECTION_JS)
            [server] = [server for server in room.servers if f"127.0.0.1:{server.port}" == other_server]
            server.stop()
            wait_until(student, "() => window.__lost", what="the student's page sees its server gone")
            server.start()
            server.wait_healthy()
            back = time.monotonic()
            wait_until(
                student,
                "code => window.__lost && document.querySelector('[data-testid=stApp]')"
                ".dataset.testConnectionState === 'CONNECTED' && document.body.innerText.includes('Following class')"
                " && location.search.includes(code)",
                code,
                what="the student's page reconnects and follows the class again",
                timeout=FOLLOW_TIMEOUT,
            )
            print(f"\nthe student's page was connected again {time.monotonic() - back:.1f} s after its server was back")
            wait_idle(student)
            slider(teacher, "filter").press("ArrowRight")
            expected += 1
            wait_sees_filter(student, expected, f"the student follows to filter {expected} after the restart")
            assert _backend_of_page(student, room) == other_server
            assert exception_texts(student) == []
