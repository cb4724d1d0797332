"""What every data module shares: uint8 batches from the loaders, float conversion, augmentation that pays off
batch-wise (colour distortion; the crop for fixed-size tensor data) and normalisation on the device
(``on_after_batch_transfer``), loader settings (pinned memory, persistent workers), exact distributed validation,
and the class index a run saves.

Exact resume: the *training* loader is torchdata's ``StatefulDataLoader``. Lightning stores its ``state_dict``
(sampler position and generator, worker seeds) in every checkpoint and restores it on resume, so a run resumed
from a mid-epoch checkpoint sees the rest of that epoch's batches in the same order, with the same augmentation
draws, as a run that was never stopped (the module restores the global RNG streams; ``module.py``).

Distributed runs (DDP): the *training* loader's sampler is left to Lightning, which injects a shuffling
``DistributedSampler`` (it pads the last round with a few repeated images: harmless for training). The
*validation* loader gets ``EvalShardSampler``, a ``DistributedSampler`` subclass that Lightning leaves in place
and that gives each rank every ``world_size``-th image with no padding and no drop, so the torchmetrics states,
summed across ranks, count every validation image exactly once.
"""

from __future__ import annotations

import json
import math
import os
import re
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, default_collate, get_worker_info
from torch.utils.data.distributed import DistributedSampler
from torchdata.stateful_dataloader import StatefulDataLoader

from inception_lab.data.transforms import COLOR_JITTER_MODES, color_jitter_batch

# torchdata 0.11 calls torch.set_vital, deprecated in torch 2.9+, on every loader: nothing a user can act on
warnings.filterwarnings("ignore", message="'set_vital' is deprecated", category=UserWarning)

CLASS_INDEX_FILENAME = "class_index.json"


class DataError(ValueError):
    """Missing, empty or corrupt input data; the message (one line) says what is wrong and how to fix it.

    Raised inside a DataLoader worker it reaches the main process re-wrapped by torch ("Caught DataError in
    DataLoader worker process 0. Original Traceback ..."); the constructor recovers the original one-line message
    so the CLI's ``error:`` line still names the file.
    """

    _WRAPPED = re.compile(r"^(?:[\w.]+\.)?DataError: (.*)$", re.MULTILINE)

    def __init__(self, *args: Any) -> None:
        if len(args) == 1 and isinstance(args[0], str) and args[0].startswith("Caught DataError"):
            found = self._WRAPPED.findall(args[0])
            if found:
                args = (found[-1],)
        super().__init__(*args)


class EvalShardSampler(DistributedSampler):
    """Every ``num_replicas``-th index from ``rank``: each sample is seen by exactly one rank, none twice.

    Shards differ in length by at most one, so ranks may run one validation batch more or less than the others;
    validation has no per-batch collective in this project (metrics are synchronised once, at epoch end), so
    that is safe. A subclass of ``DistributedSampler`` so that Lightning does not replace it.
    """

    def __init__(self, dataset: Dataset, num_replicas: int, rank: int) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False, drop_last=False)
        self.num_samples = len(range(rank, len(dataset), num_replicas))  # type: ignore[arg-type]
        self.total_size = len(dataset)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.total_size, self.num_replicas))

    def __len__(self) -> int:
        return self.num_samples


def collate_images(batch: list[tuple[torch.Tensor, Any]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Collate ``(uint8 CHW, label)`` samples straight into a channels_last batch: an ``(N, C, H, W)`` tensor whose
    memory is NHWC, the layout the network runs in (``channels_last: true``), so neither the host nor the device
    copies it again. The per-image copy is numpy's (one thread): torch's parallel copy leaves its intra-op threads
    spinning on the other cores while the next images decode, which tripled the CPU cost per image on a 2-core
    machine (BENCHMARKS.md). In a worker process the batch is written into shared memory, as torch's collate
    does, so it reaches the main process without a copy. Labels are stacked without reading them one by one."""
    first = batch[0][0] if batch else None
    if not isinstance(first, torch.Tensor) or first.dtype != torch.uint8 or first.dim() != 3:
        return default_collate(batch)
    channels, height, width = first.shape
    shape = (len(batch), height, width, channels)
    if get_worker_info() is not None:  # shared memory, as torch's default_collate allocates it in workers
        storage = first._typed_storage()._new_shared(math.prod(shape), device=first.device)
        out = first.new(storage).view(shape)
    else:
        out = torch.empty(shape, dtype=torch.uint8)
    array = out.numpy()
    for i, (image, _) in enumerate(batch):
        array[i] = image.numpy().transpose(1, 2, 0)  # CHW view of an HWC decode: a plain memcpy
    labels = [sample[1] for sample in batch]
    if isinstance(labels[0], torch.Tensor):
        labels_t = torch.stack(labels).to(torch.int64)
    else:
        labels_t = torch.as_tensor(labels, dtype=torch.int64)
    return out.permute(0, 3, 1, 2), labels_t


def resolve_root(root: str | os.PathLike | None) -> Path | None:
    """A data root as an absolute path (``~`` expanded); None when unset (``null``, empty, ``???``)."""
    if root is None or str(root).strip() in ("", "???"):
        return None
    return Path(os.path.expanduser(str(root))).absolute()


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask: what SLURM's cpus_per_task or taskset grants)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (macOS)
        return os.cpu_count() or 1


def resolve_num_workers(value: int | str, local_processes: int = 1) -> int:
    """``auto`` -> the CPUs available to each of the ``local_processes`` training processes on this machine, less
    one for the process itself (it runs the training loop and feeds the device); otherwise a non-negative int.

    Under SLURM each task's affinity already holds only its own ``cpus_per_task`` CPUs, so they are not divided
    again."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        cpus = available_cpus()
        per_task = os.environ.get("SLURM_CPUS_PER_TASK")
        if per_task and per_task.isdigit() and cpus <= int(per_task):
            local_processes = 1  # the affinity mask is this task's share
        return max(0, cpus // max(1, local_processes) - 1)
    workers = int(value)
    if workers < 0:
        raise ValueError(f"data.num_workers must be >= 0 or 'auto', got {value}")
    return workers


class ImageDataModule(L.LightningDataModule):
    """Base class: subclasses fill ``train_set``/``val_set`` with datasets yielding ``(uint8 CHW, int label)``.

    Images travel as uint8 (4x less host->device traffic); ``on_after_batch_transfer`` converts them to float on
    whatever device the batch landed on, applies ``train_device_transform`` (training batches) or
    ``eval_device_transform``, and normalises with the model family's mean/std (docs/reference.md#preprocessing; [-1, 1] scaling
    is mean = std = 0.5).

    Subclasses provide ``num_classes``, ``channels`` and ``class_names`` right after construction (the CLI builds
    the model from them before ``setup``).
    """

    num_classes: int
    channels: int
    class_names: list[str]
    dataset_name: str = "custom"

    def __init__(
        self,
        image_size: int,
        batch_size: int = 64,
        num_workers: int | str = 0,
        pin_memory: bool = True,
        mean: Sequence[float] = (0.5, 0.5, 0.5),
        std: Sequence[float] = (0.5, 0.5, 0.5),
        persistent_workers: bool = True,
        prefetch_factor: int | None = None,
        drop_last: bool = False,
        color_jitter: str = "none",
    ) -> None:
        super().__init__()
        self.image_size = int(image_size)
        if self.image_size < 1:
            raise ValueError(f"data.image_size must be positive, got {image_size}")
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise ValueError(f"data.batch_size must be positive, got {batch_size}")
        self.num_workers_setting = num_workers
        self.num_workers = resolve_num_workers(num_workers)  # re-resolved per local process when the loaders are built
        self.pin_memory = bool(pin_memory)
        self.persistent_workers = bool(persistent_workers)
        self.prefetch_factor = None if prefetch_factor is None else int(prefetch_factor)
        self.drop_last = bool(drop_last)
        if color_jitter in (None, False):
            color_jitter = "none"
        if color_jitter not in COLOR_JITTER_MODES:
            raise ValueError(f"data.color_jitter must be one of {', '.join(COLOR_JITTER_MODES)}, got {color_jitter!r}")
        self.color_jitter = str(color_jitter)
        self.set_normalization(mean, std)
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None

    # ---- normalisation and device-side transforms --------------------------------------------------------------
    def set_normalization(self, mean: Sequence[float], std: Sequence[float]) -> None:
        """Per-channel mean/std on [0, 1] pixels; a grayscale set uses the first channel's values."""
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        if any(s <= 0 for s in self.std):
            raise ValueError(f"normalisation std must be positive, got {self.std}")
        self._normalization_tensors: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def apply_model_defaults(self, defaults: Any) -> None:
        """Take what the data side needs from a network's ``ModelDefaults``: mean/std
        (or [-1, 1] scaling) and, where the data config leaves it unset, the eval crop fraction."""
        self.set_normalization(defaults.mean, defaults.std)

    def train_device_transform(self, images: torch.Tensor) -> torch.Tensor:
        """Float [0, 1] NCHW training batch -> augmented batch (default: the configured colour distortion)."""
        return color_jitter_batch(images, self.color_jitter)

    def eval_device_transform(self, images: torch.Tensor) -> torch.Tensor:
        """Float [0, 1] NCHW evaluation batch -> the network's input geometry (default: unchanged)."""
        return images

    def device_transform(self, images: torch.Tensor, training: bool) -> torch.Tensor:
        """uint8 NCHW -> normalised float NCHW, on the batch's device."""
        x = images.float().div_(255.0)
        x = self.train_device_transform(x) if training else self.eval_device_transform(x)
        mean, std = self.normalization_tensors(x.device, x.dtype, x.shape[1])
        return (x - mean).div_(std)

    def normalization_tensors(self, device: torch.device, dtype: torch.dtype, channels: int):
        """``(mean, std)`` as (1, C, 1, 1) tensors on ``device``, made once per device (building them per batch is a
        host-to-device copy every step); a 1-channel batch uses the first channel's values."""
        key = (device, dtype, channels)
        if key not in self._normalization_tensors:
            def as_tensor(values):
                return torch.tensor(values[:channels], dtype=dtype).view(1, -1, 1, 1).to(device)
            self._normalization_tensors[key] = (as_tensor(self.mean), as_tensor(self.std))
        return self._normalization_tensors[key]

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        images, labels = batch
        if images.dtype == torch.uint8:
            trainer = self.trainer
            training = bool(trainer is not None and trainer.training)
            images = self.device_transform(images, training)
        return images, labels

    # ---- loaders ------------------------------------------------------------------------------------------------
    def _loader(self, dataset: Dataset, shuffle: bool, drop_last: bool = False, sampler=None,
                loader_class: type[DataLoader] = DataLoader) -> DataLoader:
        shard = self.distributed_shard()  # (world size, rank): world / nodes training processes share this machine
        local = max(1, shard[0] // int(getattr(self.trainer, "num_nodes", 1) or 1)) if shard is not None else 1
        workers = self.num_workers = resolve_num_workers(self.num_workers_setting, local)
        extra: dict[str, Any] = {}
        if workers > 0 and self.prefetch_factor is not None:
            extra["prefetch_factor"] = self.prefetch_factor
        return loader_class(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle if sampler is None else False,
            sampler=sampler,
            num_workers=workers,
            pin_memory=self.pin_memory and torch.cuda.is_available(),
            persistent_workers=self.persistent_workers and workers > 0,
            drop_last=drop_last,
            collate_fn=collate_images,
            **extra,
        )

    def _require(self, dataset: Dataset | None, split: str) -> Dataset:
        if dataset is None:
            self.setup("fit")
            dataset = self.train_set if split == "train" else self.val_set
        assert dataset is not None
        return dataset

    def train_dataloader(self) -> DataLoader:
        dataset = self._require(self.train_set, "train")
        # dropping the last partial batch avoids a 1-image batch (BatchNorm cannot train on it)
        drop_last = self.drop_last and len(dataset) > self.batch_size  # type: ignore[arg-type]
        # Several processes: a plain torch RandomSampler, which Lightning swaps for its DistributedSampler (shuffled
        # by seed + epoch, an order a mid-epoch resume can replay); torchdata's own sampler would be wrapped instead.
        sampler = RandomSampler(dataset) if self.distributed_shard() else None
        return self._loader(dataset, shuffle=True, drop_last=drop_last, sampler=sampler,
                            loader_class=StatefulDataLoader)

    def val_dataloader(self) -> DataLoader:
        dataset = self._require(self.val_set, "val")
        return self._loader(dataset, shuffle=False, sampler=self.eval_sampler(dataset))

    def distributed_shard(self) -> tuple[int, int] | None:
        """``(world size, rank)`` when the attached trainer runs several processes and lets Lightning shard the
        data (``use_distributed_sampler``), else None."""
        trainer = self.trainer
        if trainer is None:
            return None
        kwargs = trainer.distributed_sampler_kwargs  # None unless distributed
        connector = getattr(trainer, "_accelerator_connector", None)
        if not kwargs or not getattr(connector, "use_distributed_sampler", True):
            return None
        world, rank = int(kwargs["num_replicas"]), int(kwargs["rank"])
        return (world, rank) if world > 1 else None

    def eval_sampler(self, dataset: Dataset) -> EvalShardSampler | None:
        """The no-padding shard sampler when the attached trainer runs several processes, else None."""
        shard = self.distributed_shard()
        if shard is None:
            return None
        world, rank = shard
        size = len(dataset)  # type: ignore[arg-type]
        if size < world:
            raise DataError(
                f"the validation set has {size} images, fewer than the {world} processes of this run; "
                "add validation images or run on fewer devices"
            )
        return EvalShardSampler(dataset, num_replicas=world, rank=rank)

    # ---- the class index a run saves -----------------------------------------------------------------------------
    @property
    def class_index(self) -> dict[str, Any]:
        """What maps a predicted index back to a name: ``{"num_classes", "class_names", "dataset"}``
        (index i is ``class_names[i]``). Write it into the run directory (``save_class_index``) or results.json."""
        names = [str(n) for n in self.class_names]
        return {"num_classes": len(names), "class_names": names, "dataset": self.dataset_name}

    def save_class_index(self, path: str | os.PathLike) -> Path:
        """Write ``class_index`` as JSON to ``path`` (a file, or a directory -> ``<dir>/class_index.json``),
        atomically (temp file + rename). Returns the file's path."""
        target = Path(path)
        if target.is_dir():
            target = target / CLASS_INDEX_FILENAME
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
        tmp.write_text(json.dumps(self.class_index, indent=2) + "\n")
        os.replace(tmp, target)
        return target

    def data_summary(self) -> dict[str, Any]:
        """Counts worth recording with a run (results.json): images per split, skipped files. Subclasses extend."""
        summary: dict[str, Any] = {"dataset": self.dataset_name, "num_classes": self.num_classes,
                                   "channels": self.channels, "image_size": self.image_size}
        for split, dataset in (("train", self.train_set), ("val", self.val_set)):
            summary[f"{split}_images"] = len(dataset) if dataset is not None else None  # type: ignore[arg-type]
        return summary


def load_class_index(path: str | os.PathLike) -> list[str]:
    """Class names saved by ``ImageDataModule.save_class_index`` (a file or a run directory)."""
    source = Path(path)
    if source.is_dir():
        source = source / CLASS_INDEX_FILENAME
    try:
        payload = json.loads(source.read_text())
        names = payload["class_names"]
    except FileNotFoundError:
        raise DataError(f"no class index at {source}") from None
    except (ValueError, KeyError, TypeError) as err:
        raise DataError(f"{source} is not a class index file ({err})") from None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise DataError(f"{source}: class_names must be a list of strings")
    return names
