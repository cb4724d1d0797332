"""Data modules (no torchvision: Pillow decode, torch-op transforms).

``data=`` options: ``digits`` (embedded default), ``imagefolder`` (ImageNet layout), ``cifar10`` (local python
batches), ``synthetic`` (random tensors for throughput). Every module yields uint8 CHW batches; conversion,
batch-wise augmentation and normalisation run on the device (``ImageDataModule.on_after_batch_transfer``).
"""

from inception_lab.data.base import (
    CLASS_INDEX_FILENAME,
    DataError,
    EvalShardSampler,
    ImageDataModule,
    load_class_index,
)
from inception_lab.data.cifar import Cifar10DataModule
from inception_lab.data.digits import DigitsDataModule
from inception_lab.data.imagefolder import ImageFolderDataModule
from inception_lab.data.synthetic import SyntheticDataModule

__all__ = [
    "CLASS_INDEX_FILENAME",
    "Cifar10DataModule",
    "DataError",
    "DigitsDataModule",
    "EvalShardSampler",
    "ImageDataModule",
    "ImageFolderDataModule",
    "SyntheticDataModule",
    "load_class_index",
]
