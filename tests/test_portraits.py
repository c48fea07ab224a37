"""Filter portraits against references (the filters' responses to the test images and to grey), and their cache."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from conftest import TINY_CONV
from convlab import portraits as portraits_module
from convlab import store as store_module
from convlab.activations import Inspector
from convlab.models import PRESETS, build
from convlab.portraits import PortraitCache, portraits
from convlab.store import DEFAULT_ROOT, ModelStore, StoredModel

FILTERS = (0, 1, 5, 63)  # a handful of the lesson's 64 per layer
CHECKSUM = "a" * 64
QUICK = 20  # steps: enough for the cache tests, which only need some portraits


@pytest.fixture(scope="module")
def shipped() -> StoredModel:
    return ModelStore(DEFAULT_ROOT).load(PRESETS["conv"])


@pytest.fixture(scope="module")
def drawn(shipped):
    """Each conv layer's portraits, drawn once for the module: layer -> (portraits, seconds, progress calls)."""
    result = {}
    for layer in ("conv1", "conv2"):
        calls = []
        start = time.perf_counter()
        record = lambda done, total: calls.append((done, total))  # noqa: E731
        images = portraits(shipped.model, layer, progress=record, lock=shipped.lock)
        result[layer] = (images, time.perf_counter() - start, calls)
    return result


@pytest.fixture(scope="module")
def test_means(shipped, test_split):
    """layer -> (10,000, 64): each test image's mean activation per filter, from a Keras sub-model."""
    import keras

    layers = [shipped.model.get_layer(name) for name in ("conv1", "conv2")]
    pooled = [keras.layers.GlobalAveragePooling2D()(layer.output) for layer in layers]
    model = keras.Model(inputs=shipped.model.inputs[0], outputs=pooled)
    means = model.predict(test_split.images, batch_size=1000, verbose=0)
    return {layer.name: np.asarray(values) for layer, values in zip(layers, means)}


def own_means(model, layer_index: int, images: np.ndarray) -> np.ndarray:
    """(images, filters) mean activations of one feature layer, through the Inspector."""
    return Inspector(model).run(images).maps[layer_index].mean(axis=(1, 2))


def tiny(checksum: str | None = CHECKSUM) -> StoredModel:
    """An untrained 4-filter conv model, as the store would hand it over."""
    meta = {"model_sha256": checksum} if checksum else {}
    return StoredModel(spec=TINY_CONV, model=build(TINY_CONV), meta=meta, saved=checksum is not None)


@pytest.fixture
def counted(monkeypatch):
    """Counts the climbs that ``load_or_make`` starts."""
    calls = []
    real = portraits_module.portraits

    def counting(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(portraits_module, "portraits", counting)
    return calls


def files_under(root) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


# -- the portraits -----------------------------------------------------------------------------
@pytest.mark.parametrize("layer, layer_index", [("conv1", 0), ("conv2", 2)])
def test_each_portrait_excites_its_filter_more_than_most_test_images_and_grey(
    shipped, drawn, test_means, layer, layer_index
):
    images = drawn[layer][0]
    mine = own_means(shipped.model, layer_index, images)  # (portraits, filters)
    grey = own_means(shipped.model, layer_index, np.full((1, 28, 28), 0.5, np.float32))[0]
    median = np.median(test_means[layer], axis=0)
    for f in FILTERS:
        assert mine[f, f] > median[f], f"{layer} filter {f}: portrait {mine[f, f]:.4f} <= test median {median[f]:.4f}"
        assert mine[f, f] > grey[f], f"{layer} filter {f}: portrait {mine[f, f]:.4f} <= grey {grey[f]:.4f}"


def test_each_conv2_filter_likes_its_own_portrait_best(shipped, drawn):
    # Image i climbs filter i only: of all 64 portraits, filter i likes its own best.
    mine = own_means(shipped.model, 2, drawn["conv2"][0])
    for f in FILTERS:
        assert np.argmax(mine[:, f]) == f


def test_shape_range_progress_and_time(drawn):
    for layer in ("conv1", "conv2"):
        images, seconds, calls = drawn[layer]
        assert images.shape == (64, 28, 28) and images.dtype == np.float32
        assert images.min() >= 0 and images.max() <= 1
        steps = portraits_module.DEFAULT_STEPS
        assert calls[-1] == (steps, steps) and len(calls) >= 5
        assert [done for done, _ in calls] == sorted({done for done, _ in calls})
    # conv1 filters may share a portrait (all white suits any with a positive sum); conv2's all differ.
    assert len({image.tobytes() for image in drawn["conv2"][0]}) == 64
    assert drawn["conv2"][1] < 20, f"all 64 conv2 portraits took {drawn['conv2'][1]:.1f} s"


def test_unknown_or_non_conv_layer_names_the_conv_layers(shipped, tmp_path):
    for name in ("pool1", "hidden", "conv3"):
        with pytest.raises(ValueError, match=f"'{name}' is not a conv layer.*conv1, conv2"):
            portraits(shipped.model, name, steps=1)
        with pytest.raises(ValueError, match="conv1, conv2"):
            PortraitCache(tmp_path).load_or_make(shipped, name)
    with pytest.raises(ValueError, match="no conv layers"):
        portraits(build(PRESETS["dense"]), "conv1", steps=1)
    assert files_under(tmp_path) == []


def test_bad_settings_are_refused():
    model = build(TINY_CONV)
    for steps in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="steps"):
            portraits(model, "conv1", steps=steps)
    with pytest.raises(ValueError, match="learning_rate"):
        PortraitCache(learning_rate=0)


def test_nan_weights_are_refused_before_any_work(tmp_path, counted, monkeypatch):
    stored = tiny()
    kernel, bias = stored.model.get_layer("conv1").get_weights()
    kernel[0, 0, 0, 2] = np.nan
    stored.model.get_layer("conv1").set_weights([kernel, bias])

    def no_work(*args):
        raise AssertionError("the climb was compiled for a model with NaN weights")

    monkeypatch.setattr(portraits_module, "_compiled", no_work)
    with pytest.raises(ValueError, match="has NaN weights"):
        portraits(stored.model, "conv1")
    with pytest.raises(ValueError, match="The conv model has NaN weights"):
        PortraitCache(tmp_path).load_or_make(stored, "conv1")
    assert counted == [] and files_under(tmp_path) == []


# -- the cache ---------------------------------------------------------------------------------
def test_cached_portraits_are_reused_and_nothing_is_pickled(tmp_path, counted):
    stored = tiny()
    first, note = PortraitCache(tmp_path, steps=QUICK).load_or_make(stored, "conv1")
    assert note is None and first.shape == (4, 28, 28) and counted == ["conv1"]
    path = PortraitCache(tmp_path).path(stored, "conv1")
    assert path == tmp_path / "portraits" / f"conv-{TINY_CONV.key()}-conv1.npz"
    # A new cache (a restarted app) finds them on disk: the same array, no climb.
    again, note = PortraitCache(tmp_path, steps=QUICK).load_or_make(stored, "conv1")
    assert note is None and counted == ["conv1"]
    np.testing.assert_array_equal(again, first)
    with np.load(path, allow_pickle=False) as data:
        assert sorted(data.files) == ["model_sha256", "portraits", "settings"]
        assert all(data[name].dtype.kind != "O" for name in data.files)
        assert str(data["model_sha256"]) == CHECKSUM
    assert files_under(tmp_path) == [f"portraits/{path.name}"]  # no temp files left behind


def test_another_checksum_or_other_settings_draw_again(tmp_path, counted):
    stored = tiny()
    cache = PortraitCache(tmp_path, steps=QUICK)
    cache.load_or_make(stored, "conv1")
    stored.meta["model_sha256"] = "b" * 64  # the model was retrained and saved again
    cache.load_or_make(stored, "conv1")
    assert len(counted) == 2
    with np.load(cache.path(stored, "conv1"), allow_pickle=False) as data:
        assert str(data["model_sha256"]) == "b" * 64
    PortraitCache(tmp_path, steps=QUICK + 1).load_or_make(stored, "conv1")
    PortraitCache(tmp_path, steps=QUICK, seed=1).load_or_make(stored, "conv1")
    assert len(counted) == 4


@pytest.mark.parametrize("damage", ["truncated", "pickled", "wrong shape"])
def test_a_corrupt_file_is_set_aside_and_drawn_again(tmp_path, counted, damage):
    stored = tiny()
    cache = PortraitCache(tmp_path, steps=QUICK)
    good, _ = cache.load_or_make(stored, "conv1")
    path = cache.path(stored, "conv1")
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:300])
    elif damage == "pickled":
        np.savez(path, portraits=np.array([good], dtype=object), model_sha256=CHECKSUM, settings="{}")
    else:
        np.savez(path, portraits=good[:2], model_sha256=CHECKSUM, settings="{}")
    broken = path.read_bytes()
    again, note = PortraitCache(tmp_path, steps=QUICK).load_or_make(stored, "conv1")
    [moved] = (tmp_path / "corrupt").iterdir()
    assert moved.read_bytes() == broken and moved.name.startswith(path.stem) and moved.suffix == ".npz"
    assert note.startswith(f"The saved portraits {path.name} were unreadable (")
    assert note.endswith(f"it was moved to corrupt/{moved.name}, and the portraits were drawn again.")
    assert "Traceback" not in note and len(counted) == 2
    assert again.shape == good.shape
    with np.load(path, allow_pickle=False) as data:  # the rebuilt file is whole again
        np.testing.assert_array_equal(data["portraits"], again)
    assert files_under(tmp_path) == [f"corrupt/{moved.name}", f"portraits/{path.name}"]


def test_a_read_only_folder_keeps_the_portraits_in_memory(tmp_path, counted):
    blocker = tmp_path / "a-file"
    blocker.write_text("models/ can't be created under a file")
    stored = tiny()
    cache = PortraitCache(blocker / "models", steps=QUICK)
    first, note = cache.load_or_make(stored, "conv1")
    assert first.shape == (4, 28, 28)
    assert note.startswith("Can't save the portraits to") and note.endswith("kept in memory until the app stops.")
    again, same_note = cache.load_or_make(stored, "conv1")
    assert again is first and same_note == note and len(counted) == 1


def test_a_failed_rename_leaves_no_file(tmp_path, counted, monkeypatch):
    def refuse(source, target):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(store_module.os, "replace", refuse)
    images, note = PortraitCache(tmp_path, steps=QUICK).load_or_make(tiny(), "conv1")
    assert images.shape == (4, 28, 28) and "Permission denied" in note
    assert files_under(tmp_path) == []


def test_an_unsaved_model_is_drawn_once_and_kept_in_memory(tmp_path, counted):
    stored = tiny(checksum=None)
    cache = PortraitCache(tmp_path, steps=QUICK)
    first, note = cache.load_or_make(stored, "conv1")
    again, _ = cache.load_or_make(stored, "conv1")
    assert "isn't saved" in note and again is first and len(counted) == 1
    assert files_under(tmp_path) == []


def test_two_threads_draw_once(tmp_path, counted):
    stored = tiny()
    cache = PortraitCache(tmp_path, steps=QUICK)
    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.load_or_make(stored, "conv1"))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == 2 and len(counted) == 1
    np.testing.assert_array_equal(results[0][0], results[1][0])
