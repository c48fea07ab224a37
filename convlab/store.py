"""The ``models/`` cache: one ``.keras`` file and one JSON of metadata per spec.

Files are named ``<kind>-<spec key>``, so a file can only ever hold the model of its exact
spec. Everything here is built to survive real use:

* writes go to a temp file that is renamed into place, so a crash or SIGKILL never leaves a
  half-written model under a real name (stale temp files of dead processes are swept);
* two threads or processes asking for the same untrained spec train it once (a lock per
  spec, held across the check, the training and the save); the lock file lives in the
  models folder itself, so app servers sharing one folder share the rule too;
* a run trained elsewhere (the worker process's fallback, a Ray node) is ``adopt``-ed: its
  files are copied in with the same atomic writes and checked before anything lists them;
* a run's files are set aside in ``models/corrupt/`` (and the spec trained again) only when they
  fail a check that depends on the files alone: the metadata parses and names the spec, the
  ``.keras`` zip is whole and its config names the spec's layers, the weights have the spec's
  shapes, and the file matches the checksum recorded when it was saved. Any other error while
  loading (an import, memory, TensorFlow's runtime) leaves the files where they are, raises
  ``ModelUnavailable`` saying so, and the next load tries again;
* a run set aside is never silently gone: a record beside it (``models/.set-aside/``) keeps its
  reason, ``set_aside_runs`` lists them and ``restore`` puts the files back if they now pass;
* listing the runs sets aside the same way (with its ``.keras``) a JSON it can't parse as a
  run's metadata, and reports it in ``problems``, so a broken run never just drops out of the
  lists; a JSON it can't read at all (permission denied) is reported and left where it is;
* a read-only folder still works: the model lives in memory and the store says it can't save;
* models load with ``safe_mode=True``: no Python code inside a model file ever runs;
* a training's snapshots (``snapshots.py``, for the replay) live beside its model as
  ``<kind>-<key>.snapshots.npz``, listed with their checksum in the metadata; they are written
  before the model, so a listed file always exists unless someone removed it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import re
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout

from . import snapshots as snapshots_module
from .data import Split
from .modelfile import DamagedFile, check_model_file
from .models import ModelSpec, layer_summary, layer_table

FORMAT_VERSION = 1
WAITING_FOR_MACHINE = "waiting for another training on this machine (another ConvLab, or the command line) to finish"
WAITING_FOR_SPEC = (
    "another ConvLab (a second app server on this model folder, or the command line) is training this exact "
    "variant: it will be loaded from the folder when that finishes"
)
DEFAULT_ROOT = Path(__file__).resolve().parent.parent / "models"
SET_ASIDE_FOLDER = ".set-aside"  # the records of runs moved to corrupt/: why, when, which files


class ModelUnavailable(RuntimeError):
    """A stored model that could not be loaded for a reason its files don't show (a broken or half-imported
    library, memory, TensorFlow's runtime): the files stay where they are and the next load tries again."""

    def __init__(self, spec: ModelSpec, cause: BaseException):
        self.spec, self.cause = spec, cause
        # ``page_message``: the queue shows it as a failed job's message as it is
        self.page_message = (
            f"The stored {spec.label()} model could not be loaded ({_described(cause)}). Nothing shows "
            "that its files are damaged, so they are kept where they are; it is tried again on the next load."
        )
        super().__init__(self.page_message)


def _described(error: BaseException) -> str:
    """'MemoryError', or 'OSError: [Errno 13] Permission denied': an error's type, and its words if it has any."""
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


class SnapshotsUnavailable(RuntimeError):
    """A run's snapshots that could not be read for a reason the file doesn't show: it is kept, tried again."""


class RestoreRefused(Exception):
    """A set-aside run that can't be put back (its files still fail the check, or the spec is stored again)."""


@dataclass(frozen=True)
class SetAside:
    """A run whose files were moved to ``corrupt/``, as its record says."""

    id: str  # the record's name: what ``restore`` takes
    key: str  # the spec key (or the JSON's stem when it didn't parse)
    label: str  # the run's label, or its file's name when the spec isn't known
    reason: str
    when: str  # ISO time, UTC
    files: tuple[tuple[str, str], ...]  # (name in the models folder, path under the models folder now)


def default_root() -> Path:
    """``$CONVLAB_MODELS_DIR`` if set (another cache, e.g. a writable copy), else the repo's ``models/``."""
    return Path(os.environ.get("CONVLAB_MODELS_DIR") or DEFAULT_ROOT)


@dataclass
class StoredModel:
    spec: ModelSpec
    model: object  # a compiled keras.Model
    meta: dict  # what ``_metadata`` records: spec, history, metrics, versions, time, ...
    saved: bool  # False when the folder was read-only and the model lives in memory only
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # Keras models aren't thread-safe
    snapshots: snapshots_module.Snapshots | None = field(default=None, repr=False)  # read on first use, kept


def file_stem(spec: ModelSpec) -> str:
    return f"{spec.kind}-{spec.key()}"


def _key_of(path: Path) -> str:
    """The spec key in a file named like ``file_stem`` (``conv-<key>.json``), else the file's stem."""
    match = re.fullmatch(r"[a-z]+-([0-9a-f]{12})", path.stem)
    return match.group(1) if match else path.stem


def _parse_metadata(data: bytes) -> dict:
    """A run's metadata from its JSON file's bytes; ValueError (or JSON's own errors) if it isn't one."""
    meta = json.loads(data)
    if not isinstance(meta, dict):
        raise ValueError(f"it holds a JSON {type(meta).__name__}, not an object")
    if meta.get("format") != FORMAT_VERSION:
        raise ValueError(f"its format is {meta.get('format')!r}, not {FORMAT_VERSION}")
    if "spec" not in meta:
        raise ValueError("it has no spec")
    try:
        ModelSpec.from_dict(meta["spec"])
    except (TypeError, ValueError) as error:
        raise ValueError(f"its spec doesn't parse: {error}") from error
    return meta


def _load_keras(path: Path):
    """The Keras model in ``path``: ``safe_mode`` runs no Python code a file could carry."""
    import keras

    return keras.saving.load_model(path, safe_mode=True)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Have ``write`` fill a temp file beside ``path`` (same suffix), flush it to disk, rename it over ``path``."""
    temp = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp{path.suffix}")
    try:
        write(temp)
        with open(temp, "rb+") as file:
            os.fsync(file.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


class ModelStore:
    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root is not None else default_root()
        self.problems: dict[str, str] = {}  # spec key -> what went wrong with its files, for the UI
        # spec key -> why its last load failed though its files passed (memory, imports): dropped on a good load
        self.unavailable: dict[str, str] = {}
        self._memory: dict[str, StoredModel] = {}
        self._guard = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._moving = threading.Lock()  # one set-aside at a time, so two threads never move the same files
        self._sweep_stale_temp_files()

    # -- paths and locks ---------------------------------------------------------------
    def paths(self, spec: ModelSpec) -> tuple[Path, Path]:
        stem = file_stem(spec)
        return self.root / f"{stem}.keras", self.root / f"{stem}.json"

    def snapshot_path(self, spec: ModelSpec) -> Path:
        return self.root / f"{file_stem(spec)}.snapshots.npz"

    def _lock(self, spec: ModelSpec):
        """A lock for one spec that holds across threads (threading.Lock) and processes (a file lock)."""
        with self._guard:
            thread_lock = self._key_locks.setdefault(spec.key(), threading.Lock())
        return _Both(thread_lock, FileLock(self._lock_folder() / f"{spec.key()}.lock"))

    def _lock_folder(self) -> Path:
        """``models/.locks``, seen by every server sharing the folder; the temp folder if models/ is read-only."""
        folder = self.root / ".locks"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if os.access(folder, os.W_OK):  # False on a read-only mount too
                return folder
        except OSError:
            pass
        # models/ is read-only: a folder of this machine's (nothing can be written to share anyway).
        root_id = hashlib.sha256(str(self.root.resolve()).encode()).hexdigest()[:8]
        folder = Path(tempfile.gettempdir()) / f"convlab-locks-{root_id}"
        folder.mkdir(exist_ok=True)
        return folder

    def sweep_temp_files(self, spec: ModelSpec | None = None) -> None:
        """Remove what a dead process left behind: temp files, and ``spec``'s snapshots without a model.

        Called at start, and by the queue after a training worker died (SIGKILL, out of memory).
        """
        self._sweep_stale_temp_files()
        if spec is not None:
            model_path, meta_path = self.paths(spec)
            if not model_path.exists() and not meta_path.exists():
                with contextlib.suppress(OSError):
                    self.snapshot_path(spec).unlink(missing_ok=True)

    def _sweep_stale_temp_files(self) -> None:
        for temp in self.root.glob(".*.tmp.*"):
            try:
                pid = int(temp.name.split(".")[-4])
            except (ValueError, IndexError):
                continue
            if not _pid_alive(pid):
                try:
                    temp.unlink(missing_ok=True)
                except OSError:  # a read-only folder: the stray file is harmless, never loaded
                    pass

    # -- reading -----------------------------------------------------------------------
    def load(self, spec: ModelSpec) -> StoredModel | None:
        """The stored model for ``spec``, or None if there is none or its files were proven bad (set aside).

        Raises ``ModelUnavailable`` when loading fails for any other reason (memory, an import,
        TensorFlow's runtime): the files stay where they are, and the next call tries again.
        """
        key = spec.key()
        if key in self._memory:
            return self._memory[key]
        model_path, meta_path = self.paths(spec)
        if not model_path.exists() and not meta_path.exists():
            return None
        try:
            stored = self._read(spec, model_path, meta_path)
        except DamagedFile as error:
            self._set_aside(spec, str(error))
            return None
        except Exception as error:  # nothing shows the files are bad: keep them, say so, try again next time
            unavailable = ModelUnavailable(spec, error)
            self.unavailable[key] = unavailable.page_message
            raise unavailable from error
        self.unavailable.pop(key, None)
        self._memory[key] = stored
        return stored

    def has(self, spec: ModelSpec) -> bool:
        """Whether ``spec`` looks stored, without loading it: in memory, or both files present and
        the metadata naming this spec. ``load`` still checks everything (a model that fails then
        is set aside, and ``has`` says False from then on)."""
        if spec.key() in self._memory:
            return True
        model_path, meta_path = self.paths(spec)
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            return False
        return model_path.is_file() and isinstance(meta, dict) and meta.get("spec") == spec.to_dict()

    def _read(self, spec: ModelSpec, model_path: Path, meta_path: Path) -> StoredModel:
        """The model, once its files pass ``_check``; ``DamagedFile`` if they don't, anything else from Keras."""
        meta = self._check(spec, model_path, meta_path)
        model = _load_keras(model_path)
        if layer_summary(model) != layer_table(spec):  # the config named the right layers: Keras read it otherwise
            raise RuntimeError(
                f"Keras built other layers from {model_path.name} than its spec's: {layer_summary(model)}"
            )
        return StoredModel(spec=spec, model=model, meta=meta, saved=True)

    @staticmethod
    def _check(spec: ModelSpec, model_path: Path, meta_path: Path) -> dict:
        """The run's metadata, once its files pass every check that depends on the files alone.

        ``DamagedFile`` says which failed; an error reading them (permission, memory) propagates as
        it is, since it says nothing about the files.
        """
        try:
            meta_data = meta_path.read_bytes()
        except FileNotFoundError:
            raise DamagedFile(f"{meta_path.name} is missing (an interrupted save?)") from None
        try:
            meta = _parse_metadata(meta_data)  # the same checks as listing the runs
        except (ValueError, TypeError, RecursionError) as error:  # JSON's own errors are ValueErrors too
            raise DamagedFile(
                f"{meta_path.name} is not ConvLab metadata of format {FORMAT_VERSION}: {type(error).__name__}: {error}"
            ) from error
        if meta.get("spec") != spec.to_dict():
            raise DamagedFile(f"{meta_path.name} describes another spec: {meta.get('spec')}")
        try:
            data = model_path.read_bytes()
        except FileNotFoundError:
            raise DamagedFile(f"{model_path.name} is missing") from None
        try:
            check_model_file(spec, data)
        except DamagedFile as error:
            raise DamagedFile(f"{model_path.name}: {error}") from error
        if meta.get("model_sha256") != hashlib.sha256(data).hexdigest():
            raise DamagedFile(f"{model_path.name} does not match the checksum in {meta_path.name}")
        return meta

    def _set_aside(self, spec: ModelSpec, reason: str) -> None:
        """Move a spec's proven-bad files into ``corrupt/`` (kept for a look, listed, never loaded)."""
        with self._moving:
            where, moved = self._move_to_corrupt([*self.paths(spec), self.snapshot_path(spec)])
            self._record_set_aside(spec.key(), spec.to_dict(), spec.label(), reason, moved)
        self.problems[spec.key()] = f"The stored {spec.kind} model was unusable ({reason}); {where}."

    def _move_to_corrupt(self, paths) -> tuple[str, list[tuple[str, str]]]:
        """Move those of ``paths`` that exist into ``corrupt/`` under timestamped names (atomic renames);
        say where they went, or, in a read-only folder, that they stay and are ignored; and the
        (name, new path under the root) of each file moved."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        moved = []
        try:
            (self.root / "corrupt").mkdir(exist_ok=True)
            for path in paths:
                if path.exists():
                    target = self.root / "corrupt" / f"{path.stem}.{stamp}{path.suffix}"
                    os.replace(path, target)
                    moved.append((path.name, str(target.relative_to(self.root))))
            where = f"moved to {', '.join(new for _, new in moved)}" if moved else "nothing to move"
        except OSError as error:
            where = f"could not be moved ({error}); it is ignored"
        return where, moved

    def _record_set_aside(self, key: str, spec: dict | None, label: str, reason: str, moved) -> None:
        """Write why and which files beside them (``.set-aside/``), so the run is listed and can be restored."""
        if not moved:
            return
        when = datetime.now(UTC)
        stamp = when.isoformat(timespec="seconds")
        record = {"key": key, "spec": spec, "label": label, "reason": reason, "when": stamp, "files": moved}
        folder = self.root / SET_ASIDE_FOLDER
        path = folder / f"{Path(moved[0][0]).stem.split('.')[0]}.{when.strftime('%Y%m%dT%H%M%S.%f')}.json"
        try:
            folder.mkdir(exist_ok=True)
            _write_atomically(path, lambda temp: temp.write_text(json.dumps(record, indent=1)))
        except OSError:  # the files moved but the note couldn't be written: corrupt/ still holds them
            pass

    def set_aside_runs(self) -> list[SetAside]:
        """The runs whose files were moved to ``corrupt/``, newest first, with why (records that can't be
        read are skipped: their files stay in ``corrupt/``)."""
        found = []
        for path in (self.root / SET_ASIDE_FOLDER).glob("*.json"):
            if path.name.startswith("."):  # a record being written (``_write_atomically``'s temp file)
                continue
            try:
                record = json.loads(path.read_bytes())
                found.append(
                    SetAside(
                        id=path.stem,
                        key=str(record["key"]),
                        label=str(record["label"]),
                        reason=str(record["reason"]),
                        when=str(record["when"]),
                        files=tuple((str(name), str(now)) for name, now in record["files"]),
                    )
                )
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return sorted(found, key=lambda aside: aside.when, reverse=True)

    def restore(self, set_aside_id: str) -> str:
        """Put a set-aside run's files back, if they now pass every check ``load`` makes of the files.

        ``RestoreRefused`` (saying why, the files staying in ``corrupt/``) if they still fail, if some
        are gone, or if the spec is stored again since; ``ValueError`` for an id that isn't listed.
        A sentence saying what was restored otherwise.
        """
        aside = next((a for a in self.set_aside_runs() if a.id == set_aside_id), None)
        if aside is None:
            raise ValueError(f"no set-aside run {set_aside_id!r} in {self.root / SET_ASIDE_FOLDER}")
        files = {name: self.root / now for name, now in aside.files}
        kept = "the files stay in corrupt/"
        meta_name = next((name for name in files if name.endswith(".json")), None)
        model_name = next((name for name in files if name.endswith(".keras")), None)
        if meta_name is None or model_name is None:
            raise RestoreRefused(
                f"{aside.label} can't be restored: its {'metadata' if meta_name is None else 'model'} file was not "
                f"set aside with it, so the run is incomplete; {kept}."
            )
        gone = [now.name for now in files.values() if not now.exists()]
        if gone:
            raise RestoreRefused(f"{aside.label} can't be restored: {', '.join(gone)} no longer in corrupt/.")
        try:
            spec = ModelSpec.from_dict(_parse_metadata(files[meta_name].read_bytes())["spec"])
        except (ValueError, TypeError, RecursionError) as error:
            raise RestoreRefused(
                f"{aside.label} still fails the check ({meta_name} is not ConvLab metadata of format "
                f"{FORMAT_VERSION}: {type(error).__name__}: {error}); {kept}."
            ) from error
        model_path, meta_path = self.paths(spec)
        if (model_path.name, meta_path.name) != (model_name, meta_name):
            raise RestoreRefused(f"{aside.label} still fails the check ({meta_name} describes another spec); {kept}.")
        with self._lock(spec):
            if model_path.exists() or meta_path.exists() or spec.key() in self._memory:
                raise RestoreRefused(
                    f"{spec.label()} is stored again (trained after its files were set aside), so these can't go "
                    f"back under its name: delete that run in the lab first to restore them; {kept}."
                )
            try:
                meta = self._check(spec, files[model_name], files[meta_name])
            except DamagedFile as error:
                raise RestoreRefused(f"{spec.label()} still fails the check ({error}); {kept}.") from error
            snapshots = files.get(self.snapshot_path(spec).name)
            listed = meta.get("snapshots") or {}
            # The metadata last: once it is back, the run is listed.
            moves = [(files[model_name], model_path), (files[meta_name], meta_path)]
            note = ""
            if snapshots is not None and listed.get("sha256") == _sha256(snapshots):
                moves.insert(0, (snapshots, self.snapshot_path(spec)))
            elif snapshots is not None:
                note = " Its snapshots don't match their checksum, so they stay in corrupt/ and it can't be replayed."
            with self._moving:
                for origin, target in moves:
                    os.replace(origin, target)
            (self.root / SET_ASIDE_FOLDER / f"{aside.id}.json").unlink(missing_ok=True)
            self.problems.pop(spec.key(), None)
            self.unavailable.pop(spec.key(), None)
        return f"{spec.label()} is back in the runs." + note

    def load_snapshots(self, stored: StoredModel) -> tuple[snapshots_module.Snapshots | None, str | None]:
        """The run's snapshots, or None and a sentence for the page saying why there are none.

        A snapshot file that is damaged or doesn't match its listing is set aside in ``corrupt/``;
        one that can't be read for another reason (memory, permission) is left in place and
        ``SnapshotsUnavailable`` raised, saying so: the next call tries again. The model itself
        stays usable either way.
        """
        if stored.snapshots is not None:
            return stored.snapshots, None
        listed = stored.meta.get("snapshots")
        if not listed:
            return None, (
                "This run was trained before ConvLab recorded snapshots, so it can't be replayed. "
                "Train it again to replay it (delete it in the lab, or for the lesson's models: "
                "python -m convlab train all after deleting them)."
            )
        path = self.snapshot_path(stored.spec)
        try:
            found = snapshots_module.load(path, listed)
        except FileNotFoundError:
            return None, f"This run's snapshots ({path.name}) are missing from {self.root}, so it can't be replayed."
        except (ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as error:  # the file is proven bad
            with self._moving:
                where, _ = self._move_to_corrupt([path])
            return None, f"This run's snapshots were unusable ({type(error).__name__}: {error}); {where}."
        except Exception as error:  # nothing shows the file is bad: it stays, and the next look tries again
            raise SnapshotsUnavailable(
                f"This run's snapshots could not be read just now ({_described(error)}); the file is kept where it "
                "is and read again next time."
            ) from error
        stored.snapshots = found
        return found, None

    def list_metadata(self) -> list[dict]:
        """Metadata of every stored run, newest first: readable files on disk, then memory-only ones.

        A JSON that isn't a run's metadata (broken JSON, not an object, another format, no spec or
        one that doesn't parse) is set aside with its ``.keras`` like an unusable model, and one
        that can't be read (permission denied) is left in place; both are reported in ``problems``
        under the key in the file's name (its stem if it isn't named ``<kind>-<key>.json``).
        """
        found = {}
        for meta_path in sorted(self.root.glob("*.json")):
            try:
                data = meta_path.read_bytes()
            except FileNotFoundError:
                continue  # deleted or set aside since the glob
            except OSError as error:
                self.problems[_key_of(meta_path)] = (
                    f"The lab run's metadata {meta_path.name} could not be read ({type(error).__name__}: "
                    f"{error.strerror or error}); it is left in place and ignored."
                )
                continue
            try:
                meta = _parse_metadata(data)
            except (ValueError, TypeError, RecursionError) as error:  # the contents are proven bad: set aside, report
                self._set_aside_metadata(meta_path, f"{type(error).__name__}: {error}")
                continue
            except Exception as error:  # nothing shows the file is bad (memory): it stays, looked at again next time
                self.problems[_key_of(meta_path)] = (
                    f"The lab run's metadata {meta_path.name} could not be read just now ({type(error).__name__}: "
                    f"{error}); it is left in place and read again next time."
                )
                continue
            found[meta.get("key")] = {**meta, "file": meta_path.with_suffix(".keras").name, "saved": True}
        for key, stored in list(self._memory.items()):
            if key in found:
                continue
            if stored.saved:  # its files were deleted or set aside by another process sharing the folder
                self._memory.pop(key, None)
                continue
            found[key] = {**stored.meta, "file": None, "saved": stored.saved}
        return sorted(found.values(), key=lambda meta: meta.get("created", ""), reverse=True)

    def _set_aside_metadata(self, meta_path: Path, reason: str) -> None:
        """Move a run's unparseable JSON and its ``.keras`` into ``corrupt/``, as ``_set_aside`` does for a spec."""
        with self._moving:
            if not meta_path.exists():
                return  # another thread set it aside meanwhile (and reported it)
            where, moved = self._move_to_corrupt(
                [meta_path, meta_path.with_suffix(".keras"), meta_path.with_suffix(".snapshots.npz")]
            )
            self._record_set_aside(_key_of(meta_path), None, meta_path.name, reason, moved)
        self.problems[_key_of(meta_path)] = (
            f"The lab run's metadata {meta_path.name} was unreadable ({reason}); {where}."
        )

    def delete(self, spec: ModelSpec) -> None:
        """Forget a run: its files (metadata first, so a crash between leaves an orphan that is set aside)
        and memory."""
        model_path, meta_path = self.paths(spec)
        with self._lock(spec):
            meta_path.unlink(missing_ok=True)
            model_path.unlink(missing_ok=True)
            self.snapshot_path(spec).unlink(missing_ok=True)
            self._memory.pop(spec.key(), None)
            self.problems.pop(spec.key(), None)

    # -- training and writing ----------------------------------------------------------
    def claim(self, spec: ModelSpec, on_wait: Callable[[str], None] | None = None):
        """The spec's lock, for a caller that trains elsewhere (Ray) and ``adopt``s the result.

        Held from before the store is checked until the files are in, as ``get_or_train`` holds
        it: no two servers on one folder train the same spec at once.
        """
        return self._lock(spec).waiting(lambda: on_wait and on_wait(WAITING_FOR_SPEC))

    def adopt(self, spec: ModelSpec, folder: Path) -> StoredModel:
        """Take in a run saved in ``folder`` by another ``ModelStore`` (on a Ray node, or a worker's fallback).

        Its files are checked as ``load`` checks them (checksums, layers, spec), then copied in
        with the same atomic writes as a training here: snapshots, model, metadata last. A
        read-only folder keeps the run in memory, as a training here would. Call it holding
        ``claim(spec)``.
        """
        source = ModelStore(folder)
        stored = source._read(spec, *source.paths(spec))
        snapshots, problem = source.load_snapshots(stored) if stored.meta.get("snapshots") else (None, None)
        if problem:
            raise ValueError(problem)
        stored.snapshots = snapshots
        copies = [(source.snapshot_path(spec), self.snapshot_path(spec))] if snapshots is not None else []
        copies += list(zip(source.paths(spec), self.paths(spec)))  # model, then metadata: the metadata lists the rest
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            for origin, target in copies:
                _write_atomically(target, lambda path, origin=origin: shutil.copyfile(origin, path))
            self.problems.pop(spec.key(), None)
        except OSError as error:
            stored.saved = False
            self.problems[spec.key()] = (
                f"Can't save the {spec.kind} model to {self.root} ({error.strerror or error}); "
                "it is kept in memory until the app stops."
            )
        self._memory[spec.key()] = stored
        return stored

    def get_or_train(
        self,
        spec: ModelSpec,
        load_data: Callable[[], tuple[Split, Split]],
        callbacks=(),
        stop_event=None,
        on_wait: Callable[[str], None] | None = None,
        one_per_machine: bool = True,
    ) -> StoredModel:
        """The stored model, or a newly trained and saved one; concurrent callers train once.

        Trainings of different specs also run one at a time on the machine (two would halve
        each other's speed on 2 cores). ``on_wait(why)`` is called if this one has to wait:
        ``WAITING_FOR_SPEC`` while another process trains the same spec, ``WAITING_FOR_MACHINE``
        while another trains something else here. A Ray task passes ``one_per_machine=False``:
        there Ray's scheduler decides how many trainings share a node.
        """
        found = self.load(spec)
        if found is not None:
            return found
        with self.claim(spec, on_wait):
            found = self.load(spec)  # another thread or process may have finished meanwhile
            if found is not None:
                return found
            from .training import train

            with _machine_training_lock(on_wait) if one_per_machine else contextlib.nullcontext():
                train_split, test_split = load_data()
                result = train(spec, train_split, test_split, callbacks=callbacks, stop_event=stop_event)
            meta = _metadata(spec, result)
            stored = StoredModel(spec=spec, model=result.model, meta=meta, saved=False, snapshots=result.snapshots)
            self._save(stored)
            self._memory[spec.key()] = stored
            return stored

    def _save(self, stored: StoredModel) -> None:
        model_path, meta_path = self.paths(stored.spec)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            if stored.snapshots is not None:  # first: the metadata written last lists it with its checksum
                snapshot_path = self.snapshot_path(stored.spec)
                _write_atomically(snapshot_path, lambda path: snapshots_module.save(stored.snapshots, path))
                stored.meta["snapshots"]["file"] = snapshot_path.name
                stored.meta["snapshots"]["sha256"] = _sha256(snapshot_path)
            _write_atomically(model_path, stored.model.save)
            stored.meta["model_sha256"] = _sha256(model_path)
            _write_atomically(meta_path, lambda path: path.write_text(json.dumps(stored.meta, indent=1)))
            stored.saved = True
            self.problems.pop(stored.spec.key(), None)
        except OSError as error:
            self.problems[stored.spec.key()] = (
                f"Can't save the {stored.spec.kind} model to {self.root} ({error.strerror or error}); "
                "it is kept in memory until the app stops."
            )


@contextlib.contextmanager
def _machine_training_lock(on_wait: Callable[[str], None] | None):
    """One training at a time across every ConvLab process on this machine (app, CLI, tests)."""
    lock = FileLock(Path(tempfile.gettempdir()) / "convlab-training.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if on_wait is not None:
            on_wait(WAITING_FOR_MACHINE)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


class _Both:
    """Enter a thread lock, then a file lock; leave in reverse order."""

    def __init__(self, thread_lock: threading.Lock, file_lock: FileLock):
        self.thread_lock, self.file_lock = thread_lock, file_lock
        self._on_wait: Callable[[], None] | None = None

    def waiting(self, on_wait: Callable[[], None]) -> "_Both":
        """The same lock, calling ``on_wait()`` once if another thread or process holds it."""
        self._on_wait = on_wait
        return self

    def __enter__(self):
        if not self.thread_lock.acquire(blocking=False):
            self._waited()
            self.thread_lock.acquire()
        try:
            try:
                self.file_lock.acquire(timeout=0)
            except Timeout:
                self._waited()
                self.file_lock.acquire()
        except BaseException:
            self.thread_lock.release()
            raise
        return self

    def _waited(self) -> None:
        if self._on_wait is not None:
            self._on_wait()
            self._on_wait = None

    def __exit__(self, *exc):
        self.file_lock.release()
        self.thread_lock.release()


def _metadata(spec: ModelSpec, result) -> dict:
    import keras
    import numpy
    import tensorflow

    from . import __version__

    return {
        "format": FORMAT_VERSION,
        "key": spec.key(),
        "spec": spec.to_dict(),
        "description": spec.describe(),
        "params": int(result.model.count_params()),
        "layers": layer_summary(result.model),
        "history": result.history,
        "metrics": result.metrics,
        "epochs_run": result.epochs_run,
        "stop_reason": result.stop_reason,
        "stopped_by_request": bool(result.stop_reason and result.stop_reason.startswith("stopped by request")),
        "seconds": round(result.seconds, 2),
        **(
            {"snapshots": snapshots_module.describe(result.snapshots, result.snapshot_seconds)}
            if result.snapshots is not None
            else {}
        ),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": {
            "convlab": __version__,
            "python": platform.python_version(),
            "tensorflow": tensorflow.__version__,
            "keras": keras.__version__,
            "numpy": numpy.__version__,
        },
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
    }
