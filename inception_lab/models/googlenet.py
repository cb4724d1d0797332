"""GoogLeNet (Inception-v1): Szegedy et al., "Going deeper with convolutions", arXiv 1409.4842.

Reference: docs/reference.md#googlenet (layers), docs/reference.md#googlenet-variants, #counts (counts), docs/reference.md#minimum-input (minimum input),
docs/reference.md#readings rows 1–6 (readings), docs/reference.md#switches (switches). Paper: Table 1 (incarnation), Fig. 2(b) (module), Fig. 3 (graph),
GoogLeNet §5 (auxiliary heads), GoogLeNet §6–§7 (training, evaluation). The TF-SAME helpers it shares with BN-Inception (docs/reference.md#padding) and the
initialisation (docs/reference.md#weight-decay-and-init) live in :mod:`inception_lab.models.layers`.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torch.nn import functional as F

from inception_lab.models.layers import (
    IMAGENET_MEAN,
    INCEPTION_MEAN,
    INCEPTION_STD,
    ConvBNReLU,
    InceptionNet,
    InputTooSmallError,
    ModelDefaults,
    SeparableStemConv,
    Width,
    check_aux_switch,
    check_choice,
    check_same_padding_floor,
    max_pool_same,
    width_rule,
)
from inception_lab.models.registry import register_model


# ------------------------------------------------------------------------------------------------------ blocks
class Stem(nn.Sequential):
    """Table 1 rows up to the first Inception module (docs/reference.md#googlenet-stem): conv 7×7/2 64 -> maxpool 3×3/2 -> [LRN] ->
    conv 1×1 64 -> conv 3×3 192 -> [LRN] -> maxpool 3×3/2. 224 -> 28×28×192.

    Padding: TF-SAME for the stride-2 layers (``same=True``, docs/reference.md#padding recommendation), or torchvision's (conv pad 3,
    ``ceil_mode`` pools). LRN (size 5, α 1e-4, β 0.75: the BVLC Caffe reproduction's values) only in the 2014 unit.
    """

    def __init__(self, in_chans: int, width: Width, *, bn: bool, lrn: bool, same: bool, separable: bool) -> None:
        c1, c2, c3 = width(64), width(64), width(192)
        conv1 = SeparableStemConv(in_chans, c1, bn=bn, same=same) if separable else ConvBNReLU(
            in_chans, c1, 7, 2, 3, bn=bn, same=same
        )
        layers: dict[str, nn.Module] = {"conv1": conv1, "pool1": _max_pool(3, same)}
        if lrn:
            layers["lrn1"] = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75)
        layers["conv2"] = ConvBNReLU(c1, c2, 1, bn=bn)
        layers["conv3"] = ConvBNReLU(c2, c3, 3, padding=1, bn=bn)
        if lrn:
            layers["lrn2"] = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75)
        layers["pool2"] = _max_pool(3, same)
        super().__init__(OrderedDict(layers))
        self.out_channels = c3


def _max_pool(kernel_size: int, same: bool) -> nn.Module:
    """Stride-2 max pool: TF-SAME, or torchvision's ``ceil_mode`` (= TF-SAME on even grids, docs/reference.md#padding)."""
    return max_pool_same(kernel_size, 2) if same else nn.MaxPool2d(kernel_size, 2, ceil_mode=True)


class InceptionModule(nn.Module):
    """Inception module with dimension reductions (Fig. 2(b), docs/reference.md#googlenet-module):
    ``1×1`` ‖ ``1×1 -> 3×3`` ‖ ``1×1 -> 5×5`` ‖ ``maxpool 3×3/1 -> 1×1 pool proj`` (slim branch order).

    ``kernel5=3`` gives the TF-slim / torchvision "5×5" branch, which is really 3×3 (docs/reference.md#googlenet-module).
    """

    def __init__(
        self,
        in_channels: int,
        c1: int,
        c3_reduce: int,
        c3: int,
        c5_reduce: int,
        c5: int,
        pool_proj: int,
        *,
        bn: bool,
        kernel5: int,
    ) -> None:
        super().__init__()
        self.branch1 = ConvBNReLU(in_channels, c1, 1, bn=bn)
        self.branch2 = nn.Sequential(
            ConvBNReLU(in_channels, c3_reduce, 1, bn=bn), ConvBNReLU(c3_reduce, c3, 3, padding=1, bn=bn)
        )
        self.branch3 = nn.Sequential(
            ConvBNReLU(in_channels, c5_reduce, 1, bn=bn),
            ConvBNReLU(c5_reduce, c5, kernel5, padding=kernel5 // 2, bn=bn),
        )
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1), ConvBNReLU(in_channels, pool_proj, 1, bn=bn))
        self.out_channels = c1 + c3 + c5 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class GoogLeNetAuxHead(nn.Module):
    """Auxiliary classifier of GoogLeNet §5 (docs/reference.md#googlenet-aux), on the outputs of 4a and 4d, training only:
    avgpool 5×5/3 V -> conv 1×1 128 + ReLU -> FC 1024 + ReLU -> dropout 0.7 -> FC num_classes.

    ``pool='fixed'`` is the paper's 5×5/3 pool, which yields the 4×4 map the FC expects only for 14–16-pixel
    grids (inputs 209–256 with TF-SAME padding, docs/reference.md#minimum-input); ``pool='adaptive'`` is torchvision's adaptive 4×4 pool.
    """

    def __init__(self, in_channels: int, num_classes: int, width: Width, *, bn: bool, pool: str = "fixed") -> None:
        super().__init__()
        self.fixed = check_choice("aux_pool", pool, ("fixed", "adaptive")) == "fixed"
        self.pool = nn.AvgPool2d(5, 3) if self.fixed else nn.AdaptiveAvgPool2d(4)
        self.conv = ConvBNReLU(in_channels, width(128), 1, bn=bn)
        self.fc1 = nn.Linear(width(128) * 16, width(1024))
        self.dropout = nn.Dropout(0.7)
        self.fc2 = nn.Linear(width(1024), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fixed and not (14 <= x.shape[-2] <= 16 and 14 <= x.shape[-1] <= 16):
            raise InputTooSmallError(
                f"GoogLeNet's fixed 5x5/3 aux pool needs a 14-16 pixel grid at 4a/4d (inputs 209-256; reference "
                f"docs/reference.md#googlenet-aux, #minimum-input), got {tuple(x.shape[-2:])}: use aux_pool='adaptive' or aux_logits=False"
            )
        x = torch.flatten(self.conv(self.pool(x)), 1)
        return self.fc2(self.dropout(F.relu(self.fc1(x), inplace=True)))

    def reset_classifier(self, num_classes: int) -> None:
        self.fc2 = nn.Linear(self.fc2.in_features, num_classes)


# ----------------------------------------------------------------------------------------------------- network
#: Table 1 / docs/reference.md#googlenet-module: module -> (#1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj)
_MODULES = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}

#: v1_variant -> defaults of the switches it implies (docs/reference.md#googlenet-variants). Explicit switches override.
_VARIANTS = {
    "bn": {"bn": True, "lrn": False, "fivebyfive_kernel": 5, "pool4": "3x3", "aux_pool": "fixed", "drop_rate": 0.4,
           "same": True},
    "paper": {"bn": False, "lrn": True, "fivebyfive_kernel": 5, "pool4": "3x3", "aux_pool": "fixed", "drop_rate": 0.4,
              "same": True},
    "torchvision": {"bn": True, "lrn": False, "fivebyfive_kernel": 3, "pool4": "2x2", "aux_pool": "adaptive",
                    "drop_rate": 0.2, "same": False},
}


# Rows inception-lab-models shows besides the defaults (docs/reference.md#googlenet-variants).
V1_VARIANTS = {
    "v1_variant=paper (bias, no BN, LRN)": {"v1_variant": "paper"},
    "v1_variant=torchvision (3x3 '5x5', 2x2 pool4)": {"v1_variant": "torchvision"},
}


@register_model("v1", "googlenet", "inception_v1", variants=V1_VARIANTS)
class GoogLeNet(InceptionNet):
    """GoogLeNet / Inception-v1 (docs/reference.md#googlenet).

    Variants (``v1_variant``, docs/reference.md#googlenet-variants):

    - ``'bn'`` (default): the paper's topology with CBR units everywhere and no LRN = "BN-GoogLeNet" of Rethinking
      Table 3. 7,005,832 params (13,385,816 with both aux heads), 1.583 G MACs at 224.
    - ``'paper'``: as published in 2014 — conv with bias, no BN, LRN after pool1 and conv3. 6,998,552 / 13,378,280.
    - ``'torchvision'``: ``bn`` + 3×3 "5×5" branch + 2×2/2 pool before 5a + adaptive aux pool + dropout 0.2 and
      torchvision's padding (7×7 conv pad 3, ``ceil_mode`` pools) for weight transfer. 6,624,904 / 13,004,888.

    Switches (``None`` = the variant's value): ``fivebyfive_kernel`` 5 | 3 (docs/reference.md#googlenet-module), ``pool4`` '3x3' | '2x2'
    (row 2, no effect on counts), ``aux_pool`` 'fixed' | 'adaptive' (row 5), ``drop_rate`` 0.4 (row 4; aux heads
    keep 0.7), ``stem_separable`` (row 6: depthwise 7×7 ×8 + pointwise, Table 1's 2.7K / 34M first layer).

    Padding: TF-SAME for every stride-2 layer in ``bn``/``paper`` (docs/reference.md#padding recommendation) so every input size works;
    the documented floor is 32 px (docs/reference.md#minimum-input). With the aux heads' fixed 5×5/3 pool only inputs 209–256 train with
    aux on. ``torchvision`` keeps torchvision's padding (minimum 15 px).

    Normalisation (docs/reference.md#preprocessing): ``bn`` / ``torchvision`` use [-1, 1] scaling (TF-slim's inception_v1 preprocessing and
    what torchvision's ``transform_input`` produces for the TF-ported weights); ``paper`` uses the paper's mean
    subtraction (GoogLeNet §5: "RGB color space with zero mean"; docs/reference.md#googlenet-stem, #train-augmentation) — ImageNet mean, unit std on [0, 1]
    pixels (Caffe subtracted the mean on the 0–255 scale; only the overall scale differs).
    GoogLeNet has no in-block average pools, so ``avgpool_count_include_pad`` is accepted for a uniform config but
    changes nothing.
    """

    aux_head_names = ("aux1", "aux2")

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        aux_logits: bool = True,
        v1_variant: str = "bn",
        fivebyfive_kernel: int | None = None,
        pool4: str | None = None,
        stem_separable: bool = False,
        aux_pool: str | None = None,
        width_mult: float = 1.0,
        drop_rate: float | None = None,
        bn_eps: float = 1e-3,
        bn_momentum: float = 0.1,
        avgpool_count_include_pad: bool = False,
    ) -> None:
        super().__init__()
        spec = dict(_VARIANTS[check_choice("v1_variant", v1_variant, _VARIANTS)])
        chosen = {"fivebyfive_kernel": fivebyfive_kernel, "pool4": pool4, "aux_pool": aux_pool, "drop_rate": drop_rate}
        for key, value in chosen.items():
            if value is not None:
                spec[key] = value
        check_choice("fivebyfive_kernel", spec["fivebyfive_kernel"], (5, 3))
        check_choice("pool4", spec["pool4"], ("3x3", "2x2"))

        self.variant = v1_variant
        self.in_chans = in_chans
        self.aux_logits = check_aux_switch(aux_logits)
        self.drop_rate = float(spec["drop_rate"])
        self.same = spec["same"]
        bn, kernel5 = spec["bn"], spec["fivebyfive_kernel"]

        width = width_rule(width_mult)
        self.stem = Stem(in_chans, width, bn=bn, lrn=spec["lrn"], same=self.same, separable=stem_separable)
        channels = self.stem.out_channels

        def module(name: str) -> InceptionModule:
            nonlocal channels
            block = InceptionModule(channels, *(width(c) for c in _MODULES[name]), bn=bn, kernel5=kernel5)
            channels = block.out_channels
            return block

        self.inception3a, self.inception3b = module("3a"), module("3b")
        self.pool3 = _max_pool(3, self.same)
        self.inception4a = module("4a")
        aux1_channels = channels
        self.inception4b, self.inception4c, self.inception4d = module("4b"), module("4c"), module("4d")
        aux2_channels = channels
        self.inception4e = module("4e")
        self.pool4 = _max_pool(3 if spec["pool4"] == "3x3" else 2, self.same)
        self.inception5a, self.inception5b = module("5a"), module("5b")
        self.num_features = channels

        if self.aux_logits:
            self.aux1 = GoogLeNetAuxHead(aux1_channels, num_classes, width, bn=bn, pool=spec["aux_pool"])
            self.aux2 = GoogLeNetAuxHead(aux2_channels, num_classes, width, bn=bn, pool=spec["aux_pool"])
        else:
            self.aux1 = self.aux2 = None

        mean = IMAGENET_MEAN if v1_variant == "paper" else INCEPTION_MEAN
        std = (1.0, 1.0, 1.0) if v1_variant == "paper" else INCEPTION_STD
        self.defaults = ModelDefaults(input_size=224, mean=mean, std=std, aux_weight=0.3)  # 0.3 per head (GoogLeNet paper, section 5)
        self._finish(num_classes, bn_eps, bn_momentum)

    def forward_trunk(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        if self.same:
            check_same_padding_floor(x, self)
        aux_on = self.training and self.aux_logits
        aux: list[torch.Tensor] = []
        x = self.pool3(self.inception3b(self.inception3a(self.stem(x))))
        x = self.inception4a(x)
        if aux_on:
            aux.append(self.aux1(x))
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        if aux_on:
            aux.append(self.aux2(x))
        x = self.pool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        return x, aux
