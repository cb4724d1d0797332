"""What every data module shares: uint8 batches from the loaders, float conversion and normalisation on the
device (``on_after_batch_transfer``), loader settings (pinned memory, persistent workers)."""

from __future__ import annotations

from typing import Sequence

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset


class DataError(ValueError):
    """Missing, empty or corrupt input data; the message says what is wrong and how to fix it."""


class ImageDataModule(L.LightningDataModule):
    """Base class: subclasses fill ``train_set``/``val_set`` with datasets yielding ``(uint8 CHW, int label)``.

    Images travel as uint8 (4x less host->device traffic); ``on_after_batch_transfer`` converts them to float and
    normalises with the model family's mean/std (reference §10.8) on whatever device the batch landed on.
    """

    num_classes: int
    channels: int
    class_names: list[str]

    def __init__(
        self,
        image_size: int,
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool = True,
        mean: Sequence[float] = (0.5, 0.5, 0.5),
        std: Sequence[float] = (0.5, 0.5, 0.5),
    ) -> None:
        super().__init__()
        self.image_size = int(image_size)
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)
        self.pin_memory = bool(pin_memory)
        self.set_normalization(mean, std)
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None

    def set_normalization(self, mean: Sequence[float], std: Sequence[float]) -> None:
        """Per-channel mean/std on [0, 1] pixels; a grayscale set uses the first channel's values."""
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)

    def _loader(self, dataset: Dataset, shuffle: bool) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory and torch.cuda.is_available(),
            persistent_workers=self.num_workers > 0,
            drop_last=False,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        images, labels = batch
        if images.dtype == torch.uint8:
            channels = images.shape[1]
            mean = torch.tensor(self.mean[:channels], device=images.device).view(1, -1, 1, 1)
            std = torch.tensor(self.std[:channels], device=images.device).view(1, -1, 1, 1)
            images = (images.float().div_(255.0) - mean) / std
        return images, labels
