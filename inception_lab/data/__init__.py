"""Data modules (no torchvision: Pillow decode, torch-op transforms)."""

from inception_lab.data.base import DataError, ImageDataModule
from inception_lab.data.digits import DigitsDataModule

__all__ = ["DataError", "ImageDataModule", "DigitsDataModule"]
