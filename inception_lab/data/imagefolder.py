"""``data=imagefolder``: real images in the ImageNet layout ``root/{train,val}/<class>/<image>``.

- **Formats.** Any file Pillow can open, chosen by extension (``IMAGE_EXTENSIONS``: JPEG, PNG, BMP, GIF, TIFF,
  WebP, PPM ... case-insensitive); other files (``.txt``, ``.DS_Store``, hidden ``._x.jpg`` AppleDouble files) are
  ignored and counted. Class folders may nest sub-folders. CMYK, palette, grey+alpha, 16-bit and grayscale
  images are converted to RGB (``channels=3``) or L (``channels=1``); EXIF orientation is applied.
- **Class index** = the sorted class-folder names of the train split (or the sorted labels of ``train_list``);
  the val split must have exactly the same classes. ``class_names`` / ``class_index`` / ``save_class_index``
  (base class) record it with the run. ``num_classes`` and ``class_names`` only list the class folders (cheap),
  so the CLI can build the model before ``setup`` scans the files.
- **File lists** (optional, per split): a text file, one image per line, ``<path>`` (class = the first folder of
  the path) or ``<path> <class>`` / ``<path>\\t<class>``; paths relative to the split folder or absolute; blank
  lines and ``#`` comments skipped. Works for ImageNet's flat val folder with a ``<file> <synset>`` list.
- **Bad input** (``DataError``, one line, before training): missing root, missing split, no class folders, an
  empty class folder, no images, train/val class mismatch, a file list naming a missing file.
- **Corrupt files** (``verify``): checking every file up front costs a full pass over the data, too slow for
  ImageNet's 1.28M files on every run (and every DDP rank). So:

  * ``verify=header``: at setup, open every file's header (Pillow identifies the format and size without decoding
    pixels) in a thread pool; JPEGs without an end-of-image marker and PNGs without an IEND chunk (the signature of
    a truncated file) are decoded in full to confirm. Catches unreadable, non-image, empty and truncated files.
  * ``verify=full``: decode every file at setup (JPEGs at 1/8 DCT scale); catches everything, costs most.
  * ``verify=none``: no up-front check; the first unreadable file met while training stops the run with a
    ``DataError`` naming it (from inside a DataLoader worker too).
  * ``verify=auto`` (default): ``header`` for splits up to ``AUTO_VERIFY_LIMIT`` files, ``none`` above (ImageNet).

  With ``skip_corrupt=true`` bad files are skipped and counted instead (at setup: removed from the index, one
  warning line; at decode time: replaced by the next readable image of the split, one warning line per file,
  counted in ``skipped_at_decode``); ``data_summary()`` reports both counts.
- **Subsets** (``max_per_class`` for train, ``val_max_per_class`` for val): at most that many images per class,
  picked evenly spaced over the class's sorted file list (deterministic, the same for every seed and run, spread
  over the whole folder rather than its first files), before verification; a quick study on part of ImageNet is
  one override.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, get_worker_info

from inception_lab.data.base import DataError, ImageDataModule, resolve_root
from inception_lab.data.transforms import (
    DECODE_ERRORS,
    DEFAULT_AREA_RANGE,
    DEFAULT_ASPECT_RANGE,
    DEFAULT_EVAL_FRACTION,
    DEFAULT_MAX_ATTEMPTS,
    EvalTransform,
    ImageDecodeError,
    TrainTransform,
    _reason,
)

AUTO_VERIFY_LIMIT = 50_000
VERIFY_MODES = ("auto", "none", "header", "full")
MAX_CONSECUTIVE_SKIPS = 32  # decode-time skipping gives up (DataError) after this many bad files in a row
_STUB_FORMATS = {"BUFR", "GRIB", "HDF5", "WMF", "EMF", "EPS", "MPEG"}  # need external handlers / identify only


def _pillow_extensions() -> frozenset[str]:
    Image.init()
    return frozenset(
        ext.lower()
        for ext, fmt in Image.registered_extensions().items()
        if fmt in Image.OPEN and fmt not in _STUB_FORMATS
    )


IMAGE_EXTENSIONS = _pillow_extensions()


def is_image_name(name: str) -> bool:
    """An image by extension (case-insensitive) and not a hidden file (``.DS_Store``, AppleDouble ``._x.jpg``)."""
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _short(names: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" (+{len(names) - limit} more)" if len(names) > limit else "")


# ---------------------------------------------------------------------------------------------------------------
# Scanning
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class SplitIndex:
    """The images of one split: paths relative to ``base`` (bytes, compact and fork-friendly) and labels."""

    base: str
    paths: np.ndarray
    labels: np.ndarray
    ignored: int = 0  # non-image files passed over
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason) removed by verification

    def __len__(self) -> int:
        return len(self.labels)

    def path(self, i: int) -> str:
        return os.path.join(self.base, self.paths[i].decode("utf-8", "surrogateescape"))

    def all_paths(self) -> list[str]:
        return [self.path(i) for i in range(len(self))]

    def drop(self, bad: set[str]) -> None:
        keep = np.array([p not in bad for p in self.all_paths()], dtype=bool)
        self.paths, self.labels = self.paths[keep], self.labels[keep]

    def limit_per_class(self, limit: int) -> None:
        """Keep at most ``limit`` images of each class: evenly spaced over the class's images in index order
        (sorted paths), so the subset is deterministic and spread over the whole folder."""
        keep = np.zeros(len(self), dtype=bool)
        for label in np.unique(self.labels):
            members = np.flatnonzero(self.labels == label)
            if len(members) <= limit:
                keep[members] = True
            else:
                keep[members[np.linspace(0, len(members) - 1, limit).round().astype(np.int64)]] = True
        self.paths, self.labels = self.paths[keep], self.labels[keep]


def class_folders(split_dir: Path) -> list[str]:
    """Sorted names of the (non-hidden) sub-folders of ``split_dir``."""
    with os.scandir(split_dir) as entries:
        return sorted(e.name for e in entries if not e.name.startswith(".") and e.is_dir(follow_symlinks=True))


def _walk_images(folder: str) -> tuple[list[str], int]:
    """Image files under ``folder`` (recursive, sorted, relative to ``folder``) and the count of other files."""
    images, ignored = [], 0
    for current, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        relative = os.path.relpath(current, folder)
        for name in files:
            if is_image_name(name):
                images.append(name if relative == "." else os.path.join(relative, name))
            else:
                ignored += 1
    images.sort()
    return images, ignored


def _pack(paths: list[str]) -> np.ndarray:
    return np.array([p.encode("utf-8", "surrogateescape") for p in paths], dtype=bytes) if paths else np.zeros(0, "S1")


def scan_folders(split_dir: Path, classes: list[str]) -> SplitIndex:
    """Index ``split_dir/<class>/**/<image>`` for the given classes; DataError for an empty class / no images."""
    paths: list[str] = []
    labels: list[int] = []
    ignored = 0
    empty: list[str] = []
    for label, name in enumerate(classes):
        found, skipped_files = _walk_images(str(split_dir / name))
        ignored += skipped_files
        if not found:
            empty.append(name)
        paths.extend(os.path.join(name, f) for f in found)
        labels.extend([label] * len(found))
    if not paths:
        raise DataError(
            f"no images found under {split_dir} (looked in {len(classes)} class folders for "
            f"{_extensions_hint()}; {ignored} other files ignored)"
        )
    if empty:
        raise DataError(
            f"empty class folder {split_dir / empty[0]}: no images in it"
            + (f" (also empty: {_short(empty[1:])})" if len(empty) > 1 else "")
            + "; add images or remove the folder"
        )
    return SplitIndex(str(split_dir), _pack(paths), np.asarray(labels, dtype=np.int64), ignored)


def _extensions_hint() -> str:
    common = [".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".webp"]
    return "image files (" + ", ".join(common) + ", ...)"


def read_file_list(list_path: Path, split_dir: Path) -> tuple[list[str], list[str], int]:
    """Parse a file list -> (paths relative to split_dir or absolute, class names, non-image lines ignored)."""
    if not list_path.is_file():
        raise DataError(f"file list {list_path} does not exist")
    paths, names, ignored = [], [], 0
    with open(list_path, encoding="utf-8") as handle:
        for number, raw in enumerate(handle, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if "\t" in line:
                path, label = (part.strip() for part in line.split("\t", 1))
            elif is_image_name(os.path.basename(line)):
                path, label = line, ""
            else:
                parts = line.rsplit(None, 1)
                path, label = (parts[0], parts[1]) if len(parts) == 2 else (line, "")
            if not is_image_name(os.path.basename(path)):
                ignored += 1
                continue
            if not label:
                parent = Path(path).parts[0] if len(Path(path).parts) > 1 and not os.path.isabs(path) else ""
                if not parent:
                    raise DataError(
                        f"{list_path}:{number}: no class for {path!r}; write '<path> <class>' or put the file "
                        "in a class folder"
                    )
                label = parent
            paths.append(path)
            names.append(label)
    if not paths:
        raise DataError(f"file list {list_path} names no images")
    return paths, names, ignored


# ---------------------------------------------------------------------------------------------------------------
# Verification
# ---------------------------------------------------------------------------------------------------------------
def _tail(path: str, size: int) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        end = handle.tell()
        handle.seek(max(0, end - size))
        return handle.read()


def check_image(path: str, full: bool = False) -> str | None:
    """None if ``path`` looks like a readable image, else the reason. ``full=False``: header only, plus a full
    decode of JPEG/PNG files whose end marker is missing (truncated files); ``full=True``: always decode."""
    try:
        if os.path.getsize(path) == 0:
            return "empty file (0 bytes)"
        with Image.open(path) as image:
            fmt = image.format
            if image.size[0] < 1 or image.size[1] < 1:
                return f"image has no pixels ({image.size[0]}x{image.size[1]})"
            suspicious = full
            if not full and fmt == "JPEG":
                suspicious = b"\xff\xd9" not in _tail(path, 64)  # EOI marker (trailing padding tolerated)
            elif not full and fmt == "PNG":
                suspicious = b"IEND" not in _tail(path, 64)
            if suspicious:
                if fmt == "JPEG":
                    image.draft(None, (max(1, image.size[0] // 8), max(1, image.size[1] // 8)))
                image.load()
    except DECODE_ERRORS as err:
        return _reason(err, path)
    return None


def find_bad_images(paths: list[str], full: bool, threads: int | None = None) -> list[tuple[str, str]]:
    """(path, reason) for every file ``check_image`` rejects, in ``paths`` order (thread pool: I/O bound)."""
    if not paths:
        return []
    threads = threads or min(32, 4 * (os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=threads) as pool:
        reasons = list(pool.map(lambda p: check_image(p, full), paths, chunksize=256))
    return [(p, r) for p, r in zip(paths, reasons) if r is not None]


# ---------------------------------------------------------------------------------------------------------------
# Dataset
# ---------------------------------------------------------------------------------------------------------------
class ImageFileDataset(Dataset):
    """``(uint8 CHW tensor, label)`` from an index of files, decoded and transformed by ``transform(path)``.

    An unreadable file raises ``DataError`` naming it, or with ``skip_corrupt`` is replaced by the next readable
    file of the index and counted (a shared-memory counter, one slot per DataLoader worker, so the main process
    sees the skips made in workers).
    """

    def __init__(self, index: SplitIndex, transform, skip_corrupt: bool = False, split: str = "train") -> None:
        self.index = index
        self.transform = transform
        self.skip_corrupt = bool(skip_corrupt)
        self.split = split
        self._skip_counts = torch.zeros(257, dtype=torch.int64).share_memory_()
        self._reported: set[int] = set()

    def __len__(self) -> int:
        return len(self.index)

    @property
    def skipped(self) -> int:
        """Files skipped at decode time so far, over the main process and every worker."""
        return int(self._skip_counts.sum())

    def _count_skip(self, i: int, path: str, reason: str) -> None:
        info = get_worker_info()
        slot = 0 if info is None else 1 + info.id % 256
        self._skip_counts[slot] += 1
        if i not in self._reported:
            self._reported.add(i)
            print(f"warning: skipped unreadable image {path}: {reason}", file=sys.stderr, flush=True)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        n = len(self.index)
        for attempt in range(MAX_CONSECUTIVE_SKIPS + 1):
            j = (int(i) + attempt) % n
            path = self.index.path(j)
            try:
                return self.transform(path), int(self.index.labels[j])
            except ImageDecodeError as err:
                if not self.skip_corrupt:
                    raise DataError(
                        f"unreadable image {path}: {err}; remove or replace it, or set data.skip_corrupt=true "
                        "to skip such files"
                    ) from None
                self._count_skip(j, path, str(err))
        raise DataError(
            f"{MAX_CONSECUTIVE_SKIPS + 1} unreadable images in a row in the {self.split} split of "
            f"{self.index.base} (last: {path}); the data looks broken, not just a few files"
        )


# ---------------------------------------------------------------------------------------------------------------
# Data module
# ---------------------------------------------------------------------------------------------------------------
class ImageFolderDataModule(ImageDataModule):
    """ImageNet-layout folders (module docstring). Key options, all ``data.<key>`` on the command line:

    Args:
        root: the dataset folder holding ``train_split`` and ``val_split`` folders.
        image_size: network input (299 for v3/v4/IR, 224 for v1/BN-Inception).
        channels: 3 (RGB) or 1 (grayscale); every file is converted.
        crop_area: training crop area range as a fraction of the image (GoogLeNet 0.08-1; TF-slim uses 0.05-1
            for v2+, docs/reference.md#preprocessing, #train-augmentation).
        crop_aspect: training crop aspect-ratio (width/height) range, 3/4-4/3.
        crop_attempts: draws before falling back to the whole image (TF-slim: 100).
        flip: random horizontal flip in training.
        interpolation: ``bilinear`` (TF-slim), ``bicubic`` (timm), ``nearest``, ``area`` or ``random`` (one of
            the four per training image, as TF-slim with fast_mode=False; evaluation then uses bilinear).
        color_jitter: ``none``, ``fast`` or ``full`` TF-slim colour distortion, batch-wise on the device.
        eval_crop_fraction: central-crop fraction for evaluation; None = the model family's
            (``apply_model_defaults``; 0.875 until then, TF-slim's value for every family).
        eval_crop: ``central`` (TF-slim: the fraction of each side, resized to a square) or ``square``.
        verify / skip_corrupt: corrupt-file policy (module docstring).
        max_per_class / val_max_per_class: at most this many train / val images per class (None = all; evenly
            spaced over each class's sorted files, module docstring).
        fast_jpeg: decode JPEGs at a reduced DCT scale when the crop allows it (no resolution loss).
        drop_last: drop the last partial *training* batch (never a 1-image BatchNorm batch); validation keeps all.
        persistent_workers, prefetch_factor, color_jitter: see ``ImageDataModule``.
    """

    dataset_name = "imagefolder"

    def __init__(
        self,
        root: str | None = None,
        image_size: int = 299,
        batch_size: int = 64,
        num_workers: int | str = "auto",
        pin_memory: bool = True,
        mean: Sequence[float] = (0.5, 0.5, 0.5),
        std: Sequence[float] = (0.5, 0.5, 0.5),
        train_split: str = "train",
        val_split: str = "val",
        train_list: str | None = None,
        val_list: str | None = None,
        channels: int = 3,
        crop_area: Sequence[float] = DEFAULT_AREA_RANGE,
        crop_aspect: Sequence[float] = DEFAULT_ASPECT_RANGE,
        crop_attempts: int = DEFAULT_MAX_ATTEMPTS,
        flip: bool = True,
        interpolation: str = "bilinear",
        eval_crop_fraction: float | None = None,
        eval_crop: str = "central",
        exif_transpose: bool = True,
        fast_jpeg: bool = True,
        verify: str = "auto",
        skip_corrupt: bool = False,
        drop_last: bool = True,
        max_per_class: int | None = None,
        val_max_per_class: int | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            for key, value in (("max_per_class", max_per_class), ("val_max_per_class", val_max_per_class)):
                if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                    raise ValueError(f"{key} must be a positive whole number or null, got {value!r}")
            super().__init__(image_size=image_size, batch_size=batch_size, num_workers=num_workers,
                             pin_memory=pin_memory, mean=mean, std=std, drop_last=drop_last, **kwargs)
            if int(channels) not in (1, 3):
                raise ValueError(f"channels must be 1 or 3, got {channels}")
            if verify not in VERIFY_MODES:
                raise ValueError(f"verify must be one of {', '.join(VERIFY_MODES)}, got {verify!r}")
            mode = "RGB" if int(channels) == 3 else "L"
            common = dict(mode=mode, exif_transpose=bool(exif_transpose), draft=bool(fast_jpeg))
            self.train_transform = TrainTransform(
                self.image_size, crop_area, crop_aspect, crop_attempts, flip, interpolation, **common
            )
            self.eval_crop_fraction = None if eval_crop_fraction is None else float(eval_crop_fraction)
            self.eval_transform = EvalTransform(
                self.image_size, DEFAULT_EVAL_FRACTION if eval_crop_fraction is None else eval_crop_fraction, eval_crop,
                "bilinear" if interpolation == "random" else interpolation, **common,
            )
        except ValueError as err:
            raise DataError(f"data config: {err}") from None
        self.channels = int(channels)
        # an unset root is reported when first needed (num_classes / setup), not here: errors raised inside
        # hydra.utils.instantiate reach the caller wrapped in an InstantiationException
        self.root = resolve_root(root)
        self.train_split, self.val_split = str(train_split), str(val_split)
        self.train_list = Path(os.path.expanduser(str(train_list))).absolute() if train_list else None
        self.val_list = Path(os.path.expanduser(str(val_list))).absolute() if val_list else None
        self.verify = verify
        self.skip_corrupt = bool(skip_corrupt)
        self.max_per_class = max_per_class
        self.val_max_per_class = val_max_per_class
        self._classes: list[str] | None = None
        self._lists: dict[str, tuple[list[str], list[str], int]] = {}
        self.train_index: SplitIndex | None = None
        self.val_index: SplitIndex | None = None
        self.skipped_at_scan: list[tuple[str, str]] = []

    def apply_model_defaults(self, defaults: Any) -> None:
        super().apply_model_defaults(defaults)
        fraction = getattr(defaults, "crop_fraction", None)
        if self.eval_crop_fraction is None and fraction is not None:
            self.eval_transform.fraction = float(fraction)  # shared with val_set's transform, even after setup

    # ---- classes (cheap: folder names / list labels) -------------------------------------------------------------
    def _split_dir(self, split: str) -> Path:
        if self.root is None:
            raise DataError(
                "data.root is not set: pass data.root=/path/to/dataset (layout <root>/train/<class>/<image>, "
                "<root>/val/<class>/<image>)"
            )
        if not self.root.is_dir():
            what = "is not a folder" if self.root.exists() else "does not exist"
            raise DataError(f"data.root={self.root} {what}; expected <root>/{self.train_split}/<class>/<image>")
        folder = self.root / split
        if not folder.is_dir():
            present = [p.name for p in sorted(self.root.iterdir()) if p.is_dir() and not p.name.startswith(".")]
            found = f"found: {_short(present)}" if present else "it has no sub-folders"
            raise DataError(
                f"split folder {folder} does not exist ({found}); expected <root>/{split}/<class>/<image> "
                f"(or set data.{'train' if split == self.train_split else 'val'}_split=<name>)"
            )
        return folder

    def _split_classes(self, split: str, file_list: Path | None) -> list[str]:
        folder = self._split_dir(split)
        if file_list is not None:
            if split not in self._lists:
                self._lists[split] = read_file_list(file_list, folder)
            return sorted(set(self._lists[split][1]))
        classes = class_folders(folder)
        if not classes:
            loose = sum(1 for e in os.scandir(folder) if e.is_file() and is_image_name(e.name))
            hint = (
                f" ({loose} images lie directly in it: sort them into one folder per class, or pass "
                f"data.{'train' if split == self.train_split else 'val'}_list=<file> with '<image> <class>' lines)"
                if loose else ""
            )
            raise DataError(f"no class folders in {folder}{hint}; expected {folder}/<class>/<image>")
        return classes

    @property
    def class_names(self) -> list[str]:  # type: ignore[override]
        if self._classes is None:
            train = self._split_classes(self.train_split, self.train_list)
            val = self._split_classes(self.val_split, self.val_list)
            if train != val:
                only_train = sorted(set(train) - set(val))
                only_val = sorted(set(val) - set(train))
                parts = []
                if only_val:
                    parts.append(f"in {self.val_split} but not in {self.train_split}: {_short(only_val)}")
                if only_train:
                    parts.append(f"in {self.train_split} but not in {self.val_split}: {_short(only_train)}")
                raise DataError(
                    f"class mismatch between {self.root / self.train_split} ({len(train)} classes) and "
                    f"{self.root / self.val_split} ({len(val)} classes): " + "; ".join(parts)
                )
            self._classes = train
        return self._classes

    @property
    def num_classes(self) -> int:  # type: ignore[override]
        return len(self.class_names)

    # ---- files ------------------------------------------------------------------------------------------------
    def _index_split(self, split: str, file_list: Path | None) -> SplitIndex:
        folder = self._split_dir(split)
        classes = self.class_names
        if file_list is None:
            return scan_folders(folder, classes)
        paths, names, ignored = self._lists.get(split) or read_file_list(file_list, folder)
        lookup = {name: i for i, name in enumerate(classes)}
        labels = np.asarray([lookup[n] for n in names], dtype=np.int64)
        return SplitIndex(str(folder), _pack(paths), labels, ignored)

    def _verify(self, index: SplitIndex, split: str, listed: bool) -> None:
        mode = self.verify
        if mode == "auto":
            mode = "header" if len(index) <= AUTO_VERIFY_LIMIT else "none"
        if mode == "none":
            return
        bad = find_bad_images(index.all_paths(), full=mode == "full")
        if not bad:
            return
        if not self.skip_corrupt:
            path, reason = bad[0]
            others = f" ({len(bad) - 1} more bad files in this split)" if len(bad) > 1 else ""
            raise DataError(
                f"unreadable image {path}: {reason}{others}; remove or replace it, or set data.skip_corrupt=true "
                "to skip such files"
            )
        index.drop({p for p, _ in bad})
        index.skipped.extend(bad)
        self.skipped_at_scan.extend(bad)
        print(
            f"warning: skipped {len(bad)} unreadable image(s) in {index.base}: "
            + _short([f"{os.path.relpath(p, index.base)} ({r})" for p, r in bad], 3),
            file=sys.stderr,
            flush=True,
        )
        present = set(index.labels.tolist())
        empty = [name for i, name in enumerate(self.class_names) if i not in present]
        if len(index) == 0:
            raise DataError(f"no readable images left in {index.base} after skipping {len(bad)} unreadable files")
        if empty and not listed:
            raise DataError(
                f"class folder {Path(index.base) / empty[0]} has no readable images after skipping unreadable "
                "files; fix or remove it"
            )

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        self.train_index = self._index_split(self.train_split, self.train_list)
        self.val_index = self._index_split(self.val_split, self.val_list)
        for index, limit in ((self.train_index, self.max_per_class), (self.val_index, self.val_max_per_class)):
            if limit is not None:
                index.limit_per_class(limit)
        self._verify(self.train_index, self.train_split, self.train_list is not None)
        self._verify(self.val_index, self.val_split, self.val_list is not None)
        self.train_set = ImageFileDataset(self.train_index, self.train_transform, self.skip_corrupt, "train")
        self.val_set = ImageFileDataset(self.val_index, self.eval_transform, self.skip_corrupt, "val")

    # ---- what a run records ---------------------------------------------------------------------------------------
    @property
    def skipped_at_decode(self) -> int:
        return sum(d.skipped for d in (self.train_set, self.val_set) if isinstance(d, ImageFileDataset))

    def data_summary(self) -> dict[str, Any]:
        summary = super().data_summary()
        summary.update(
            root=str(self.root),
            ignored_files=sum(i.ignored for i in (self.train_index, self.val_index) if i is not None),
            skipped_at_scan=len(self.skipped_at_scan),
            skipped_at_decode=self.skipped_at_decode,
            max_per_class=self.max_per_class,
            val_max_per_class=self.val_max_per_class,
        )
        return summary
