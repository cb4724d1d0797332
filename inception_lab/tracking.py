"""W&B runs that behave like a tracker: a resumed run continues its W&B run, a sweep's jobs share a group.

- ``<run dir>/wandb.json`` records the W&B run of a job (id, project, entity, group, name) as soon as it starts.
- ``prepare_wandb(cfg, ckpt_path)`` fills ``logger.wandb`` before it is instantiated: resuming from a checkpoint
  (``ckpt_path=...``) reads the id from the checkpoint's run directory and continues that W&B run
  (``resume="allow"``: the same id and name, history appended) instead of opening a new one; inside ``--multirun`` an
  unset ``wandb.group`` becomes the sweep's name, so the jobs of one sweep (an Optuna study too) group together.
- Checkpoints as artifacts are Lightning's own ``WandbLogger(log_model=...)``: ``logger.wandb.log_model=true``
  uploads the ModelCheckpoint files when training ends, ``all`` as they are written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, open_dict

from inception_lab.checkpoints import run_dir_of

WANDB_RUN_FILENAME = "wandb.json"


def read_wandb_run(run_dir: Path) -> dict[str, Any] | None:
    try:
        info = json.loads((run_dir / WANDB_RUN_FILENAME).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and info.get("id") else None


def sweep_group(cfg: DictConfig) -> str | None:
    """The sweep's name inside ``--multirun`` (its directory under ``paths.log_dir``), else None."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    try:
        hydra_cfg = HydraConfig.get()
    except ValueError:  # outside a Hydra app
        return None
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return None
    sweep_dir = Path(hydra_cfg.sweep.dir).resolve()
    try:
        return str(sweep_dir.relative_to(Path(cfg.paths.log_dir).resolve()))
    except ValueError:
        return sweep_dir.name


def prepare_wandb(cfg: DictConfig, ckpt_path: str | None) -> None:
    """Set ``logger.wandb``'s id/resume (from the resumed checkpoint's run) and group (the sweep) in place."""
    node = (cfg.get("logger") or {}).get("wandb")
    if not isinstance(node, DictConfig):
        return
    previous = read_wandb_run(run_dir_of(Path(ckpt_path))) if ckpt_path else None
    with open_dict(node):
        if previous is not None and node.get("id") is None:  # an explicit logger.wandb.id wins
            node.id = previous["id"]
            node.resume = "allow"
            node.name = previous.get("name") or node.get("name")  # not renamed by a longer max_epochs
            if node.get("group") is None:
                node.group = previous.get("group")
        if node.get("group") is None:
            node.group = sweep_group(cfg)


def save_wandb_run(loggers: list[Any], run_dir: Path) -> None:
    """Record the job's W&B run in ``<run dir>/wandb.json`` (rank zero; starts the W&B run if not yet started)."""
    from inception_lab.results import write_json_atomic

    for logger in loggers:
        if type(logger).__name__ == "WandbLogger":
            run = logger.experiment
            write_json_atomic(run_dir / WANDB_RUN_FILENAME, {
                "id": run.id, "project": run.project, "entity": getattr(run, "entity", None),
                "group": run.group or None, "name": run.name, "url": getattr(run, "url", None),
            })


def finish_wandb(loggers: list[Any]) -> None:
    """One W&B run per sweep job: close it even when the job failed (docs/reference.md#wandb-one-run-per-job)."""
    if any(type(logger).__name__ == "WandbLogger" for logger in loggers):
        import wandb

        wandb.finish()


def wandb_info(loggers: list[Any]) -> dict[str, Any] | None:
    """The W&B run of a job for its results.json (path, URL, id), or None without a W&B logger."""
    for logger in loggers:
        if type(logger).__name__ == "WandbLogger":
            experiment = logger.experiment
            return {"run_path": getattr(experiment, "path", None), "url": getattr(experiment, "url", None),
                    "id": getattr(experiment, "id", None)}
    return None
