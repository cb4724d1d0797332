"""The lab's speed switches, end to end: ``inception-lab`` training v3 on synthetic data with each switch added.

Each row is the real command a user types (``python -m inception_lab.cli.train``, a subprocess each) on
``data=synthetic`` (random uint8 images in memory: no decode cost, so the network and the harness are what is
timed), with ``trainer.max_steps`` steps and no validation; the images/s is results.json's
``images_per_second`` (Lightning's ``ThroughputMonitor`` over the last 10 steps, all devices). The switches are
added in turn:

- CPU (default): v3 x0.25 at 75 px, batch 64 (the embedded default's shape): ``channels_last=false`` (fp32,
  NCHW) against ``channels_last=true`` (the default).
- GPU (``--device cuda``): v3 at width 1.0, 299 px, batch 128, 8 loader workers: ``trainer.precision=32-true``
  (TF32 matmuls: ``matmul_precision=high``), ``bf16-mixed``, ``+ channels_last``, ``+ cudnn.benchmark``
  (``trainer=gpu`` turns it on), ``+ compile=true``.

    python benchmarks/lab_switches.py                       # CPU rows
    python benchmarks/lab_switches.py --device cuda --steps 60 --json out.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from benchmarks import run_training

SHAPES = {
    "cpu": ["trainer=cpu", "model.width_mult=0.25", "data.image_size=75", "data.batch_size=64",
            "data.num_workers=0"],
    "cuda": ["trainer=gpu", "model.width_mult=1.0", "data.image_size=299", "data.batch_size=128",
             "data.num_workers=8"],
}
SWITCHES = {
    "cpu": {"fp32": ["channels_last=false"], "fp32 + channels_last": ["channels_last=true"]},
    "cuda": {
        "fp32 (TF32)": ["trainer.precision=32-true", "channels_last=false", "trainer.benchmark=false"],
        "bf16-mixed": ["trainer.precision=bf16-mixed", "channels_last=false", "trainer.benchmark=false"],
        "bf16-mixed + channels_last": ["trainer.precision=bf16-mixed", "channels_last=true",
                                       "trainer.benchmark=false"],
        "+ cudnn.benchmark (trainer=gpu's default)": ["trainer.precision=bf16-mixed", "channels_last=true"],
        "+ compile": ["trainer.precision=bf16-mixed", "channels_last=true", "compile=true"],
    },
}


def run_one(label: str, overrides: list[str], run_dir: Path) -> dict:
    outcome, record = run_training(overrides, run_dir, run_dir.parent)
    row: dict = {"switches": label, "overrides": overrides, **outcome}
    if record is None:
        return row
    row.update(images_per_s=record["images_per_second"], fit_s=round(record["fit_seconds"], 1),
               steps=record["steps"], precision=record["hardware"]["precision"],
               gflops_per_image=record["model"]["flops"] / 1e9)
    return row


def measure(device: str = "cpu", steps: int = 40) -> dict:
    kind = "cuda" if device.startswith("cuda") else "cpu"
    common = ["model=v3", "data=synthetic", "data.num_classes=1000", f"trainer.max_steps={steps}",
              "trainer.limit_val_batches=0", "callbacks.model_checkpoint=null", "callbacks.step_checkpoint=null",
              *SHAPES[kind]]
    with tempfile.TemporaryDirectory(prefix="lab-switches-") as tmp:
        rows = [run_one(label, [*common, *switches], Path(tmp) / str(i))
                for i, (label, switches) in enumerate(SWITCHES[kind].items())]
    base = rows[0].get("images_per_s")
    for row in rows:
        row["speedup"] = row["images_per_s"] / base if base and row.get("images_per_s") else None
    return {"suite": "lab_switches", "device": kind, "steps": steps, "common_overrides": common, "rows": rows}


def markdown(out: dict) -> str:
    lines = ["| switches | train images/s | vs first row | fit (s) | command (s) |", "|---|---:|---:|---:|---:|"]
    for r in out["rows"]:
        if "error" in r:
            lines.append(f"| {r['switches']} | failed: {r['error']} | | | |")
            continue
        ips = "-" if r["images_per_s"] is None else f"{r['images_per_s']:.1f}"
        speedup = "-" if r["speedup"] is None else f"{r['speedup']:.2f}x"
        lines.append(f"| {r['switches']} | {ips} | {speedup} | {r['fit_s']:.1f} | {r['command_s']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu | cuda")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    out = measure(args.device, args.steps)
    print(markdown(out))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
