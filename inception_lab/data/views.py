"""Views for evaluation: a run's data module rebuilt from its record, a split with the evaluation crop, and every
image's views for a crop set (single, 10, 12 or 144 crops; docs/reference.md#evaluation), as timm's ``validate.py``
asks ``timm.data`` for its loader. The crop sets themselves and the prediction are ``inception_lab.evaluate``'s.

Image files are decoded and cropped in the loader's workers (:func:`~inception_lab.data.transforms.multi_crop`,
Pillow); tensor data sets (digits, CIFAR-10, synthetic) are cropped on the device
(:func:`~inception_lab.data.transforms.multi_crop_batch`): the same boxes in the same order.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from inception_lab.console import first_line
from inception_lab.data.base import DataError
from inception_lab.data.transforms import load_image, multi_crop, multi_crop_batch

SPLITS = ("val", "train")


class MultiCropFileTransform:
    """Image file -> uint8 (K, C, size, size) multi-crop views with Pillow (:func:`~inception_lab.data.transforms.multi_crop`); picklable for
    DataLoader workers. Decodes the whole image (no reduced-scale JPEG draft: the views need every scale)."""

    def __init__(self, base: Any, crop_set: Any, input_size: int) -> None:
        self.mode = getattr(base, "mode", "RGB")
        self.exif_transpose = getattr(base, "exif_transpose", True)
        self.interpolation = getattr(base, "interpolation", "bilinear")
        self.crop_set = crop_set
        self.input_size = int(input_size)

    def __call__(self, path: str | os.PathLike) -> torch.Tensor:
        image, _ = load_image(path, self.mode, None, None, self.exif_transpose, draft=False)
        cs = self.crop_set
        return multi_crop(image, self.input_size, cs.shorter_sides(self.input_size), squares=cs.squares,
                          corners=cs.corners, full_square=cs.full_square, mirror=cs.mirror,
                          interpolation=self.interpolation)


class MirroredFileTransform:
    """Central crop + its mirror for file data (a ``central: true, mirror: true`` crop set)."""

    def __init__(self, base: Any) -> None:
        self.base = base

    def __call__(self, path: str | os.PathLike) -> torch.Tensor:
        view = self.base(path)
        return torch.stack((view, view.flip(-1)))


def is_file_dataset(dataset: Any) -> bool:
    """Image-file datasets (``ImageFileDataset``) decode per item through a swappable ``transform``."""
    return hasattr(dataset, "transform") and hasattr(dataset, "index")


@dataclass
class ViewSource:
    """Batches of ``(views (N, K, C, S, S) float in [0, 1] on device, labels (N,))`` for one data split."""

    datamodule: Any
    dataset: Any
    crop_set: Any
    input_size: int
    batch_size: int
    num_workers: int
    device: torch.device
    limit_batches: int | None = None
    file_based: bool = field(init=False)

    def __post_init__(self) -> None:
        self.file_based = is_file_dataset(self.dataset)
        if self.file_based:
            dataset = copy.copy(self.dataset)
            eval_transform = self.datamodule.eval_transform
            if self.crop_set.central:
                dataset.transform = MirroredFileTransform(eval_transform) if self.crop_set.mirror else eval_transform
            else:
                dataset.transform = MultiCropFileTransform(eval_transform, self.crop_set, self.input_size)
            self.dataset = dataset

    def __len__(self) -> int:
        batches = math.ceil(len(self.dataset) / self.batch_size)
        return min(batches, self.limit_batches) if self.limit_batches else batches

    @property
    def num_images(self) -> int:
        total = len(self.dataset)
        return min(total, self.limit_batches * self.batch_size) if self.limit_batches else total

    def views(self, images: torch.Tensor) -> torch.Tensor:
        """A loader batch (uint8) -> views (N, K, C, S, S), float [0, 1] (not yet normalised)."""
        x = images.to(self.device, non_blocking=True).float().div_(255.0)
        if self.file_based:  # decoded and cropped in the workers
            return x if x.dim() == 5 else x.unsqueeze(1)
        if self.crop_set.central:
            view = self.datamodule.eval_device_transform(x)
            return torch.stack((view, view.flip(-1)), 1) if self.crop_set.mirror else view.unsqueeze(1)
        cs = self.crop_set
        return multi_crop_batch(x, self.input_size, cs.shorter_sides(self.input_size), cs.squares, cs.corners,
                                cs.full_square, cs.mirror)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        from torch.utils.data import DataLoader

        loader = DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            shuffle=False,
            num_workers=self.num_workers,
            pin_memory=self.device.type == "cuda",
        )
        for index, (images, labels) in enumerate(loader):
            if self.limit_batches and index >= self.limit_batches:
                break
            yield self.views(images), labels.long()



#####
# ---------------------------------------------------------------------------------------------------------------
# Data


def build_datamodule(data_config: dict[str, Any], overrides: dict[str, Any] | None = None) -> Any:
    """Instantiate the run's data module from its recorded ``data`` config, with ``overrides`` (non-null) on top."""
    import hydra
    from hydra.errors import InstantiationException

    config = dict(data_config or {})
    config.update({k: v for k, v in (overrides or {}).items() if v is not None})
    if "_target_" not in config:
        raise DataError("the checkpoint's config has no data._target_ to rebuild its data module from")
    try:
        datamodule = hydra.utils.instantiate(config)
    except InstantiationException as err:
        cause = err.__cause__ or err
        raise DataError(f"data: {first_line(cause)}") from None
    except (DataError, ValueError, TypeError) as err:
        raise DataError(f"data: {first_line(err)}") from None
    return datamodule



#####
def used_conventions(datamodule: Any) -> dict[str, Any]:
    """What a member's inputs went through: normalisation, input size, and for image files crop and resampling."""
    transform = getattr(datamodule, "eval_transform", None)
    return {"mean": list(datamodule.mean), "std": list(datamodule.std), "input_size": int(datamodule.image_size),
            "crop_fraction": getattr(transform, "fraction", None), "interpolation": getattr(transform, "interpolation", None)}


def describe_conventions(conventions: dict[str, Any]) -> str:
    """One line: ``mean 0.5/0.5/0.5, std 0.5/0.5/0.5, 299 px, crop 0.875, bicubic``."""
    parts = [f"mean {'/'.join(f'{m:g}' for m in conventions['mean'])}",
             f"std {'/'.join(f'{v:g}' for v in conventions['std'])}", f"{conventions['input_size']} px"]
    if conventions.get("crop_fraction") is not None:
        parts.append(f"crop {conventions['crop_fraction']:g}")
    if conventions.get("interpolation"):
        parts.append(str(conventions["interpolation"]))
    return ", ".join(parts)


def split_dataset(datamodule: Any, split: str) -> Any:
    if split not in SPLITS:
        raise DataError(f"eval.split must be one of {', '.join(SPLITS)}, got {split!r}")
    datamodule.setup("validate")
    dataset = datamodule.val_set if split == "val" else datamodule.train_set
    if dataset is None:
        raise DataError(f"the data module has no {split} split")
    if split == "train" and is_file_dataset(dataset):
        dataset = copy.copy(dataset)
        dataset.transform = datamodule.eval_transform  # evaluate training images with the eval crop, not augmented
    return dataset
