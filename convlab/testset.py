"""What the views need over all 10,000 test images, computed once per model and kept beside it.

The filter finder and the portraits rank every test image by how strongly it excites a filter
(the maximum of each feature map), the tour takes each filter's typical response from the same
numbers, and the predictions view shows every test image's class probabilities and the confusion
counts they make. ``compute`` gets all of it in one batched pass: one Keras model whose outputs
are every feature layer's maps reduced to their maxima inside the graph (global max pooling, so
only a few numbers per image leave TensorFlow) and the class probabilities. It runs on a copy of
the model (``keras.models.clone_model``, the weights copied under the model's lock), so no session
waits for the model while the test set goes through: Keras models aren't thread-safe.

``TestSetCache`` keeps the result beside the models (``<root>/testset/<stem>.npz``) with the
model's checksum and a fingerprint of the test images, so it is reused only for the same weights
and images; a process reads a file once and keeps it in memory. ``start`` does the work in a
background thread (the app starts it once the first page is drawn) and ``get`` waits for that
same work, never a second computation; a file that can't be used is set aside in ``corrupt/``
like the other side caches (``sidecache.py``) and computed again.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import background
from .activations import feature_layers
from .data import Split
from .explain import confusion_matrix
from .sidecache import SideCache
from .store import StoredModel, file_stem
from .timing import timed

FORMAT_VERSION = 1  # raise it when what is computed changes, so old files are computed again
DEFAULT_BATCH = 500  # images a forward pass: the fastest on 2 cores (1,000 no faster, 2,000 slower)
WAIT_POLL = 0.1  # seconds between progress calls while waiting for the background work
HELD = 8  # models whose results a process keeps in memory (10 MB each for the lesson's conv model)

Progress = Callable[[float], None]  # the share done, 0 to 1


@dataclass(frozen=True)
class TestResults:
    """One model's answers on every test image."""

    __test__ = False  # a name pytest would otherwise collect

    maxima: dict[str, np.ndarray]  # feature layer -> (images, filters) float32: each map's maximum
    probabilities: np.ndarray  # (images, classes) float32: the softmax output
    confusion: np.ndarray  # (classes, classes) int64: counts[true, predicted]

    @property
    def predictions(self) -> np.ndarray:
        """(images,) the predicted class of each test image."""
        return self.probabilities.argmax(axis=1)


def compute(
    model,
    split: Split,
    batch_size: int = DEFAULT_BATCH,
    lock: threading.Lock | None = None,
    progress: Progress | None = None,
) -> TestResults:
    """``model``'s maxima, probabilities and confusion counts on ``split``, in one batched pass of a copy
    of it. ``lock`` (say ``StoredModel.lock``) is held only while the weights are copied. Called in the
    background, run it under ``background.heavy``."""
    import keras

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number of at least 1, not {batch_size!r}")
    with lock if lock is not None else contextlib.nullcontext():
        copy = keras.models.clone_model(model)
        copy.set_weights(model.get_weights())
    layers = feature_layers(copy)
    pooled = [keras.layers.GlobalMaxPooling2D()(layer.output) for layer in layers]
    passes = keras.Model(inputs=copy.inputs[0], outputs=pooled + list(copy.outputs))
    images = np.asarray(split.images, dtype=np.float32)
    parts: list[list[np.ndarray]] = [[] for _ in range(len(layers) + 1)]
    for first in range(0, len(images), batch_size):
        background.check()  # the process is exiting: stop between batches, never inside TensorFlow
        # One compiled call per batch: no tf.data pipeline as predict() builds.
        outputs = passes.predict_on_batch(images[first : first + batch_size])
        for part, output in zip(parts, outputs if isinstance(outputs, (list, tuple)) else [outputs]):
            part.append(np.asarray(output, dtype=np.float32))
        if progress is not None:
            progress(min(first + batch_size, len(images)) / len(images))
    probabilities = np.concatenate(parts[-1])
    return TestResults(
        maxima={layer.name: np.concatenate(part) for layer, part in zip(layers, parts)},
        probabilities=probabilities,
        confusion=confusion_matrix(split.labels, probabilities.argmax(axis=1), probabilities.shape[1]),
    )


_fingerprints: dict[int, tuple[np.ndarray, str]] = {}  # id(images) -> (those images, their fingerprint)
FINGERPRINTS_HELD = 4  # test sets whose fingerprints a process keeps (the app has one; tests make a few)
_fingerprints_guard = threading.Lock()


def fingerprint(split: Split) -> str:
    """A checksum of the images and labels: results are reused only for the very same test set. Computed once
    per test set a process holds (a few hundredths of a second), whoever asks first."""
    with _fingerprints_guard:
        images, value = _fingerprints.get(id(split.images), (None, None))
        if images is not split.images:
            digest = hashlib.sha256(np.ascontiguousarray(split.images, dtype=np.float32).tobytes())
            digest.update(np.ascontiguousarray(split.labels, dtype=np.int64).tobytes())
            value = digest.hexdigest()
            _fingerprints[id(split.images)] = (split.images, value)
            while len(_fingerprints) > FINGERPRINTS_HELD:  # the oldest first: dicts keep their order
                del _fingerprints[next(iter(_fingerprints))]
        return value


class _Work:
    """One computation (or one read of the file) under way in a background thread."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.fraction = 0.0  # of the pass over the test set (a read stays at 0 for its hundredth of a second)
        self.error: BaseException | None = None


class TestSetCache(SideCache):
    """Test-set results on disk beside the models, one ``.npz`` per model file; shared between threads."""

    __test__ = False  # a name pytest would otherwise collect

    what = "test-set results"
    again = "the test images were run through the model again"

    def __init__(self, root: Path | str | None = None, batch_size: int = DEFAULT_BATCH):
        super().__init__(root)
        self.batch_size = batch_size
        self.computations = 0  # passes over a test set so far (reads of a file don't count): a fresh server's is 0
        # path -> (model, checksum, test set's fingerprint, results, note): what this process holds
        self._held: dict[Path, tuple[object, str | None, str, TestResults, str | None]] = {}
        self._work: dict[Path, _Work] = {}

    def path(self, stored: StoredModel) -> Path:
        return self.root / "testset" / f"{file_stem(stored.spec)}.npz"

    def peek(self, stored: StoredModel, split: Split) -> tuple[TestResults, str | None] | None:
        """(results, note) if this process holds them for this model and test set already; never waits."""
        return self._holding(self.path(stored), stored, fingerprint(split))

    def _holding(self, path: Path, stored: StoredModel, printed: str) -> tuple[TestResults, str | None] | None:
        model, checksum, held_print, results, note = self._held.get(path, (None, None, None, None, None))
        same = model is stored.model and checksum == stored.meta.get("model_sha256") and held_print == printed
        return (results, note) if same else None

    def start(self, stored: StoredModel, split: Split) -> _Work:
        """The work that brings this model's results on ``split`` into memory (read, or computed and saved),
        started in a daemon thread (``convlab.background``) unless it is under way or done: one computation
        however many ask."""
        path, printed = self.path(stored), fingerprint(split)
        with self._guard:
            work = self._work.get(path)
            if work is not None and (not work.done.is_set() or self._holding(path, stored, printed) is not None):
                return work
            work = self._work[path] = _Work()
        background.start(self._run, work, stored, split, name=f"convlab-testset-{path.stem}")
        return work

    def get(
        self, stored: StoredModel, split: Split, progress: Progress | None = None
    ) -> tuple[TestResults, str | None]:
        """This model's results on ``split`` and a sentence for the page if its file was unusable (else None):
        held, read from the file, or computed and saved. Work under way (the background's) is waited for, not
        repeated; ``progress(share done)`` is called meanwhile, from the caller's thread."""
        while True:
            ready = self.peek(stored, split)
            if ready is not None:
                return ready
            work = self.start(stored, split)
            while not work.done.wait(WAIT_POLL):
                if progress is not None:
                    progress(work.fraction)
            if work.error is not None:
                raise work.error
            # Held now, unless that work was for another model under the same name: then once more.

    def _run(self, work: _Work, stored: StoredModel, split: Split) -> None:
        try:
            self._load_or_compute(stored, split, work)
        except BaseException as error:  # noqa: BLE001 - handed to whoever waits; the next ask tries again
            work.error = error
        finally:
            work.done.set()

    def _load_or_compute(self, stored: StoredModel, split: Split, work: _Work) -> None:
        checksum, path, printed = stored.meta.get("model_sha256"), self.path(stored), fingerprint(split)
        layers = {layer.name: layer.output.shape[-1] for layer in feature_layers(stored.model)}
        problem = None
        if checksum is not None:
            with timed(f"testset read {path.stem}"):
                found, problem = self._read(path, lambda at: self._parse(at, checksum, printed, layers, split))
            if found is not None:
                self._hold(path, (stored.model, checksum, printed, found, None))
                return
        with background.heavy, timed(f"testset compute {path.stem}"):  # one background pass of TensorFlow at a time
            results = compute(
                stored.model,
                split,
                self.batch_size,
                stored.lock,
                progress=lambda share: setattr(work, "fraction", share),
            )
        self.computations += 1
        if checksum is None:
            unsaved = f"The {stored.spec.kind} model isn't saved, so its {self.what} are kept in memory only."
        else:
            unsaved = self._save(path, checksum, (results, printed))
        note = " ".join(sentence for sentence in (problem, unsaved) if sentence) or None
        self._hold(path, (stored.model, checksum, printed, results, note))

    def _hold(self, path: Path, held: tuple) -> None:
        with self._guard:  # the newest last; the oldest forgotten beyond HELD (read again when asked)
            self._held.pop(path, None)
            self._held[path] = held
            while len(self._held) > HELD:
                self._held.pop(next(iter(self._held)))

    def _parse(
        self, path: Path, checksum: str, printed: str, layers: dict[str, int], split: Split
    ) -> TestResults | None:
        """The saved results if they are this model's on this test set, else None; an error if the file
        isn't a whole, consistent one of this cache's (``SideCache._read`` sets it aside)."""
        with np.load(path, allow_pickle=False) as data:
            saved = {name: np.array(data[name]) for name in data.files}
        if (
            int(saved["format"]) != FORMAT_VERSION
            or str(saved["model_sha256"]) != checksum
            or str(saved["images_sha256"]) != printed
        ):
            return None  # another model's, another test set's or an older format's: computed again, overwritten
        names = [str(name) for name in saved["layers"]]
        if names != list(layers):
            raise ValueError(f"it holds the layers {names}, not this model's {list(layers)}")
        count = len(split.labels)
        maxima = {name: saved[f"maxima_{index}"] for index, name in enumerate(names)}
        for name, values in maxima.items():
            if values.shape != (count, layers[name]) or values.dtype != np.float32:
                raise ValueError(
                    f"its {name} maxima are {values.dtype} {values.shape}, not float32 {count}×{layers[name]}"
                )
        probabilities, confusion = saved["probabilities"], saved["confusion"]
        if (
            probabilities.ndim != 2
            or len(probabilities) != count
            or probabilities.dtype != np.float32
            or (probabilities < 0).any()
            or (probabilities > 1).any()
        ):
            raise ValueError(
                f"its probabilities are {probabilities.dtype} {probabilities.shape}, not {count} rows "
                "of float32 numbers from 0 to 1"
            )
        if not np.array_equal(
            confusion, confusion_matrix(split.labels, probabilities.argmax(axis=1), probabilities.shape[1])
        ):
            raise ValueError("its confusion counts aren't its probabilities' (or its test set's labels)")
        return TestResults(maxima=maxima, probabilities=probabilities, confusion=confusion.astype(np.int64))

    def _write(self, temp: Path, checksum: str, made: tuple[TestResults, str]) -> None:
        """Plain arrays and 0-d strings, so the file loads with allow_pickle=False; uncompressed (10 MB for the
        lesson's conv model), so a fresh server reads it in milliseconds."""
        results, printed = made
        names = list(results.maxima)
        np.savez(
            temp,
            format=np.array(FORMAT_VERSION),
            model_sha256=np.array(checksum),
            images_sha256=np.array(printed),
            layers=np.array(names, dtype=np.str_),
            probabilities=results.probabilities,
            confusion=results.confusion,
            **{f"maxima_{index}": results.maxima[name] for index, name in enumerate(names)},
        )
