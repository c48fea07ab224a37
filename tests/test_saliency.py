"""Saliency, SmoothGrad and Grad-CAM against hand computations, on tiny models and the shipped ones."""

from __future__ import annotations

import threading

import keras
import numpy as np
import pytest
import tensorflow as tf

from convlab.models import PRESETS
from convlab.saliency import Explainer, upsample
from convlab.store import DEFAULT_ROOT, ModelStore


def seeded_weights(model, seed: int, scale: float = 0.3):
    """Random weights from a NumPy seed: repeatable, and Keras' global random state is left alone."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, scale, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


@pytest.fixture(scope="module")
def tiny_conv():
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
            keras.layers.MaxPooling2D(2, name="pool"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(10, activation="softmax", name="output"),
        ]
    )
    return seeded_weights(model, seed=3)


@pytest.fixture(scope="module")
def shipped():
    store = ModelStore(DEFAULT_ROOT)
    return {name: store.load(spec).model for name, spec in PRESETS.items()}


def random_images(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((count, 28, 28, 1), dtype=np.float32)


@pytest.mark.parametrize("activation", [None, "softmax"])
def test_saliency_of_a_linear_model_is_its_weights(activation):
    # The score is the logit, which is linear in the pixels with or without a softmax on top.
    model = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, activation=activation)]
    )
    rng = np.random.default_rng(1)
    weights = rng.normal(size=(784, 10)).astype(np.float32)
    model.set_weights([weights, rng.normal(size=10).astype(np.float32)])
    classes = [0, 3, 9]
    maps = Explainer(model).saliency(random_images(3), classes)
    assert maps.shape == (3, 28, 28)
    for image, c in enumerate(classes):
        np.testing.assert_allclose(maps[image], np.abs(weights[:, c]).reshape(28, 28), rtol=0, atol=1e-6)


def reference_grad_cam(model, images: np.ndarray, classes: list[int]) -> np.ndarray:
    """Grad-CAM written out layer by layer: conv maps, then the head up to the pre-softmax logit."""
    conv, pool, flatten, dense = (model.get_layer(n) for n in ("conv", "pool", "flatten", "output"))
    with tf.GradientTape() as tape:
        maps = conv(tf.constant(images))
        tape.watch(maps)
        logits = tf.matmul(flatten(pool(maps)), dense.kernel) + dense.bias
        score = tf.add_n([logits[i, c] for i, c in enumerate(classes)])
    weights = tape.gradient(score, maps).numpy().mean(axis=(1, 2))  # (images, filters)
    return np.maximum(np.einsum("nhwk,nk->nhw", maps.numpy(), weights), 0)


def test_grad_cam_equals_a_hand_written_gradient_tape(tiny_conv):
    images = random_images(2, seed=5)
    explainer = Explainer(tiny_conv)
    results = {}
    for classes in ([2, 7], [7, 2]):
        expected = reference_grad_cam(tiny_conv, images, classes)
        assert expected.shape == (2, 26, 26) and expected.max() > 0  # a real comparison, not zeros with zeros
        results[tuple(classes)] = explainer.grad_cam(images, classes)
        np.testing.assert_allclose(results[tuple(classes)], expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(results[(2, 7)], results[(7, 2)])  # the class matters
    np.testing.assert_array_equal(explainer.grad_cam(images, 2, layer="conv"), explainer.grad_cam(images, [2, 2]))


def test_smoothgrad_is_seeded_and_noise_zero_is_vanilla(tiny_conv):
    explainer = Explainer(tiny_conv)
    images, classes = random_images(3, seed=8), [1, 4, 6]
    vanilla = explainer.saliency(images, classes)
    smooth = explainer.saliency(images, classes, smooth=10, seed=4)
    assert smooth.shape == (3, 28, 28) and (smooth >= 0).all()
    np.testing.assert_array_equal(smooth, explainer.saliency(images, classes, smooth=10, seed=4))
    assert not np.allclose(smooth, vanilla)
    assert not np.allclose(smooth, explainer.saliency(images, classes, smooth=10, seed=5))
    np.testing.assert_allclose(explainer.saliency(images, classes, smooth=4, noise=0), vanilla, rtol=1e-5, atol=1e-7)


def test_smoothgrad_runs_all_copies_in_one_call(tiny_conv):
    explainer = Explainer(tiny_conv)
    images = random_images(3)
    explainer.saliency(images, 0)  # compiles
    calls, real = [], explainer._compiled[None]
    explainer._compiled[None] = lambda x, c: calls.append(x.shape) or real(x, c)
    explainer.saliency(images, 0, smooth=5)
    assert calls == [(15, 28, 28, 1)]


def test_shipped_conv_model(shipped, test_split):
    explainer = Explainer(shipped["conv"])
    image = test_split.images[:1]
    predicted = shipped["conv"].predict(image, verbose=0).argmax(axis=1)
    cam = explainer.grad_cam(image, predicted)[0]
    assert cam.shape == (11, 11) and (cam >= 0).all() and cam.max() > 0
    assert upsample(cam).shape == (28, 28)
    assert explainer.grad_cam(image, predicted, layer="conv1").shape == (1, 26, 26)
    assert explainer.saliency(image, predicted)[0].shape == (28, 28)


def test_shipped_dense_model_has_saliency_but_no_grad_cam(shipped, test_split):
    explainer = Explainer(shipped["dense"])
    maps = explainer.saliency(test_split.images[:2], [0, 9])
    assert maps.shape == (2, 28, 28) and np.isfinite(maps).all() and maps.max() > 0
    with pytest.raises(ValueError, match="Grad-CAM needs a conv layer"):
        explainer.grad_cam(test_split.images[:2], [0, 9])


def test_two_threads_get_what_sequential_calls_get(shipped, test_split):
    calls = [(test_split.images[:3], [0, 1, 2], 0), (test_split.images[3:6], [9, 8, 7], 6)]
    sequential = [Explainer(shipped["conv"]).saliency(x, c, smooth=s) for x, c, s in calls]
    shared, start = Explainer(shipped["conv"]), threading.Barrier(2)  # fresh: both threads race to compile too
    results = [[], []]

    def work(index):
        start.wait()
        for _ in range(5):
            x, c, s = calls[index]
            results[index].append(shared.saliency(x, c, smooth=s))

    threads = [threading.Thread(target=work, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for index in (0, 1):
        assert len(results[index]) == 5
        for result in results[index]:
            np.testing.assert_array_equal(result, sequential[index])


def test_upsample_is_tensorflows_bilinear_resize():
    cams = np.random.default_rng(2).random((2, 11, 11), dtype=np.float32)
    expected = tf.image.resize(cams[..., np.newaxis], (28, 28), method="bilinear").numpy()[..., 0]
    np.testing.assert_allclose(upsample(cams), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(upsample(cams[1], size=28), expected[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(upsample(np.full((5, 5), 0.5)), np.full((28, 28), 0.5), atol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        upsample(np.zeros(11))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda e, x: e.saliency(x, [0, 10]), "0..9"),
        (lambda e, x: e.saliency(x, [-1, 0]), "0..9"),
        (lambda e, x: e.saliency(x, [0.5, 1]), "whole numbers"),
        (lambda e, x: e.saliency(x, [0, 1, 2]), "one class per image"),
        (lambda e, x: e.grad_cam(x, [0, 10]), "0..9"),
        (lambda e, x: e.grad_cam(x, 0, layer="pool"), "'pool' isn't one of"),
        (lambda e, x: e.saliency(x, 0, smooth=-1), "smooth"),
        (lambda e, x: e.saliency(x, 0, smooth=2, noise=-0.1), "noise"),
        (lambda e, x: e.saliency(np.zeros((2, 32, 32, 3)), 0), "shape"),
    ],
)
def test_bad_arguments_are_refused(tiny_conv, call, message):
    with pytest.raises(ValueError, match=message):
        call(Explainer(tiny_conv), random_images(2))
