"""Fashion-MNIST, loaded from local files without a network.

Keras' own loader always downloads, which fails on offline machines, so ConvLab reads the
four IDX files itself from the first of these folders that has them:

1. ``$CONVLAB_DATA_DIR``
2. the Keras cache, ``~/.keras/datasets/fashion-mnist``
3. Debian's ``dataset-fashion-mnist`` package, ``/usr/share/datasets/fashion-mnist``
4. otherwise Keras' download (into route 2), then read from there.

Each file's IDX header, shape and length are checked, so a truncated or corrupt file gets
an error naming that file instead of a reshape error deep inside NumPy. The test split loads
on its own: the dashboard never needs the 47 MB train split unless it trains.
"""

from __future__ import annotations

import functools
import gzip
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
IMAGE_SIZE = 28

# split -> (images file, labels file, number of examples)
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 60_000),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 10_000),
}
KERAS_CACHE = Path("~/.keras/datasets/fashion-mnist")
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX_UBYTE_IMAGES = 0x00000803  # magic: unsigned bytes, 3 dimensions
IDX_UBYTE_LABELS = 0x00000801  # magic: unsigned bytes, 1 dimension


class DataError(RuntimeError):
    """The dataset could not be found or read; the message says how to fix it."""


@dataclass(frozen=True)
class Split:
    """One split: images as float32 in [0, 1] with shape (n, 28, 28, 1), labels as uint8."""

    images: np.ndarray
    labels: np.ndarray
    source: Path  # the folder the files came from

    def __len__(self) -> int:
        return len(self.labels)


def candidate_dirs() -> list[tuple[str, Path]]:
    """The local routes, in the order they are tried, each with a name for messages."""
    routes = []
    if os.environ.get("CONVLAB_DATA_DIR"):
        routes.append(("$CONVLAB_DATA_DIR", Path(os.environ["CONVLAB_DATA_DIR"])))
    routes.append(("Keras cache", KERAS_CACHE.expanduser()))
    routes.append(("Debian package dataset-fashion-mnist", DEBIAN_DIR))
    return routes


def _has_split(folder: Path, split: str) -> bool:
    images, labels, _ = FILES[split]
    return (folder / images).is_file() and (folder / labels).is_file()


def find_data_dir(split: str = "test", allow_download: bool = True) -> Path:
    """The first folder that holds ``split``'s files, downloading with Keras as a last resort."""
    if split not in FILES:
        raise ValueError(f"split must be one of {sorted(FILES)}, not {split!r}")
    routes = candidate_dirs()
    for _, folder in routes:
        if _has_split(folder, split):
            return folder
    download_error = "not attempted"
    if allow_download:
        try:
            return _download_with_keras(split)
        except Exception as error:  # any network or file failure: report it with the rest
            download_error = f"{type(error).__name__}: {error}"
    tried = "\n".join(f"  - {name}: {folder}" for name, folder in routes)
    raise DataError(
        f"Fashion-MNIST ({split} split) was not found. Looked in:\n{tried}\n"
        f"  - Keras download: {download_error}\n"
        "Fix it with one of:\n"
        "  - sudo apt-get install dataset-fashion-mnist   (Debian/Ubuntu, works offline)\n"
        "  - export CONVLAB_DATA_DIR=/folder/with/the/four/idx-ubyte.gz/files\n"
        "  - python -c 'import keras; keras.datasets.fashion_mnist.load_data()'   "
        "(needs internet)"
    )


def _download_with_keras(split: str) -> Path:
    import keras  # imported here: TensorFlow's import is slow and this route is rare

    keras.datasets.fashion_mnist.load_data()
    folder = KERAS_CACHE.expanduser()
    if not _has_split(folder, split):
        raise DataError(f"Keras' download finished but {folder} lacks the {split} files")
    return folder


def _read_idx(path: Path, magic: int, shape: tuple[int, ...]) -> np.ndarray:
    """Read one gzip-compressed IDX file and check it holds exactly ``shape`` unsigned bytes."""
    header_size = 4 + 4 * len(shape)
    try:
        with gzip.open(path, "rb") as file:
            raw = file.read()
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(
            f"{path} is corrupt or truncated ({error}). Delete it and reinstall the data, "
            "e.g. sudo apt-get install --reinstall dataset-fashion-mnist"
        ) from error
    if len(raw) < header_size:
        raise DataError(f"{path} is too short to hold an IDX header; the file is corrupt")
    found_magic, *found_shape = struct.unpack(f">{1 + len(shape)}I", raw[:header_size])
    if found_magic != magic or tuple(found_shape) != shape:
        raise DataError(
            f"{path} has header magic {found_magic:#010x} shape {tuple(found_shape)}, "
            f"expected {magic:#010x} shape {shape}: it is not the Fashion-MNIST file it is named as"
        )
    body = raw[header_size:]
    expected = int(np.prod(shape))
    if len(body) != expected:
        raise DataError(f"{path} holds {len(body)} bytes of data, expected {expected}: truncated or corrupt")
    return np.frombuffer(body, dtype=np.uint8).reshape(shape)


def load_split(split: str = "test", allow_download: bool = True) -> Split:
    """Load one split, scaled to [0, 1] and shaped for a Conv2D input (n, 28, 28, 1)."""
    folder = find_data_dir(split, allow_download=allow_download)
    images_file, labels_file, count = FILES[split]
    images = _read_idx(folder / images_file, IDX_UBYTE_IMAGES, (count, IMAGE_SIZE, IMAGE_SIZE))
    labels = _read_idx(folder / labels_file, IDX_UBYTE_LABELS, (count,))
    if labels.max() >= len(CLASS_NAMES):
        raise DataError(f"{folder / labels_file} has label {labels.max()}, but there are only 10 classes")
    scaled = (images.astype(np.float32) / 255.0)[..., np.newaxis]
    return Split(images=scaled, labels=labels.copy(), source=folder)


@functools.lru_cache(maxsize=1)
def train_and_test() -> tuple[Split, Split]:
    """Both splits, read once per process: a training worker (local or Ray) keeps them for its next training."""
    return load_split("train"), load_split("test")


def first_of_class(labels: np.ndarray, class_index: int, count: int = 3) -> list[int]:
    """Indices of the first ``count`` examples with label ``class_index`` (same-label picking)."""
    if not 0 <= class_index < len(CLASS_NAMES):
        raise ValueError(f"class_index must be 0..{len(CLASS_NAMES) - 1}, not {class_index}")
    return [int(i) for i in np.flatnonzero(labels == class_index)[:count]]
