"""Follow the teacher: both class stores, the memory one and Redis (a real redis-server per module)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time

import pytest
import segno

from convlab import urlstate
from convlab.classroom import (
    CODE_ALPHABET, CODE_LENGTH, QUIET_SECONDS, REDIS_PREFIX, ClassError, ClassState, MemoryStore, NotTheTeacher,
    RedisStore, Started, StoreUnavailable, open_store, qr_svg, valid_code,
)
from convlab_testing.live_app import REPO, free_port
from convlab_testing.redis_server import redis_server

# A view as the app publishes it: urlstate.encode of a page's state.
VIEW = urlstate.encode({"model": "0123456789ab", "image_0": 3, "image_1": 14, "image_2": 159, "filter": 2,
                        "layer": "conv2", "tab": "journey", "cell": {"slot": 0, "layer": "conv1", "row": 4, "col": 5}})
OTHER_VIEW = {"tab": "filters", "tour": "3", "note": "Größe – ✓"}  # not ASCII: must round-trip too
MALFORMED_TOKENS = ["", "short", "x" * 65, "a" * 21 + "!", "a" * 21 + " ", "a" * 23, None, 12345]


@pytest.fixture(scope="module")
def redis_url():
    with redis_server() as server:
        yield server.url


@pytest.fixture
def redis_client(redis_url):
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()  # each test starts from an empty Redis
    yield client
    client.close()


@pytest.fixture(params=["memory", "redis"])
def store(request):
    """A fresh store of each kind, through the same API."""
    if request.param == "memory":
        return MemoryStore()
    request.getfixturevalue("redis_client")
    return RedisStore(request.getfixturevalue("redis_url"))


def other_token(token: str) -> str:
    """A well-formed token that isn't ``token``."""
    return ("B" if token[0] == "A" else "A") + token[1:]


# -- one class ------------------------------------------------------------------------------
def test_start_gives_version_0_and_an_empty_view(store):
    before = time.time()
    started = store.start()
    assert valid_code(started.code) == started.code
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", started.token)
    state = store.read(started.code)
    assert (state.version, state.view) == (0, {})
    assert before - 1 <= state.updated <= time.time() + 1
    assert store.version(started.code) == 0


def test_publish_bumps_the_version_and_the_view_round_trips(store):
    started = store.start()
    assert store.publish(started.code, started.token, VIEW) == 1
    state = store.read(started.code)
    assert state == ClassState(1, VIEW, state.updated) and list(state.view.items()) == list(VIEW.items())

    view = dict(OTHER_VIEW)
    assert store.publish(started.code.lower(), started.token, view) == 2  # codes are typed in any case
    view["tab"] = "changed after publishing"
    state = store.read(started.code)
    state.view["tab"] = "changed by a reader"
    assert store.read(started.code).view == OTHER_VIEW
    assert store.version(started.code) == 2


def test_only_the_teacher_changes_a_class(store):
    started, other = store.start(), store.start()
    store.publish(started.code, started.token, VIEW)
    for token in [other_token(started.token), other.token, *MALFORMED_TOKENS]:
        with pytest.raises(NotTheTeacher, match=f"class {started.code}"):
            store.publish(started.code, token, OTHER_VIEW)
        with pytest.raises(NotTheTeacher):
            store.end(started.code, token)
    state = store.read(started.code)
    assert (state.version, state.view) == (1, VIEW)
    assert store.read(other.code).version == 0


def test_a_token_never_shows(store):
    started = store.start()
    assert started.token not in repr(started)
    with pytest.raises(NotTheTeacher) as caught:
        store.publish(started.code, other_token(started.token), VIEW)
    assert started.token not in str(caught.value) and other_token(started.token) not in str(caught.value)
    assert started.token not in repr(store.read(started.code))


@pytest.mark.parametrize("code", ["", "K7PQ2", "K7PQ2MM", "K7PQ0M", "K7PQ1M", "K7PO2M", "K7PQ-M", "Ä7PQ2M",
                                  None, 123456])
def test_malformed_codes_are_class_errors(code):
    store = MemoryStore()
    started = store.start()
    for call in (lambda: store.read(code), lambda: store.version(code), lambda: store.end(code, started.token),
                 lambda: store.publish(code, started.token, VIEW)):
        with pytest.raises(ClassError, match="6 letters and digits, like K7PQ2M"):
            call()


def test_unknown_codes_are_class_errors(store):
    started = store.start()
    unknown = next(code for code in ("K7PQ2M", "ZZZZZZ") if code != started.code)
    for call in (lambda: store.read(unknown), lambda: store.version(unknown),
                 lambda: store.publish(unknown, started.token, VIEW), lambda: store.end(unknown, started.token)):
        with pytest.raises(ClassError, match=f"no class {unknown}"):
            call()


def test_ending_a_class_ends_it_for_everyone(store):
    started, other = store.start(), store.start()
    store.publish(started.code, started.token, VIEW)
    store.end(started.code, started.token)
    for call in (lambda: store.read(started.code), lambda: store.version(started.code),
                 lambda: store.publish(started.code, started.token, VIEW),
                 lambda: store.end(started.code, started.token)):
        with pytest.raises(ClassError, match="ended"):
            call()
    assert store.read(other.code).version == 0


def test_codes_and_tokens_are_fresh(store):
    started = [store.start() for _ in range(40)]
    assert len({s.code for s in started}) == len({s.token for s in started}) == 40
    assert all(len(s.code) == CODE_LENGTH and set(s.code) <= set(CODE_ALPHABET) for s in started)


def test_oversized_or_malformed_views_are_rejected(store):
    started = store.start()
    largest = {f"k{i:03}" + "x" * 196: "v" * 200 for i in range(32)}
    assert store.publish(started.code, started.token, largest) == 1
    for view in [{f"k{i}": "v" for i in range(33)}, {"tab": "v" * 201}, {"k" * 201: "v"}, {"filter": 3},
                 {3: "filter"}, [("tab", "journey")], "tab=journey", None]:
        with pytest.raises(ClassError):
            store.publish(started.code, started.token, view)
    assert store.read(started.code) == ClassState(1, largest, store.read(started.code).updated)


def test_concurrent_publishes_never_lose_a_version(store):
    started = store.start()
    versions: list[int] = []
    ready = threading.Barrier(8)

    def teacher_tab(thread: int) -> None:
        ready.wait()
        for step in range(25):
            versions.append(store.publish(started.code, started.token, {"tab": f"{thread}-{step}"}))

    threads = [threading.Thread(target=teacher_tab, args=(thread,)) for thread in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(versions) == list(range(1, 201))
    assert store.version(started.code) == 200 == store.read(started.code).version


# -- a quiet hour ---------------------------------------------------------------------------
def test_a_memory_class_ends_after_a_quiet_hour_since_its_last_publish():
    now = [1000.0]
    store = MemoryStore(clock=lambda: now[0])
    started = store.start()
    now[0] += QUIET_SECONDS - 1
    assert store.publish(started.code, started.token, VIEW) == 1  # a publish restarts the quiet hour
    now[0] += QUIET_SECONDS - 1
    assert store.read(started.code).updated == 1000.0 + QUIET_SECONDS - 1
    assert store.version(started.code) == 1  # reading doesn't keep a class alive ...
    now[0] += 1
    with pytest.raises(ClassError):  # ... so an hour after the last publish it is gone
        store.read(started.code)
    with pytest.raises(ClassError):
        store.publish(started.code, started.token, VIEW)


def test_a_memory_store_sweeps_out_quiet_classes():
    now = [0.0]
    store = MemoryStore(clock=lambda: now[0], quiet_seconds=10)
    for _ in range(5):
        store.start()
    now[0] = 10
    fresh = store.start()
    assert list(store._classes) == [fresh.code]  # nobody asked for the old ones, and still they went


def test_a_redis_class_lives_quiet_seconds_after_its_last_publish(redis_client, redis_url):
    store = RedisStore(redis_url)
    started = store.start()
    key = REDIS_PREFIX + started.code
    assert QUIET_SECONDS - 5 < redis_client.ttl(key) <= QUIET_SECONDS
    redis_client.expire(key, 60)
    store.read(started.code), store.version(started.code)
    assert redis_client.ttl(key) <= 60  # reading doesn't keep a class alive
    store.publish(started.code, started.token, VIEW)
    assert QUIET_SECONDS - 5 < redis_client.ttl(key) <= QUIET_SECONDS
    assert set(redis_client.hgetall(key)) == {"version", "view", "updated", "token"}
    assert started.token not in redis_client.hgetall(key).values()  # only its SHA-256 is stored


def test_a_quiet_redis_class_expires(redis_client, redis_url):
    store = RedisStore(redis_url, quiet_seconds=0.3)
    started = store.start()
    store.publish(started.code, started.token, VIEW)
    time.sleep(0.5)
    with pytest.raises(ClassError):
        store.version(started.code)


# -- several app servers, one Redis ---------------------------------------------------------
def test_two_servers_share_classes_through_redis(redis_client, redis_url):
    teacher_server, student_server = RedisStore(redis_url), RedisStore(redis_url)
    started = teacher_server.start()
    assert student_server.version(started.code) == 0
    teacher_server.publish(started.code, started.token, VIEW)
    assert student_server.version(started.code) == 1 and student_server.read(started.code).view == VIEW
    assert student_server.publish(started.code, started.token, OTHER_VIEW) == 2  # the teacher moved servers
    assert teacher_server.read(started.code).view == OTHER_VIEW
    with pytest.raises(NotTheTeacher):
        student_server.publish(started.code, other_token(started.token), VIEW)
    teacher_server.end(started.code, started.token)
    with pytest.raises(ClassError):
        student_server.read(started.code)


@pytest.mark.timeout(30)  # a hang fails here, not after the suite's 300 s
def test_redis_stopping_mid_class_fails_fast_with_the_fix():
    with redis_server() as server:
        store = open_store(server.url)
        started = store.start()
        store.publish(started.code, started.token, VIEW)
        server.stop()
        calls = [store.start, lambda: store.read(started.code), lambda: store.version(started.code),
                 lambda: store.publish(started.code, started.token, VIEW),
                 lambda: store.end(started.code, started.token)]
        for call in calls:
            began = time.monotonic()
            with pytest.raises(StoreUnavailable) as caught:
                call()
            assert time.monotonic() - began < 3
            assert "CONVLAB_REDIS_URL" in str(caught.value) and f"127.0.0.1:{server.port}/0" in str(caught.value)
        # What a page sends is checked before Redis is asked, so these fail as usual.
        with pytest.raises(NotTheTeacher):
            store.publish(started.code, "not a token", VIEW)
        with pytest.raises(ClassError):
            store.read("O0O0O0")
        with pytest.raises(ClassError):
            store.publish(started.code, started.token, {"tab": "x" * 201})


# -- choosing the store ---------------------------------------------------------------------
def test_without_a_url_the_store_is_memory_and_redis_is_never_imported():
    env = {key: value for key, value in os.environ.items() if key != "CONVLAB_REDIS_URL"}
    code = ("import convlab.classroom, sys; store = convlab.classroom.open_store(None); "
            "assert type(store).__name__ == 'MemoryStore', store; assert 'redis' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=True, timeout=60)
    assert isinstance(open_store(""), MemoryStore)
    assert open_store("  ").describe() == "this server's memory"


def test_open_store_reads_convlab_redis_url(redis_client, redis_url, monkeypatch):
    monkeypatch.setenv("CONVLAB_REDIS_URL", redis_url)
    store = open_store()
    assert isinstance(store, RedisStore) and store.describe() == f"Redis at {redis_url}"
    assert isinstance(open_store(""), MemoryStore)  # an explicit empty URL means memory


def test_open_store_with_an_unreachable_redis_names_the_fix():
    port = free_port()  # nothing listens there
    with pytest.raises(StoreUnavailable, match="CONVLAB_REDIS_URL") as caught:
        open_store(f"redis://:hunter2@127.0.0.1:{port}/2")
    assert f"Redis at redis://127.0.0.1:{port}/2" in str(caught.value) and "hunter2" not in str(caught.value)
    with pytest.raises(StoreUnavailable, match="CONVLAB_REDIS_URL is not a Redis URL") as caught:
        open_store("http://:hunter2@example.com/")
    assert "hunter2" not in str(caught.value)


# -- codes and QR codes ---------------------------------------------------------------------
def test_valid_code_normalises_what_people_type():
    assert valid_code(" k7pq2m ") == "K7PQ2M"
    assert valid_code("\tabcdef\n") == "ABCDEF"
    with pytest.raises(ClassError, match=r"never 0, O, 1, I or L"):
        valid_code("K7PQ0M")


def svg_modules(svg: str) -> list[list[int]]:
    """The dark modules segno's SVG draws: each ``h`` of its stroke path is a run of them in one row."""
    size = int(re.search(r'd="M0 0h(\d+)v', svg).group(1))
    grid = [[0] * size for _ in range(size)]
    x = y = 0.0
    path = re.search(r'<path stroke="#000(?:000)?" d="([^"]+)"', svg).group(1)
    for command, numbers in re.findall(r"([MmHh])([-\d. ]+)", path):
        values = [float(value) for value in numbers.split()]
        if command == "M":
            x, y = values
        elif command == "m":
            x, y = x + values[0], y + values[1]
        else:
            run = values[0]
            for column in range(int(x), int(x + run)):
                grid[int(y)][column] = 1
            x += run
    return grid


def test_qr_svg_draws_the_join_link_as_a_full_qr_code():
    url = "https://convlab.example.org/?class=K7PQ2M"
    svg = qr_svg(url)
    assert svg.startswith("<svg") and 'xmlns="http://www.w3.org/2000/svg"' in svg
    assert 'fill="#fff' in svg and 'stroke="#000' in svg  # dark on white
    grid = svg_modules(svg)
    expected = segno.make_qr(url)
    assert not expected.is_micro and expected.error in "LMQH"
    border = 4
    symbol = [row[border:-border] for row in grid[border:-border]]
    assert symbol == [list(row) for row in expected.matrix]
    assert all(not any(row) for row in grid[:border] + grid[-border:])  # the quiet zone a camera needs
    finder = [[1] * 7, *[[1, 0, 0, 0, 0, 0, 1]], *[[1, 0, 1, 1, 1, 0, 1]] * 3, [1, 0, 0, 0, 0, 0, 1], [1] * 7]
    for top, left in [(0, 0), (0, len(symbol) - 7), (len(symbol) - 7, 0)]:
        assert [row[left:left + 7] for row in symbol[top:top + 7]] == finder
    assert int(re.search(r'width="(\d+)"', svg).group(1)) >= 300  # big enough for a projector
    with pytest.raises(ValueError):
        qr_svg("")


def test_started_is_a_value():
    started = Started("K7PQ2M", "t" * 22)
    with pytest.raises(AttributeError):
        started.code = "ABCDEF"
    assert started == Started("K7PQ2M", "t" * 22)
