"""Sweeps: the lesson's exercises as a grid of model variants, trained together and compared.

The lesson ends with exercises: change the number of filters, remove or add a convolution,
train for longer. A :class:`Sweep` is one such exercise written down: a base
:class:`~convlab.models.ModelSpec` and a few axes to vary, each with its values, e.g.
``Sweep.of(PRESETS["conv"], {"filters": [16, 32, 64], "blocks": [1, 2, 3]})``. Its
:meth:`Sweep.specs` are every combination, each an ordinary spec that trains and caches like
any other run. :func:`comparison` puts the variants' results side by side, one row each, and
:func:`best` picks the winner.

Sweeps are saved as small JSON files in ``<models>/sweeps/``, named by a key that depends only
on the grid, so describing the same grid twice names the same sweep. Loading rebuilds each
sweep through the same validation as building one by hand, and reports the files it can't use
instead of raising.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from .models import ModelSpec, count_params
from .store import _write_atomically

FORMAT_VERSION = 1
MAX_VARIANTS = 36  # a classroom's patience: 36 small runs already take a while on a laptop
DEFAULT_FILTERS = 64  # the lesson's filter count, for "blocks" on a dense base
SWEEPS_FOLDER = "sweeps"

# The axes a sweep can vary, in display order, with the label a person sees. "blocks" and
# "filters" together shape ``conv_filters``; the others are ModelSpec fields of the same name.
AXES: dict[str, str] = {
    "blocks": "conv blocks",
    "filters": "filters per conv layer",
    "epochs": "epochs",
    "dense_units": "dense units",
    "batch_size": "batch size",
    "train_samples": "training images",
    "seed": "seed",
}
CONV_AXES = ("blocks", "filters")
RESULT_COLUMNS = ("test accuracy", "train accuracy", "training time (s)", "epochs run")


@dataclass(frozen=True)
class Sweep:
    """A base spec and the axes varied around it: ``((name, (value, ...)), ...)`` in ``AXES`` order.

    Axes may be given in any order, as pairs or as a dict; values are sorted and deduplicated,
    so equal grids compare equal. Building a sweep checks every variant: a ValueError says
    what to change.
    """

    base: ModelSpec
    axes: tuple[tuple[str, tuple[int, ...]], ...]
    name: str = ""
    _specs: tuple[ModelSpec, ...] = field(
        init=False, repr=False, compare=False
    )  # built (so checked) once, in __post_init__

    def __post_init__(self) -> None:
        if not isinstance(self.base, ModelSpec):
            raise ValueError(f"a sweep's base must be a ModelSpec, not {type(self.base).__name__}")
        if not isinstance(self.name, str):
            raise ValueError(f"a sweep's name must be text, not {type(self.name).__name__}")
        object.__setattr__(self, "axes", _normalise_axes(self.axes))
        object.__setattr__(self, "name", self.name.strip())
        values = dict(self.axes)
        if "filters" in values and not _has_conv_variant(self.base, values):
            raise ValueError(
                "filters change nothing when every variant is the dense baseline (0 conv blocks); "
                "add a blocks value of 1 or more, or start from a conv model"
            )
        size = _variant_count(self.base, values)
        if size > MAX_VARIANTS:
            raise ValueError(f"a sweep of {size} variants is too big: at most {MAX_VARIANTS}; drop some values")
        object.__setattr__(self, "_specs", tuple(self._build_specs()))

    @classmethod
    def of(cls, base: ModelSpec, axes: Mapping[str, Iterable[int]], name: str = "") -> Sweep:
        """``Sweep.of(base, {"filters": [16, 32], "blocks": [1, 2]})``: axes as a dict, in any order."""
        if not isinstance(axes, Mapping):
            raise ValueError(f"give the axes as a dict of name -> values, not {type(axes).__name__}")
        return cls(base, tuple(axes.items()), name)

    def _build_specs(self) -> list[ModelSpec]:
        names = [name for name, _ in self.axes]
        specs, seen = [], set()
        for combination in itertools.product(*(values for _, values in self.axes)):
            chosen = dict(zip(names, combination))
            try:
                spec = _apply(self.base, chosen)
            except ValueError as error:
                where = ", ".join(f"{name} {value}" for name, value in chosen.items())
                raise ValueError(f"{error} (in the variant {where}); change or drop that value") from None
            if spec not in seen:  # with blocks 0, every filter count gives the same dense baseline
                seen.add(spec)
                specs.append(spec)
        return specs

    def specs(self) -> list[ModelSpec]:
        """Every variant, once each, in grid order (the first axis in ``AXES`` order varies slowest)."""
        return list(self._specs)

    def key(self) -> str:
        """A 12-hex-digit hash of the variants' keys: the same grid always gets the same key."""
        canonical = json.dumps(sorted(spec.key() for spec in self._specs), separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    def describe(self) -> str:
        """E.g. 'blocks 1, 2, 3 × filters 16, 32, 64 (9 variants)'."""
        parts = [f"{name.replace('_', ' ')} {', '.join(map(str, values))}" for name, values in self.axes]
        count = len(self._specs)
        return " × ".join(parts) + f" ({count} variant{'s' if count != 1 else ''})"

    def values_of(self, spec: ModelSpec) -> dict[str, int | None]:
        """The value of each of this sweep's axes in ``spec``; "filters" is None for a dense spec."""
        return {name: _axis_value(spec, name) for name, _ in self.axes}


def _normalise_axes(axes) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """Axes as ((name, sorted unique values), ...) in ``AXES`` order, or a ValueError naming the fix."""
    if isinstance(axes, Mapping):
        axes = tuple(axes.items())
    try:
        pairs = [(name, values) for name, values in axes]
    except (TypeError, ValueError):
        raise ValueError("give the axes as (name, values) pairs or a dict, e.g. {'filters': [16, 32]}") from None
    if not pairs:
        raise ValueError(f"a sweep needs at least one axis to vary; choose from {', '.join(AXES)}")
    found: dict[str, tuple[int, ...]] = {}
    for name, values in pairs:
        if name not in AXES:
            raise ValueError(f"unknown sweep axis {name!r}; choose from {', '.join(AXES)}")
        if name in found:
            raise ValueError(f"the axis {name!r} is given twice; give all its values in one list")
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise ValueError(f"the values of {name!r} must be a list of whole numbers, not {values!r}")
        whole = set()
        for value in values:
            try:
                if isinstance(value, bool):  # True is an int to Python, never a filter count to a person
                    raise TypeError
                whole.add(operator.index(value))
            except TypeError:
                raise ValueError(f"the values of {name!r} must be whole numbers, not {value!r}") from None
        if not whole:
            raise ValueError(f"the axis {name!r} has no values; give at least one, or leave the axis out")
        if name == "blocks" and min(whole) < 0:
            raise ValueError(f"blocks can't be negative ({min(whole)}); use 0 for the dense baseline")
        found[name] = tuple(sorted(whole))
    return tuple((name, found[name]) for name in AXES if name in found)


def _apply(base: ModelSpec, chosen: dict[str, int]) -> ModelSpec:
    """``base`` with one combination of axis values (``replace`` runs ModelSpec's validation)."""
    changes = {name: value for name, value in chosen.items() if name not in CONV_AXES}
    if any(name in chosen for name in CONV_AXES):
        blocks = chosen.get("blocks", len(base.conv_filters))
        filters = chosen.get("filters", base.conv_filters[0] if base.conv_filters else DEFAULT_FILTERS)
        changes["conv_filters"] = (filters,) * blocks
    return replace(base, **changes)


def _has_conv_variant(base: ModelSpec, values: dict[str, tuple[int, ...]]) -> bool:
    blocks = values.get("blocks", (len(base.conv_filters),))
    return max(blocks) > 0


def _variant_count(base: ModelSpec, values: dict[str, tuple[int, ...]]) -> int:
    """How many distinct specs the grid holds, without building it (a huge grid is refused unbuilt).

    Only the blocks-0 variants coincide: the dense baseline is the same whatever the filter count.
    """
    others = math.prod(len(v) for name, v in values.items() if name not in CONV_AXES)
    filters = len(values.get("filters", (None,)))
    if "blocks" in values:
        conv_shapes = sum(1 for b in values["blocks"] if b > 0) * filters + (0 in values["blocks"])
    else:
        conv_shapes = filters
    return others * conv_shapes


def _axis_value(spec: ModelSpec, name: str) -> int | None:
    if name == "blocks":
        return len(spec.conv_filters)
    if name == "filters":
        return spec.conv_filters[0] if spec.conv_filters else None
    return getattr(spec, name)


# -- saving and loading ----------------------------------------------------------------


@dataclass(frozen=True)
class SweepRecord:
    """A saved sweep: the sweep rebuilt from its file, when it was first saved, and its file."""

    sweep: Sweep
    created: str  # ISO 8601, UTC
    key: str
    path: Path


class SweepRecords(list):
    """The sweeps ``load_sweeps`` found (a list of SweepRecord), with ``problems``: file name -> why it was skipped."""

    def __init__(self, records: Iterable[SweepRecord] = (), problems: dict[str, str] | None = None):
        super().__init__(records)
        self.problems: dict[str, str] = dict(problems or {})


def sweeps_folder(root: Path | str) -> Path:
    return Path(root) / SWEEPS_FOLDER


def save_sweep(root: Path | str, sweep: Sweep, created: str | None = None) -> Path:
    """Write ``sweep`` to ``<root>/sweeps/<key>.json`` atomically; return the path.

    Saving a sweep again (the same grid) keeps the time it was first saved. ``created`` (ISO
    8601) is the time for a new file; by default, now.
    """
    if created is None:
        created = _now()
    else:
        _parse_time(created)  # a ValueError naming the expected form
    path = sweeps_folder(root) / f"{sweep.key()}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        earlier = json.loads(path.read_bytes()).get("created")
        _parse_time(earlier)
        created = earlier
    except (OSError, ValueError, TypeError, AttributeError, RecursionError):
        pass  # no file yet, or one we are about to replace: the new time stands
    record = {
        "format": FORMAT_VERSION,
        "key": sweep.key(),
        "name": sweep.name,
        "base": sweep.base.to_dict(),
        "axes": {name: list(values) for name, values in sweep.axes},
        "specs": [spec.key() for spec in sweep.specs()],
        "created": created,
    }
    text = json.dumps(record, indent=2) + "\n"
    _write_atomically(path, lambda temp: temp.write_text(text))
    return path


def load_sweeps(root: Path | str) -> SweepRecords:
    """Every saved sweep, newest first; files that aren't usable sweeps are listed in ``.problems``.

    Nothing in a file is trusted: each sweep is rebuilt from its base and axes through
    :class:`Sweep`'s validation, and must come out with the key its file is named by.
    """
    folder = sweeps_folder(root)
    records, problems = [], {}
    try:
        paths = sorted(folder.glob("*.json"))
    except OSError as error:
        return SweepRecords([], {folder.name: f"the folder can't be read: {error}"})
    for path in paths:
        if path.name.startswith("."):  # another save's temp file, renamed into place when done
            continue
        try:
            records.append(_read_record(path))
        except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError) as error:
            problems[path.name] = f"{type(error).__name__}: {error}"
    records.sort(key=lambda record: (_parse_time(record.created), record.key), reverse=True)
    return SweepRecords(records, problems)


def _read_record(path: Path) -> SweepRecord:
    data = json.loads(path.read_bytes())
    if not isinstance(data, dict):
        raise ValueError(f"it holds a JSON {type(data).__name__}, not an object")
    if data.get("format") != FORMAT_VERSION:
        raise ValueError(f"its format is {data.get('format')!r}, not {FORMAT_VERSION}")
    if not isinstance(data.get("base"), dict) or not isinstance(data.get("axes"), dict):
        raise ValueError("it has no base spec or no axes")
    sweep = Sweep.of(ModelSpec.from_dict(data["base"]), data["axes"], name=data.get("name", ""))
    if not path.stem == data.get("key") == sweep.key():
        raise ValueError(f"its grid has the key {sweep.key()}, not the {data.get('key')!r} it is saved as")
    if data.get("specs") != [spec.key() for spec in sweep.specs()]:
        raise ValueError("its list of variants doesn't match its grid")
    created = data.get("created")
    _parse_time(created)
    return SweepRecord(sweep=sweep, created=created, key=sweep.key(), path=path)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _parse_time(text) -> datetime:
    """An ISO 8601 time as an aware datetime (UTC when it names no zone), so any two compare."""
    if not isinstance(text, str):
        raise ValueError(f"a time must be ISO 8601 text like '2024-05-01T12:00:00+00:00', not {text!r}")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"a time must be ISO 8601 text like '2024-05-01T12:00:00+00:00', not {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- comparing the variants ------------------------------------------------------------


def comparison(sweep: Sweep, metas: Mapping[str, dict], states: Mapping[str, str] | None = None) -> list[dict]:
    """One row per variant, in grid order, for a table and ``figures.sweep_figure``.

    Columns: "variant" (the spec's label), one per axis (headed by its ``AXES`` label),
    "params", the results (None until the variant is trained), "state" and "key". ``metas``
    maps spec keys to stored runs' metadata; ``states`` says what a variant without one is
    doing ("queued", "training", "failed", ...): "not trained" by default.
    """
    states = states or {}
    rows = []
    for spec in sweep.specs():
        key = spec.key()
        meta = metas.get(key)
        row = {"variant": spec.label()}
        row.update({AXES[name]: value for name, value in sweep.values_of(spec).items()})
        row["params"] = count_params(spec)
        if meta is not None:
            metrics = meta.get("metrics") or {}
            row.update(
                {
                    "test accuracy": metrics.get("test_accuracy"),
                    "train accuracy": metrics.get("train_accuracy"),
                    "training time (s)": meta.get("seconds"),
                    "epochs run": meta.get("epochs_run"),
                    "state": "trained",
                }
            )
        else:
            row.update(dict.fromkeys(RESULT_COLUMNS))
            row["state"] = states.get(key, "not trained")
        row["key"] = key
        rows.append(row)
    return rows


def best(rows: Iterable[dict]) -> str | None:
    """The key of the row with the highest test accuracy; on a tie, the smaller model wins. None if none is trained."""
    finished = [row for row in rows if row.get("test accuracy") is not None]
    if not finished:
        return None
    # max() keeps the first of equals, so a full tie goes to the earlier variant in grid order.
    return max(finished, key=lambda row: (row["test accuracy"], -row["params"]))["key"]
