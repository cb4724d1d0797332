"""GoogLeNet, BN-Inception, Inception-v4 and Inception-ResNet-v1/-v2 against the reference (docs/reference.md#counts, #block-counts, #checks).

Counts, MACs and grid shapes are measured on the meta device (shapes only, no arithmetic); the few real forward
passes run at width_mult 0.25 on small inputs so the file stays fast on a 2-core CPU.
"""

from __future__ import annotations

import functools

import pytest
import torch

from inception_lab.models import InputTooSmallError, create_model
from inception_lab.models.cost import build_meta, count_flops, count_parameters, minimum_input_size
from inception_lab.models.inception_resnet import ResidualInceptionBlock, zero_fraction
from inception_lab.models.registry import canonical_name


@functools.cache
def meta(name: str, **kwargs) -> torch.nn.Module:
    """A full-width model on the meta device (cached; tests must not mutate it)."""
    return build_meta(name, **kwargs)


@functools.cache
def tiny(name: str, **kwargs) -> torch.nn.Module:
    """A real quarter-width model in eval mode (cached; tests that change it restore it)."""
    torch.manual_seed(0)
    return create_model(name, width_mult=0.25, **kwargs).eval()


def meta_shapes(model: torch.nn.Module, size: int, names: list[str], train: bool = False) -> dict[str, tuple]:
    """Output shape (C, H, W) of each named submodule for one meta-device forward pass."""
    shapes, hooks = {}, []
    for name in names:
        def record(_m, _i, out, name=name):
            shapes[name] = tuple(out.shape[1:])
        hooks.append(model.get_submodule(name).register_forward_hook(record))
    was_training = model.training
    try:
        model.train(train)
        with torch.no_grad():
            model(torch.empty(2, 3, size, size, device="meta"))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return shapes


# ------------------------------------------------------------------------------------ parameter counts (docs/reference.md#counts)
PARAMS = [
    # name, switches, params without aux, params with aux (None: no aux switch)
    ("v1", {}, 7_005_832, 13_385_816),
    ("v1", {"v1_variant": "paper"}, 6_998_552, 13_378_280),
    ("v1", {"v1_variant": "torchvision"}, 6_624_904, 13_004_888),
    ("bn_inception", {}, 11_278_528, None),
    ("bn_inception", {"stem_separable": False}, 11_285_224, None),
    ("bn_inception", {"variant": "slim"}, 11_188_288, None),
    ("bn_inception", {"variant": "slim", "stem_separable": False}, 11_194_984, None),
    ("v4", {}, 42_679_816, 46_039_280),
    ("inception_resnet_v1", {}, 22_756_328, 26_099_408),
    ("inception_resnet_v1", {"final_block": "linear"}, 22_756_328, 26_099_408),
    ("inception_resnet_v1", {"variant": "facenet"}, 24_357_096, None),
    ("inception_resnet_v2", {}, 55_843_464, 59_211_120),
    ("inception_resnet_v2", {"variant": "paper"}, 32_433_928, 35_809_776),
]


@pytest.mark.parametrize("name,switches,expected,expected_aux", PARAMS)
def test_parameter_counts_equal_the_reference(name, switches, expected, expected_aux):
    aux_off = {"aux_logits": False} if expected_aux is not None else {}
    assert count_parameters(meta(name, **switches, **aux_off)) == expected
    if expected_aux is not None:
        assert count_parameters(meta(name, **switches, aux_logits=True)) == expected_aux


def test_googlenet_separable_stem_matches_table1_weights():
    """docs/reference.md#googlenet-variants: the 2014 variant with a separable first layer has 6,983,576 weights (biases not counted)."""
    model = meta("v1", v1_variant="paper", stem_separable=True, aux_logits=False)
    assert sum(p.numel() for n, p in model.named_parameters() if n.endswith("weight")) == 6_983_576


def _count(model, name):
    return count_parameters(model.get_submodule(name))


def test_per_block_parameter_counts():
    """docs/reference.md#block-counts anchors: every block's count equals the reference's."""
    tv = meta("v1", v1_variant="torchvision")
    assert [_count(tv, n) for n in ("stem.conv1", "stem.conv2", "stem.conv3")] == [9_536, 4_224, 110_976]
    assert [_count(tv, f"inception{b}") for b in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b")] == [
        155_872, 340_224, 364_512, 425_232, 486_192, 573_312, 803_840, 978_944, 1_347_040,
    ]
    assert [_count(tv, n) for n in ("fc", "aux1", "aux2")] == [1_025_000, 3_188_968, 3_191_016]
    paper = meta("v1", v1_variant="paper")
    assert [_count(paper, f"inception{b}") for b in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b")] == [
        163_696, 388_736, 376_176, 449_160, 510_104, 605_376, 868_352, 1_043_456, 1_444_080,
    ]
    assert [_count(paper, n) for n in ("stem.conv1", "aux1", "aux2")] == [9_472, 3_188_840, 3_190_888]

    slim = meta("bn_inception", variant="slim")
    assert _count(slim, "stem.conv1") == 2_840
    bn_blocks = ("3a", "3b", "3c", "4a", "4b", "4c", "4d", "4e", "5a", "5b")
    assert [_count(slim, f"blocks.inception{b}") for b in bn_blocks] == [
        219_072, 260_160, 385_088, 609_984, 665_344, 895_936, 1_108_032, 1_439_744, 2_182_272, 2_279_616,
    ]

    v4 = meta("v4", aux_logits=True)
    assert [_count(v4, f"stem.{n}") for n in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Mixed_3a",
                                              "Mixed_4a", "Mixed_5a")] == [928, 9_280, 18_560, 55_488, 189_312, 332_160]
    assert [_count(v4, n) for n in ("Mixed_5b", "Mixed_6a", "Mixed_6b", "Mixed_7a", "Mixed_7b", "fc", "AuxLogits")] == [
        317_632, 2_306_112, 2_936_256, 2_747_392, 4_553_088, 1_537_000, 3_359_464,
    ]

    ir1 = meta("inception_resnet_v1")
    assert [_count(ir1, n) for n in ("stem", "Repeat.0", "Mixed_6a", "Repeat_1.0", "Mixed_7a", "Block8", "fc")] == [
        615_552, 77_440, 1_710_080, 690_048, 3_346_176, 1_600_768, 1_793_000,
    ]
    ir2 = meta("inception_resnet_v2", aux_logits=True)
    assert [_count(ir2, n) for n in ("Mixed_5b", "Repeat.0", "Mixed_6a", "Repeat_1.0", "Mixed_7a", "Repeat_2.0",
                                     "Block8", "Conv2d_7b_1x1", "fc", "AuxLogits")] == [
        268_320, 123_168, 2_664_960, 1_126_784, 3_880_960, 2_035_424, 2_035_424, 3_197_952, 1_537_000, 3_367_656,
    ]
    ir2p = meta("inception_resnet_v2", variant="paper")
    assert [_count(ir2p, n) for n in ("Repeat.0", "Mixed_6a", "Repeat_1.0", "Block8")] == [
        137_568, 2_902_528, 1_171_904, 2_088_736,
    ]


# --------------------------------------------------------------------------------------- MACs (docs/reference.md#counts, #googlenet-variants, #bn-inception-variants)
MACS = [
    # name, switches, input, train (aux heads counted), GMACs to 3 decimals
    ("v1", {"aux_logits": False}, 224, False, 1.583),
    ("v1", {}, 224, True, 1.591),
    ("v1", {"v1_variant": "paper", "aux_logits": False}, 224, False, 1.583),
    ("v1", {"v1_variant": "torchvision"}, 224, False, 1.498),
    ("v1", {"v1_variant": "torchvision"}, 224, True, 1.507),
    ("v1", {"v1_variant": "paper", "stem_separable": True, "aux_logits": False}, 224, False, 1.499),
    ("bn_inception", {}, 224, False, 1.949),
    ("bn_inception", {"stem_separable": False}, 224, False, 2.033),
    ("bn_inception", {"variant": "slim"}, 224, False, 1.935),
    ("bn_inception", {"variant": "slim", "stem_separable": False}, 224, False, 2.019),
    ("v4", {}, 299, False, 12.254),
    ("inception_resnet_v1", {}, 299, False, 6.206),
    ("inception_resnet_v1", {"variant": "facenet"}, 299, False, 6.309),
    ("inception_resnet_v2", {}, 299, False, 13.156),
    ("inception_resnet_v2", {"variant": "paper"}, 299, False, 9.258),
]


@pytest.mark.parametrize("name,switches,size,train,gmacs", MACS)
def test_macs_equal_the_reference(name, switches, size, train, gmacs):
    macs = count_flops(meta(name, **switches), size, train=train)["macs"]
    assert round(macs / 1e9, 3) == gmacs


# ---------------------------------------------------------------------------------------- endpoint shapes (docs/reference.md#checks)
def _square(c: int, n: int) -> tuple[int, int, int]:
    return (c, n, n)


def test_googlenet_endpoints():
    model = meta("v1")
    expected = {
        "stem.conv1": _square(64, 112), "stem.pool1": _square(64, 56), "stem.conv3": _square(192, 56),
        "stem.pool2": _square(192, 28), "inception3a": _square(256, 28), "inception3b": _square(480, 28),
        "pool3": _square(480, 14), "inception4a": _square(512, 14), "inception4d": _square(528, 14),
        "inception4e": _square(832, 14), "pool4": _square(832, 7), "inception5a": _square(832, 7),
        "inception5b": _square(1024, 7), "aux1.pool": _square(512, 4), "aux2.pool": _square(528, 4),
    }
    assert meta_shapes(model, 224, list(expected), train=True) == expected


@pytest.mark.parametrize("variant,c4cd,c4e", [("paper", 608, 1056), ("slim", 576, 1024)])
def test_bn_inception_endpoints(variant, c4cd, c4e):
    model = meta("bn_inception", variant=variant)
    expected = {
        "blocks.inception3a": _square(256, 28), "blocks.inception3b": _square(320, 28),
        "blocks.inception3c": _square(576, 14), "blocks.inception4a": _square(576, 14),
        "blocks.inception4b": _square(576, 14), "blocks.inception4c": _square(c4cd, 14),
        "blocks.inception4d": _square(c4cd, 14), "blocks.inception4e": _square(c4e, 7),
        "blocks.inception5a": _square(1024, 7), "blocks.inception5b": _square(1024, 7),
    }
    assert meta_shapes(model, 224, list(expected)) == expected


def test_inception_v4_endpoints():
    expected = {
        "stem.Conv2d_2b_3x3": _square(64, 147), "stem.Mixed_3a": _square(160, 73), "stem.Mixed_4a": _square(192, 71),
        "stem.Mixed_5a": _square(384, 35),
        **{f"Mixed_5{c}": _square(384, 35) for c in "bcde"},
        **{f"Mixed_6{c}": _square(1024, 17) for c in "abcdefgh"},
        **{f"Mixed_7{c}": _square(1536, 8) for c in "abcd"},
    }
    assert meta_shapes(meta("v4"), 299, list(expected)) == expected


def test_inception_resnet_endpoints():
    ir1 = {
        "stem.Conv2d_4a_3x3": _square(192, 71), "stem.Conv2d_4b_3x3": _square(256, 35), "Repeat": _square(256, 35),
        "Mixed_6a": _square(896, 17), "Repeat_1": _square(896, 17), "Mixed_7a": _square(1792, 8),
        "Repeat_2": _square(1792, 8), "Block8": _square(1792, 8),
    }
    assert meta_shapes(meta("inception_resnet_v1"), 299, list(ir1)) == ir1
    slim = {
        "stem.MaxPool_5a_3x3": _square(192, 35), "Mixed_5b": _square(320, 35), "Repeat": _square(320, 35),
        "Mixed_6a": _square(1088, 17), "Repeat_1": _square(1088, 17), "Mixed_7a": _square(2080, 8),
        "Repeat_2": _square(2080, 8), "Block8": _square(2080, 8), "Conv2d_7b_1x1": _square(1536, 8),
    }
    assert meta_shapes(meta("inception_resnet_v2"), 299, list(slim)) == slim
    paper = {
        "stem.Mixed_5a": _square(384, 35), "Repeat": _square(384, 35), "Mixed_6a": _square(1152, 17),
        "Repeat_1": _square(1152, 17), "Mixed_7a": _square(2144, 8), "Block8": _square(2144, 8),
    }
    assert meta_shapes(meta("inception_resnet_v2", variant="paper"), 299, list(paper)) == paper


# ------------------------------------------------------------------------------ outputs: eval vs train with aux
AUX_MODELS = [
    ("v1", {}, 224, 2),
    ("v1", {"v1_variant": "torchvision"}, 224, 2),
    ("v4", {"aux_logits": True}, 299, 1),
    ("inception_resnet_v1", {"aux_logits": True}, 299, 1),
    ("inception_resnet_v2", {"aux_logits": True}, 299, 1),
    ("inception_resnet_v2", {"variant": "paper", "aux_logits": True}, 299, 1),
]


@pytest.mark.parametrize("name,switches,size,heads", AUX_MODELS)
def test_eval_returns_logits_and_training_adds_aux_logits(name, switches, size, heads):
    model = build_meta(name, num_classes=10, **switches)
    x = torch.empty(2, 3, size, size, device="meta")
    model.eval()
    assert model(x).shape == (2, 10)
    model.train()
    out = model(x)
    assert isinstance(out, tuple) and len(out) == 1 + heads
    assert all(o.shape == (2, 10) for o in out)
    with torch.device("meta"):
        model.reset_classifier(7)
    assert all(o.shape == (2, 7) for o in model(x))


def test_googlenet_real_forward_with_both_aux_heads():
    model = tiny("v1", num_classes=10)
    try:
        model.train()
        logits, aux1, aux2 = model(torch.randn(2, 3, 224, 224))
    finally:
        model.eval()
    assert logits.shape == aux1.shape == aux2.shape == (2, 10)
    assert model(torch.randn(1, 3, 224, 224)).shape == (1, 10)


def test_switch_defaults():
    """docs/reference.md#switches defaults: dropout per model; aux heads on for v1, off for v4 / IR; scales 0.17 / 0.10 / 0.20."""
    assert meta("v1").drop_rate == 0.4 and meta("v1").has_aux_heads
    assert meta("v1", v1_variant="torchvision").drop_rate == 0.2
    assert meta("bn_inception").drop_rate == 0.0 and not meta("bn_inception").has_aux_heads
    for name in ("v4", "inception_resnet_v1", "inception_resnet_v2"):
        assert meta(name).drop_rate == 0.2 and not meta(name).has_aux_heads
        assert meta(name).defaults.input_size == 299
    assert meta("v1").defaults.input_size == meta("bn_inception").defaults.input_size == 224
    for alias, canonical in [("googlenet", "v1"), ("inception_v1", "v1"), ("inception_v4", "v4"),
                             ("ir_v1", "inception_resnet_v1"), ("ir_v2", "inception_resnet_v2")]:
        assert canonical_name(alias) == canonical
    with pytest.raises(TypeError, match="aux_logits"):
        create_model("bn_inception", aux_logits=True)
    with pytest.raises(ValueError, match="auto"):
        build_meta("v4", aux_logits="auto")


# ------------------------------------------------------------------------------------- residual scaling (docs/reference.md#residual-scaling, #checks)
def _blocks(model) -> list[ResidualInceptionBlock]:
    return model.residual_blocks()


def test_residual_scale_switch_sets_every_scaled_block():
    slim = meta("inception_resnet_v2")
    scales = [(b.scale, b.activate) for b in _blocks(slim)]
    assert scales == [(0.17, True)] * 10 + [(0.10, True)] * 20 + [(0.20, True)] * 9 + [(1.0, False)]
    off = build_meta("inception_resnet_v2", residual_scale=1.0)
    assert {b.scale for b in _blocks(off)} == {1.0}
    ir1 = build_meta("inception_resnet_v1", residual_scale=0.3)
    assert [(b.scale, b.activate) for b in _blocks(ir1)] == [(0.3, True)] * 20  # paper: ReLU after every block
    facenet = meta("inception_resnet_v1", variant="facenet")
    assert [(b.scale, b.activate) for b in _blocks(facenet)][-2:] == [(0.20, True), (1.0, False)]
    assert len(_blocks(facenet)) == 21
    with pytest.raises(ValueError, match="residual_scale"):
        build_meta("inception_resnet_v1", residual_scale="huge")


@pytest.mark.parametrize(
    "name,switches",
    [("inception_resnet_v1", {"final_block": "linear"}), ("inception_resnet_v2", {}),
     ("inception_resnet_v2", {"variant": "paper"})],
)
def test_zero_residual_scale_makes_every_block_an_identity(name, switches):
    """docs/reference.md#checks: with every scale 0 a ReLU-terminated block returns ReLU(x) and the linear final block returns x."""
    model = create_model(name, width_mult=0.25, residual_scale=0.0, **switches).eval()
    blocks = _blocks(model)
    assert all(b.scale == 0.0 for b in blocks if b.activate)
    final = blocks[-1]
    final.scale = 0.0  # the linear final block is 1.0 under any residual_scale (docs/reference.md#residual-scaling-ablation); zero it by hand
    seen = []
    hooks = [b.register_forward_hook(lambda m, i, o: seen.append((m, i[0].clone(), o.clone()))) for b in blocks]
    with torch.no_grad():
        model(torch.randn(1, 3, 75, 75))
    for hook in hooks:
        hook.remove()
    assert len(seen) == len(blocks)
    for block, x, y in seen:
        assert torch.equal(y, torch.relu(x) if block.activate else x)
    assert any(not block.activate for block, _, _ in seen) == (switches.get("variant") != "paper")


def test_scale_multiplies_the_residual_branch_not_the_shortcut():
    model = tiny("inception_resnet_v1")
    block = model.Repeat[0]
    x = torch.randn(1, block.conv.out_channels, 9, 9)
    with torch.no_grad():
        residual = block.conv(torch.cat([b(x) for b in block.branches], 1))
        assert torch.allclose(block(x), torch.relu(x + 0.17 * residual), atol=1e-6)


def test_dead_fraction_of_the_pre_pool_map():
    """docs/reference.md#residual-scaling-ablation: the fraction of exact zeros before average pooling (the v4 paper's "died" symptom)."""
    model = tiny("inception_resnet_v1")
    x = torch.randn(2, 3, 75, 75)
    seen = []
    hook = model.pre_pool.register_forward_hook(lambda m, i, o: seen.append(zero_fraction(o)))
    try:
        fraction = model.pre_pool_zero_fraction(x)
    finally:
        hook.remove()
    assert 0.0 <= fraction <= 1.0 and seen == [fraction]
    with torch.no_grad():
        assert fraction == (model.forward_features(x) == 0).float().mean().item()
    assert zero_fraction(torch.zeros(4)) == 1.0


# ------------------------------------------------------------------------------------------ input sizes (docs/reference.md#minimum-input)
@pytest.mark.parametrize(
    "name,switches,minimum,minimum_aux",
    [
        ("v1", {}, 32, 209),
        ("v1", {"v1_variant": "torchvision"}, 15, 15),
        ("bn_inception", {}, 32, None),
        ("v4", {"aux_logits": True}, 75, 299),
        ("inception_resnet_v1", {"aux_logits": True}, 75, 299),
        ("inception_resnet_v2", {"aux_logits": True}, 75, 299),
        ("inception_resnet_v2", {"variant": "paper"}, 75, None),
    ],
)
def test_minimum_input_sizes(name, switches, minimum, minimum_aux):
    model = meta(name, **switches)
    assert minimum_input_size(model) == minimum
    if minimum_aux is not None:
        assert minimum_input_size(model, aux=True) == minimum_aux


def test_too_small_input_names_the_minimum():
    model = tiny("v4", aux_logits=True)
    with pytest.raises(InputTooSmallError, match="75x75"):
        model(torch.randn(1, 3, 74, 74))
    assert model(torch.randn(1, 3, 75, 75)).shape == (1, 1000)
    with pytest.raises(InputTooSmallError, match="32x32"):
        tiny("bn_inception")(torch.randn(1, 3, 31, 31))
    with pytest.raises(InputTooSmallError, match="32x32"):
        tiny("v1", num_classes=10)(torch.randn(1, 3, 31, 31))


def test_googlenet_fixed_aux_pool_names_its_input_range():
    """docs/reference.md#googlenet-aux: the fixed 5×5/3 aux pool gives the 4×4 map only for 14–16 grids (inputs 209–256 with SAME padding)."""
    model = build_meta("v1").train()
    for size in (209, 256):
        assert len(model(torch.empty(2, 3, size, size, device="meta"))) == 3
    for size in (208, 257):
        with pytest.raises(InputTooSmallError, match="209-256"):
            model(torch.empty(2, 3, size, size, device="meta"))
    adaptive = build_meta("v1", aux_pool="adaptive").train()
    assert len(adaptive(torch.empty(2, 3, 320, 320, device="meta"))) == 3


@pytest.mark.parametrize("size", [33, 97, 225])
def test_bn_inception_takes_odd_sizes(size):
    """docs/reference.md#padding: TF-SAME padding on every stride-2 layer, so odd inputs work (the Caffe padding accepts only bands)."""
    assert tiny("bn_inception")(torch.randn(1, 3, size, size)).shape == (1, 1000)


def test_googlenet_same_padding_matches_tf():
    """docs/reference.md#padding: TF pads a 7×7/2 conv on 224 by 2 before and 3 after; torchvision's variant pads 3 and 3."""
    pad = tiny("v1", num_classes=10).stem.conv1[0]
    x = torch.randn(1, 1, 224, 224)
    padded = pad(x)
    assert padded.shape[-2:] == (229, 229)
    assert torch.equal(padded[..., 2:226, 2:226], x) and padded[..., :2, :].abs().sum() == 0
