"""Model specs and the Keras models built from them.

A :class:`ModelSpec` is everything that decides a trained model: architecture, training
settings and seed. It is frozen and hashable, and :meth:`ModelSpec.key` is a short hash of
its fields, so a cached model file named after the key can never belong to other settings.
The two presets are the lesson's dense baseline and its conv model.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, fields

from .data import IMAGE_SIZE

MAX_CONV_BLOCKS = 3  # a 4th 3x3 conv + 2x2 pool block would shrink 28x28 below 1x1
MAX_EPOCHS = 20  # enough to see overfitting; a 20-epoch conv run already takes many minutes on a laptop
# What a run records per epoch: Keras' history name -> ConvLab's (the lesson validates on the test split).
HISTORY_KEYS = {
    "loss": "train_loss",
    "accuracy": "train_accuracy",
    "val_loss": "test_loss",
    "val_accuracy": "test_accuracy",
}


@dataclass(frozen=True)
class ModelSpec:
    conv_filters: tuple[int, ...] = (64, 64)  # one Conv2D+MaxPool block per entry; () = dense baseline
    kernel_size: int = 3  # conv kernels are kernel_size x kernel_size, no padding ("valid")
    pool_size: int = 2  # max-pooling window and stride
    dense_units: int = 128  # the hidden Dense layer before the 10-way softmax
    epochs: int = 5
    batch_size: int = 32
    seed: int = 42  # weights, shuffling and dropout-free training all follow from it
    train_samples: int = 60_000  # the first N training images; fewer gives quick classroom runs
    stop_loss: float | None = None  # stop once an epoch's training loss falls below this
    stop_accuracy: float | None = None  # stop once an epoch's training accuracy exceeds this

    def __post_init__(self) -> None:
        # Lists from JSON or widgets become tuples, so equal specs hash equally.
        object.__setattr__(self, "conv_filters", tuple(int(n) for n in self.conv_filters))
        problems = self.problems()
        if problems:
            raise ValueError("Invalid model spec: " + "; ".join(problems))

    def problems(self) -> list[str]:
        """Every reason this spec can't be built, worded for a person."""
        problems = []
        if len(self.conv_filters) > MAX_CONV_BLOCKS:
            problems.append(f"at most {MAX_CONV_BLOCKS} conv blocks fit a 28x28 image, not {len(self.conv_filters)}")
        if any(n < 1 or n > 512 for n in self.conv_filters):
            problems.append(f"filters per conv layer must be 1..512, not {list(self.conv_filters)}")
        if self.kernel_size < 1 or self.pool_size < 1:
            problems.append("kernel_size and pool_size must be at least 1")
        elif self.conv_filters and min(s for s, _ in self.map_sizes()) < 1:
            problems.append("the feature maps would shrink below 1x1; use fewer conv blocks")
        if not 1 <= self.dense_units <= 4096:
            problems.append(f"dense_units must be 1..4096, not {self.dense_units}")
        if not 1 <= self.epochs <= MAX_EPOCHS:
            problems.append(f"epochs must be 1..{MAX_EPOCHS}, not {self.epochs}")
        if not 1 <= self.batch_size <= 60_000:
            problems.append(f"batch_size must be 1..60000, not {self.batch_size}")
        if not 1 <= self.train_samples <= 60_000:
            problems.append(f"train_samples must be 1..60000, not {self.train_samples}")
        if self.stop_loss is not None and not self.stop_loss > 0:
            problems.append(f"stop_loss must be above 0, not {self.stop_loss}")
        if self.stop_accuracy is not None and not 0 < self.stop_accuracy < 1:
            problems.append(f"stop_accuracy must be between 0 and 1, not {self.stop_accuracy}")
        return problems

    def feature_layers(self) -> list[tuple[str, int, int]]:
        """(name, map side, filters) of each Conv2D and MaxPooling2D layer ``build`` makes, in order."""
        layers = []
        for block, (num_filters, (conv_side, pool_side)) in enumerate(
            zip(self.conv_filters, self.map_sizes()), start=1
        ):
            layers += [(f"conv{block}", conv_side, num_filters), (f"pool{block}", pool_side, num_filters)]
        return layers

    def map_sizes(self) -> list[tuple[int, int]]:
        """(conv output side, pool output side) per block: (26, 13), (11, 5) for the lesson."""
        sizes, side = [], IMAGE_SIZE
        for _ in self.conv_filters:
            conv_side = side - self.kernel_size + 1
            side = conv_side // self.pool_size
            sizes.append((conv_side, side))
        return sizes

    def to_dict(self) -> dict:
        return {**asdict(self), "conv_filters": list(self.conv_filters)}

    @classmethod
    def from_dict(cls, values: dict) -> "ModelSpec":
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown model spec fields: {sorted(unknown)}")
        return cls(**values)

    def key(self) -> str:
        """A 12-hex-digit hash of every field: the cache's file name stem."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    @property
    def kind(self) -> str:
        return "conv" if self.conv_filters else "dense"

    def describe(self) -> str:
        """A short human label, e.g. 'conv 64-64, dense 128, 5 epochs'; other settings when not default."""
        body = f"conv {'-'.join(map(str, self.conv_filters))}, " if self.conv_filters else ""
        extras = [
            f"{name.replace('_', ' ')} {value:,}" if isinstance(value, int) else f"{name.replace('_', ' ')} {value}"
            for name, value in self.to_dict().items()
            if name not in ("conv_filters", "dense_units", "epochs") and value != _DEFAULTS[name]
        ]
        epochs = f"{self.epochs} epoch" + ("s" if self.epochs != 1 else "")
        return f"{body}dense {self.dense_units}, {epochs}" + "".join(f", {e}" for e in extras)

    def preset_name(self) -> str | None:
        """'dense' or 'conv' when this is one of the lesson's models."""
        return next((name for name, spec in PRESETS.items() if spec == self), None)

    def label(self) -> str:
        """How runs are named in the app: 'conv (lesson)' for a preset, else its description."""
        preset = self.preset_name()
        return f"{preset} (lesson)" if preset else self.describe()


_DEFAULTS = {f.name: f.default for f in fields(ModelSpec)}

PRESETS = {
    "dense": ModelSpec(conv_filters=()),
    "conv": ModelSpec(conv_filters=(64, 64)),
}


def build(spec: ModelSpec):
    """A compiled Keras model for ``spec``, starting with ``keras.Input`` as Keras 3 wants.

    Weights come from Keras' global random state: training seeds it first (see training.py);
    nothing else does, so building or loading a model never disturbs a training running
    in another thread.
    """
    import keras  # deferred: importing TensorFlow costs seconds and data-only callers don't need it

    layers = [keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE, 1), name="image")]
    for block, num_filters in enumerate(spec.conv_filters, start=1):
        layers += [
            keras.layers.Conv2D(num_filters, spec.kernel_size, activation="relu", name=f"conv{block}"),
            keras.layers.MaxPooling2D(spec.pool_size, name=f"pool{block}"),
        ]
    layers += [
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(spec.dense_units, activation="relu", name="hidden"),
        keras.layers.Dense(10, activation="softmax", name="output"),
    ]
    model = keras.Sequential(layers, name=f"{spec.kind}_{spec.key()}")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def layer_table(spec: ModelSpec) -> list[dict]:
    """The rows ``layer_summary`` gives for ``build(spec)``, computed without TensorFlow.

    The lab shows this while a person edits a spec, on every widget change.
    """
    rows, side, channels = [], IMAGE_SIZE, 1
    for block, (num_filters, (conv_side, pool_side)) in enumerate(zip(spec.conv_filters, spec.map_sizes()), start=1):
        conv_params = (spec.kernel_size * spec.kernel_size * channels + 1) * num_filters
        rows.append(_row(f"conv{block}", "Conv2D", (conv_side, conv_side, num_filters), conv_params))
        rows.append(_row(f"pool{block}", "MaxPooling2D", (pool_side, pool_side, num_filters), 0))
        side, channels = pool_side, num_filters
    flat = side * side * channels
    rows.append(_row("flatten", "Flatten", (flat,), 0))
    rows.append(_row("hidden", "Dense", (spec.dense_units,), (flat + 1) * spec.dense_units))
    rows.append(_row("output", "Dense", (10,), (spec.dense_units + 1) * 10))
    return rows


def count_params(spec: ModelSpec) -> int:
    return sum(row["params"] for row in layer_table(spec))


def _row(name: str, kind: str, shape: tuple[int, ...], params: int) -> dict:
    return {"layer": name, "type": kind, "output shape": "×".join(map(str, shape)), "params": params}


def layer_summary(model) -> list[dict]:
    """One row per layer: name, type, output shape (without the batch axis), parameter count."""
    return [
        {
            "layer": layer.name,
            "type": type(layer).__name__,
            "output shape": "×".join(str(d) for d in layer.output.shape[1:]),
            "params": layer.count_params(),
        }
        for layer in model.layers
    ]


def params_explained(spec: ModelSpec, reference: ModelSpec = PRESETS["conv"]) -> str:
    """Where ``spec``'s parameters are, in plain words, and why it has more or fewer than ``reference``
    (the lesson's conv model), every figure from ``layer_table``: the Dense layer after Flatten holds
    most of them, a weight for every flattened number in each of its units."""
    parts, lesson = _param_parts(spec), _param_parts(reference)
    total, units, flat = parts["total"], spec.dense_units, parts["flat"]
    share = parts["dense"] / total
    held = (
        f"Most of its {total:,} parameters ({math.floor(100 * share)}%) are"
        if share > 0.5
        else f"{math.floor(100 * share)}% of its {total:,} parameters are"
    )
    text = (
        f"{held} in the Dense({units}) layer after Flatten. Flatten lays {parts['what']} out as {flat:,} numbers, "
        f"and Dense({units}) has a weight for every one of them in each of its {units} units, plus one bias per "
        f"unit: ({flat:,} + 1) × {units} = {parts['dense']:,}. "
        + (
            f"Its conv layers have {parts['conv']:,}, the output layer {parts['output']:,}."
            if spec.conv_filters
            else f"The output layer has {parts['output']:,}."
        )
    )
    if spec == reference:
        return text
    if total == lesson["total"]:
        size = "exactly as many as"
    elif abs(total - lesson["total"]) <= 0.05 * lesson["total"]:
        size = "about as many as"
    elif total > lesson["total"]:
        size = f"{total / lesson['total']:.1f}× as many as"
    else:
        size = f"{total / lesson['total']:.0%} of"
    sentences = [f"That is {size} the lesson's conv model ({lesson['total']:,})."]
    blocks, lesson_blocks = len(spec.conv_filters), len(reference.conv_filters)
    maps = ""
    if not blocks:
        maps = "It has no conv or pooling layers, and Flatten gets the picture itself"
    elif blocks != lesson_blocks:
        side, lesson_side = spec.map_sizes()[-1][1], reference.map_sizes()[-1][1]
        maps = (
            f"It pools {_times(blocks)}, not {_times(lesson_blocks)}, so its last maps are {side}×{side}, "
            f"not {lesson_side}×{lesson_side}"
        )
    elif spec.conv_filters[-1] != reference.conv_filters[-1]:
        maps = (
            f"Its last conv layer has {spec.conv_filters[-1]} filters, not {reference.conv_filters[-1]}, so "
            f"Flatten gets {spec.conv_filters[-1]} maps, not {reference.conv_filters[-1]}"
        )
    dense = []
    if flat != lesson["flat"]:
        dense.append((f"{maps}: " if maps else "Flatten gives ") + f"{flat:,} numbers instead of {lesson['flat']:,}")
    elif maps:
        dense.append(maps)
    if units != reference.dense_units:
        dense.append(f"Dense has {units} units, not {reference.dense_units}")
    if parts["dense"] != lesson["dense"]:
        sentences.append(
            " and ".join(dense) + f", so Dense({units}) needs {parts['dense']:,} parameters instead "
            f"of {lesson['dense']:,}."
        )
    elif dense:
        sentences.append(" and ".join(dense) + ".")
    conv_change, total_change = parts["conv"] - lesson["conv"], total - lesson["total"]
    if blocks and conv_change and (parts["dense"] == lesson["dense"] or abs(conv_change) > 0.1 * abs(total_change)):
        sentences.append(f"Its conv layers have {parts['conv']:,} instead of {lesson['conv']:,}.")
    return " ".join([text, *sentences])


def _times(count: int) -> str:
    return {1: "once", 2: "twice"}.get(count, f"{count} times")


def _param_parts(spec: ModelSpec) -> dict:
    """``layer_table``'s figures as the words use them: the flattened numbers and what they are, the
    hidden Dense layer's parameters, the conv layers', the output layer's and the total."""
    rows = {row["layer"]: row for row in layer_table(spec)}
    flat = int(rows["flatten"]["output shape"])
    if spec.conv_filters:
        side = spec.map_sizes()[-1][1]
        what = f"pool{len(spec.conv_filters)}'s {side}×{side} maps of {spec.conv_filters[-1]} filters"
    else:
        what = f"the {IMAGE_SIZE}×{IMAGE_SIZE} picture"
    return {
        "flat": flat,
        "what": what,
        "dense": rows["hidden"]["params"],
        "output": rows["output"]["params"],
        "conv": sum(row["params"] for name, row in rows.items() if name.startswith("conv")),
        "total": sum(row["params"] for row in rows.values()),
    }
