"""The chart's own modules (components/plotly_react/maps.js), imported by themselves in Chromium and held
against their Python counterparts: the packed maps decoded as ``convlab.mapcodec`` decodes them, and the
tops of the colour ranges as ``convlab.figures.scales.ranges_of_highs`` gives them (the one range rule,
written once in Python and once in the browser)."""

from __future__ import annotations

import functools
import http.server
import threading

import numpy as np
import pytest

from browser_support import chromium, require_browser
from convlab import mapcodec
from convlab.activations import Activations
from convlab.figures.scales import SCALE_MODES, floored_range, shared_ranges
from convlab_testing.live_app import REPO

COMPONENT = REPO / "components" / "plotly_react"


@pytest.fixture(scope="module")
def modules_page():
    """A blank page on a localhost origin that serves the component's files (ES modules need an origin)."""
    handler = functools.partial(_Files, directory=str(COMPONENT))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with chromium() as browser:
            require_browser(browser)
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{server.server_port}/blank.html")
            yield page
            page.close()
    finally:
        server.shutdown()
        server.server_close()


class _Files(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        if self.path == "/blank.html":
            body = b"<!doctype html><html lang='en'><title>modules</title><body></body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, *args):  # quiet
        pass


def _activations(seed: int) -> Activations:
    """Three images' ReLU-like maps over two layers, the second with fewer filters; some maps all zero."""
    rng = np.random.default_rng(seed)
    conv = np.maximum(rng.normal(size=(3, 6, 6, 5)), 0).astype(np.float32)
    pool = np.maximum(rng.normal(size=(3, 3, 3, 3)) * 4, 0).astype(np.float32)
    conv[1, :, :, 2] = 0  # one image's map all zero
    pool[:, :, :, 1] = 0  # a filter all zero in every image: its layer's range is floored
    probabilities = np.full((3, 10), 0.1, dtype=np.float32)
    return Activations(("conv1", "pool1"), (conv, pool), probabilities)


# One call in the page: decode the bytes, and for every filter and scale each panel's colour-range top.
RANGES_JS = """
async ([bytes, scales]) => {
  const {decodeMaps, decoded, highsOf, rangeTop} = await import("/maps.js");
  const maps = decodeMaps(new Uint8Array(bytes).buffer);
  const filters = Math.max(...maps.layers.map((layer) => layer.filters));
  const result = {decoded: [], tops: {}};
  for (let filter = 0; filter < filters; filter++) {
    const {columnHighs, figureHigh} = highsOf(maps, filter);
    for (const scale of scales) {
      result.tops[scale + "/" + filter] = maps.layers.map((layer, column) =>
        Array.from({length: maps.images}, (_, image) => filter < layer.filters
          ? rangeTop(scale, layer.highs[image * layer.filters + filter], columnHighs[column], figureHigh)
          : null));
    }
    result.decoded.push(maps.layers.map((layer) =>
      Array.from({length: maps.images}, (_, image) => filter < layer.filters ? decoded(layer, image, filter) : null)));
  }
  return result;
}
"""


@pytest.mark.parametrize("seed", [0, 1])
def test_the_browser_draws_the_maps_on_the_servers_colour_ranges(modules_page, seed):
    """For every filter, scale and panel, the chart's range top equals the server figure's (``shared_ranges``
    of the decoded maps for shared scales, the panel's own ``floored_range`` for "panel"), and equals
    ``PackedMaps.ranges``; and every decoded map equals mapcodec's, value for value."""
    packed = mapcodec.pack(_activations(seed))
    result = modules_page.evaluate(RANGES_JS, [list(mapcodec.to_bytes(packed)), list(SCALE_MODES)])
    filters = max(layer.filters for layer in packed.layers)
    checked = 0
    for filter_index in range(filters):
        maps = packed.filter_maps(filter_index)  # [image][layer], what the browser draws
        for layer in range(len(packed.layers)):
            for image in range(packed.images):
                browser = result["decoded"][filter_index][layer][image]
                if maps[image][layer] is None:
                    assert browser is None
                else:
                    np.testing.assert_allclose(np.array(browser), maps[image][layer], rtol=1e-6, atol=1e-7)
        for scale in SCALE_MODES:
            ranges = shared_ranges(maps, scale)
            assert ranges == pytest.approx(packed.ranges(filter_index, scale))
            tops = result["tops"][f"{scale}/{filter_index}"]
            for layer in range(len(packed.layers)):
                for image in range(packed.images):
                    if maps[image][layer] is None:
                        assert tops[layer][image] is None
                        continue
                    shared = ranges.get(layer if scale == "layer" else "figure")
                    low, high = shared or floored_range(float(np.max(maps[image][layer])))
                    assert low == 0.0
                    assert tops[layer][image] == pytest.approx(high, rel=1e-6), (scale, filter_index, layer, image)
                    checked += 1
    assert checked == len(SCALE_MODES) * packed.images * sum(layer.filters for layer in packed.layers)
    # the data reaches every case the rule has: a flat map, a flat layer column, a layer with fewer filters
    assert (packed.layers[0].highs == 0).any() and (packed.layers[1].highs[:, 1] == 0).all()
    assert packed.layers[1].filters < packed.layers[0].filters
