"""What a filter wants to see: one "portrait" per filter of a conv layer, by activation maximisation.

``portraits`` starts every filter of a Conv2D layer from the same grey image (plus a little
seeded noise) and climbs the gradient of the mean activation of that filter's map, all filters
at once: one batch of ``filters`` images, where image i is scored on filter i only. The usual
regularisers keep the pictures readable: a random roll by a pixel each step (jitter), a light
Gaussian blur every few steps, small normalised (Adam) steps, and clipping to [0, 1]. The
64 filters of the lesson's conv2 take a couple of seconds on 2 cores.

``PortraitCache`` keeps the result beside the models (``<root>/portraits/<stem>-<layer>.npz``)
with the model's checksum and the settings used, so it is reused only for the same weights and
settings. It writes atomically, sets an unreadable file aside in ``corrupt/`` like the store,
and keeps the portraits in memory when the folder is read-only.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .data import IMAGE_SIZE
from .sidecache import SideCache
from .store import StoredModel, file_stem

FORMAT_VERSION = 1
DEFAULT_STEPS = 150
DEFAULT_LEARNING_RATE = 0.1  # Adam's step: about how far a pixel moves per step, on a 0..1 scale
START_GREY = 0.5
START_NOISE = 0.01  # a little noise, so the filters' maps aren't flat where the climb begins
JITTER = 1  # pixels: the image is rolled by up to this much each step, so no pattern relies on one position
BLUR_EVERY = 10  # steps
BLUR_SIGMA = 0.5  # pixels, in a 3x3 Gaussian: light, it only tames pixel-sized noise
LEAK = 0.03  # the climb also follows the map where the ReLU is off, or a filter dead on grey never starts
CHECK_EVERY = 10  # steps between progress calls and between looks for each filter's best image so far
BETAS = (0.9, 0.999)  # Adam's usual averaging of the gradient and of its square

Progress = Callable[[int, int], None]


def conv_layers(model) -> list:
    """The model's Conv2D layers, in order."""
    return [layer for layer in model.layers if type(layer).__name__ == "Conv2D"]


def conv_layer(model, layer_name: str):
    """The Conv2D layer called ``layer_name``; ValueError naming the conv layers if there's none."""
    layers = conv_layers(model)
    for layer in layers:
        if layer.name == layer_name:
            return layer
    names = ", ".join(layer.name for layer in layers) or "none: this model has no conv layers"
    raise ValueError(f"{layer_name!r} is not a conv layer of this model; its conv layers are {names}")


def check_weights(model, name: str = "The model") -> None:
    """ValueError if a weight is NaN or infinite: the climb would only spread it."""
    for weight in model.weights:
        values = np.asarray(weight)
        if not np.isfinite(values).all():
            kind = "NaN" if np.isnan(values).any() else "infinite"
            raise ValueError(f"{name} has {kind} weights (in {weight.path}), so it can't be portrayed or explained.")


def settings(steps: int = DEFAULT_STEPS, learning_rate: float = DEFAULT_LEARNING_RATE, seed: int = 0) -> dict:
    """Everything besides the model that decides the portraits: a cache is reused only if these match."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a whole number of at least 1, not {steps!r}")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be above 0, not {learning_rate!r}")
    return {
        "format": FORMAT_VERSION,
        "steps": steps,
        "learning_rate": float(learning_rate),
        "seed": int(seed),
        "start": [START_GREY, START_NOISE],
        "jitter": JITTER,
        "blur": [BLUR_EVERY, BLUR_SIGMA],
        "leak": LEAK,
        "check_every": CHECK_EVERY,
        "betas": list(BETAS),
    }


def portraits(
    model,
    layer_name: str,
    steps: int = DEFAULT_STEPS,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    seed: int = 0,
    progress: Progress | None = None,
    lock: threading.Lock | None = None,
) -> np.ndarray:
    """One (28, 28) image in [0, 1] per filter of ``layer_name``: (filters, 28, 28), float32.

    Each filter's portrait is the best of its images at the checks (the start included), scored by
    the mean of its map after the activation. ``lock`` (say ``StoredModel.lock``) is held while the
    model is used, a few steps at a time, and ``progress(done_steps, steps)`` is called between them.
    """
    layer = conv_layer(model, layer_name)
    settings(steps, learning_rate, seed)
    guard = lock if lock is not None else contextlib.nullcontext()
    rng = np.random.default_rng(seed)
    shape = (layer.filters, IMAGE_SIZE, IMAGE_SIZE, 1)
    images = np.clip(START_GREY + START_NOISE * rng.standard_normal(shape), 0, 1).astype(np.float32)
    shifts = rng.integers(-JITTER, JITTER + 1, size=(steps, 2)).astype(np.int32)
    moments = (np.zeros_like(images), np.zeros_like(images))
    with guard:
        check_weights(model)
        step, score = _compiled(model, layer)
        best, best_scores = images, np.asarray(score(images))
    done = 0
    while done < steps:
        chunk = min(CHECK_EVERY, steps - done)
        with guard:
            for index in range(done, done + chunk):
                # No blur after the last step: the portrait keeps the detail the filter asked for.
                blur = np.array((index + 1) % BLUR_EVERY == 0 and index + 1 < steps)
                rate, count = np.float32(learning_rate), np.float32(index + 1)
                images, *moments = step(images, shifts[index], blur, rate, *moments, count)
            scores = np.asarray(score(images))
        # >=: on a tie (0 for a filter not alive yet) the newer image, which the climb has moved on.
        better = scores >= best_scores
        best = np.where(better[:, None, None, None], np.asarray(images), best)
        best_scores = np.maximum(scores, best_scores)
        done += chunk
        if progress is not None:
            progress(done, steps)
    return best[..., 0]


def _compiled(model, layer):
    """``step(images, shift, blur, rate, m, v, t)`` (one Adam step) and ``score(images)``, as tf.functions."""
    import keras
    import tensorflow as tf

    # The layer's input, then its convolution here: the climb needs the map before the activation.
    feed = keras.Model(inputs=model.inputs[0], outputs=layer.input)
    blur_kernel = tf.constant(_gaussian_kernel(BLUR_SIGMA)[:, :, np.newaxis, np.newaxis])
    beta1, beta2 = BETAS

    def own_maps(images):
        """(height, width, filters): image i's map of filter i, before the activation."""
        z = layer.convolution_op(feed(images, training=False), layer.kernel)
        if layer.use_bias:
            z = z + layer.bias
        return tf.linalg.diag_part(tf.transpose(z, [1, 2, 0, 3]))

    @tf.function
    def score(images):
        return tf.reduce_mean(layer.activation(own_maps(images)), axis=[0, 1])

    @tf.function
    def step(images, shift, blur, rate, m, v, t):
        moved = tf.roll(images, shift, axis=[1, 2])
        with tf.GradientTape() as tape:
            tape.watch(moved)
            z = own_maps(moved)
            objective = tf.reduce_sum(layer.activation(z) + LEAK * tf.minimum(z, 0.0))
        gradient = tf.roll(tape.gradient(objective, moved), -shift, axis=[1, 2])
        m = beta1 * m + (1 - beta1) * gradient
        v = beta2 * v + (1 - beta2) * tf.square(gradient)
        # Adam: each pixel moves by about ``rate``, whatever the scale of its filter's gradient.
        images += rate * (m / (1 - beta1**t)) / (tf.sqrt(v / (1 - beta2**t)) + 1e-8)
        if blur:
            # Reflected edges, so the blur doesn't darken the border.
            padded = tf.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="REFLECT")
            images = tf.nn.conv2d(padded, blur_kernel, strides=1, padding="VALID")
        return tf.clip_by_value(images, 0.0, 1.0), m, v

    return step, score


def _gaussian_kernel(sigma: float) -> np.ndarray:
    """A normalised 3x3 Gaussian."""
    line = np.exp(-(np.arange(-1, 2) ** 2) / (2 * sigma**2))
    kernel = np.outer(line, line)
    return (kernel / kernel.sum()).astype(np.float32)


class PortraitCache(SideCache):
    """Portraits on disk beside the models, one ``.npz`` per model file and layer; shared between threads."""

    what = "portraits"
    again = "the portraits were drawn again"

    def __init__(self, root: Path | str | None = None, **options):
        """``options``: ``settings``' (steps, learning_rate, seed); a file is reused only for the same ones."""
        super().__init__(root)
        self.settings = settings(**options)

    def path(self, stored: StoredModel, layer_name: str) -> Path:
        return self.root / "portraits" / f"{file_stem(stored.spec)}-{layer_name}.npz"

    def load_or_make(
        self, stored: StoredModel, layer_name: str, progress: Progress | None = None
    ) -> tuple[np.ndarray, str | None]:
        """The layer's portraits, from the cache if it holds this model's with these settings, else drawn
        and saved; and a sentence for the page when something went wrong with the file, else None."""
        layer = conv_layer(stored.model, layer_name)  # before the name becomes part of a file name
        with stored.lock:
            check_weights(stored.model, f"The {stored.spec.kind} model")
        checksum = stored.meta.get("model_sha256")
        path = self.path(stored, layer_name)
        with self._lock_for(path):  # two sessions asking for the same portraits draw them once
            remembered = self._remembered(path, stored, checksum)
            if remembered is not None:
                return remembered
            problem = None
            if checksum is not None:
                found, problem = self._read(path, lambda at: self._parse(at, checksum, layer.filters))
                if found is not None:
                    return found, None
            run = {key: self.settings[key] for key in ("steps", "learning_rate", "seed")}
            made = portraits(stored.model, layer_name, **run, progress=progress, lock=stored.lock)
            return self._keep(path, stored, checksum, made, problem)

    def _parse(self, path: Path, checksum: str, filters: int) -> np.ndarray | None:
        """The saved portraits if they are this model's with these settings, else None; an error if the
        file isn't this cache's (``SideCache._read`` sets it aside)."""
        with np.load(path, allow_pickle=False) as data:
            saved_checksum, saved_settings = str(data["model_sha256"]), json.loads(str(data["settings"]))
            images = np.array(data["portraits"])
        if images.shape != (filters, IMAGE_SIZE, IMAGE_SIZE) or images.dtype != np.float32:
            raise ValueError(f"it holds {images.shape} {images.dtype}, not {filters} float32 28x28 images")
        if not (np.isfinite(images).all() and images.min() >= 0 and images.max() <= 1):
            raise ValueError("its images aren't all in [0, 1]")
        if saved_checksum != checksum or saved_settings != self.settings:
            return None  # another model's or other settings': drawn again and overwritten
        return images

    def _write(self, temp: Path, checksum: str, images: np.ndarray) -> None:
        """The portraits with the checksum and settings; strings as 0-d unicode arrays, so the file
        loads with allow_pickle=False."""
        strings = {"model_sha256": np.array(checksum), "settings": np.array(json.dumps(self.settings))}
        np.savez_compressed(temp, portraits=images, **strings)
