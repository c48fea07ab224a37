"""What a filter wants to see: one "portrait" per filter of a conv layer, by activation maximisation.

``portraits`` starts every filter of a Conv2D layer from the same grey image (plus a little
seeded noise) and climbs the gradient of the mean activation of that filter's map, all filters
at once: one batch of ``filters`` images, where image i is scored on filter i only. The usual
regularisers keep the pictures readable: a random roll of a pixel or two each step (jitter), a
light Gaussian blur every few steps, steps normalised per image, and clipping to [0, 1].

``PortraitCache`` keeps the result beside the model (``<root>/portraits/<stem>-<layer>.npz``)
with the model's checksum and the settings used, so it is reused only for the same weights and
settings; it writes atomically and sets a corrupt file aside in ``corrupt/`` like the store.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from .data import IMAGE_SIZE
from .store import StoredModel, _write_atomically, file_stem

FORMAT_VERSION = 1
DEFAULT_STEPS = 150
DEFAULT_LEARNING_RATE = 0.05  # each step moves a pixel by this much on average (the step is normalised)
START_GREY = 0.5
START_NOISE = 0.01  # a little noise, so a gradient that is zero on a flat image still has somewhere to go
JITTER = 1  # pixels: the image is rolled by up to this much each step, so no pattern relies on one position
BLUR_EVERY = 10  # steps
BLUR_SIGMA = 0.5  # pixels: light, a 3x3 Gaussian
ADAM = False
LEAK = 0.1  # the climb also follows the map where the ReLU is off, or a filter dead on grey never starts
CHECK_EVERY = 10  # steps between progress calls and between looks for each filter's best image so far

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
    """ValueError if any weight is NaN or infinite: gradient ascent would only spread it."""
    for weight in model.weights:
        values = np.asarray(weight)
        if np.isnan(values).any():
            raise ValueError(f"{name} has NaN weights (in {weight.path}); train it again before drawing portraits")
        if not np.isfinite(values).all():
            raise ValueError(f"{name} has infinite weights (in {weight.path}); train it again before drawing portraits")


def settings(steps: int = DEFAULT_STEPS, learning_rate: float = DEFAULT_LEARNING_RATE, seed: int = 0) -> dict:
    """Everything that decides the portraits besides the model: a cache is reused only if these match."""
    if not isinstance(steps, int) or steps < 1:
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
    the mean of its map after the activation. ``progress(done_steps, steps)`` is called every few
    steps, outside ``lock``, which is held while the model is used (pass ``StoredModel.lock``).
    """
    layer = conv_layer(model, layer_name)
    settings(steps, learning_rate, seed)
    check_weights(model)
    guard = lock if lock is not None else contextlib.nullcontext()
    rng = np.random.default_rng(seed)
    filters = layer.filters
    shape = (filters, IMAGE_SIZE, IMAGE_SIZE, 1)
    images = np.clip(START_GREY + START_NOISE * rng.standard_normal(shape), 0, 1).astype(np.float32)
    shifts = rng.integers(-JITTER, JITTER + 1, size=(steps, 2)).astype(np.int32)
    with guard:
        step, score = _compiled(model, layer)
        best, best_scores = images, np.asarray(score(images))
    done = 0
    m = v = np.zeros_like(images)
    while done < steps:
        chunk = min(CHECK_EVERY, steps - done)
        with guard:
            for index in range(done, done + chunk):
                # No blur on the last step: the portrait keeps the detail the filter asked for.
                blur = (index + 1) % BLUR_EVERY == 0 and index + 1 < steps
                images, m, v = step(images, shifts[index], np.array(blur), np.float32(learning_rate), m, v, np.float32(index + 1))
            scores = np.asarray(score(images))
        better = scores >= best_scores  # on a tie (say 0 for a filter not yet alive) the newer image
        best = np.where(better[:, None, None, None], np.asarray(images), best)
        best_scores = np.maximum(scores, best_scores)
        done += chunk
        if progress is not None:
            progress(done, steps)
    return np.asarray(best)[..., 0]


def _compiled(model, layer):
    """``step(images, shift, blur, rate)`` and ``score(images)``, compiled once per call of ``portraits``."""
    import keras
    import tensorflow as tf

    # The layer's input, then its convolution by hand: the ascent needs the map before the activation.
    feed = keras.Model(inputs=model.inputs[0], outputs=layer.input)
    blur_kernel = tf.constant(_gaussian_kernel(BLUR_SIGMA)[:, :, np.newaxis, np.newaxis])

    def own_maps(images):
        """(height, width, filters): image i's map of filter i, before the activation."""
        z = layer.convolution_op(feed(images, training=False), layer.kernel)
        if layer.use_bias:
            z = z + layer.bias
        return tf.linalg.diag_part(tf.transpose(z, [1, 2, 0, 3]))

    @tf.function(reduce_retracing=True)
    def score(images):
        return tf.reduce_mean(layer.activation(own_maps(images)), axis=[0, 1])

    @tf.function(reduce_retracing=True)
    def step(images, shift, blur, rate, m, v, t):
        moved = tf.roll(images, shift, axis=[1, 2])
        with tf.GradientTape() as tape:
            tape.watch(moved)
            z = own_maps(moved)
            loss = tf.reduce_sum(layer.activation(z) + LEAK * tf.minimum(z, 0.0))
        gradient = tape.gradient(loss, moved)
        # Normalised per image: every filter climbs at the same pace, however strong its gradient.
        gradient /= tf.sqrt(tf.reduce_mean(tf.square(gradient), axis=[1, 2, 3], keepdims=True)) + 1e-8
        gradient = tf.roll(gradient, -shift, axis=[1, 2])
        if ADAM:
            m = 0.9 * m + 0.1 * gradient
            v = 0.999 * v + 0.001 * tf.square(gradient)
            update = (m / (1 - 0.9**t)) / (tf.sqrt(v / (1 - 0.999**t)) + 1e-8)
        else:
            update = gradient
        images = images + rate * update
        if blur:
            # Reflect at the edges, so the blur doesn't darken the border.
            padded = tf.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="REFLECT")
            images = tf.nn.conv2d(padded, blur_kernel, strides=1, padding="VALID")
        return tf.clip_by_value(images, 0.0, 1.0), m, v

    return step, score


def _gaussian_kernel(sigma: float) -> np.ndarray:
    """A normalised 3x3 Gaussian."""
    line = np.exp(-np.arange(-1, 2) ** 2 / (2 * sigma**2))
    kernel = np.outer(line, line)
    return (kernel / kernel.sum()).astype(np.float32)
