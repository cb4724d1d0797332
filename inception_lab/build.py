"""A run's parts from its composed config: the network, the LightningModule, the Trainer with its callbacks and
loggers (lightning-hydra-template's ``utils/instantiators.py`` in spirit). ``inception_lab/cli/train.py`` wires them.
"""

from __future__ import annotations

import sys
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from inception_lab.validation import RunError, check_arguments


def build_model(cfg: DictConfig, num_classes: int, channels: int, image_size: int):
    """``create_model`` from the model group; returns the network and the kwargs that rebuild it
    (``create_model(**model_args)``, recorded for eval and report). ``aux_logits: auto`` = aux heads on only where
    the input allows them, so small-input runs train without them instead of failing."""
    from inception_lab.models import create_model
    from inception_lab.models.cost import aux_heads_fit

    switches = {k: v for k, v in OmegaConf.to_container(cfg.model, resolve=True).items() if k != "name"}
    pretrained = switches.pop("pretrained", None)  # weights to start from; they set the switches they need
    if switches.get("aux_logits") == "auto":
        switches["aux_logits"] = aux_heads_fit(cfg.model.name, image_size, channels, pretrained,
                                               num_classes=num_classes, **switches)
    model = create_model(cfg.model.name, pretrained, num_classes=num_classes, in_chans=channels, **switches)
    if pretrained is not None:  # create_model(**model_args) rebuilds this network without the weights
        return model, dict(model.pretrained_cfg.model_args)
    return model, {"name": cfg.model.name, "num_classes": num_classes, "in_chans": channels, **switches}


def pretrained_record(model) -> dict[str, Any]:
    """The conventions of the weights a run started from (``pretrained`` in the checkpoint's config), so that
    evaluation and a later fine-tune normalise and crop as the weights expect."""
    cfg = getattr(model, "pretrained_cfg", None)
    return {"pretrained": {k: v for k, v in cfg.to_dict().items() if k != "class_names"}} if cfg else {}


def build_module(cfg: DictConfig, model, datamodule, config: dict[str, Any], forward_flops: float):
    """The one LightningModule every variant trains with: the optimizer / scheduler partials, the regularizer
    (label smoothing, aux weight: the model family's unless set), divergence bound, compile."""
    import torch

    from inception_lab.module import InceptionClassifier

    if torch.cuda.is_available():
        torch.set_float32_matmul_precision(cfg.matmul_precision)
    aux_weight = cfg.regularizer.aux_weight
    module = InceptionClassifier(
        model=model,
        optimizer=hydra.utils.instantiate(cfg.optimizer),
        scheduler=hydra.utils.instantiate(cfg.scheduler) if cfg.get("scheduler") else None,
        num_classes=datamodule.num_classes,
        label_smoothing=cfg.regularizer.label_smoothing,
        aux_weight=model.defaults.aux_weight if aux_weight is None else float(aux_weight),
        channels_last=bool(cfg.channels_last),
        divergence_bound=cfg.divergence.loss_bound,
        config={**config, **pretrained_record(model)},
        backbone_lr_mult=float(OmegaConf.select(cfg, "finetune.backbone_lr_mult", default=1.0)),  # +experiment=finetune/..
        schedule_horizon=str(cfg.schedule_horizon),
    )
    if cfg.compile:  # in place (nn.Module.compile): checkpoint keys stay model.<...>, resumable with compile off
        module.model.compile(**OmegaConf.to_container(cfg.compile_options, resolve=True))
    module.flops_per_batch = 3 * forward_flops * datamodule.batch_size  # forward + backward ~ 3x forward
    return module


def resolve_precision(precision: Any) -> Any:
    """``auto``: bf16 mixed precision on a bf16-capable CUDA device (fast by default), else fp32 (bf16 on a CPU
    without AMX is many times slower than fp32)."""
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


def build_trainer(cfg: DictConfig):
    """The Trainer from the trainer group, with the callbacks and loggers groups; returns it and its loggers."""
    import lightning as L
    from lightning.pytorch.accelerators import CPUAccelerator

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
    return trainer, loggers
