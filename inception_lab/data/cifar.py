"""``data=cifar10``: the standard CIFAR-10 python-pickle batches from a local folder (nothing is downloaded).

Expected files (the ``cifar-10-python.tar.gz`` archive from https://www.cs.toronto.edu/~kriz/cifar.html,
extracted): ``<root>/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}``; ``root`` may also be
the ``cifar-10-batches-py`` folder itself. 50,000 train / 10,000 test (used as val) 32x32 RGB images.

The batches are read with a restricted unpickler (plain containers and numpy arrays only), so a tampered file
cannot run code. Images stay 32x32 uint8 in memory (150 MB) and in the loaders; the crop and the resize to the
run's ``image_size`` happen batch-wise on the device: training = the same distorted-box crop as ImageNet
(``crop_area``, ``crop_aspect``) + flip, one ``grid_sample`` per batch; evaluation = ``eval_crop_fraction``
(1.0 = the whole image, the CIFAR convention) + bilinear resize.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import TensorDataset

from inception_lab.data.base import DataError, ImageDataModule, resolve_root
from inception_lab.data.transforms import (
    DEFAULT_AREA_RANGE,
    DEFAULT_ASPECT_RANGE,
    center_crop_resize_batch,
    check_range,
    color_jitter_batch,
    random_resized_crop_batch,
)

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
CIFAR10_FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
META_FILE = "batches.meta"
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_GLOBALS:
            if module.startswith("numpy.core.") and hasattr(np, "_core"):  # numpy 2 renamed it (no warning)
                module = "numpy._core." + module[len("numpy.core."):]
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def load_cifar_batch(path: Path) -> dict[str, Any]:
    """One pickled CIFAR batch -> dict with str keys (the files were written by Python 2: bytes keys)."""
    try:
        with open(path, "rb") as handle:
            payload = _RestrictedUnpickler(io.BytesIO(handle.read()), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as err:
        raise DataError(f"{path} is not a readable CIFAR-10 batch ({type(err).__name__}: {err})") from None
    if not isinstance(payload, dict):
        raise DataError(f"{path} is not a CIFAR-10 batch (a {type(payload).__name__}, expected a dict)")
    return {(k.decode("latin1") if isinstance(k, bytes) else str(k)): v for k, v in payload.items()}


def _images_labels(path: Path) -> tuple[np.ndarray, np.ndarray]:
    batch = load_cifar_batch(path)
    try:
        data = np.asarray(batch["data"], dtype=np.uint8)
        labels = np.asarray(batch["labels"], dtype=np.int64)
    except KeyError as err:
        raise DataError(f"{path} is not a CIFAR-10 batch (no {err.args[0]!r} entry)") from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise DataError(f"{path}: expected data of shape (N, 3072) and N labels, got {data.shape} and {len(labels)}")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{path}: labels outside 0..9")
    return data.reshape(-1, 3, 32, 32), labels


def find_cifar10(root: Path) -> Path:
    """The folder holding the batch files (``root`` or ``root/cifar-10-batches-py``); DataError saying where to
    put them when missing."""
    for folder in (root / CIFAR10_FOLDER, root):
        if (folder / TRAIN_FILES[0]).is_file():
            missing = [name for name in (*TRAIN_FILES, TEST_FILE) if not (folder / name).is_file()]
            if missing:
                raise DataError(f"CIFAR-10 in {folder} is incomplete: missing {', '.join(missing)}; re-extract "
                                f"cifar-10-python.tar.gz from {CIFAR10_URL} there")
            return folder
    raise DataError(
        f"CIFAR-10 not found in {root}: download cifar-10-python.tar.gz (python version) from {CIFAR10_URL} and "
        f"extract it into {root} so that {root / CIFAR10_FOLDER / TRAIN_FILES[0]} exists (nothing is downloaded "
        "automatically)"
    )


class Cifar10DataModule(ImageDataModule):
    channels = 3
    dataset_name = "cifar10"

    def __init__(
        self,
        root: str | None = None,
        image_size: int = 75,
        batch_size: int = 128,
        crop_area: Sequence[float] = DEFAULT_AREA_RANGE,
        crop_aspect: Sequence[float] = DEFAULT_ASPECT_RANGE,
        flip: bool = True,
        eval_crop_fraction: float = 1.0,
        **kwargs: Any,
    ) -> None:
        try:
            super().__init__(image_size=image_size, batch_size=batch_size, **kwargs)
            self.crop_area = check_range("crop_area", crop_area, 0.0, 1.0)
            self.crop_aspect = check_range("crop_aspect", crop_aspect, 1e-3, 1e3)
            if not 0.0 < float(eval_crop_fraction) <= 1.0:
                raise ValueError(f"eval_crop_fraction must be in (0, 1], got {eval_crop_fraction}")
        except ValueError as err:
            raise DataError(f"data config: {err}") from None
        self.flip = bool(flip)
        self.eval_crop_fraction = float(eval_crop_fraction)
        # missing data is reported when first needed (num_classes, class_names, setup), not here: errors raised
        # inside hydra.utils.instantiate reach the caller wrapped in an InstantiationException
        self.root = resolve_root(root)
        self._folder: Path | None = None
        self._class_names: list[str] | None = None

    @property
    def folder(self) -> Path:
        """The folder with the batch files; DataError saying where to put them when missing."""
        if self._folder is None:
            if self.root is None:
                raise DataError(f"data.root is not set: pass data.root=<folder with {CIFAR10_FOLDER}/> "
                                f"(download cifar-10-python.tar.gz from {CIFAR10_URL})")
            self._folder = find_cifar10(self.root)
        return self._folder

    @property
    def num_classes(self) -> int:  # type: ignore[override]
        self.folder  # noqa: B018  (fail early, before the CLI builds a model for missing data)
        return 10

    @property
    def class_names(self) -> list[str]:  # type: ignore[override]
        if self._class_names is None:
            names = CIFAR10_CLASSES
            meta = self.folder / META_FILE
            if meta.is_file():
                loaded = load_cifar_batch(meta).get("label_names")
                if isinstance(loaded, list) and len(loaded) == 10:
                    names = [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in loaded]
            self._class_names = list(names)
        return self._class_names

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        parts = [_images_labels(self.folder / name) for name in TRAIN_FILES]
        train_x = torch.from_numpy(np.concatenate([p[0] for p in parts]))
        train_y = torch.from_numpy(np.concatenate([p[1] for p in parts]))
        val_x, val_y = _images_labels(self.folder / TEST_FILE)
        self.train_set = TensorDataset(train_x, train_y)
        self.val_set = TensorDataset(torch.from_numpy(val_x), torch.from_numpy(val_y))

    def train_device_transform(self, images: torch.Tensor) -> torch.Tensor:
        x = random_resized_crop_batch(images, self.image_size, self.crop_area, self.crop_aspect, self.flip)
        return color_jitter_batch(x, self.color_jitter)

    def eval_device_transform(self, images: torch.Tensor) -> torch.Tensor:
        return center_crop_resize_batch(images, self.image_size, self.eval_crop_fraction)
