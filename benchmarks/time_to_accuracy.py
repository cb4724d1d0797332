"""Time to accuracy on the embedded default: how long ``inception-lab model=<m>`` trains until val top-1 >= 95 %.

Each network runs the real command a user types (``python -m inception_lab.cli.train model=<m>``,
everything else the embedded default: digits at 75 px, width 0.25, 10 epochs, RMSProp-TF with warm-up + cosine)
in a subprocess, one after another. From the run's results.json: the first validation whose top-1 reaches the
target, the training wall time up to it (``train_time_s`` of that history row: time inside ``fit``, validation
included, start-up excluded), and the whole command's wall time (interpreter start, imports, data, model, fit,
results). A network that never reaches the target in its 10 epochs says so.

    python benchmarks/time_to_accuracy.py                         # all seven networks, markdown table
    python benchmarks/time_to_accuracy.py --models v3 v1 --target 0.95 --json out.json -- trainer.max_epochs=5
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from benchmarks import run_training
from inception_lab.models import list_models

DEFAULT_TARGET = 0.95


def run_one(model: str, target: float, workdir: Path, overrides: list[str]) -> dict:
    outcome, record = run_training([f"model={model}", *overrides], workdir / model, workdir)
    row: dict = {"model": model, **outcome}
    if record is None:
        return row
    history = record["history"]
    reached = next((h for h in history if h["val_top1"] >= target), None)
    row.update(
        status=record["status"], params=record["model"]["params"], gflops=record["model"]["flops"] / 1e9,
        image_size=record["model"]["input_size"], epochs=len(history), fit_s=round(record["fit_seconds"], 1),
        final_top1=history[-1]["val_top1"] if history else None,
        best_top1=max((h["val_top1"] for h in history), default=None),
        images_per_s=record.get("images_per_second"),
        target_epoch=None if reached is None else reached["epoch"] + 1,
        target_step=None if reached is None else reached["step"],
        time_to_target_s=None if reached is None else reached.get("train_time_s"),
        epoch_top1=[round(h["val_top1"], 4) for h in history],
    )
    return row


def measure(models: list[str] | None = None, target: float = DEFAULT_TARGET, overrides: list[str] | None = None,
            workdir: Path | None = None) -> dict:
    models = models or list_models()
    with tempfile.TemporaryDirectory(prefix="tta-") as tmp:
        root = Path(workdir or tmp)
        root.mkdir(parents=True, exist_ok=True)
        rows = [run_one(m, target, root, list(overrides or [])) for m in models]
    reached = [r for r in rows if r.get("time_to_target_s") is not None]
    fastest = min(reached, key=lambda r: r["time_to_target_s"])["model"] if reached else None
    return {"target": target, "overrides": list(overrides or []), "rows": rows, "fastest": fastest}


def markdown(out: dict) -> str:
    lines = [f"| model | params (M) | GFLOPs / image | epochs to {out['target']:.0%} | time to {out['target']:.0%} (s) "
             "| fit (s) | command (s) | final / best top-1 | train images/s |",
             "|---|---:|---:|---:|---:|---:|---:|---|---:|"]
    for r in out["rows"]:
        if "error" in r:
            lines.append(f"| {r['model']} | failed: {r['error']} |||||||")
            continue
        tta = "not reached" if r["time_to_target_s"] is None else f"{r['time_to_target_s']:.1f}"
        epochs = "-" if r["target_epoch"] is None else str(r["target_epoch"])
        ips = "-" if r["images_per_s"] is None else f"{r['images_per_s']:.0f}"
        lines.append(f"| {r['model']} | {r['params'] / 1e6:.2f} | {r['gflops']:.4f} | {epochs} | {tta} | "
                     f"{r['fit_s']:.1f} | {r['command_s']:.1f} | {r['final_top1']:.2%} / {r['best_top1']:.2%} | "
                     f"{ips} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=None, help="default: all registered networks")
    parser.add_argument("--target", type=float, default=DEFAULT_TARGET, help="val top-1 to reach (fraction)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("overrides", nargs="*", help="extra inception-lab overrides (after --)")
    args = parser.parse_args(argv)
    out = measure(args.models, args.target, args.overrides)
    print(markdown(out))
    print(f"fastest to {args.target:.0%}: {out['fastest']}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
