"""How well a model copes with moved pictures: test accuracy against shift and rotation.

``measure`` runs every test image through the model once per transform of a grid (shifts of
-6..6 pixels along x and along y, turns of -45..45 degrees) and records the accuracy of each,
so the page can draw three curves that meet at the model's own test accuracy (the unmoved
images, measured once for all three). It works a batch of images at a time, holding only one
moved batch in memory, and reports progress after each batch of each transform.

``InvarianceCache`` keeps the result beside the models (``<root>/invariance/<stem>.json``,
plain JSON) with the model's checksum and the grid, so it is reused only for the same weights
and grid. It writes atomically, sets an unreadable file aside in ``corrupt/`` like the store
and the portraits, and keeps the result in memory when the folder is read-only.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from . import transforms
from .data import IMAGE_SIZE, Split
from .sidecache import SideCache
from .store import StoredModel, file_stem
from .transforms import ROTATE_LIMIT, SHIFT_LIMIT, Transform

FORMAT_VERSION = 1  # raise it when the measurement changes (say the resampling), so old files are redone
SHIFTS = tuple(range(-SHIFT_LIMIT, SHIFT_LIMIT + 1))
ANGLE_STEP = 5.0  # degrees, 19 angles: the conv model's whole chart takes 16-24 s on 2 cores
_TURNS = round(ROTATE_LIMIT / ANGLE_STEP)  # steps either way
ANGLES = tuple(ANGLE_STEP * k for k in range(-_TURNS, _TURNS + 1))
DEFAULT_BATCH = 2000  # images per forward pass: big enough to keep both cores busy, small enough for memory

# Each curve of a result, and the grid it is drawn over.
CURVES = {"accuracy_shift_x": "shifts", "accuracy_shift_y": "shifts", "accuracy_rotate": "angles"}

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Invariance:
    """Test accuracy of one model on moved images: one value per shift (each axis) and per angle."""

    shifts: tuple[int, ...]
    accuracy_shift_x: tuple[float, ...]  # one per shift, moving the images horizontally
    accuracy_shift_y: tuple[float, ...]  # one per shift, moving them vertically
    angles: tuple[float, ...]
    accuracy_rotate: tuple[float, ...]  # one per angle
    images: int  # how many test images each value is measured on
    seconds: float  # how long the measurement took

    def __post_init__(self) -> None:
        shifts, angles = tuple(self.shifts), tuple(self.angles)
        check_grid(shifts, angles)
        # Lists from JSON become tuples of plain numbers, so equal results compare equal.
        object.__setattr__(self, "shifts", tuple(int(shift) for shift in shifts))
        object.__setattr__(self, "angles", tuple(float(angle) for angle in angles))
        for name, axis in CURVES.items():
            object.__setattr__(self, name, _accuracies(name, getattr(self, name), len(getattr(self, axis))))
        if isinstance(self.images, bool) or not isinstance(self.images, int) or self.images < 1:
            raise ValueError(f"images must be a whole number of at least 1, not {self.images!r}")
        seconds = self.seconds
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds < math.inf:
            raise ValueError(f"seconds must be a number of at least 0, not {self.seconds!r}")
        # The unmoved images are measured once: all three curves must meet there.
        at_zero = (self.accuracy_shift_y[self.shifts.index(0)], self.accuracy_rotate[self.angles.index(0)])
        if at_zero != (self.accuracy, self.accuracy):
            raise ValueError("the three curves must meet at shift 0 and angle 0: the unmoved images' accuracy")

    @property
    def accuracy(self) -> float:
        """The accuracy on the unmoved images: the model's own test accuracy."""
        return self.accuracy_shift_x[self.shifts.index(0)]

    def to_dict(self) -> dict:
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, data) -> Invariance:
        """The result ``to_dict`` gave; ValueError naming what is wrong if ``data`` isn't one."""
        expected = {field.name for field in fields(cls)}
        if not isinstance(data, dict) or set(data) != expected:
            found = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"an invariance result needs exactly the keys {sorted(expected)}, not {found}")
        try:
            return cls(**data)
        except TypeError as error:  # say a number where a list belongs
            raise ValueError(f"an invariance result holds a value of the wrong type: {error}") from error


def _accuracies(name: str, values: tuple, count: int) -> tuple[float, ...]:
    """``values`` as a tuple of floats, if there are ``count`` of them, each from 0 to 1; else ValueError."""
    values = tuple(values)
    if len(values) != count:
        raise ValueError(f"{name} needs one accuracy per grid point ({count}), not {len(values)}")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ValueError(f"{name} must hold accuracies from 0 to 1, not {value!r}")
    return tuple(float(value) for value in values)


def check_grid(shifts, angles) -> None:
    """ValueError unless both stay within the transforms' limits, include 0 and increase."""
    for shift in shifts:
        Transform(shift_x=shift)  # raises ValueError naming the allowed range
    for angle in angles:
        Transform(rotate=angle)
    for name, values in (("shifts", shifts), ("angles", angles)):
        if 0 not in values:
            raise ValueError(f"{name} must include 0, where the three curves meet at the unmoved images' accuracy")
        if any(not a < b for a, b in zip(values, values[1:])):
            raise ValueError(f"{name} must be in increasing order without repeats, not {list(values)}")


def grid(shifts=SHIFTS, angles=ANGLES) -> list[Transform]:
    """Every transform to measure, each once: the unmoved images first, then x and y shifts, then turns."""
    check_grid(shifts, angles)
    moves = [Transform()]
    moves += [Transform(shift_x=shift) for shift in shifts] + [Transform(shift_y=shift) for shift in shifts]
    moves += [Transform(rotate=angle) for angle in angles]
    return list(dict.fromkeys(moves))  # equal transforms (the three zeros) collapse into one


def measure(
    model,
    images: np.ndarray,
    labels: np.ndarray,
    progress: Progress | None = None,
    batch_size: int = DEFAULT_BATCH,
    *,
    lock: threading.Lock | None = None,
    shifts: tuple[int, ...] = SHIFTS,
    angles: tuple[float, ...] = ANGLES,
) -> Invariance:
    """The accuracy of the Keras ``model`` on ``images`` moved by every transform of the grid.

    ``images`` are (n, 28, 28[, 1]) float32 in [0, 1] and ``labels`` their n classes. ``lock``
    (say ``StoredModel.lock``) is held for each forward pass only, and ``progress(done, total)``
    is called after each batch of each transform.
    """
    images, labels = _checked_data(images, labels)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number of at least 1, not {batch_size!r}")
    moves = grid(shifts, angles)
    guard = lock if lock is not None else contextlib.nullcontext()
    start = time.perf_counter()
    correct = dict.fromkeys(moves, 0)
    starts = range(0, len(images), batch_size)
    total, done = len(starts) * len(moves), 0
    for first in starts:
        batch, truth = images[first : first + batch_size], labels[first : first + batch_size]
        for move in moves:
            moved = transforms.apply(batch, move)[..., np.newaxis]
            with guard:
                # One compiled call per batch: no tf.data pipeline per call as predict() builds.
                scores = np.asarray(model.predict_on_batch(moved))
            correct[move] += int(np.count_nonzero(scores.argmax(axis=1) == truth))
            done += 1
            if progress is not None:
                progress(done, total)
    accuracy = {move: count / len(images) for move, count in correct.items()}
    return Invariance(
        shifts=tuple(shifts),
        accuracy_shift_x=tuple(accuracy[Transform(shift_x=shift)] for shift in shifts),
        accuracy_shift_y=tuple(accuracy[Transform(shift_y=shift)] for shift in shifts),
        angles=tuple(float(angle) for angle in angles),
        accuracy_rotate=tuple(accuracy[Transform(rotate=angle)] for angle in angles),
        images=len(images),
        seconds=time.perf_counter() - start,
    )


def _checked_data(images, labels) -> tuple[np.ndarray, np.ndarray]:
    """(n, 28, 28) float32 images and (n,) labels; ValueError saying what shape is needed."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE) or len(images) == 0:
        raise ValueError(f"images must have shape (n, 28, 28) or (n, 28, 28, 1) with n >= 1, not {images.shape}")
    labels = np.asarray(labels)
    if labels.shape != (len(images),) or labels.dtype.kind not in "iu":
        found = f"{labels.dtype} {labels.shape}"
        raise ValueError(f"labels must be {len(images)} whole numbers, one per image, not {found}")
    return images, labels


class InvarianceCache(SideCache):
    """Invariance results on disk beside the models, one ``.json`` per model file; shared between threads."""

    what = "invariance results"
    again = "the model was measured again"

    def __init__(
        self,
        root: Path | str | None = None,
        shifts: tuple[int, ...] = SHIFTS,
        angles: tuple[float, ...] = ANGLES,
        batch_size: int = DEFAULT_BATCH,
    ):
        check_grid(shifts, angles)
        super().__init__(root)
        self.shifts, self.angles = tuple(shifts), tuple(float(angle) for angle in angles)
        self.batch_size = batch_size

    def path(self, stored: StoredModel) -> Path:
        return self.root / "invariance" / f"{file_stem(stored.spec)}.json"

    def peek(self, stored: StoredModel) -> Invariance | None:
        """The result for this model and grid if one is at hand (whatever number of images it was
        measured on), without measuring or moving anything; None otherwise."""
        checksum = stored.meta.get("model_sha256")
        remembered = self._remembered(self.path(stored), stored, checksum)
        if remembered is not None:
            return remembered[0]
        if checksum is None:
            return None
        try:
            return self._matching(self.path(stored).read_bytes(), checksum)
        except Exception:  # missing or unreadable: load_or_measure will say so and measure again
            return None

    def load_or_measure(
        self, stored: StoredModel, split: Split, progress: Progress | None = None
    ) -> tuple[Invariance, str | None]:
        """The model's invariance on ``split``, from the cache if it holds this model's for this grid and
        as many images, else measured and saved; and a sentence for the page when something went wrong
        with the file, else None."""
        checksum = stored.meta.get("model_sha256")
        path = self.path(stored)
        with self._lock_for(path):  # two sessions asking for the same model measure it once
            remembered = self._remembered(path, stored, checksum)
            if remembered is not None and remembered[0].images == len(split):
                return remembered
            problem = None
            if checksum is not None:
                found, problem = self._read(path, lambda at: self._matching(at.read_bytes(), checksum))
                if found is not None and found.images == len(split):
                    return found, None
            result = measure(
                stored.model,
                split.images,
                split.labels,
                progress,
                self.batch_size,
                lock=stored.lock,
                shifts=self.shifts,
                angles=self.angles,
            )
            return self._keep(path, stored, checksum, result, problem)

    def _matching(self, data: bytes, checksum: str) -> Invariance | None:
        """The result saved in ``data`` if it is this model's for this grid, else None; ValueError (or
        JSON's own errors) if ``data`` isn't a saved result at all."""
        saved = json.loads(data)
        if not isinstance(saved, dict) or set(saved) != {"format", "model_sha256", "invariance"}:
            raise ValueError("it isn't an object with the keys format, model_sha256 and invariance")
        if saved["format"] != FORMAT_VERSION or saved["model_sha256"] != checksum:
            return None  # another model's or an older measurement: measured again and overwritten
        result = Invariance.from_dict(saved["invariance"])
        return result if (result.shifts, result.angles) == (self.shifts, self.angles) else None

    def _write(self, temp: Path, checksum: str, result: Invariance) -> None:
        content = {"format": FORMAT_VERSION, "model_sha256": checksum, "invariance": result.to_dict()}
        temp.write_text(json.dumps(content, indent=1))
