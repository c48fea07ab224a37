"""The tour's steps kept beside the lesson's models, so a server started again opens the tour at once.

``lesson_tour`` measures filters in the conv model: half a second of TensorFlow once the test
set's maxima are at hand, which a fresh server's background work reaches only after the test set
and the explainers' traces. A teacher who starts the server and opens the tour waited for all of
it. The steps depend only on the two models' weights, the test images and the code that measures
and words them, so ``TourCache`` saves them as JSON (``<root>/tour/<conv model's stem>.json``)
under a key made of all four, and reads them back only for the same key: a model trained again,
another test set or a changed ``tour.py`` measures again.

Steps read back are the steps computed once through JSON (tuples become lists, NumPy numbers
plain ones), and the cache hands out that form whether it computed or read them, so a page never
sees two versions of one tour.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from . import filtermeasures, tour
from .data import Split
from .sidecache import SideCache
from .store import StoredModel, file_stem
from .testset import fingerprint
from .tour import Step

FORMAT_VERSION = 1  # raise it when the file's layout changes
WORDING = (tour.__file__, filtermeasures.__file__)  # the code that measures and words the steps


def code_digest() -> str:
    """A checksum of the tour's code: steps saved by other code are measured and worded again."""
    digest = hashlib.sha256()
    for path in WORDING:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def as_json(steps: list[Step]) -> list[dict]:
    """The steps as JSON's plain values (NumPy numbers as Python's)."""
    return json.loads(json.dumps([asdict(step) for step in steps], default=_plain))


def _plain(value):
    if hasattr(value, "tolist"):  # a NumPy number or array (an array has .item() too, which would raise)
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not a tour fact JSON can hold")


def from_json(data: list) -> list[Step]:
    """Steps from ``as_json``'s form; ValueError if ``data`` isn't a list of steps."""
    if not isinstance(data, list) or not data or not all(isinstance(item, dict) for item in data):
        raise ValueError("it isn't a list of steps")
    try:
        return [Step(**item) for item in data]
    except TypeError as error:  # a missing or unknown field
        raise ValueError(f"a step doesn't fit: {error}") from error


class TourCache(SideCache):
    """The lesson tour on disk beside the conv model; shared between threads."""

    what = "tour steps"
    again = "the filters were measured again"

    def path(self, conv: StoredModel) -> Path:
        return self.root / "tour" / f"{file_stem(conv.spec)}.json"

    def key(self, conv: StoredModel, dense: StoredModel, split: Split) -> str | None:
        """What the steps depend on, as one checksum; None when a model isn't saved (no checksum to go by)."""
        checksums = [model.meta.get("model_sha256") for model in (conv, dense)]
        if None in checksums:
            return None
        parts = [str(FORMAT_VERSION), *checksums, fingerprint(split), code_digest()]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()

    def get(
        self, conv: StoredModel, dense: StoredModel, split: Split, measure: Callable[[], list[Step]]
    ) -> tuple[list[Step], str | None]:
        """The tour for these models and test images, read from the file when it holds theirs, else
        ``measure()``'s steps, saved; and a sentence for the page when something went wrong with the
        file (else None)."""
        path, key = self.path(conv), self.key(conv, dense, split)
        with self._lock_for(path):  # two sessions asking at once measure once
            remembered = self._remembered(path, conv, key)
            if remembered is not None:
                return remembered
            problem = None
            if key is not None:
                found, problem = self._read(path, lambda at: self._matching(at.read_bytes(), key))
                if found is not None:
                    return found, None
            steps = from_json(as_json(measure()))
            return self._keep(path, conv, key, steps, problem)

    def _matching(self, data: bytes, key: str) -> list[Step] | None:
        """The steps saved in ``data`` if they were saved under ``key``, else None; ValueError (or JSON's
        own errors) if ``data`` isn't a saved tour at all."""
        saved = json.loads(data)
        if not isinstance(saved, dict) or set(saved) != {"format", "key", "steps"}:
            raise ValueError("it isn't an object with the keys format, key and steps")
        if saved["format"] != FORMAT_VERSION or saved["key"] != key:
            return None  # other models', other images' or other code's: measured again and overwritten
        return from_json(saved["steps"])

    def _write(self, temp: Path, key: str, steps: list[Step]) -> None:
        temp.write_text(json.dumps({"format": FORMAT_VERSION, "key": key, "steps": as_json(steps)}, indent=1))
