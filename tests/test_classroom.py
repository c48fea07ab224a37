"""Follow the teacher: both class stores, the memory one and Redis (a real redis-server per module)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections import deque

import pytest
import segno

from convlab import urlstate
from convlab.classroom import (
    CODE_ALPHABET,
    CODE_LENGTH,
    MAX_CLASSES,
    QUIET_SECONDS,
    REDIS_CLASSES,
    REDIS_PREFIX,
    REDIS_STARTS_PREFIX,
    STARTS_PER_MINUTE,
    ClassError,
    ClassState,
    MemoryStore,
    NotTheTeacher,
    RedisStore,
    Started,
    StartLimited,
    StoreUnavailable,
    TooManyClasses,
    open_store,
    qr_svg,
    valid_code,
)
from convlab_testing.live_app import REPO, free_port
from convlab_testing.redis_server import redis_server

# A view as the app publishes it: urlstate.encode of a page's state.
VIEW = urlstate.encode(
    urlstate.Link(
        model="0123456789ab",
        images=(3, 14, 159),
        filter=2,
        layer="conv2",
        tab="journey",
        cell={"slot": 0, "layer": "conv1", "row": 4, "col": 5},
    )
)
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
def make_store(request):
    """Makes fresh stores of each kind, with the options given (an empty Redis for each test)."""
    if request.param == "memory":
        return MemoryStore
    request.getfixturevalue("redis_client")
    url = request.getfixturevalue("redis_url")
    return lambda **options: RedisStore(url, **options)


@pytest.fixture
def store(make_store):
    """A fresh store of each kind, through the same API."""
    return make_store()


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


@pytest.mark.parametrize(
    "code", ["", "K7PQ2", "K7PQ2MM", "K7PQ0M", "K7PQ1M", "K7PO2M", "K7PQ-M", "Ä7PQ2M", None, 123456]
)
def test_malformed_codes_are_class_errors(code):
    store = MemoryStore()
    started = store.start()
    for call in (
        lambda: store.read(code),
        lambda: store.version(code),
        lambda: store.end(code, started.token),
        lambda: store.publish(code, started.token, VIEW),
    ):
        with pytest.raises(ClassError, match="6 letters and digits, like K7PQ2M"):
            call()


def test_unknown_codes_are_class_errors(store):
    started = store.start()
    unknown = next(code for code in ("K7PQ2M", "ZZZZZZ") if code != started.code)
    for call in (
        lambda: store.read(unknown),
        lambda: store.version(unknown),
        lambda: store.publish(unknown, started.token, VIEW),
        lambda: store.end(unknown, started.token),
    ):
        with pytest.raises(ClassError, match=f"no class {unknown}"):
            call()


def test_ending_a_class_ends_it_for_everyone(store):
    started, other = store.start(), store.start()
    store.publish(started.code, started.token, VIEW)
    store.end(started.code, started.token)
    for call in (
        lambda: store.read(started.code),
        lambda: store.version(started.code),
        lambda: store.publish(started.code, started.token, VIEW),
        lambda: store.end(started.code, started.token),
    ):
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
    for view in [
        {f"k{i}": "v" for i in range(33)},
        {"tab": "v" * 201},
        {"k" * 201: "v"},
        {"filter": 3},
        {3: "filter"},
        [("tab", "journey")],
        "tab=journey",
        None,
    ]:
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


# -- the teacher's key and heartbeat --------------------------------------------------------
def test_is_teacher_only_for_the_class_and_its_token(store):
    started, other = store.start(), store.start()
    assert store.is_teacher(started.code, started.token) is True
    assert store.is_teacher(f" {started.code.lower()} ", started.token) is True  # codes are typed in any case
    assert store.is_teacher(started.code, other_token(started.token)) is False
    assert store.is_teacher(started.code, other.token) is False
    assert store.is_teacher(other.code, started.token) is False
    for token in MALFORMED_TOKENS:
        assert store.is_teacher(started.code, token) is False
    for code in ["", "K7PQ0M", "K7PQ2MM", None, 123456]:
        assert store.is_teacher(code, started.token) is False
    unknown = next(code for code in ("K7PQ2M", "ZZZZZZ") if code not in (started.code, other.code))
    assert store.is_teacher(unknown, started.token) is False
    store.end(started.code, started.token)
    assert store.is_teacher(started.code, started.token) is False
    assert store.is_teacher(other.code, other.token) is True


def test_touch_keeps_the_view_and_moves_the_time(store):
    started = store.start()
    store.publish(started.code, started.token, VIEW)
    before = store.read(started.code)
    time.sleep(0.01)
    assert store.touch(started.code.lower(), started.token) is None
    after = store.read(started.code)
    assert (after.version, after.view) == (1, VIEW) and after.updated > before.updated
    assert store.publish(started.code, started.token, OTHER_VIEW) == 2  # a touch is not a version


def test_only_the_teacher_touches_a_class(store):
    started, other = store.start(), store.start()
    store.publish(started.code, started.token, VIEW)
    before = store.read(started.code)
    for token in [other_token(started.token), other.token, *MALFORMED_TOKENS]:
        with pytest.raises(NotTheTeacher, match=f"class {started.code}"):
            store.touch(started.code, token)
    assert store.read(started.code) == before
    with pytest.raises(ClassError, match="6 letters and digits"):
        store.touch("K7PQ0M", started.token)
    store.end(started.code, started.token)
    with pytest.raises(ClassError, match=f"no class {started.code}"):
        store.touch(started.code, started.token)


def test_a_touched_memory_class_outlives_its_quiet_hour():
    now = [1000.0]
    store = MemoryStore(clock=lambda: now[0])
    started = store.start()
    store.publish(started.code, started.token, VIEW)
    now[0] += QUIET_SECONDS - 1
    store.touch(started.code, started.token)
    now[0] += QUIET_SECONDS - 1  # well past the hour after the publish
    assert store.read(started.code) == ClassState(1, VIEW, 1000.0 + QUIET_SECONDS - 1)
    assert store.is_teacher(started.code, started.token)
    now[0] += 1  # an hour after the touch
    assert not store.is_teacher(started.code, started.token)
    with pytest.raises(ClassError):
        store.touch(started.code, started.token)


def test_a_touch_resets_a_redis_classs_ttl(redis_client, redis_url):
    store = RedisStore(redis_url)
    started = store.start()
    store.publish(started.code, started.token, VIEW)
    key = REDIS_PREFIX + started.code
    redis_client.pexpire(key, 60_000)
    store.touch(started.code, started.token)
    assert (QUIET_SECONDS - 5) * 1000 < redis_client.pttl(key) <= QUIET_SECONDS * 1000
    expiry_ms = redis_client.zscore(REDIS_CLASSES, started.code)  # the count of live classes moves with it
    assert abs(expiry_ms - (time.time() + QUIET_SECONDS) * 1000) < 5000
    assert redis_client.hget(key, "version") == "1" and store.read(started.code).view == VIEW
    redis_client.pexpire(key, 60_000)
    with pytest.raises(NotTheTeacher):
        store.touch(started.code, other_token(started.token))
    assert redis_client.pttl(key) <= 60_000  # a wrong token changes nothing


def test_a_touched_redis_class_outlives_its_quiet_period(redis_client, redis_url):
    store = RedisStore(redis_url, quiet_seconds=0.3)
    started = store.start()
    for _ in range(4):
        time.sleep(0.1)
        store.touch(started.code, started.token)
    assert store.version(started.code) == 0  # 0.4 s after the start, 0.3 s quiet
    time.sleep(0.35)
    assert not store.is_teacher(started.code, started.token)
    with pytest.raises(ClassError):
        store.touch(started.code, started.token)


# -- bounds for a lecture hall --------------------------------------------------------------
def test_the_bounds_default_to_a_lecture_halls():
    assert (MAX_CLASSES, STARTS_PER_MINUTE) == (500, 3)
    store = MemoryStore()
    assert (store.max_classes, store.starts_per_minute) == (500, 3)
    for options in [{"max_classes": 0}, {"max_classes": 2.5}, {"starts_per_minute": -1}, {"starts_per_minute": True}]:
        with pytest.raises(ValueError, match="whole number of at least 1"):
            MemoryStore(**options)
    with pytest.raises(ValueError, match="IP address or a session id"):
        store.start(client=12345)


def test_a_full_store_refuses_a_start_until_a_class_ends(make_store):
    store = make_store(max_classes=3)
    started = [store.start() for _ in range(3)]
    with pytest.raises(TooManyClasses, match="already runs 3 classes") as caught:
        store.start()
    assert "end one, or wait: quiet classes end after an hour" in str(caught.value)
    assert isinstance(caught.value, ClassError)
    store.end(started[0].code, started[0].token)
    fresh = store.start()
    with pytest.raises(TooManyClasses):
        store.start(client="10.0.0.9")
    assert all(store.version(s.code) == 0 for s in [*started[1:], fresh])


def test_concurrent_starts_never_pass_the_bound(make_store):
    store = make_store(max_classes=5)
    outcomes: list[str] = []
    ready = threading.Barrier(8)

    def teacher(thread: int) -> None:
        ready.wait()
        for _ in range(3):
            try:
                outcomes.append(store.start(client=f"teacher-{thread}").code)
            except TooManyClasses:
                outcomes.append("full")

    threads = [threading.Thread(target=teacher, args=(thread,)) for thread in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    codes = [outcome for outcome in outcomes if outcome != "full"]
    assert len(outcomes) == 24 and len(set(codes)) == len(codes) == 5
    assert all(store.version(code) == 0 for code in codes)


def test_quiet_memory_classes_dont_count():
    now = [0.0]
    store = MemoryStore(clock=lambda: now[0], quiet_seconds=10, max_classes=3)
    for _ in range(3):
        store.start()
    now[0] = 9.9
    with pytest.raises(TooManyClasses, match="quiet classes end after 10 seconds"):
        store.start()
    now[0] = 10
    fresh = [store.start() for _ in range(3)]
    assert sorted(store._classes) == sorted(s.code for s in fresh)  # never more than max_classes held


def test_quiet_redis_classes_dont_count(redis_client, redis_url):
    store = RedisStore(redis_url, quiet_seconds=0.2, max_classes=2)
    store.start(), store.start()
    with pytest.raises(TooManyClasses):
        store.start()
    time.sleep(0.3)
    fresh = store.start()
    assert redis_client.zrange(REDIS_CLASSES, 0, -1) == [fresh.code]  # the expired ones left the count
    store.end(fresh.code, fresh.token)
    assert redis_client.zcard(REDIS_CLASSES) == 0


def test_a_client_starts_at_most_three_classes_a_minute(make_store):
    store = make_store()
    for _ in range(3):
        store.start(client="203.0.113.7")
    with pytest.raises(
        StartLimited,
        match=r"You started 3 classes in the last minute: wait \d+ s, or use the "
        "class you have",
    ) as caught:
        store.start(client="203.0.113.7")
    assert 1 <= int(re.search(r"wait (\d+) s", str(caught.value)).group(1)) <= 60
    assert isinstance(caught.value, ClassError)
    store.start(client="203.0.113.8")  # another client is fine
    for _ in range(5):
        store.start()  # no client: no limit (tests, the command line)
    store.start(client="x" * 10_000)  # any text is a client: stored as its SHA-256


def test_a_memory_client_may_start_again_after_a_minute():
    now = [0.0]
    store = MemoryStore(clock=lambda: now[0])
    for moment in (0.0, 1.0, 2.0):
        now[0] = moment
        store.start(client="203.0.113.7")
    store.start(client="198.51.100.1")
    now[0] = 3.0
    with pytest.raises(StartLimited, match="wait 57 s"):
        store.start(client="203.0.113.7")
    now[0] = 60.0  # the start at 0 s is a minute old: one start free
    store.start(client="203.0.113.7")
    with pytest.raises(StartLimited, match="wait 1 s"):
        store.start(client="203.0.113.7")
    now[0] = 62.0  # the other client's start is a minute old
    store.start(client="203.0.113.7")
    assert len(store._starts) == 1 and "203.0.113.7" not in repr(store._starts)  # quiet clients forgotten
    assert list(store._starts.values())[0] == deque([60.0, 62.0])


def test_a_redis_client_may_start_again_when_its_minute_ends(redis_client, redis_url):
    store = RedisStore(redis_url, starts_per_minute=2)
    store.start(client="203.0.113.7"), store.start(client="203.0.113.7")
    with pytest.raises(StartLimited, match="You started 2 classes"):
        store.start(client="203.0.113.7")
    [key] = redis_client.keys(REDIS_STARTS_PREFIX + "*")
    assert "203.0.113.7" not in key and redis_client.get(key) == "2"
    assert 55_000 < redis_client.pttl(key) <= 60_000  # a fixed minute from the first start
    redis_client.pexpire(key, 1)  # the minute ends
    time.sleep(0.01)
    store.start(client="203.0.113.7")
    assert redis_client.get(key) == "1"


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


@pytest.mark.timeout(60)
def test_a_class_survives_a_restart_of_a_redis_that_keeps_an_append_only_file():
    """Redis restarted mid-class (an upgrade, a crash): with its append-only file on, as docs/classroom.md
    asks, the class, its view and its teacher's key come back, and the same store goes on (its pooled
    connection, stale after the restart, is retried once)."""
    with redis_server(persist=True) as server:
        store = open_store(server.url)
        started = store.start()
        assert store.publish(started.code, started.token, VIEW) == 1
        server.restart()
        assert store.read(started.code).view == VIEW
        assert store.is_teacher(started.code, started.token)
        assert store.publish(started.code, started.token, OTHER_VIEW) == 2  # the versions go on: followers move
        assert open_store(server.url).read(started.code).view == OTHER_VIEW  # another server sees it too
        with pytest.raises(NotTheTeacher):
            store.publish(started.code, other_token(started.token), VIEW)


@pytest.mark.timeout(30)  # a hang fails here, not after the suite's 300 s
def test_redis_stopping_mid_class_fails_fast_with_the_fix():
    with redis_server() as server:
        store = open_store(server.url)
        started = store.start()
        store.publish(started.code, started.token, VIEW)
        server.stop()
        calls = [
            store.start,
            lambda: store.start(client="203.0.113.7"),
            lambda: store.read(started.code),
            lambda: store.version(started.code),
            lambda: store.publish(started.code, started.token, VIEW),
            lambda: store.touch(started.code, started.token),
            lambda: store.is_teacher(started.code, started.token),
            lambda: store.end(started.code, started.token),
        ]
        for call in calls:
            began = time.monotonic()
            with pytest.raises(StoreUnavailable) as caught:
                call()
            assert time.monotonic() - began < 3
            assert "CONVLAB_REDIS_URL" in str(caught.value) and f"127.0.0.1:{server.port}/0" in str(caught.value)
        # What a page sends is checked before Redis is asked, so these fail as usual.
        with pytest.raises(NotTheTeacher):
            store.publish(started.code, "not a token", VIEW)
        assert store.is_teacher(started.code, "not a token") is False
        assert store.is_teacher("O0O0O0", started.token) is False
        with pytest.raises(ClassError):
            store.read("O0O0O0")
        with pytest.raises(ClassError):
            store.publish(started.code, started.token, {"tab": "x" * 201})


# -- choosing the store ---------------------------------------------------------------------
def test_without_a_url_the_store_is_memory_and_redis_is_never_imported():
    env = {key: value for key, value in os.environ.items() if key != "CONVLAB_REDIS_URL"}
    code = (
        "import convlab.classroom, sys; store = convlab.classroom.open_store(None); "
        "assert type(store).__name__ == 'MemoryStore', store; assert 'redis' not in sys.modules"
    )
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
        assert [row[left : left + 7] for row in symbol[top : top + 7]] == finder
    assert int(re.search(r'width="(\d+)"', svg).group(1)) >= 300  # big enough for a projector
    with pytest.raises(ValueError):
        qr_svg("")


def test_started_is_a_value():
    started = Started("K7PQ2M", "t" * 22)
    with pytest.raises(AttributeError):
        started.code = "ABCDEF"
    assert started == Started("K7PQ2M", "t" * 22)
