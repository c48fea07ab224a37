"""The browser model's route beside Streamlit's (app.py's ``st.App``), and the URLs a page loads it from.

The page's model runs in the browser (``components/browser_model/model.js``, TensorFlow.js); its files
come from ``convlab.browsermodel`` and are served here, named by the sha256 of the weights:

* ``GET /convlab/model/<checksum>.json``: the topology and weight manifest;
* ``GET /convlab/model/<checksum>.bin``: the float32 weights.

Each is gzip-compressed (once, kept) when the browser accepts it, and cached by the browser for good
(``immutable``: a name is its content). A checksum this server hasn't exported is looked for among the
store's runs (the lesson's models, the lab's) before a 404. :func:`model_urls` gives a component's page
every URL it needs (the model's files; tfjs, its WASM files and ``model.js`` from ``ui.assets``' route).
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from convlab.browsermodel import BrowserModel, BrowserModels, export, is_checksum
from convlab.models import ModelSpec
from convlab.store import StoredModel

from . import assets

MODEL_PATH = "/convlab/model/{name}"
CACHE_FOREVER = "public, max-age=31536000, immutable"  # the name is the content's sha256: it never changes
MEDIA_TYPES = {"json": "application/json", "bin": "application/octet-stream"}
FROM_COMPONENT = "../.."  # from /component/<name>/index.html to the server's root, under any base path


def _export(stored: StoredModel) -> BrowserModel:
    with stored.lock:  # Keras models aren't thread-safe; the page's sessions share this one
        return export(stored.model, stored.spec)


def _source(stored: StoredModel) -> str:
    """What names a stored model's weights: its spec and its file's checksum (an unsaved one: the object)."""
    return f"{stored.spec.key()}:{stored.meta.get('model_sha256') or id(stored.model)}"


def _store_sources():
    """Every run of the page's store, for a checksum no page of this server asked for yet."""
    from ui.resources import get_store  # the page's store: models loaded once per server

    store = get_store()
    for meta in store.list_metadata():
        spec = ModelSpec.from_dict(meta["spec"])
        if meta.get("model_sha256"):
            source = f"{spec.key()}:{meta['model_sha256']}"  # as _source names it, without loading the model
        else:  # a run kept in memory only (a read-only folder): held already, so loading costs nothing
            stored = store.load(spec)
            if stored is None:
                continue
            source = _source(stored)

        def make(spec=spec) -> BrowserModel:
            stored = store.load(spec)
            if stored is None:
                raise ValueError(f"The {spec.kind} model {spec.key()} is no longer stored.")
            return _export(stored)

        yield source, make


MODELS = BrowserModels(_store_sources)  # one per server process, shared by the page's scripts and the route


def model_path(checksum: str, suffix: str) -> str:
    return MODEL_PATH.format(name=f"{checksum}.{suffix}")


def model_urls(stored: StoredModel) -> dict:
    """Where a component's page finds ``stored``'s browser model: what ``model.js``'s ``loadModel(urls)`` takes
    ({checksum, topology, weights, tfjs, wasm}) and ``module``, model.js itself (those three from
    ``ui.assets``' route, which the browser keeps). The URLs are relative to a component's page
    (``/component/<name>/index.html``), so they hold under any base path. ValueError for a model the
    browser can't rebuild."""
    exported = MODELS.add(_source(stored), lambda: _export(stored))
    files = f"{assets.FROM_PAGE}/{assets.version()}"
    return {
        "checksum": exported.checksum,
        "topology": FROM_COMPONENT + model_path(exported.checksum, "json"),
        "weights": FROM_COMPONENT + model_path(exported.checksum, "bin"),
        "tfjs": f"{files}/vendor/tfjs/tf.es2017.min.js",
        "wasm": f"{files}/vendor/tfjs-backend-wasm/",
        "module": f"{files}/browser_model/model.js",
    }


def _accepts_gzip(request: Request) -> bool:
    for part in request.headers.get("accept-encoding", "").split(","):
        coding, *parameters = [piece.strip() for piece in part.split(";")]
        if coding in ("gzip", "*") and "q=0" not in parameters:
            return True
    return False


async def model_file(request: Request) -> Response:
    """A browser model's topology (``.json``) or weights (``.bin``), by the weights' checksum."""
    checksum, _, suffix = request.path_params["name"].partition(".")
    if suffix not in MEDIA_TYPES or not is_checksum(checksum):
        return PlainTextResponse(
            "No such browser model file: its name is the sha256 of the model's weights (64 hex digits), "
            "then .json or .bin.",
            status_code=404,
        )
    found = await asyncio.to_thread(MODELS.find, checksum)  # may load and export a stored model: seconds
    if found is None:
        return PlainTextResponse(
            f"No model with weights of checksum {checksum} on this server: it was deleted or retrained, "
            "or it lives on another server. Reload the page for the model it shows now.",
            status_code=404,
        )
    gzipped = _accepts_gzip(request)
    headers = {"Cache-Control": CACHE_FOREVER, "Vary": "Accept-Encoding", "ETag": f'"{checksum}.{suffix}"'}
    if gzipped:
        headers["Content-Encoding"] = "gzip"  # Streamlit's gzip middleware leaves an encoded response alone
    return Response(found.file(suffix, gzipped), media_type=MEDIA_TYPES[suffix], headers=headers)


ROUTES = [Route(MODEL_PATH, model_file, methods=["GET"])]
