"""Every filter's maps packed for the browser: a byte a cell, exact colour ranges, a stated error bound."""

from __future__ import annotations

import numpy as np
import pytest

from convlab.figures.scales import SCALE_MODES, shared_ranges
from convlab.mapcodec import LEVELS, from_bytes, pack, to_bytes

JOURNEY_IMAGES = [0, 23, 28]  # the lesson's three ankle boots


@pytest.fixture(scope="module")
def activations(test_split):
    from convlab.activations import Inspector
    from convlab.models import PRESETS
    from convlab.store import DEFAULT_ROOT, ModelStore

    inspector = Inspector(ModelStore(DEFAULT_ROOT).load(PRESETS["conv"]).model)
    return inspector.run(test_split.images[JOURNEY_IMAGES])


@pytest.fixture(scope="module")
def packed(activations):
    return pack(activations)


def test_every_cell_decodes_within_half_a_step_and_each_maximum_exactly(activations, packed):
    for filter_index in range(64):
        for image, row in enumerate(activations.filter_maps(filter_index)):
            for layer, real in enumerate(row):
                decoded = packed.map(image, layer, filter_index)
                bound = packed.error_bound(image, layer, filter_index)
                assert bound == pytest.approx(float(real.max()) / (2 * LEVELS))
                assert np.max(np.abs(decoded - real)) <= bound * (1 + 1e-5) + 1e-12
                assert decoded.max() == real.max()  # the top of every colour range is exact
                assert np.array_equal(decoded == 0, real <= bound)  # what reads as zero is below half a step


def test_the_colour_ranges_are_the_servers_exactly_in_every_mode(activations, packed):
    for scale in SCALE_MODES:
        for filter_index in range(64):
            assert packed.ranges(filter_index, scale) == shared_ranges(activations.filter_maps(filter_index), scale)


def test_a_drawn_shade_moves_by_at_most_half_a_step_in_every_mode(activations, packed):
    """The colour a cell gets is its value over its range's top: off by at most 1/510 of the range."""
    for scale in SCALE_MODES:
        for filter_index in (1, 4, 22, 38):
            real_maps, ranges = activations.filter_maps(filter_index), packed.ranges(filter_index, scale)
            for image, row in enumerate(real_maps):
                for layer, real in enumerate(row):
                    low, high = ranges.get("figure", ranges.get(layer, (0.0, float(real.max()) or 1.0)))
                    shade = (packed.map(image, layer, filter_index) - low) / (high - low)
                    assert np.max(np.abs(shade - (real - low) / (high - low))) <= 1 / (2 * LEVELS) + 1e-6


def test_bytes_round_trip_and_the_size_fits_the_budget(packed, activations):
    data = to_bytes(packed)
    again = from_bytes(data)
    assert [layer.name for layer in again.layers] == list(activations.layer_names)
    for mine, theirs in zip(packed.layers, again.layers):
        assert np.array_equal(mine.highs, theirs.highs) and np.array_equal(mine.codes, theirs.codes)
    cells = sum(int(np.prod(maps.shape)) for maps in activations.maps)
    assert cells == 3 * (26 * 26 + 13 * 13 + 11 * 11 + 5 * 5) * 64  # 190,272: the lesson's three images
    assert cells < len(data) < cells + 4 * 3 * 4 * 64 + 1000  # a byte a cell, a float per map, a small header
    assert len(data) <= 300_000  # the budget per image set


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda data: b"PNG" + data[3:], "signature"),
        (lambda data: data[:-10], "cut short"),
        (lambda data: data + b"\0", "too many"),
        (lambda data: data[:11] + b"!" + data[12:], "broken header"),
    ],
)
def test_damaged_bytes_are_refused_naming_the_fault(packed, damage, message):
    with pytest.raises(ValueError, match=message):
        from_bytes(damage(to_bytes(packed)))


def test_maps_below_zero_are_refused(activations):
    from convlab.activations import Activations

    negative = Activations(activations.layer_names, tuple(m - 1 for m in activations.maps), activations.probabilities)
    with pytest.raises(ValueError, match="below 0"):
        pack(negative)


def test_maps_that_are_not_numbers_are_refused(activations):
    """A diverged training's maps (NaN, or a max-pool of NaN's float32 lowest): refused, saying why."""
    from convlab.activations import Activations

    broken = [m.copy() for m in activations.maps]
    broken[1][0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN weights"):
        pack(Activations(activations.layer_names, tuple(broken), activations.probabilities))
