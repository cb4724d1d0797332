"""What a run prints while it trains: one plain line per epoch (logs, pipes, SLURM files, and the run's own
``<run dir>/<job>.log``), and none of the library chatter a user cannot act on.

On a terminal the rich progress bar shows the steps; everywhere else a redrawn bar would be carriage-return
spam, so the epoch lines are the progress. The same lines always go to the ``inception_lab`` logger, which
Hydra's job logging writes to the run directory's log file, so the file holds the metrics too.
"""

from __future__ import annotations

import logging
import math
import sys
import warnings
from typing import Any

from lightning.pytorch.callbacks import Callback

log = logging.getLogger("inception_lab")

# Lightning's messages that say nothing about this run (an advert, device lines a CPU user cannot act on) or that
# our own output already says better. Each entry is a prefix of the message.
_QUIET_INFO = (
    "💡 Tip: For seamless cloud logging",
    "GPU available:",
    "TPU available:",
    "HPU available:",
    "Loading `train_dataloader` to estimate number of stepping batches",
)
_QUIET_WARNINGS = (
    r".*isinstance\(treespec, LeafSpec\)` is deprecated",  # inside Lightning's own pytree helper, not ours
    r"The dirpath has changed from",  # a resume writes into its new run dir by design (the summary says resumed)
    r"You have overridden `on_before_batch_transfer` in `LightningModule`",  # deliberate: the module owns it
    r"The number of training batches \(\d+\) is smaller than the logging interval",
)


class _DropPrefixes(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith(_QUIET_INFO)


def quiet_library_noise() -> None:
    """Filter the chatter listed above (idempotent); everything else Lightning says still comes through."""
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        target = logging.getLogger(name)
        if not any(isinstance(f, _DropPrefixes) for f in target.filters):
            target.addFilter(_DropPrefixes())
    for pattern in _QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)


def _number(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


class EpochLines(Callback):
    """After each validation epoch: ``epoch 3/10  step 69  train/loss 0.412  val/loss 0.198  val/top1 95.28%  ...``.

    Read from the module's ``history`` row (the numbers results.json records). Printed to stdout when stdout is
    not a terminal (``echo=None``) and always logged to the ``inception_lab`` logger (the run directory's log)."""

    def __init__(self, echo: bool | None = None) -> None:
        self.echo = (not sys.stdout.isatty()) if echo is None else echo
        self._rows_seen = 0

    def on_validation_end(self, trainer, pl_module) -> None:
        history = getattr(pl_module, "history", None) or []
        if trainer.sanity_checking or not trainer.is_global_zero or len(history) == self._rows_seen:
            return
        self._rows_seen = len(history)
        row = history[-1]
        parts = [f"epoch {row['epoch'] + 1}/{trainer.max_epochs}", f"step {row['step']}"]
        for key, label, scale, spec in (("train_loss", "train/loss", 1, ".4g"), ("val_loss", "val/loss", 1, ".4g"),
                                        ("val_top1", "val/top1", 100, ".2f"), ("val_top5", "val/top5", 100, ".2f"),
                                        ("lr", "lr", 1, ".3g")):
            value = _number(row.get(key))
            if value is not None:
                parts.append(f"{label} {scale * value:{spec}}{'%' if scale == 100 else ''}")
        if _number(row.get("train_time_s")) is not None:
            parts.append(f"{row['train_time_s']:.1f} s")
        line = "  ".join(parts)
        log.info(line)
        if self.echo:
            print(line, flush=True)


CPU_TRAIN_GFLOPS = 50.0  # forward + backward rate of 2 AVX2 cores on these networks (BENCHMARKS.md, model speed)
SLOW_STEP_S = 2.0


def cost_notes(model: str, image_size: int, batch: int, flops_per_image: float, on_cpu: bool,
               compile: bool) -> list[str]:
    """Lines that say, before a slow start, what the configuration will cost (a CPU run at paper sizes, a CPU
    torch.compile): the user sees them instead of minutes of silence."""
    notes = []
    step_flops = 3.0 * flops_per_image * batch  # forward + backward ~ 3 x forward
    seconds = step_flops / (CPU_TRAIN_GFLOPS * 1e9)
    if on_cpu and seconds > SLOW_STEP_S:
        notes.append(f"{model} at {image_size} px, batch {batch}: {step_flops / 1e12:.2f} TFLOP per training step, "
                     f"about {seconds:.0f} s per step on a 2-core CPU; for a quick look use model.width_mult=0.25 "
                     "and a smaller data.image_size (75 px for v3)")
    if on_cpu and compile:
        notes.append("compile=true: torch.compile builds the network's kernels before the first step; on a CPU that "
                     "takes minutes (about 6 min for v3 x0.25 on 2 cores) and is silent meanwhile")
    return notes


def print_cost_notes(trainer: Any, cfg: Any, datamodule: Any, flops_per_image: float) -> None:
    """Print :func:`cost_notes` for this run (rank zero) before the first step."""
    from lightning.pytorch.accelerators import CPUAccelerator

    from inception_lab.console import console

    if not trainer.is_global_zero:
        return
    on_cpu = isinstance(trainer.accelerator, CPUAccelerator)
    for note in cost_notes(cfg.model.name, datamodule.image_size, datamodule.batch_size, flops_per_image,
                           on_cpu=on_cpu, compile=bool(cfg.compile)):
        console.print(f"[bold]note:[/] {note}", highlight=False, soft_wrap=True)
