"""What each conv and pool layer sees: every feature map of a batch in one forward pass.

The lesson builds a model per layer and calls ``predict`` once per image per layer (12 calls
for its grid). ConvLab builds one Keras model whose outputs are every Conv2D and MaxPooling2D
output plus the class probabilities, and runs it once for all images. The result is sliced
per filter afterwards, so moving the filter slider costs no inference at all.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

FEATURE_LAYER_TYPES = ("Conv2D", "MaxPooling2D")


@dataclass(frozen=True)
class Activations:
    layer_names: tuple[str, ...]  # e.g. ("conv1", "pool1", "conv2", "pool2")
    maps: tuple[np.ndarray, ...]  # one (images, height, width, filters) array per layer
    probabilities: np.ndarray  # (images, 10) softmax output

    def mistaken(self, labels) -> list[bool]:
        """Per image, whether the model's top class is not its ``labels`` entry (the journey's rows in red); an
        image without a label (None: a drawing) is never wrong."""
        return [label is not None and int(p.argmax()) != int(label) for p, label in zip(self.probabilities, labels)]

    def filter_maps(self, filter_index: int) -> list[list[np.ndarray | None]]:
        """``[image][layer]`` 2-D maps of one filter: the journey grid's panels.

        A layer with fewer filters than ``filter_index + 1`` (say 16 then 32) gives None.
        """
        if not self.maps:
            return []
        limit = max(m.shape[-1] for m in self.maps)
        if not 0 <= filter_index < limit:
            raise ValueError(f"filter_index must be 0..{limit - 1}, not {filter_index}")
        return [
            [m[image, :, :, filter_index] if filter_index < m.shape[-1] else None for m in self.maps]
            for image in range(len(self.probabilities))
        ]


def feature_layers(model) -> list:
    """The model's Conv2D and MaxPooling2D layers, in order (any number of conv blocks)."""
    return [layer for layer in model.layers if type(layer).__name__ in FEATURE_LAYER_TYPES]


class Inspector:
    """Runs a model's feature layers and output in one pass; safe to share between threads.

    Keras models are not thread-safe and Streamlit serves each session from its own thread,
    so every call goes through one lock per inspector (one inspector per model).
    """

    def __init__(self, model):
        import keras

        self.model = model
        self.layers = feature_layers(model)
        # Keras 3: a Sequential that starts with keras.Input has .inputs; .input may raise.
        # Its one input tensor (not the list) keeps calls with a plain array warning-free.
        outputs = [layer.output for layer in self.layers] + list(model.outputs)
        self._multi_output = keras.Model(inputs=model.inputs[0], outputs=outputs)
        self._lock = threading.Lock()
        self._maxima = None  # built on first use: only the filter finder needs it

    @property
    def num_filters(self) -> int:
        """The most filters any feature layer has: the filter slider's range."""
        return max((layer.output.shape[-1] for layer in self.layers), default=0)

    @property
    def filters_per_layer(self) -> list[int]:
        return [layer.output.shape[-1] for layer in self.layers]

    def run(self, images: np.ndarray) -> Activations:
        images = np.asarray(images, dtype=np.float32)
        if images.ndim == 3:
            images = images[..., np.newaxis]
        if images.ndim != 4 or images.shape[1:] != (28, 28, 1):
            raise ValueError(f"images must have shape (n, 28, 28[, 1]), not {images.shape}")
        with self._lock:
            # A direct call, not predict(): no per-call tf.data pipeline for a handful of images.
            outputs = self._multi_output(images, training=False)
        if not isinstance(outputs, (list, tuple)):  # a dense model: Keras unwraps a one-output list
            outputs = [outputs]
        arrays = [np.asarray(output) for output in outputs]
        return Activations(
            layer_names=tuple(layer.name for layer in self.layers),
            maps=tuple(arrays[:-1]),
            probabilities=arrays[-1],
        )

    def max_activations(self, images: np.ndarray, batch_size: int = 1000) -> dict[str, np.ndarray]:
        """For each feature layer, an (images, filters) array of each map's maximum.

        The maximum is taken inside the graph (global max pooling), so only a few numbers per
        image leave TensorFlow: for 10,000 images that's seconds, where copying conv1's full
        maps out (1.7 GB) and reducing them in NumPy takes many times longer.
        """
        import keras

        if self._maxima is None:
            pooled = [keras.layers.GlobalMaxPooling2D()(layer.output) for layer in self.layers]
            self._maxima = keras.Model(inputs=self.model.inputs[0], outputs=pooled)
        if not self.layers:
            return {}
        with self._lock:
            outputs = self._maxima.predict(np.asarray(images, dtype=np.float32), batch_size=batch_size, verbose=0)
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        return {layer.name: np.asarray(output) for layer, output in zip(self.layers, outputs)}

    def predict_probabilities(self, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Class probabilities for many images, in batches, under the same lock."""
        with self._lock:
            return np.asarray(self.model.predict(images, batch_size=batch_size, verbose=0))
