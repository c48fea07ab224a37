"""What the caches beside the models share: results computed from a model, kept on disk by its checksum.

A filter's portraits, a model's invariance to shifts and its answers on the whole test set
(``testset.py``) cost seconds to compute and depend only on the model's weights, so each is saved
beside the models (``<root>/<folder>/``) with the model's checksum and reused only for the same
weights. ``SideCache`` holds what they need: a lock per file (two sessions asking at once compute
once), results kept in memory when they can't be saved (a read-only folder, an unsaved model) with
a sentence saying so, and unreadable files set aside in ``<root>/corrupt/`` like the store's. A
subclass reads and writes its own kind of file (``_write``) and names it for people (``what``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from .store import StoredModel, _write_atomically, default_root


class SideCache:
    what = "results"  # how the page's sentences name them: "the portraits", "the invariance results"
    again = "they were computed again"  # what happened instead of reading them

    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root is not None else default_root()
        # path -> (model, checksum, result, note) of results that could not be saved
        self._memory: dict[Path, tuple[object, str | None, object, str | None]] = {}
        self._guard = threading.Lock()
        self._path_locks: dict[Path, threading.Lock] = {}

    def _lock_for(self, path: Path) -> threading.Lock:
        with self._guard:
            return self._path_locks.setdefault(path, threading.Lock())

    def _remembered(self, path: Path, stored: StoredModel, checksum: str | None) -> tuple[object, str | None] | None:
        """(result, note) kept in memory for this very model and checksum, else None."""
        model, remembered_checksum, result, note = self._memory.get(path, (None, None, None, None))
        return (result, note) if model is stored.model and remembered_checksum == checksum else None

    def _keep(self, path: Path, stored: StoredModel, checksum: str | None, made, problem: str | None):
        """Save a result just computed, or keep it in memory saying why not; (result, note for the page)."""
        if checksum is None:
            unsaved = f"The {stored.spec.kind} model isn't saved, so its {self.what} are kept in memory only."
        else:
            unsaved = self._save(path, checksum, made)
        note = " ".join(sentence for sentence in (problem, unsaved) if sentence) or None
        if unsaved:
            self._memory[path] = (stored.model, checksum, made, note)
        return made, note

    def _save(self, path: Path, checksum: str, made) -> str | None:
        """Write the result atomically; a sentence saying why it couldn't be, or None."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(path, lambda temp: self._write(temp, checksum, made))
        except OSError as error:
            return (
                f"Can't save the {self.what} to {path.parent} ({error.strerror or error}); "
                "they are kept in memory until the app stops."
            )
        return None

    def _write(self, temp: Path, checksum: str, made) -> None:
        raise NotImplementedError

    def _read(self, path: Path, parse: Callable[[Path], object]):
        """``parse(path)``'s result (None when the file holds another model's), and a sentence if the file
        was unusable, whatever was wrong with it: then it is set aside."""
        try:
            return parse(path), None
        except (FileNotFoundError, NotADirectoryError):  # nothing saved yet (or no folder to save in)
            return None, None
        except Exception as error:  # whatever is wrong with the file, it is the same: set aside, compute again
            where = self._set_aside(path)
            return None, (
                f"The saved {self.what} {path.name} were unreadable ({type(error).__name__}: {error}); "
                f"{where}, and {self.again}."
            )

    def _set_aside(self, path: Path) -> str:
        """Move an unusable file into ``<root>/corrupt/``, kept for a look but never read; say where it went."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        target = self.root / "corrupt" / f"{path.stem}.{stamp}{path.suffix}"
        try:
            target.parent.mkdir(exist_ok=True)
            os.replace(path, target)
        except OSError as error:
            return f"it could not be moved ({error.strerror or error}) and is ignored"
        return f"it was moved to {target.relative_to(self.root)}"
