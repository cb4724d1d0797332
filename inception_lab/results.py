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


def run_name(overrides: list[str]) -> str:
    """A readable name from the overrides that made a run (the W&B run name and the report's row label)."""
    return ",".join(o for o in overrides if not o.startswith(("paths.", "hydra.", "logger."))) or "default"


def new_record(cfg: Any, overrides: list[str], reason: str | None = None, resolve: bool = True) -> dict[str, Any]:
    """A run's record before it has a result: what ran (overrides, config, model name), where, on what; status
    ``failed`` until the fit fills in the rest (:func:`fit_record`)."""
    from omegaconf import OmegaConf

    return {
        "status": "failed",
        "reason": reason,
        "run_name": run_name(overrides),
        "overrides": overrides,
        "experiment": OmegaConf.select(cfg, "experiment_name"),
        "output_dir": str(Path(cfg.paths.output_dir)),
        "model": {"name": OmegaConf.select(cfg, "model.name")},
        "metrics": {"final": None, "best": None},
        "config": OmegaConf.to_container(cfg, resolve=resolve),
        **environment(),
    }


def divergence_reason(step: int, loss: float | None, bound: float) -> str:
    """Why a run was stopped as diverged, for results.json and the report."""
    if loss is None:
        return f"training loss diverged at step {step} (on another rank)"
    if not math.isfinite(loss):
        return f"training loss {loss} at step {step}"
    return f"training loss {loss:.4g} at step {step} exceeded divergence.loss_bound={bound:g}"


def fit_record(trainer: Any, module: Any, datamodule: Any, loss_bound: float) -> dict[str, Any]:
    """What a finished ``trainer.fit`` adds to the record: status (completed / diverged), the validation history
    and its final / best metrics, training losses, steps, images/s, the data seen, warnings, the checkpoint."""
    diverged = module.diverged_at_step is not None
    out: dict[str, Any] = {"status": "diverged" if diverged else "completed", "diverged_at_step": module.diverged_at_step}
    if diverged:
        out["diverged_loss"] = module.diverged_loss
        out["reason"] = divergence_reason(module.diverged_at_step, module.diverged_loss, loss_bound)
    out["metrics"] = summarize_history(module.history)
    out["history"] = module.history
    train_losses = [row["train_loss"] for row in module.history if row.get("train_loss") is not None]
    out["train_loss"] = {
        "first_step": module.first_train_loss,
        "last_epoch": train_losses[-1] if train_losses else None,
        "min_epoch": min(train_losses) if train_losses else None,
    }
    out["epochs"] = len(module.history)
    out["steps"] = int(trainer.global_step)
    out["images_per_second"] = _train_images_per_second(trainer)
    out["data"] = datamodule.data_summary()
    final = out["metrics"].get("final") or {}
    warning = chance_warning(final.get("top1"), datamodule.num_classes, _val_images_seen(trainer, out["data"]))
    out["warnings"] = [warning] if warning else []
    checkpoint = getattr(trainer.checkpoint_callback, "last_model_path", None) if trainer.checkpoint_callback else None
    out["checkpoint"] = checkpoint or None
    return out


def _val_images_seen(trainer: Any, data: dict[str, Any]) -> int | None:
    """How many validation images one evaluation saw (``trainer.limit_val_batches`` may cut the split)."""
    total = data.get("val_images")
    if not total:
        return None
    batches = trainer.num_val_batches[0] if trainer.num_val_batches else None
    batch = getattr(trainer.datamodule, "batch_size", None)
    return min(total, int(batches) * batch) if batches and batch and not math.isinf(batches) else total


def _train_images_per_second(trainer: Any) -> float | None:
    """Training images/s over the last ThroughputMonitor window (all ranks); None for runs shorter than a window."""
    logged = trainer.logged_metrics
    if "train/samples_per_sec" in logged:  # reported when world_size > 1
        return float(logged["train/samples_per_sec"])
    if "train/device/samples_per_sec" in logged:
        return float(logged["train/device/samples_per_sec"]) * trainer.world_size
    return None


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
