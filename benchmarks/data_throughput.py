"""Data-pipeline throughput: images/s for decode + augment at 299 px on a folder of real JPEGs.

Generates an ImageNet-like folder (photo-like pictures at ImageNet's typical sizes, 500x375 / 375x500 /
500x333 / 640x480, JPEG quality 90, ~100 KB each like ImageNet's), then times ``data=imagefolder``'s loaders
exactly as training uses them: DataLoader worker processes decode (Pillow) and crop / resize / flip to uint8
tensors, batches are collated. Each configuration runs one warm-up epoch with persistent workers, then
``--repeats`` timed epochs (warm workers, warm page cache); the median is reported with the range, and the CPU
time spent per image (main process + workers, from /proc), which does not depend on what else the machine
runs: images/s per core = 1000 / (CPU ms per image).
A second folder of larger photos (2048x1536, ``--large``) shows what reduced-scale JPEG decoding
(``fast_jpeg``) buys. Also times the device-side step (uint8 -> float, TF-slim colour distortion, normalisation)
on the CPU.

    python benchmarks/data_throughput.py                      # 512 + 64 images, workers 0 1 2, markdown table
    python benchmarks/data_throughput.py --images 2048 --workers 0 2 4 8 --dir /tmp/jpegs --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from inception_lab.data import ImageFolderDataModule
from inception_lab.data.testing import make_image_folder

IMAGENET_LIKE_SIZES = [(500, 375), (375, 500), (500, 333), (640, 480)]
LARGE_SIZES = [(2048, 1536), (1536, 2048)]


def generate(folder: Path, images: int, sizes: list[tuple[int, int]], classes: int = 8) -> Path:
    marker = folder / f".generated_{images}_{len(sizes)}"
    if marker.exists():
        return folder
    per_class = max(1, images // classes)
    make_image_folder(folder, classes=[f"n{i:08d}" for i in range(classes)], per_class=per_class, splits=("train",),
                      size=sizes, kinds=("jpeg_rgb",), seed=1234)
    marker.write_text("")
    return folder


def upscale_photos(source: Path, folder: Path, images: int, sizes: list[tuple[int, int]]) -> Path:
    """Real photos at ImageNet's sizes: the first ``images`` JPEGs of an ImageNet-layout folder (``source``:
    ``<split>/<class>/*``; smaller photos, e.g. 224 px), resized (bicubic) in turn to each of ``sizes`` and saved as
    JPEG quality 90 under ``folder/train/<class>/``. Upscaling keeps real photographic content (edges, colour
    statistics) at the pixel counts the decoder sees on ImageNet; fine detail is smoother than a camera's."""
    from PIL import Image

    marker = folder / f".upscaled_{images}_{len(sizes)}"
    if marker.exists():
        return folder
    files = sorted(f for f in source.rglob("*") if f.suffix.lower() in (".jpeg", ".jpg", ".png"))[:images]
    if not files:
        raise SystemExit(f"--photos {source}: no JPEG/PNG files under it")
    for i, src in enumerate(files):
        target = folder / "train" / src.parent.name / f"{src.stem}.JPEG"
        target.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(src) as im:
            im.convert("RGB").resize(sizes[i % len(sizes)], Image.BICUBIC).save(target, quality=90)
    marker.write_text("")
    return folder


def cores_needed(images_per_s: float, images_per_s_per_core: float) -> float:
    """Cores that decode + crop ``images_per_s`` (e.g. one GPU's training rate) at the measured rate per core."""
    return images_per_s / images_per_s_per_core


def time_loader(root: Path, split: str, workers: int, image_size: int, batch_size: int, fast_jpeg: bool,
                repeats: int) -> dict:
    dm = ImageFolderDataModule(
        root=str(root), train_split="train", val_split="train", image_size=image_size, batch_size=batch_size,
        num_workers=workers, pin_memory=False, verify="none", fast_jpeg=fast_jpeg, drop_last=False,
    )
    dm.setup()
    loader = dm.train_dataloader() if split == "train" else dm.val_dataloader()
    iterator = iter(loader)  # warm-up epoch: worker start-up, page cache
    for _ in iterator:
        pass
    workers_pids = [w.pid for w in getattr(loader._iterator, "_workers", [])] if workers else []
    rates, cpu_ms = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time() + _cpu_seconds(workers_pids)
        count = 0
        for images, _ in loader:
            count += images.shape[0]
        rates.append(count / (time.perf_counter() - start))
        cpu_ms.append(1000.0 * (time.process_time() + _cpu_seconds(workers_pids) - cpu_start) / count)
    del loader, iterator
    return {"images": count, "rates": rates, "images_per_s": statistics.median(rates), "cpu_ms": cpu_ms,
            "cpu_ms_per_image": statistics.median(cpu_ms)}


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of other processes (DataLoader workers), from /proc (Linux)."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14, 15 of stat)
        except (OSError, IndexError, ValueError):
            pass
    return total


def time_device_step(image_size: int, batch_size: int, repeats: int = 5) -> dict:
    from inception_lab.data.synthetic import SyntheticDataModule

    out = {}
    for jitter in ("none", "fast", "full"):
        dm = SyntheticDataModule(image_size=image_size, batch_size=batch_size, color_jitter=jitter)
        batch = torch.randint(0, 256, (batch_size, 3, image_size, image_size), dtype=torch.uint8)
        dm.device_transform(batch, training=True)
        start = time.perf_counter()
        for _ in range(repeats):
            dm.device_transform(batch, training=True)
        out[jitter] = batch_size * repeats / (time.perf_counter() - start)
    return out


def machine() -> dict:
    from PIL import __version__ as pillow_version
    from PIL import features

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpus_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_average_1m_before": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "pillow": pillow_version,
        "libjpeg_turbo": bool(features.check_feature("libjpeg_turbo")),
        "torch_threads": torch.get_num_threads(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--image-size", type=int, default=299)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--large", type=int, default=64, help="large photos to generate (0: skip that folder)")
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs per configuration (median reported)")
    parser.add_argument("--dir", type=Path, default=None, help="where to generate the JPEGs (default: a temp dir)")
    parser.add_argument("--photos", type=Path, default=None,
                        help="an ImageNet-layout folder of real photos to upscale to ImageNet's sizes as a third set")
    parser.add_argument("--gpu-images-per-s", type=float, default=3000.0,
                        help="a GPU's training rate: how many cores decode that much is printed per data set")
    parser.add_argument("--no-fast-jpeg-row", action="store_true", help="skip the fast_jpeg=false comparison")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    info = machine()
    with tempfile.TemporaryDirectory() as tmp:
        base = args.dir or Path(tmp)
        folders = [("ImageNet-like", generate(base / "imagenet_like", args.images, IMAGENET_LIKE_SIZES), args.workers)]
        if args.photos:
            folders.append(("photos upscaled", upscale_photos(args.photos, base / "photos", args.images,
                                                              IMAGENET_LIKE_SIZES), [0]))
        if args.large:
            folders.append(("2048x1536 photos", generate(base / "large", args.large, LARGE_SIZES), [max(args.workers)]))
        described, rows = [], []
        for label, root, worker_counts in folders:
            files = sorted((root / "train").rglob("*.JPEG"))
            mean_kb = sum(f.stat().st_size for f in files) / len(files) / 1024
            described.append(f"{label}: {len(files)} JPEGs, mean {mean_kb:.0f} KB")
            for workers in worker_counts:
                for split in ("train", "eval"):
                    # at ImageNet sizes the reduced-scale decode never applies at 299 px (it needs a crop of
                    # >= 598 px), so fast_jpeg on/off is compared on the large photos only
                    for fast in [True] if args.no_fast_jpeg_row or label != "2048x1536 photos" else [True, False]:
                        result = time_loader(root, split, workers, args.image_size, args.batch_size, fast, args.repeats)
                        rows.append({"data": label, "transform": split, "workers": workers, "fast_jpeg": fast,
                                     **result})
                        print(f"  {label:16s} {split:5s} workers={workers} fast_jpeg={fast!s:5s} "
                              f"{result['images_per_s']:8.1f} images/s  (epochs: "
                              + ", ".join(f"{r:.0f}" for r in result["rates"])
                              + f"), {result['cpu_ms_per_image']:.2f} CPU ms/image", file=sys.stderr, flush=True)
        device = time_device_step(args.image_size, args.batch_size)
    info["load_average_1m_after"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None

    print(f"\nmachine: {info['cpu']}, {info['cpus_available']} CPUs available (1-min load average before / after: "
          f"{info['load_average_1m_before']:.2f} / {info['load_average_1m_after']:.2f}); Python {info['python']}, "
          f"torch {info['torch']}, Pillow {info['pillow']} (libjpeg-turbo: {info['libjpeg_turbo']})")
    print(f"data: {'; '.join(described)}; output {args.image_size} px, batch {args.batch_size}, "
          f"median of {args.repeats} epochs (range)\n")
    gpu = args.gpu_images_per_s
    print("| data | transform | workers | fast_jpeg | images/s (median) | range | CPU ms / image | images/s per core "
          f"| cores for {gpu:.0f} images/s |")
    print("|---|---|---:|---|---:|---|---:|---:|---:|")
    for row in rows:
        per_core = 1000.0 / row["cpu_ms_per_image"]
        row["cores_for_gpu"] = cores_needed(gpu, per_core)
        print(f"| {row['data']} | {row['transform']} | {row['workers']} | {row['fast_jpeg']} | "
              f"{row['images_per_s']:.0f} | {min(row['rates']):.0f}-{max(row['rates']):.0f} | "
              f"{row['cpu_ms_per_image']:.2f} | {per_core:.0f} | {row['cores_for_gpu']:.1f} |")
    print(f"\ndevice step on CPU ({info['torch_threads']} threads), uint8 -> normalised float, {args.image_size} px: "
          + ", ".join(f"colour jitter {k}: {v:.0f} images/s" for k, v in device.items()))
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "data": described, "rows": rows, "device_step": device},
                                        indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
