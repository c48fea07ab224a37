"""A figure's long number arrays as Plotly's typed-array specs, for the wire to the browser.

The filters grid sends 64 maps with a value per cell for hover (about 3 MB as JSON text), and
Streamlit serializes a component's data twice a run (the message and the element's identity):
Python's float formatting then costs a fifth of a second. As ``{"dtype", "bdata", "shape"}``
(the form plotly.js and the plotly package use for NumPy arrays: base64 of the raw values) the same
numbers cost a few milliseconds. Values stay exact: float32 where every value is one, else float64;
gaps (``None``, or NaN in a NumPy array a builder hands over as it is) travel as NaN and come back as
``None``. The chart's ``protocol.js`` unpacks them.
"""

from __future__ import annotations

import base64
import numbers

import numpy as np

MIN_VALUES = 256  # shorter arrays stay readable JSON: the saving would be nothing


def _numeric(values) -> np.ndarray | None:
    """``values`` as a float array when it is a numeric array or a regular nested list of numbers (None for
    gaps), else None."""
    if isinstance(values, np.ndarray):  # a builder's own array (the tiles' mosaic): no list to walk
        return values.astype(np.float64, copy=False) if values.dtype.kind in "biuf" else None
    if not values or not isinstance(values, list):
        return None
    first = values
    while isinstance(first, list) and first:
        first = first[0]
    if first is not None and (isinstance(first, bool) or not isinstance(first, numbers.Real)):
        return None  # text, dicts, booleans: as they are
    try:
        array = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):  # ragged, or not all numbers
        return None
    return array


def _spec(array: np.ndarray) -> dict:
    single = array.astype(np.float32)
    exact = np.array_equal(single.astype(np.float64), array, equal_nan=True)
    raw = single if exact else array
    return {
        "dtype": "f4" if exact else "f8",
        "bdata": base64.b64encode(raw.astype(raw.dtype.newbyteorder("<")).tobytes()).decode("ascii"),
        "shape": ",".join(str(side) for side in array.shape),
    }


def pack(figure: dict) -> dict:
    """A copy of ``figure`` whose traces' long numeric arrays are typed-array specs (layout untouched)."""
    traces = []
    for trace in figure.get("data", []):
        packed = dict(trace)
        for name, values in trace.items():
            array = _numeric(values)
            if array is not None and array.size >= MIN_VALUES:
                packed[name] = _spec(array)
            elif isinstance(values, np.ndarray):  # short, or not numbers: as JSON, gaps as None
                packed[name] = np.where(np.isnan(array), None, array).tolist() if array is not None else values.tolist()
        traces.append(packed)
    return {**figure, "data": traces}


def is_spec(value) -> bool:
    return isinstance(value, dict) and set(value) == {"dtype", "bdata", "shape"}


def unpack(figure: dict) -> dict:
    """``pack``'s inverse: nested lists again, NaN as None (what the browser's protocol.js does)."""
    traces = []
    for trace in figure.get("data", []):
        plain = dict(trace)
        for name, value in trace.items():
            if is_spec(value):
                dtype = {"f4": "<f4", "f8": "<f8"}[value["dtype"]]
                shape = [int(side) for side in value["shape"].split(",")]
                array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=dtype).astype(np.float64).reshape(shape)
                plain[name] = np.where(np.isnan(array), None, array).tolist()
        traces.append(plain)
    return {**figure, "data": traces}
