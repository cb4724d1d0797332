"""Throughput scripts; their figures are recorded in BENCHMARKS.md."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


def run_training(overrides: list[str], run_dir: Path, cwd: Path) -> tuple[dict, dict | None]:
    """Run the command a user types (``python -m inception_lab.cli.train <overrides>``) in a subprocess, writing to
    ``run_dir``. Returns ``({"command_s", "load1_before", "load1_after", "returncode"[, "error"]}, results.json or
    None when the command failed)``; ``error`` is the last line it printed to stderr."""
    from inception_lab.results import read_results

    command = [sys.executable, "-m", "inception_lab.cli.train", *overrides, f"hydra.run.dir={run_dir}"]
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    row: dict = {"command_s": round(time.monotonic() - started, 1), "load1_before": round(load_before, 2),
                 "load1_after": round(os.getloadavg()[0], 2), "returncode": proc.returncode}
    if proc.returncode != 0:
        row["error"] = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return row, None
    return row, read_results(run_dir)
