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
from hydra.experimental.callback import Callback as HydraCallback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from inception_lab import distributed
from inception_lab.config_path import CONFIG_DIR
from inception_lab.console import console, fail, first_line, print_error, print_summary
from inception_lab.results import (
    FILENAME,
    ResultsError,
    chance_warning,
    environment,
    read_results,
    summarize_history,
    write_results,
)
from inception_lab.tracking import prepare_wandb, save_wandb_run
from inception_lab.validation import (
    RunDirInUse,
    RunError,
    check_arguments,
    check_config,
    check_run_dir,
    check_sweep_dir,
    clear_run_dir,
    is_relaunched_rank,
    resolve_checkpoint,
    user_errors,
)


def job_overrides() -> list[str]:
    try:
        return list(HydraConfig.get().overrides.task)
    except ValueError:  # called outside a Hydra app (tests, notebooks)
        return []


def run_name(overrides: list[str]) -> str:
    """A readable name from the overrides that made this run (the W&B run name and the report's row label)."""
    return ",".join(o for o in overrides if not o.startswith(("paths.", "hydra.", "logger."))) or "default"


def is_multirun() -> bool:
    try:
        return HydraConfig.get().mode == RunMode.MULTIRUN
    except ValueError:
        return False


def resolve_precision(precision: Any) -> Any:
    """``auto``: bf16 mixed precision on a bf16-capable CUDA device (reference DESIGN "fast by default"), else fp32."""
    if precision != "auto":
        return precision
    import torch

    return "bf16-mixed" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "32-true"


def progress_callbacks() -> list[Any]:
    """A rich progress bar on a terminal; elsewhere (SLURM logs, CI, pipes) one plain line per epoch instead of
    a redrawn bar. The epoch lines always reach the run directory's log file too (inception_lab/runlog.py)."""
    from lightning.pytorch.callbacks import RichProgressBar

    from inception_lab.runlog import EpochLines

    return ([RichProgressBar(leave=True)] if sys.stdout.isatty() else []) + [EpochLines()]


def instantiate_named(group: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a named group (callbacks, logger) that has a ``_target_``."""
    if not group:
        return []
    return [hydra.utils.instantiate(node) for node in group.values() if isinstance(node, DictConfig) and "_target_" in node]


def build_model(cfg: DictConfig, num_classes: int, channels: int, image_size: int):
    """``create_model`` from the model group. ``aux_logits: auto`` = aux heads on only where the input allows them
    (v2/v3: 299 px and up, docs/reference.md#minimum-input), so small-input runs train without them instead of failing."""
    import torch

    from inception_lab.models import create_model
    from inception_lab.models.cost import accepts_input

    switches = {k: v for k, v in OmegaConf.to_container(cfg.model, resolve=True).items() if k != "name"}
    pretrained = switches.pop("pretrained", None)  # weights to start from; they set the switches they need
    if switches.get("aux_logits") == "auto":  # probe the aux heads at this very size (v1's fixed pool also has a max)
        with torch.device("meta"):
            probe = create_model(cfg.model.name, pretrained, num_classes=num_classes, in_chans=channels,
                                 **{**switches, "aux_logits": True})
        switches["aux_logits"] = accepts_input(probe, image_size, channels, train=True)
    model = create_model(cfg.model.name, pretrained, num_classes=num_classes, in_chans=channels, **switches)
    if pretrained is not None:  # create_model(**model_args) rebuilds this network without the weights
        return model, dict(model.pretrained_cfg.model_args)
    return model, {"name": cfg.model.name, "num_classes": num_classes, "in_chans": channels, **switches}


def pretrained_record(model) -> dict[str, Any]:
    """The conventions of the weights a run started from (``pretrained`` in the checkpoint's config), so that
    evaluation and a later fine-tune normalise and crop as the weights expect."""
    cfg = getattr(model, "pretrained_cfg", None)
    return {"pretrained": {k: v for k, v in cfg.to_dict().items() if k != "class_names"}} if cfg else {}


def check_input_size(model, image_size: int, channels: int) -> None:
    """Fail before training, with the network's minimum in the message, when ``image_size`` is too small."""
    from inception_lab.models.cost import accepts_input, minimum_input_size

    aux = bool(getattr(model, "has_aux_heads", False))
    if accepts_input(model, image_size, channels, train=aux):
        return
    minimum = minimum_input_size(model, aux=aux)
    fix = (
        "turn the aux heads off (regularizer=no_aux) or raise data.image_size"
        if aux and minimum_input_size(model, aux=False) <= image_size
        else f"set data.image_size>={minimum} (or a resolution=r299|r151|r79 setting)"
    )
    raise RunError(
        f"data.image_size={image_size} is too small for model={type(model).__name__}"
        f"{' with aux heads' if aux else ''}: the minimum is {minimum}; {fix}"
    )


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


def train(cfg: DictConfig) -> dict[str, Any]:
    """Run one job: build data, model, module and trainer from ``cfg``; fit; write results.json; return it."""
    check_external_launch()
    check_config(cfg)  # again: sweep jobs and library callers did not pass CheckBeforeRun

    import lightning as L
    import torch
    from lightning.fabric.utilities.rank_zero import rank_zero_only
    from lightning.pytorch.accelerators import CPUAccelerator

    from inception_lab.models.cost import count_flops, count_parameters
    from inception_lab.module import InceptionClassifier
    from inception_lab.runlog import cost_notes, quiet_library_noise

    quiet_library_noise()

    started = time.time()
    run_dir = Path(cfg.paths.output_dir)
    overrides = job_overrides()
    record: dict[str, Any] = {
        "status": "failed",
        "reason": None,
        "run_name": run_name(overrides),
        "overrides": overrides,
        "experiment": OmegaConf.select(cfg, "experiment_name"),
        "output_dir": str(run_dir),
        "model": {"name": cfg.model.name},
        "metrics": {"final": None, "best": None},
        "config": OmegaConf.to_container(cfg, resolve=True),
        **environment(),
    }
    ckpt_path = resolve_checkpoint(cfg, overrides, run_dir)
    if not is_relaunched_rank():
        if check_run_dir(run_dir, ckpt_path, bool(cfg.get("overwrite"))) and rank_zero_only.rank == 0:
            clear_run_dir(run_dir)
    record["resumed_from"] = ckpt_path
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    check_arguments("data", cfg.data)
    datamodule = hydra.utils.instantiate(cfg.data)
    model, model_args = build_model(cfg, datamodule.num_classes, datamodule.channels, datamodule.image_size)
    record["model_args"] = model_args  # create_model(**model_args) rebuilds this network (eval, report)
    check_input_size(model, datamodule.image_size, datamodule.channels)
    datamodule.apply_model_defaults(model.defaults)  # mean/std ([-1, 1] scaling) and eval crop of the family

    params = count_parameters(model, aux=False)
    flops = count_flops(model, datamodule.image_size, in_chans=datamodule.channels)
    record["model"].update(
        params=params,
        params_with_aux=count_parameters(model, aux=True),
        input_size=datamodule.image_size,
        macs=flops["macs"],
        flops=flops["flops"],
        aux_heads=bool(getattr(model, "has_aux_heads", False)),
    )

    aux_weight = cfg.regularizer.aux_weight
    if torch.cuda.is_available():
        torch.set_float32_matmul_precision(cfg.matmul_precision)
    module = InceptionClassifier(
        model=model,
        optimizer=hydra.utils.instantiate(cfg.optimizer),
        scheduler=hydra.utils.instantiate(cfg.scheduler) if cfg.get("scheduler") else None,
        num_classes=datamodule.num_classes,
        label_smoothing=cfg.regularizer.label_smoothing,
        aux_weight=model.defaults.aux_weight if aux_weight is None else float(aux_weight),
        channels_last=bool(cfg.channels_last),
        divergence_bound=cfg.divergence.loss_bound,
        config={**record["config"], "model_args": model_args, **pretrained_record(model)},
        backbone_lr_mult=float(OmegaConf.select(cfg, "finetune.backbone_lr_mult", default=1.0)),  # +experiment=finetune/..
        schedule_horizon=str(cfg.schedule_horizon),
    )
    if cfg.compile:  # in place (nn.Module.compile): checkpoint keys stay model.<...>, resumable with compile off
        module.model.compile(**OmegaConf.to_container(cfg.compile_options, resolve=True))
    module.flops_per_batch = 3 * flops["flops"] * datamodule.batch_size  # forward + backward ~ 3x forward

    prepare_wandb(cfg, ckpt_path)  # a resumed run continues its W&B run; a sweep's jobs share a group
    loggers = instantiate_named(cfg.get("logger"))
    callbacks = instantiate_named(cfg.get("callbacks")) + progress_callbacks()
    if not loggers:  # logger=none: Lightning refuses a LearningRateMonitor with nothing to write to
        callbacks = [c for c in callbacks if type(c).__name__ != "LearningRateMonitor"]
    check_arguments("trainer", cfg.trainer, provided=("callbacks", "logger", "precision"))
    trainer: L.Trainer = hydra.utils.instantiate(
        cfg.trainer,
        callbacks=callbacks,
        logger=loggers or False,
        precision=resolve_precision(cfg.trainer.precision),
        enable_progress_bar=sys.stdout.isatty(),
    )
    if cfg.trainer.get("sync_batchnorm") and trainer.world_size > 1 and isinstance(trainer.accelerator, CPUAccelerator):
        raise RunError("trainer.sync_batchnorm=true needs GPUs (torch's SyncBatchNorm does not run on the CPU); "
                       "drop it for CPU DDP")
    record["hardware"].update(
        accelerator=type(trainer.accelerator).__name__,
        devices=trainer.num_devices,
        num_nodes=trainer.num_nodes,
        precision=str(trainer.precision),
    )

    if trainer.is_global_zero:
        for note in cost_notes(cfg.model.name, datamodule.image_size, datamodule.batch_size, flops["flops"],
                               on_cpu=isinstance(trainer.accelerator, CPUAccelerator), compile=bool(cfg.compile)):
            console.print(f"[bold]note:[/] {note}", highlight=False, soft_wrap=True)
    for logger in trainer.loggers:  # the model's cost beside its metrics (W&B summary, CSV)
        logger.log_metrics({"model/params": params, "model/gflops": flops["flops"] / 1e9}, step=0)

    if trainer.is_global_zero:
        run_dir.mkdir(parents=True, exist_ok=True)
        datamodule.save_class_index(run_dir)  # eval and report map class indices back to names with it
        save_wandb_run(loggers, run_dir)  # <run dir>/wandb.json: the id a resume continues

    fit_started = time.time()
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    finally:
        _finish_wandb(loggers)
        if is_multirun():
            distributed.reset_after_job()
    fit_seconds = time.time() - fit_started

    record["status"] = "diverged" if module.diverged_at_step is not None else "completed"
    record["diverged_at_step"] = module.diverged_at_step
    if module.diverged_at_step is not None:
        record["diverged_loss"] = module.diverged_loss
        record["reason"] = divergence_reason(module.diverged_at_step, module.diverged_loss, cfg.divergence.loss_bound)
    record["metrics"] = summarize_history(module.history)
    record["history"] = module.history
    train_losses = [row["train_loss"] for row in module.history if row.get("train_loss") is not None]
    record["train_loss"] = {
        "first_step": module.first_train_loss,
        "last_epoch": train_losses[-1] if train_losses else None,
        "min_epoch": min(train_losses) if train_losses else None,
    }
    record["epochs"] = len(module.history)
    record["steps"] = int(trainer.global_step)
    record["images_per_second"] = _train_images_per_second(trainer)
    record["data"] = datamodule.data_summary()
    final = record["metrics"].get("final") or {}
    warning = chance_warning(final.get("top1"), datamodule.num_classes, _val_images_seen(trainer, record["data"]))
    record["warnings"] = [warning] if warning else []
    record["fit_seconds"] = fit_seconds
    record["wall_time_s"] = time.time() - started
    checkpoint = getattr(trainer.checkpoint_callback, "last_model_path", None) if trainer.checkpoint_callback else None
    record["checkpoint"] = checkpoint or None
    record["wandb"] = _wandb_info(loggers)
    if trainer.is_global_zero:
        write_results(run_dir, record)
        print_summary(record)
    return record


def divergence_reason(step: int, loss: float | None, bound: float) -> str:
    """Why a run was stopped as diverged, for results.json and the report."""
    if loss is None:
        return f"training loss diverged at step {step} (on another rank)"
    if not math.isfinite(loss):
        return f"training loss {loss} at step {step}"
    return f"training loss {loss:.4g} at step {step} exceeded divergence.loss_bound={bound:g}"


def _val_images_seen(trainer, data: dict[str, Any]) -> int | None:
    """How many validation images one evaluation saw (``trainer.limit_val_batches`` may cut the split)."""
    total = data.get("val_images")
    if not total:
        return None
    batches = trainer.num_val_batches[0] if trainer.num_val_batches else None
    batch = getattr(trainer.datamodule, "batch_size", None)
    return min(total, int(batches) * batch) if batches and batch and not math.isinf(batches) else total


def _train_images_per_second(trainer) -> float | None:
    """Training images/s over the last ThroughputMonitor window (all ranks); None for runs shorter than a window."""
    logged = trainer.logged_metrics
    if "train/samples_per_sec" in logged:  # reported when world_size > 1
        return float(logged["train/samples_per_sec"])
    if "train/device/samples_per_sec" in logged:
        return float(logged["train/device/samples_per_sec"]) * trainer.world_size
    return None


def _finish_wandb(loggers: list[Any]) -> None:
    """One W&B run per sweep job: close it even when the job failed (docs/reference.md#wandb-one-run-per-job)."""
    if any(type(logger).__name__ == "WandbLogger" for logger in loggers):
        import wandb

        wandb.finish()


def _wandb_info(loggers: list[Any]) -> dict[str, Any] | None:
    for logger in loggers:
        if type(logger).__name__ == "WandbLogger":
            experiment = logger.experiment
            return {"run_path": getattr(experiment, "path", None), "url": getattr(experiment, "url", None),
                    "id": getattr(experiment, "id", None)}
    return None


def record_failure(cfg: DictConfig, reason: str) -> None:
    """Write a ``failed`` results.json (rank zero only; never over an existing record)."""
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    run_dir = Path(cfg.paths.output_dir)
    if rank_zero_only.rank != 0 or (run_dir / FILENAME).exists():
        return
    overrides = job_overrides()
    write_results(
        run_dir,
        {
            "status": "failed",
            "reason": reason,
            "run_name": run_name(overrides),
            "overrides": overrides,
            "experiment": OmegaConf.select(cfg, "experiment_name"),
            "output_dir": str(run_dir),
            "model": {"name": OmegaConf.select(cfg, "model.name")},
            "metrics": {"final": None, "best": None},
            "config": OmegaConf.to_container(cfg, resolve=False),
            **environment(),
        },
    )


def run_job(cfg: DictConfig) -> float | None:
    """One job of the ``inception-lab`` console script (``main``). Returns the best val top-1 of a completed run (the
    value a Hydra sweeper optimises; None for a diverged or failed one). A module-level function of its own so that launchers that ship the job to another process
    (submitit) pickle it by reference."""
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


class CheckBeforeRun(HydraCallback):
    """Bad input ends the command before Hydra creates or writes the run directory (and before Lightning is
    imported): every config value (``check_config``), the checkpoint to resume, and a run directory that already
    holds a run. One ``error:`` line, exit status 2, no file written. A sweep checks the values it does not sweep
    and a fixed ``hydra.sweep.dir``; its jobs check their own values in ``train``."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            check_config(config)
            if not is_relaunched_rank():  # Lightning's own ranks of a run that passed this already
                resume_from = resolve_checkpoint(config, list(config.hydra.overrides.task),
                                                 Path(config.hydra.run.dir))
                check_run_dir(Path(config.hydra.run.dir), resume_from, bool(config.get("overwrite")))
        except RunError as err:
            fail(err)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            check_config(config)
            check_sweep_dir(Path(config.hydra.sweep.dir), resuming=config.get("ckpt_path") not in (None, ""),
                            overwrite=bool(config.get("overwrite")))
        except RunError as err:
            fail(err)


class SweepSummary(HydraCallback):
    """At the end of a ``--multirun`` sweep: tally completed / diverged / failed jobs from their results.json;
    the sweep exits non-zero when any job failed (diverged jobs are results, not failures)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if config.hydra.launcher._target_ == "hydra_plugins.inception_lab_plan.PlanLauncher":
            return  # a dry run (hydra/launcher=plan): no job ran, nothing to tally
        sweep_dir = Path(config.hydra.sweep.dir)
        counts = {"completed": 0, "diverged": 0, "failed": 0, "missing": 0}
        for job_dir in sorted(p for p in sweep_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
            try:
                counts[read_results(job_dir)["status"]] += 1
            except ResultsError:
                counts["missing"] += 1
        total = sum(counts.values())
        line = ", ".join(f"{n} {status}" for status, n in counts.items() if n or status != "missing")
        console.print(f"[bold]sweep[/] {sweep_dir}: {total} jobs: {line}", highlight=False, soft_wrap=True)
        if total == 0:
            print_error("the sweep ran no job (a glob that matched no option? a whole experiment table is "
                        "'+experiment/table3=glob(*)')")
        if counts["failed"] or counts["missing"] or total == 0:
            sys.exit(1)


if __name__ == "__main__":
    main()
