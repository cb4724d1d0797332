"""InceptionClassifier: the one LightningModule that trains every network of the zoo.

Loss (docs/reference.md#aux-weight, #label-smoothing): cross-entropy with label smoothing on the main logits plus ``aux_weight`` times the
same loss on each auxiliary head. Metrics: top-1 / top-5 accuracy (torchmetrics), synchronised across ranks.
Optimizer and scheduler come from config as Hydra partials. A non-finite loss, or one above
``divergence_bound``, stops the run cleanly and is recorded (``diverged_at_step``), never raised.

A training step reads nothing back from the device (no ``.item()``, ``bool(tensor)``, NaN check or cross-rank
vote per step), so a GPU is never left idle waiting for the host: the first bad step is kept in a device tensor
and looked at every ``trainer.log_every_n_steps`` steps and at the end of each epoch (one read, one all-reduce
under DDP). A run that diverges therefore trains at most that many steps more before it stops; what it records is
the first bad step.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.fabric.utilities.data import _set_sampler_epoch
from lightning.pytorch.utilities import rank_zero_info
from torch import nn
from torch.nn import functional as F
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from inception_lab.optim import create_optimizer, head_names

DEFAULT_AUX_WEIGHT = 0.4  # the networks' own value is model.defaults.aux_weight (0.3 for GoogLeNet)
NOT_DIVERGED = torch.iinfo(torch.int64).max  # "no bad step yet" in the device-side first-bad-step tensor


class InceptionClassifier(L.LightningModule):
    """Train any ``nn.Module`` that returns logits, or ``(logits, *aux_logits)`` in training mode.

    Args:
        model: the network.
        optimizer: ``params -> torch.optim.Optimizer`` (a Hydra partial).
        scheduler: ``(optimizer, steps_per_epoch, max_epochs) -> LRScheduler`` stepped every optimizer step, or None.
        num_classes: number of classes (top-5 becomes top-min(5, K)).
        label_smoothing: epsilon of Rethinking §7.
        aux_weight: weight of each auxiliary head's loss.
        channels_last: NHWC weights and inputs (faster convolutions with oneDNN on CPUs and on tensor-core GPUs).
        divergence_bound: a finite loss above this counts as diverged.
        config: the run's resolved config as plain containers; saved in checkpoints (weights_only-safe) so
            evaluation can rebuild the network.
        backbone_lr_mult: the backbone's learning rate as a fraction of the head's (fine-tuning; 1 = one rate).
        schedule_horizon: on a resume with another ``max_epochs``: ``original`` keeps the schedule's planned
            epochs, ``stretch`` re-plans it over the new ones.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None,
        num_classes: int,
        label_smoothing: float = 0.0,
        aux_weight: float = DEFAULT_AUX_WEIGHT,
        channels_last: bool = False,
        divergence_bound: float = 1.0e4,
        config: dict | None = None,
        backbone_lr_mult: float = 1.0,
        schedule_horizon: str = "original",
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["model", "optimizer", "scheduler"])
        self.model = model.to(memory_format=torch.channels_last) if channels_last else model
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        top_k = min(5, num_classes)
        # nan_strategy="disable": no per-update NaN scan (a host read); a diverged epoch's mean is NaN, as it should
        self.train_loss = MeanMetric(nan_strategy="disable")
        self.train_loss.persistent(True)  # the epoch's running mean survives a mid-epoch resume
        self.val_loss = MeanMetric(nan_strategy="disable")
        self.val_top1 = MulticlassAccuracy(num_classes=num_classes, top_k=1, average="micro")
        self.val_top5 = MulticlassAccuracy(num_classes=num_classes, top_k=top_k, average="micro")
        self.history: list[dict[str, float]] = []  # one row per validation epoch; saved in checkpoints
        self.diverged_at_step: int | None = None
        self._first_bad_step: torch.Tensor | None = None  # on the device; NOT_DIVERGED until a step goes bad
        self._first_bad_loss: torch.Tensor | None = None  # the loss at that step, on the device
        self.schedule_epochs: int | None = None  # the epochs the lr schedule is planned over (kept across resumes)
        self.diverged_loss: float | None = None  # read with diverged_at_step (None: another rank diverged first)
        self._checked_at_step = -1
        self._first_train_loss: torch.Tensor | float | None = None  # a device tensor until first read
        self._rng_states_to_restore: dict[str, Any] | None = None
        self._train_clock_origin = time.monotonic()

    # ---- forward and loss -------------------------------------------------------------------------------------
    def forward(self, images: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        # loaders collate channels_last (data/base.py): a no-op then, one copy when the network runs NCHW
        fmt = torch.channels_last if self.hparams.channels_last else torch.contiguous_format
        return self.model(images.contiguous(memory_format=fmt))

    def compute_loss(self, outputs, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (total loss, main logits). Auxiliary heads (if any) add ``aux_weight`` x their loss each."""
        logits, *aux = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
        smoothing = self.hparams.label_smoothing
        loss = F.cross_entropy(logits, targets, label_smoothing=smoothing)
        for aux_logits in aux:
            loss = loss + self.hparams.aux_weight * F.cross_entropy(aux_logits, targets, label_smoothing=smoothing)
        return loss, logits

    # ---- steps ------------------------------------------------------------------------------------------------
    def training_step(self, batch, batch_idx: int):
        images, targets = batch
        loss, _ = self.compute_loss(self(images), targets)
        value = loss.detach()
        self._watch_divergence(value)
        if self._first_train_loss is None:
            self._first_train_loss = value.clone()
        self.train_loss.update(value)
        self.log("train/loss", value, on_step=True, on_epoch=False, batch_size=len(targets))
        return loss

    @property
    def first_train_loss(self) -> float | None:
        """The loss of the first training step (read from the device on first use)."""
        if isinstance(self._first_train_loss, torch.Tensor):
            self._first_train_loss = float(self._first_train_loss)
        return self._first_train_loss

    def _watch_divergence(self, loss: torch.Tensor) -> None:
        """Remember the first step whose loss is non-finite or above the bound, on the device (no host read)."""
        if self._first_bad_step is None or self._first_bad_step.device != loss.device:
            self._first_bad_step = torch.full((), NOT_DIVERGED, dtype=torch.int64, device=loss.device)
            self._first_bad_loss = torch.full((), float("nan"), device=loss.device)
        bad = ~torch.isfinite(loss) | (loss > self.hparams.divergence_bound)
        step = torch.where(bad, self.global_step, NOT_DIVERGED)
        self._first_bad_loss = torch.where(step < self._first_bad_step, loss.float(), self._first_bad_loss)
        self._first_bad_step = torch.minimum(self._first_bad_step, step)

    def check_divergence(self) -> bool:
        """Read the first bad step (the earliest on any rank): record it and stop the run. Called on every rank at
        the same points (every ``log_every_n_steps`` batches, epoch and fit end), as it all-reduces."""
        if self.diverged_at_step is not None:
            return True
        if self._first_bad_step is None:
            return False
        first = self._first_bad_step.clone()
        if self.trainer.world_size > 1:
            first = self.trainer.strategy.reduce(first, reduce_op="min")
        step = int(first)
        if step == NOT_DIVERGED:
            return False
        self.diverged_at_step = step
        if int(self._first_bad_step) == step:  # this rank saw the first bad loss (else another rank did)
            self.diverged_loss = float(self._first_bad_loss)
        self.trainer.should_stop = True
        return True

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        every = max(1, int(self.trainer.log_every_n_steps or 1))
        step = self.global_step  # optimizer steps so far: the same on every rank, and logging steps are its multiples
        if step % every == 0 and step != self._checked_at_step:
            self._checked_at_step = step
            self.check_divergence()

    def on_train_end(self) -> None:
        self.check_divergence()  # steps after the epoch's last check (max_steps reached mid-epoch)

    def on_train_epoch_start(self) -> None:
        self.train_loss.reset()

    def _epoch_train_loss(self) -> float | None:
        """Mean training loss of the current epoch so far (synchronised across ranks)."""
        return float(self.train_loss.compute()) if self.train_loss.update_called else None

    def on_train_epoch_end(self) -> None:
        self.check_divergence()
        loss = self._epoch_train_loss()
        if loss is not None:
            self.log("train/loss_epoch", loss, sync_dist=True)  # already synced: a no-op mean

    def validation_step(self, batch, batch_idx: int) -> None:
        images, targets = batch
        loss, logits = self.compute_loss(self(images), targets)
        self.val_loss.update(loss)
        self.val_top1.update(logits, targets)
        self.val_top5.update(logits, targets)

    def on_validation_epoch_end(self) -> None:
        row = {
            "epoch": int(self.current_epoch),
            "step": int(self.global_step),
            "val_loss": float(self.val_loss.compute()),
            "val_top1": float(self.val_top1.compute()),
            "val_top5": float(self.val_top5.compute()),
        }
        for name in ("val_loss", "val_top1", "val_top5"):
            self.log(name.replace("val_", "val/"), row[name], prog_bar=name != "val_loss", sync_dist=True)
        for metric in (self.val_loss, self.val_top1, self.val_top5):
            metric.reset()
        if not self.trainer.sanity_checking:
            row["train_loss"] = self._epoch_train_loss()  # validation runs before on_train_epoch_end
            row["lr"] = float(self.trainer.optimizers[0].param_groups[0]["lr"]) if self.trainer.optimizers else None
            row["train_time_s"] = time.monotonic() - self._train_clock_origin  # time to accuracy (BENCHMARKS.md)
            self.history.append(row)

    @property
    def backbone(self) -> nn.ModuleList:
        """The network without its classifier and aux heads (what Lightning's BackboneFinetuning freezes); a view,
        not a registered sub-module, so state-dict keys stay ``model.<...>``."""
        heads = head_names(self.model)
        return nn.ModuleList(m for name, m in self.model.named_children() if name not in heads)

    # ---- optimisation -----------------------------------------------------------------------------------------
    def configure_optimizers(self):
        # no decay on BN / biases (docs/reference.md#weight-decay-and-init); a slower backbone when fine-tuning
        optimizer = create_optimizer(self.optimizer_factory, self.model, self.hparams.backbone_lr_mult)
        if self.scheduler_factory is None:
            return optimizer
        total_steps = self.trainer.estimated_stepping_batches  # also sets up the loader: num_training_batches
        steps_per_epoch = max(1, math.ceil(self.trainer.num_training_batches / self.trainer.accumulate_grad_batches))
        max_epochs = self.trainer.max_epochs
        if not max_epochs or max_epochs < 1:  # trained by max_steps
            max_epochs = max(1, math.ceil(total_steps / steps_per_epoch))
        planned = self.schedule_epochs  # set by on_load_checkpoint: the horizon the resumed run planned
        if planned is not None and planned != max_epochs:
            if self.hparams.schedule_horizon == "original":
                rank_zero_info(f"note: resuming with {max_epochs} epochs; the schedule keeps the {planned}-epoch "
                               "horizon it was planned with (schedule_horizon=stretch re-plans it over "
                               f"{max_epochs} epochs, and the learning rate jumps back up)")
                max_epochs = planned
            else:
                rank_zero_info(f"note: schedule_horizon=stretch: the schedule planned for {planned} epochs is "
                               f"re-planned over {max_epochs}")
        self.schedule_epochs = max_epochs
        scheduler = self.scheduler_factory(optimizer, steps_per_epoch=steps_per_epoch, max_epochs=max_epochs)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # ---- state that must survive resume -----------------------------------------------------------------------
    # Lightning restores weights, optimizer, scheduler, callbacks (EMA) and loop progress, and the training loader's
    # position (StatefulDataLoader, data/base.py); the random streams that dropout and batch-wise augmentation draw
    # from are saved here, so a resumed run continues exactly where the interrupted one stopped.
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["inception_lab"] = {
            "history": self.history,
            "diverged_at_step": self.diverged_at_step,
            "schedule_epochs": self.schedule_epochs,
            "first_train_loss": self.first_train_loss,
            "rng_states": collect_rng_states(),
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint.get("inception_lab", {})
        self.history = list(state.get("history", []))
        self.diverged_at_step = state.get("diverged_at_step")
        self.schedule_epochs = state.get("schedule_epochs")
        self._first_train_loss = state.get("first_train_loss")
        self._rng_states_to_restore = state.get("rng_states")

    def on_train_start(self) -> None:
        restore_train_loader_position(self.trainer)
        # wall time inside fit up to each validation; a resumed run continues from its checkpoint's last value
        previous = self.history[-1].get("train_time_s", 0.0) if self.history else 0.0
        self._train_clock_origin = time.monotonic() - previous

    def on_before_batch_transfer(self, batch, dataloader_idx: int):
        # Restored when the first batch after the load arrives, before its device-side augmentation; not at load
        # time: building the loaders and their iterators after the load draws from the global generator, which the
        # interrupted run had done before it saved these states.
        if self._rng_states_to_restore is not None and self.trainer.training:
            set_rng_states(self._rng_states_to_restore)
            self._rng_states_to_restore = None
        return batch


def restore_train_loader_position(trainer: L.Trainer) -> None:
    """Hand the checkpoint's training-loader state to the loader, when Lightning did not (Lightning issue #20550).

    ``configure_optimizers`` reads ``trainer.estimated_stepping_batches`` (the schedules need the step count), which
    builds the training loader before the checkpoint is restored; the fit loop then keeps that loader and drops the
    saved loader state, so a mid-epoch resume would restart the epoch's data order. This loads the pending state
    and re-creates the loader's iterator, as Lightning's own resume path does, after setting the epoch of a
    ``DistributedSampler`` (Lightning sets it only after its iterator exists). A no-op when nothing is pending
    (a fresh run, an epoch-end checkpoint once Lightning loads it itself).
    """
    fit_loop = trainer.fit_loop
    if getattr(fit_loop, "_combined_loader_states_to_load", None) and fit_loop.restarting:
        for loader in fit_loop._combined_loader.flattened:  # a DistributedSampler's order depends on the epoch
            _set_sampler_epoch(loader, fit_loop.epoch_progress.current.processed)
        fit_loop._load_combined_loader_states()
        iter(fit_loop._data_fetcher)


def collect_rng_states() -> dict[str, Any]:
    """The global random streams (torch CPU and CUDA, numpy, Python) as ``weights_only``-loadable values."""
    kind, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "position": int(position),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)},
        "python": random.getstate(),
    }


def set_rng_states(states: dict[str, Any]) -> None:
    """Inverse of ``collect_rng_states``; CUDA states are restored when the device count matches."""
    torch.set_rng_state(states["torch"])
    cuda = states.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    n = states["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["position"], n["has_gauss"],
                         n["cached_gaussian"]))
    version, internal, gauss_next = states["python"]
    random.setstate((version, tuple(internal), gauss_next))


def batch_size(batch) -> int:
    """Images in an ``(images, labels)`` batch (for Lightning's ThroughputMonitor)."""
    return int(batch[0].shape[0])
