"""The README's pictures, taken from the running app so none goes stale.

    python bench/screenshots.py              # every picture: about 2 minutes on 2 cores
    python bench/screenshots.py probe lab    # only these (the names of SHOTS below)

Starts ``streamlit run app.py`` on a free port (``convlab_testing.live_app``'s StreamlitServer,
as the browser tests and the benchmark do), serving a temporary copy of the shipped models in
``models/`` (nothing is written into ``models/``), opens each picture's address in a fresh page
of headless Chromium (Debian's, else Playwright's own), waits until the page is idle and its
charts are drawn (``tests/browser_support.py``'s ``open_app`` and ``wait_drawn``), and writes
what the screen shows to ``docs/images/<name>.png``: one picture per view at 1280×720, the
journey in presenter mode with the lesson tour at its fourth step at 1024×768
(``presenter-tour.png``), and a teacher's page that has just started a class, its code, link and
QR code put up large (``class.png``). The server's log goes to
``bench/results/logs/screenshots.log``.

Each picture is what a person sees on opening the view's address (the lesson's three ankle boots,
test images 0, 23 and 28, and filter 1), except where another state says more: Portraits shows
conv2 (its Layer choice clicked), the replay opens at ``snapshot=5``, the shift probe at
``shift=4,0`` (the boots moved 4 px right), and "Your image" gets an upload (test image 9, a
sneaker, as a dark-on-white photo). So that the class link names the machine's network address,
as on a teacher's laptop, the server listens on every address (0.0.0.0) while the pictures are
taken.

Run it after changing what a view shows, and look at the pictures before committing them: the
README's captions describe them.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # convlab_testing; the browser tests' helpers

from browser_support import open_app, wait_drawn, wait_idle, wait_until  # noqa: E402
from convlab_testing.live_app import REPO, StreamlitServer, launch_chromium, stop_all_children  # noqa: E402

OUT = REPO / "docs" / "images"
LOG = REPO / "bench" / "results" / "logs" / "screenshots.log"
LAPTOP = {"width": 1280, "height": 720}
PROJECTOR = {"width": 1024, "height": 768}
DRAWN_TIMEOUT = 120_000  # ms: a view's first visit may compute (the filter finder, the invariance chart)
BOOTS_STEP = 4  # the tour's step with the three ankle boots and the filter found in the model

DRAW_PAD = "iframe[title='Drawing pad and its journey']"
# name → the address it opens, after the server's root ("": the journey), in the README's order.
SHOTS = {
    "journey": "",
    "filters": "/filters",
    "predictions": "/predictions",
    "looked": "/looked",
    "portraits": "/portraits",
    "replay": "/replay?snapshot=5",
    "lab": "/lab",
    "compare": "/compare",
    "probe": "/probe?shift=4,0",
    "draw": "/draw",
    "upload": "/upload",
    "presenter-tour": "?present=1",
    "class": "",
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def models_copy(folder: Path) -> Path:
    """The shipped models and their caches, copied: the server's own folder (as bench/felt.py's)."""
    target = folder / "models"
    shutil.copytree(REPO / "models", target, ignore=shutil.ignore_patterns(".*", "corrupt"))
    return target


def sneaker(folder: Path) -> Path:
    """Test image 9 (a sneaker) as a photo might be: dark on white, 280×280, a JPEG."""
    import numpy as np
    from PIL import Image

    from convlab.data import load_split

    picture = (255 - load_split("test").images[9, :, :, 0] * 255).astype(np.uint8)
    path = folder / "sneaker.jpg"
    Image.fromarray(np.kron(picture, np.ones((10, 10), np.uint8))).convert("RGB").save(path)
    return path


def settle(page) -> None:
    """Idle, every chart drawn, scrolled to the top, and a moment for the last paint."""
    wait_drawn(page, timeout=DRAWN_TIMEOUT)
    wait_idle(page, timeout=DRAWN_TIMEOUT)
    page.evaluate("() => document.querySelectorAll('*').forEach(e => { if (e.scrollTop) e.scrollTop = 0; })")
    page.wait_for_timeout(500)


def take(browser, server: StreamlitServer, name: str, query: str, scratch: Path) -> Path:
    presenting = name == "presenter-tour"
    viewport = PROJECTOR if presenting else LAPTOP
    journey = query in ("", "?present=1")
    with open_app(browser, server, query=query, viewport=viewport, journey_traces=15 if journey else None) as page:
        if name == "portraits":  # conv2's portraits say more than conv1's 3×3 noise; the layer isn't in the URL
            wait_drawn(page, timeout=DRAWN_TIMEOUT)
            page.locator(".st-key-portrait_layer").get_by_text("conv2", exact=True).click()
            wait_until(page, "() => document.body.innerText.includes('A conv2 filter has')", what="conv2's portraits")
        if name == "upload":
            page.locator("[data-testid=stFileUploader] input[type=file]").set_input_files(str(sneaker(scratch)))
            page.locator(".st-key-upload_journey .js-plotly-plot").wait_for(state="visible", timeout=60_000)
        if name == "draw":  # the pad started from the journey's second boot, then a sole drawn under it
            frame = page.locator(DRAW_PAD).element_handle().content_frame()
            frame.wait_for_function("() => window.__pad && window.__pad.loadedMs > 0", timeout=DRAWN_TIMEOUT)
            page.get_by_role("button", name="#23", exact=True).click()
            frame.wait_for_function("() => window.__pad.picture.some((p) => p > 0)", timeout=DRAWN_TIMEOUT)
            box = frame.locator("#pad").bounding_box()
            page.mouse.move(box["x"] + box["width"] * 0.12, box["y"] + box["height"] * 0.9)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] * 0.88, box["y"] + box["height"] * 0.9, steps=12)
            page.mouse.up()
        if name == "class":  # a teacher starts a class: the code, link and QR code put up large
            page.get_by_text("Class: follow the teacher").click()
            page.locator(".st-key-class_start button").first.click()
            wait_until(
                page,
                "() => location.search.includes('class=') && !!document.querySelector('[role=dialog]')",
                what="the class's code and link put up large",
            )
        if presenting:
            page.locator(".st-key-present_tour_start button:visible").click()
            for step in range(1, BOOTS_STEP):
                wait_until(page, f"() => location.search.includes('tour={step}')", what=f"tour step {step}")
                wait_idle(page)
                page.locator(f".st-key-tour_next_{step} button:visible").click()
            wait_until(page, f"() => location.search.includes('tour={BOOTS_STEP}')", what=f"tour step {BOOTS_STEP}")
            # The step's filter drawn from the page's own figure (exact values), not painted.
            wait_until(
                page,
                "() => { const c = document.querySelector('.st-key-journey_chart .cl-chart'); "
                "const wanted = Number(new URLSearchParams(location.search).get('filter')); "
                "return !!c && Number(c.dataset.filter) === wanted && c.dataset.exact === 'yes'; }",
                what="the step's filter is drawn",
                timeout=DRAWN_TIMEOUT,
            )
        settle(page)
        path = OUT / f"{name}.png"
        page.screenshot(path=str(path))  # the viewport: what the screen shows
        address = page.url.removeprefix(server.url).split("&teacher=")[0]  # never the teacher's key
        log(f"{path.relative_to(REPO)}  ({address})")
        return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"pictures to take (default: all): {', '.join(SHOTS)}")
    names = parser.parse_args().names or list(SHOTS)
    unknown = [name for name in names if name not in SHOTS]
    if unknown:
        parser.error(f"no picture called {', '.join(unknown)}; there are {', '.join(SHOTS)}")
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    LOG.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="convlab-screenshots-"))
    started = time.monotonic()
    try:
        # On every address, as a teacher's laptop serves a room: the class link names its network address.
        server = StreamlitServer(LOG, models_dir=models_copy(scratch), address="0.0.0.0")
        with server, sync_playwright() as playwright:
            log(f"server at {server.url}, models in {server.models_dir}")
            browser = launch_chromium(playwright)
            try:
                for name in names:
                    take(browser, server, name, SHOTS[name], scratch)
            finally:
                browser.close()
    finally:
        stop_all_children()
        shutil.rmtree(scratch, ignore_errors=True)
    log(f"{len(names)} pictures in {time.monotonic() - started:.0f} s, in {OUT.relative_to(REPO)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
