"""``python -m benchmarks [--quick] [--suite harness|models|pipeline|accuracy|all]``: run the suites, print rich
tables, write JSON.

Suites: ``harness`` (benchmarks/harness_overhead.py: the lab's Lightning path vs a bare PyTorch loop),
``models`` (benchmarks/model_speed.py: forward / forward + backward of every network at full width),
``pipeline`` (benchmarks/pipeline_balance.py: decode + augment images/s per core beside the network's training
images/s at 299 px) and ``accuracy`` (benchmarks/time_to_accuracy.py: ``inception-lab model=<m>`` on the embedded
default until val top-1 >= 95 %, every network; about 10 minutes on 2 cores). The full data-pipeline table
(benchmarks/data_throughput.py: worker counts, large photos, fast_jpeg) runs directly. Results go to ``benchmarks/results/<suite>-<UTC time>.json`` with the versions,
the machine and the 1-minute load average; that folder's ``.gitignore`` keeps them out of git (the figures worth
keeping are copied into BENCHMARKS.md with the command that produced them).
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
            "cuda": torch.cuda.is_available(), "platform": platform.platform()}


def harness_table(out: dict) -> Table:
    table = Table(title=f"Harness overhead: v3 x0.25, batch {out['batch_size']} at {out['image_size']} px, "
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
    table = Table(title=f"Model speed (CPU, {out['threads']} threads): width 1.0, batch {out['batch_size']} at "
                        f"{out['image_size']} px, median of {out['iters']}")
    cols = ("model", "params (M)", "GFLOPs/img", "fwd ms", "fwd img/s", "fwd GFLOP/s", "fwd+bwd ms", "fwd+bwd img/s",
            "fwd+bwd GFLOP/s", "load1")
    for col in cols:
        table.add_column(col, justify="left" if col in ("model", "load1") else "right")
    for r in out["rows"]:
        table.add_row(r["model"], f"{r['params'] / 1e6:.1f}", f"{r['gflops_per_image']:.3f}", f"{r['fwd_ms']:.0f}",
                      f"{r['fwd_images_per_s']:.1f}", f"{r['fwd_gflops_per_s']:.1f}", f"{r['fwdbwd_ms']:.0f}",
                      f"{r['fwdbwd_images_per_s']:.1f}", f"{r['fwdbwd_gflops_per_s']:.1f}",
                      f"{r['load1_before']:.2f}->{r['load1_after']:.2f}")
    g = out["sgemm"]
    table.caption = f"limit reference: torch.mm {g['n']}^3 fp32 = {g['gflops_per_s']:.1f} GFLOP/s"
    return table


def pipeline_table(out: dict) -> Table:
    table = Table(title=f"Input-bound? data vs network at {out['image_size']} px (CPU, {out['threads']} threads)")
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run (smoke test; figures are noisy)")
    parser.add_argument("--suite", choices=("harness", "models", "pipeline", "accuracy", "all"), default="all")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON results")
    args = parser.parse_args(argv)
    console = Console() if sys.stdout.isatty() else Console(width=200)
    env = environment()
    console.print(f"python {env['python']}, torch {env['torch']}, lightning {env['lightning']}, {env['cpu']}, "
                  f"{env['cpus']} CPUs, {env['torch_threads']} torch threads, cuda={env['cuda']}")
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    suites = ("harness", "models", "pipeline", "accuracy") if args.suite == "all" else (args.suite,)
    for suite in suites:
        load_before = os.getloadavg()[0]
        started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        if suite == "harness":
            from benchmarks import harness_overhead

            out = harness_overhead.measure(**({"steps": 12, "repeats": 3, "skip": 2} if args.quick else {}))
            console.print(harness_table(out))
            if "profile_table" in out:
                console.print(out["profile_table"], markup=False, highlight=False)
        elif suite == "models":
            from benchmarks import model_speed

            out = model_speed.measure(**({"warmup": 1, "iters": 2} if args.quick else {}))
            console.print(models_table(out))
        elif suite == "pipeline":
            from benchmarks import pipeline_balance

            out = pipeline_balance.measure(**({"images": 64, "workers": (0,), "repeats": 1, "iters": 1}
                                              if args.quick else {}))
            console.print(pipeline_table(out))
        else:
            from benchmarks import time_to_accuracy

            quick = {"models": ["v1"], "overrides": ["trainer.max_epochs=2"]} if args.quick else {}
            out = time_to_accuracy.measure(**quick)
            console.print(accuracy_table(out))
        out.update(started=started, quick=args.quick, environment=env, load1_before=load_before,
                   load1_after=os.getloadavg()[0], command=" ".join([Path(sys.executable).name, "-m", "benchmarks"]
                                                                   + (argv if argv is not None else sys.argv[1:])))
        path = args.out / f"{suite}-{stamp}{'-quick' if args.quick else ''}.json"
        path.write_text(json.dumps(out, indent=1) + "\n")
        console.print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
