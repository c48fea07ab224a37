"""A training, replayed: the journey's maps and conv1's kernels as they were at each snapshot.

``Replay`` builds one Keras model of the run's spec and swaps each snapshot's weights into it
under a lock (a few milliseconds for the lesson's 243,786 weights), so moving the replay's
slider costs a weight swap and one forward pass of a handful of images, never a model build.
"""

from __future__ import annotations

import threading

import numpy as np

from .activations import Activations, Inspector
from .models import ModelSpec, build
from .snapshots import Snapshots


class Replay:
    """One run's snapshots, run through a model of its own; safe to share between threads."""

    def __init__(self, spec: ModelSpec, snapshots: Snapshots):
        if not len(snapshots):
            raise ValueError("a replay needs at least one snapshot")
        self.spec, self.snapshots = spec, snapshots
        self.inspector = Inspector(build(spec))
        shapes = [tuple(w.shape) for w in self.inspector.model.get_weights()]
        if [tuple(w.shape) for w in snapshots.weights[0]] != shapes:
            raise ValueError(f"the snapshots hold other weights than a {spec.describe()} model: train it again")
        # Where conv1's kernel sits in get_weights() order (the replay draws it beside the grid).
        conv1 = next((layer for layer in self.inspector.layers if layer.name == "conv1"), None)
        self._kernel_index = (
            None
            if conv1 is None
            else next(i for i, variable in enumerate(self.inspector.model.weights) if variable is conv1.kernel)
        )
        self._lock = threading.Lock()
        self._loaded: int | None = None
        kernels = [] if self._kernel_index is None else [w[self._kernel_index] for w in snapshots.weights]
        # The largest |weight| of conv1 over every snapshot: one colour scale for the whole replay.
        self.kernel_limit = max((float(np.abs(k).max()) for k in kernels), default=0.0) or 1.0

    def __len__(self) -> int:
        return len(self.snapshots)

    def _check(self, index: int) -> None:
        if not 0 <= index < len(self):
            raise ValueError(f"snapshot must be 0..{len(self) - 1}, not {index}")

    def activations(self, index: int, images: np.ndarray) -> Activations:
        """Every feature map and the probabilities of ``images`` with snapshot ``index``'s weights."""
        self._check(index)
        with self._lock:  # the swap and the run together: another session may want another snapshot
            if self._loaded != index:
                self.inspector.model.set_weights(self.snapshots.weights[index])
                self._loaded = index
            return self.inspector.run(images)

    def kernels(self, index: int) -> np.ndarray | None:
        """conv1's kernels at snapshot ``index``, (k, k, 1, filters); None for a model without convolutions."""
        self._check(index)
        if self._kernel_index is None:
            return None
        return self.snapshots.weights[index][self._kernel_index]
