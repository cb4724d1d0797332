"""The EMA callback: TensorFlow's ExponentialMovingAverage with num_updates, one multi-tensor update per step."""

from __future__ import annotations

import functools

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from inception_lab.callbacks import EMAWeightAveraging, ema_decay
from inception_lab.module import InceptionClassifier


def test_decay_ramps_as_tensorflows_num_updates():
    assert ema_decay(0.9999, 0) == pytest.approx(0.1)  # (1 + 0) / (10 + 0)
    assert ema_decay(0.9999, 90) == pytest.approx(91 / 100)
    assert ema_decay(0.9999, 10**6) == 0.9999  # capped at the configured decay
    assert ema_decay(0.9999, 0, ramp=False) == 0.9999


class BNNet(nn.Module):
    """A linear layer and a BatchNorm: float parameters, float running statistics and an int64 counter."""

    def __init__(self) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(8)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(self.bn(x))


class RecordStates(Callback):
    """The network's parameters and buffers after every optimizer step (runs before the EMA callback)."""

    def __init__(self) -> None:
        self.states: list[dict[str, torch.Tensor]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.states.append({k: v.detach().clone() for k, v in pl_module.model.state_dict().items()})


def _train(ema: EMAWeightAveraging, steps: int = 12):
    torch.manual_seed(0)
    module = InceptionClassifier(BNNet(), functools.partial(torch.optim.SGD, lr=0.5), None, num_classes=4)
    initial = {k: v.detach().clone() for k, v in module.model.state_dict().items()}
    x = torch.randn(steps * 8, 8)
    loader = DataLoader(TensorDataset(x, (x[:, 0] > 0).long()), batch_size=8)
    record = RecordStates()
    trainer = L.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[record, ema])
    trainer.fit(module, train_dataloaders=loader)
    return initial, record.states, ema._average_model.module.model.state_dict()


def test_average_is_tensorflows_ema_of_every_step_with_the_ramped_decay():
    decay = 0.9999
    initial, states, average = _train(EMAWeightAveraging(decay=decay, use_buffers=True))
    expected = {k: v.clone() for k, v in initial.items()}  # TF's shadow variables start at the initial values
    for n, state in enumerate(states, start=1):  # n = global_step after the update
        d = min(decay, (1 + n) / (10 + n))
        for key, value in state.items():
            if value.is_floating_point():
                expected[key] = d * expected[key] + (1 - d) * value
            else:
                expected[key] = value.clone()  # num_batches_tracked follows the network
    for key, value in expected.items():
        torch.testing.assert_close(average[key], value, rtol=1e-5, atol=1e-6, msg=key)
    assert int(average["bn.num_batches_tracked"]) == len(states)


def test_a_short_run_averages_its_recent_weights_not_the_initial_ones():
    """With decay 0.9999 and no ramp, 12 steps leave the average at the initial weights; the ramp does not."""
    initial, states, ramped = _train(EMAWeightAveraging(decay=0.9999))
    _, _, constant = _train(EMAWeightAveraging(decay=0.9999, ramp=False))
    final = states[-1]["fc.weight"]
    moved = (final - initial["fc.weight"]).norm()
    assert (constant["fc.weight"] - initial["fc.weight"]).norm() < 0.01 * moved
    assert (ramped["fc.weight"] - final).norm() < 0.5 * moved
