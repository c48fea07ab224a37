"""A light student: one follower's page of a class, on the wire, without a browser (``bench/classroom_load.py``).

A light student is what a browser's page is on the wire, so hundreds fit in one asyncio process:

* one websocket to ``/_stcore/stream`` speaking Streamlit's protocol (``streamlit.proto``): it
  sends ``rerun_script`` with ``query_string="class=CODE"`` (and a ContextInfo), as a page opened
  at ``/?class=CODE``, and receives the whole page once (no cached message hashes, so every
  message in full). From the invisible ``class_follow`` component's element it keeps the
  component's widget id and arguments (the view the page shows and its class version);
* one server-sent-events connection (a raw HTTP/1.1 GET over asyncio streams, chunked encoding
  undone here) on the component's ``feed`` path, opened once the page has drawn the component,
  as the component's EventSource is; a dropped feed is a connection error, opened again after a
  second (the feed's ``retry``);
* what the component decides for each state the feed sends (``components/class_follow``): a
  change of the filter alone while the page shows the journey is painted by the chart (here: the
  address's ``filter=`` follows, nothing is sent); any other change asks the page to rerun, a
  ``rerun_script`` carrying the component's new value ``{version, n}`` as its one widget state.

A light student sends no other widget states (it moves nothing; the server keeps its own) and
never reports the chart's room. Nothing else of a follower's page runs on the server: the bench
counts the runs the light students' pages start during the filter changes (0 expected).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import urllib.parse

from convlab_testing.balancer import BACKEND_HEADER, COOKIE

CONTEXT = {"timezone": "UTC", "timezone_offset": 0, "locale": "en-US", "is_embedded": False, "color_scheme": "light"}
FINISHED, EARLY_FOR_RERUN = 0, 2  # ForwardMsg.ScriptFinishedStatus


def query_dict(qs: str) -> dict[str, str]:
    return {k: v[0] for k, v in urllib.parse.parse_qs(qs.lstrip("?"), keep_blank_values=True).items()}


def rerun_message(query_string: str, page_script_hash: str, url: str, widgets=(), fragment_id: str = "") -> bytes:
    """A page's ``rerun_script`` BackMsg: address, view, ContextInfo, widget states as (id, value field, value)."""
    from streamlit.proto.BackMsg_pb2 import BackMsg

    msg = BackMsg()
    state = msg.rerun_script
    state.query_string = query_string
    state.page_script_hash = page_script_hash
    state.page_name = ""
    if fragment_id:
        state.fragment_id = fragment_id
    state.widget_states.SetInParent()
    for widget_id, field, value in widgets:
        widget = state.widget_states.widgets.add()
        widget.id = widget_id
        setattr(widget, field, value)
    info = state.context_info
    for name, value in CONTEXT.items():
        setattr(info, name, value)
    info.url = url
    return msg.SerializeToString()


def open_stream(host: str, port: int, cookie: str):
    """The page's websocket to ``/_stcore/stream`` (an async context manager), as a browser opens it."""
    from websockets.asyncio.client import connect

    return connect(
        f"ws://{host}:{port}/_stcore/stream",
        subprotocols=["streamlit"],
        origin=f"http://{host}:{port}",
        additional_headers={"Cookie": f"{COOKIE}={cookie}"},
        proxy=None,
        max_size=None,
        open_timeout=120,
        ping_interval=None,
    )


def page_error(msg) -> str | None:
    """What a ForwardMsg shows as an error on the page (an exception, an error box, a compilation error), if any."""
    kind = msg.WhichOneof("type")
    if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
        element = msg.delta.new_element
        which = element.WhichOneof("type")
        if which == "exception":
            return f"exception on the page: {element.exception.message[:200]}"
        if which == "alert" and element.alert.format == 1:  # st.error
            return f"error box: {element.alert.body[:200]}"
    elif kind == "session_event" and msg.session_event.WhichOneof("type") == "script_compilation_exception":
        return "script compilation exception"
    return None


# -- a light student: its page's websocket, its feed, and what its class component decides ------------


class LightStudent:
    """One follower's page on the wire (see the module's docstring)."""

    def __init__(self, index: int, host: str, port: int, code: str) -> None:
        self.index = index
        self.host, self.port = host, port
        self.cookie = secrets.token_hex(16)  # nginx's sticky cookie, as a browser holds one
        self.url = f"http://{host}:{port}/?class={code}"
        self.query_string = f"class={code}"
        self.page_script_hash = ""
        self.ws = None
        self.closed = False
        self.ws_backend: str | None = None  # the server nginx sent the websocket to (its header)
        self.feed_backend: str | None = None  # ... and the feed
        self.component_id: str | None = None
        self.args: dict | None = None  # the class_follow component's newest arguments
        self.feed_task: asyncio.Task | None = None
        self.feed_connected = False
        self.latest: dict | None = None  # the newest {version, view} the feed sent
        self.asked: int | None = None  # the version a rerun was last asked for
        self.feed_events: list[tuple[float, int, dict]] = []  # (time.time(), version, view)
        self.painted: list[tuple[float, int, str | None]] = []  # filter-only changes the chart paints
        self.rerun_requests: list[tuple[float, int]] = []  # (time, version): the page asked to rerun
        self.runs: list[dict] = []  # every run the server started for this page (new_session)
        self.page_infos: list[tuple[float, str]] = []
        self.errors: list[str] = []  # connection errors
        self.page_errors: list[str] = []  # exceptions or error boxes the page was sent
        self.messages = 0
        self.bytes = 0

    # - the websocket
    def _rerun(self, widget_value: dict | None = None) -> bytes:
        widgets = []
        if widget_value is not None and self.component_id:
            widgets.append((self.component_id, "json_value", json.dumps(widget_value)))
        return rerun_message(self.query_string, self.page_script_hash, self.url, widgets)

    async def _send(self, data: bytes) -> None:
        if self.ws is None or self.closed:
            return
        try:
            await self.ws.send(data)
        except Exception as error:  # noqa: BLE001 - the connection went away: recorded, the run carries on
            if not self.closed:
                self.errors.append(f"websocket send failed: {type(error).__name__}: {error}")

    def _handle(self, data: bytes, now: float) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        msg = ForwardMsg()
        msg.ParseFromString(data)
        self.messages += 1
        self.bytes += len(data)
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            self.page_script_hash = msg.new_session.page_script_hash or self.page_script_hash
            self.runs.append(
                {
                    "start": now,
                    "fragment": bool(msg.metadata.run.fragment_ids),
                    "end": None,
                    "status": None,
                    "query": None,
                    "query_at": None,
                }
            )
        elif kind == "page_info_changed":
            self.query_string = msg.page_info_changed.query_string
            self.page_infos.append((now, self.query_string))
            if self.runs:
                self.runs[-1].update(query=self.query_string, query_at=now)
        elif kind == "script_finished":
            if self.runs:
                self.runs[-1].update(status=int(msg.script_finished), end=now)
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            component = msg.delta.new_element.component_instance
            if msg.delta.new_element.WhichOneof("type") == "component_instance" and component.component_name.endswith(
                "class_follow"
            ):
                self.component_id = component.id
                self._render(json.loads(component.json_args or "{}"))
        if (error := page_error(msg)) is not None:
            self.page_errors.append(error)

    async def run(self, stop: asyncio.Event) -> None:
        try:
            async with open_stream(self.host, self.port, self.cookie) as ws:
                self.ws = ws
                self.ws_backend = ws.response.headers.get(BACKEND_HEADER)
                await self._send(self._rerun())  # the page opened at /?class=CODE
                reader = asyncio.ensure_future(self._read(ws))
                waiter = asyncio.ensure_future(stop.wait())
                await asyncio.wait({reader, waiter}, return_when=asyncio.FIRST_COMPLETED)
                self.closed = True
                for task in (reader, waiter):
                    task.cancel()
        except Exception as error:  # noqa: BLE001 - recorded and reported
            self.errors.append(f"websocket failed: {type(error).__name__}: {error}")
        finally:
            self.closed = True
            if self.feed_task is not None:
                self.feed_task.cancel()

    async def _read(self, ws) -> None:
        try:
            async for data in ws:
                self._handle(data, time.time())
        except Exception as error:  # noqa: BLE001
            if not self.closed:
                self.errors.append(f"websocket lost: {type(error).__name__}: {error}")
            return
        if not self.closed:
            self.errors.append("the server closed the websocket")

    # - the class component (components/class_follow): render, decide
    def _render(self, args: dict) -> None:
        self.args = args
        if args.get("role") == "student" and args.get("following") and self.feed_task is None:
            self.feed_task = asyncio.get_running_loop().create_task(self._feed(args["feed"]))
        if self.asked is not None and args.get("version", -1) >= self.asked:
            self.asked = None  # the rerun it asked for came
        self._decide()

    def _decide(self) -> None:
        args, latest = self.args, self.latest
        if not args or not latest or latest["version"] <= args.get("version", -1):
            return
        shown, view = args.get("view") or {}, latest["view"]
        changed = {name for name in set(shown) | set(view) if shown.get(name) != view.get(name)}
        on_journey = (shown.get("tab") or "journey") == "journey" and not shown.get("cell")
        if changed <= {"filter"} and on_journey:  # the chart paints it from the maps it holds
            if not self.painted or self.painted[-1][1] != latest["version"]:
                self.painted.append((time.time(), latest["version"], view.get("filter")))
                query = query_dict(self.query_string)
                query["filter"] = view.get("filter")
                self.query_string = urllib.parse.urlencode(query)  # the component's replaceState
            return
        if self.asked == latest["version"]:
            return
        self.asked = latest["version"]
        self.rerun_requests.append((time.time(), latest["version"]))
        asyncio.get_running_loop().create_task(
            self._send(self._rerun({"version": latest["version"], "n": int(time.time() * 1000)}))
        )

    # - the feed: server-sent events over a raw HTTP/1.1 GET
    async def _feed(self, path: str) -> None:
        while not self.closed:
            try:
                await self._follow_feed(path)
                if not self.closed:
                    self.errors.append("the feed closed")
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - recorded; the browser's EventSource would try again
                if not self.closed:
                    self.errors.append(f"feed failed: {type(error).__name__}: {error}")
            self.feed_connected = False
            await asyncio.sleep(1.0)  # the feed's retry

    async def _follow_feed(self, path: str) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port, limit=2**22)
        try:
            writer.write(
                (
                    f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAccept: text/event-stream\r\n"
                    f"Cache-Control: no-cache\r\nCookie: {COOKIE}={self.cookie}\r\n\r\n"
                ).encode()
            )
            await writer.drain()
            status = (await reader.readline()).decode(errors="replace").strip()
            headers = {}
            while True:
                line = (await reader.readline()).decode(errors="replace")
                if line in ("\r\n", "\n", ""):
                    break
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            self.feed_backend = headers.get(BACKEND_HEADER.lower(), self.feed_backend)
            if " 200 " not in f"{status} ":
                raise ConnectionError(f"the feed answered {status!r}")
            self.feed_connected = True
            chunked = "chunked" in headers.get("transfer-encoding", "").lower()
            buffer, event, data = "", None, []
            while True:
                if chunked:
                    size_line = await reader.readline()
                    if not size_line:
                        return
                    size = int(size_line.split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        return
                    chunk = (await reader.readexactly(size + 2))[:-2]  # the chunk and its CRLF
                else:
                    chunk = await reader.read(65536)
                    if not chunk:
                        return
                buffer += chunk.decode()
                *lines, buffer = buffer.split("\n")
                for line in lines:
                    line = line.rstrip("\r")
                    if line == "":  # an event ends
                        if event == "ended":
                            self.errors.append("the class ended")
                        elif data:
                            self._on_state(json.loads("\n".join(data)))
                        event, data = None, []
                    elif line.startswith(":"):
                        continue  # a comment: the feed's keep-alive
                    else:
                        field, _, value = line.partition(":")
                        value = value[1:] if value.startswith(" ") else value
                        if field == "event":
                            event = value
                        elif field == "data":
                            data.append(value)
        finally:
            writer.close()

    def _on_state(self, state: dict) -> None:
        self.feed_events.append((time.time(), int(state["version"]), state["view"]))
        if self.latest is None or state["version"] > self.latest["version"]:
            self.latest = state
        self._decide()

    # - what the benchmark reads
    def ready(self) -> bool:
        """Its page drawn once, its feed open, the page showing the class's newest version."""
        first = next((run for run in self.runs if not run["fragment"] and run["status"] == FINISHED), None)
        return (
            first is not None
            and self.feed_connected
            and self.latest is not None
            and self.args is not None
            and self.args.get("version", -1) >= self.latest["version"]
        )

    def filter_at(self, since: float, value: int) -> float | None:
        """When its feed first delivered a view with ``filter`` = ``value`` after ``since``."""
        return next((t for t, _, view in self.feed_events if t >= since and view.get("filter") == str(value)), None)

    def page_shows(self, since: float, images: str) -> tuple[float, float] | None:
        """(new address, run finished) of its first run after ``since`` whose address holds ``images``."""
        for run in self.runs:
            if (
                run["start"] >= since
                and run["query"]
                and query_dict(run["query"]).get("images") == images
                and run["status"] == FINISHED
            ):
                return run["query_at"], run["end"]
        return None
