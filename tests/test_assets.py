"""The browser's files (ui/assets.py): served once and kept by the browser, never outside their folders.

Checked on the app's own server (the shared ``shipped_server``): the chart's page links its modules at
today's version, the route serves the very files with ``immutable`` caching (a stale version fresh), refuses
paths out of its folders, and a page that opens a second view with a chart takes plotly.js from its cache.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request

from browser_support import JOURNEY_TRACES, open_app, open_view, wait_until
from ui import assets

PLOTLY = "vendor/plotly.js-cartesian/plotly-cartesian.min.js"


def _get(url: str):
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_the_chart_page_links_its_modules_at_todays_version():
    page = (assets.chart_page_dir() / "index.html").read_text(encoding="utf-8")
    linked = re.findall(r'(?:src|href)="([^"]+\.js)"', page)
    base = f"{assets.FROM_PAGE}/{assets.version()}/plotly_react/"
    modules = sorted(path.name for path in assets.ROOTS["plotly_react"].glob("*.js"))
    assert sorted(link.removeprefix(base) for link in linked) == modules  # every module, all from the route
    assert all(link.startswith(base) for link in linked)
    # /component/<name>/index.html, two folders up: the server's root under any base path
    assert assets.FROM_PAGE == "../../convlab/assets" and assets.ASSET_PATH.startswith("/convlab/assets/")


def test_the_route_serves_the_files_kept_for_good_at_todays_version(shipped_server):
    url = f"{shipped_server.url}/convlab/assets"
    status, headers, body = _get(f"{url}/{assets.version()}/{PLOTLY}")
    assert status == 200 and body == (assets.REPO / PLOTLY).read_bytes()
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert headers["Content-Type"].startswith("text/javascript")  # a module script needs it
    status, headers, body = _get(f"{url}/{assets.version()}/plotly_react/maps.js")
    assert status == 200 and body == (assets.ROOTS["plotly_react"] / "maps.js").read_bytes()
    # a page from before an edit asks for another version: today's file, not kept
    status, headers, body = _get(f"{url}/0000000000000000/plotly_react/maps.js")
    assert status == 200 and headers["Cache-Control"] == "no-cache"


def test_the_route_refuses_anything_outside_its_folders(shipped_server):
    url = f"{shipped_server.url}/convlab/assets/{assets.version()}"
    for path in (
        "vendor/..%2F..%2Fapp.py",
        "vendor/%2E%2E/%2E%2E/app.py",
        "plotly_react/..%2F..%2Fconvlab%2Fstore.py",
        "components/plotly_react/maps.js",  # not a root
        "vendor/plotly.js-cartesian",  # a folder
        "vendor/nothing.js",
    ):
        status, _, body = _get(f"{url}/{path}")
        assert status in (400, 404), (path, status)
        assert b"import" not in body and b"def " not in body, path
    for name in ("nothing.bin", "../app.py", "0" * 24 + ".bin"):
        status, _, body = _get(f"{shipped_server.url}/convlab/maps/{name}")
        assert status in (400, 404) and b"def " not in body, name


def test_a_second_chart_takes_plotly_from_the_browsers_cache(browser, shipped_server):
    """The journey's chart fetches plotly.js; the replay's charts, opened next, read it from the cache."""
    with open_app(browser, shipped_server, journey_traces=JOURNEY_TRACES, fresh=True) as page:
        open_view(page, "replay")
        frames = ".st-key-replay_chart iframe"
        page.locator(frames).first.wait_for(state="attached")
        loaded = """(selector) => { const frame = document.querySelector(selector);
          const seen = frame && frame.contentWindow ? frame.contentWindow.performance.getEntriesByType('resource') : [];
          const plotly = seen.find((entry) => entry.name.includes('plotly-cartesian'));
          return plotly && {transfer: plotly.transferSize, decoded: plotly.decodedBodySize, name: plotly.name}; }"""
        wait_until(page, f"() => !!({loaded})({frames!r})", what="the replay's chart loaded plotly.js")
        plotly = page.evaluate(loaded, frames)
        assert f"/convlab/assets/{assets.version()}/{PLOTLY}" in plotly["name"]
        assert plotly["transfer"] == 0 and plotly["decoded"] > 1_000_000, plotly  # from the cache, not the wire
