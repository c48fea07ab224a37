"""Two app servers on one models folder (a shared CONVLAB_MODELS_DIR), each its own process, in Chromium.

A variant asked of both at once trains once: the second server's page says another ConvLab
is training it and then shows the first one's run (stopped early, to keep the test short). A
run one server finished is listed by the other.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from browser_support import build_one_block_of_16, chromium, exception_texts, open_app, served_app, wait_idle, wait_until
from convlab.models import PRESETS, ModelSpec
from convlab.store import DEFAULT_ROOT, ModelStore

pytestmark = pytest.mark.timeout(300)
TRAINING_TIMEOUT = 180_000  # ms: a quick variant, but the worker loads TensorFlow first on a busy machine
SPEC = ModelSpec(conv_filters=(16,), epochs=5)  # a minute of training: time enough to be asked for twice


@pytest.fixture
def models_dir(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    for spec in PRESETS.values():
        for path in [*ModelStore(DEFAULT_ROOT).paths(spec), ModelStore(DEFAULT_ROOT).snapshot_path(spec)]:
            shutil.copy(path, folder / path.name)
    return folder


def build_the_variant(page) -> None:
    """In the lab: one conv block of 16 filters, 5 epochs, all 60,000 training images (the builder's default)."""
    page.get_by_role("tab", name="Lab").click()
    page.locator(".st-key-lab_blocks").wait_for()
    build_one_block_of_16(page)
    wait_until(page, "label => [...document.querySelectorAll('strong')].some(e => e.innerText.startsWith(label))",
               SPEC.label(), what="the builder shows the variant")


def test_two_servers_on_one_folder_train_a_variant_once_and_both_list_it(models_dir, tmp_path):
    with chromium() as browser, \
            served_app(tmp_path / "a.log", models_dir=models_dir) as first, \
            served_app(tmp_path / "b.log", models_dir=models_dir) as second, \
            open_app(browser, first) as page_a, open_app(browser, second) as page_b:
        for page in (page_a, page_b):
            build_the_variant(page)
        page_a.locator(".st-key-lab_train button").click()
        # Server A's worker trains it (past its first batches: it holds the spec's lock in the folder).
        wait_until(page_a, "() => [...document.querySelectorAll('p')].some(p => /Batch [1-9]/.test(p.innerText))",
                   what="server A's worker is training", timeout=TRAINING_TIMEOUT)
        page_b.locator(".st-key-lab_train button").click()
        # Server B's worker finds the spec claimed in the shared folder and waits instead of training it too.
        page_b.get_by_text("is training this exact variant").first.wait_for(timeout=TRAINING_TIMEOUT)
        page_a.locator("button:visible", has_text="Stop training").first.click()  # it keeps the epochs done
        page_a.get_by_text("trained in").first.wait_for(timeout=TRAINING_TIMEOUT)
        meta_path = ModelStore(models_dir).paths(SPEC)[1]
        trained = json.loads(meta_path.read_text())
        page_b.get_by_text("trained in").first.wait_for(timeout=TRAINING_TIMEOUT)
        assert json.loads(meta_path.read_text()) == trained  # B loaded A's run: nothing was trained or written again
        # B's page lists the run and will not train it again.
        wait_idle(page_b)
        page_b.get_by_text("This exact variant is already trained").first.wait_for()
        page_b.locator(".st-key-lab_run").click()
        page_b.get_by_role("option", name=SPEC.label()).wait_for()
        page_b.keyboard.press("Escape")
        assert exception_texts(page_a) == [] and exception_texts(page_b) == []
        # Neither server trained (their workers did) or loaded Ray: it is imported only when configured.
        for server in (first, second):
            maps = Path(f"/proc/{server.process.pid}/maps").read_text()
            assert "_raylet" not in maps and "/ray/" not in maps
        # And a third page on B, opened after the fact, lists it in the model box.
        with open_app(browser, second) as late:
            late.locator("[data-testid=stSidebar] .st-key-model").click()
            late.get_by_role("option", name=SPEC.label()).wait_for()
