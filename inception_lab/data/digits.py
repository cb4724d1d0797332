"""The embedded default data: scikit-learn's bundled handwritten digits (1,797 real 8x8 scans, 10 classes).

Shipped inside scikit-learn, so the default run needs no download. The 0..16 grey levels are mapped to
uint8 and upscaled once (bilinear) to the run's input size; the train/val split is stratified and fixed by
``split_seed`` so every run, seed and process sees the same validation images.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F
from torch.utils.data import TensorDataset

from inception_lab.data.base import DataError, ImageDataModule


class DigitsDataModule(ImageDataModule):
    dataset_name = "digits"
    num_classes = 10
    channels = 1
    class_names = [str(d) for d in range(10)]

    def __init__(self, image_size: int = 75, val_fraction: float = 0.2, split_seed: int = 0, **kwargs) -> None:
        try:
            super().__init__(image_size=image_size, **kwargs)
        except ValueError as err:
            raise DataError(f"data config: {err}") from None
        if not 0.0 < val_fraction < 1.0:
            raise DataError(f"data.val_fraction must be between 0 and 1, got {val_fraction}")
        self.val_fraction = float(val_fraction)
        self.split_seed = int(split_seed)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        digits = load_digits()
        pixels = torch.from_numpy(digits.images).float().unsqueeze(1) / 16.0  # (N, 1, 8, 8) in [0, 1]
        labels = torch.from_numpy(digits.target).long()
        images = F.interpolate(pixels, size=self.image_size, mode="bilinear", align_corners=False)
        images = images.mul(255.0).round_().clamp_(0, 255).to(torch.uint8)
        train_idx, val_idx = train_test_split(
            torch.arange(len(labels)).numpy(),
            test_size=self.val_fraction,
            stratify=labels.numpy(),
            random_state=self.split_seed,
        )
        self.train_set = TensorDataset(images[train_idx], labels[train_idx])
        self.val_set = TensorDataset(images[val_idx], labels[val_idx])
