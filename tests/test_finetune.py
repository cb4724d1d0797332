"""Fine-tuning (+experiment=finetune/...): a 7-class fine-tune of a 10-class lab checkpoint, frozen and not; what
trains, what keeps the source's values, the learning rates of head and backbone, gradual unfreezing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from conftest import compose_cfg, run_cli
from inception_lab.optim import create_optimizer, head_names, weight_decay_groups

PHOTOS = ["data=imagefolder", "data.image_size=75", "data.num_workers=0"]
QUIET = ["logger=none", "~callbacks.throughput", "~callbacks.learning_rate_monitor"]


pytestmark = pytest.mark.usefixtures("one_thread")




def train_in(run_dir: Path, overrides: list[str]) -> dict:
    from inception_lab.cli.train import train

    run_dir.mkdir(parents=True)
    return train(compose_cfg("config", [*overrides, f"paths.output_dir={run_dir}"]))


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Seven classes of real JPEG/PNG files in the ImageNet layout (what the fine-tune learns)."""
    from inception_lab.data.testing import make_image_folder

    return make_image_folder(tmp_path_factory.mktemp("photos"), classes=[f"k{i}" for i in range(7)], per_class=4,
                             size=[(90, 80), (80, 96)])


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A 10-class lab checkpoint (v3 at quarter width) whose BatchNorm statistics fit photos like the fine-tune's:
    one step at lr 0 with BN momentum 1 on other pictures of the same kind. (A network trained a few steps keeps
    statistics from weights it no longer has; its eval-mode activations grow ~1e4-fold over the 94 BN layers, and a
    frozen-backbone fine-tune of it is rightly recorded as diverged.)"""
    from inception_lab.data.testing import make_image_folder

    root = make_image_folder(tmp_path_factory.mktemp("source_photos"), classes=[f"c{i}" for i in range(10)],
                             per_class=2, size=[(90, 80), (80, 96)], seed=100)
    run_dir = tmp_path_factory.mktemp("source") / "run"
    train_in(run_dir, [*PHOTOS, f"data.root={root}", "data.batch_size=20", "model.width_mult=0.25", "optimizer=sgd",
                       "optimizer.lr=0.0", "model.bn_momentum=1.0", "trainer.max_epochs=1", *QUIET])
    return run_dir / "checkpoints" / "last.ckpt"


def finetune(tmp_path: Path, source: Path, photos: Path, *overrides: str) -> dict[str, torch.Tensor]:
    """Fine-tune ``source`` on the 7-class folder for 2 steps; return the checkpoint."""
    run_dir = tmp_path / "ft"
    record = train_in(run_dir, ["+experiment=finetune/v3", f"model.pretrained={source}", *PHOTOS, f"data.root={photos}",
                                "data.batch_size=7", "trainer.limit_val_batches=1", "trainer.max_epochs=1", *QUIET,
                                *overrides])
    assert record["status"] == "completed"
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)


def network_state(checkpoint: dict) -> dict[str, torch.Tensor]:
    return {k[len("model."):]: v for k, v in checkpoint["state_dict"].items() if k.startswith("model.")}


def is_head(key: str) -> bool:
    return key.split(".", 1)[0] in ("fc", "AuxLogits")


def test_frozen_backbone_keeps_every_backbone_tensor_and_trains_only_the_heads(source, photos, tmp_path):
    before = network_state(torch.load(source, weights_only=True))
    checkpoint = finetune(tmp_path, source, photos, "finetune.freeze=backbone")
    after = network_state(checkpoint)
    assert after["fc.weight"].shape[0] == 7 and before["fc.weight"].shape[0] == 10  # head re-initialised
    backbone = [k for k in after if not is_head(k)]
    assert backbone and all(torch.equal(after[k], before[k]) for k in backbone)  # weights, BN statistics, counters
    # only the head had gradients: SGD keeps a momentum buffer for exactly the parameters it stepped
    groups = checkpoint["optimizer_states"][0]["param_groups"]
    stepped = {i for i, s in checkpoint["optimizer_states"][0]["state"].items() if s.get("momentum_buffer") is not None}
    head_ids = {i for g in groups if g["name"].startswith("head") for i in g["params"]}
    assert stepped == head_ids and {g["name"]: len(g["params"]) for g in groups}["backbone"] == 0


def test_frozen_batchnorm_keeps_statistics_and_affine_while_convs_train(source, photos, tmp_path):
    before = network_state(torch.load(source, weights_only=True))
    # a small backbone rate: convs that move under fixed statistics change the scale of every layer after them
    after = network_state(finetune(tmp_path, source, photos, "finetune.freeze=bn", "finetune.backbone_lr_mult=0.01"))
    bn_layers = {k.rsplit(".", 1)[0] for k in after if k.endswith("running_mean") and not is_head(k)}
    bn = [k for k in after if k.rsplit(".", 1)[0] in bn_layers]
    convs = [k for k in after if not is_head(k) and after[k].dim() == 4]
    assert bn and all(torch.equal(after[k], before[k]) for k in bn)
    assert convs and any(not torch.equal(after[k], before[k]) for k in convs)


def test_head_and_backbone_learning_rates_as_configured(source, photos, tmp_path):
    checkpoint = finetune(tmp_path, source, photos, "optimizer.lr=0.02", "finetune.backbone_lr_mult=0.25",
                          "scheduler=constant")
    groups = {g["name"]: g for g in checkpoint["optimizer_states"][0]["param_groups"]}
    assert set(groups) == {"head", "head_no_decay", "backbone", "backbone_no_decay"}
    assert groups["head"]["lr"] == pytest.approx(0.02) and groups["backbone"]["lr"] == pytest.approx(0.005)
    assert groups["head_no_decay"]["weight_decay"] == 0.0 and groups["backbone_no_decay"]["weight_decay"] == 0.0
    assert groups["backbone"]["weight_decay"] == pytest.approx(4e-5)
    before = network_state(torch.load(source, weights_only=True))
    after = network_state(checkpoint)
    assert not torch.equal(after["stem.Conv2d_1a_3x3.0.weight"], before["stem.Conv2d_1a_3x3.0.weight"])


def test_gradual_unfreezing_releases_the_backbone_and_doubles_its_rate(source, photos, tmp_path):
    before = network_state(torch.load(source, weights_only=True))
    checkpoint = finetune(tmp_path, source, photos, "finetune.freeze=backbone", "finetune.unfreeze_at_epoch=1",
                          "trainer.max_epochs=3", "scheduler=constant")
    after = network_state(checkpoint)
    assert not torch.equal(after["stem.Conv2d_1a_3x3.0.weight"], before["stem.Conv2d_1a_3x3.0.weight"])
    assert not torch.equal(after["Mixed_5b.branch1x1.1.running_mean"], before["Mixed_5b.branch1x1.1.running_mean"])
    groups = {g["name"]: g for g in checkpoint["optimizer_states"][0]["param_groups"]}
    assert len(groups["backbone"]["params"]) > 0
    # released at epoch 1 at 0.1 x the head's rate, doubled at epoch 2
    assert groups["backbone"]["lr"] == pytest.approx(0.2 * groups["head"]["lr"])
    assert checkpoint["lr_schedulers"][0]["base_lrs"][2] == pytest.approx(0.2 * 0.01)


def test_frozen_parts_receive_no_gradient_and_keep_bn_in_eval_mode():
    """The callback on its own, one backward pass: no gradient reaches a frozen parameter."""
    from inception_lab.finetune import Finetuning
    from inception_lab.models import create_model
    from inception_lab.module import InceptionClassifier

    for mode in ("backbone", "bn"):
        module = InceptionClassifier(create_model("v3", num_classes=7, width_mult=0.25, aux_logits=False),
                                     optimizer=torch.optim.SGD, scheduler=None, num_classes=7)
        module.train()
        Finetuning(freeze=mode).freeze_before_training(module)
        stats = {k: v.clone() for k, v in module.model.state_dict().items() if "running" in k}
        loss, _ = module.compute_loss(module(torch.rand(4, 3, 75, 75)), torch.tensor([0, 1, 2, 3]))
        loss.backward()
        for name, param in module.model.named_parameters():
            frozen = not is_head(name) and (mode == "backbone" or param.ndim == 1)
            assert (param.grad is None) == frozen, name
        assert all(torch.equal(v, module.model.state_dict()[k]) for k, v in stats.items())
        bns = [m for m in module.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        assert bns and not any(m.training for m in bns)


def test_parameter_groups_split_head_and_backbone_and_keep_the_decay_rule():
    from inception_lab.models import create_model

    model = create_model("v1", num_classes=5, width_mult=0.25, aux_logits=True)
    assert head_names(model) == ("fc", "aux1", "aux2")
    plain = weight_decay_groups(model)
    assert len(plain) == 2 and "lr_mult" not in plain[0]
    groups = weight_decay_groups(model, backbone_lr_mult=0.1)
    assert sum(len(g["params"]) for g in groups) == sum(len(g["params"]) for g in plain)
    optimizer = create_optimizer(lambda params: torch.optim.SGD(params, lr=0.5, weight_decay=1e-4), model, 0.1)
    by_name = {g["name"]: g for g in optimizer.param_groups}
    assert by_name["head"]["lr"] == 0.5 and by_name["backbone"]["lr"] == pytest.approx(0.05)
    assert by_name["backbone_no_decay"]["weight_decay"] == 0.0 and by_name["backbone"]["weight_decay"] == 1e-4
    heads = {id(p) for n in head_names(model) for p in getattr(model, n).parameters()}
    assert all(id(p) in heads for g in groups[:2] for p in g["params"])
    assert not any(id(p) in heads for g in groups[2:] for p in g["params"])


def test_impossible_finetune_settings_are_one_error_line(tmp_path):
    proc = run_cli(["+experiment=finetune/v3", "finetune.freeze=bn", "finetune.unfreeze_at_epoch=2",
                    "model.width_mult=0.25", "data.image_size=75", "trainer.max_epochs=1", "logger=none"],
                   cwd=tmp_path, timeout=300)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "needs finetune.freeze=backbone" in errors[0], proc.stderr[-2000:]
