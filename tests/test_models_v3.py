"""Inception-v3 and the Rethinking Inception-v2 against the reference (docs/reference.md#inception-v3, #numbers,
docs/reference.md#table3, #table2, #checks). Full-width networks are built on the meta device (counts and shapes only); behaviour is checked
on real tensors at width 0.25."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from inception_lab.models import InputTooSmallError, UnknownModelError, create_model, list_models
from inception_lab.models.cost import build_meta, count_flops, count_parameters, feature_grid_sizes, minimum_input_size
from inception_lab.models.inception_v3 import InceptionA, InceptionB, InceptionC, ReductionA, ReductionB

CONF = Path(__file__).resolve().parent.parent / "conf"
TABLE2 = {"r299": (299, 2, "max"), "r151": (151, 1, "max"), "r79": (79, 1, "none")}


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def spatial(grids: dict, stage: str) -> int:
    c, h, w = grids[stage]
    assert h == w
    return h


@pytest.fixture(scope="module")
def tiny_v3():
    torch.manual_seed(0)
    return create_model("v3", num_classes=10, width_mult=0.25)


# ------------------------------------------------------------------------------------------- registry, counts


def test_registered_under_design_names_and_aliases():
    assert {"v2", "v3"} <= set(list_models())
    assert type(build_meta("inception_v3")).__name__ == "InceptionV3"
    assert build_meta("inception_v2_rethinking").stem_type == "7x7"


def test_unknown_model_name_raises_unknown_model_error():
    with pytest.raises(UnknownModelError, match="unknown model 'inception_v5'"):
        create_model("inception_v5")


@pytest.mark.parametrize(
    "name, overrides, expected",
    [
        ("v3", {"aux_logits": False}, 23_834_568),
        ("v3", {}, 27_161_264),
        ("v3", {"aux_bn_fc": False}, 27_160_496),
        ("v2", {"aux_logits": False}, 23_815_336),
        ("v2", {}, 27_141_264),
        ("v3", {"aux_logits": False, "stem": "table1"}, 24_393_736),  # docs/reference.md#v3-stem
        ("v3", {"aux_logits": False, "num_17x17_blocks": 5}, 25_525_576),  # docs/reference.md#v3-17x17
        ("v3", {"num_17x17_blocks": 5}, 28_852_272),  # docs/reference.md#counts
        ("v3", {"aux_hidden": 1024}, 23_834_568 + 4_402_408),  # docs/reference.md#v3-aux
    ],
)
def test_parameter_counts_match_reference(name, overrides, expected):
    assert count_parameters(build_meta(name, **overrides)) == expected


def test_per_block_parameter_counts():
    """docs/reference.md#inception-v3 (each equals the corresponding timm module)."""
    m = build_meta("v3")
    expected = {
        "Mixed_5b": 255_904, "Mixed_5c": 277_472, "Mixed_5d": 285_152, "Mixed_6a": 1_153_280,
        "Mixed_6b": 1_297_408, "Mixed_6c": 1_691_008, "Mixed_6d": 1_691_008, "Mixed_6e": 2_141_952,
        "Mixed_7a": 1_698_304, "Mixed_7b": 5_044_608, "Mixed_7c": 6_076_800,
        "AuxLogits": 3_326_696, "fc": 2_049_000,
    }  # fmt: skip
    assert {k: n_params(getattr(m, k)) for k in expected} == expected
    assert [type(getattr(m, k)).__name__ for k in ("Mixed_5b", "Mixed_6a", "Mixed_6b", "Mixed_7a", "Mixed_7b")] == [
        c.__name__ for c in (InceptionA, ReductionA, InceptionB, ReductionB, InceptionC)
    ]
    assert n_params(build_meta("v3", aux_bn_fc=False).AuxLogits) == 3_325_928
    stem = {k: n_params(v) for k, v in m.stem.named_children() if n_params(v)}
    assert stem == {
        "Conv2d_1a_3x3": 928, "Conv2d_2a_3x3": 9_280, "Conv2d_2b_3x3": 18_560,
        "Conv2d_3b_1x1": 5_280, "Conv2d_4a_3x3": 138_624,
    }  # fmt: skip
    assert n_params(build_meta("v2").stem.Conv2d_1a_7x7) == 9_536  # docs/reference.md#inception-v2


# ---------------------------------------------------------------------------------------------------- shapes


def test_v3_endpoint_shapes_at_299():
    """docs/reference.md#checks, Inception-v3 @299."""
    grids = feature_grid_sizes(build_meta("v3"), 299, train=True)
    expected = {
        "stem.Conv2d_1a_3x3": (32, 149, 149), "stem.Conv2d_2a_3x3": (32, 147, 147),
        "stem.Conv2d_2b_3x3": (64, 147, 147), "stem.MaxPool_3a_3x3": (64, 73, 73),
        "stem.Conv2d_3b_1x1": (80, 73, 73), "stem.Conv2d_4a_3x3": (192, 71, 71),
        "stem.MaxPool_5a_3x3": (192, 35, 35), "Mixed_5b": (256, 35, 35), "Mixed_5c": (288, 35, 35),
        "Mixed_5d": (288, 35, 35), "Mixed_7a": (1280, 8, 8), "Mixed_7b": (2048, 8, 8), "Mixed_7c": (2048, 8, 8),
        **{f"Mixed_6{x}": (768, 17, 17) for x in "abcde"},
        "AuxLogits": (1000,), "fc": (1000,),
    }  # fmt: skip
    assert grids == expected


def test_aux_head_shapes():
    """docs/reference.md#v3-aux, #checks: 768x5x5 -> 128x5x5 -> 768x1x1 -> logits."""
    head = build_meta("v3", num_classes=7).AuxLogits
    x = torch.empty(2, 768, 17, 17, device="meta")
    pooled = head.pool(x)
    assert pooled.shape[1:] == (768, 5, 5)
    assert head.conv0(pooled).shape[1:] == (128, 5, 5)
    with torch.no_grad():
        hidden = head.conv1[0](head.conv0(pooled))
    assert hidden.shape[1:] == (768, 1, 1)
    assert head(x).shape == (2, 7)


def test_v2_endpoint_shapes_at_299():
    """docs/reference.md#checks, Inception-v2 @299: 7x7 conv 64x147², then as v3 from MaxPool_3a."""
    v2 = feature_grid_sizes(build_meta("v2"), 299)
    v3 = feature_grid_sizes(build_meta("v3"), 299)
    assert v2["stem.Conv2d_1a_7x7"] == (64, 147, 147)
    for stage in list(v3)[list(v3).index("stem.MaxPool_3a_3x3") :]:
        assert v2[stage] == v3[stage], stage


def test_table1_stem_feeds_288_channels():
    grids = feature_grid_sizes(build_meta("v3", stem="table1"), 299)
    assert grids["stem.Conv2d_3b_3x3"] == (80, 71, 71)
    assert grids["stem.Conv2d_4a_3x3"] == (192, 35, 35)
    assert grids["stem.Conv2d_4b_3x3"] == (288, 35, 35)
    assert grids["Mixed_5b"] == (256, 35, 35)


# -------------------------------------------------------------------------------------------------- behaviour


def test_eval_returns_logits_train_returns_logits_and_aux_full_width_meta():
    """docs/reference.md#checks: eval -> logits; train with aux on -> (logits, aux_logits). Shapes only (meta device)."""
    model = build_meta("v3", num_classes=5)
    x = torch.empty(2, 3, 299, 299, device="meta")
    out = model.eval()(x)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 5)
    out = model.train()(x)
    assert isinstance(out, tuple) and [o.shape for o in out] == [(2, 5), (2, 5)]
    out = build_meta("v3", num_classes=5, aux_logits=False).train()(x)
    assert isinstance(out, torch.Tensor)


def test_real_forward_with_aux_and_in_eval(tiny_v3):
    tiny_v3.train()
    with torch.no_grad():
        logits, aux = tiny_v3(torch.randn(2, 3, 299, 299))
    assert logits.shape == aux.shape == (2, 10) and torch.isfinite(logits).all() and torch.isfinite(aux).all()
    tiny_v3.eval()
    with torch.no_grad():
        out = tiny_v3(torch.randn(1, 3, 75, 75))
    assert isinstance(out, torch.Tensor) and out.shape == (1, 10)


def test_aux_off_trains_at_minimum_input_and_gradients_flow():
    torch.manual_seed(0)
    model = create_model("v2", num_classes=4, width_mult=0.25, aux_logits=False, in_chans=1).train()
    out = model(torch.randn(2, 1, 75, 75))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 4)
    out.sum().backward()
    assert model.stem.Conv2d_1a_7x7[0].weight.grad.abs().sum() > 0


def test_minimum_input_sizes():
    """docs/reference.md#minimum-input: 75 with aux off (74 fails), 299 with aux on; Table 2 settings per docs/reference.md#table2."""
    assert minimum_input_size("v3", aux=False) == 75
    assert minimum_input_size("v3", aux=True) == 299
    assert minimum_input_size("v2", aux=True) == 299
    assert minimum_input_size("v2", aux=False, first_stride=1, first_pool="none") == 23
    assert minimum_input_size("v3", aux=True, first_stride=1, first_pool="none") == 77


def test_too_small_input_raises_naming_the_minimum(tiny_v3):
    tiny_v3.eval()
    with torch.no_grad(), pytest.raises(InputTooSmallError, match="minimum is 75x75"):
        tiny_v3(torch.randn(1, 3, 74, 74))
    tiny_v3.train()
    with torch.no_grad(), pytest.raises(InputTooSmallError, match="minimum is 299x299 with aux"):
        tiny_v3(torch.randn(2, 3, 298, 298))
    tiny_v3.eval()


def test_switches_reach_the_layers():
    m = build_meta("v3", width_mult=0.25, bn_eps=1e-5, bn_momentum=0.0003, avgpool_count_include_pad=True)
    bns = [x for x in m.modules() if isinstance(x, nn.BatchNorm2d)]
    assert bns and all(b.eps == 1e-5 and b.momentum == 0.0003 for b in bns)
    pools = [x for x in m.modules() if isinstance(x, nn.AvgPool2d) and x.stride == 1]
    assert len(pools) == 9 and all(p.count_include_pad for p in pools)
    default_pools = [p for p in build_meta("v3").modules() if isinstance(p, nn.AvgPool2d) and p.stride == 1]
    assert len(default_pools) == 9 and not any(p.count_include_pad for p in default_pools)
    assert m.stem.Conv2d_1a_3x3[0].out_channels == 16  # max(int(32 * 0.25), 16), docs/reference.md#width-multiplier
    assert m.Mixed_5b.branch3x3dbl[1][0].out_channels == 24  # int(96 * 0.25)
    assert m.drop_rate == 0.2 and build_meta("v3", drop_rate=0.5).drop_rate == 0.5
    bad = {"stem": "5x5", "first_pool": "avg", "num_17x17_blocks": 3, "aux_logits": "auto"}
    for key, value in bad.items():
        with pytest.raises(ValueError, match=key):
            build_meta("v3", **{key: value})
    with pytest.raises(TypeError, match="no switch"):
        build_meta("v3", residual_scale=0.1)


def test_reset_classifier_resets_aux_logits_too(tiny_v3):
    tiny_v3.reset_classifier(3)
    assert tiny_v3.fc.out_features == 3 and tiny_v3.AuxLogits.fc.out_features == 3
    tiny_v3.reset_classifier(10)


def test_defaults_are_inception_scaling_at_299():
    d = build_meta("v2").defaults
    assert d.input_size == 299 and d.mean == d.std == (0.5, 0.5, 0.5) and d.crop_fraction == 0.875


# ----------------------------------------------------------------------------------------------- Table 2 / 3


def test_table3_v3_costs_more_than_v2():
    """docs/reference.md#inception-v2, #table3: 5.713 G vs 5.300 G MACs (the paper's 3.8 -> 4.8 Bn does not reproduce)."""
    v3 = count_flops(build_meta("v3"), 299)["macs"] / 1e9
    v2 = count_flops(build_meta("v2"), 299)["macs"] / 1e9
    assert v3 > v2
    assert v3 == pytest.approx(5.713, rel=0.01) and v2 == pytest.approx(5.300, rel=0.01)


def test_table2_on_the_7x7_stem_keeps_grids_and_cost():
    """docs/reference.md#table2 recommended reading: 73x73 after the first layer (+pool), 35/17/8, MACs within 3%."""
    macs = {}
    for setting, (size, stride, pool) in TABLE2.items():
        m = build_meta("v2", first_stride=stride, first_pool=pool)
        grids = feature_grid_sizes(m, size)
        after_first = "stem.Conv2d_1a_7x7" if pool == "none" else "stem.MaxPool_3a_3x3"
        assert spatial(grids, after_first) == 73, setting
        assert [spatial(grids, s) for s in ("Mixed_5d", "Mixed_6e", "Mixed_7c")] == [35, 17, 8], setting
        macs[setting] = count_flops(m, size)["macs"]
    assert max(macs.values()) / min(macs.values()) < 1.03
    assert macs["r151"] / 1e9 == pytest.approx(5.294, abs=1e-3) and macs["r79"] / 1e9 == pytest.approx(5.147, abs=1e-3)
    literal = feature_grid_sizes(build_meta("v2", first_stride=1, first_pool="max_valid"), 151)
    assert [spatial(literal, s) for s in ("Mixed_5d", "Mixed_6e", "Mixed_7c")] == [34, 16, 7]


def test_table2_on_the_factorised_stem():
    """docs/reference.md#table2 alternative: r151 identical to r299, r79 gives 36 / 17 / 8 at 5.362 G."""
    results = {}
    for setting, (size, stride, pool) in TABLE2.items():
        m = build_meta("v3", first_stride=stride, first_pool=pool)
        grids = feature_grid_sizes(m, size)
        results[setting] = ([spatial(grids, s) for s in ("Mixed_5d", "Mixed_6e", "Mixed_7c")], count_flops(m, size)["macs"])
    assert results["r151"] == results["r299"]
    assert results["r79"][0] == [36, 17, 8] and results["r79"][1] / 1e9 == pytest.approx(5.362, abs=1e-3)


# ---------------------------------------------------------------------------------------------------- configs


@pytest.mark.parametrize("name", ["v2", "v3"])
def test_model_config_keys_are_create_model_switches(name):
    cfg = OmegaConf.to_container(OmegaConf.load(CONF / "model" / f"{name}.yaml"))
    assert cfg.pop("name") == name
    assert cfg.pop("pretrained") is None  # a create_model argument, not a switch
    assert cfg.pop("aux_logits") == "auto"  # resolved by the training CLI from the input size
    model = build_meta(name, aux_logits=True, **cfg)
    assert count_parameters(model) == {"v2": 27_141_264, "v3": 27_161_264}[name]


@pytest.mark.parametrize("setting", ["native", "r299", "r151", "r79"])
def test_resolution_configs_set_input_and_first_layer_together(setting):
    cfg = OmegaConf.to_container(OmegaConf.load(CONF / "resolution" / f"{setting}.yaml")) or {}
    assert (CONF / "resolution" / f"{setting}.yaml").read_text().startswith("# @package _global_")
    if setting == "native":
        assert cfg == {}
        return
    size = cfg["data"]["image_size"]
    assert (size, cfg["model"]["first_stride"], cfg["model"]["first_pool"]) == TABLE2[setting]
    m = build_meta("v2", **cfg["model"])
    assert spatial(feature_grid_sizes(m, size), "Mixed_6e") == 17
    assert minimum_input_size(m, aux=True) <= size  # the aux head works in every Table 2 setting
