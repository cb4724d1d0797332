"""Inception-v4: Szegedy et al., "Inception-v4, Inception-ResNet and the Impact of Residual Connections on
Learning", arXiv 1602.07261 — Fig. 3 (stem), 4 (Inception-A), 5 (Inception-B), 6 (Inception-C), 7 (Reduction-A),
8 (Reduction-B), 9 (overall), Table 1 (Reduction-A filter counts k, l, m, n).

Reference: docs/reference.md#inception-v4 (layers, per-block counts), docs/reference.md#counts (42,679,816 params,
12.254 G MACs at 299), docs/reference.md#minimum-input (minimum input 75; 299 with the aux head), docs/reference.md#readings rows 18–21. Layer order and branch
order follow TF-slim ``inception_v4`` (the released weights), where the figures differ only in 1×n / n×1 order
(docs/reference.md#v4-inception-b; no effect on counts). The v4 :class:`Stem` and the generic :class:`ReductionA` are shared with
the Inception-ResNet networks (``inception_resnet.py``).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from inception_lab.models.inception_v3 import AuxHead
from inception_lab.models.layers import (
    Branches,
    ConvBNReLU,
    InceptionNet,
    ModelDefaults,
    Width,
    avg_pool_3x3_same,
    check_aux_switch,
    stem_convs,
    width_rule,
)
from inception_lab.models.registry import register_model


# --------------------------------------------------------------------------------------------------------- stem
class Mixed3a(Branches):
    """Fig. 3, first fan-out: ``maxpool 3×3/2 V`` ‖ ``conv 3×3/2 V 96`` (147×147×64 -> 73×73×160)."""

    def __init__(self, in_channels: int, width: Width) -> None:
        super().__init__([nn.MaxPool2d(3, 2), ConvBNReLU(in_channels, width(96), 3, 2)], in_channels + width(96))


class Mixed4a(Branches):
    """Fig. 3, second fan-out: ``1×1 64 -> 3×3 V 96`` ‖ ``1×1 64 -> 1×7 64 -> 7×1 64 -> 3×3 V 96``
    (73×73×160 -> 71×71×192)."""

    def __init__(self, in_channels: int, width: Width) -> None:
        c64, c96 = width(64), width(96)
        super().__init__(
            [
                nn.Sequential(ConvBNReLU(in_channels, c64, 1), ConvBNReLU(c64, c96, 3)),
                nn.Sequential(
                    ConvBNReLU(in_channels, c64, 1),
                    ConvBNReLU(c64, c64, (1, 7), padding=(0, 3)),
                    ConvBNReLU(c64, c64, (7, 1), padding=(3, 0)),
                    ConvBNReLU(c64, c96, 3),
                ),
            ],
            2 * c96,
        )


class Mixed5a(Branches):
    """Fig. 3, last fan-out: ``conv 3×3/2 V 192`` ‖ ``maxpool 3×3/2 V`` (71×71×192 -> 35×35×384). Fig. 3 prints the
    conv without "stride 2"; it must be stride 2 to concatenate with the stride-2 pool (docs/reference.md#v4-stem)."""

    def __init__(self, in_channels: int, width: Width) -> None:
        super().__init__([ConvBNReLU(in_channels, width(192), 3, 2), nn.MaxPool2d(3, 2)], width(192) + in_channels)


class Stem(nn.Sequential):
    """The Inception-v4 stem, Fig. 3 (docs/reference.md#v4-stem; in the paper also the Inception-ResNet-v2 stem): conv 3×3/2 V 32 ->
    conv 3×3 V 32 -> conv 3×3 S 64 -> Mixed_3a -> Mixed_4a -> Mixed_5a. 299×299×3 -> 35×35×384 (605,728 params)."""

    def __init__(self, in_chans: int, width: Width) -> None:
        layers = stem_convs(in_chans, width)
        layers["Mixed_3a"] = Mixed3a(width(64), width)
        layers["Mixed_4a"] = Mixed4a(layers["Mixed_3a"].out_channels, width)
        layers["Mixed_5a"] = Mixed5a(layers["Mixed_4a"].out_channels, width)
        super().__init__(OrderedDict(layers))
        self.out_channels = layers["Mixed_5a"].out_channels


# ------------------------------------------------------------------------------------------------------- blocks
class InceptionA(Branches):
    """Inception-A, Fig. 4 (docs/reference.md#v4-inception-a), 35×35×384 -> 384 (317,632 params): ``1×1 96`` ‖ ``1×1 64 -> 3×3 96`` ‖
    ``1×1 64 -> 3×3 96 -> 3×3 96`` ‖ ``avgpool 3×3 -> 1×1 96``."""

    def __init__(self, in_channels: int, width: Width, count_include_pad: bool = False) -> None:
        c64, c96 = width(64), width(96)
        super().__init__(
            [
                ConvBNReLU(in_channels, c96, 1),
                nn.Sequential(ConvBNReLU(in_channels, c64, 1), ConvBNReLU(c64, c96, 3, padding=1)),
                nn.Sequential(
                    ConvBNReLU(in_channels, c64, 1),
                    ConvBNReLU(c64, c96, 3, padding=1),
                    ConvBNReLU(c96, c96, 3, padding=1),
                ),
                nn.Sequential(avg_pool_3x3_same(count_include_pad), ConvBNReLU(in_channels, c96, 1)),
            ],
            4 * c96,
        )


class ReductionA(Branches):
    """Reduction-A, Fig. 7, generic in Table 1's (k, l, m, n) (docs/reference.md#reduction-a): ``conv 3×3/2 V n`` ‖
    ``1×1 k -> 3×3 S l -> 3×3/2 V m`` ‖ ``maxpool 3×3/2 V`` (pass-through). Out = n + m + in; 35 -> 17.

    Table 1: Inception-v4 (192, 224, 256, 384); IR-v1 (192, 192, 256, 384); IR-v2 (256, 256, 384, 384).
    """

    def __init__(self, in_channels: int, k: int, l: int, m: int, n: int) -> None:  # noqa: E741 (Table 1's k, l, m, n)
        super().__init__(
            [
                ConvBNReLU(in_channels, n, 3, 2),
                nn.Sequential(ConvBNReLU(in_channels, k, 1), ConvBNReLU(k, l, 3, padding=1), ConvBNReLU(l, m, 3, 2)),
                nn.MaxPool2d(3, 2),
            ],
            n + m + in_channels,
        )


class InceptionB(Branches):
    """Inception-B, Fig. 5 (docs/reference.md#v4-inception-b), 17×17×1024 -> 1024 (2,936,256 params): ``1×1 384`` ‖
    ``1×1 192 -> 1×7 224 -> 7×1 256`` ‖ ``1×1 192 -> 7×1 192 -> 1×7 224 -> 7×1 224 -> 1×7 256`` ‖
    ``avgpool 3×3 -> 1×1 128``. TF-slim order; Fig. 5 draws the long branch 1×7-first and prints the middle
    branch's last conv as a second 1×7 (a typo; docs/reference.md#v4-inception-b)."""

    def __init__(self, in_channels: int, width: Width, count_include_pad: bool = False) -> None:
        c192, c224, c256 = width(192), width(224), width(256)
        super().__init__(
            [
                ConvBNReLU(in_channels, width(384), 1),
                nn.Sequential(
                    ConvBNReLU(in_channels, c192, 1),
                    ConvBNReLU(c192, c224, (1, 7), padding=(0, 3)),
                    ConvBNReLU(c224, c256, (7, 1), padding=(3, 0)),
                ),
                nn.Sequential(
                    ConvBNReLU(in_channels, c192, 1),
                    ConvBNReLU(c192, c192, (7, 1), padding=(3, 0)),
                    ConvBNReLU(c192, c224, (1, 7), padding=(0, 3)),
                    ConvBNReLU(c224, c224, (7, 1), padding=(3, 0)),
                    ConvBNReLU(c224, c256, (1, 7), padding=(0, 3)),
                ),
                nn.Sequential(avg_pool_3x3_same(count_include_pad), ConvBNReLU(in_channels, width(128), 1)),
            ],
            width(384) + 2 * c256 + width(128),
        )


class ReductionB(Branches):
    """Reduction-B, Fig. 8 (docs/reference.md#v4-reduction-b), 17×17×1024 -> 8×8×1536 (2,747,392 params): ``1×1 192 -> 3×3/2 V 192`` ‖
    ``1×1 256 -> 1×7 256 -> 7×1 320 -> 3×3/2 V 320`` ‖ ``maxpool 3×3/2 V`` (pass-through)."""

    def __init__(self, in_channels: int, width: Width) -> None:
        c192, c256, c320 = width(192), width(256), width(320)
        super().__init__(
            [
                nn.Sequential(ConvBNReLU(in_channels, c192, 1), ConvBNReLU(c192, c192, 3, 2)),
                nn.Sequential(
                    ConvBNReLU(in_channels, c256, 1),
                    ConvBNReLU(c256, c256, (1, 7), padding=(0, 3)),
                    ConvBNReLU(c256, c320, (7, 1), padding=(3, 0)),
                    ConvBNReLU(c320, c320, 3, 2),
                ),
                nn.MaxPool2d(3, 2),
            ],
            c192 + c320 + in_channels,
        )


class InceptionC(nn.Module):
    """Inception-C, Fig. 6 (docs/reference.md#v4-inception-c), 8×8×1536 -> 1536 (4,553,088 params): ``1×1 256`` ‖
    ``1×1 384 -> [1×3 256 ‖ 3×1 256]`` ‖ ``1×1 384 -> 3×1 448 -> 1×3 512 -> [1×3 256 ‖ 3×1 256]`` ‖
    ``avgpool 3×3 -> 1×1 256``. TF-slim order (3×1 448 then 1×3 512); orientation order never changes counts."""

    def __init__(self, in_channels: int, width: Width, count_include_pad: bool = False) -> None:
        super().__init__()
        c256, c384, c448, c512 = width(256), width(384), width(448), width(512)
        self.branch0 = ConvBNReLU(in_channels, c256, 1)
        self.branch1 = ConvBNReLU(in_channels, c384, 1)
        self.branch1_1x3 = ConvBNReLU(c384, c256, (1, 3), padding=(0, 1))
        self.branch1_3x1 = ConvBNReLU(c384, c256, (3, 1), padding=(1, 0))
        self.branch2 = nn.Sequential(
            ConvBNReLU(in_channels, c384, 1),
            ConvBNReLU(c384, c448, (3, 1), padding=(1, 0)),
            ConvBNReLU(c448, c512, (1, 3), padding=(0, 1)),
        )
        self.branch2_1x3 = ConvBNReLU(c512, c256, (1, 3), padding=(0, 1))
        self.branch2_3x1 = ConvBNReLU(c512, c256, (3, 1), padding=(1, 0))
        self.branch3 = nn.Sequential(avg_pool_3x3_same(count_include_pad), ConvBNReLU(in_channels, c256, 1))
        self.out_channels = 6 * c256

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1, b2 = self.branch1(x), self.branch2(x)
        return torch.cat(
            [
                self.branch0(x),
                self.branch1_1x3(b1),
                self.branch1_3x1(b1),
                self.branch2_1x3(b2),
                self.branch2_3x1(b2),
                self.branch3(x),
            ],
            1,
        )


# ------------------------------------------------------------------------------------------------------ network
@register_model("v4", "inception_v4")
class InceptionV4(InceptionNet):
    """Inception-v4 (docs/reference.md#inception-v4; paper Fig. 9): Stem -> 4 × Inception-A -> Reduction-A -> 7 × Inception-B ->
    Reduction-B -> 3 × Inception-C -> global average pool -> dropout (p 0.2, keep 0.8 in Fig. 9) -> linear.

    Stages (top-level children, TF-slim names): ``stem`` (``Conv2d_1a_3x3`` … ``Mixed_5a``), ``Mixed_5b…5e``,
    ``Mixed_6a``, ``Mixed_6b…6h``, ``Mixed_7a``, ``Mixed_7b…7d``, ``AuxLogits``, ``fc``.

    ``aux_logits`` (default False): the paper has no auxiliary head, timm none; TF-slim attaches one to Mixed_6h
    (avgpool 5×5/3 V -> conv 1×1 128 -> conv 5×5 V 768 -> linear; 3,359,464 params) — the switch gives slim parity
    (docs/reference.md#v4-classifier). It is the v3 head (:class:`~inception_lab.models.inception_v3.AuxHead`, BN on both convs)
    and needs a 17×17 grid at Mixed_6h, i.e. inputs ≥ 299 (docs/reference.md#minimum-input).

    Counts at width 1.0, 1000 classes: 42,679,816 params (46,039,280 with the aux head), 12.254 G MACs at 299.
    Normalisation [-1, 1] (TF-slim, docs/reference.md#preprocessing). In-block average pools exclude padding by default (docs/reference.md#padding).
    """

    aux_head_names = ("AuxLogits",)

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        aux_logits: bool = False,
        width_mult: float = 1.0,
        drop_rate: float = 0.2,
        bn_eps: float = 1e-3,
        bn_momentum: float = 0.1,
        avgpool_count_include_pad: bool = False,
    ) -> None:
        super().__init__()
        self.in_chans = in_chans
        self.aux_logits = check_aux_switch(aux_logits)
        self.drop_rate = float(drop_rate)

        width = width_rule(width_mult)
        pad = avgpool_count_include_pad
        self.stem = Stem(in_chans, width)
        channels = self.stem.out_channels
        self.stages: list[str] = ["stem"]

        def add(name: str, block: nn.Module) -> None:
            nonlocal channels
            setattr(self, name, block)
            self.stages.append(name)
            channels = block.out_channels

        for letter in "bcde":
            add(f"Mixed_5{letter}", InceptionA(channels, width, pad))
        add("Mixed_6a", ReductionA(channels, width(192), width(224), width(256), width(384)))
        for letter in "bcdefgh":
            add(f"Mixed_6{letter}", InceptionB(channels, width, pad))
        self.AuxLogits = AuxHead(channels, num_classes, width, 768, bn_fc=True) if self.aux_logits else None
        add("Mixed_7a", ReductionB(channels, width))
        for letter in "bcd":
            add(f"Mixed_7{letter}", InceptionC(channels, width, pad))

        self.num_features = channels
        self.defaults = ModelDefaults(input_size=299)
        self._finish(num_classes, bn_eps, bn_momentum)

    def forward_trunk(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        aux: list[torch.Tensor] = []
        for name in self.stages:
            x = getattr(self, name)(x)
            if name == "Mixed_6h" and self.training and self.AuxLogits is not None:
                aux.append(self.AuxLogits(x))
        return x, aux
