"""Shared fixtures: the real test split, tiny specs that train in seconds, data-folder helpers."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The tests' trainings at normal priority: in Linux's idle class (the default, beside people's pages) they got
# the CPU only when neither test process wanted it, and a tiny training took 3 times as long (73 s against 23 s).
# test_worker.py checks the default priority with a worker of its own.
os.environ.setdefault("CONVLAB_TRAINING_NICENESS", "0")

if "PYTEST_XDIST_WORKER" in os.environ:
    # Each test process, and the servers and workers it starts, gets a temp folder of its own, so the
    # store's one-training-at-a-time-on-this-machine lock (in the temp folder) is per process: else
    # one process's tests waited for the other's trainings (or another test run's), slow and failing.
    os.environ.setdefault("RAY_TMPDIR", tempfile.gettempdir())  # Ray's session files stay where they were
    tempfile.tempdir = tempfile.mkdtemp(prefix=f"convlab-tests-{os.environ['PYTEST_XDIST_WORKER']}-")
    os.environ["TMPDIR"] = tempfile.tempdir
    atexit.register(shutil.rmtree, tempfile.tempdir, ignore_errors=True)


def _scan_installed_components_once() -> None:
    """Each AppTest looks through every installed package's metadata for Streamlit components (about 0.2 s,
    a hundred times a run); what is installed doesn't change during a run, so each test process looks once."""
    import functools

    from streamlit.components.v2 import manifest_scanner

    scan = manifest_scanner.scan_component_manifests
    if not hasattr(scan, "cache_info"):  # the manager imports it from the module at each call
        manifest_scanner.scan_component_manifests = functools.cache(scan)


_scan_installed_components_once()

from convlab.data import FILES, DataError, Split, load_split  # noqa: E402
from convlab.models import ModelSpec  # noqa: E402

# Small enough to train in a couple of seconds, big enough to learn something.
TINY_CONV = ModelSpec(conv_filters=(4,), dense_units=16, epochs=2, train_samples=512, seed=7)
TINY_DENSE = ModelSpec(conv_filters=(), dense_units=16, epochs=2, train_samples=512, seed=7)


@pytest.fixture(scope="session")
def test_split() -> Split:
    try:
        return load_split("test", allow_download=False)
    except DataError as error:  # one clear message instead of the same error in every test
        pytest.exit(f"The tests need Fashion-MNIST's test split.\n{error}", returncode=4)


@pytest.fixture(scope="session")
def small_data(test_split):
    """(train, test) Splits cut from the test split: enough for tiny training runs in tests."""
    train = Split(test_split.images[:1000], test_split.labels[:1000], test_split.source)
    test = Split(test_split.images[1000:1500], test_split.labels[1000:1500], test_split.source)
    return train, test


@pytest.fixture
def copy_split_files(test_split):
    """Copy one split's two real files into a folder: ``copy_split_files(folder, "test")``."""

    def copy(folder: Path, split: str = "test") -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for name in FILES[split][:2]:
            shutil.copy(test_split.source / name, folder / name)
        return folder

    return copy


def shipped_conv_maps(images: np.ndarray, filter_index: int) -> list[np.ndarray]:
    """The shipped conv model's maps of one filter, row by row: what the journey should draw."""
    from convlab.activations import Inspector
    from convlab.models import PRESETS
    from convlab.store import DEFAULT_ROOT, ModelStore

    inspector = Inspector(ModelStore(DEFAULT_ROOT).load(PRESETS["conv"]).model)
    return [panel for row in inspector.run(images).filter_maps(filter_index) for panel in row]


def assert_same_predictions(model_a, model_b, images: np.ndarray) -> None:
    np.testing.assert_allclose(
        model_a.predict(images, verbose=0), model_b.predict(images, verbose=0), rtol=1e-5, atol=1e-6
    )


@pytest.fixture
def app(monkeypatch):
    """app.py run once through AppTest with the shipped models and fresh caches."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from apptest_support import APP, TIMEOUT

    monkeypatch.delenv("CONVLAB_MODELS_DIR", raising=False)
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    """A writable copy of the shipped models, so lab runs never land in the repo's models/."""
    import streamlit as st

    from convlab.models import PRESETS
    from convlab.store import DEFAULT_ROOT, ModelStore

    for spec in PRESETS.values():
        for path in ModelStore(DEFAULT_ROOT).paths(spec):
            shutil.copy(path, tmp_path / path.name)
    monkeypatch.setenv("CONVLAB_MODELS_DIR", str(tmp_path))
    st.cache_resource.clear()
    st.cache_data.clear()
    return tmp_path


def model_files(folder: Path) -> list[str]:
    """What a models folder holds besides its lock files (``.locks/``, kept there for servers sharing it)."""
    return sorted(p.name for p in folder.iterdir() if p.name != ".locks")


@pytest.fixture(autouse=True)
def _no_work_outlives_its_test():
    """A training a test left running in the worker process, and the app's background work (a page's warm-up:
    the test set, traces, the tour), end with the test: left running they would slow every test after it.
    An idle worker stays, for the next test's training; stopped background work starts afresh when asked."""
    yield
    import sys

    if "convlab.worker" in sys.modules:
        sys.modules["convlab.worker"].stop_trainings()
    if "convlab.background" in sys.modules:
        background = sys.modules["convlab.background"]
        background.stop_all()
        background.stopping.clear()


@pytest.fixture(scope="module")
def browser():
    """One Chromium for a browser test module; None when none is installed, so that each test fails saying so."""
    from browser_support import chromium

    with chromium() as found:
        yield found


@pytest.fixture(scope="session")
def shipped_server(tmp_path_factory):
    """One app server for the browser tests that only read the shipped models (the class, the tour):
    a copy of them, and listening on every address as a teacher's laptop serves a room (the tests
    still connect on loopback). Shared: each server's start and first visits take seconds, and its
    files run in one process (SHARED_SERVER_GROUP), so the run starts it once."""
    from browser_support import copy_shipped_models, served_app

    folder = copy_shipped_models(tmp_path_factory.mktemp("models"), caches=True)
    with served_app(
        tmp_path_factory.mktemp("streamlit") / "server.log", models_dir=folder, address="0.0.0.0"
    ) as server:
        yield server


# The longest test files first: the test processes share the files (pytest.ini), and a long file
# started last would run alone at the end while the others wait. The files sharing the
# app server (SHARED_SERVER_GROUP) go as one, at the place of the first of them listed here.
LONGEST_FIRST = (
    "test_browser.py",
    "test_browser_views.py",
    "test_browser_balancer.py",
    "test_cluster.py",
    "test_worker.py",
    "test_invariance.py",
    "test_browser_classroom.py",
    "test_app.py",
    "test_app_replay.py",
    "test_app_lab.py",
    "test_browser_access.py",
    "test_browser_tour.py",
    "test_jobs.py",
    "test_app_runthrough.py",
    "test_app_explain.py",
    "test_app_words.py",
    "test_cli.py",
)
# The files whose tests use the shared app server run in one process, one after another (pytest.ini:
# --dist loadgroup): one server start and one first visit of each view instead of one per process.
SHARED_SERVER_GROUP = "shipped_server"


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups off the items
def pytest_collection_modifyitems(items):
    def file_of(item) -> str:
        return Path(str(item.fspath)).name

    def rank(name: str) -> int:
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    shared = {file_of(item) for item in items if "shipped_server" in getattr(item, "fixturenames", ())}
    shared_rank = min(map(rank, shared), default=0)

    def order(item) -> tuple:
        name = file_of(item)
        return (shared_rank if name in shared else rank(name), rank(name), name)

    items.sort(key=order)  # stable: each file's own tests keep their order
    for item in items:
        name = file_of(item)
        # Every other file is a group of its own: --dist loadgroup then hands out whole files as loadfile did.
        item.add_marker(pytest.mark.xdist_group(SHARED_SERVER_GROUP if name in shared else name))
