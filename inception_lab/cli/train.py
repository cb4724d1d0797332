"""``inception-lab``: compose a run from the config groups, train it, leave results.json (docs/architecture.md#one-run).

``train(cfg)`` is the whole job and is callable without the CLI; ``main`` is the Hydra entry point. Bad input
(``RunError`` and the data / model modules' own error types) ends a single run with one ``error:`` line and exit
status 2; inside a ``--multirun`` sweep it is recorded as ``failed`` and the sweep goes on. ``CheckBeforeRun``
(a Hydra callback) checks the config values and the run directory before Hydra writes anything there: a bad value
leaves no file behind, and a directory that already holds a run is never written over. Any other exception is a
bug and keeps its traceback. A diverged run is a result (status ``diverged``), not an error. ``SweepSummary``
prints the sweep's tally and fails the sweep's exit status when any job failed.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from omegaconf import DictConfig

from inception_lab import distributed
from inception_lab.checkpoints import resume_checkpoint
from inception_lab.config_path import CONFIG_DIR
from inception_lab.console import fail, first_line, print_error, print_summary
from inception_lab.results import FILENAME, fit_record, new_record, write_results
from inception_lab.tracking import finish_wandb, prepare_wandb, save_wandb_run, wandb_info
from inception_lab.validation import (
    RunDirInUse,
    RunError,
    check_arguments,
    check_config,
    check_run_dir,
    clear_run_dir,
    is_relaunched_rank,
    user_errors,
)


def train(cfg: DictConfig) -> dict[str, Any]:
    """Run one job: build data, model, module and trainer from ``cfg``; fit; write results.json; return it."""
    check_external_launch()
    check_config(cfg)  # again: sweep jobs and library callers did not pass CheckBeforeRun

    import lightning as L
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    from inception_lab.build import build_model, build_module, build_trainer
    from inception_lab.models.cost import check_input_size, count_flops, count_parameters
    from inception_lab.runlog import print_cost_notes, quiet_library_noise

    quiet_library_noise()
    started = time.time()
    run_dir, overrides = Path(cfg.paths.output_dir), job_overrides()
    record = new_record(cfg, overrides)
    ckpt_path = resume_checkpoint(cfg, overrides, run_dir)
    if not is_relaunched_rank() and check_run_dir(run_dir, ckpt_path, bool(cfg.get("overwrite"))):
        if rank_zero_only.rank == 0:
            clear_run_dir(run_dir)
    record["resumed_from"] = ckpt_path
    L.seed_everything(cfg.seed, workers=True, verbose=False)

    check_arguments("data", cfg.data)
    datamodule = hydra.utils.instantiate(cfg.data)
    size, channels = datamodule.image_size, datamodule.channels
    model, model_args = build_model(cfg, datamodule.num_classes, channels, size)
    check_input_size(model, size, channels)
    datamodule.apply_model_defaults(model.defaults)  # mean/std ([-1, 1] scaling) and eval crop of the family
    flops = count_flops(model, size, in_chans=channels)
    record["model_args"] = model_args  # create_model(**model_args) rebuilds this network (eval, report)
    record["model"].update(params=count_parameters(model, aux=False), params_with_aux=count_parameters(model, aux=True),
                           input_size=size, macs=flops["macs"], flops=flops["flops"],
                           aux_heads=bool(getattr(model, "has_aux_heads", False)))
    module = build_module(cfg, model, datamodule, {**record["config"], "model_args": model_args}, flops["flops"])

    prepare_wandb(cfg, ckpt_path)  # a resumed run continues its W&B run; a sweep's jobs share a group
    trainer, loggers = build_trainer(cfg)
    record["hardware"].update(accelerator=type(trainer.accelerator).__name__, devices=trainer.num_devices,
                              num_nodes=trainer.num_nodes, precision=str(trainer.precision))
    print_cost_notes(trainer, cfg, datamodule, flops["flops"])
    for logger in trainer.loggers:  # the model's cost beside its metrics (W&B summary, CSV)
        logger.log_metrics({"model/params": record["model"]["params"], "model/gflops": flops["flops"] / 1e9}, step=0)
    if trainer.is_global_zero:
        run_dir.mkdir(parents=True, exist_ok=True)
        datamodule.save_class_index(run_dir)  # eval and report map class indices back to names with it
        save_wandb_run(loggers, run_dir)  # <run dir>/wandb.json: the id a resume continues

    fit_started = time.time()
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    finally:
        finish_wandb(loggers)
        if is_multirun():
            distributed.reset_after_job()
    record.update(fit_record(trainer, module, datamodule, cfg.divergence.loss_bound), fit_seconds=time.time() - fit_started,
                  wall_time_s=time.time() - started, wandb=wandb_info(loggers))
    if trainer.is_global_zero:
        write_results(run_dir, record)
        print_summary(record)
    return record


def job_overrides() -> list[str]:
    try:
        return list(HydraConfig.get().overrides.task)
    except ValueError:  # called outside a Hydra app (tests, notebooks)
        return []


def is_multirun() -> bool:
    try:
        return HydraConfig.get().mode == RunMode.MULTIRUN
    except ValueError:
        return False


def check_external_launch() -> None:
    """Under torchrun every rank composes its own Hydra run directory (a timestamp each): insist on a shared one."""
    if "TORCHELASTIC_RUN_ID" not in os.environ:
        return
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode == RunMode.MULTIRUN:
        raise RunError("torchrun starts single runs only; sweep with --multirun trainer=ddp or "
                       "hydra/launcher=submitit_slurm instead")
    if not any(o.startswith("hydra.run.dir=") for o in hydra_cfg.overrides.hydra):
        raise RunError("under torchrun every rank must write to the same directory: add hydra.run.dir=<dir>")


def record_failure(cfg: DictConfig, reason: str) -> None:
    """Write a ``failed`` results.json (rank zero only; never over an existing record)."""
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    run_dir = Path(cfg.paths.output_dir)
    if rank_zero_only.rank != 0 or (run_dir / FILENAME).exists():
        return
    write_results(run_dir, new_record(cfg, job_overrides(), reason=reason, resolve=False))


def run_job(cfg: DictConfig) -> float | None:
    """One job of the ``inception-lab`` console script (``main``). Returns the best val top-1 of a completed run (the
    value a Hydra sweeper optimises; None for a diverged or failed one). A module-level function of its own so that
    launchers that ship the job to another process (submitit) pickle it by reference."""
    distributed.install()
    distributed.adopt_submitit_local_tasks()
    try:
        try:
            record = train(cfg)
        except InstantiationException as err:  # hydra wraps what a config's constructor raised: surface that
            raise (err.__cause__ or err) from None
    except user_errors() as err:
        message = first_line(err)
        if not isinstance(err, RunDirInUse):  # that directory is another run's: leave it exactly as it is
            record_failure(cfg, message)
        if is_multirun():
            print_error(f"job failed: {message}")
            return None
        fail(message)
    except Exception as err:  # a crash: record it, keep the sweep going, re-raise in a single run
        record_failure(cfg, f"{type(err).__name__}: {err}")
        if is_multirun():
            print_error(f"job crashed: {type(err).__name__}: {err}")
            return None
        raise
    if record["status"] != "completed":  # a diverged run has no value to optimise (Optuna: a FAIL trial)
        return None
    best = (record["metrics"].get("best") or {}).get("top1")
    return None if best is None or math.isnan(best) else best


_hydra_main = hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")(run_job)


def main() -> None:
    """The ``inception-lab`` console script: Hydra's app around ``run_job``."""
    args = sys.argv[1:]
    if {"-m", "--multirun"} & set(args) and ({"-c", "--cfg"} & set(args) or any(a.startswith("--cfg=") for a in args)):
        fail("Hydra cannot print a config (--cfg) and sweep (--multirun) at once; for a dry run of the sweep "
             "replace --cfg ... with hydra/launcher=plan")
    _hydra_main()



if __name__ == "__main__":
    main()
