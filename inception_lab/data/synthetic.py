"""``data=synthetic``: random uint8 images of the run's shape, for throughput benchmarks (no decode cost).

A fixed pool of ``pool_size`` random images (generated once from ``seed``) is indexed cyclically, so a
"dataset" of ImageNet's 1.28M images costs a few MB; labels are ``index mod num_classes`` (balanced). What
remains is exactly the cost a real pipeline cannot avoid: collation, pinned host->device copies of uint8
batches, and the device-side float conversion / normalisation (and colour distortion if enabled). The accuracy
of a run on it is meaningless by design.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset

from inception_lab.data.base import DataError, ImageDataModule


class RandomImages(Dataset):
    """``length`` items cycling over a pool of random uint8 (C, H, W) images; label = index mod classes."""

    def __init__(self, length: int, pool: torch.Tensor, num_classes: int) -> None:
        self.length, self.pool, self.num_classes = int(length), pool, int(num_classes)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        if not 0 <= i < self.length:
            raise IndexError(i)
        return self.pool[i % len(self.pool)], i % self.num_classes


class SyntheticDataModule(ImageDataModule):
    dataset_name = "synthetic"

    def __init__(
        self,
        image_size: int = 299,
        num_classes: int = 1000,
        channels: int = 3,
        train_size: int = 12_800,
        val_size: int = 1_280,
        pool_size: int = 64,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        try:
            super().__init__(image_size=image_size, **kwargs)
        except ValueError as err:
            raise DataError(f"data config: {err}") from None
        sizes = {"num_classes": num_classes, "channels": channels, "train_size": train_size, "val_size": val_size,
                 "pool_size": pool_size}
        for key, value in sizes.items():
            if int(value) < 1:
                raise DataError(f"data.{key} must be >= 1, got {value}")
        if int(channels) not in (1, 3):
            raise DataError(f"data.channels must be 1 or 3, got {channels}")
        self.num_classes = int(num_classes)
        self.channels = int(channels)
        self.class_names = [f"class_{i:04d}" for i in range(self.num_classes)]
        self.train_size, self.val_size = int(train_size), int(val_size)
        self.pool_size, self.seed = int(pool_size), int(seed)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        generator = torch.Generator().manual_seed(self.seed)
        shape = (self.pool_size, self.channels, self.image_size, self.image_size)
        pool = torch.randint(0, 256, shape, dtype=torch.uint8, generator=generator)
        self.train_set = RandomImages(self.train_size, pool, self.num_classes)
        self.val_set = RandomImages(self.val_size, pool, self.num_classes)
