"""Beyond the lesson: what filters respond to, what they are, and where the model goes wrong.

* ``strongest_images`` ranks images for a filter by their maps' maximum, from the
  (images, filters) array that ``Inspector.max_activations`` computes once per model and
  layer: the images that make a filter fire hardest show what it looks for.
* ``first_layer_kernels`` reads the learned 3×3 kernels from the model's weights, and
  ``CLASSIC_KERNELS`` with ``convolve`` gives the hand-made filters to compare them with.
* ``confusion_matrix`` and ``mistakes`` summarise a model's test predictions.
"""

from __future__ import annotations

import numpy as np

# Hand-made filters from image processing, for comparison with the learned ones.
CLASSIC_KERNELS = {
    "vertical edge": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32),  # Sobel x
    "horizontal edge": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=np.float32),  # Sobel y
    "Laplacian": np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float32),
}


def convolve(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """A 'valid' 2-D convolution as Keras' Conv2D computes it (cross-correlation, no flip)."""
    image = np.asarray(image, dtype=np.float32).reshape(image.shape[0], image.shape[1])
    windows = np.lib.stride_tricks.sliding_window_view(image, kernel.shape)
    return np.einsum("ijkl,kl->ij", windows, kernel)


def first_layer_kernels(model) -> tuple[np.ndarray, np.ndarray]:
    """The first Conv2D's kernels as (filters, height, width) and its biases, or empty arrays."""
    for layer in model.layers:
        if type(layer).__name__ == "Conv2D":
            kernels, biases = layer.get_weights()
            return np.moveaxis(kernels[:, :, 0, :], -1, 0), biases
    return np.empty((0, 3, 3), np.float32), np.empty(0, np.float32)


def strongest_images(strengths: np.ndarray, filter_index: int, count: int = 9) -> np.ndarray:
    """Indices of the ``count`` images with the strongest response, strongest first (ties: lower index)."""
    if not 0 <= filter_index < strengths.shape[1]:
        raise ValueError(f"filter_index must be 0..{strengths.shape[1] - 1}, not {filter_index}")
    # A stable sort of the negated values keeps ties in index order, so results are repeatable.
    return np.argsort(-strengths[:, filter_index], kind="stable")[:count]


def class_mix(labels: np.ndarray, indices: np.ndarray, num_classes: int = 10) -> np.ndarray:
    """How many of ``indices`` fall in each class."""
    return np.bincount(labels[indices], minlength=num_classes)


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int = 10) -> np.ndarray:
    """counts[true, predicted]."""
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (labels, predictions), 1)
    return counts


def normalise_rows(counts: np.ndarray) -> np.ndarray:
    """Each row as fractions of that true class (a row of zeros stays zeros)."""
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros(counts.shape, dtype=np.float64), where=totals > 0)


def mistakes(
    labels: np.ndarray, predictions: np.ndarray, true_class: int | None = None, predicted_class: int | None = None
) -> np.ndarray:
    """Indices of misclassified images, optionally only those of one true and/or predicted class."""
    wrong = labels != predictions
    if true_class is not None:
        wrong &= labels == true_class
    if predicted_class is not None:
        wrong &= predictions == predicted_class
    return np.flatnonzero(wrong)
