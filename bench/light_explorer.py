"""A light explorer: one student's own page exploring the journey, on the wire, without a browser (``bench/soak.py``).

What a Chromium explorer's page is to the server, so the soak measures the server and not Chromium
waiting for the machine's cores (in a classroom each browser runs on its own device):

* one websocket to ``/_stcore/stream``, opened as a light student's (``light_client.open_stream``),
  with the page at ``/?images=A,B,C&filter=F``: a ``rerun_script`` with that query string and a
  ContextInfo (``light_client.rerun_message``);
* the page's widgets, learned from each run's elements: Streamlit's element ids embed the user key
  (``$$ID-<hash>-<key>``), so ``image_1`` is image 2's box and ``filter_box`` the filter box. Like
  the browser, it keeps the newest value of every widget the page has drawn (number boxes, check
  boxes, radios, select boxes, text boxes: the value the server set, else the one it holds, else the
  default) and sends them all in each ``rerun_script``; a run finished drops the widgets it no longer
  drew (a fragment's run: those of that fragment). Buttons' triggers and the components' values
  (the chart's room) are never sent: nothing here clicks or measures a chart;
* a move of a box is what the browser sends for it: the widget's new value, with the fragment id
  its element came in (the journey is a fragment, so only the fragment reruns); a view of the top
  bar is a ``rerun_script`` with that page's ``page_script_hash`` (from the ``navigation`` message)
  and the address cleared, as Streamlit's page change does.

Each of these returns when the server's run of it has finished (``script_finished``, successfully,
for the whole page or the fragment; an app's own ``st.rerun`` in between is waited through) and
with what that run drew, so the caller times the server's share of the wait and checks the page.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time

from light_client import open_stream, page_error, query_dict, rerun_message

FINISHED, FRAGMENT_FINISHED, EARLY_FOR_RERUN = 0, 3, 2  # ForwardMsg.ScriptFinishedStatus
WIDGET_FIELDS = {  # element type -> the WidgetState field its value goes back in (Streamlit's register_widget)
    "number_input": "double_value",
    "checkbox": "bool_value",
    "text_input": "string_value",
    "radio": "string_value",
    "selectbox": "string_value",
}
JOURNEY_CHART = "journey_chart"
BOXES = ("image_0", "image_1", "image_2", "filter_box")
CHART_IMAGE = re.compile(r"^image (\d+) ")  # the chart's describe names each row "image 23 (Ankle boot)"


def _has(message, field: str) -> bool:
    try:
        return message.HasField(field)
    except ValueError:  # not an optional field: always there
        return True


def drawn_value(which: str, widget):
    """The value a page holds for a widget the server just drew, None if the element says nothing of it."""
    if which in ("radio", "selectbox"):
        if widget.set_value:
            return widget.raw_value
        if _has(widget, "default") and 0 <= widget.default < len(widget.options):
            return widget.options[widget.default]
        return None
    if widget.set_value:
        return widget.value
    return widget.default if _has(widget, "default") else None


def user_key(element_id: str) -> str | None:
    """The user key an element id embeds (``$$ID-<hash>-<key>``), None for an element without one."""
    parts = element_id.split("-", 2)
    return parts[2] if len(parts) == 3 and parts[0] == "$$ID" else None


class LightExplorer:
    """One explorer's page on the wire (see the module's docstring)."""

    def __init__(self, host: str, port: int, images: list[int], filter_index: int) -> None:
        self.host, self.port = host, port
        self.cookie = secrets.token_hex(16)
        self.query_string = f"images={','.join(map(str, images))}&filter={filter_index}"
        self.page_script_hash = ""
        self.pages: dict[str, str] = {}  # url path ("" for the default page) -> page_script_hash
        self.widgets: dict[str, list] = {}  # widget id -> [WidgetState field, value, fragment id]
        self.ids: dict[str, str] = {}  # user key -> the newest element id with it
        self.run: dict | None = None  # the run being drawn
        self.sent_at = 0.0
        self.done: asyncio.Future | None = None
        self.ws = None
        self.reader: asyncio.Task | None = None

    # - the connection
    async def open(self, images: list[int], filter_index: int, timeout: float) -> tuple[float, dict]:
        """A new page at its own address (a first visit, or after a lost connection); until the journey is drawn."""
        await self.close()
        self.query_string = f"images={','.join(map(str, images))}&filter={filter_index}"
        self.page_script_hash, self.widgets, self.ids, self.run = "", {}, {}, None
        self.ws = await asyncio.wait_for(open_stream(self.host, self.port, self.cookie), timeout)
        self.reader = asyncio.ensure_future(self._read(self.ws))
        deadline = time.time() + timeout
        while True:  # a journey drawn before the model has loaded has no maps: the page asks again
            ms, run = await self.rerun(timeout=max(1.0, deadline - time.time()))
            if run["chart"] is not None or time.time() >= deadline:
                return ms, run
            await asyncio.sleep(1.0)

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            self.reader = None
        if self.ws is not None:
            ws, self.ws = self.ws, None
            await asyncio.wait_for(ws.close(), 10)

    async def _read(self, ws) -> None:
        reason = "the server closed the websocket"
        try:
            async for data in ws:
                self._handle(data, time.time())
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - handed to the action waiting
            reason = f"websocket lost: {type(error).__name__}: {error}"
        if self.done is not None and not self.done.done():
            self.done.set_exception(ConnectionError(reason))

    def _handle(self, data: bytes, now: float) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        msg = ForwardMsg()
        msg.ParseFromString(data)
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            self.page_script_hash = msg.new_session.page_script_hash or self.page_script_hash
            self.run = {
                "start": now,
                "page": msg.new_session.page_script_hash,
                "keys": set(),
                "drawn": set(),
                "fragments": set(),
                "chart": None,
                "errors": [],
            }
        elif kind == "navigation":
            for page in msg.navigation.app_pages:
                self.pages[page.url_pathname.strip("/").lower()] = page.page_script_hash
                if page.is_default:
                    self.pages[""] = page.page_script_hash
        elif kind == "page_info_changed":
            self.query_string = msg.page_info_changed.query_string
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element" and self.run is not None:
            self._element(msg.delta.new_element, msg.delta.fragment_id)
        elif kind == "script_finished" and self.run is not None:
            self._finished(int(msg.script_finished), now)
        if (error := page_error(msg)) is not None and self.run is not None:
            self.run["errors"].append(error)

    def _element(self, element, fragment_id: str) -> None:
        which = element.WhichOneof("type")
        inner = getattr(element, which)
        element_id = getattr(inner, "id", "")
        if not element_id or not isinstance(element_id, str):
            return
        key = user_key(element_id)
        if key:
            self.ids[key] = element_id
            self.run["keys"].add(key)
        if fragment_id:
            self.run["fragments"].add(fragment_id)
        if which in WIDGET_FIELDS:
            self.run["drawn"].add(element_id)
            value = drawn_value(which, inner)
            held = self.widgets.get(element_id)
            if value is not None and (held is None or inner.set_value):
                self.widgets[element_id] = [WIDGET_FIELDS[which], value, fragment_id]
            elif held is not None:
                held[2] = fragment_id
        elif which == "bidi_component" and key == JOURNEY_CHART:  # the chart (st.components.v2): {module, key, args}
            data = json.loads(inner.json or inner.mixed.json or "{}")
            self.run["chart"] = (data.get("args") or {}).get("describe") or None

    def _finished(self, status: int, now: float) -> None:
        run = self.run
        run.update(status=status, end=now)
        if status == EARLY_FOR_RERUN:
            return  # the app reran itself: the next run is the one that answers
        if status == FINISHED:  # the browser forgets the widgets a whole run no longer drew
            self.widgets = {i: w for i, w in self.widgets.items() if i in run["drawn"]}
        elif status == FRAGMENT_FINISHED:
            self.widgets = {i: w for i, w in self.widgets.items() if i in run["drawn"] or w[2] not in run["fragments"]}
        if self.done is not None and not self.done.done() and run["start"] >= self.sent_at:
            self.done.set_result(run)

    # - what a person does
    async def rerun(self, *, page: str | None = None, query: str | None = None, fragment_id: str = "", timeout: float):
        """Send the page's rerun (every widget's value); (ms from the send to its run finished, that run)."""
        if self.ws is None:
            raise ConnectionError("no websocket")
        path = "" if page is None else next((p for p, h in self.pages.items() if h == page), "")
        query = self.query_string if query is None else query
        url = f"http://{self.host}:{self.port}/{path}" + (f"?{query}" if query else "")
        widgets = [(widget_id, field, value) for widget_id, (field, value, _) in self.widgets.items()]
        message = rerun_message(query, page or self.page_script_hash, url, widgets, fragment_id)
        self.done = asyncio.get_running_loop().create_future()
        self.sent_at = time.time()
        await self.ws.send(message)
        run = await asyncio.wait_for(self.done, timeout)
        return (run["end"] - self.sent_at) * 1000, run

    async def set_box(self, key: str, value: float, timeout: float) -> tuple[float, dict]:
        """Type ``value`` into number box ``key``: its new value, rerunning the fragment it is in."""
        widget_id = self.ids[key]
        self.widgets[widget_id][1] = float(value)
        return await self.rerun(fragment_id=self.widgets[widget_id][2], timeout=timeout)

    async def open_view(self, path: str, timeout: float) -> tuple[float, dict]:
        """Open the page at ``path`` ("" the default, the journey) from the top bar: the address is cleared."""
        return await self.rerun(page=self.pages[path], query="", timeout=timeout)

    # - what the page shows
    def view_problems(self, run: dict, path: str, key: str) -> list[str]:
        """What is wrong with ``run`` as the view at ``path`` with an element keyed ``key``."""
        problems = list(run["errors"])
        if run["page"] != self.pages.get(path):
            problems.append(f"the run drew page {run['page']!r}, not {path or 'the default'!r}")
        if key not in run["keys"]:
            problems.append(f"the run drew no {key!r}")
        return problems

    def journey_problems(self, run: dict, expected: dict) -> list[str]:
        """What, if anything, the journey's ``run`` and the page hold that is not ``expected``'s images and filter."""
        problems = list(run["errors"])
        chart = run["chart"]
        if chart is None:
            problems.append("the run drew no journey chart with maps")
        else:
            images = [int(m.group(1)) if (m := CHART_IMAGE.match(name)) else None for name in chart.get("images", [])]
            if images != expected["images"] or chart.get("filter") != expected["filter"]:
                problems.append(
                    f"the chart shows images {images} filter {chart.get('filter')}, "
                    f"expected {expected['images']} filter {expected['filter']}"
                )
        held = {key: self.widgets.get(self.ids.get(key, ""), [None, None])[1] for key in BOXES}
        if [held[f"image_{s}"] for s in range(3)] != expected["images"] or held["filter_box"] != expected["filter"]:
            problems.append(f"the boxes hold {held}, expected images {expected['images']} filter {expected['filter']}")
        params = query_dict(self.query_string)
        wanted = {"images": ",".join(map(str, expected["images"])), "filter": str(expected["filter"])}
        if {k: params.get(k) for k in wanted} != wanted:
            problems.append(f"the address has {params}, expected {wanted}")
        return problems
