"""Measuring a model's filters: which one responds to what three images share, which one is quiet, whose maps
run upright, and where its maps light up, in words.

The lesson tour (``convlab.tour``) finds every filter it shows with these, in ConvLab's own model,
since a network trained again learns its filters in another order than the video's. The yardstick,
used the same way throughout:

* a filter's **response** to an image is the brightest value of its map in a layer (the tour uses
  pool2, the journey's last column: what the dense layers get), divided by that filter's **typical**
  response, the mean of the same over a sample of test images (``Baseline``; the tour's is every
  ``SAMPLE_EVERY``-th). 1.0 means "as bright as on an average test image"; comparing filters needs
  this because some fire far harder than others;
* a filter **responds to what three images share** when its weakest response of the three is
  high: ``find_shared_filter`` takes the filter whose weakest response is the highest;
* a filter is **live** when it fires (a peak above zero) on at least ``LIVE_SHARE`` of the sample:
  a filter that is dark almost everywhere says nothing by staying dark on ours;
* a map is **lit** in a cell that reaches at least ``LIT`` of that map's own peak. ``places`` names
  the cells lit in every map of a few images, as ninths of the maps as the journey draws them, and
  where each map's brightest cell is: nothing said about a place is truer of one map than of
  another, and the places are where the grid shows them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_EVERY = 5  # every fifth test image: 2,000 are plenty for a filter's typical response
LIVE_SHARE = 0.1  # fires on fewer test images than this share: (nearly) dead, its silence means nothing
VERTICAL = 2 / 3  # at least twice as much of a map's change runs across it as up and down
LIT = 0.5  # a cell at least this share of its map's own peak is lit (``places``)


@dataclass(frozen=True)
class Baseline:
    """Each filter's typical response per feature layer, from a sample of test images."""

    typical: dict[str, np.ndarray]  # layer -> (filters,) mean of the map's peak over the sample
    live: dict[str, np.ndarray]  # layer -> (filters,) True where the filter fires on >= LIVE_SHARE of it
    sample: int  # how many test images the sample holds


# -- responses -----------------------------------------------------------------------------------
def baseline(inspector, images: np.ndarray) -> Baseline:
    """Typical responses over ``images`` (the tour uses every fifth test image)."""
    if len(images) == 0:
        raise ValueError("baseline needs some test images: pass split.images[::SAMPLE_EVERY]")
    return baseline_of(inspector.max_activations(images))


def baseline_of(maxima: dict[str, np.ndarray]) -> Baseline:
    """Typical responses from each layer's (images, filters) map maxima, computed already (``convlab.testset``)."""
    return Baseline(
        typical={layer: values.mean(axis=0) for layer, values in maxima.items()},
        live={layer: (values > 0).mean(axis=0) >= LIVE_SHARE for layer, values in maxima.items()},
        sample=len(next(iter(maxima.values()))),
    )


def layer_maps(inspector, images: np.ndarray, layer: str) -> np.ndarray:
    """(images, height, width, filters): every filter's map of ``layer`` for ``images``."""
    activations = inspector.run(images)
    if layer not in activations.layer_names:
        raise ValueError(f"layer must be one of {', '.join(activations.layer_names)}, not {layer!r}")
    return activations.maps[activations.layer_names.index(layer)]


def relative_peaks(inspector, images: np.ndarray, layer: str, base: Baseline) -> np.ndarray:
    """(images, filters): each map's peak over the filter's typical peak (0 where it is never typical)."""
    peaks = layer_maps(inspector, images, layer).max(axis=(1, 2))
    typical = base.typical[layer]
    return np.divide(peaks, typical, out=np.zeros_like(peaks), where=typical > 0)


def _best(scores: np.ndarray, allowed: np.ndarray, highest: bool) -> tuple[int, float]:
    """The allowed filter with the highest (or lowest) score; ties go to the lower number."""
    if not allowed.any():
        raise ValueError("no filter qualifies: the model's filters are (nearly) dead; train the model again")
    masked = np.where(allowed, scores if highest else -scores, -np.inf)
    index = int(np.argmax(masked))
    return index, float(scores[index])


def find_shared_filter(inspector, images: np.ndarray, layer: str, base: Baseline) -> tuple[int, float]:
    """The live filter whose weakest response over ``images`` is highest, and that response."""
    relative = relative_peaks(inspector, images, layer, base)
    return _best(relative.min(axis=0), base.live[layer], highest=True)


def find_quiet_filter(inspector, images: np.ndarray, layer: str, base: Baseline) -> tuple[int, float]:
    """The live filter whose strongest response over ``images`` is lowest ("does little"), and that response."""
    relative = relative_peaks(inspector, images, layer, base)
    return _best(relative.max(axis=0), base.live[layer], highest=False)


def find_disagreeing_filter(inspector, images: np.ndarray, layer: str, base: Baseline) -> tuple[int, float]:
    """Among live filters lighting at least one image as brightly as a typical one (response >= 1),
    the one whose weakest response is the smallest share of its strongest; and that share."""
    relative = relative_peaks(inspector, images, layer, base)
    strongest = relative.max(axis=0)
    share = np.divide(relative.min(axis=0), strongest, out=np.zeros_like(strongest), where=strongest > 0)
    return _best(share, base.live[layer] & (strongest >= 1), highest=False)


def verticality(feature_map: np.ndarray) -> float:
    """How much of a map's change runs across it (left-right) rather than up and down, 0..1.

    The squared differences between horizontal neighbours over those of all neighbours: a
    vertical line changes only across, so it scores near 1; a horizontal one near 0; a round
    blob 0.5. A flat map has no direction: 0.5.
    """
    feature_map = np.asarray(feature_map, dtype=np.float64)
    across = float((np.diff(feature_map, axis=1) ** 2).sum())
    down = float((np.diff(feature_map, axis=0) ** 2).sum())
    return across / (across + down) if across + down > 0 else 0.5


def find_vertical_shared_filter(inspector, images: np.ndarray, layer: str, base: Baseline) -> tuple[int, float]:
    """Like ``find_shared_filter``, among the live filters whose maps are vertical (``VERTICAL``) on every image."""
    maps = layer_maps(inspector, images, layer)
    vertical = np.array([[verticality(maps[i, :, :, f]) for f in range(maps.shape[-1])] for i in range(len(maps))])
    relative = relative_peaks(inspector, images, layer, base)
    return _best(relative.min(axis=0), base.live[layer] & (vertical.min(axis=0) >= VERTICAL), highest=True)


def shared_rank(inspector, images: np.ndarray, layer: str, base: Baseline, filter_index: int) -> int:
    """Where ``filter_index`` places among the live filters by ``find_shared_filter``'s measure (1 = best)."""
    scores = relative_peaks(inspector, images, layer, base).min(axis=0)
    return 1 + int((base.live[layer] & (scores > scores[filter_index])).sum())


# -- places, in words ----------------------------------------------------------------------------
VERTICALS, HORIZONTALS = ("top", "middle", "bottom"), ("left", "centre", "right")


def ninth(row: int, col: int, shape: tuple[int, int]) -> tuple[int, int]:
    """Which ninth of a map (of ``shape``, as the journey draws it: a square as large as the picture)
    a cell's centre lies in: (0..2 from the top, 0..2 from the left)."""
    return min(int(3 * (row + 0.5) / shape[0]), 2), min(int(3 * (col + 0.5) / shape[1]), 2)


def ninth_name(place: tuple[int, int]) -> str:
    """ "bottom centre", "top left", "centre"..."""
    vertical, horizontal = VERTICALS[place[0]], HORIZONTALS[place[1]]
    return "centre" if place == (1, 1) else f"{vertical} {horizontal}"


def place_words(places) -> str:
    """Words for a set of ninths (``ninth``), as "… of the maps" follows them: "in the bottom left";
    a whole row of ninths "along the bottom" ("across the middle"); a whole column "down the left
    side" ("down the middle"); else each ninth: "in the centre and the bottom centre"."""
    places = sorted(set(places))
    if not places:
        raise ValueError("place_words needs at least one ninth")
    rows, columns = {row for row, _ in places}, {column for _, column in places}
    if len(places) == 1:
        return f"in the {ninth_name(places[0])}"
    if len(rows) == 1 and columns == {0, 1, 2}:
        return "across the middle" if rows == {1} else f"along the {VERTICALS[rows.pop()]}"
    if len(columns) == 1 and rows == {0, 1, 2}:
        return "down the middle" if columns == {1} else f"down the {HORIZONTALS[columns.pop()]} side"
    return "in " + listed(f"the {ninth_name(place)}" for place in places)


def peak_place(feature_map: np.ndarray) -> str:
    """Where a map is brightest: the ninth of the map its peak cell lies in ("bottom right")."""
    row, col = np.unravel_index(int(np.argmax(feature_map)), feature_map.shape)
    return ninth_name(ninth(int(row), int(col), feature_map.shape))


@dataclass(frozen=True)
class Places:
    """Where one filter's maps of a few images light up (``places``), for the words of a step."""

    together: str | None  # where every map is lit ("in the bottom left", "along the bottom"); None: nowhere
    least: float  # there, the lowest share of its own peak any of the maps has (>= LIT); 0.0 when nowhere
    cells: tuple[tuple[int, int], ...]  # the map cells (row, column) lit in every map
    ninths: tuple[tuple[int, int], ...]  # the ninths of the map those cells lie in
    peaks: tuple[str | None, ...]  # each map's brightest cell, as a ninth of the map ("bottom right"); None: all dark


def places(maps: np.ndarray) -> Places:
    """Where several images' maps of one filter (``maps``: images × height × width, as the journey
    draws them) are lit together, and where each is brightest.

    Each map is scaled to its own peak; a cell is lit in a map where it reaches ``LIT`` of that
    peak. ``together`` names exactly the ninths (of the map as drawn, ``ninth``) holding the cells
    lit in every map, so the words hold for each map alike and for what the grid shows.
    """
    maps = np.asarray(maps, dtype=np.float64)
    top = maps.max(axis=(1, 2), keepdims=True)
    shares = np.divide(maps, top, out=np.zeros(maps.shape), where=top > 0).min(axis=0)
    cells = tuple((int(row), int(col)) for row, col in zip(*np.nonzero(shares >= LIT)))
    ninths = tuple(sorted({ninth(row, col, shares.shape) for row, col in cells}))
    peaks = tuple(peak_place(feature_map) if feature_map.max() > 0 else None for feature_map in maps)
    if not cells:
        return Places(None, 0.0, (), (), peaks)
    least = float(min(shares[row, col] for row, col in cells))
    return Places(place_words(ninths), least, cells, ninths, peaks)


def listed(items) -> str:
    """ "a", "a and b", "a, b and c" """
    items = [str(item) for item in items]
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else items[0]
