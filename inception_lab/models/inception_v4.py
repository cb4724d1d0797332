"""Inception-v4: Szegedy et al., "Inception-v4, Inception-ResNet and the Impact of Residual Connections on
Learning", arXiv 1602.07261 — Fig. 3 (stem), 4 (Inception-A), 5 (Inception-B), 6 (Inception-C), 7 (Reduction-A),
8 (Reduction-B), 9 (overall), Table 1 (Reduction-A filter counts k, l, m, n).

Reference: shared/reference/inception-family.md §5 (layers, per-block counts), §9.1 (42,679,816 params,
12.254 G MACs at 299), §9.3 (minimum input 75; 299 with the aux head), §12 rows 18–21. Layer order and branch
order follow TF-slim ``inception_v4`` (the released weights), where the figures differ only in 1×n / n×1 order
(§12 rows 19–20; no effect on counts). The v4 :class:`Stem` and the generic :class:`ReductionA` are shared with
the Inception-ResNet networks (``inception_resnet.py``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import nn

from inception_lab.models.googlenet import check_aux_switch, init_weights
from inception_lab.models.inception_v3 import AuxHead
from inception_lab.models.layers import (
    INCEPTION_MEAN,
    INCEPTION_STD,
    ConvBNReLU,
    InceptionNet,
    ModelDefaults,
    configure_batchnorm,
    scale_channels,
)
from inception_lab.models.registry import register_model

Width = Callable[[int], int]


def _avg_pool_same(count_include_pad: bool) -> nn.AvgPool2d:
    """In-block ``avgpool 3×3/1 S``; TF excludes the padded zeros from the mean (§1.2)."""
    return nn.AvgPool2d(3, 1, 1, count_include_pad=count_include_pad)


def _cat(x: torch.Tensor, branches: nn.ModuleList | list[nn.Module]) -> torch.Tensor:
    return torch.cat([branch(x) for branch in branches], 1)


# --------------------------------------------------------------------------------------------------------- stem
class Mixed3a(nn.Module):
    """Fig. 3, first fan-out: ``maxpool 3×3/2 V`` ‖ ``conv 3×3/2 V 96`` (147×147×64 -> 73×73×160)."""

    def __init__(self, in_channels: int, width: Width) -> None:
        super().__init__()
        self.branches = nn.ModuleList([nn.MaxPool2d(3, 2), ConvBNReLU(in_channels, width(96), 3, 2)])
        self.out_channels = in_channels + width(96)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _cat(x, self.branches)


class Mixed4a(nn.Module):
    """Fig. 3, second fan-out: ``1×1 64 -> 3×3 V 96`` ‖ ``1×1 64 -> 1×7 64 -> 7×1 64 -> 3×3 V 96``
    (73×73×160 -> 71×71×192)."""

    def __init__(self, in_channels: int, width: Width) -> None:
        super().__init__()
        c64, c96 = width(64), width(96)
        self.branches = nn.ModuleList(
            [
                nn.Sequential(ConvBNReLU(in_channels, c64, 1), ConvBNReLU(c64, c96, 3)),
                nn.Sequential(
                    ConvBNReLU(in_channels, c64, 1),
                    ConvBNReLU(c64, c64, (1, 7), padding=(0, 3)),
                    ConvBNReLU(c64, c64, (7, 1), padding=(3, 0)),
                    ConvBNReLU(c64, c96, 3),
                ),
            ]
        )
        self.out_channels = 2 * c96

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _cat(x, self.branches)


class Mixed5a(nn.Module):
    """Fig. 3, last fan-out: ``conv 3×3/2 V 192`` ‖ ``maxpool 3×3/2 V`` (71×71×192 -> 35×35×384). Fig. 3 prints the
    conv without "stride 2"; it must be stride 2 to concatenate with the stride-2 pool (§12 row 18)."""

    def __init__(self, in_channels: int, width: Width) -> None:
        super().__init__()
        self.branches = nn.ModuleList([ConvBNReLU(in_channels, width(192), 3, 2), nn.MaxPool2d(3, 2)])
        self.out_channels = width(192) + in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _cat(x, self.branches)


class Stem(nn.Sequential):
    """The Inception-v4 stem, Fig. 3 (§5.1; in the paper also the Inception-ResNet-v2 stem): conv 3×3/2 V 32 ->
    conv 3×3 V 32 -> conv 3×3 S 64 -> Mixed_3a -> Mixed_4a -> Mixed_5a. 299×299×3 -> 35×35×384 (605,728 params)."""

    def __init__(self, in_chans: int, width: Width) -> None:
        c32, c64 = width(32), width(64)
        mixed_3a = Mixed3a(c64, width)
        mixed_4a = Mixed4a(mixed_3a.out_channels, width)
        mixed_5a = Mixed5a(mixed_4a.out_channels, width)
        super().__init__(
            OrderedDict(
                Conv2d_1a_3x3=ConvBNReLU(in_chans, c32, 3, 2),
                Conv2d_2a_3x3=ConvBNReLU(c32, c32, 3),
                Conv2d_2b_3x3=ConvBNReLU(c32, c64, 3, padding=1),
                Mixed_3a=mixed_3a,
                Mixed_4a=mixed_4a,
                Mixed_5a=mixed_5a,
            )
        )
        self.out_channels = mixed_5a.out_channels


# ------------------------------------------------------------------------------------------------------- blocks
class InceptionA(nn.Module):
    """Inception-A, Fig. 4 (§5.2), 35×35×384 -> 384 (317,632 params): ``1×1 96`` ‖ ``1×1 64 -> 3×3 96`` ‖
    ``1×1 64 -> 3×3 96 -> 3×3 96`` ‖ ``avgpool 3×3 -> 1×1 96``."""

    def __init__(self, in_channels: int, width: Width, count_include_pad: bool = False) -> None:
        super().__init__()
        c64, c96 = width(64), width(96)
        self.branches = nn.ModuleList(
            [
                ConvBNReLU(in_channels, c96, 1),
                nn.Sequential(ConvBNReLU(in_channels, c64, 1), ConvBNReLU(c64, c96, 3, padding=1)),
                nn.Sequential(
                    ConvBNReLU(in_channels, c64, 1),
                    ConvBNReLU(c64, c96, 3, padding=1),
                    ConvBNReLU(c96, c96, 3, padding=1),
                ),
                nn.Sequential(_avg_pool_same(count_include_pad), ConvBNReLU(in_channels, c96, 1)),
            ]
        )
        self.out_channels = 4 * c96

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _cat(x, self.branches)


class ReductionA(nn.Module):
    """Reduction-A, Fig. 7, generic in Table 1's (k, l, m, n) (§5.3): ``conv 3×3/2 V n`` ‖
    ``1×1 k -> 3×3 S l -> 3×3/2 V m`` ‖ ``maxpool 3×3/2 V`` (pass-through). Out = n + m + in; 35 -> 17.

    Table 1: Inception-v4 (192, 224, 256, 384); IR-v1 (192, 192, 256, 384); IR-v2 (256, 256, 384, 384).
    """

    def __init__(self, in_channels: int, k: int, l: int, m: int, n: int) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            [
                ConvBNReLU(in_channels, n, 3, 2),
                nn.Sequential(ConvBNReLU(in_channels, k, 1), ConvBNReLU(k, l, 3, padding=1), ConvBNReLU(l, m, 3, 2)),
                nn.MaxPool2d(3, 2),
            ]
        )
        self.out_channels = n + m + in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _cat(x, self.branches)


class InceptionB(nn.Module):
    """Inception-B, Fig. 5 (§5.4), 17×17×1024 -> 1024 (2,936,256 params): ``1×1 384`` ‖
    ``1×1 192 -> 1×7 224 -> 7×1 256`` ‖ ``1×1 192 -> 7×1 192 -> 1×7 224 -> 7×1 224 -> 1×7 256`` ‖
    ``avgpool 3×3 -> 1×1 128``. TF-slim order; Fig. 5 draws the long branch 1×7-first and prints the middle
    branch's last conv as a second 1×7 (a typo; §12 rows 19–20)."""

    def __init__(self, in_channels: int, width: Width, count_include_pad: bool = False) -> None:
        super().__init__()
        c192, c224, c256 = width(192), width(224), width(256)
        self.branches = nn.ModuleList(
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
                nn.Sequential(_avg_pool_same(count_include_pad), ConvBNReLU(in_channels, width(128), 1)),
            ]
        )
        self.out_channels = width(384) + 2 * c256 + width(128)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _cat(x, self.branches)


class ReductionB(nn.Module):
    """Reduction-B, Fig. 8 (§5.5), 17×17×1024 -> 8×8×1536 (2,747,392 params): ``1×1 192 -> 3×3/2 V 192`` ‖
    ``1×1 256 -> 1×7 256 -> 7×1 320 -> 3×3/2 V 320`` ‖ ``maxpool 3×3/2 V`` (pass-through)."""

    def __init__(self, in_channels: int, width: Width) -> None:
        super().__init__()
        c192, c256, c320 = width(192), width(256), width(320)
        self.branches = nn.ModuleList(
            [
                nn.Sequential(ConvBNReLU(in_channels, c192, 1), ConvBNReLU(c192, c192, 3, 2)),
                nn.Sequential(
                    ConvBNReLU(in_channels, c256, 1),
                    ConvBNReLU(c256, c256, (1, 7), padding=(0, 3)),
                    ConvBNReLU(c256, c320, (7, 1), padding=(3, 0)),
                    ConvBNReLU(c320, c320, 3, 2),
                ),
                nn.MaxPool2d(3, 2),
            ]
        )
        self.out_channels = c192 + c320 + in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _cat(x, self.branches)


class InceptionC(nn.Module):
    """Inception-C, Fig. 6 (§5.6), 8×8×1536 -> 1536 (4,553,088 params): ``1×1 256`` ‖
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
        self.branch3 = nn.Sequential(_avg_pool_same(count_include_pad), ConvBNReLU(in_channels, c256, 1))
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
    """Inception-v4 (reference §5; paper Fig. 9): Stem -> 4 × Inception-A -> Reduction-A -> 7 × Inception-B ->
    Reduction-B -> 3 × Inception-C -> global average pool -> dropout (p 0.2, keep 0.8 in Fig. 9) -> linear.

    Stages (top-level children, TF-slim names): ``stem`` (``Conv2d_1a_3x3`` … ``Mixed_5a``), ``Mixed_5b…5e``,
    ``Mixed_6a``, ``Mixed_6b…6h``, ``Mixed_7a``, ``Mixed_7b…7d``, ``AuxLogits``, ``fc``.

    ``aux_logits`` (default False): the paper has no auxiliary head, timm none; TF-slim attaches one to Mixed_6h
    (avgpool 5×5/3 V -> conv 1×1 128 -> conv 5×5 V 768 -> linear; 3,359,464 params) — the switch gives slim parity
    (§5.7, §12 row 21). It is the v3 head (:class:`~inception_lab.models.inception_v3.AuxHead`, BN on both convs)
    and needs a 17×17 grid at Mixed_6h, i.e. inputs ≥ 299 (§9.3).

    Counts at width 1.0, 1000 classes: 42,679,816 params (46,039,280 with the aux head), 12.254 G MACs at 299.
    Normalisation [-1, 1] (TF-slim, §10.8). In-block average pools exclude padding by default (§1.2).
    """

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

        def width(c: int) -> int:
            return scale_channels(c, width_mult)

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
        self.AuxLogits = AuxHead(channels, num_classes, width_mult, 768, bn_fc=True) if self.aux_logits else None
        add("Mixed_7a", ReductionB(channels, width))
        for letter in "bcd":
            add(f"Mixed_7{letter}", InceptionC(channels, width, pad))

        self.num_features = channels
        self.fc = nn.Linear(channels, num_classes)
        self.defaults = ModelDefaults(input_size=299, mean=INCEPTION_MEAN, std=INCEPTION_STD)
        init_weights(self)
        configure_batchnorm(self, bn_eps, bn_momentum)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the main logits layer and, when present, the aux head's."""
        super().reset_classifier(num_classes)
        if self.AuxLogits is not None:
            self.AuxLogits.fc = nn.Linear(self.AuxLogits.fc.in_features, num_classes)

    def forward_trunk(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        aux: list[torch.Tensor] = []
        for name in self.stages:
            x = getattr(self, name)(x)
            if name == "Mixed_6h" and self.training and self.AuxLogits is not None:
                aux.append(self.AuxLogits(x))
        return x, aux
