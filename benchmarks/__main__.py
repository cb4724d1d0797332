"""``python -m benchmarks [--quick] [--device cpu|cuda] [--suite harness|models|lab|pipeline|accuracy|all]``:
run the suites, print rich tables, write JSON.

Suites: ``harness`` (benchmarks/harness_overhead.py: the lab's Lightning path vs a bare PyTorch loop),
``models`` (benchmarks/model_speed.py: forward / forward + backward of every network at full width, with the
fraction of the device's measured matmul peak), ``lab`` (benchmarks/lab_switches.py: ``inception-lab`` training v3
on synthetic data with each speed switch added in turn), ``pipeline`` (benchmarks/pipeline_balance.py: decode +
augment images/s per core beside the network's training images/s at 299 px) and ``accuracy``
(benchmarks/time_to_accuracy.py: ``inception-lab model=<m>`` on the embedded default until val top-1 >= 95 %,
every network; about 8 minutes on 2 cores; CPU only). ``--device cuda`` runs the first four at GPU sizes (299 px,
batch 128, bf16 autocast + channels_last; benchmarks/gpu.sh is the whole GPU check in one command). The full
data-pipeline table (benchmarks/data_throughput.py: worker counts, large photos, fast_jpeg) runs directly.
Results go to ``benchmarks/results/<suite>-<UTC time>.json`` with the versions, the machine and the 1-minute load
average; that folder's ``.gitignore`` keeps them out of git (the figures worth keeping are copied into
BENCHMARKS.md with the command that produced them).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).resolve().parent / "results"
SUITES = ("harness", "models", "lab", "pipeline", "accuracy")


def environment() -> dict:
    import lightning

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"python": platform.python_version(), "torch": torch.__version__, "lightning": lightning.__version__,
            "cpu": cpu, "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.is_available(), "platform": platform.platform(),
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            "cuda_version": torch.version.cuda}


def harness_table(out: dict) -> Table:
    where = out["gpu"] or "CPU"
    precision = "bf16" if out["bf16"] else "fp32"
    table = Table(title=f"Harness overhead on {where}: v3 x{out['width_mult']:g}, batch {out['batch_size']} at "
                        f"{out['image_size']} px, {precision}{', channels_last' if out['channels_last'] else ''}, "
                        f"{out['steps']} steps x {out['repeats']} repeats")
    for col in ("path", "images/s (median)", "range", "ms / step", "end-to-end images/s", "load1 before->after"):
        table.add_column(col, justify="left" if col in ("path", "range", "load1 before->after") else "right")
    for r in out["rows"]:
        loads = ", ".join(f"{b:.2f}->{a:.2f}" for b, a in zip(r["load1_before"], r["load1_after"]))
        table.add_row(r["path"], f"{r['images_per_s']:.1f}", f"{r['min']:.1f}-{r['max']:.1f}", f"{r['ms_per_step']:.1f}",
                      f"{r['end_to_end_images_per_s']:.1f}", loads)
    ok = "[green]ok[/]" if out["ratio_median_of_pairs"] >= 0.97 else "[red]below target[/]"
    table.caption = (f"lab / bare = {out['ratio_median_of_pairs']:.3f} (median of pairs; target >= 0.97: {ok}); "
                     f"of the medians {out['ratio']:.3f}; per pair "
                     + ", ".join(f"{r:.3f}" for r in out["pair_ratios"])
                     + f"; end-to-end {out['ratio_end_to_end']:.3f}")
    return table


def models_table(out: dict) -> Table:
    where = out["gpu"] or f"CPU, {out['threads']} threads"
    table = Table(title=f"Model speed ({where}): width 1.0, batch {out['batch_size']} at {out['image_size']} px, "
                        f"median of {out['iters']}")
    cols = ("model", "config", "params (M)", "GFLOPs/img", "fwd ms", "fwd img/s", "fwd GFLOP/s", "fwd+bwd ms",
            "fwd+bwd img/s", "fwd+bwd GFLOP/s", "of peak", "load1")
    for col in cols:
        table.add_column(col, justify="left" if col in ("model", "config", "load1") else "right")
    for r in out["rows"]:
        table.add_row(r["model"], r["config"], f"{r['params'] / 1e6:.1f}", f"{r['gflops_per_image']:.3f}",
                      f"{r['fwd_ms']:.1f}", f"{r['fwd_images_per_s']:.1f}", f"{r['fwd_gflops_per_s']:.1f}",
                      f"{r['fwdbwd_ms']:.1f}", f"{r['fwdbwd_images_per_s']:.1f}", f"{r['fwdbwd_gflops_per_s']:.1f}",
                      f"{r['fwdbwd_fraction_of_peak']:.1%}", f"{r['load1_before']:.2f}->{r['load1_after']:.2f}")
    p = out["matmul_peak"]
    table.caption = (f"peak reference: torch.mm {p['n']}^3 {p['dtype']} = {p['gflops_per_s']:.1f} GFLOP/s; "
                     "'of peak' = fwd+bwd GFLOP/s / that (model FLOPs utilisation on a GPU)")
    return table


def pipeline_table(out: dict) -> Table:
    table = Table(title=f"Input-bound? data vs network at {out['image_size']} px (network on {out['device']}, "
                        f"{out['config']}; {out['threads']} CPU threads)")
    for col in ("", "images/s", "CPU ms / image", "images/s per core", "decode cores to keep it fed"):
        table.add_column(col, justify="left" if not col else "right")
    for r in out["data"]:
        table.add_row(f"data: decode + train crop, {r['workers']} workers", f"{r['images_per_s']:.0f}",
                      f"{r['cpu_ms_per_image']:.2f}", f"{r['images_per_s_per_core']:.0f}", "")
    for r in out["models"]:
        table.add_row(f"network: {r['model']} fwd+bwd, batch {out['model_batch']}", f"{r['train_images_per_s']:.2f}",
                      "", "", f"{r['decode_cores_needed']:.3f}")
    table.caption = (f"any accelerator: decode cores = its training images/s / "
                     f"{out['data_images_per_s_per_core']:.0f}")
    return table


def lab_table(out: dict) -> Table:
    table = Table(title=f"inception-lab v3 on synthetic data, {out['steps']} steps, each speed switch "
                        f"({out['device']})")
    for col in ("switches", "train images/s", "vs first row", "fit (s)", "command (s)"):
        table.add_column(col, justify="left" if col == "switches" else "right")
    for r in out["rows"]:
        if "error" in r:
            table.add_row(r["switches"], f"[red]failed: {r['error']}[/]")
            continue
        table.add_row(r["switches"], "-" if r["images_per_s"] is None else f"{r['images_per_s']:.1f}",
                      "-" if r["speedup"] is None else f"{r['speedup']:.2f}x", f"{r['fit_s']:.1f}",
                      f"{r['command_s']:.1f}")
    table.caption = " ".join(out["common_overrides"])
    return table


def accuracy_table(out: dict) -> Table:
    target = f"{out['target']:.0%}"
    table = Table(title=f"Time to {target} val top-1 on the embedded default (inception-lab model=<m>)")
    for col in ("model", "params (M)", f"epochs to {target}", f"time to {target} (s)", "fit (s)", "command (s)",
                "final / best top-1", "train images/s"):
        table.add_column(col, justify="left" if col in ("model", "final / best top-1") else "right")
    for r in out["rows"]:
        if "error" in r:
            table.add_row(r["model"], f"[red]failed: {r['error']}[/]")
            continue
        table.add_row(r["model"], f"{r['params'] / 1e6:.2f}", "-" if r["target_epoch"] is None else str(r["target_epoch"]),
                      "not reached" if r["time_to_target_s"] is None else f"{r['time_to_target_s']:.1f}",
                      f"{r['fit_s']:.1f}", f"{r['command_s']:.1f}", f"{r['final_top1']:.2%} / {r['best_top1']:.2%}",
                      "-" if r["images_per_s"] is None else f"{r['images_per_s']:.0f}")
    table.caption = f"fastest to {target}: {out['fastest']}"
    return table


# What a GPU run measures (``--device cuda``): the paper's input size, a GPU-sized batch, the lab's GPU defaults.
GPU_MODELS = {"batch": 128, "size": 299, "configs": ("bf16+cl",)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run (smoke test; figures are noisy)")
    parser.add_argument("--suite", nargs="+", choices=(*SUITES, "all"), default=["all"])
    parser.add_argument("--device", default="cpu", help="cpu, or cuda[:N]: GPU sizes, bf16 and channels_last")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON results")
    args = parser.parse_args(argv)
    console = Console() if sys.stdout.isatty() else Console(width=200)
    env = environment()
    console.print(f"python {env['python']}, torch {env['torch']}, lightning {env['lightning']}, {env['cpu']}, "
                  f"{env['cpus']} CPUs, {env['torch_threads']} torch threads, cuda={env['cuda']}")
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    suites = SUITES if "all" in args.suite else tuple(args.suite)
    cuda = torch.device(args.device).type == "cuda"
    for suite in suites:
        load_before = os.getloadavg()[0]
        started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        out = run_suite(suite, args.device, cuda, args.quick, console)
        out.update(started=started, quick=args.quick, environment=env, load1_before=load_before,
                   load1_after=os.getloadavg()[0], command=" ".join([Path(sys.executable).name, "-m", "benchmarks"]
                                                                   + (argv if argv is not None else sys.argv[1:])))
        path = args.out / f"{suite}-{'gpu-' if cuda else ''}{stamp}{'-quick' if args.quick else ''}.json"
        path.write_text(json.dumps(out, indent=1) + "\n")
        console.print(f"wrote {path}")
    return 0


def run_suite(suite: str, device: str, cuda: bool, quick: bool, console: Console) -> dict:
    """Measure one suite on ``device``, print its table, return its JSON."""
    if suite == "harness":
        from benchmarks import harness_overhead

        setup = harness_overhead.Setup.for_gpu(device) if cuda else harness_overhead.Setup()
        sizes = {"steps": 12, "repeats": 3, "skip": 2} if quick else ({"steps": 50} if cuda else {})
        out = harness_overhead.measure(**sizes, setup=setup)
        console.print(harness_table(out))
        if "profile_table" in out:
            console.print(out["profile_table"], markup=False, highlight=False)
    elif suite == "models":
        from benchmarks import model_speed

        sizes = {"warmup": 1, "iters": 2} if quick else {}
        if cuda:
            sizes.update(batch=GPU_MODELS["batch"], size=GPU_MODELS["size"])
        out = model_speed.measure(device=device, configs=GPU_MODELS["configs"] if cuda else ("fp32+cl",), **sizes)
        console.print(models_table(out))
    elif suite == "lab":
        from benchmarks import lab_switches

        out = lab_switches.measure(device, steps=15 if quick else (60 if cuda else 40))
        console.print(lab_table(out))
    elif suite == "pipeline":
        from benchmarks import pipeline_balance

        sizes = {"images": 64, "workers": (0,), "repeats": 1, "iters": 1} if quick else {}
        if cuda:
            sizes.update(device=device, config=GPU_MODELS["configs"][0], model_batch=GPU_MODELS["batch"])
            sizes.setdefault("workers", (0, 4, 8))
        out = pipeline_balance.measure(**sizes)
        console.print(pipeline_table(out))
    else:
        from benchmarks import time_to_accuracy

        quick_args = {"models": ["v1"], "overrides": ["trainer.max_epochs=2"]} if quick else {}
        out = time_to_accuracy.measure(**quick_args)
        console.print(accuracy_table(out))
    return out


if __name__ == "__main__":
    raise SystemExit(main())
