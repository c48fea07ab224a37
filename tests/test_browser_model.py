"""The page's model in the browser (issue 23): TensorFlow.js against Keras, in Chromium.

``components/browser_model/model.js`` rebuilds a model from ``convlab.browsermodel``'s export; its
maps (every conv and pool layer, each scaled 0–1 by the Keras map's maximum, or by 1 % of its layer's
largest value for that image when the map's is smaller: see ``scaled``) and probabilities must equal
Keras' (``convlab.activations``) within 1e-4 for 100 Fashion-MNIST test images and a drawn stroke, on
both backends, for the shipped lesson models and 1- and 3-block variants with seeded random weights.
Weights that fail their checksum or hold NaN are refused; the app's route serves the
files with their cache header, gzip-compressed when asked, and 404s a checksum it doesn't know.

One page serves every model (``convlab_testing.model_server``: the real route, the vendored files);
the images and Keras' outputs reach it as float32 files, and it says how far from them it is.
"""

from __future__ import annotations

import gzip
import hashlib
import urllib.error
import urllib.request

import numpy as np
import pytest
from starlette.responses import Response
from starlette.routing import Route

from convlab.activations import Inspector
from convlab.browsermodel import BrowserModels, export, topology
from convlab.models import PRESETS, ModelSpec, build
from convlab_testing.model_server import model_server

TOLERANCE = 1e-4
DEAD_MAP = 0.01  # a map whose maximum is under 1 % of its layer's (that image's) is scaled as if it were 1 %
BACKENDS = ("wasm", "cpu")
# Lab variants: one block with a 5x5 kernel and 3x3 pooling, and the most blocks a 28x28 image takes.
VARIANTS = {
    "one-block": ModelSpec(conv_filters=(24,), kernel_size=5, pool_size=3, dense_units=48, seed=11),
    "three-blocks": ModelSpec(conv_filters=(16, 32, 64), dense_units=64, seed=12),
}

# In the page: the images, Keras' outputs (each map divided by its scale, see ``scales``) and the scales
# come as float32 files (a 25 MB upload from Chromium takes seconds, a download a fraction of one); the
# model's journey of every image in one call, each number divided by its map's scale, and per output the
# largest difference from Keras' and where it is (NaN counts as the largest).
JOURNEY_JS = """async ([urls, backend]) => {
  const get = async (name) => new Float32Array(await (await fetch("/files/" + name)).arrayBuffer());
  const [pixels, expected, scales] = await Promise.all([get("images"), get("expected"), get("scales")]);
  const model = await window.convlabModel.loadModel(urls, {backend});
  const {maps, probabilities} = model.journey(pixels);
  model.dispose();
  const outputs = [...maps, {layer: "probabilities", shape: [probabilities.length / 10, 10], data: probabilities}];
  let at = 0, scaleAt = 0;
  const compared = outputs.map(({layer, shape, data}) => {
    const channels = shape[shape.length - 1], perImage = data.length / shape[0];
    let worst = 0, where = -1;
    for (let i = 0; i < data.length; i++) {
      const scale = scales[scaleAt + Math.floor(i / perImage) * channels + (i % channels)];
      const difference = Math.abs(data[i] / scale - expected[at + i]);
      if (!(difference <= worst)) [worst, where] = [difference, i];
    }
    at += data.length;
    scaleAt += shape[0] * channels;
    return {layer, shape, worst, where};
  });
  return {backend: model.backend, compared};
}"""
LOAD_ERROR_JS = """async (urls) => {
  try { (await window.convlabModel.loadModel(urls, {backend: "cpu"})).dispose(); return null; }
  catch (error) { return {name: error.name, message: error.message}; }
}"""


def stroke_image() -> np.ndarray:
    """A drawn stroke: a thick anti-aliased diagonal and an arc, as a pen on the pad would leave them."""
    rows, cols = np.mgrid[0:28, 0:28].astype(np.float32)
    line = np.clip(2.2 - np.abs(rows - cols * 0.8 - 3) / 1.2, 0, 1)
    arc = np.clip(1.8 - np.abs(np.hypot(rows - 17, cols - 9) - 6), 0, 1) * (cols < 12)
    return np.maximum(line, arc)[..., np.newaxis]


def random_model(spec: ModelSpec):
    """``build(spec)`` with seeded random weights, biases too (Keras starts them at 0, which would hide their order)."""
    import keras

    keras.utils.set_random_seed(spec.seed)
    model = build(spec)
    rng = np.random.default_rng(spec.seed)
    for layer in model.layers:
        if layer.weights:
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, rng.normal(0, 0.05, bias.shape).astype(np.float32)])
    return model


@pytest.fixture(scope="module")
def models():
    """name -> (Keras model, spec): the shipped lesson models and the random variants."""
    from convlab.store import DEFAULT_ROOT, ModelStore

    store = ModelStore(DEFAULT_ROOT)
    found = {f"{name}-lesson": (store.load(spec).model, spec) for name, spec in PRESETS.items()}
    return found | {name: (random_model(spec), spec) for name, spec in VARIANTS.items()}


@pytest.fixture(scope="module")
def images(test_split) -> np.ndarray:
    return np.concatenate([test_split.images[:100], stroke_image()[np.newaxis]]).astype(np.float32)


# A weights file damaged on the way: always (/tampered/), or only the first time it is asked for (/flaky/).
FLAKY_ASKED: set[str] = set()


def _damaged(found) -> bytes:
    damaged = bytearray(found.weights)
    damaged[len(damaged) // 2] ^= 0x40
    return bytes(damaged)


async def _tampered(request):
    from ui.modelroute import MODELS

    found = MODELS.find(request.path_params["checksum"])
    return Response(_damaged(found), media_type="application/octet-stream")


async def _flaky(request):
    from ui.modelroute import MODELS

    checksum = request.path_params["checksum"]
    found = MODELS.find(checksum)
    first = checksum not in FLAKY_ASKED
    FLAKY_ASKED.add(checksum)
    return Response(_damaged(found) if first else found.weights, media_type="application/octet-stream")


@pytest.fixture(scope="module")
def server():
    extra = [Route("/tampered/{checksum}.bin", _tampered), Route("/flaky/{checksum}.bin", _flaky)]
    with model_server(extra) as running:
        yield running


@pytest.fixture(scope="module")
def page(browser, server):
    from browser_support import require_browser

    require_browser(browser)
    context = browser.new_context()
    context.set_default_timeout(60_000)
    opened = context.new_page()
    opened.goto(server.page)
    opened.wait_for_function("() => window.convlabModel")
    yield opened
    context.close()


def serve(model, spec: ModelSpec, source: str):
    """``model`` exported and held by the route's models, as a page's ``model_urls`` would."""
    from ui.modelroute import MODELS

    return MODELS.add(source, lambda: export(model, spec))


def scales(reference: np.ndarray) -> np.ndarray:
    """Per image and filter, what its maps are divided by: the Keras map's maximum, at least ``DEAD_MAP`` of
    the largest value of that image's layer (1 for an all-zero map), as an (images, filters) array.

    Why the floor: float32 sums in another order (tfjs' kernels, XNNPACK's, oneDNN's) differ by about
    1e-7 of a layer's values; a map that is all but dead (maximum 1e-5 of its layer's) would magnify
    that 10^4 times and fail 1e-4 with no mistake made. Every other map is scaled by its own maximum.
    """
    maxima = reference.max(axis=(1, 2))
    scale = np.maximum(maxima, DEAD_MAP * reference.max(axis=(1, 2, 3))[:, np.newaxis])
    return np.where(scale > 0, scale, 1).astype(np.float32)


@pytest.mark.parametrize("name", ["dense-lesson", "conv-lesson", "one-block", "three-blocks"])
def test_the_browser_journey_equals_keras(name, models, images, server, page):
    model, spec = models[name]
    expected = Inspector(model).run(images)
    assert list(expected.layer_names) == [layer for layer, _, _ in spec.feature_layers()]
    divisors = [scales(maps) for maps in expected.maps] + [np.ones_like(expected.probabilities)]
    outputs = [*expected.maps, expected.probabilities]
    server.files["images"] = images.astype("<f4").tobytes()
    server.files["scales"] = b"".join(d.astype("<f4").tobytes() for d in divisors)
    server.files["expected"] = b"".join(
        (output / divisor[:, np.newaxis, np.newaxis, :] if output.ndim == 4 else output).astype("<f4").tobytes()
        for output, divisor in zip(outputs, divisors)
    )
    exported = serve(model, spec, f"test:{name}")
    for backend in BACKENDS:
        result = page.evaluate(JOURNEY_JS, [server.urls(exported.checksum), backend])
        assert result["backend"] == backend
        compared = result["compared"]
        assert [c["layer"] for c in compared] == [*expected.layer_names, "probabilities"]
        for found, output in zip(compared, outputs):
            assert tuple(found["shape"]) == output.shape, (backend, found)
            where = np.unravel_index(found["where"], output.shape) if found["where"] >= 0 else None
            assert found["worst"] <= TOLERANCE, (
                f"{name} on {backend}: {found['layer']} differs from Keras' by {found['worst']:.2e} (scaled) at {where}"
            )


def test_weights_that_fail_their_checksum_are_fetched_again_then_refused(models, server, page):
    exported = serve(*models["one-block"], "test:one-block")
    checksum = exported.checksum
    server.seen.clear()
    error = page.evaluate(LOAD_ERROR_JS, server.urls(checksum, weights=f"/tampered/{checksum}.bin"))
    assert error and error["name"] == "BrowserModelError", error
    assert "failed their checksum twice" in error["message"], error
    assert server.seen.count(f"/tampered/{checksum}.bin") == 2  # the first copy, and one more past the cache
    # Damaged once, whole the second time: the model loads.
    assert page.evaluate(LOAD_ERROR_JS, server.urls(checksum, weights=f"/flaky/{checksum}.bin")) is None
    assert server.seen.count(f"/flaky/{checksum}.bin") == 2


def test_the_checksum_without_crypto_subtle_is_sha256(models, server, page):
    # A classroom's http://<address>:8501 is no secure context: no crypto.subtle, model.js hashes itself.
    exported = serve(*models["conv-lesson"], "test:conv-lesson")
    found = page.evaluate(
        """async (url) => {
          const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
          const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
          const {sha256Plain} = window.convlabModel;
          return [hex(sha256Plain(bytes)), hex(sha256Plain(new Uint8Array(0))), hex(sha256Plain(bytes.slice(0, 55))),
                  hex(sha256Plain(bytes.slice(0, 64)))];
        }""",
        server.urls(exported.checksum)["weights"],
    )
    weights = exported.weights
    assert found == [hashlib.sha256(data).hexdigest() for data in (weights, b"", weights[:55], weights[:64])]


def test_nan_weights_are_refused_saying_so(server, page):
    spec = VARIANTS["one-block"]
    model = random_model(spec)
    kernel, bias = model.get_layer("hidden").get_weights()
    kernel[3, 5] = np.nan
    model.get_layer("hidden").set_weights([kernel, bias])
    exported = serve(model, spec, "test:nan")
    error = page.evaluate(LOAD_ERROR_JS, server.urls(exported.checksum))
    assert error and error["name"] == "BrowserModelError", error
    assert "contain NaN (in hidden/kernel)" in error["message"], error


def test_without_webassembly_the_cpu_backend_runs_it(models, server, page):
    exported = serve(*models["one-block"], "test:one-block")
    bare = page.context.new_page()  # a page of its own: the backend is the page's, chosen once
    bare.add_init_script("delete window.WebAssembly")
    bare.goto(server.page)
    bare.wait_for_function("() => window.convlabModel")
    found = bare.evaluate(
        "async (urls) => { const model = await window.convlabModel.loadModel(urls); "
        "const backend = model.backend; model.dispose(); return [window.convlabModel.DEFAULT_BACKEND, backend]; }",
        server.urls(exported.checksum),
    )
    bare.close()
    assert found == ["wasm", "cpu"]


def test_the_export_describes_the_spec_and_its_weights(models):
    model, spec = models["conv-lesson"]
    exported = export(model, spec)
    assert exported.checksum == hashlib.sha256(exported.weights).hexdigest()
    assert [layer["name"] for layer in exported.topology["layers"]] == [row.name for row in model.layers]
    manifest = exported.topology["weights"]
    assert [entry["name"] for entry in manifest][:2] == ["conv1/kernel", "conv1/bias"]
    assert manifest[0]["shape"] == [3, 3, 1, 64] and manifest[-1]["shape"] == [10]
    weights = model.get_weights()
    assert (
        len(manifest) == len(weights)
        and exported.topology["bytes"] == len(exported.weights) == 4 * model.count_params()
    )
    for entry, values in zip(manifest, weights):  # each entry's bytes are the weight itself
        stored = np.frombuffer(exported.weights, "<f4", count=values.size, offset=entry["offset"]).reshape(values.shape)
        np.testing.assert_array_equal(stored, values)
    assert len(exported.gzipped["bin"]) <= 1.2e6  # issue 23: the lesson's conv model, ≤ 1.2 MB gzipped
    assert topology(spec)["layers"] == exported.topology["layers"]


def test_a_model_the_browser_cannot_rebuild_is_refused():
    import keras

    spec = VARIANTS["one-block"]
    model = build(spec)
    with_dropout = keras.Sequential([*model.layers[:3], keras.layers.Dropout(0.5, name="drop"), *model.layers[3:]])
    with pytest.raises(ValueError, match="can't rebuild layer 'drop': it is a Dropout"):
        export(with_dropout, spec)
    with pytest.raises(ValueError, match="not its spec's"):
        export(model, PRESETS["conv"])
    # A lookup skips such a source and remembers it: it isn't exported again for the next checksum.
    tries = []
    models = BrowserModels(lambda: [("bad", lambda: tries.append(1) or export(with_dropout, spec))])
    assert models.find("0" * 64) is None and models.find("1" * 64) is None
    assert tries == [1]


def _get(url: str, gzip_ok: bool):
    """(status, headers (case-insensitive), body) of a GET; the first lookup in a store loads its models: seconds."""
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"} if gzip_ok else {})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_the_app_serves_a_stored_model_by_its_checksum(shipped_server, models):
    # The app's own server (app.py's st.App): it has exported nothing yet, so it finds the model in its store.
    exported = export(*models["conv-lesson"])
    for suffix, body in (("bin", exported.weights), ("json", exported.topology_json)):
        url = f"{shipped_server.url}/convlab/model/{exported.checksum}.{suffix}"
        status, headers, zipped = _get(url, gzip_ok=True)
        assert status == 200 and headers.get("Content-Encoding") == "gzip", headers
        assert gzip.decompress(zipped) == body
        assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
        status, headers, plain = _get(url, gzip_ok=False)
        assert status == 200 and headers.get("Content-Encoding") is None and plain == body
    status, _, text = _get(f"{shipped_server.url}/convlab/model/{'0' * 64}.bin", gzip_ok=True)
    assert status == 404 and b"No model with weights of checksum 000" in text
    status, _, text = _get(f"{shipped_server.url}/convlab/model/model.bin", gzip_ok=True)
    assert status == 404 and b"sha256 of the model's weights" in text
