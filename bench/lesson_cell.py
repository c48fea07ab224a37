"""Reference for the filter slider: the lesson's visualisation cell as written, timed.

Run by ``bench/run.py`` in its own process: ``python bench/lesson_cell.py OUT.json [REPEATS]``.
Loading the model and the test images happens once, untimed (the notebook has them already).
Each timed repetition is one run of the lesson's cell with another ``CONVOLUTION_NUMBER``:
build the activation model from every layer's output, then for 3 images x 4 layers call
``predict`` on one image (12 calls) and ``imshow`` the chosen filter into a 3x4 grid, and
render the figure to PNG (matplotlib's Agg backend). The first run of the cell is reported
separately as the warm-up.
"""

from __future__ import annotations

import json
import os
import sys
import time
from io import BytesIO
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

FIRST_IMAGE, SECOND_IMAGE, THIRD_IMAGE = 0, 23, 28  # the lesson's three ankle boots


def lesson_cell(keras, model, test_images, CONVOLUTION_NUMBER: int) -> int:  # noqa: N803 - the lesson's name
    """The lesson's cell, line for line (``model.inputs`` for Keras 3); returns the PNG's size."""
    f, axarr = plt.subplots(3, 4)
    layer_outputs = [layer.output for layer in model.layers]
    activation_model = keras.models.Model(inputs=model.inputs, outputs=layer_outputs)
    for x in range(0, 4):
        f1 = activation_model.predict(test_images[FIRST_IMAGE].reshape(1, 28, 28, 1))[x]
        axarr[0, x].imshow(f1[0, :, :, CONVOLUTION_NUMBER], cmap="inferno")
        axarr[0, x].grid(False)
        f2 = activation_model.predict(test_images[SECOND_IMAGE].reshape(1, 28, 28, 1))[x]
        axarr[1, x].imshow(f2[0, :, :, CONVOLUTION_NUMBER], cmap="inferno")
        axarr[1, x].grid(False)
        f3 = activation_model.predict(test_images[THIRD_IMAGE].reshape(1, 28, 28, 1))[x]
        axarr[2, x].imshow(f3[0, :, :, CONVOLUTION_NUMBER], cmap="inferno")
        axarr[2, x].grid(False)
    buffer = BytesIO()
    f.savefig(buffer, format="png")  # what the notebook does to show it
    plt.close(f)
    return len(buffer.getvalue())


def main() -> None:
    out, repeats = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 10
    import keras

    import convlab.data
    import convlab.models
    import convlab.store

    model = convlab.store.ModelStore().load(convlab.models.PRESETS["conv"]).model
    test_images = convlab.data.load_split("test").images

    started = time.perf_counter()
    lesson_cell(keras, model, test_images, 1)
    warmup = time.perf_counter() - started
    filters, seconds, png_bytes = [], [], []
    for repeat in range(repeats):
        number = (7 + 13 * repeat) % 64  # a different filter each time, as a learner would try
        started = time.perf_counter()
        png_bytes.append(lesson_cell(keras, model, test_images, number))
        seconds.append(time.perf_counter() - started)
        filters.append(number)
    out.write_text(
        json.dumps(
            {
                "warmup_seconds": warmup,
                "seconds": seconds,
                "filters": filters,
                "png_bytes": png_bytes,
                "predict_calls_per_run": 12,
            }
        )
    )


if __name__ == "__main__":
    main()
