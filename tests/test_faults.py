"""Faults as a classroom meets them: a read-only models/ folder, a truncated dataset, bad uploads.

(Corrupt model files, a missing dataset, SIGKILL mid-training and malformed URLs are tested
beside the code they concern: test_store, test_app, test_cli, test_urlstate, test_app_views.)
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from PIL import Image
from streamlit.testing.v1 import AppTest

from apptest_support import APP, TIMEOUT, frame_with, heatmaps, open_tab
from convlab import data
from convlab.images import MAX_UPLOAD_BYTES
from convlab.models import PRESETS
from convlab.store import DEFAULT_ROOT, ModelStore


@contextlib.contextmanager
def read_only_copy_of_models(tmp_path, monkeypatch):
    """The shipped models in a folder nothing can write to, this process or the training worker.

    A read-only bind mount where the machine allows it (CI runs as root, where chmod would not
    stop a write); otherwise, for a user who isn't root, a folder without write permission.
    """
    source, folder = tmp_path / "source", tmp_path / "models"
    source.mkdir()
    folder.mkdir()
    for spec in PRESETS.values():
        for path in ModelStore(DEFAULT_ROOT).paths(spec):
            shutil.copy(path, source / path.name)
    mounted = subprocess.run(["mount", "--bind", str(source), str(folder)], capture_output=True).returncode == 0
    if mounted and subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], capture_output=True).returncode:
        subprocess.run(["umount", str(folder)])
        mounted = False
    if not mounted:
        if os.geteuid() == 0:
            pytest.skip("a read-only models folder needs a bind mount here (root ignores file permissions)")
        folder.rmdir()
        shutil.copytree(source, folder)
        folder.chmod(0o555)
    try:
        yield folder
    finally:
        if mounted:
            for _ in range(10):  # a lazy unmount can lag a moment behind the last open file
                if subprocess.run(["umount", str(folder)], capture_output=True).returncode == 0:
                    break
                time.sleep(0.2)
        else:
            folder.chmod(0o755)


def test_read_only_models_folder_works_from_memory_and_says_so(tmp_path, monkeypatch):
    with read_only_copy_of_models(tmp_path, monkeypatch) as folder:
        with pytest.raises(OSError):
            (folder / "probe").write_text("x")
        monkeypatch.setenv("CONVLAB_MODELS_DIR", str(folder))
        st.cache_resource.clear()
        st.cache_data.clear()
        at = open_tab(AppTest.from_file(APP, default_timeout=TIMEOUT).run(), "journey")
        assert not at.exception and len(heatmaps(at)) == 12  # the shipped models load fine
        # A new variant trains, can't be saved, and is still there to use.
        open_tab(at, "lab")
        at.radio(key="lab_blocks").set_value(1)
        at.select_slider(key="lab_filters_0").set_value(16)
        at.slider(key="lab_epochs").set_value(1)
        at.selectbox(key="lab_samples").set_value(1_000).run()
        at.button(key="lab_train").click().run()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any("Trained in" in s.value for s in at.success):
            time.sleep(0.5)
            at.run()
        assert not at.exception
        assert any("Can't save" in w.value and "kept in memory" in w.value for w in at.warning)
        runs = frame_with(at, "key")
        assert "memory only" in list(runs["saved"])
        assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in (tmp_path / "source").iterdir())


def test_a_truncated_dataset_file_gets_a_page_naming_it(tmp_path, monkeypatch, test_split):
    folder = tmp_path / "data"
    folder.mkdir()
    for name in data.FILES["test"][:2]:
        shutil.copy(test_split.source / name, folder / name)
    images = folder / data.FILES["test"][0]
    images.write_bytes(images.read_bytes()[: len(images.read_bytes()) // 3])
    monkeypatch.setenv("CONVLAB_DATA_DIR", str(folder))
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception
    [error] = [e.value for e in at.error]
    assert "can't load the Fashion-MNIST images" in error and "corrupt or truncated" in error
    assert str(images) in error and "reinstall" in error


def _png(array: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: b"\x89PNG\r\n\x1a\n" + bytes(MAX_UPLOAD_BYTES), "the limit is 5 MB"),
        (lambda: _png(np.zeros((6000, 6000), dtype=bool)), "the limit is 25 million pixels"),
        (lambda: b"GIF89a" + bytes(100), "isn't a PNG or JPEG"),
    ],
    ids=["over size", "decompression bomb", "not an image"],
)
def test_bad_uploads_are_refused_with_a_message(app, make, message):
    open_tab(app, "upload")
    app.file_uploader(key="upload").set_value(("upload.png", make(), "image/png")).run()
    assert not app.exception
    assert any(message in e.value for e in app.error), [e.value for e in app.error]


def test_upload_limit_is_set_in_the_streamlit_config():
    import tomllib
    from pathlib import Path

    config = tomllib.loads((Path(APP).parent / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] * 2**20 == MAX_UPLOAD_BYTES
    assert config["browser"]["gatherUsageStats"] is False


BROKEN_TENSORFLOW_SCRIPT = """
import json, sys
sys.path[:0] = [{fake!r}, {tests!r}, {root!r}]  # a keras package that fails to import comes first
import streamlit as st
from streamlit.testing.v1 import AppTest

from apptest_support import APP, TIMEOUT

reruns = []
st.rerun = lambda *args, **kwargs: reruns.append("rerun")
at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
print(json.dumps({{"reruns": reruns, "errors": [e.value for e in at.error],
                  "exceptions": [e.value for e in at.exception]}}))
"""


def test_a_broken_tensorflow_install_gets_a_message_not_a_rerun_loop(tmp_path):
    """A server's first run imports Keras in the background; when that import fails, the page says
    so and how to fix it, instead of rerunning to try again forever, and no model is set aside."""
    fake = tmp_path / "fake"
    (fake / "keras").mkdir(parents=True)
    (fake / "keras" / "__init__.py").write_text('raise ImportError("simulated: libtensorflow_cc.so.2 is missing")\n')
    tests = Path(__file__).resolve().parent
    script = BROKEN_TENSORFLOW_SCRIPT.format(fake=str(fake), tests=str(tests), root=str(tests.parent))
    models_before = sorted(p.name for p in DEFAULT_ROOT.iterdir())
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tests.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["reruns"] == [] and result["exceptions"] == []
    [error] = result["errors"]
    assert "can't import TensorFlow" in error and "simulated: libtensorflow_cc.so.2 is missing" in error
    assert "pip install -r requirements.txt" in error
    assert sorted(p.name for p in DEFAULT_ROOT.iterdir()) == models_before
