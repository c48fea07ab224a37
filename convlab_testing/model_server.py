"""A small server for the browser model's tests and benchmark, without Streamlit's own server.

It serves what a page needs to run a model with TensorFlow.js, as the app does: the real model route
(``ui.modelroute.ROUTES``, so the models ``ui.modelroute.MODELS`` holds), ``vendor/`` and
``components/`` as static files, gzip-compressed when asked, as Streamlit's server compresses them.
Besides: ``/files/<name>``, bytes a page fetches (``GET``, from ``files``) or hands over (``POST``,
into ``files``), since big inputs and results go faster as bytes than as JSON through Playwright;
and any ``extra`` routes (a tampered file). uvicorn runs it in a thread of this process on a free
loopback port.
"""

from __future__ import annotations

import contextlib
import threading
import time

from starlette.applications import Starlette
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from convlab_testing.live_app import REPO, free_port


class ModelServer:
    """The server's address (``url``), the bytes of ``/files/`` (``files``) and the requests it saw (``seen``)."""

    def __init__(self, url: str):
        self.url = url
        self.files: dict[str, bytes] = {}
        self.seen: list[str] = []
        # A page at this address: model.js served beside it, as a component's files are.
        self.page = f"{url}/components/browser_model/index.html"

    def urls(self, checksum: str, weights: str | None = None) -> dict:
        """What ``loadModel`` takes for the model named ``checksum`` (``weights``: another path for its .bin),
        relative to ``page`` as ``ui.modelroute.model_urls``'s are to a component's page."""
        return {
            "checksum": checksum,
            "topology": f"../../convlab/model/{checksum}.json",
            "weights": f"../..{weights or f'/convlab/model/{checksum}.bin'}",
            "tfjs": "../../vendor/tfjs/tf.es2017.min.js",
            "wasm": "../../vendor/tfjs-backend-wasm/",
        }


@contextlib.contextmanager
def model_server(extra: list | None = None):
    """A :class:`ModelServer`, running until the block ends."""
    import uvicorn

    from ui.modelroute import ROUTES

    port = free_port()
    server_state = ModelServer(f"http://127.0.0.1:{port}")

    async def files(request: Request) -> Response:
        name = request.path_params["name"]
        if request.method == "POST":
            server_state.files[name] = await request.body()
            return Response(status_code=204)
        if name not in server_state.files:
            return Response(status_code=404)
        return Response(server_state.files[name], media_type="application/octet-stream")

    app = Starlette(
        routes=[
            *ROUTES,
            Route("/files/{name}", files, methods=["GET", "POST"]),
            *(extra or []),
            # gzip as Streamlit's server sends these files; not /files/, whose floats compress slowly and little
            Mount("/vendor", GZipMiddleware(StaticFiles(directory=REPO / "vendor"), minimum_size=500)),
            Mount("/components", GZipMiddleware(StaticFiles(directory=REPO / "components"), minimum_size=500)),
        ]
    )

    async def log_requests(scope, receive, send):
        if scope["type"] == "http":
            server_state.seen.append(scope["path"])
        await app(scope, receive, send)

    server = uvicorn.Server(
        uvicorn.Config(log_requests, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, name="model-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the model server on port {port} didn't start")
        time.sleep(0.02)
    try:
        yield server_state
    finally:
        server.should_exit = server.force_exit = True  # a browser's idle keep-alive connections don't hold it up
        thread.join(timeout=10)
