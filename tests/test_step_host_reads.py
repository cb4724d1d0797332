"""A training step never reads a device tensor on the host (on a GPU each read stalls the pipeline).

The run is the CLI's own job (``train(cfg)``, callbacks=[default,ema], CSV logger, the CLI's progress output with and without a terminal)
with a callback that counts, batch by batch, every host read of a tensor value (``item``, ``float``, ``bool``,
``torch.equal``: all end in ``aten._local_scalar_dense`` or ``aten.equal``) with a ``TorchDispatchMode``.
Only logging steps (every ``trainer.log_every_n_steps``) may read: that is where the divergence flag, the logged
metrics and the throughput time stamp are looked at. The last step before validation is not judged: starting the
validation loader draws its seed with ``.item()`` on a CPU tensor (torch's DataLoader), which no GPU waits for.
"""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from hydra import compose, initialize_config_dir
from lightning.pytorch.callbacks import Callback
from torch.utils._python_dispatch import TorchDispatchMode

from inception_lab.config_path import CONFIG_DIR

HOST_READS = {torch.ops.aten._local_scalar_dense.default, torch.ops.aten.equal.default}


class HostReadCounter(Callback, TorchDispatchMode):
    """Counts host reads per training batch, from one batch's start to the next's (every hook in between)."""

    last: HostReadCounter | None = None

    def __init__(self) -> None:
        Callback.__init__(self)
        TorchDispatchMode.__init__(self)
        self.per_batch: Counter[int] = Counter()
        self.batch: int | None = None
        self.seen_batches: list[int] = []
        HostReadCounter.last = self

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if self.batch is not None and func in HOST_READS:
            self.per_batch[self.batch] += 1
        return func(*args, **(kwargs or {}))

    def on_train_start(self, trainer, pl_module) -> None:
        self.__enter__()

    def on_train_end(self, trainer, pl_module) -> None:
        self.__exit__(None, None, None)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        self.batch = trainer.global_step
        self.seen_batches.append(self.batch)

    def on_validation_start(self, trainer, pl_module) -> None:
        self.batch = None

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.batch = None


@pytest.mark.parametrize("terminal", [False, True], ids=["log-lines", "rich-bar"])
def test_a_normal_training_step_reads_nothing_from_the_device(tmp_path, monkeypatch, terminal):
    import sys

    from inception_lab.cli import train as train_cli

    monkeypatch.setattr(sys.stdout, "isatty", lambda: terminal)  # a terminal gets Lightning's rich progress bar
    torch.set_num_threads(1)
    overrides = ["model.width_mult=0.25", "data.batch_size=8", "trainer.max_epochs=2", "trainer.limit_train_batches=12",
                 "trainer.limit_val_batches=1", "trainer.log_every_n_steps=5", "trainer.check_val_every_n_epoch=2", "callbacks=[default,ema]",
                 "+callbacks.host_reads._target_=test_step_host_reads.HostReadCounter",
                 f"paths.output_dir={tmp_path}"]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    record = train_cli.train(cfg)
    assert record["status"] == "completed"
    counter = HostReadCounter.last
    assert counter is not None and counter.seen_batches == list(range(24))
    logging_steps = {s for s in counter.seen_batches if (s + 1) % 5 == 0}  # trainer._batches_that_stepped + 1
    reads = {step: counter.per_batch[step] for step in counter.seen_batches}
    assert all(reads[s] > 0 for s in logging_steps), reads  # the counter does see the logging steps' reads
    before_validation = {23}
    assert {s: n for s, n in reads.items() if n and s not in logging_steps | before_validation} == {}, reads
