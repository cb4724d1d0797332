"""Model speed: forward and forward + backward time of every registered network, on the CPU or a GPU.

Every network of ``inception_lab.models.list_models()`` is built at ``width_mult=1.0`` with 1000 classes and
its auxiliary heads off, and timed on a random float batch:

- forward: eval mode under ``torch.inference_mode()``;
- forward + backward: train mode, cross-entropy on random labels, ``loss.backward()`` (no optimizer step).

Each network runs in each of ``--configs``: ``fp32``, ``bf16`` (autocast to bfloat16, the lab's
``precision=bf16-mixed``), ``+cl`` (channels_last weights and inputs, the lab's ``channels_last``) and
``+compile`` (``nn.Module.compile``, the lab's ``compile=true``), e.g. ``bf16+cl+compile``. CPU defaults: batch 8
at 75 px (the smallest input the VALID stems of v2/v3/v4/Inception-ResNet accept, used for all seven so the rows
compare; 299 px is far too slow on 2 cores), fp32. A GPU run (``--device cuda``) uses the paper's 299 px.

``--warmup`` untimed iterations (default 3; a compiled config compiles there), then ``--iters`` timed ones
(default 10); the median is reported (the minimum is in the JSON); on CUDA every timed call ends with a
``synchronize``. FLOPs are ``inception_lab.models.cost.count_flops`` (eval-mode forward, 2 x MACs of conv +
linear); achieved FLOP/s = batch x FLOPs / time for the forward and batch x 3 x FLOPs / time for forward +
backward (backward ~ 2x forward). The limit is measured, not taken from a datasheet: a large ``torch.mm`` on the
same device (fp32 2048^3 on the CPU; bf16 8192^3 on a GPU, the dtype the lab trains in there), and "of peak"
(model FLOPs utilisation on a GPU) is achieved / that figure. The 1-minute load average is recorded before and
after each network.

    python benchmarks/model_speed.py                          # all models, batch 8 at 75 px, markdown table
    python benchmarks/model_speed.py --models v3 v4 --batch-size 4 --image-size 150 --json out.json
    python benchmarks/model_speed.py --device cuda --batch-size 128 --image-size 299 --configs bf16+cl
    python benchmarks/model_speed.py --device cuda --models v3 --configs fp32 bf16 bf16+cl bf16+cl+compile
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import time

import torch
from torch.nn import functional as F

PRECISIONS, SWITCHES = ("fp32", "bf16"), ("cl", "compile")


def load1() -> float:
    return round(os.getloadavg()[0], 2)


def parse_config(name: str) -> dict:
    """``"bf16+cl+compile"`` -> ``{"name", "bf16", "channels_last", "compile"}``; the precision comes first."""
    parts = name.split("+")
    if parts[0] not in PRECISIONS or any(p not in SWITCHES for p in parts[1:]):
        raise ValueError(f"config {name!r}: expected fp32|bf16 followed by any of +cl, +compile")
    return {"name": name, "bf16": parts[0] == "bf16", "channels_last": "cl" in parts, "compile": "compile" in parts}


def build(name: str, width_mult: float = 1.0, num_classes: int = 1000):
    from inception_lab.models import create_model
    from inception_lab.models.registry import model_switches

    kwargs = {"width_mult": width_mult}
    if "aux_logits" in model_switches(name):
        kwargs["aux_logits"] = False
    torch.manual_seed(0)
    return create_model(name, num_classes=num_classes, **kwargs)


def synchronizer(device: torch.device):
    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def _time(fn, warmup: int, iters: int, sync=lambda: None) -> list[float]:
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return times


def measure_model(name: str, batch: int, size: int, warmup: int, iters: int, width_mult: float = 1.0,
                  device: str = "cpu", config: str = "fp32") -> dict:
    from inception_lab.models.cost import count_flops, count_parameters

    dev, cfg = torch.device(device), parse_config(config)
    model = build(name, width_mult)
    flops = count_flops(model, size)["flops"]
    params = count_parameters(model, aux=False)
    memory_format = torch.channels_last if cfg["channels_last"] else torch.contiguous_format
    model = model.to(dev, memory_format=memory_format)
    if cfg["compile"]:
        model.compile()
    x = torch.randn(batch, 3, size, size, device=dev).contiguous(memory_format=memory_format)
    y = torch.randint(0, 1000, (batch,), device=dev)
    autocast = (lambda: torch.autocast(dev.type, dtype=torch.bfloat16)) if cfg["bf16"] else contextlib.nullcontext

    def forward() -> None:
        with torch.inference_mode(), autocast():
            model(x)

    def forward_backward() -> None:
        with autocast():
            out = model(x)
            logits = out[0] if isinstance(out, (tuple, list)) else out
            loss = F.cross_entropy(logits, y)
        loss.backward()
        model.zero_grad(set_to_none=True)

    sync = synchronizer(dev)
    before = load1()
    model.eval()
    fwd = _time(forward, warmup, iters, sync)
    model.train()
    fwdbwd = _time(forward_backward, warmup, iters, sync)
    after = load1()
    f, fb = statistics.median(fwd), statistics.median(fwdbwd)
    row = {
        "model": name, "config": config, "device": dev.type, "width_mult": width_mult, "batch_size": batch,
        "image_size": size, "params": params, "gflops_per_image": flops / 1e9,
        "fwd_ms": 1000 * f, "fwd_ms_min": 1000 * min(fwd), "fwd_images_per_s": batch / f,
        "fwd_gflops_per_s": batch * flops / f / 1e9,
        "fwdbwd_ms": 1000 * fb, "fwdbwd_ms_min": 1000 * min(fwdbwd), "fwdbwd_images_per_s": batch / fb,
        "fwdbwd_gflops_per_s": 3 * batch * flops / fb / 1e9,
        "load1_before": before, "load1_after": after,
    }
    if dev.type == "cuda":
        row["max_memory_gib"] = torch.cuda.max_memory_allocated(dev) / 2**30
        torch.cuda.reset_peak_memory_stats(dev)
    return row


def matmul_peak(device: str = "cpu", iters: int = 5) -> dict:
    """The practical limit of this device: GFLOP/s of one large ``torch.mm`` (median) in the dtype that the lab
    trains in there: fp32 2048^3 on the CPU, bf16 8192^3 on a GPU."""
    dev = torch.device(device)
    n, dtype = (8192, torch.bfloat16) if dev.type == "cuda" else (2048, torch.float32)
    a, b = torch.randn(n, n, device=dev, dtype=dtype), torch.randn(n, n, device=dev, dtype=dtype)
    before = load1()
    times = _time(lambda: torch.mm(a, b), 2, iters, synchronizer(dev))
    return {"n": n, "dtype": str(dtype).removeprefix("torch."), "device": dev.type,
            "gflops_per_s": 2 * n ** 3 / statistics.median(times) / 1e9, "load1_before": before,
            "load1_after": load1()}


def measure(models: list[str] | None = None, batch: int = 8, size: int = 75, warmup: int = 3, iters: int = 10,
            device: str = "cpu", configs: tuple[str, ...] = ("fp32",)) -> dict:
    from inception_lab.models import list_models

    for config in configs:
        parse_config(config)  # a typo fails before minutes of measuring
    names = models or list_models()
    peak = matmul_peak(device, iters=max(3, iters // 2))
    rows = [measure_model(n, batch, size, warmup, iters, device=device, config=c) for n in names for c in configs]
    for r in rows:
        r["fwd_fraction_of_peak"] = r["fwd_gflops_per_s"] / peak["gflops_per_s"]
        r["fwdbwd_fraction_of_peak"] = r["fwdbwd_gflops_per_s"] / peak["gflops_per_s"]
    gpu = torch.cuda.get_device_name(torch.device(device)) if torch.device(device).type == "cuda" else None
    return {"suite": "model_speed", "device": torch.device(device).type, "gpu": gpu,
            "threads": torch.get_num_threads(), "batch_size": batch, "image_size": size, "warmup": warmup,
            "iters": iters, "configs": list(configs), "matmul_peak": peak, "rows": rows}


def markdown(out: dict) -> str:
    lines = ["| model | config | params (M) | GFLOPs / image | fwd ms / batch | fwd images/s | fwd GFLOP/s | "
             "fwd+bwd ms / batch | fwd+bwd images/s | fwd+bwd GFLOP/s | fwd+bwd of peak | load1 before -> after |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in out["rows"]:
        lines.append(
            f"| {r['model']} | {r['config']} | {r['params'] / 1e6:.1f} | {r['gflops_per_image']:.3f} | "
            f"{r['fwd_ms']:.1f} | {r['fwd_images_per_s']:.1f} | {r['fwd_gflops_per_s']:.1f} | {r['fwdbwd_ms']:.1f} | "
            f"{r['fwdbwd_images_per_s']:.1f} | {r['fwdbwd_gflops_per_s']:.1f} | {r['fwdbwd_fraction_of_peak']:.1%} | "
            f"{r['load1_before']:.2f} -> {r['load1_after']:.2f} |")
    p = out["matmul_peak"]
    lines += ["", f"Peak reference: torch.mm {p['n']}^3 {p['dtype']} on {out['gpu'] or 'the CPU'} = "
              f"{p['gflops_per_s']:.1f} GFLOP/s ({out['threads']} CPU threads, load1 {p['load1_before']:.2f} -> "
              f"{p['load1_after']:.2f})."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=None)
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    parser.add_argument("--configs", nargs="+", default=["fp32"], help="fp32 | bf16, optionally +cl, +compile")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=75)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    out = measure(args.models, args.batch_size, args.image_size, args.warmup, args.iters, args.device,
                  tuple(args.configs))
    print(markdown(out))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
