"""The class's routes beside Streamlit's own: the followers' feed and the teacher's heartbeat.

``streamlit run app.py`` finds ``app.py``'s ``st.App`` and serves these routes from the same
server (and port) as the page, so they need no setup and pass any proxy the page passes:

* ``GET /convlab/class/<code>/feed``: server-sent events, one ``data:`` line of
  ``{"version", "view"}`` for the class's state now and for each change after it, an
  ``event: ended`` when the class ends, and a comment line on quiet spells. A follower's page
  holds one (``components/class_follow``); nothing reruns on the server for a change.
* ``POST /convlab/class/<code>/alive`` with ``{"token": ...}``: the teacher's page, once a minute,
  keeps the class alive while it is open (``ClassStore.touch``).

The class store is one per server process (:func:`class_store`), shared by the page's scripts
and these routes, and chosen by ``$CONVLAB_REDIS_URL`` as before.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from convlab.classfeed import GONE, PING, ClassFeed
from convlab.classroom import ENV_VAR, ClassError, ClassStore, MemoryStore, NotTheTeacher, StoreUnavailable, open_store

FEED_PATH = "/convlab/class/{code}/feed"
ALIVE_PATH = "/convlab/class/{code}/alive"
HEARTBEAT_SECONDS = 60  # the teacher's page says it is open this often; a class outlives silence by an hour

_stores: dict[str, tuple[ClassStore, str | None]] = {}
_stores_lock = threading.Lock()


def class_store() -> tuple[ClassStore, str | None]:
    """(store, problem): Redis when ``$CONVLAB_REDIS_URL`` is set and answers, else this server's memory.

    One per URL for the whole process, so the page's scripts and the feed share it; a Redis that
    doesn't answer at first leaves the problem to say and classes in memory meanwhile.
    """
    url = os.environ.get(ENV_VAR, "").strip()
    with _stores_lock:
        if url not in _stores:
            try:
                _stores[url] = (open_store(url), None)
            except StoreUnavailable as error:
                _stores[url] = (MemoryStore(), f"{error} Classes live in this server's memory meanwhile.")
        return _stores[url]


FEED = ClassFeed(lambda: class_store()[0])


def feed_path(code: str) -> str:
    return FEED_PATH.format(code=code)


def alive_path(code: str) -> str:
    return ALIVE_PATH.format(code=code)


def _event(state) -> str:
    if state == PING:
        return ": still here\n\n"
    if state == GONE:
        return "event: ended\ndata: {}\n\n"
    return f"id: {state.version}\ndata: {json.dumps({'version': state.version, 'view': state.view})}\n\n"


async def feed(request: Request) -> Response:
    """A follower's connection: the class's state, then each change, as server-sent events."""
    try:
        updates = FEED.follow(request.path_params["code"])
        first = await anext(updates)  # an unknown class fails here, as a plain HTTP error
    except ClassError as error:
        return JSONResponse({"error": str(error)}, status_code=404)
    except StoreUnavailable as error:
        return JSONResponse({"error": str(error)}, status_code=503)

    async def events():
        yield "retry: 1000\n\n" + _event(first)  # a dropped connection is opened again after a second
        async for state in updates:
            yield _event(state)
            if state == GONE:
                return

    # no-cache and X-Accel-Buffering: a proxy (nginx) passes each event on at once instead of buffering
    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


async def alive(request: Request) -> Response:
    """The teacher's heartbeat: the class's hour of grace starts again."""
    try:
        body = await request.json()
        token = body.get("token") if isinstance(body, dict) else None
        store = class_store()[0]
        await asyncio.to_thread(store.touch, request.path_params["code"], token)
    except NotTheTeacher as error:
        return JSONResponse({"error": str(error)}, status_code=403)
    except ClassError as error:
        return JSONResponse({"error": str(error)}, status_code=404)
    except StoreUnavailable as error:
        return JSONResponse({"error": str(error)}, status_code=503)
    except ValueError:  # not JSON
        return JSONResponse({"error": 'Send {"token": ...} as JSON.'}, status_code=400)
    return Response(status_code=204)


ROUTES = [Route(FEED_PATH, feed, methods=["GET"]), Route(ALIVE_PATH, alive, methods=["POST"])]
