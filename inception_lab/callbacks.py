"""Lightning callbacks, adjusted so that a training step never waits for the device.

Both subclass Lightning's own callback and keep its behaviour, checkpoint format and config keys; what changes is
how often they read from the device:

- ``EMAWeightAveraging``: Lightning's ``AveragedModel.update_parameters`` walks the parameters and buffers one by
  one in Python (about 600 tensors for Inception-v3, 1,300 for Inception-ResNet-v2) and reads its update counter
  on the host twice per update (a device sync on a GPU). This one updates all of them with one multi-tensor
  ``torch._foreach_lerp_`` per dtype and device, over tensor lists built once, and reads nothing.
  It also ramps the decay as TensorFlow's ``ExponentialMovingAverage(num_updates=global_step)`` does,
  ``min(decay, (1 + n) / (10 + n))`` after ``n`` optimizer steps, so a short run's average is not stuck near the
  initial weights (0.9999 averages over ~10,000 steps).
- ``ThroughputMonitor``: Lightning's waits for the GPU (``torch.cuda.synchronize``) after every training batch
  to time it. This one counts every batch but waits and takes a time stamp only on logging steps
  (``trainer.log_every_n_steps``), so ``window_size`` is counted in logging intervals, not batches.
"""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch.callbacks import EMAWeightAveraging as _LightningEMA
from lightning.pytorch.callbacks import ThroughputMonitor as _LightningThroughputMonitor
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.types import STEP_OUTPUT


def ema_decay(decay: float, num_updates: int, ramp: bool = True) -> float:
    """The decay used after ``num_updates`` optimizer steps: TensorFlow's ramp ``min(decay, (1+n)/(10+n))``."""
    return min(decay, (1.0 + num_updates) / (10.0 + num_updates)) if ramp else decay


class EMAWeightAveraging(_LightningEMA):
    """Lightning's EMA callback with a multi-tensor, sync-free update and TensorFlow's decay ramp.

    Args:
        decay: the largest decay (TF convention 0.9999).
        ramp: use ``min(decay, (1 + n) / (10 + n))`` after ``n`` optimizer steps (TensorFlow's ``num_updates``);
            ``false`` = the constant decay.
        use_buffers, update_every_n_steps, update_starting_at_step, update_starting_at_epoch, device: as
            Lightning's ``EMAWeightAveraging``. Floating-point buffers (BN running statistics) are averaged like
            the weights; integer buffers (``num_batches_tracked``) are copied.
    """

    def __init__(self, decay: float = 0.999, ramp: bool = True, **kwargs: Any) -> None:
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"EMA decay must be in [0, 1], got {decay}")
        super().__init__(decay=decay, **kwargs)
        self.decay = float(decay)
        self.ramp = bool(ramp)
        self._pairs: list[tuple[list[torch.Tensor], list[torch.Tensor], bool]] | None = None

    def _tensor_pairs(self, pl_module) -> list[tuple[list[torch.Tensor], list[torch.Tensor], bool]]:
        """(average tensors, model tensors, floating point) per (device, dtype), built on the first update.

        The lists hold the very tensors of both models: Lightning's swaps for validation and checkpoint loads
        copy values into them (``.data.copy_``, ``load_state_dict``), so they stay valid for the whole fit."""
        if self._pairs is None:
            assert self._average_model is not None
            average = self._average_model.module
            if self._use_buffers:
                pairs = zip([*average.parameters(), *average.buffers()], [*pl_module.parameters(), *pl_module.buffers()],
                            strict=True)
            else:
                pairs = zip(list(average.parameters()), list(pl_module.parameters()), strict=True)
            groups: dict[tuple, tuple[list[torch.Tensor], list[torch.Tensor], bool]] = {}
            for avg, cur in pairs:
                key = (avg.device, avg.dtype, cur.device)
                group = groups.setdefault(key, ([], [], avg.is_floating_point()))
                group[0].append(avg.detach())
                group[1].append(cur.detach())
            self._pairs = list(groups.values())
        return self._pairs

    @torch.no_grad()
    def update_average(self, pl_module, num_updates: int) -> None:
        """One EMA step: ``average += (1 - decay_n) * (current - average)`` for every tensor, no host read."""
        weight = 1.0 - ema_decay(self.decay, num_updates, self.ramp)
        for averages, currents, floating in self._tensor_pairs(pl_module):
            if currents[0].device != averages[0].device:  # the average lives elsewhere (device="cpu")
                currents = [c.to(averages[0].device, non_blocking=True) for c in currents]
            if floating:
                torch._foreach_lerp_(averages, currents, weight)
            else:
                torch._foreach_copy_(averages, currents)
        if not self._use_buffers:  # Lightning's AveragedModel keeps the buffers equal to the model's then
            for b_avg, b_cur in zip(self._average_model.module.buffers(), pl_module.buffers(), strict=True):
                b_avg.detach().copy_(b_cur.detach())
        self._average_model.n_averaged.add_(1)  # device-side; kept so the checkpoint's averaging_state is complete

    def on_train_batch_end(self, trainer, pl_module, outputs: STEP_OUTPUT, batch: Any, batch_idx: int) -> None:
        step_idx = trainer.global_step - 1  # as Lightning's: zero-based index of the last optimizer step
        if trainer.global_step > self._latest_update_step and self.should_update(step_idx=step_idx):
            self.update_average(pl_module, num_updates=trainer.global_step)
            self._latest_update_step = trainer.global_step

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.current_epoch > self._latest_update_epoch and self.should_update(epoch_idx=trainer.current_epoch):
            self.update_average(pl_module, num_updates=trainer.global_step)
            self._latest_update_epoch = trainer.current_epoch


class ThroughputMonitor(_LightningThroughputMonitor):
    """Lightning's ``ThroughputMonitor`` that waits for the device only on logging steps (see the module doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._uncounted = [0, 0, 0]  # samples, batches, lengths since the last time stamp

    def _start(self, trainer) -> None:
        super()._start(trainer)
        self._uncounted = [0, 0, 0]

    @rank_zero_only
    def on_train_batch_end(self, trainer, pl_module, outputs: Any, batch: Any, *args: Any) -> None:
        stamp = trainer._logger_connector.should_update_logs and not trainer.fit_loop._should_accumulate()
        if not stamp:
            self._uncounted[0] += self.batch_size_fn(batch)
            self._uncounted[1] += 1
            if self.length_fn is not None:
                self._uncounted[2] += self.length_fn(batch)
            return
        stage = trainer.state.stage
        samples, batches, lengths = self._uncounted
        self._samples[stage] += samples
        self._batches[stage] += batches
        self._lengths[stage] += lengths
        self._uncounted = [0, 0, 0]
        super().on_train_batch_end(trainer, pl_module, outputs, batch, *args)
