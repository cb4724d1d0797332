"""Image transforms written with Pillow and torch ops (no torchvision), docs/reference.md#preprocessing, #evaluation.

Three layers, each usable on its own:

1. **Geometry** (pure functions on sizes, no pixels): ``sample_distorted_box`` (the Inception / TF-slim
   distorted-bounding-box crop: a box covering a uniform fraction of the image area in ``area_range``, with a
   log-uniform aspect ratio (width / height) in ``aspect_range``, placed uniformly; after ``max_attempts`` failed
   draws the whole image, as TF's ``sample_distorted_bounding_box`` falls back), ``central_box`` (eval crop),
   ``square_boxes`` / ``five_crop_boxes`` (multi-crop evaluation, docs/reference.md#evaluation). Boxes are ``(left, top, width, height)``
   in floating-point pixels, so the area and aspect bounds hold exactly (Pillow resamples sub-pixel boxes).
2. **Per-image (Pillow, in DataLoader workers)**: ``open_image`` / ``load_image`` decode a file to an RGB or L
   image (CMYK, palette, grey+alpha, 16-bit ... converted; EXIF orientation applied), ``TrainTransform`` and
   ``EvalTransform`` go from a file path to a ``uint8`` CHW tensor of the run's size. JPEGs are decoded at a
   reduced DCT scale (Pillow ``draft``) whenever the crop still keeps at least the output resolution: a cheaper
   decode of large photos (BENCHMARKS.md), never a loss of output resolution. ``multi_crop`` builds the 144 / 12 /
   10-crop views of docs/reference.md#evaluation from the same primitives.
3. **Batch-wise on the device (float, NCHW)**: ``color_jitter_batch`` (TF-slim's ``distort_color``: brightness,
   saturation, hue, contrast in one of four per-image orders; ``fast`` = brightness then saturation),
   ``random_resized_crop_batch`` (the same distorted-box rule for fixed-size tensor data such as CIFAR, one
   ``grid_sample`` for the whole batch) and ``center_crop_resize_batch``.

Transforms take their randomness from torch's global generator (or an explicit ``torch.Generator``), which
DataLoader seeds per worker, so ``seed_everything(workers=True)`` makes a run repeatable.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.nn import functional as F

Box = tuple[float, float, float, float]  # left, top, width, height (pixels, floats)

# Defaults of GoogLeNet §6 (docs/reference.md#train-augmentation). TF-slim uses area (0.05, 1.0) for v2+ (docs/reference.md#train-augmentation).
DEFAULT_AREA_RANGE = (0.08, 1.0)
DEFAULT_ASPECT_RANGE = (3.0 / 4.0, 4.0 / 3.0)
DEFAULT_MAX_ATTEMPTS = 100  # TF-slim's distorted_bounding_box_crop
DEFAULT_EVAL_FRACTION = 0.875  # TF-slim central_crop, timm crop_pct (docs/reference.md#preprocessing)

INTERPOLATIONS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "area": Image.Resampling.BOX,
}
# TF-slim picks one of its four resize methods at random when asked (fast_mode=False; GoogLeNet §6 too).
RANDOM_INTERPOLATION = "random"

# EXIF orientation tag (0x0112) -> the transpose that displays the image upright (EXIF 2.3 §4.6.4).
_EXIF_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
COLOR_JITTER_MODES = ("none", "fast", "full")


class ImageDecodeError(Exception):
    """A file that Pillow cannot open or fully decode (corrupt, truncated, not an image). ``str`` is the reason."""


# Everything Pillow raises on a bad file: UnidentifiedImageError and "image file is truncated" are OSErrors,
# broken PNG chunks are SyntaxErrors, short headers struct.errors / EOFErrors, oversized images
# DecompressionBombError.
DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    Image.DecompressionBombError,
)
try:  # struct.error and zlib.error are not OSErrors
    import struct
    import zlib

    DECODE_ERRORS = DECODE_ERRORS + (struct.error, zlib.error)
except ImportError:  # pragma: no cover
    pass


# ---------------------------------------------------------------------------------------------------------------
# 1. Geometry
# ---------------------------------------------------------------------------------------------------------------
def check_range(name: str, value: Sequence[float], low: float, high: float) -> tuple[float, float]:
    """Validate a ``[min, max]`` config pair inside ``[low, high]``; raise ValueError with the key's name."""
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair [min, max], got {value!r}") from None
    if not (low <= lo <= hi <= high) or hi <= 0:
        raise ValueError(f"{name} must satisfy {low} <= min <= max <= {high}, got [{lo}, {hi}]")
    return lo, hi


def _uniform(lo: float, hi: float, generator: torch.Generator | None) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=generator))


def sample_distorted_box(
    width: int,
    height: int,
    area_range: Sequence[float] = DEFAULT_AREA_RANGE,
    aspect_range: Sequence[float] = DEFAULT_ASPECT_RANGE,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    generator: torch.Generator | None = None,
) -> Box:
    """A random crop box: area fraction ~ U(area_range), aspect (w/h) log-uniform in aspect_range, position uniform.

    A draw that does not fit inside the image is redrawn, up to ``max_attempts`` times; then the whole image is
    returned (TF's ``sample_distorted_bounding_box`` fallback).
    """
    area = float(width) * float(height)
    log_lo, log_hi = math.log(aspect_range[0]), math.log(aspect_range[1])
    for _ in range(max(1, int(max_attempts))):
        target = area * _uniform(area_range[0], area_range[1], generator)
        aspect = math.exp(_uniform(log_lo, log_hi, generator))
        w = math.sqrt(target * aspect)
        h = math.sqrt(target / aspect)
        if 0 < w <= width and 0 < h <= height:
            left = _uniform(0.0, width - w, generator)
            top = _uniform(0.0, height - h, generator)
            return (left, top, w, h)
    return (0.0, 0.0, float(width), float(height))


def central_box(width: int, height: int, fraction: float = DEFAULT_EVAL_FRACTION, square: bool = False) -> Box:
    """The eval crop. ``square=False``: TF-slim ``central_crop`` (``fraction`` of each side, centred; the aspect
    of the image is kept and the resize to a square output stretches it). ``square=True``: a centred square with
    side ``fraction`` x the shorter side (timm / torchvision "resize to size/fraction, centre-crop size")."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"eval crop fraction must be in (0, 1], got {fraction}")
    if square:
        w = h = fraction * min(width, height)
    else:
        w, h = fraction * width, fraction * height
    return ((width - w) / 2.0, (height - h) / 2.0, w, h)


def square_boxes(width: int, height: int, count: int = 3) -> list[Box]:
    """Squares of side min(width, height): ``count=3`` left/centre/right (top/centre/bottom for portrait images),
    ``count=1`` the centre one (GoogLeNet §7 multi-crop, docs/reference.md#evaluation)."""
    side = float(min(width, height))
    if count == 1:
        return [((width - side) / 2.0, (height - side) / 2.0, side, side)]
    if count != 3:
        raise ValueError(f"square_boxes count must be 1 or 3, got {count}")
    if width >= height:
        return [(0.0, 0.0, side, side), ((width - side) / 2.0, 0.0, side, side), (width - side, 0.0, side, side)]
    return [(0.0, 0.0, side, side), (0.0, (height - side) / 2.0, side, side), (0.0, height - side, side, side)]


def five_crop_boxes(box: Box, crop: float) -> list[Box]:
    """The 4 corner crops and the centre crop (side ``crop``) of ``box``: top-left, top-right, bottom-left,
    bottom-right, centre."""
    left, top, w, h = box
    if crop > min(w, h) + 1e-6:
        raise ValueError(f"crop {crop} is larger than the region {w:.1f}x{h:.1f}")
    right, bottom = left + w - crop, top + h - crop
    return [
        (left, top, crop, crop),
        (right, top, crop, crop),
        (left, bottom, crop, crop),
        (right, bottom, crop, crop),
        (left + (w - crop) / 2.0, top + (h - crop) / 2.0, crop, crop),
    ]


# ---------------------------------------------------------------------------------------------------------------
# 2. Per-image: decode (Pillow) -> crop + resize -> uint8 CHW tensor
# ---------------------------------------------------------------------------------------------------------------
def _exif_orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(0x0112, 1) or 1)
    except Exception:  # a malformed EXIF block is not a reason to drop the picture
        return 1


def _displayed_size(image: Image.Image, orientation: int) -> tuple[int, int]:
    w, h = image.size
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def _to_mode(image: Image.Image, mode: str) -> Image.Image:
    """Convert any Pillow mode to ``RGB`` or ``L``: CMYK, YCbCr, palette (with transparency), LA/RGBA (alpha
    dropped), 1-bit, 16/32-bit integer and float greyscale (rescaled to 8 bits)."""
    if image.mode == mode:
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or array.max(initial=0) > 255 else 255.0
        if image.mode == "F" and array.max(initial=0) <= 1.0:
            peak = 1.0
        grey = Image.fromarray(np.clip(array * (255.0 / peak), 0, 255).astype(np.uint8), mode="L")
        return grey if mode == "L" else grey.convert(mode)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    return image.convert(mode)


def open_image(path: str | os.PathLike) -> Image.Image:
    """Open (header only) an image file; ImageDecodeError with the reason when Pillow cannot identify it."""
    try:
        return Image.open(path)
    except DECODE_ERRORS as err:
        raise ImageDecodeError(_reason(err, path)) from None


def _reason(err: BaseException, path: str | os.PathLike) -> str:
    """The cause of a decode failure in a few words, without repeating the path."""
    if isinstance(err, FileNotFoundError):
        return "file not found"
    if isinstance(err, UnidentifiedImageError):
        return "not an image Pillow can read"
    text = str(err).replace(str(path), "").strip(" :'\"")
    return text or type(err).__name__


def load_image(
    path: str | os.PathLike,
    mode: str = "RGB",
    box_fn=None,
    min_output: int | None = None,
    exif_transpose: bool = True,
    draft: bool = True,
) -> tuple[Image.Image, Box]:
    """Decode ``path`` to an upright image in ``mode`` and return it with the crop box chosen by ``box_fn``.

    ``box_fn(width, height) -> Box`` is called on the *displayed* size (after EXIF orientation) before any pixel
    is decoded, so a JPEG can be decoded at the coarsest DCT scale (1/2, 1/4, 1/8) that still leaves the box at
    least ``min_output`` pixels on each side. The returned box is in the decoded image's pixels.
    Raises ImageDecodeError (with the reason) for unreadable, corrupt or truncated files.
    """
    image = open_image(path)
    orientation = _exif_orientation(image) if exif_transpose else 1
    disp_w, disp_h = _displayed_size(image, orientation)
    box = box_fn(disp_w, disp_h) if box_fn is not None else (0.0, 0.0, float(disp_w), float(disp_h))
    scale = 1.0
    try:
        if draft and min_output and image.format == "JPEG":
            # the largest DCT reduction s in {2, 4, 8} that keeps the box >= min_output pixels on each side
            # (Pillow picks s <= min(W // request_w, H // request_h) and decodes ceil(W / s) x ceil(H / s))
            shrink = min(box[2], box[3]) / float(min_output)
            if shrink >= 2.0:
                stored_w, stored_h = image.size
                request = (math.ceil(stored_w / shrink), math.ceil(stored_h / shrink))
                to_grey = mode == "L" and image.mode in ("RGB", "L")
                drafted = image.draft("L" if to_grey else None, request)
                if drafted is not None:
                    scale = stored_w / float(drafted[1][2])
        image.load()
    except DECODE_ERRORS as err:
        image.close()
        raise ImageDecodeError(_reason(err, path)) from None
    if orientation in _EXIF_TRANSPOSE:
        image = image.transpose(_EXIF_TRANSPOSE[orientation])
    image = _to_mode(image, mode)
    if scale != 1.0:
        # decoded size is ceil(W / s); map the box and keep it inside the (slightly rounded) decoded image
        w, h = image.size
        left, top, bw, bh = (v / scale for v in box)
        bw, bh = min(bw, w), min(bh, h)
        box = (min(left, w - bw), min(top, h - bh), bw, bh)
    return image, box


def crop_resize(
    image: Image.Image, box: Box, size: int | tuple[int, int], interpolation: str = "bilinear"
) -> Image.Image:
    """Crop ``box`` and resize it to ``size`` in one Pillow call (sub-pixel box, antialiased when shrinking)."""
    out = (size, size) if isinstance(size, int) else tuple(size)
    left, top, w, h = box
    return image.resize(out, resample=INTERPOLATIONS[interpolation], box=(left, top, left + w, top + h))


def to_uint8_tensor(image: Image.Image) -> torch.Tensor:
    """Pillow image (L or RGB) -> uint8 tensor (C, H, W) sharing no memory with the image."""
    array = np.asarray(image, dtype=np.uint8)
    if array.ndim == 2:
        array = array[:, :, None]
    return torch.from_numpy(array.copy()).permute(2, 0, 1)


def _check_interpolation(name: str, allow_random: bool) -> str:
    valid = list(INTERPOLATIONS) + ([RANDOM_INTERPOLATION] if allow_random else [])
    if name not in valid:
        raise ValueError(f"interpolation must be one of {', '.join(valid)}, got {name!r}")
    return name


class TrainTransform:
    """File path -> uint8 (C, size, size): distorted-box crop, resize, random horizontal flip (docs/reference.md#train-augmentation).

    Colour distortion is not here: it runs batch-wise on the device (``color_jitter_batch``)."""

    def __init__(
        self,
        size: int,
        area_range: Sequence[float] = DEFAULT_AREA_RANGE,
        aspect_range: Sequence[float] = DEFAULT_ASPECT_RANGE,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        flip: bool = True,
        interpolation: str = "bilinear",
        mode: str = "RGB",
        exif_transpose: bool = True,
        draft: bool = True,
    ) -> None:
        self.size = int(size)
        self.area_range = check_range("crop_area", area_range, 0.0, 1.0)
        self.aspect_range = check_range("crop_aspect", aspect_range, 1e-3, 1e3)
        self.max_attempts = int(max_attempts)
        self.flip = bool(flip)
        self.interpolation = _check_interpolation(interpolation, allow_random=True)
        self.mode, self.exif_transpose, self.draft = mode, exif_transpose, draft

    def box(self, width: int, height: int) -> Box:
        return sample_distorted_box(width, height, self.area_range, self.aspect_range, self.max_attempts)

    def __call__(self, path: str | os.PathLike) -> torch.Tensor:
        image, box = load_image(path, self.mode, self.box, self.size, self.exif_transpose, self.draft)
        interpolation = self.interpolation
        if interpolation == RANDOM_INTERPOLATION:
            names = list(INTERPOLATIONS)
            interpolation = names[int(torch.randint(len(names), ()))]
        out = crop_resize(image, box, self.size, interpolation)
        if self.flip and bool(torch.rand(()) < 0.5):
            out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return to_uint8_tensor(out)


class EvalTransform:
    """File path -> uint8 (C, size, size): central crop (``fraction``; TF-slim per-side or square) then resize."""

    def __init__(
        self,
        size: int,
        fraction: float = DEFAULT_EVAL_FRACTION,
        crop: str = "central",
        interpolation: str = "bilinear",
        mode: str = "RGB",
        exif_transpose: bool = True,
        draft: bool = True,
    ) -> None:
        if crop not in ("central", "square"):
            raise ValueError(f"eval_crop must be 'central' (TF-slim) or 'square', got {crop!r}")
        self.size = int(size)
        self.fraction = float(fraction)
        central_box(10, 10, self.fraction)  # validate
        self.square = crop == "square"
        self.interpolation = _check_interpolation(interpolation, allow_random=False)
        self.mode, self.exif_transpose, self.draft = mode, exif_transpose, draft

    def box(self, width: int, height: int) -> Box:
        return central_box(width, height, self.fraction, self.square)

    def __call__(self, path: str | os.PathLike) -> torch.Tensor:
        image, box = load_image(path, self.mode, self.box, self.size, self.exif_transpose, self.draft)
        return to_uint8_tensor(crop_resize(image, box, self.size, self.interpolation))


def multi_crop_boxes(
    width: int,
    height: int,
    crop_size: int,
    shorter_sides: Iterable[int],
    squares: int = 3,
    corners: bool = True,
    full_square: bool = True,
) -> list[tuple[tuple[int, int], list[Box]]]:
    """The geometry of GoogLeNet §7 multi-crop (docs/reference.md#evaluation), shared by the Pillow and the tensor
    views so that both give the same views in the same order: for each shorter-side scale, the rescaled image's
    ``(width, height)`` and its boxes, ``squares`` squares (3: left/centre/right, 1: centre), in each square the 4
    corner + centre crops of ``crop_size`` (``corners``) and the whole square (``full_square``)."""
    plan = []
    for side in shorter_sides:
        scale = int(side) / float(min(width, height))
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        boxes: list[Box] = []
        for square in square_boxes(*size, count=squares):
            boxes += five_crop_boxes(square, float(crop_size)) if corners else []
            if full_square:
                boxes.append(square)
        plan.append((size, boxes))
    return plan


def multi_crop(
    image: Image.Image,
    crop_size: int,
    shorter_sides: Iterable[int],
    squares: int = 3,
    corners: bool = True,
    full_square: bool = True,
    mirror: bool = True,
    interpolation: str = "bilinear",
) -> torch.Tensor:
    """GoogLeNet §7 multi-crop views of one image as a uint8 tensor (K, C, crop_size, crop_size): the boxes of
    :func:`multi_crop_boxes`, each view followed by its mirror (``mirror``).
    144 crops: ``shorter_sides=(256, 288, 320, 352)`` (x299/224 for 299 networks), squares=3 -> 4*3*6*2.
    12 crops (our reading of Rethinking Table 4): one scale, squares=1 -> 1*1*6*2.
    10 crops: one scale, squares=1, full_square=False -> 5*2.
    """
    views: list[torch.Tensor] = []
    for size, boxes in multi_crop_boxes(*image.size, crop_size, shorter_sides, squares, corners, full_square):
        scaled = image.resize(size, resample=INTERPOLATIONS[interpolation])
        for box in boxes:
            view = crop_resize(scaled, box, crop_size, interpolation)
            views.append(to_uint8_tensor(view))
            if mirror:
                views.append(to_uint8_tensor(view.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    if not views:
        raise ValueError("multi_crop produced no views (no scales, or corners and full_square both off)")
    return torch.stack(views)


# ---------------------------------------------------------------------------------------------------------------
# 3. Batch-wise on the device: float NCHW tensors in [0, 1]
# ---------------------------------------------------------------------------------------------------------------
def normalize_batch(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 or [0, 1] float NCHW -> (x - mean) / std per channel (a 1-channel batch uses the first value)."""
    x = images.float().div_(255.0) if images.dtype == torch.uint8 else images
    channels = x.shape[1]
    mean_t = torch.tensor(list(mean)[:channels], device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    std_t = torch.tensor(list(std)[:channels], device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    return (x - mean_t).div_(std_t)


def rgb_to_hsv(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1] -> HSV with hue in [0, 1)."""
    r, g, b = rgb.unbind(1)
    maxc, _ = rgb.max(1)
    minc, _ = rgb.min(1)
    delta = maxc - minc
    v = maxc
    s = torch.where(maxc > 0, delta / maxc.clamp_min(1e-12), torch.zeros_like(maxc))
    safe = delta.clamp_min(1e-12)
    hr = ((g - b) / safe) % 6.0
    hg = (b - r) / safe + 2.0
    hb = (r - g) / safe + 4.0
    h = torch.where(maxc == r, hr, torch.where(maxc == g, hg, hb))
    h = torch.where(delta > 0, h / 6.0, torch.zeros_like(h)) % 1.0
    return torch.stack((h, s, v), 1)


def hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    """Inverse of ``rgb_to_hsv``."""
    h, s, v = hsv.unbind(1)
    h6 = (h % 1.0) * 6.0
    # f(n) = v - v*s*max(0, min(k, 4 - k, 1)), k = (n + h6) mod 6, n = 5, 3, 1 for r, g, b
    channels = []
    for n in (5.0, 3.0, 1.0):
        k = (n + h6) % 6.0
        channels.append(v - v * s * torch.clamp(torch.minimum(k, 4.0 - k), 0.0, 1.0))
    return torch.stack(channels, 1)


def _per_image(values: torch.Tensor) -> torch.Tensor:
    return values.view(-1, 1, 1, 1)


def _brightness(x, generator, delta=32.0 / 255.0):
    return x + _per_image(torch.empty(x.shape[0], device=x.device).uniform_(-delta, delta, generator=generator))


def _contrast(x, generator, lower=0.5, upper=1.5):
    factor = _per_image(torch.empty(x.shape[0], device=x.device).uniform_(lower, upper, generator=generator))
    mean = x.mean(dim=(2, 3), keepdim=True)  # TF adjust_contrast: per image and channel
    return (x - mean) * factor + mean


def _saturation(x, generator, lower=0.5, upper=1.5):
    """TF ``adjust_saturation`` (HSV: S <- clip(S * factor, 0, 1), H and V kept) without the HSV round trip:
    every channel is c = V - V*S*k(H), so scaling S is c' = V - (V - c) * min(factor, V / (V - min))."""
    if x.shape[1] != 3:
        return x
    x = x.clamp(0.0, 1.0)
    factor = _per_image(torch.empty(x.shape[0], device=x.device).uniform_(lower, upper, generator=generator))
    v = x.amax(1, keepdim=True)
    gain = torch.minimum(factor.expand_as(v), v / (v - x.amin(1, keepdim=True)).clamp_min(1e-12))
    return v - (v - x) * gain


def _hue(x, generator, delta=0.2):
    if x.shape[1] != 3:
        return x
    hsv = rgb_to_hsv(x.clamp(0.0, 1.0))
    shift = torch.empty(x.shape[0], device=x.device).uniform_(-delta, delta, generator=generator).view(-1, 1, 1)
    hsv[:, 0] = (hsv[:, 0] + shift) % 1.0
    return hsv_to_rgb(hsv)


# TF-slim inception_preprocessing.distort_color: four orders (full), one (fast_mode).
_ORDERS_FULL = (
    (_brightness, _saturation, _hue, _contrast),
    (_saturation, _brightness, _contrast, _hue),
    (_contrast, _hue, _brightness, _saturation),
    (_hue, _saturation, _contrast, _brightness),
)
_ORDERS_FAST = ((_brightness, _saturation),)


def color_jitter_batch(x: torch.Tensor, mode: str = "fast", generator: torch.Generator | None = None) -> torch.Tensor:
    """TF-slim colour distortion on a float batch in [0, 1] (docs/reference.md#train-augmentation), each image with its own random
    factors: ``fast`` = brightness ±32/255 then saturation 0.5-1.5; ``full`` = brightness, saturation, hue ±0.2
    and contrast 0.5-1.5 in one of TF-slim's four orders chosen per image. Values are clipped to [0, 1] after
    each step (TF clips once at the end; clipping each step keeps the HSV conversions in range)."""
    if mode == "none":
        return x
    if mode not in COLOR_JITTER_MODES:
        raise ValueError(f"color_jitter must be one of {', '.join(COLOR_JITTER_MODES)}, got {mode!r}")
    orders = _ORDERS_FAST if mode == "fast" else _ORDERS_FULL
    if len(orders) == 1:
        for op in orders[0]:
            x = op(x, generator).clamp_(0.0, 1.0)
        return x
    choice = torch.randint(len(orders), (x.shape[0],), device=x.device, generator=generator)
    out = torch.empty_like(x)
    for index, ops in enumerate(orders):
        members = (choice == index).nonzero().flatten()
        if members.numel() == 0:
            continue
        part = x.index_select(0, members)
        for op in ops:
            part = op(part, generator).clamp_(0.0, 1.0)
        out.index_copy_(0, members, part)
    return out


def sample_distorted_boxes(
    n: int,
    width: int,
    height: int,
    area_range: Sequence[float] = DEFAULT_AREA_RANGE,
    aspect_range: Sequence[float] = DEFAULT_ASPECT_RANGE,
    max_attempts: int = 10,
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``sample_distorted_box`` for ``n`` images at once: (n, 4) float tensor of (left, top, w, h) pixels."""
    area = float(width * height)
    shape = (n, max(1, int(max_attempts)))
    target = area * torch.empty(shape, device=device).uniform_(area_range[0], area_range[1], generator=generator)
    log_aspect = torch.empty(shape, device=device).uniform_(
        math.log(aspect_range[0]), math.log(aspect_range[1]), generator=generator
    )
    w = torch.sqrt(target * log_aspect.exp())
    h = torch.sqrt(target / log_aspect.exp())
    ok = (w <= width) & (h <= height)
    first = torch.where(ok.any(1), ok.float().argmax(1), torch.full((n,), -1, device=device, dtype=torch.long))
    rows = torch.arange(n, device=device)
    pick = first.clamp_min(0)
    w = torch.where(first >= 0, w[rows, pick], torch.full((n,), float(width), device=device))
    h = torch.where(first >= 0, h[rows, pick], torch.full((n,), float(height), device=device))
    left = torch.rand(n, device=device, generator=generator) * (width - w)
    top = torch.rand(n, device=device, generator=generator) * (height - h)
    return torch.stack((left, top, w, h), 1)


def crop_resize_batch(
    x: torch.Tensor, boxes: torch.Tensor, size: int, flip: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-image crop ``boxes`` (n, 4: left, top, w, h in pixels) resized to ``size`` and optionally mirrored
    (``flip``: bool (n,)), as one bilinear ``grid_sample`` (no antialiasing: meant for upsampling small images)."""
    n, c, height, width = x.shape
    left, top, w, h = boxes.to(x.dtype).unbind(1)
    sx, sy = w / width, h / height
    tx = (2.0 * left + w) / width - 1.0
    ty = (2.0 * top + h) / height - 1.0
    if flip is not None:
        sx = torch.where(flip, -sx, sx)
    zeros = torch.zeros_like(sx)
    theta = torch.stack((torch.stack((sx, zeros, tx), 1), torch.stack((zeros, sy, ty), 1)), 1)
    grid = F.affine_grid(theta, [n, c, size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_resized_crop_batch(
    x: torch.Tensor,
    size: int,
    area_range: Sequence[float] = DEFAULT_AREA_RANGE,
    aspect_range: Sequence[float] = DEFAULT_ASPECT_RANGE,
    flip: bool = True,
    max_attempts: int = 10,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The training crop for fixed-size tensor data, batch-wise on ``x``'s device."""
    n, _, height, width = x.shape
    boxes = sample_distorted_boxes(n, width, height, area_range, aspect_range, max_attempts, x.device, generator)
    flips = torch.rand(n, device=x.device, generator=generator) < 0.5 if flip else None
    return crop_resize_batch(x, boxes, size, flips)


def center_crop_resize_batch(x: torch.Tensor, size: int, fraction: float = 1.0, square: bool = False) -> torch.Tensor:
    """The eval crop for fixed-size tensor data: ``central_box`` of every image, bilinear (antialiased) resize."""
    _, _, height, width = x.shape
    left, top, w, h = central_box(width, height, fraction, square)
    x0, y0 = int(round(left)), int(round(top))
    x = x[:, :, y0 : y0 + int(round(h)), x0 : x0 + int(round(w))]
    if x.shape[-2:] == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def _resize_batch(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    if tuple(x.shape[-2:]) == (height, width):
        return x
    return F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=True)


def multi_crop_batch(
    images: torch.Tensor,
    crop_size: int,
    shorter_sides: Sequence[int],
    squares: int = 3,
    corners: bool = True,
    full_square: bool = True,
    mirror: bool = True,
) -> torch.Tensor:
    """:func:`multi_crop` for a float batch (N, C, H, W) -> (N, K, C, crop, crop), on the batch's device (tensor
    data: digits, CIFAR, synthetic). Same boxes and view order (:func:`multi_crop_boxes`); resizes are bilinear
    with antialiasing and boxes are rounded to whole pixels, so a crop of the input size is an exact slice."""
    height, width = images.shape[-2:]
    views: list[torch.Tensor] = []
    for (new_w, new_h), boxes in multi_crop_boxes(width, height, crop_size, shorter_sides, squares, corners,
                                                  full_square):
        scaled = _resize_batch(images, new_h, new_w)
        for left, top, w, h in boxes:
            x0, y0, bw, bh = int(round(left)), int(round(top)), int(round(w)), int(round(h))
            x0, y0 = min(max(0, x0), new_w - bw), min(max(0, y0), new_h - bh)
            view = _resize_batch(scaled[:, :, y0:y0 + bh, x0:x0 + bw], crop_size, crop_size)
            views.append(view)
            if mirror:
                views.append(view.flip(-1))
    if not views:
        raise ValueError("multi-crop produced no views (no scales, or corners and full_square both off)")
    return torch.stack(views, 1)
