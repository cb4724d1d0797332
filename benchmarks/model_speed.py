"""Model speed on the CPU: forward and forward + backward time of every registered network at full width.

Every network of ``inception_lab.models.list_models()`` is built at ``width_mult=1.0`` with 1000 classes and
its auxiliary heads off, and timed on a random float batch (default 8 images at 75 px: the smallest input the
VALID stems of v2/v3/v4/Inception-ResNet accept, used for all seven so the rows compare; 299 px is far too slow
on a 2-core CPU):

- forward: eval mode under ``torch.inference_mode()``;
- forward + backward: train mode, cross-entropy on random labels, ``loss.backward()`` (no optimizer step).

``--warmup`` untimed iterations (default 3), then ``--iters`` timed ones (default 10); the median is reported
(the minimum is in the JSON). A large fp32 matmul (``torch.mm`` 2048^3) gives the practical limit of the CPU.
FLOPs are ``inception_lab.models.cost.count_flops`` (eval-mode forward, 2 x MACs of conv + linear);
achieved GFLOP/s = batch x FLOPs / time for the forward and batch x 3 x FLOPs / time for forward + backward
(backward ~ 2x forward). The 1-minute load average is recorded before and after each network.

    python benchmarks/model_speed.py                          # all models, batch 8 at 75 px, markdown table
    python benchmarks/model_speed.py --models v3 v4 --batch-size 4 --image-size 150 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch
from torch.nn import functional as F


def load1() -> float:
    return round(os.getloadavg()[0], 2)


def build(name: str, width_mult: float = 1.0, num_classes: int = 1000):
    import inspect

    from inception_lab.models import create_model
    from inception_lab.models.registry import _REGISTRY, canonical_name

    kwargs = {"width_mult": width_mult}
    if "aux_logits" in inspect.signature(_REGISTRY[canonical_name(name)]).parameters:
        kwargs["aux_logits"] = False
    torch.manual_seed(0)
    return create_model(name, num_classes=num_classes, **kwargs)


def _time(fn, warmup: int, iters: int) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def measure_model(name: str, batch: int, size: int, warmup: int, iters: int, width_mult: float = 1.0) -> dict:
    from inception_lab.models.cost import count_flops, count_parameters

    model = build(name, width_mult)
    flops = count_flops(model, size)["flops"]
    params = count_parameters(model, aux=False)
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, 1000, (batch,))

    def forward() -> None:
        with torch.inference_mode():
            model(x)

    def forward_backward() -> None:
        out = model(x)
        logits = out[0] if isinstance(out, (tuple, list)) else out
        F.cross_entropy(logits, y).backward()
        model.zero_grad(set_to_none=True)

    before = load1()
    model.eval()
    fwd = _time(forward, warmup, iters)
    model.train()
    fwdbwd = _time(forward_backward, warmup, iters)
    after = load1()
    f, fb = statistics.median(fwd), statistics.median(fwdbwd)
    return {
        "model": name, "width_mult": width_mult, "batch_size": batch, "image_size": size, "params": params,
        "gflops_per_image": flops / 1e9,
        "fwd_ms": 1000 * f, "fwd_ms_min": 1000 * min(fwd), "fwd_images_per_s": batch / f,
        "fwd_gflops_per_s": batch * flops / f / 1e9,
        "fwdbwd_ms": 1000 * fb, "fwdbwd_ms_min": 1000 * min(fwdbwd), "fwdbwd_images_per_s": batch / fb,
        "fwdbwd_gflops_per_s": 3 * batch * flops / fb / 1e9,
        "load1_before": before, "load1_after": after,
    }


def sgemm_gflops(n: int = 2048, iters: int = 5) -> dict:
    """The practical fp32 limit of this CPU with torch's threads: GFLOP/s of an n x n x n matmul (median)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    before = load1()
    times = _time(lambda: torch.mm(a, b), 2, iters)
    return {"n": n, "gflops_per_s": 2 * n ** 3 / statistics.median(times) / 1e9, "load1_before": before,
            "load1_after": load1()}


def measure(models: list[str] | None = None, batch: int = 8, size: int = 75, warmup: int = 3, iters: int = 10) -> dict:
    from inception_lab.models import list_models

    names = models or list_models()
    limit = sgemm_gflops(iters=max(3, iters // 2))
    rows = [measure_model(n, batch, size, warmup, iters) for n in names]
    for r in rows:
        r["fwdbwd_fraction_of_sgemm"] = r["fwdbwd_gflops_per_s"] / limit["gflops_per_s"]
    return {"suite": "model_speed", "threads": torch.get_num_threads(), "batch_size": batch, "image_size": size,
            "warmup": warmup, "iters": iters, "sgemm": limit, "rows": rows}


def markdown(out: dict) -> str:
    lines = ["| model | params (M) | GFLOPs / image | fwd ms / batch | fwd images/s | fwd GFLOP/s | "
             "fwd+bwd ms / batch | fwd+bwd images/s | fwd+bwd GFLOP/s | load1 before -> after |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in out["rows"]:
        lines.append(
            f"| {r['model']} | {r['params'] / 1e6:.1f} | {r['gflops_per_image']:.3f} | {r['fwd_ms']:.0f} | "
            f"{r['fwd_images_per_s']:.1f} | {r['fwd_gflops_per_s']:.1f} | {r['fwdbwd_ms']:.0f} | "
            f"{r['fwdbwd_images_per_s']:.1f} | {r['fwdbwd_gflops_per_s']:.1f} | "
            f"{r['load1_before']:.2f} -> {r['load1_after']:.2f} |")
    g = out["sgemm"]
    lines += ["", f"Reference (the practical fp32 limit): torch.mm {g['n']}x{g['n']} fp32 = {g['gflops_per_s']:.1f} GFLOP/s "
              f"with {out['threads']} threads (load1 {g['load1_before']:.2f} -> {g['load1_after']:.2f})."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=None)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=75)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    out = measure(args.models, args.batch_size, args.image_size, args.warmup, args.iters)
    print(markdown(out))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
