"""results.json: the one record a run leaves and a report reads (docs/architecture.md#one-run).

Written atomically (temporary file in the same directory, then ``os.replace``) and by rank zero only, so a
reader never sees half a file and DDP ranks never race. ``read_results`` validates what it loads and raises
``ResultsError`` with the file name on anything missing or malformed.
"""

from __future__ import annotations

import json
import math
import os
import platform
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
FILENAME = "results.json"
STATUSES = ("completed", "diverged", "failed")
REQUIRED_KEYS = ("schema_version", "status", "run_name", "model", "metrics", "config")


class ResultsError(ValueError):
    """A results.json that is missing, unreadable or does not follow the schema."""


def _umask() -> int:
    current = os.umask(0)  # the only portable way to read it: set and put back at once
    os.umask(current)
    return current


def write_json_atomic(path: str | os.PathLike, payload: Any) -> Path:
    """Write JSON to ``path`` via a temporary file and an atomic rename (never a half-written file).

    ``mkstemp`` creates its file 0600; the result gets the mode a plain ``open`` would give it (0666 less the
    umask), so collaborators on a shared file system can read a run's records.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w") as handle:
            json.dump(payload, handle, indent=2, sort_keys=False, default=str, allow_nan=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def error_metrics(top1: float | None, top5: float | None, loss: float | None = None) -> dict[str, float | None]:
    """Accuracies in [0, 1] -> the papers' error percentages (top-1 / top-5 error, %)."""
    return {
        "top1_err": None if top1 is None else 100.0 * (1.0 - top1),
        "top5_err": None if top5 is None else 100.0 * (1.0 - top5),
        "top1": top1,
        "top5": top5,
        "loss": loss,
    }


def summarize_history(history: list[dict]) -> dict[str, dict | None]:
    """Final and best (by top-1) validation metrics from the per-epoch history."""
    if not history:
        return {"final": None, "best": None}
    final = history[-1]
    best = max(history, key=lambda row: row["val_top1"] if row["val_top1"] == row["val_top1"] else -1.0)
    return {
        "final": {"epoch": final["epoch"], **error_metrics(final["val_top1"], final["val_top5"], final["val_loss"])},
        "best": {"epoch": best["epoch"], **error_metrics(best["val_top1"], best["val_top5"], best["val_loss"])},
    }


def chance_warning(top1: float | None, num_classes: int, val_images: int | None) -> str | None:
    """A line for a run whose final val top-1 cannot be told from guessing, else None.

    Guessing scores 1/K; over n validation images its accuracy has a binomial spread of sqrt(p(1-p)/n), so a
    top-1 below 1/K + 3 of those cannot be called learning (one chance in ~700 of a guesser landing above it).
    """
    if top1 is None or math.isnan(top1) or num_classes < 2 or not val_images:
        return None
    chance = 1.0 / num_classes
    bar = chance + 3.0 * math.sqrt(chance * (1.0 - chance) / val_images)
    if top1 >= bar:
        return None
    return (f"final val top-1 {100 * top1:.1f}% is within noise of chance ({100 * chance:.1f}% for {num_classes} "
            f"classes; a learned network scores above {100 * bar:.1f}% on {val_images} images). Train longer "
            "(trainer.max_epochs: BatchNorm statistics of the first, violent steps ruin evaluation for a while), "
            "add a warm-up (scheduler.warmup_epochs) or lower optimizer.lr, or check the data")


def environment() -> dict[str, Any]:
    """Hardware and library versions of this process (recorded so a result can be traced to its stack)."""
    import torch

    versions = {"python": platform.python_version()}
    for package in ("inception-lab", "torch", "lightning", "torchmetrics", "hydra-core", "omegaconf", "wandb"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    hardware = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "cuda_devices": torch.cuda.device_count(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    return {"versions": versions, "hardware": hardware}


def write_results(run_dir: str | os.PathLike, record: dict[str, Any]) -> Path:
    """Validate ``record`` and write ``<run_dir>/results.json`` atomically."""
    record = {"schema_version": SCHEMA_VERSION, **record}
    validate(record, source=str(run_dir))
    return write_json_atomic(Path(run_dir) / FILENAME, record)


def validate(record: Any, source: str = "results.json") -> dict[str, Any]:
    if not isinstance(record, dict):
        raise ResultsError(f"{source}: expected a JSON object, got {type(record).__name__}")
    missing = [key for key in REQUIRED_KEYS if key not in record]
    if missing:
        raise ResultsError(f"{source}: missing key(s) {', '.join(missing)}")
    if record["status"] not in STATUSES:
        raise ResultsError(f"{source}: status '{record['status']}' is not one of {', '.join(STATUSES)}")
    if record["schema_version"] != SCHEMA_VERSION:
        raise ResultsError(f"{source}: schema_version {record['schema_version']} (this reader knows {SCHEMA_VERSION})")
    return record


def read_results(path: str | os.PathLike) -> dict[str, Any]:
    """Load and validate a results.json (or the one inside a run directory)."""
    path = Path(path)
    if path.is_dir():
        path = path / FILENAME
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ResultsError(f"{path}: not valid JSON ({err})") from None
    return validate(record, source=str(path))
