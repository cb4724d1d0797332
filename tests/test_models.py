"""What every registered network shares, run over ``list_models()``: registering a network enrolls it here.

The face the module, eval and cost code rely on (``forward_features`` / ``forward_head`` / ``reset_classifier``,
aux heads in training mode, a meta-device build, the minimum input size) and its config file. Per-network numbers
(parameter counts, MACs, grids) are in test_models_zoo.py and test_models_v3.py. Full widths are built on the
meta device (shapes only); the real forward passes run at width 0.25 at the network's minimum input.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from inception_lab.models import (
    InceptionNet,
    InputTooSmallError,
    canonical_name,
    create_model,
    get_model_constructor,
    list_models,
    model_switches,
)
from inception_lab.models.cost import build_meta, count_parameters, minimum_input_size

CONF = Path(__file__).resolve().parents[1] / "conf" / "model"
NAMES = list_models()


def meta_input(model: torch.nn.Module, batch: int = 2) -> torch.Tensor:
    """A batch at the network's standard input size, on the meta device."""
    size = model.defaults.input_size
    return torch.empty(batch, 3, size, size, device="meta")


def test_every_network_is_enrolled():
    assert len(NAMES) >= 7 and len(set(NAMES)) == len(NAMES)
    assert all(canonical_name(name) == name and callable(get_model_constructor(name)) for name in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_features_head_and_reset_classifier(name):
    model = build_meta(name, num_classes=10).eval()
    assert isinstance(model, InceptionNet) and count_parameters(model) > 0
    assert all(t.device.type == "meta" for t in [*model.parameters(), *model.buffers()])
    x = meta_input(model)
    features = model.forward_features(x)
    assert features.dim() == 4 and features.shape[:2] == (2, model.num_features)
    assert model.forward_head(features, pre_logits=True).shape == (2, model.num_features)
    assert model.forward_head(features).shape == (2, 10)
    assert model(x).shape == (2, 10)
    with torch.device("meta"):
        model.reset_classifier(7)
    assert model.fc.out_features == 7 and model(x).shape == (2, 7)


@pytest.mark.parametrize("name", NAMES)
def test_aux_heads_in_training_follow_the_switch(name):
    """Training mode returns ``(logits, *aux_logits)`` exactly when aux heads are on (the switch's default unless
    set); eval mode returns logits only; ``reset_classifier`` reaches every aux head."""
    switches = model_switches(name)
    default = build_meta(name, num_classes=10).train()
    x = meta_input(default)
    assert isinstance(default(x), tuple) == (switches.get("aux_logits") is True)
    if "aux_logits" not in switches:
        assert all(getattr(default, head) is None for head in default.aux_head_names)
        return
    assert build_meta(name, num_classes=10, aux_logits=False).train()(x).shape == (2, 10)
    model = build_meta(name, num_classes=10, aux_logits=True).train()
    heads = [head for head in model.aux_head_names if getattr(model, head) is not None]
    out = model(x)
    assert heads and isinstance(out, tuple) and len(out) == 1 + len(heads)
    assert all(o.shape == (2, 10) for o in out)
    with torch.device("meta"):
        model.reset_classifier(7)
    assert all(o.shape == (2, 7) for o in model(x))
    assert model.eval()(x).shape == (2, 7)


@pytest.mark.parametrize("name", NAMES)
def test_real_forward_at_the_minimum_input_and_one_below(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=10, width_mult=0.25).eval()
    minimum = minimum_input_size(model)
    with torch.no_grad():
        out = model(torch.randn(1, 3, minimum, minimum))
        assert out.shape == (1, 10) and torch.isfinite(out).all()
        with pytest.raises(InputTooSmallError, match=f"{minimum}x{minimum}"):
            model(torch.randn(1, 3, minimum - 1, minimum - 1))


@pytest.mark.parametrize("name", NAMES)
def test_model_config_lists_every_switch_with_its_default(name):
    """conf/model/<name>.yaml holds every switch at the constructor's default (``aux_logits: auto`` is resolved
    from the input size by the training CLI), so ``model=<name>`` builds the registered network."""
    cfg = OmegaConf.to_container(OmegaConf.load(CONF / f"{name}.yaml"))
    assert cfg.pop("name") == name
    assert cfg.pop("pretrained") is None  # a create_model argument, not a switch
    switches = model_switches(name)
    assert set(cfg) == set(switches) - {"in_chans"}  # in_chans comes from the data
    for key, value in cfg.items():
        if key == "aux_logits" and value == "auto":
            continue
        assert value == switches[key], key
    build_meta(name, **{k: (True if v == "auto" else v) for k, v in cfg.items()})
