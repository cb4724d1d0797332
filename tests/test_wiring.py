"""How the default run is put together: which tensors get weight decay, how often the schedule steps and what
learning rate that gives after k steps, what the network costs, what the network is fed. Hand-written values."""

from __future__ import annotations

import functools
import math

import lightning as L
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from inception_lab.build import build_model
from inception_lab.config_path import CONFIG_DIR
from inception_lab.models.cost import count_flops, count_parameters
from inception_lab.module import InceptionClassifier
from inception_lab.optim import RMSpropTF


def default_cfg(*overrides: str):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


@pytest.fixture(scope="module")
def default_network():
    """The network `inception-lab` trains with no overrides: v3 at quarter width, 1-channel 75 px digits."""
    cfg = default_cfg()
    model, model_args = build_model(cfg, num_classes=10, channels=1, image_size=75)
    return cfg, model, model_args


def test_default_network_has_the_readmes_size_and_cost(default_network):
    _, model, model_args = default_network
    assert model_args["name"] == "v3" and model_args["width_mult"] == 0.25 and model_args["aux_logits"] is False
    assert count_parameters(model, aux=False) == 1_382_658 == sum(p.numel() for p in model.parameters())
    cost = count_flops(model, 75, in_chans=1)
    assert cost == {"macs": 16_563_856, "flops": 33_127_712}  # 33.1 MFLOPs per image, forward


def test_only_conv_and_fc_weights_get_weight_decay(default_network):
    """TF-slim's L2 (regularizer.weight_decay, 4e-5) on conv and fully connected weights; BatchNorm and biases
    not decayed. The oracle sorts by layer type, not by tensor shape as the code does."""
    cfg, model, _ = default_network
    module = InceptionClassifier(model, optimizer=instantiate(cfg.optimizer), scheduler=None, num_classes=10)
    optimizer = module.configure_optimizers()
    assert isinstance(optimizer, RMSpropTF) and optimizer.defaults["lr"] == 0.045
    decayed, plain = optimizer.param_groups
    assert (decayed["weight_decay"], plain["weight_decay"]) == (4e-5, 0.0)
    weights, others = set(), set()
    for layer in model.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            weights.add(id(layer.weight))
            if layer.bias is not None:
                others.add(id(layer.bias))
        elif isinstance(layer, nn.modules.batchnorm._BatchNorm):
            others.update(id(p) for p in layer.parameters(recurse=False))
    assert {id(p) for p in decayed["params"]} == weights
    assert {id(p) for p in plain["params"]} == others
    assert len(weights) == 95 and len(others) == 189  # v3: 94 convs + fc; 94 BN scales and offsets + the fc bias
    assert sum(p.numel() for p in decayed["params"]) + sum(p.numel() for p in plain["params"]) == 1_382_658
    # the value follows the regularizer group
    cfg_off = default_cfg("regularizer.weight_decay=0")
    off = InceptionClassifier(model, optimizer=instantiate(cfg_off.optimizer), scheduler=None, num_classes=10)
    assert [g["weight_decay"] for g in off.configure_optimizers().param_groups] == [0.0, 0.0]


class RecordLR(Callback):
    """The learning rate each training batch is stepped with (both parameter groups)."""

    def __init__(self) -> None:
        self.lrs: list[list[float]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.lrs.append([group["lr"] for group in trainer.optimizers[0].param_groups])


def _fit_tiny(scheduler, accumulate: int) -> list[list[float]]:
    """2 epochs x 4 batches of a linear model, the default run's cosine schedule (1 warm-up epoch), SGD lr 0.1."""
    torch.manual_seed(0)
    x = torch.randn(32, 8)
    loader = DataLoader(TensorDataset(x, (x[:, 0] > 0).long()), batch_size=8)
    module = InceptionClassifier(nn.Sequential(nn.Flatten(), nn.Linear(8, 2)),
                                 optimizer=functools.partial(torch.optim.SGD, lr=0.1), scheduler=scheduler,
                                 num_classes=2)
    record = RecordLR()
    trainer = L.Trainer(max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                        accumulate_grad_batches=accumulate, callbacks=[record])
    trainer.fit(module, train_dataloaders=loader, val_dataloaders=loader)
    assert all(a == b for a, b in record.lrs)  # both groups follow the schedule
    return [a for a, _ in record.lrs] + [trainer.optimizers[0].param_groups[0]["lr"]]


def test_the_schedule_steps_every_optimizer_step():
    """Warm-up 0 -> 0.1 over the first epoch, then half a cosine to 0 over the second: lr at step k of 8."""
    scheduler = instantiate(default_cfg().scheduler)
    assert scheduler.func.__name__ == "cosine" and scheduler.keywords["warmup_epochs"] == 1
    c1, c3 = 0.05 * (1 + math.cos(math.pi / 4)), 0.05 * (1 + math.cos(3 * math.pi / 4))
    assert _fit_tiny(scheduler, accumulate=1) == pytest.approx([0.0, 0.025, 0.05, 0.075, 0.1, c1, 0.05, c3, 0.0])
    # accumulating 2 batches per step: 2 optimizer steps an epoch, the schedule counts those
    assert _fit_tiny(scheduler, accumulate=2) == pytest.approx([0.0, 0.0, 0.05, 0.05, 0.1, 0.1, 0.05, 0.05, 0.0])


def test_the_network_is_fed_the_families_minus_one_to_one_scaling(default_network):
    """Training and validation batches arrive as uint8 and reach the network as (x / 255 - 0.5) / 0.5."""
    cfg, model, _ = default_network
    datamodule = instantiate(cfg.data)
    datamodule.apply_model_defaults(model.defaults)
    pixels = torch.tensor([0, 51, 255], dtype=torch.uint8).view(1, 1, 1, 3)
    for training in (False, True):
        assert datamodule.device_transform(pixels, training).flatten().tolist() == pytest.approx([-1.0, -0.6, 1.0])
