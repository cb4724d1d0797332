"""Input-bound or model-bound? The data pipeline's images/s beside the network's, both at 299 px.

Data side (``benchmarks/data_throughput.py``): decode + the Inception training crop of ImageNet-like JPEGs to
299 px uint8, in the main process (``num_workers=0``) and with worker processes; the CPU time per image gives
images/s *per core*, which does not depend on what else the machine runs. Model side
(``benchmarks/model_speed.py``): forward + backward of each network at full width, 299 px, on this machine.
From the two: how many cores decoding needs to keep one training process fed (model images/s / data images/s
per core), here, and for any accelerator whose training images/s you know (the same division).

    python benchmarks/pipeline_balance.py                        # v3, 256 JPEGs, batch 4 x 3 iterations
    python benchmarks/pipeline_balance.py --models v3 v1 inception_resnet_v2 --images 512 --json out.json
    python benchmarks/pipeline_balance.py --device cuda --config bf16+cl --model-batch 128 --workers 0 4 8
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import torch

from benchmarks import data_throughput, model_speed


def measure(models: list[str] | None = None, images: int = 256, image_size: int = 299, data_batch: int = 32,
            model_batch: int = 4, workers: tuple[int, ...] = (0, 2), repeats: int = 2, iters: int = 3,
            device: str = "cpu", config: str = "fp32+cl") -> dict:
    models = models or ["v3"]
    data_rows = []
    with tempfile.TemporaryDirectory(prefix="pipeline-") as tmp:
        root = data_throughput.generate(Path(tmp) / "imagenet_like", images, data_throughput.IMAGENET_LIKE_SIZES)
        for w in workers:
            result = data_throughput.time_loader(root, "train", w, image_size, data_batch, True, repeats)
            data_rows.append({"workers": w, "images_per_s": result["images_per_s"],
                              "cpu_ms_per_image": result["cpu_ms_per_image"],
                              "images_per_s_per_core": 1000.0 / result["cpu_ms_per_image"]})
    per_core = max(r["images_per_s_per_core"] for r in data_rows if r["workers"] == 0)
    model_rows = []
    for name in models:
        m = model_speed.measure_model(name, model_batch, image_size, warmup=1, iters=iters, device=device,
                                      config=config)
        model_rows.append({"model": name, "train_images_per_s": m["fwdbwd_images_per_s"],
                           "gflops_per_image": m["gflops_per_image"],
                           "decode_cores_needed": m["fwdbwd_images_per_s"] / per_core})
    return {"suite": "pipeline_balance", "image_size": image_size, "threads": torch.get_num_threads(),
            "device": torch.device(device).type, "config": config,
            "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "data": data_rows, "data_images_per_s_per_core": per_core, "models": model_rows,
            "model_batch": model_batch, "images": images}


def markdown(out: dict) -> str:
    lines = [f"| data at {out['image_size']} px (train crop) | images/s | CPU ms / image | images/s per core |",
             "|---|---:|---:|---:|"]
    for r in out["data"]:
        lines.append(f"| {r['workers']} workers | {r['images_per_s']:.0f} | {r['cpu_ms_per_image']:.2f} | "
                     f"{r['images_per_s_per_core']:.0f} |")
    lines += ["", f"| network (width 1.0, {out['image_size']} px, batch {out['model_batch']}, fwd+bwd, "
                  f"{out['device']}, {out['config']}, {out['threads']} threads) | train images/s here | "
                  "GFLOPs / image | decode cores to keep it fed |",
              "|---|---:|---:|---:|"]
    for r in out["models"]:
        lines.append(f"| {r['model']} | {r['train_images_per_s']:.2f} | {r['gflops_per_image']:.2f} | "
                     f"{r['decode_cores_needed']:.3f} |")
    lines += ["", f"Any accelerator: decode cores needed = its training images/s / "
                  f"{out['data_images_per_s_per_core']:.0f} (this CPU's images/s per core)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=None)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--model-batch", type=int, default=4)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--config", default="fp32+cl", help="model_speed config: fp32 | bf16, optionally +cl")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    out = measure(args.models, images=args.images, model_batch=args.model_batch, iters=args.iters,
                  workers=tuple(args.workers), device=args.device, config=args.config)
    print(markdown(out))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
