"""Inception-v3 and the Rethinking paper's Inception-v2: one graph, two sets of switches (docs/reference.md#inception-v3).

Paper: Szegedy et al., "Rethinking the Inception Architecture for Computer Vision", arXiv 1512.00567.
The layer tables follow the authors' code (TF-slim ``inception_v3``), which every PyTorch port reproduces; where
the paper's text or tables differ, the code reading is the default and the paper reading is a switch
(docs/reference.md#readings, rows 11-17):

======================  ============================  =====================================================
switch                  default                       reference
======================  ============================  =====================================================
``stem``                v3 ``'3x3'`` / v2 ``'7x7'``   docs/reference.md#v3-stem (code stem), docs/reference.md#inception-v2 (7x7 baseline), ``'table1'``
                                                      = Table 1's rows after the first pool (docs/reference.md#v3-stem)
``num_17x17_blocks``    4                             docs/reference.md#v3-17x17 (code 4, Table 1 / Rethinking §6 text 5)
``aux_logits``          True                          docs/reference.md#v3-aux (one head on the last 17x17 module)
``aux_bn_fc``           v3 True / v2 False            docs/reference.md#v3-aux (step 3), Table 3 "BN-auxiliary" (docs/reference.md#table3)
``aux_hidden``          768                           docs/reference.md#v3-aux (Fig. 8 as read: 1024)
``drop_rate``           0.2                           docs/reference.md#v3-classifier (TF-slim keep 0.8)
``first_stride``        2                             docs/reference.md#table2 (Table 2 receptive-field settings)
``first_pool``          ``'max'``                     docs/reference.md#table2 (see "Table 2" below)
``avgpool_count_include_pad``  False                  docs/reference.md#padding (TF excludes padding; True = torchvision/timm)
``bn_eps``, ``bn_momentum``    1e-3, 0.1              docs/reference.md#batchnorm
``width_mult``          1.0                           docs/reference.md#width-multiplier (``max(int(c*m), 16)`` per conv)
======================  ============================  =====================================================

Table 2 (docs/reference.md#table2). ``first_stride`` is the stride of the stem's first layer (Conv2d_1a) and
``first_pool`` is the max-pool right after the first layer(s) (MaxPool_3a_3x3):

- ``'max'``: 3x3/2 max pool with the padding that lands the grids of docs/reference.md#table2 for each stem: VALID
  everywhere (the code's MaxPool_3a) except after a *stride-1 7x7* first layer, where it is SAME (pad 1) so that
  a 151 input gives 145 -> 73 like the 299 network (147 -> 73). With the factorised stem VALID already gives
  151 -> 149 -> 147 -> 73, identical to r299.
- ``'max_valid'`` / ``'max_same'``: force VALID / SAME (pad 1) padding (``'max_valid'`` with the 7x7 stem at 151
  is docs/reference.md#table2's "literal" row: 34 / 16 / 7 grids, aux head impossible).
- ``'none'``: no pooling after the first layer(s) (Table 2's 79x79 network).

The three settings (``conf/resolution/r299|r151|r79.yaml``) are input 299 + stride 2 + ``'max'``, 151 + stride 1 +
``'max'``, 79 + stride 1 + ``'none'``; with the 7x7 stem all three give 73x73 after the pool and 35 / 17 / 8
downstream; with the factorised stem r151 is identical to r299 and r79 gives 36 / 17 / 8.

Classifier: global average pool (so any input from the minimum upwards works, docs/reference.md#minimum-input) -> dropout ->
linear. Auxiliary head: docs/reference.md#v3-aux / Fig. 8, on the output of the last 17x17 module (Mixed_6e); its fixed
5x5 VALID conv needs a 17x17 grid there, so with the head on the minimum input is 299 (75 without it).

Initialisation (not part of the architecture, docs/reference.md#weight-decay-and-init): TF-slim's -- the shared
:func:`~inception_lab.models.layers.init_weights` (truncated normal with fan-in variance scaling, sigma =
sqrt(1.3 * 2 / fan_in) cut at 2 sigma, for every conv and linear layer; zero biases; BN gamma 1, beta 0), then the
aux head's 5x5 conv at sigma 0.01 and aux logits at sigma 0.001.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from inception_lab.models.layers import (
    ConvBNReLU,
    InceptionNet,
    ModelDefaults,
    Width,
    avg_pool_3x3_same,
    check_aux_switch,
    check_choice,
    stem_convs,
    trunc_normal_,
    width_rule,
)
from inception_lab.models.registry import register_model, with_defaults

STEMS = ("3x3", "7x7", "table1")
FIRST_POOLS = ("max", "max_valid", "max_same", "none")
# Rows inception-lab-models shows besides the defaults (docs/reference.md#inception-v3, #table3, #readings).
V3_VARIANTS = {
    "aux_bn_fc=false (Table 3 row 4)": {"aux_bn_fc": False},
    "stem=7x7 (v2 stem)": {"stem": "7x7"},
    "stem=table1 (Table 1 rows)": {"stem": "table1"},
    "num_17x17_blocks=5 (paper text)": {"num_17x17_blocks": 5},
    "aux_hidden=1024 (Fig. 8 as read)": {"aux_hidden": 1024},
}
V2_VARIANTS = {"stem=3x3 (Table 3 row 4: factorized 7x7)": {"stem": "3x3"}}
C7_BY_BLOCK = {4: (128, 160, 160, 192), 5: (128, 160, 160, 160, 192)}  # docs/reference.md#v3-17x17; 5 = a second c7=160 block


def _first_pool(first_pool: str, padding_if_max: int) -> nn.MaxPool2d | None:
    if first_pool == "none":
        return None
    padding = {"max": padding_if_max, "max_valid": 0, "max_same": 1}[first_pool]
    return nn.MaxPool2d(kernel_size=3, stride=2, padding=padding)


# --------------------------------------------------------------------------------------------------- stems


class StemFactorized(nn.Sequential):
    """The code's stem (docs/reference.md#v3-stem; Rethinking Table 1 first rows, §3.1 "factorising the 7x7 into 3x3s").

    Conv2d_1a 3x3/2 V 32 -> Conv2d_2a 3x3 V 32 -> Conv2d_2b 3x3 S 64 -> MaxPool_3a 3x3/2 V -> Conv2d_3b 1x1 80
    -> Conv2d_4a 3x3 V 192 -> MaxPool_5a 3x3/2 V: 299x299x3 -> 35x35x192. ``first_stride`` / ``first_pool`` are the
    Table 2 switches (docs/reference.md#table2, alternative reading on the factorised stem).
    """

    def __init__(self, in_chans: int, width: Width, first_stride: int = 2, first_pool: str = "max") -> None:
        layers = stem_convs(in_chans, width, first_stride)
        pool = _first_pool(first_pool, padding_if_max=0)
        if pool is not None:
            layers["MaxPool_3a_3x3"] = pool
        layers["Conv2d_3b_1x1"] = ConvBNReLU(width(64), width(80), 1)
        layers["Conv2d_4a_3x3"] = ConvBNReLU(width(80), width(192), 3)
        layers["MaxPool_5a_3x3"] = nn.MaxPool2d(kernel_size=3, stride=2)
        super().__init__(OrderedDict(layers))
        self.out_channels = width(192)


class Stem7x7(nn.Sequential):
    """Inception-v2's stem (docs/reference.md#inception-v2; Rethinking Table 3 baseline, before "Factorized 7x7").

    One conv 7x7/2 V 64 (299 -> 147x147x64, the tensor the three 3x3 produce), then the code stem from MaxPool_3a on.
    Table 2 (docs/reference.md#table2, recommended reading): ``first_stride=1`` with ``first_pool='max'`` pads the pool SAME so 151
    lands on 73x73 (145 -> 73); ``first_pool='none'`` with 79 gives 73 directly.
    """

    def __init__(self, in_chans: int, width: Width, first_stride: int = 2, first_pool: str = "max") -> None:
        layers: dict[str, nn.Module] = {"Conv2d_1a_7x7": ConvBNReLU(in_chans, width(64), 7, stride=first_stride)}
        pool = _first_pool(first_pool, padding_if_max=1 if first_stride == 1 else 0)
        if pool is not None:
            layers["MaxPool_3a_3x3"] = pool
        layers["Conv2d_3b_1x1"] = ConvBNReLU(width(64), width(80), 1)
        layers["Conv2d_4a_3x3"] = ConvBNReLU(width(80), width(192), 3)
        layers["MaxPool_5a_3x3"] = nn.MaxPool2d(kernel_size=3, stride=2)
        super().__init__(OrderedDict(layers))
        self.out_channels = width(192)


class StemTable1(nn.Sequential):
    """The stem as Rethinking Table 1 prints it (docs/reference.md#v3-stem; ``stem='table1'``).

    Conv2d_1a 3x3/2 V 32 -> 2a 3x3 V 32 -> 2b 3x3 S 64 -> MaxPool_3a 3x3/2 V (73x73x64) -> conv 3x3 V 80 (71x71)
    -> conv 3x3/2 V 192 (35x35) -> conv 3x3 S 288: feeds 288 channels to Mixed_5b (measured 24,393,736 params
    without aux, 6.025 G MACs).
    """

    def __init__(self, in_chans: int, width: Width, first_stride: int = 2, first_pool: str = "max") -> None:
        layers = stem_convs(in_chans, width, first_stride)
        pool = _first_pool(first_pool, padding_if_max=0)
        if pool is not None:
            layers["MaxPool_3a_3x3"] = pool
        layers["Conv2d_3b_3x3"] = ConvBNReLU(width(64), width(80), 3)
        layers["Conv2d_4a_3x3"] = ConvBNReLU(width(80), width(192), 3, stride=2)
        layers["Conv2d_4b_3x3"] = ConvBNReLU(width(192), width(288), 3, padding=1)
        super().__init__(OrderedDict(layers))
        self.out_channels = width(288)


# ------------------------------------------------------------------------------------------------- modules


class InceptionA(nn.Module):
    """35x35 module, Rethinking Fig. 5 as in the code (docs/reference.md#v3-35x35): Mixed_5b / 5c / 5d.

    ``1x1 64`` | ``1x1 48 -> 5x5 64`` | ``1x1 64 -> 3x3 96 -> 3x3 96`` | ``avgpool 3x3 -> 1x1 P``. Fig. 5 draws only
    the double-3x3 path; the code keeps the 1x1 -> 5x5 path too (docs/reference.md#v3-35x35); we follow the code.
    """

    def __init__(self, in_channels: int, pool_features: int, width: Width, count_include_pad: bool) -> None:
        super().__init__()
        self.branch1x1 = ConvBNReLU(in_channels, width(64), 1)
        self.branch5x5 = nn.Sequential(
            ConvBNReLU(in_channels, width(48), 1), ConvBNReLU(width(48), width(64), 5, padding=2)
        )
        self.branch3x3dbl = nn.Sequential(
            ConvBNReLU(in_channels, width(64), 1),
            ConvBNReLU(width(64), width(96), 3, padding=1),
            ConvBNReLU(width(96), width(96), 3, padding=1),
        )
        self.branch_pool = nn.Sequential(
            avg_pool_3x3_same(count_include_pad), ConvBNReLU(in_channels, width(pool_features), 1)
        )
        self.out_channels = width(64) + width(64) + width(96) + width(pool_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1x1(x), self.branch5x5(x), self.branch3x3dbl(x), self.branch_pool(x)], 1)


class ReductionA(nn.Module):
    """35 -> 17 grid reduction, Rethinking Fig. 10 / §5 (docs/reference.md#v3-reduction-35): Mixed_6a.

    ``3x3/2 V 384`` | ``1x1 64 -> 3x3 96 -> 3x3/2 V 96`` | ``maxpool 3x3/2 V`` (input passes through).
    """

    def __init__(self, in_channels: int, width: Width) -> None:
        super().__init__()
        self.branch3x3 = ConvBNReLU(in_channels, width(384), 3, stride=2)
        self.branch3x3dbl = nn.Sequential(
            ConvBNReLU(in_channels, width(64), 1),
            ConvBNReLU(width(64), width(96), 3, padding=1),
            ConvBNReLU(width(96), width(96), 3, stride=2),
        )
        self.branch_pool = nn.MaxPool2d(kernel_size=3, stride=2)
        self.out_channels = width(384) + width(96) + in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch3x3(x), self.branch3x3dbl(x), self.branch_pool(x)], 1)


class InceptionB(nn.Module):
    """17x17 module with 7x7 factorised into 1x7 / 7x1, Rethinking Fig. 6, n = 7 (docs/reference.md#v3-17x17): Mixed_6b-6e.

    ``1x1 192`` | ``1x1 c7 -> 1x7 c7 -> 7x1 192`` | ``1x1 c7 -> 7x1 c7 -> 1x7 c7 -> 7x1 c7 -> 1x7 192`` |
    ``avgpool 3x3 -> 1x1 192``; c7 = 128 / 160 / 160 / 192.
    """

    def __init__(self, in_channels: int, c7: int, width: Width, count_include_pad: bool) -> None:
        super().__init__()
        c7 = width(c7)
        self.branch1x1 = ConvBNReLU(in_channels, width(192), 1)
        self.branch7x7 = nn.Sequential(
            ConvBNReLU(in_channels, c7, 1),
            ConvBNReLU(c7, c7, (1, 7), padding=(0, 3)),
            ConvBNReLU(c7, width(192), (7, 1), padding=(3, 0)),
        )
        self.branch7x7dbl = nn.Sequential(
            ConvBNReLU(in_channels, c7, 1),
            ConvBNReLU(c7, c7, (7, 1), padding=(3, 0)),
            ConvBNReLU(c7, c7, (1, 7), padding=(0, 3)),
            ConvBNReLU(c7, c7, (7, 1), padding=(3, 0)),
            ConvBNReLU(c7, width(192), (1, 7), padding=(0, 3)),
        )
        self.branch_pool = nn.Sequential(avg_pool_3x3_same(count_include_pad), ConvBNReLU(in_channels, width(192), 1))
        self.out_channels = 4 * width(192)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1x1(x), self.branch7x7(x), self.branch7x7dbl(x), self.branch_pool(x)], 1)


class ReductionB(nn.Module):
    """17 -> 8 grid reduction (docs/reference.md#v3-reduction-17; Rethinking Fig. 10 style, code layout): Mixed_7a.

    ``1x1 192 -> 3x3/2 V 320`` | ``1x1 192 -> 1x7 192 -> 7x1 192 -> 3x3/2 V 192`` | ``maxpool 3x3/2 V``.
    """

    def __init__(self, in_channels: int, width: Width) -> None:
        super().__init__()
        self.branch3x3 = nn.Sequential(
            ConvBNReLU(in_channels, width(192), 1), ConvBNReLU(width(192), width(320), 3, stride=2)
        )
        self.branch7x7x3 = nn.Sequential(
            ConvBNReLU(in_channels, width(192), 1),
            ConvBNReLU(width(192), width(192), (1, 7), padding=(0, 3)),
            ConvBNReLU(width(192), width(192), (7, 1), padding=(3, 0)),
            ConvBNReLU(width(192), width(192), 3, stride=2),
        )
        self.branch_pool = nn.MaxPool2d(kernel_size=3, stride=2)
        self.out_channels = width(320) + width(192) + in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch3x3(x), self.branch7x7x3(x), self.branch_pool(x)], 1)


class InceptionC(nn.Module):
    """8x8 module with expanded filter bank outputs, Rethinking Fig. 7 (docs/reference.md#v3-8x8): Mixed_7b / 7c.

    ``1x1 320`` | ``1x1 384 -> [1x3 384 | 3x1 384]`` | ``1x1 448 -> 3x3 384 -> [1x3 384 | 3x1 384]`` |
    ``avgpool 3x3 -> 1x1 192`` -> 2048 channels.
    """

    def __init__(self, in_channels: int, width: Width, count_include_pad: bool) -> None:
        super().__init__()
        self.branch1x1 = ConvBNReLU(in_channels, width(320), 1)
        self.branch3x3_1 = ConvBNReLU(in_channels, width(384), 1)
        self.branch3x3_2a = ConvBNReLU(width(384), width(384), (1, 3), padding=(0, 1))
        self.branch3x3_2b = ConvBNReLU(width(384), width(384), (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = nn.Sequential(
            ConvBNReLU(in_channels, width(448), 1), ConvBNReLU(width(448), width(384), 3, padding=1)
        )
        self.branch3x3dbl_2a = ConvBNReLU(width(384), width(384), (1, 3), padding=(0, 1))
        self.branch3x3dbl_2b = ConvBNReLU(width(384), width(384), (3, 1), padding=(1, 0))
        self.branch_pool = nn.Sequential(avg_pool_3x3_same(count_include_pad), ConvBNReLU(in_channels, width(192), 1))
        self.out_channels = width(320) + 4 * width(384) + width(192)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_1(x)
        bd = self.branch3x3dbl_1(x)
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch3x3_2a(b3),
                self.branch3x3_2b(b3),
                self.branch3x3dbl_2a(bd),
                self.branch3x3dbl_2b(bd),
                self.branch_pool(x),
            ],
            1,
        )


class AuxHead(nn.Module):
    """Auxiliary classifier, Rethinking §4 / Fig. 8 (docs/reference.md#v3-aux), on the last 17x17 module's output.

    avgpool 5x5/3 V (17 -> 5) -> conv 1x1 128 (CBR) -> conv 5x5 V ``hidden`` (the aux "fully connected" layer) ->
    linear ``hidden -> num_classes``. ``bn_fc=True`` is Table 3's BN-auxiliary (the 5x5 layer is conv + BN + ReLU);
    ``bn_fc=False`` makes it conv + bias + ReLU. The 5x5 VALID conv needs a 5x5 pooled map (a 17x17 input grid,
    i.e. a 299-pixel image); a larger map is averaged to 1x1 before the logits, as torchvision/timm do.
    """

    def __init__(self, in_channels: int, num_classes: int, width: Width, hidden: int, bn_fc: bool) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(kernel_size=5, stride=3)
        self.conv0 = ConvBNReLU(in_channels, width(128), 1)
        hidden = width(hidden)
        if bn_fc:
            self.conv1 = ConvBNReLU(width(128), hidden, 5)
        else:
            self.conv1 = nn.Sequential(nn.Conv2d(width(128), hidden, 5, bias=True), nn.ReLU(inplace=True))
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(self.conv0(self.pool(x)))
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)

    def reset_classifier(self, num_classes: int) -> None:
        self.fc = nn.Linear(self.fc.in_features, num_classes)


# ------------------------------------------------------------------------------------------------- network


@register_model("v3", "inception_v3", variants=V3_VARIANTS)
class InceptionV3(InceptionNet):
    """Inception-v3 (Rethinking Table 3 last row; docs/reference.md#inception-v3): factorised stem, BN-auxiliary head;
    with other defaults the Rethinking Inception-v2 (:func:`inception_v2`; Rethinking Table 1, Figs 5-8 and 10, Table 3).

    Stages (top-level children, TF-slim names): ``stem`` (one of :class:`StemFactorized`, :class:`Stem7x7`,
    :class:`StemTable1`), ``Mixed_5b/5c/5d`` (:class:`InceptionA`), ``Mixed_6a`` (:class:`ReductionA`),
    ``Mixed_6b..6e`` (:class:`InceptionB`; ``..6f`` with 5 blocks), ``Mixed_7a`` (:class:`ReductionB`),
    ``Mixed_7b/7c`` (:class:`InceptionC`), ``AuxLogits`` (:class:`AuxHead`), ``fc``. See the module docstring for
    the switches and the Table 2 reading.

    Counts at width 1.0, 1000 classes (docs/reference.md#counts): v3 23,834,568 without aux / 27,161,264 with the BN-aux head
    (27,160,496 with the plain one); v2 23,815,336 / 27,141,264. MACs at 299: v3 5.713 G, v2 5.300 G.
    """

    aux_head_names = ("AuxLogits",)

    def __init__(
        self,
        num_classes: int = 1000,
        *,
        in_chans: int = 3,
        width_mult: float = 1.0,
        drop_rate: float = 0.2,
        aux_logits: bool = True,
        aux_bn_fc: bool = True,
        aux_hidden: int = 768,
        stem: str = "3x3",
        num_17x17_blocks: int = 4,
        first_stride: int = 2,
        first_pool: str = "max",
        avgpool_count_include_pad: bool = False,
        bn_eps: float = 1e-3,
        bn_momentum: float = 0.1,
    ) -> None:
        super().__init__()
        check_aux_switch(aux_logits)
        check_choice("stem", stem, STEMS)
        check_choice("first_pool", first_pool, FIRST_POOLS)
        check_choice("num_17x17_blocks", num_17x17_blocks, C7_BY_BLOCK)
        check_choice("first_stride", first_stride, (1, 2))
        if width_mult <= 0:
            raise ValueError(f"width_mult={width_mult} must be positive")

        self.num_classes = num_classes
        self.in_chans = in_chans
        self.drop_rate = drop_rate
        self.aux_logits = aux_logits
        self.stem_type = stem
        width = width_rule(width_mult)
        stem_cls = {"3x3": StemFactorized, "7x7": Stem7x7, "table1": StemTable1}[stem]
        self.stem = stem_cls(in_chans, width, first_stride=first_stride, first_pool=first_pool)

        include_pad = avgpool_count_include_pad
        channels = self.stem.out_channels
        stages: list[str] = []

        def add(name: str, block: nn.Module) -> None:
            nonlocal channels
            setattr(self, name, block)
            stages.append(name)
            channels = block.out_channels

        for name, pool_features in (("Mixed_5b", 32), ("Mixed_5c", 64), ("Mixed_5d", 64)):
            add(name, InceptionA(channels, pool_features, width, include_pad))
        add("Mixed_6a", ReductionA(channels, width))
        for letter, c7 in zip("bcdef", C7_BY_BLOCK[num_17x17_blocks]):
            add(f"Mixed_6{letter}", InceptionB(channels, c7, width, include_pad))
        self.aux_after = stages[-1]  # the last 17x17 module (Mixed_6e with 4 blocks)
        self.AuxLogits = AuxHead(channels, num_classes, width, aux_hidden, aux_bn_fc) if aux_logits else None
        add("Mixed_7a", ReductionB(channels, width))
        add("Mixed_7b", InceptionC(channels, width, include_pad))
        add("Mixed_7c", InceptionC(channels, width, include_pad))
        self.stages = ["stem", *stages]

        self.num_features = channels
        self.defaults = ModelDefaults(input_size=299)
        self._finish(num_classes, bn_eps, bn_momentum)
        if self.AuxLogits is not None:  # TF-slim's aux-head overrides of the shared init (docs/reference.md#weight-decay-and-init)
            trunc_normal_(self.AuxLogits.conv1[0].weight, 0.01)
            trunc_normal_(self.AuxLogits.fc.weight, 0.001)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the main and the aux logits layers (base class) and keep ``num_classes`` in step."""
        super().reset_classifier(num_classes)
        self.num_classes = num_classes

    def forward_trunk(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        aux: list[torch.Tensor] = []
        use_aux = self.training and self.aux_logits and self.AuxLogits is not None
        for name in self.stages:
            x = getattr(self, name)(x)
            if use_aux and name == self.aux_after:
                aux.append(self.AuxLogits(x))
        return x, aux


@register_model("v2", "inception_v2_rethinking", variants=V2_VARIANTS)
@with_defaults(InceptionV3, stem="7x7", aux_bn_fc=False)
def inception_v2() -> InceptionV3:
    """Rethinking Inception-v2 (Table 3 first row; docs/reference.md#inception-v2): v3's graph with one 7x7/2 V 64 first layer
    and the aux head's 5x5 layer without BN. Not BN-Inception (that is ``bn_inception``, docs/reference.md#naming)."""
