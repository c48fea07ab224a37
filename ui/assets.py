"""The browser's files, served so that a page loads each once: the chart's modules, plotly.js and the maps.

Streamlit serves a component's files with ``Cache-Control: public`` and no validator, so every
component frame fetched its files again: on each view opened, for each frame. Here they are served
under a version named by the files themselves, with ``immutable``: a browser keeps them and runs
plotly.js and TensorFlow.js from its compiled-code cache.

* ``GET /convlab/assets/<version>/<root>/<file>``: a file of a component's folder (``components/<root>``:
  the chart, the drawing pad, the browser model) or of ``vendor`` (root ``vendor``); cached for good when
  ``<version>`` is today's, else served fresh (a page from before a change). Only these folders, only
  files, never outside them.
* ``GET /convlab/maps/<name>``: the journey's packed maps (``ui.charts.publish``), named by their hash.

A v1 component's page (the drawing pad's ``index.html``) is Streamlit's; :func:`component_page_dir` writes
it with its module links pointing here, at today's version, relative to the page so any base path works.
The chart (``components/plotly_react``, a v2 component in the page's own DOM) imports its modules from
:func:`asset_url`, an address under the server's base path.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

REPO = Path(__file__).resolve().parent.parent
# A component's page (its index.html, written by component_page_dir) links its modules from here.
PAGES = ("drawpad",)
ROOTS = {
    **{name: REPO / "components" / name for name in PAGES},
    "plotly_react": REPO / "components" / "plotly_react",  # the chart's modules, imported in the page (ui/charts.py)
    "browser_model": REPO / "components" / "browser_model",  # model.js: the page's model in the browser
    "vendor": REPO / "vendor",
}
ASSET_PATH = "/convlab/assets/{version}/{root}/{path:path}"
MAPS_PATH = "/convlab/maps/{name}"
MAPS_DIR = Path(tempfile.mkdtemp(prefix="convlab-maps-"))  # ui.charts.publish writes here
CACHE_FOREVER = "public, max-age=31536000, immutable"  # the URL names the content
MEDIA_TYPES = {
    ".js": "text/javascript",  # module scripts must come as JavaScript
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".css": "text/css",
    ".html": "text/html",
    ".txt": "text/plain",
    ".md": "text/plain",
    ".bin": "application/octet-stream",
}
FROM_PAGE = "../../convlab/assets"  # from /component/<name>/index.html to the assets, under any base path

_page_lock = threading.Lock()
_page_dirs = {name: Path(tempfile.mkdtemp(prefix=f"convlab-{name}-")) for name in PAGES}


def version() -> str:
    """The served files' version: a hash of their names, sizes and modification times (cheap to
    recompute on each run, and new as soon as a file is edited)."""
    digest = hashlib.sha256()
    for name, root in sorted(ROOTS.items()):
        for path in sorted(root.rglob("*")):
            if path.is_file():
                stat = path.stat()
                digest.update(f"{name}/{path.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()[:16]


def component_page_dir(name: str) -> Path:
    """A folder holding component ``name``'s ``index.html`` with its modules loaded from the assets' route at
    today's version (written again when the files change); Streamlit serves it as the component."""
    if name not in PAGES:
        raise ValueError(f"no component page {name!r}; the pages are {', '.join(PAGES)}")
    current = version()
    folder = _page_dirs[name]
    page, stamp = folder / "index.html", folder / "version"
    with _page_lock:
        if not page.exists() or not stamp.exists() or stamp.read_text() != current:
            html = (ROOTS[name] / "index.html").read_text(encoding="utf-8")
            base = f"{FROM_PAGE}/{current}/{name}/"
            html = re.sub(r'(src|href)="([A-Za-z_]+\.js)"', lambda m: f'{m[1]}="{base}{m[2]}"', html)
            _write(page, html.encode("utf-8"))
            _write(stamp, current.encode())
    return folder


def asset_url(root: str, path: str, base_path: str = "") -> str:
    """The address of a file of ``ROOTS[root]`` at today's version, under the server's base path
    (``server.baseUrlPath``), from the server's root: for a module imported in the page itself."""
    base = "/".join(part for part in base_path.split("/") if part)
    return f"{'/' + base if base else ''}/convlab/assets/{version()}/{root}/{path}"


def _write(path: Path, data: bytes) -> None:
    temporary = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)  # complete or absent: a browser never reads half a file


def _file_within(root: Path, relative: str) -> Path | None:
    """``root / relative`` when it is a file inside ``root`` (no ``..``, no link out), else None."""
    if not relative or "\\" in relative or relative.startswith("/"):
        return None
    path = (root / relative).resolve()
    try:
        path.relative_to(root.resolve())
    except ValueError:
        return None
    return path if path.is_file() else None


async def asset(request: Request) -> Response:
    root = ROOTS.get(request.path_params["root"])
    path = _file_within(root, request.path_params["path"]) if root is not None else None
    if path is None or path.suffix not in MEDIA_TYPES and path.name not in ("LICENSE",):
        return PlainTextResponse("No such file among ConvLab's browser files.", status_code=404)
    fresh = request.path_params["version"] == version()
    return Response(
        path.read_bytes(),
        media_type=MEDIA_TYPES.get(path.suffix, "text/plain"),
        headers={"Cache-Control": CACHE_FOREVER if fresh else "no-cache"},
    )


async def maps(request: Request) -> Response:
    name = request.path_params["name"]
    if not re.fullmatch(r"[0-9a-f]{24}\.bin", name) or not (MAPS_DIR / name).is_file():
        return PlainTextResponse(
            "These maps are no longer kept on the server: reload the page to draw them again.", status_code=404
        )
    return Response(
        (MAPS_DIR / name).read_bytes(), media_type=MEDIA_TYPES[".bin"], headers={"Cache-Control": CACHE_FOREVER}
    )


ROUTES = [Route(ASSET_PATH, asset, methods=["GET"]), Route(MAPS_PATH, maps, methods=["GET"])]
