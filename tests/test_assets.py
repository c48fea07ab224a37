"""The browser's files (ui/assets.py): served once and kept by the browser, never outside their folders.

Checked on the app's own server (the shared ``shipped_server``): the chart imports its modules, and the
drawing pad's page links its own, at today's version; the route serves the very files with ``immutable``
caching (a stale version fresh), refuses paths out of its folders, and a page loads plotly.js once, a page
opened again from the browser's cache.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request

from browser_support import JOURNEY_TRACES, open_app, open_view, wait_until
from convlab_testing.live_app import plot_js
from ui import assets

PLOTLY = "vendor/plotly.js-cartesian/plotly-cartesian.min.js"


def _get(url: str):
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_the_chart_imports_its_modules_from_the_route_at_todays_version():
    """The chart (an st.components.v2 component in the page) imports main.js from the route at today's
    version, under the server's base path; main.js's own imports are its neighbours, so every module
    comes from that version."""
    main = f"/convlab/assets/{assets.version()}/plotly_react/main.js"
    assert assets.asset_url("plotly_react", "main.js") == main
    assert assets.asset_url("plotly_react", "main.js", "/lab/") == "/lab" + main
    folder = assets.ROOTS["plotly_react"]
    imported = {name for module in folder.glob("*.js") for name in re.findall(r'from "([^"]+)"', module.read_text())}
    assert imported and all(name.startswith("./") and (folder / name).is_file() for name in imported), imported


def test_the_drawing_pads_page_links_its_modules_at_todays_version():
    page = (assets.component_page_dir("drawpad") / "index.html").read_text(encoding="utf-8")
    linked = re.findall(r'(?:src|href)="([^"]+\.js)"', page)
    base = f"{assets.FROM_PAGE}/{assets.version()}/drawpad/"
    assert linked and all(link.startswith(base) for link in linked), linked
    assert all((assets.ROOTS["drawpad"] / link.removeprefix(base)).is_file() for link in linked)
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


def test_plotly_is_loaded_once_a_page_and_kept_by_the_browser(browser, shipped_server):
    """The journey's chart loads plotly.js into the page; the replay's charts, opened next, draw with that
    same copy (no second request); the page opened again reads it from the browser's cache, not the wire."""
    loaded = """() => performance.getEntriesByType('resource')
      .filter((entry) => entry.name.includes('plotly-cartesian'))
      .map((entry) => ({transfer: entry.transferSize, decoded: entry.decodedBodySize, name: entry.name}))"""
    with open_app(browser, shipped_server, journey_traces=JOURNEY_TRACES, fresh=True) as page:
        first = page.evaluate(loaded)
        assert len(first) == 1 and f"/convlab/assets/{assets.version()}/{PLOTLY}" in first[0]["name"], first
        open_view(page, "replay")
        wait_until(
            page,
            f"() => {{ const d = {plot_js('.st-key-replay_chart')}; return !!(d && d.data && d.data.length); }}",
            what="the replay's chart is drawn",
        )
        assert page.evaluate(loaded) == first  # drawn with the page's plotly.js, not fetched again
        page.reload()  # the replay view again
        wait_until(
            page,
            f"() => {{ const d = {plot_js('.st-key-replay_chart')}; return !!(d && d.data && d.data.length); }}",
            what="the replay's chart is drawn again",
            timeout=90_000,
        )
        again = page.evaluate(loaded)
        assert len(again) == 1 and again[0]["transfer"] == 0 and again[0]["decoded"] > 1_000_000, again


def test_no_host_page_may_control_the_app_so_its_own_messages_are_dropped_at_once(shipped_server):
    """The server tells the page that no host's origin is allowed (.streamlit/config.toml): Streamlit's
    messages for a host, which an unembedded page gets back itself, are then dropped without testing each
    one against Community Cloud's origin patterns."""
    import json

    status, _, body = _get(f"{shipped_server.url}/_stcore/host-config")
    assert status == 200 and json.loads(body)["allowedOrigins"] == []
