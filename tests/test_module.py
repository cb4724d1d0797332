"""InceptionClassifier: the loss the papers define, aux-head weighting, metrics, divergence as a result."""

from __future__ import annotations

import functools
import math

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from inception_lab.module import InceptionClassifier


class TinyNet(nn.Module):
    """Returns (logits, aux) in training when ``aux`` is on, like the Inception networks."""

    def __init__(self, num_classes: int = 4, aux: bool = False) -> None:
        super().__init__()
        self.body = nn.Linear(8, num_classes)
        self.aux_head = nn.Linear(8, num_classes) if aux else None

    def forward(self, x):
        x = x.flatten(1)
        if self.training and self.aux_head is not None:
            return self.body(x), self.aux_head(x)
        return self.body(x)


def make_module(net: nn.Module, lr: float = 0.1, **kwargs) -> InceptionClassifier:
    return InceptionClassifier(
        model=net,
        optimizer=functools.partial(torch.optim.SGD, lr=lr),
        scheduler=None,
        num_classes=4,
        **kwargs,
    )


def test_label_smoothing_loss_is_the_papers_mixture():
    """Rethinking §7: H(q', p) = (1 - eps) H(q, p) + eps H(u, p), u uniform over K classes."""
    eps, k = 0.1, 4
    module = make_module(TinyNet(k), label_smoothing=eps)
    logits = torch.randn(6, k)
    targets = torch.tensor([0, 1, 2, 3, 0, 1])
    loss, _ = module.compute_loss(logits, targets)
    log_p = torch.log_softmax(logits, dim=1)
    h_q = -log_p[torch.arange(6), targets].mean()
    h_u = -(log_p.sum(dim=1) / k).mean()
    assert loss.item() == pytest.approx(((1 - eps) * h_q + eps * h_u).item(), rel=1e-6)


def test_aux_logits_are_weighted_into_the_loss():
    module = make_module(TinyNet(4, aux=True), aux_weight=0.4)
    logits, aux = torch.randn(5, 4), torch.randn(5, 4)
    targets = torch.tensor([0, 1, 2, 3, 0])
    loss, main = module.compute_loss((logits, aux), targets)
    ce = nn.functional.cross_entropy
    assert loss.item() == pytest.approx((ce(logits, targets) + 0.4 * ce(aux, targets)).item(), rel=1e-6)
    assert torch.equal(main, logits)


@pytest.mark.parametrize(("overrides", "expected"), [
    (["model=v1", "regularizer=aux", "data.image_size=224"], 0.3),  # GoogLeNet: 0.3 per head
    (["model=v3", "regularizer=aux", "data.image_size=299"], 0.4),  # TF-slim: 0.4 for the single v2+ head
    (["model=v1", "regularizer=aux", "data.image_size=224", "regularizer.aux_weight=0.5"], 0.5),  # explicit
])
def test_aux_weight_is_the_model_familys_unless_the_config_sets_it(overrides, expected, monkeypatch, tmp_path):
    """The run's module gets the network's own aux weight (model.defaults) when regularizer.aux_weight is null."""
    from hydra import compose, initialize_config_dir

    import inception_lab.module
    from inception_lab.cli.train import train
    from inception_lab.config_path import CONFIG_DIR

    class Built(Exception):
        pass

    def capture(**kwargs):
        raise Built(kwargs["aux_weight"])

    monkeypatch.setattr(inception_lab.module, "InceptionClassifier", capture)
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[*overrides, "data=synthetic",
                                                       "model.width_mult=0.25", f"paths.output_dir={tmp_path}"])
    with pytest.raises(Built) as built:
        train(cfg)
    assert built.value.args[0] == expected


def _fit(module: InceptionClassifier, max_epochs: int = 3) -> L.Trainer:
    torch.manual_seed(0)
    x = torch.randn(64, 8)
    y = (x[:, 0] > 0).long() + 2 * (x[:, 1] > 0).long()
    loader = DataLoader(TensorDataset(x, y), batch_size=16)
    trainer = L.Trainer(
        max_epochs=max_epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
    )
    trainer.fit(module, train_dataloaders=loader, val_dataloaders=loader)
    return trainer


def test_training_learns_and_records_history():
    module = make_module(TinyNet(4), lr=0.5)
    _fit(module, max_epochs=5)
    assert [row["epoch"] for row in module.history] == [0, 1, 2, 3, 4]
    assert module.history[-1]["val_top1"] > 0.8  # a linearly separable toy problem
    assert module.history[-1]["val_top5"] == 1.0  # top-min(5, K) with K = 4
    assert module.diverged_at_step is None


def test_divergence_stops_the_run_and_is_recorded():
    module = make_module(TinyNet(4), lr=1e6, divergence_bound=50.0)
    trainer = _fit(module, max_epochs=3)
    assert module.diverged_at_step is not None
    assert trainer.global_step < 3 * 4  # stopped early rather than training on garbage
    assert trainer.state.finished


def test_non_finite_loss_counts_as_divergence():
    class NaNNet(TinyNet):
        def forward(self, x):
            return super().forward(x) * float("nan")

    module = make_module(NaNNet(4))
    _fit(module, max_epochs=2)
    assert module.diverged_at_step == 0
    assert all(math.isnan(row["val_loss"]) for row in module.history)
