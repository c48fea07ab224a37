"""The class feed (one per server: the teacher's changes pushed to open connections) and the class link.

The feed runs against real stores: this process's memory, and a real redis-server (a change made
through another store object stands for another server's publish, seen only by the feed's poll).
"""

from __future__ import annotations

import asyncio

import pytest

from convlab.classfeed import GONE, PING, ClassFeed
from convlab.classlink import class_link, is_loopback
from convlab.classroom import ClassError, MemoryStore, RedisStore
from convlab_testing.redis_server import redis_server


async def _next(updates, timeout: float = 2.0):
    return await asyncio.wait_for(anext(updates), timeout)


def test_a_follower_gets_the_state_now_then_each_change_then_the_end():
    store = MemoryStore()
    started = store.start()
    store.publish(started.code, started.token, {"filter": "1"})
    feed = ClassFeed(lambda: store, poll_seconds=30)  # only notify() can wake it this fast

    async def scenario():
        updates = feed.follow(started.code)
        first = await _next(updates)
        assert (first.version, first.view) == (1, {"filter": "1"})
        for value in ("2", "3"):
            store.publish(started.code, started.token, {"filter": value})
            feed.notify(started.code)
            state = await _next(updates, 1.0)
            assert state.view == {"filter": value}
        assert feed.watched() == {started.code: 1}
        store.end(started.code, started.token)
        feed.notify(started.code)
        assert await _next(updates, 1.0) == GONE
        await updates.aclose()
        assert feed.watched() == {}  # nobody watches it: nothing kept

    asyncio.run(scenario())


def test_many_followers_share_one_read_per_change_and_a_quiet_spell_pings():
    store = MemoryStore()
    started = store.start()
    reads = []
    original = store.read
    store.read = lambda code: reads.append(code) or original(code)
    feed = ClassFeed(lambda: store, poll_seconds=0.05, ping_seconds=0.3)

    async def scenario():
        followers = [feed.follow(started.code) for _ in range(50)]
        for updates in followers:
            assert (await _next(updates)).version == 0
        reads.clear()
        store.publish(started.code, started.token, {"filter": "9"})
        got = await asyncio.gather(*(_next(updates) for updates in followers))
        assert all(state.view == {"filter": "9"} for state in got)
        assert len(reads) == 1  # the feed read the change once for all fifty
        assert await _next(followers[0]) == PING
        for updates in followers:
            await updates.aclose()

    asyncio.run(scenario())


def test_an_unknown_class_is_refused_at_once():
    feed = ClassFeed(MemoryStore)

    async def scenario():
        with pytest.raises(ClassError):
            await _next(feed.follow("ZZZZZZ"))
        with pytest.raises(ClassError):
            await _next(feed.follow("not a code"))

    asyncio.run(scenario())


def test_another_servers_change_reaches_followers_through_redis():
    with redis_server() as redis:
        here, there = RedisStore(redis.url), RedisStore(redis.url)  # two servers' stores
        started = there.start()
        feed = ClassFeed(lambda: here, poll_seconds=0.05)

        async def scenario():
            updates = feed.follow(started.code)
            assert (await _next(updates)).version == 0
            there.publish(started.code, started.token, {"tab": "filters"})  # no notify: another process
            assert (await _next(updates)).view == {"tab": "filters"}
            there.end(started.code, started.token)
            assert await _next(updates) == GONE

        asyncio.run(scenario())


@pytest.mark.parametrize(
    "host, loopback",
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.3.2.1", True),
        ("[::1]", True),
        ("", True),
        ("192.168.1.20", False),
        ("convlab.school.example", False),
        ("10.0.0.5", False),
    ],
)
def test_loopback_names(host, loopback):
    assert is_loopback(host) is loopback


def test_the_link_reaches_other_devices_or_says_why_not():
    opened_here = "http://localhost:8501/?model=abc&teacher=SECRET"
    link = class_link("K7PQ2M", opened_here, network_ip="192.168.1.20", listen_address=None)
    assert link.url == "http://192.168.1.20:8501/?class=K7PQ2M" and link.problem is None
    public = class_link("K7PQ2M", opened_here, public_url="https://convlab.school.example/lab/", network_ip="10.0.0.5")
    assert public.url == "https://convlab.school.example/lab/?class=K7PQ2M" and public.problem is None
    remote = class_link("K7PQ2M", "http://convlab.school.example:8080/?tab=filters", network_ip="10.0.0.5")
    assert remote.url == "http://convlab.school.example:8080/?class=K7PQ2M"
    alone = class_link("K7PQ2M", opened_here, network_ip="127.0.0.1")
    assert "no network address" in alone.problem and "CONVLAB_PUBLIC_URL" in alone.problem
    bound = class_link("K7PQ2M", opened_here, network_ip="192.168.1.20", listen_address="127.0.0.1")
    assert "--server.address 0.0.0.0" in bound.problem
    broken = class_link("K7PQ2M", opened_here, public_url="convlab.school", network_ip="192.168.1.20")
    assert "CONVLAB_PUBLIC_URL" in broken.problem
    for made in (link, public, remote, alone, bound, broken):
        assert "SECRET" not in made.url and "teacher" not in made.url
