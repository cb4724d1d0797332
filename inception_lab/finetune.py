"""Fine-tuning trained weights on new classes: what to freeze, and when the backbone trains again.

``Finetuning`` is a Lightning ``BaseFinetuning`` callback (``+experiment=finetune/<model>`` configures it; README
"Fine-tuning"):

- ``freeze: none`` trains everything; ``backbone`` trains only the heads (``fc`` and the aux heads,
  ``optim.head_names``); ``bn`` freezes every BatchNorm layer of the backbone: scale, offset *and* running
  statistics, so the layers keep normalising with the source's statistics, which the batches of a small data set
  would only make noisier. Frozen BatchNorm layers are held in eval mode while training (Lightning's ``freeze``
  turns ``track_running_stats`` off instead, which normalises with each training batch's statistics).
- The backbone's lower learning rate (``finetune.backbone_lr_mult`` x the head's) comes from the optimizer's
  parameter groups (``optim.weight_decay_groups``, four groups: head / backbone x decayed / not decayed).
- ``unfreeze_at_epoch: N`` (with ``freeze: backbone``) is gradual unfreezing as Lightning's ``BackboneFinetuning``
  does it: from epoch N the backbone trains at ``backbone_lr_mult`` x the head's rate, a ratio doubled every epoch
  until it reaches 1. ``BackboneFinetuning`` itself adds the backbone to the optimizer as a new parameter group,
  which every torch 2.13 scheduler refuses at its next step (``zip() argument 2 is shorter than argument 1``:
  a scheduler fixes its groups when it is built; pytorch issue 62475), and which would decay BatchNorm and
  biases. Here the backbone groups exist from the start, empty while frozen: unfreezing moves the parameters into
  them and scales their base rate in the scheduler (``base_lrs``, saved with the scheduler, so a resumed run
  continues the ramp).

Gradual unfreezing is single-process only: DDP fixes the parameters it synchronises when it wraps the model, so
parameters unfrozen later would train on each rank's gradients alone (refused before training).
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch.callbacks import BaseFinetuning
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.optim import Optimizer

FREEZE_CHOICES = ("none", "backbone", "bn")
RAMP_FACTOR = 2.0  # Lightning's BackboneFinetuning `multiplicative` rule: the backbone's rate doubles per epoch


class FinetuneError(ValueError):
    """An impossible fine-tuning setting; the message says which and how to fix it."""


class Finetuning(BaseFinetuning):
    """Freeze ``none | backbone | bn`` of ``pl_module.backbone``; with ``unfreeze_at_epoch``, release it then.

    Args:
        freeze: what does not train from the first step (module docstring).
        unfreeze_at_epoch: with ``freeze="backbone"``, the epoch from which the backbone trains; None = never.
        backbone_lr_mult: the backbone's learning rate as a fraction of the head's (the module's parameter groups
            use the same value); after unfreezing it doubles every epoch up to 1.
    """

    def __init__(self, freeze: str = "none", unfreeze_at_epoch: int | None = None,
                 backbone_lr_mult: float = 0.1) -> None:
        super().__init__()
        if freeze not in FREEZE_CHOICES:
            raise FinetuneError(f"finetune.freeze must be one of {', '.join(FREEZE_CHOICES)}, got {freeze!r}")
        if unfreeze_at_epoch is not None:
            if freeze != "backbone":
                raise FinetuneError(f"finetune.unfreeze_at_epoch={unfreeze_at_epoch} needs finetune.freeze=backbone "
                                    f"(got freeze={freeze}); set the freeze or drop the unfreeze epoch")
            if int(unfreeze_at_epoch) < 1:
                raise FinetuneError(f"finetune.unfreeze_at_epoch must be >= 1 (got {unfreeze_at_epoch}); "
                                    "use finetune.freeze=none to train the backbone from the start")
        if not float(backbone_lr_mult) > 0:
            raise FinetuneError(f"finetune.backbone_lr_mult must be positive, got {backbone_lr_mult}")
        self.freeze_mode = freeze
        self.unfreeze_at_epoch = None if unfreeze_at_epoch is None else int(unfreeze_at_epoch)
        self.backbone_lr_mult = float(backbone_lr_mult)
        self._frozen_bn: list[nn.Module] = []
        self._unfrozen = False

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if self.unfreeze_at_epoch is not None and trainer.world_size > 1:
            raise FinetuneError("finetune.unfreeze_at_epoch runs on one process only (DDP fixes its parameters when "
                                "it wraps the model); fine-tune with trainer.devices=1 or finetune.freeze=none")
        super().setup(trainer, pl_module, stage)  # freeze_before_training, before the optimizer and DDP exist

    # ---- freezing -----------------------------------------------------------------------------------------------
    def freeze_before_training(self, pl_module: Any) -> None:
        if self.freeze_mode == "none":
            return
        for module in self.flatten_modules(pl_module.backbone):
            if self.freeze_mode == "backbone" or isinstance(module, _BatchNorm):
                for param in module.parameters(recurse=False):
                    param.requires_grad = False
        self._frozen_bn = [m for m in pl_module.backbone.modules() if isinstance(m, _BatchNorm)]
        self._hold_frozen_bn()

    def _hold_frozen_bn(self) -> None:
        """Frozen BatchNorm normalises with its running statistics and never updates them: eval mode."""
        for module in self._frozen_bn:
            module.eval()

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        # BaseFinetuning's version also records the optimizer's groups to rebuild them on resume; these groups never
        # change in number, so the optimizer's own state_dict restores them
        for optimizer in trainer.optimizers:
            self.finetune_function(pl_module, trainer.current_epoch, optimizer)
        self._hold_frozen_bn()

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        self._hold_frozen_bn()  # whatever called .train() in between (a validation loop, user code)

    # ---- unfreezing ---------------------------------------------------------------------------------------------
    def finetune_function(self, pl_module: Any, epoch: int, optimizer: Optimizer) -> None:
        if self.unfreeze_at_epoch is None or epoch < self.unfreeze_at_epoch:
            return
        if not self._unfrozen:
            self._release(pl_module, optimizer)
        if epoch > self.unfreeze_at_epoch:
            self._ramp(pl_module.trainer, optimizer)

    def _release(self, pl_module: Any, optimizer: Optimizer) -> None:
        """The backbone trains from here on: trainable, in its parameter groups, BatchNorm in the module's mode."""
        self.make_trainable(pl_module.backbone)
        self._frozen_bn = []
        pl_module.backbone.train(pl_module.training)
        groups = [g for g in optimizer.param_groups if "lr_mult" in g] or optimizer.param_groups[:2]
        decay, no_decay = groups[0], groups[1]
        present = {id(p) for group in optimizer.param_groups for p in group["params"]}
        for param in pl_module.backbone.parameters():
            if id(param) not in present:
                (no_decay if param.ndim <= 1 else decay)["params"].append(param)
        self._unfrozen = True

    def _ramp(self, trainer: Any, optimizer: Optimizer) -> None:
        """Double the backbone groups' rate relative to the head's, up to the head's (BackboneFinetuning's rule)."""
        head = optimizer.param_groups[0]
        schedulers = [c.scheduler for c in trainer.lr_scheduler_configs if c.scheduler.optimizer is optimizer]
        for index, group in enumerate(optimizer.param_groups):
            if "lr_mult" not in group:
                continue
            group["lr_mult"] = min(1.0, group["lr_mult"] * RAMP_FACTOR)
            for scheduler in schedulers:
                scheduler.base_lrs[index] = scheduler.base_lrs[0] * group["lr_mult"]
            group["lr"] = head["lr"] * group["lr_mult"]

    # ---- resume: the optimizer and scheduler restore their groups; the backbone must be trainable again too ------
    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        if self._unfrozen:  # resumed after the unfreeze epoch: setup() froze the backbone again
            for optimizer in trainer.optimizers:
                self._release(pl_module, optimizer)

    def state_dict(self) -> dict[str, Any]:
        return {"unfrozen": self._unfrozen}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._unfrozen = bool(state_dict.get("unfrozen", False))
