"""Where the model looked: gradient saliency, SmoothGrad and Grad-CAM for a batch of images.

* ``Explainer.saliency`` is the vanilla saliency map: |d score / d pixel| for each image's
  chosen class; with ``smooth=N`` it is SmoothGrad, the mean gradient over N noisy copies.
* ``Explainer.grad_cam`` weights a conv layer's maps by the spatial mean of the score's
  gradient and keeps the positive sum, at that layer's own size (11x11 for the lesson's conv2);
  ``upsample`` stretches it to 28x28 for overlaying on the image.

The score is the pre-softmax logit of the model's final Dense layer, computed from that
layer's input, kernel and bias, so the model itself is never changed. Every call runs all
images (and all noisy copies) through one compiled gradient function, under one lock per
explainer, as :class:`convlab.activations.Inspector` does.
"""

from __future__ import annotations

import threading

import numpy as np

from .data import IMAGE_SIZE


class Explainer:
    """Saliency and Grad-CAM maps of one model; safe to share between threads.

    Keras models are not thread-safe and Streamlit serves each session from its own thread,
    so every call (and every first-call trace) goes through one lock per explainer.
    """

    def __init__(self, model):
        self.model = model
        self.output_layer = _final_dense(model)
        self.conv_layers = [layer for layer in model.layers if type(layer).__name__ == "Conv2D"]
        self._lock = threading.Lock()
        self._compiled = {}  # None (saliency) or a conv layer's name -> its tf.function, traced once

    @property
    def num_classes(self) -> int:
        return self.output_layer.units

    def saliency(self, images, classes, smooth: int = 0, noise: float = 0.15, seed: int = 0) -> np.ndarray:
        """(n, 28, 28) absolute gradients of each image's class logit w.r.t. its pixels.

        ``smooth=N > 0``: SmoothGrad, the gradient averaged over N copies of each image with
        Gaussian noise of std ``noise`` x that image's value range, drawn from ``seed``.
        """
        images = _as_images(images)
        classes = self._check_classes(classes, len(images))
        if not (isinstance(smooth, (int, np.integer)) and smooth >= 0):
            raise ValueError(f"smooth must be a whole number of noisy copies, 0 or more, not {smooth!r}")
        if not noise >= 0:
            raise ValueError(f"noise must be 0 or more (a fraction of the image's value range), not {noise!r}")
        if smooth == 0:
            return np.abs(self._run(None, images, classes)[..., 0])
        copies = _noisy_copies(images, smooth, noise, seed)
        gradients = self._run(None, copies.reshape(-1, *images.shape[1:]), np.tile(classes, smooth))
        # Smilkov et al. average the signed gradients, then show their size as vanilla saliency does.
        return np.abs(gradients.reshape(smooth, *images.shape).mean(axis=0)[..., 0])

    def grad_cam(self, images, classes, layer: str | None = None) -> np.ndarray:
        """(n, h, w) Grad-CAM maps on ``layer`` (default: the last Conv2D), at that layer's size."""
        name = self._conv_layer(layer).name
        images = _as_images(images)
        return self._run(name, images, self._check_classes(classes, len(images)))

    def _conv_layer(self, name: str | None):
        if not self.conv_layers:
            raise ValueError(
                "Grad-CAM needs a conv layer, and this model has none (the dense model has only Dense layers)"
            )
        if name is None:
            return self.conv_layers[-1]
        for layer in self.conv_layers:
            if layer.name == name:
                return layer
        raise ValueError(
            f"Grad-CAM needs a conv layer: {name!r} isn't one of {[layer.name for layer in self.conv_layers]}"
        )

    def _check_classes(self, classes, count: int) -> np.ndarray:
        values = np.asarray(classes)
        if values.ndim == 0:  # one class for every image
            values = np.full(count, values)
        if values.shape != (count,):
            raise ValueError(f"classes must be one class per image ({count}), not shape {values.shape}")
        if count and not np.issubdtype(values.dtype, np.integer):
            raise ValueError(f"classes must be whole numbers 0..{self.num_classes - 1}, not {values.tolist()}")
        if ((values < 0) | (values >= self.num_classes)).any():
            raise ValueError(f"classes must be 0..{self.num_classes - 1}, not {values.tolist()}")
        return values.astype(np.int32)

    def _run(self, key: str | None, images: np.ndarray, classes: np.ndarray) -> np.ndarray:
        with self._lock:
            if key not in self._compiled:
                self._compiled[key] = self._compile_saliency() if key is None else self._compile_grad_cam(key)
            return np.asarray(self._compiled[key](images, classes))

    def _compile_saliency(self):
        import tensorflow as tf

        @tf.function(input_signature=_signature(), reduce_retracing=True)
        def saliency(images, classes):
            return self._class_gradient(images, classes, target=None)[1]

        return saliency

    def _compile_grad_cam(self, name: str):
        import tensorflow as tf

        layer = self.model.get_layer(name)

        @tf.function(input_signature=_signature(), reduce_retracing=True)
        def grad_cam(images, classes):
            maps, gradients = self._class_gradient(images, classes, target=layer)
            weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
            return tf.nn.relu(tf.reduce_sum(weights * maps, axis=-1))

        return grad_cam

    def _class_gradient(self, images, classes, target):
        """(target's values, gradient of each image's class logit w.r.t. them); target None = the pixels.

        The layers are called one by one rather than through ``layer.output``: a loaded model's
        layers hold several symbolic graphs, and a Model mixing them has no gradient path.
        """
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(images)
            values, x = images, images
            for layer in self.model.layers[:-1]:
                x = layer(x, training=False)
                if layer is target:
                    tape.watch(x)
                    values = x
            scores = self._scores(x, classes)
        # Images don't interact in the batch, so the gradient of the sum is each image's own.
        return values, tape.gradient(scores, values)

    def _scores(self, features, classes):
        """Each image's chosen-class logit: the final Dense layer without its softmax."""
        import tensorflow as tf

        # Logits, not probabilities: a confident softmax saturates, and its gradient mixes in the other classes.
        logits = tf.matmul(features, self.output_layer.kernel)
        if self.output_layer.use_bias:
            logits += self.output_layer.bias
        return tf.gather(logits, classes, batch_dims=1)


def upsample(cam: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """A (h, w) or (n, h, w) map stretched to (size, size) by bilinear interpolation.

    Pixel centres are aligned as ``tf.image.resize(..., "bilinear")`` aligns them, so a map
    stretches over the whole image, as Grad-CAM overlays are usually drawn.
    """
    cam = np.asarray(cam, dtype=np.float32)
    if cam.ndim not in (2, 3):
        raise ValueError(f"cam must have shape (h, w) or (n, h, w), not {cam.shape}")
    if size < 1:
        raise ValueError(f"size must be at least 1, not {size}")
    # Bilinear is separable: one interpolation matrix for the rows, one for the columns.
    return _bilinear_matrix(cam.shape[-2], size) @ cam @ _bilinear_matrix(cam.shape[-1], size).T


def _bilinear_matrix(source: int, size: int) -> np.ndarray:
    """(size, source) weights: each output pixel a blend of its two nearest source pixels."""
    position = np.clip((np.arange(size) + 0.5) * source / size - 0.5, 0, source - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, source - 1)
    weights = np.zeros((size, source), dtype=np.float32)
    np.add.at(weights, (np.arange(size), low), 1 - (position - low))
    np.add.at(weights, (np.arange(size), high), position - low)
    return weights


def _final_dense(model):
    """The last layer of a Sequential model, which must be Dense: its pre-activation output is the score."""
    import keras

    if not isinstance(model, keras.Sequential):
        raise ValueError(f"saliency needs a keras.Sequential model (as models.build makes), not {type(model).__name__}")
    last = model.layers[-1] if model.layers else None
    if type(last).__name__ != "Dense":
        raise ValueError(f"saliency needs a model that ends in a Dense layer, not {type(last).__name__}")
    return last


def _as_images(images) -> np.ndarray:
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[..., np.newaxis]
    if images.ndim != 4 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE, 1):
        raise ValueError(f"images must have shape (n, 28, 28[, 1]), not {images.shape}")
    return images


def _noisy_copies(images: np.ndarray, copies: int, noise: float, seed: int) -> np.ndarray:
    """(copies, n, 28, 28, 1) images plus Gaussian noise scaled to each image's value range."""
    # Drawn in NumPy from the seed alone, so results don't depend on TensorFlow's global state or threads.
    spread = noise * (images.max(axis=(1, 2, 3)) - images.min(axis=(1, 2, 3)))
    draws = np.random.default_rng(seed).standard_normal((copies, *images.shape), dtype=np.float32)
    return images + draws * spread[:, None, None, None].astype(np.float32)


def _signature():
    """One trace serves every batch size: float32 images and int32 classes."""
    import tensorflow as tf

    return [
        tf.TensorSpec((None, IMAGE_SIZE, IMAGE_SIZE, 1), tf.float32),
        tf.TensorSpec((None,), tf.int32),
    ]
