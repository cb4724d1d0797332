"""Generate real encoded image folders (JPEG, PNG, grayscale, CMYK ...) for tests, benchmarks and smoke runs.

The pictures are colour fields with a few shapes, texture and noise, tuned so that JPEG compresses them to
about ImageNet's bytes per pixel (~0.55 at quality 90): the entropy-decoding cost of a benchmark is realistic.
``coordinate_picture`` is the opposite: a picture whose every pixel says where it is, for tests that must know
which part of an image a crop took.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

# (extension, Pillow mode, save keyword arguments): the mix an ImageNet-style folder meets in practice.
IMAGE_KINDS: dict[str, tuple[str, str, dict]] = {
    "jpeg_rgb": (".JPEG", "RGB", {"format": "JPEG", "quality": 90}),
    "jpg_rgb": (".jpg", "RGB", {"format": "JPEG", "quality": 85}),
    "jpeg_gray": (".jpg", "L", {"format": "JPEG", "quality": 90}),
    "jpeg_cmyk": (".jpg", "CMYK", {"format": "JPEG", "quality": 90}),
    "png_rgb": (".png", "RGB", {"format": "PNG"}),
    "png_gray": (".png", "L", {"format": "PNG"}),
    "png_palette": (".png", "P", {"format": "PNG"}),
    "png_rgba": (".png", "RGBA", {"format": "PNG"}),
    "bmp_rgb": (".bmp", "RGB", {"format": "BMP"}),
}


def synthetic_picture(width: int, height: int, seed: int, fine_noise: int = 24, texture: int = 48) -> Image.Image:
    """A photo-like RGB picture: a colour gradient, a few ellipses and rectangles, a coarse texture (random at
    1/4 resolution, bilinearly upsampled, +-``texture``) and fine noise (+-``fine_noise``). At the defaults a
    500x375 picture is about 100 KB as a quality-90 JPEG, like ImageNet's photos (~110 KB on average)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(0, 255, size=(3, 3))
    field = np.stack(
        [base[c, 0] + (base[c, 1] - base[c, 0]) * x / max(1, width) + (base[c, 2] - base[c, 0]) * y / max(1, height) / 2
         for c in range(3)], axis=-1,
    )
    image = Image.fromarray(np.clip(field, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(3, 7))):
        x0, y0 = rng.uniform(0, width), rng.uniform(0, height)
        x1, y1 = x0 + rng.uniform(4, width / 2 + 4), y0 + rng.uniform(4, height / 2 + 4)
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
    pixels = np.asarray(image, dtype=np.float32)
    if texture:
        coarse = rng.integers(0, 256, size=(height // 4 + 1, width // 4 + 1, 3)).astype(np.uint8)
        upsampled = Image.fromarray(coarse, "RGB").resize((width, height), Image.Resampling.BILINEAR)
        pixels = pixels + (np.asarray(upsampled, dtype=np.float32) - 128.0) * (texture / 128.0)
    if fine_noise:
        pixels = pixels + rng.integers(-fine_noise, fine_noise + 1, size=(height, width, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def encode_picture(picture: Image.Image, kind: str) -> tuple[bytes, str]:
    """Encode ``picture`` as ``kind`` (a key of IMAGE_KINDS) -> (file bytes, extension)."""
    extension, mode, options = IMAGE_KINDS[kind]
    if mode == "P":
        converted = picture.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    elif mode == "RGBA":
        converted = picture.convert("RGBA")
        converted.putalpha(200)
    else:
        converted = picture.convert(mode)
    buffer = io.BytesIO()
    converted.save(buffer, **options)
    return buffer.getvalue(), extension


def make_image_folder(
    root: str | Path,
    classes: Sequence[str] = ("cat", "dog", "fish"),
    per_class: int | dict[str, int] = 4,
    splits: Iterable[str] = ("train", "val"),
    size: tuple[int, int] | Sequence[tuple[int, int]] = (48, 36),
    kinds: Sequence[str] = ("jpeg_rgb", "png_rgb", "jpeg_gray", "jpeg_cmyk"),
    seed: int = 0,
) -> Path:
    """Write ``root/<split>/<class>/<n><ext>`` (real encoded files, cycling through ``kinds`` and ``size``
    when a list of (width, height) is given). Returns ``root``."""
    root = Path(root)
    sizes = [size] if isinstance(size[0], int) else list(size)  # type: ignore[index]
    counter = 0
    for split in splits:
        for name in classes:
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            count = per_class[name] if isinstance(per_class, dict) else per_class
            for i in range(count):
                width, height = sizes[counter % len(sizes)]  # type: ignore[misc]
                data, extension = encode_picture(synthetic_picture(width, height, seed + counter),
                                                 kinds[counter % len(kinds)])
                (folder / f"{name}_{i:04d}{extension}").write_bytes(data)
                counter += 1
    return root


def coordinate_picture(width: int = 48, height: int = 32) -> Image.Image:
    """An RGB picture whose pixel at column x, row y is ``(5x, 7y, 255 - 2x - 3y)``: no two pixels alike, and no
    mirror, flip or transpose of it equals it, so a crop's position (and orientation) can be read off its pixels.
    At most 52 x 37 pixels (the values must fit in a byte)."""
    if not (1 <= width <= 52 and 1 <= height <= 37):
        raise ValueError(f"coordinate_picture holds at most 52 x 37 pixels, got {width} x {height}")
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([5 * x, 7 * y, 255 - 2 * x - 3 * y], axis=-1)
    return Image.fromarray(pixels.astype(np.uint8), "RGB")
