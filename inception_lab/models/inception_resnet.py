"""Inception-ResNet-v1 and -v2: Szegedy et al., "Inception-v4, Inception-ResNet and the Impact of Residual
Connections on Learning", arXiv 1602.07261 — IR-v1: Figs 14 (stem), 10 (A), 7 + Table 1 (Reduction-A),
11 (B), 12 (Reduction-B), 13 (C), 15 (overall); IR-v2: Figs 3 (stem), 16 (A), 7 (Reduction-A), 17 (B),
18 (Reduction-B), 19 (C); Fig. 20 and v4 paper §3.3 (scaling of the residuals).

Reference: docs/reference.md#inception-resnet-v1 (IR-v1), docs/reference.md#inception-resnet-v2 (IR-v2, paper vs released layout), docs/reference.md#residual-scaling (residual
scaling and the last block), docs/reference.md#counts (counts), docs/reference.md#residual-scaling-ablation (residual scaling on/off and the "died" symptom), docs/reference.md#readings rows
22–25. Code readings: TF-slim ``inception_resnet_v2`` (released IR-v2 checkpoint), facenet
``inception_resnet_v1`` (IR-v1 blocks).

Residual block (Fig. 20): ``y = act(x + s · linear1×1(concat(branches(x))))``. The linear 1×1 ("filter
expansion") restores x's width, has a bias, no BN, no activation; the scale ``s`` multiplies the residual branch,
never the shortcut; there is no BN after the sum (paper §3.2).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torch.nn import functional as F

from inception_lab.models.inception_v3 import AuxHead
from inception_lab.models.inception_v4 import ReductionA
from inception_lab.models.inception_v4 import Stem as InceptionV4Stem
from inception_lab.models.layers import (
    Branches,
    ConvBNReLU,
    InceptionNet,
    ModelDefaults,
    Width,
    avg_pool_3x3_same,
    check_aux_switch,
    check_choice,
    stem_convs,
    width_rule,
)
from inception_lab.models.registry import register_model

#: Per-stage residual scales of every released implementation (TF-slim, timm, facenet; docs/reference.md#residual-scaling). The paper only says
#: "between 0.1 and 0.3" (v4 paper §3.3).
REFERENCE_SCALES = {"A": 0.17, "B": 0.10, "C": 0.20}


def zero_fraction(features: torch.Tensor) -> float:
    """Fraction of exact zeros in a tensor: the v4 paper's "died" symptom (§3.3) when measured on the layer before
    average pooling — a dead network emits only zeros there (docs/reference.md#residual-scaling, #residual-scaling-ablation)."""
    return (features == 0).float().mean().item()


# ------------------------------------------------------------------------------------------------------- blocks
class ResidualInceptionBlock(Branches):
    """Scaled residual Inception block (Fig. 20): ``act(x + scale · conv1×1(concat(branches(x))))``.

    ``scale`` and ``activate`` are plain attributes (``scale`` may be changed after construction, e.g. to
    ablate). With ``scale = 0`` a ReLU-terminated block returns ``relu(x)`` and a linear one returns ``x`` exactly.
    """

    def __init__(self, in_channels: int, branches: list[nn.Module], concat_channels: int, scale: float, activate: bool):
        super().__init__(branches, in_channels)
        self.conv = nn.Conv2d(concat_channels, in_channels, 1, bias=True)  # linear 1×1: bias, no BN, no activation
        self.scale = float(scale)
        self.activate = bool(activate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.conv(super().forward(x))
        out = torch.add(x, residual, alpha=self.scale)
        return F.relu(out, inplace=True) if self.activate else out

    def extra_repr(self) -> str:
        return f"scale={self.scale}, activate={self.activate}"


class Block35(ResidualInceptionBlock):
    """Inception-ResNet-A, 35×35 (IR-v1 Fig. 10; IR-v2 Fig. 16 / TF-slim Block35):
    ``1×1 b0`` ‖ ``1×1 b1a -> 3×3 b1b`` ‖ ``1×1 b2a -> 3×3 b2b -> 3×3 b2c`` -> linear 1×1 (input width).
    IR-v1 widths (32, 32, 32, 32, 32, 32): 77,440 params at 256; IR-v2 (32, 32, 32, 32, 48, 64): 123,168 at 320."""

    def __init__(
        self, in_channels: int, widths: tuple[int, ...], width: Width, scale: float, activate: bool = True
    ) -> None:
        b0, b1a, b1b, b2a, b2b, b2c = (width(c) for c in widths)
        branches = [
            ConvBNReLU(in_channels, b0, 1),
            nn.Sequential(ConvBNReLU(in_channels, b1a, 1), ConvBNReLU(b1a, b1b, 3, padding=1)),
            nn.Sequential(
                ConvBNReLU(in_channels, b2a, 1), ConvBNReLU(b2a, b2b, 3, padding=1), ConvBNReLU(b2b, b2c, 3, padding=1)
            ),
        ]
        super().__init__(in_channels, branches, b0 + b1b + b2c, scale, activate)


class Block17(ResidualInceptionBlock):
    """Inception-ResNet-B, 17×17 (IR-v1 Fig. 11; IR-v2 Fig. 17 / TF-slim Block17):
    ``1×1 b0`` ‖ ``1×1 b1a -> 1×7 b1b -> 7×1 b1c`` -> linear 1×1 (input width).
    IR-v1 (128, 128, 128, 128): 690,048 params at 896; IR-v2 (192, 128, 160, 192): 1,126,784 at 1088."""

    def __init__(
        self, in_channels: int, widths: tuple[int, ...], width: Width, scale: float, activate: bool = True
    ) -> None:
        b0, b1a, b1b, b1c = (width(c) for c in widths)
        branches = [
            ConvBNReLU(in_channels, b0, 1),
            nn.Sequential(
                ConvBNReLU(in_channels, b1a, 1),
                ConvBNReLU(b1a, b1b, (1, 7), padding=(0, 3)),
                ConvBNReLU(b1b, b1c, (7, 1), padding=(3, 0)),
            ),
        ]
        super().__init__(in_channels, branches, b0 + b1c, scale, activate)


class Block8(ResidualInceptionBlock):
    """Inception-ResNet-C, 8×8 (IR-v1 Fig. 13; IR-v2 Fig. 19 / TF-slim Block8):
    ``1×1 b0`` ‖ ``1×1 b1a -> 1×3 b1b -> 3×1 b1c`` -> linear 1×1 (input width).
    IR-v1 (192, 192, 192, 192): 1,600,768 params at 1792; IR-v2 (192, 192, 224, 256): 2,035,424 at 2080."""

    def __init__(
        self, in_channels: int, widths: tuple[int, ...], width: Width, scale: float, activate: bool = True
    ) -> None:
        b0, b1a, b1b, b1c = (width(c) for c in widths)
        branches = [
            ConvBNReLU(in_channels, b0, 1),
            nn.Sequential(
                ConvBNReLU(in_channels, b1a, 1),
                ConvBNReLU(b1a, b1b, (1, 3), padding=(0, 1)),
                ConvBNReLU(b1b, b1c, (3, 1), padding=(1, 0)),
            ),
        ]
        super().__init__(in_channels, branches, b0 + b1c, scale, activate)


class ReductionB(Branches):
    """Reduction-B of the Inception-ResNet networks (IR-v1 Fig. 12; IR-v2 Fig. 18 / TF-slim Mixed_7a), 17 -> 8:
    ``1×1 -> 3×3/2 V`` ‖ ``1×1 -> 3×3/2 V`` ‖ ``1×1 -> 3×3 S -> 3×3/2 V`` ‖ ``maxpool 3×3/2 V`` (pass-through).
    IR-v1 widths ((256, 384), (256, 256), (256, 256, 256)): 3,346,176 params, 896 -> 1792;
    IR-v2 ((256, 384), (256, 288), (256, 288, 320)): 3,880,960 params, 1088 -> 2080."""

    def __init__(self, in_channels: int, widths: tuple[tuple[int, ...], ...], width: Width) -> None:
        (a0, a1), (b0, b1), (c0, c1, c2) = ((width(c) for c in branch) for branch in widths)
        super().__init__(
            [
                nn.Sequential(ConvBNReLU(in_channels, a0, 1), ConvBNReLU(a0, a1, 3, 2)),
                nn.Sequential(ConvBNReLU(in_channels, b0, 1), ConvBNReLU(b0, b1, 3, 2)),
                nn.Sequential(
                    ConvBNReLU(in_channels, c0, 1), ConvBNReLU(c0, c1, 3, padding=1), ConvBNReLU(c1, c2, 3, 2)
                ),
                nn.MaxPool2d(3, 2),
            ],
            a1 + b1 + c2 + in_channels,
        )


class Mixed5b(Branches):
    """TF-slim IR-v2's Mixed_5b (not in the paper; docs/reference.md#ir-v2-slim), 35×35×192 -> 320 (268,320 params): ``1×1 96`` ‖
    ``1×1 48 -> 5×5 64`` ‖ ``1×1 64 -> 3×3 96 -> 3×3 96`` ‖ ``avgpool 3×3/1 S -> 1×1 64``."""

    def __init__(self, in_channels: int, width: Width, count_include_pad: bool = False) -> None:
        c48, c64, c96 = width(48), width(64), width(96)
        super().__init__(
            [
                ConvBNReLU(in_channels, c96, 1),
                nn.Sequential(ConvBNReLU(in_channels, c48, 1), ConvBNReLU(c48, c64, 5, padding=2)),
                nn.Sequential(
                    ConvBNReLU(in_channels, c64, 1),
                    ConvBNReLU(c64, c96, 3, padding=1),
                    ConvBNReLU(c96, c96, 3, padding=1),
                ),
                nn.Sequential(avg_pool_3x3_same(count_include_pad), ConvBNReLU(in_channels, c64, 1)),
            ],
            2 * c96 + 2 * c64,
        )


def _code_stem(in_chans: int, width: Width, last: str) -> nn.Sequential:
    """The conv stem shared by IR-v1 (Fig. 14) and TF-slim IR-v2 (= Inception-v3's stem, docs/reference.md#v3-stem): conv 3×3/2 V 32 ->
    conv 3×3 V 32 -> conv 3×3 S 64 -> maxpool 3×3/2 V -> conv 1×1 80 -> conv 3×3 V 192 (71×71×192), then
    ``last='conv'`` (IR-v1: conv 3×3/2 V 256 -> 35×35×256, 615,552 params) or ``last='pool'`` (IR-v2 slim:
    maxpool 3×3/2 V -> 35×35×192)."""
    c64, c80, c192 = width(64), width(80), width(192)
    layers = stem_convs(in_chans, width)
    layers["MaxPool_3a_3x3"] = nn.MaxPool2d(3, 2)
    layers["Conv2d_3b_1x1"] = ConvBNReLU(c64, c80, 1)
    layers["Conv2d_4a_3x3"] = ConvBNReLU(c80, c192, 3)
    if last == "conv":
        layers["Conv2d_4b_3x3"] = ConvBNReLU(c192, width(256), 3, 2)
    else:
        layers["MaxPool_5a_3x3"] = nn.MaxPool2d(3, 2)
    stem = nn.Sequential(OrderedDict(layers))
    stem.out_channels = width(256) if last == "conv" else c192
    return stem


# ------------------------------------------------------------------------------------------------------ network
class InceptionResNet(InceptionNet):
    """Shared trunk of IR-v1 / IR-v2 (Fig. 15): ``stem`` -> ``Repeat`` (A blocks) -> ``Mixed_6a`` (Reduction-A)
    -> ``Repeat_1`` (B blocks) [-> ``AuxLogits``] -> ``Mixed_7a`` (Reduction-B) -> ``Repeat_2`` (C blocks but the
    last) -> ``Block8`` (the last C block) [-> ``Conv2d_7b_1x1``] -> ``pre_pool`` -> global average pool ->
    dropout -> ``fc``.

    ``pre_pool`` is an identity on the feature map before average pooling — the layer where the v4 paper saw a
    dying network emit only zeros (v4 paper §3.3). Register a forward hook on ``model.pre_pool`` to watch it during training
    at no extra cost, or call :meth:`pre_pool_zero_fraction` on a batch.
    """

    defaults = ModelDefaults(input_size=299)
    aux_head_names = ("AuxLogits",)

    @staticmethod
    def _scales(residual_scale: str | float, final_block: str) -> tuple[dict[str, float], float]:
        """Per-stage scales and the last block's scale (docs/reference.md#residual-scaling, #residual-scaling-ablation): 'reference' = 0.17 / 0.10 / 0.20; a number
        applies to every scaled block (1.0 = scaling off). A ``'linear'`` last block is always 1.0 (TF-slim)."""
        check_choice("final_block", final_block, ("relu", "linear"))
        if isinstance(residual_scale, str) and residual_scale == "reference":
            scales = dict(REFERENCE_SCALES)
        else:
            try:
                value = float(residual_scale)
            except (TypeError, ValueError):
                raise ValueError(f"residual_scale must be 'reference' or a number, got {residual_scale!r}") from None
            scales = dict.fromkeys(REFERENCE_SCALES, value)
        return scales, 1.0 if final_block == "linear" else scales["C"]

    def _build(
        self,
        *,
        stem: nn.Module,
        blocks: dict[str, tuple[type[ResidualInceptionBlock], int, tuple[int, ...]]],
        reduction_a: tuple[int, int, int, int],
        reduction_b: tuple[tuple[int, ...], ...],
        residual_scale: str | float,
        final_block: str,
        width: Width,
        num_classes: int,
        in_chans: int,
        aux_logits: bool,
        drop_rate: float,
        count_include_pad: bool,
        bn_eps: float,
        bn_momentum: float,
        mixed_5b: bool = False,
        final_conv: int | None = None,
    ) -> None:
        """What both constructors share; the subclass passes its variant's stem, block table and widths."""
        self.in_chans = in_chans
        self.aux_logits = check_aux_switch(aux_logits)
        self.drop_rate = float(drop_rate)
        scales, final_scale = self._scales(residual_scale, final_block)
        self.residual_scales = {**scales, "final": final_scale}
        self.final_block = final_block
        self.stem = stem
        channels = stem.out_channels
        self.Mixed_5b = Mixed5b(channels, width, count_include_pad) if mixed_5b else None
        if self.Mixed_5b is not None:
            channels = self.Mixed_5b.out_channels

        def repeat(stage: str, count: int) -> nn.Sequential:
            cls, _, widths = blocks[stage]
            return nn.Sequential(*(cls(channels, widths, width, scales[stage]) for _ in range(count)))

        self.Repeat = repeat("A", blocks["A"][1])
        self.Mixed_6a = ReductionA(channels, *(width(c) for c in reduction_a))
        channels = self.Mixed_6a.out_channels
        self.Repeat_1 = repeat("B", blocks["B"][1])
        self.AuxLogits = AuxHead(channels, num_classes, width, 768, bn_fc=True) if self.aux_logits else None
        self.Mixed_7a = ReductionB(channels, reduction_b, width)
        channels = self.Mixed_7a.out_channels
        self.Repeat_2 = repeat("C", blocks["C"][1] - 1)
        cls, _, widths = blocks["C"]
        self.Block8 = cls(channels, widths, width, final_scale, activate=final_block == "relu")
        self.Conv2d_7b_1x1 = ConvBNReLU(channels, width(final_conv), 1) if final_conv else None
        if self.Conv2d_7b_1x1 is not None:
            channels = width(final_conv)
        self.pre_pool = nn.Identity()
        self.num_features = channels
        self._finish(num_classes, bn_eps, bn_momentum)

    def residual_blocks(self) -> list[ResidualInceptionBlock]:
        """Every residual block in execution order (the last is ``Block8``, the final C block)."""
        return [m for m in self.modules() if isinstance(m, ResidualInceptionBlock)]

    @torch.no_grad()
    def pre_pool_zero_fraction(self, x: torch.Tensor) -> float:
        """Fraction of exact zeros in the pre-pool feature map for input ``x`` (v4 paper §3.3 "died" symptom;
        docs/reference.md#residual-scaling-ablation). Runs :meth:`forward_features` without gradients in the current train/eval mode (in train
        mode BN running statistics are updated as in a training step; call it in eval mode to leave them alone)."""
        return zero_fraction(self.forward_features(x))

    def forward_trunk(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        aux: list[torch.Tensor] = []
        x = self.stem(x)
        if self.Mixed_5b is not None:
            x = self.Mixed_5b(x)
        x = self.Repeat_1(self.Mixed_6a(self.Repeat(x)))
        if self.training and self.AuxLogits is not None:
            aux.append(self.AuxLogits(x))
        x = self.Block8(self.Repeat_2(self.Mixed_7a(x)))
        if self.Conv2d_7b_1x1 is not None:
            x = self.Conv2d_7b_1x1(x)
        return self.pre_pool(x), aux


# Rows inception-lab-models shows besides the defaults (docs/reference.md#ir-v1-variants).
IR_V1_VARIANTS = {"variant=facenet (+ linear 6th C block)": {"variant": "facenet"}}


@register_model("inception_resnet_v1", "ir_v1", variants=IR_V1_VARIANTS)
class InceptionResNetV1(InceptionResNet):
    """Inception-ResNet-v1 (docs/reference.md#inception-resnet-v1; paper Fig. 15): stem (Fig. 14) -> 5 × A (Fig. 10) -> Reduction-A
    (k, l, m, n = 192, 192, 256, 384) -> 10 × B (Fig. 11) -> Reduction-B (Fig. 12) -> 5 × C (Fig. 13) -> average
    pool -> dropout (keep 0.8) -> linear 1792 -> classes.

    ``variant``: ``'paper'`` (default) — 5 C blocks (docs/reference.md#ir-v1-variants); ``'facenet'`` — 5 scaled C blocks plus a 6th.
    ``final_block`` (``None`` = the variant's): the last C block (``model.Block8``) is ``'relu'`` — scaled and
    ReLU-terminated as every block is drawn, the paper default — or ``'linear'`` — scale 1.0, no activation (the
    TF-slim IR-v2 / facenet convention; facenet's default). The paper's "died" symptom (zeros before the average
    pool) presupposes a ReLU there, which is why the paper reading is the default (docs/reference.md#residual-scaling, #final-block).
    ``residual_scale``: ``'reference'`` (0.17 / 0.10 / 0.20, facenet's) or one number for every scaled block
    (1.0 = no scaling, docs/reference.md#residual-scaling-ablation). ``aux_logits`` (default False): no source defines an IR-v1 aux head; the switch
    mirrors TF-slim IR-v2's head after the last B block (3,343,080 params; inputs ≥ 299).

    Counts at width 1.0 (docs/reference.md#ir-v1-variants): paper 22,756,328 params / 6.206 G MACs at 299 (either final block); facenet
    24,357,096 / 6.309 G.
    """

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        variant: str = "paper",
        final_block: str | None = None,
        residual_scale: str | float = "reference",
        aux_logits: bool = False,
        width_mult: float = 1.0,
        drop_rate: float = 0.2,
        bn_eps: float = 1e-3,
        bn_momentum: float = 0.1,
        avgpool_count_include_pad: bool = False,
    ) -> None:
        super().__init__()
        self.variant = check_choice("variant", variant, ("paper", "facenet"))
        width = width_rule(width_mult)
        self._build(
            stem=_code_stem(in_chans, width, last="conv"),
            blocks={
                "A": (Block35, 5, (32, 32, 32, 32, 32, 32)),
                "B": (Block17, 10, (128, 128, 128, 128)),
                "C": (Block8, 6 if variant == "facenet" else 5, (192, 192, 192, 192)),
            },
            reduction_a=(192, 192, 256, 384),
            reduction_b=((256, 384), (256, 256), (256, 256, 256)),
            residual_scale=residual_scale,
            final_block=final_block or ("linear" if variant == "facenet" else "relu"),
            width=width,
            num_classes=num_classes,
            in_chans=in_chans,
            aux_logits=aux_logits,
            drop_rate=drop_rate,
            count_include_pad=avgpool_count_include_pad,  # IR-v1 has no average pool inside its blocks
            bn_eps=bn_eps,
            bn_momentum=bn_momentum,
        )


# Rows inception-lab-models shows besides the defaults (docs/reference.md#ir-v2-paper).
IR_V2_VARIANTS = {"variant=paper (figure layout)": {"variant": "paper"}}


@register_model("inception_resnet_v2", "ir_v2", variants=IR_V2_VARIANTS)
class InceptionResNetV2(InceptionResNet):
    """Inception-ResNet-v2 (docs/reference.md#inception-resnet-v2).

    ``variant='slim'`` (default; the released checkpoint, TF-slim / timm, docs/reference.md#ir-v2-layouts, #ir-v2-slim): v3 stem to
    35×35×192 -> Mixed_5b (320) -> 10 × Block35 (0.17) -> Reduction-A (256, 256, 384, 384) -> 1088 -> 20 × Block17
    (0.10) -> Reduction-B -> 2080 -> 9 × Block8 (0.20) + Block8 at scale 1.0 without ReLU -> Conv2d_7b_1x1 1536
    (CBR) -> average pool -> dropout (keep 0.8) -> linear. 55,843,464 params (59,211,120 with the aux head),
    13.156 G MACs at 299. The TF-slim maintainer states this is the layout the authors intended (tensorflow/models
    #1553).

    ``variant='paper'`` — the figures: v4 stem (Fig. 3) -> 5 × A (Fig. 16, linear 384) -> Reduction-A -> 1152 ->
    10 × B (Fig. 17, linear 1152) -> Reduction-B (Fig. 18) -> 2144 -> 5 × C (Fig. 19, linear 2144) -> average pool.
    Each linear 1×1 is set to its incoming width (the printed 1154 and 2048 cannot be added to the trunk, docs/reference.md#ir-v2-layouts).
    32,433,928 params (35,809,776 with aux), 9.258 G MACs.

    ``final_block`` (``None`` = the variant's): slim ``'linear'`` (scale 1.0, no ReLU; the ReLU before the pool
    comes from Conv2d_7b); paper ``'relu'`` (as drawn; the paper variant has no Conv2d_7b, so this keeps a ReLU
    output before the pool, where the "died" symptom is measured). ``residual_scale``: ``'reference'`` or a number
    for every scaled block (1.0 = scaling off, docs/reference.md#residual-scaling-ablation); the linear last block stays at 1.0 in both.
    ``aux_logits`` (default False; TF-slim only): the v3-style head on the last B block (needs inputs ≥ 299).
    """

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        variant: str = "slim",
        final_block: str | None = None,
        residual_scale: str | float = "reference",
        aux_logits: bool = False,
        width_mult: float = 1.0,
        drop_rate: float = 0.2,
        bn_eps: float = 1e-3,
        bn_momentum: float = 0.1,
        avgpool_count_include_pad: bool = False,
    ) -> None:
        super().__init__()
        self.variant = check_choice("variant", variant, ("slim", "paper"))
        width = width_rule(width_mult)
        slim = variant == "slim"
        self._build(
            stem=_code_stem(in_chans, width, last="pool") if slim else InceptionV4Stem(in_chans, width),
            mixed_5b=slim,
            blocks={
                "A": (Block35, 10 if slim else 5, (32, 32, 32, 32, 48, 64)),
                "B": (Block17, 20 if slim else 10, (192, 128, 160, 192)),
                "C": (Block8, 10 if slim else 5, (192, 192, 224, 256)),
            },
            reduction_a=(256, 256, 384, 384),
            reduction_b=((256, 384), (256, 288), (256, 288, 320)),
            residual_scale=residual_scale,
            final_block=final_block or ("linear" if slim else "relu"),
            final_conv=1536 if slim else None,
            width=width,
            num_classes=num_classes,
            in_chans=in_chans,
            aux_logits=aux_logits,
            drop_rate=drop_rate,
            count_include_pad=avgpool_count_include_pad,
            bn_eps=bn_eps,
            bn_momentum=bn_momentum,
        )
