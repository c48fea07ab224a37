"""Shareable views: the page's choices in the URL, read back defensively.

A teacher copies the address bar and sends it; the link opens the same model, images,
filter, layer, colour scale, the maps' colour map, tab, the map cell being explained ("this number, explained"), the
replay's snapshot, the shift probe's transform (shift, rotation, zoom), presenter mode, and a drawing (the Draw view's,
or one the journey shows in one of its slots). Anything in a URL is
untrusted: every value is checked against what
exists (a model is looked up among the stored runs' keys, never used as a path), numbers are
clamped into range, and whatever is malformed is dropped. Each correction comes back as a
note the page shows, so a broken link explains itself.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import dataclass, fields
from typing import Callable, Mapping

from .transforms import ROTATE_LIMIT, SCALE_LIMITS, SHIFT_LIMIT

NUM_SLOTS = 3
DRAWING_LENGTH = 1046  # a 28×28 drawing, a byte a pixel, in URL-safe base64 without padding
MAX_VALUE_LENGTH = 64  # longer values are malformed by definition; never echo them whole
KEY_PATTERN = re.compile(r"[0-9a-f]{12}")


@dataclass(frozen=True)
class Limits:
    """What the URL may name, from the app's current state."""

    run_keys: tuple[str, ...]  # stored runs (spec keys)
    num_images: int  # test images: indices 0..num_images-1
    tabs: tuple[str, ...]  # tab slugs, e.g. ("journey", "filters", ...)
    filters_for: Callable[[str], int]  # a run's filter count (the filter slider's range)
    layers_for: Callable[[str], list[str]]  # a run's feature layer names
    scales: tuple[str, ...] = ("panel", "layer", "figure")  # the colour-scale modes (figures.SCALE_MODES)
    palettes: tuple[str, ...] = ("inferno", "viridis", "cividis")  # the maps' colour maps, the default first
    sides_for: Callable[[str], dict[str, int]] = lambda key: {}  # a run's feature layers and their map sides
    snapshots_for: Callable[[str], int] = lambda key: 0  # how many snapshots a run's replay has
    tour_steps: int = 0  # the lesson tour's steps: tour=1..tour_steps


@dataclass(frozen=True)
class Link:
    """A view as a link names it, checked (``parse``) or to be written (``encode``): None where it says nothing."""

    model: str | None = None  # a stored run's key
    images: tuple[int | None, ...] = (None,) * NUM_SLOTS  # the journey's test indices, one per slot
    filter: int | None = None  # the journey's filter
    layer: str | None = None  # the filters view's layer
    scale: str | None = None  # the maps' colour-range mode
    palette: str | None = None  # the maps' colour map
    tab: str | None = None  # the view's slug
    cell: dict | None = None  # an explained cell: {"slot", "layer", "row", "col"}, slot 0-based
    snapshot: int | None = None  # the replay's snapshot
    shift_x: int | None = None  # the shift probe's transform: pixels right,
    shift_y: int | None = None  # pixels down,
    rotate: float | None = None  # degrees,
    zoom: float | None = None  # and scale
    present: bool | None = None  # presenter mode
    tour: int | None = None  # the tour's step, 1-based
    class_code: str | None = None  # a class to follow
    teacher: str | None = None  # the class's teacher token (checked by the class store)
    drawing: str | None = None  # the drawing pad's picture (``drawing_text``), so a link or a class carries it
    drawn_slot: int | None = None  # the journey's slot showing the drawing instead of its test image, 0-based

    def given(self) -> dict:
        """What the link names, by the page's state names (``image_0``.., ``class``), without the rest."""
        values = {name: getattr(self, name) for name in _FIELDS}
        values.update({f"image_{slot}": index for slot, index in enumerate(self.images)})
        values["class"] = self.class_code
        return {name: value for name, value in values.items() if value is not None}

    @classmethod
    def of(cls, values: Mapping) -> Link:
        """The link of a page's state, by the names ``given`` uses (absent or None: not named)."""
        images = tuple(values.get(f"image_{slot}") for slot in range(NUM_SLOTS))
        return cls(
            **{name: values.get(name) for name in _FIELDS}, images=images, class_code=values.get("class") or None
        )


# A Link's fields that the page's state names alike (not images, nor class_code: "image_0".., "class").
_FIELDS = tuple(field.name for field in fields(Link) if field.name not in ("images", "class_code"))
# The URL's parameters: the fields, with the images in one and the transform's shift in another.
PARAMETERS = ("images", "shift", "class") + tuple(name for name in _FIELDS if name not in ("shift_x", "shift_y"))


def _shown(value: str) -> str:
    """A URL value safe to quote in a note: short, and without Markdown that could render."""
    value = value[:MAX_VALUE_LENGTH] + ("…" if len(value) > MAX_VALUE_LENGTH else "")
    return "`" + value.replace("`", "'") + "`"


def _integer(value: str) -> int | None:
    value = value.strip()
    if not re.fullmatch(r"[+-]?\d{1,18}", value):
        return None
    return int(value)


def _number(value: str) -> float | None:
    try:
        number = float(value.strip()) if len(value) <= 16 else math.nan
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _clamped(name: str, value: str, low: float, high: float, notes: list[str], whole: bool = False) -> float | None:
    """A number within [low, high] (whole if asked), with a note when it had to be moved or dropped."""
    number = _integer(value) if whole else _number(value)
    if number is None:
        notes.append(f"Ignored {name}={_shown(value)}: not a {'whole ' if whole else ''}number.")
        return None
    clamped = min(max(number, low), high)
    if clamped != number:
        notes.append(f"{name}={_shown(value)} is outside {low:g} to {high:g}; using {clamped:g}.")
    return clamped


def parse(params: Mapping[str, str], limits: Limits, default_model: str) -> tuple[Link, list[str]]:
    """The view the URL asks for, and notes on everything it had to ignore or clamp.

    Each of the ``Link``'s fields is set only when the URL gave a usable value for it; a model's own
    limits (its filters, layers, map sides, snapshots) apply to the model the URL names, else to
    ``default_model``.
    """
    state: dict = {}
    notes: list[str] = []
    for name in params:
        if name not in PARAMETERS:
            notes.append(f"Ignored the unknown URL parameter {_shown(name)}.")

    model = default_model
    if "model" in params:
        value = params["model"]
        if KEY_PATTERN.fullmatch(value) and value in limits.run_keys:
            state["model"] = model = value
        else:
            notes.append(f"Ignored model={_shown(value)}: no stored run has that key.")

    if "images" in params:
        parts = params["images"].split(",")
        if len(parts) > NUM_SLOTS:
            notes.append(
                f"Only {NUM_SLOTS} images fit the journey; ignored the rest of images={_shown(params['images'])}."
            )
        for slot, part in enumerate(parts[:NUM_SLOTS]):
            number = _integer(part)
            if number is None:
                if part.strip():
                    notes.append(f"Ignored image {slot + 1} = {_shown(part)}: not a whole number.")
                continue
            clamped = min(max(number, 0), limits.num_images - 1)
            if clamped != number:
                notes.append(
                    f"Image {slot + 1} = {_shown(part)} is out of range 0–{limits.num_images - 1}; using {clamped}."
                )
            state[f"image_{slot}"] = clamped

    if "filter" in params:
        number = _integer(params["filter"])
        num_filters = limits.filters_for(model)
        if number is None:
            notes.append(f"Ignored filter={_shown(params['filter'])}: not a whole number.")
        elif num_filters < 1:
            pass  # a conv-less model shows no filters; the page links it with the last filter anyway
        else:
            clamped = min(max(number, 0), num_filters - 1)
            if clamped != number:
                notes.append(f"Filter {_shown(params['filter'])} is out of range 0–{num_filters - 1}; using {clamped}.")
            state["filter"] = clamped

    if "layer" in params:
        layers = limits.layers_for(model)
        if not layers:
            pass  # as with the filter: nothing to choose, nothing to say
        elif params["layer"] in layers:
            state["layer"] = params["layer"]
        else:
            notes.append(
                f"Ignored layer={_shown(params['layer'])}: this model's layers are {', '.join(layers) or 'none'}."
            )

    if "scale" in params:
        if params["scale"] in limits.scales:
            state["scale"] = params["scale"]
        else:
            notes.append(f"Ignored scale={_shown(params['scale'])}: the colour scales are {', '.join(limits.scales)}.")

    if "palette" in params:
        value = params["palette"].strip().lower()  # "Viridis" as a person might type it
        if value in limits.palettes:
            state["palette"] = value
        else:
            notes.append(
                f"Ignored palette={_shown(params['palette'])}: the maps' colour maps are "
                f"{', '.join(limits.palettes)}; using {limits.palettes[0]}."
            )

    if "cell" in params:
        cell, note = _cell(params["cell"], limits.sides_for(model))
        if cell is not None:
            state["cell"] = cell
        if note:
            notes.append(note)

    if "snapshot" in params:
        count = limits.snapshots_for(model)
        if count < 1:
            notes.append("Ignored snapshot=…: this model has no recorded snapshots to replay.")
        else:
            number = _clamped("snapshot", params["snapshot"], 0, count - 1, notes, whole=True)
            if number is not None:
                state["snapshot"] = int(number)

    if "shift" in params:
        parts = params["shift"].split(",")
        if len(parts) != 2:
            notes.append(f"Ignored shift={_shown(params['shift'])}: expected x,y in pixels (for example 3,-2).")
        else:
            for name, part in zip(("shift_x", "shift_y"), parts):
                number = _clamped("shift", part, -SHIFT_LIMIT, SHIFT_LIMIT, notes, whole=True)
                if number is not None:
                    state[name] = int(number)
    if "rotate" in params:
        number = _clamped("rotate", params["rotate"], -ROTATE_LIMIT, ROTATE_LIMIT, notes)
        if number is not None:
            state["rotate"] = number
    if "zoom" in params:
        number = _clamped("zoom", params["zoom"], *SCALE_LIMITS, notes)
        if number is not None:
            state["zoom"] = number

    if "present" in params:
        value = params["present"].strip().lower()
        if value in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            state["present"] = value in ("1", "true", "yes", "on")
        else:
            notes.append(f"Ignored present={_shown(params['present'])}: use present=1 for presenter mode.")

    if "tour" in params:
        if limits.tour_steps < 1:
            notes.append("Ignored tour=…: the lesson tour isn't available.")
        else:
            number = _clamped("tour", params["tour"], 1, limits.tour_steps, notes, whole=True)
            if number is not None:
                state["tour"] = int(number)

    if "class" in params:
        from .classroom import ClassError, valid_code

        try:
            state["class"] = valid_code(params["class"])
        except ClassError as error:
            notes.append(f"Ignored class={_shown(params['class'])}: {error}")
    if "teacher" in params:
        if "class" not in state:
            notes.append("Ignored teacher=…: it belongs with a class code.")
        elif re.fullmatch(r"[A-Za-z0-9_-]{1,64}", params["teacher"]):
            state["teacher"] = params["teacher"]
        else:
            notes.append("Ignored a malformed teacher token: this page follows the class without leading it.")

    if "drawing" in params:
        if drawing_pixels(params["drawing"]) is not None:
            state["drawing"] = params["drawing"]
        else:
            notes.append("Ignored drawing=…: it isn't a 28×28 drawing as the drawing pad writes one.")
    if "drawn_slot" in params:
        number = _integer(params["drawn_slot"])
        if "drawing" not in state:
            notes.append("Ignored drawn_slot=…: it belongs with a drawing; the journey shows its test images.")
        elif number is None or not 1 <= number <= NUM_SLOTS:
            notes.append(
                f"Ignored drawn_slot={_shown(params['drawn_slot'])}: the drawing's image must be 1–{NUM_SLOTS}."
            )
        else:
            state["drawn_slot"] = number - 1

    if "tab" in params:
        if params["tab"] in limits.tabs:
            state["tab"] = params["tab"]
        else:
            notes.append(f"Ignored tab={_shown(params['tab'])}: the tabs are {', '.join(limits.tabs)}.")
    state["images"] = tuple(state.pop(f"image_{slot}", None) for slot in range(NUM_SLOTS))
    state["class_code"] = state.pop("class", None)
    return Link(**state), notes


def _cell(value: str, sides: Mapping[str, int]) -> tuple[dict | None, str | None]:
    """``image,layer,row,column`` (image 1-based, as on the page) → a cell, and a note if it was adjusted."""
    parts = value.split(",")
    numbers = [_integer(part) for part in parts[::2] + parts[3:4]] if len(parts) == 4 else []
    if len(parts) != 4 or None in numbers:
        return None, f"Ignored cell={_shown(value)}: expected image,layer,row,column (for example 3,conv2,4,5)."
    slot, layer, row, col = numbers[0], parts[1], numbers[1], numbers[2]
    if layer not in sides:
        return None, f"Ignored cell={_shown(value)}: this model's layers are {', '.join(sides) or 'none'}."
    if not 1 <= slot <= NUM_SLOTS:
        return None, f"Ignored cell={_shown(value)}: the image must be 1–{NUM_SLOTS}."
    side = sides[layer]
    clamped = [min(max(n, 0), side - 1) for n in (row, col)]
    note = None
    if clamped != [row, col]:
        note = (
            f"Cell {_shown(value)} is outside {layer}'s {side}×{side} map; using row {clamped[0]}, column {clamped[1]}."
        )
    return {"slot": slot - 1, "layer": layer, "row": clamped[0], "col": clamped[1]}, note


def encode(link: Link) -> dict[str, str]:
    """The URL parameters of a view (the inverse of ``parse`` for a valid view); the defaults add nothing."""
    params = {}
    if link.model is not None:
        params["model"] = str(link.model)
    if all(index is not None for index in link.images):
        params["images"] = ",".join(str(int(index)) for index in link.images)
    for name in ("filter", "layer", "scale", "tab"):
        if getattr(link, name) is not None:
            params[name] = str(getattr(link, name))
    if link.palette not in (None, "inferno"):  # the lesson's colour map needs no word: links stay short
        params["palette"] = str(link.palette)
    if link.cell:
        cell = link.cell
        params["cell"] = f"{cell['slot'] + 1},{cell['layer']},{cell['row']},{cell['col']}"
    if link.snapshot is not None:
        params["snapshot"] = str(int(link.snapshot))
    # The transform only when it moves the picture: an ordinary link stays short.
    if link.shift_x or link.shift_y:
        params["shift"] = f"{int(link.shift_x or 0)},{int(link.shift_y or 0)}"
    if link.rotate:
        params["rotate"] = f"{float(link.rotate):g}"
    if link.zoom not in (None, 1, 1.0):
        params["zoom"] = f"{float(link.zoom):g}"
    if link.present:
        params["present"] = "1"
    if link.tour:
        params["tour"] = str(int(link.tour))
    if link.class_code:
        params["class"] = str(link.class_code)
    if link.teacher:
        params["teacher"] = str(link.teacher)
    if link.drawing:
        params["drawing"] = str(link.drawing)
    if link.drawn_slot is not None:
        params["drawn_slot"] = str(int(link.drawn_slot) + 1)  # 1-based, as the page numbers its images
    return params


def drawing_text(pixels) -> str:
    """A 28×28 picture (784 numbers 0–255) as a link carries it: URL-safe base64 of a byte a pixel."""
    values = [int(value) for value in pixels]
    if len(values) != 784 or not all(0 <= value <= 255 for value in values):
        raise ValueError(f"a drawing is 784 whole numbers from 0 to 255, not {len(values)} numbers")
    return base64.urlsafe_b64encode(bytes(values)).decode().rstrip("=")


def drawing_pixels(text: str) -> list[int] | None:
    """The 784 pixels (0–255) of ``drawing_text``'s output; None for anything else."""
    if not isinstance(text, str) or len(text) != DRAWING_LENGTH or not re.fullmatch(r"[A-Za-z0-9_-]+", text):
        return None
    try:
        return list(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):
        return None
