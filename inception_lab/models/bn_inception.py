"""BN-Inception: Ioffe & Szegedy, "Batch Normalization: Accelerating Deep Network Training by Reducing Internal
Covariate Shift", arXiv 1502.03167, §4.2 and Appendix ("Variant of the Inception Model Used", Fig. 5).

TF-slim calls this network ``inception_v2`` (as does the v4 paper); inception-lab calls it ``bn_inception`` so it
never collides with the Rethinking paper's Inception-v2 (``v2``). Reference:
docs/reference.md#bn-inception (layers, counts), docs/reference.md#padding (padding), docs/reference.md#minimum-input (input sizes), docs/reference.md#readings rows 7–10 and 30.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from inception_lab.models.layers import (
    ConvBNReLU,
    InceptionNet,
    ModelDefaults,
    SeparableStemConv,
    Width,
    avg_pool_3x3_same,
    check_choice,
    check_same_padding_floor,
    max_pool_same,
    width_rule,
)
from inception_lab.models.registry import register_model


class Stem(nn.Sequential):
    """Fig. 5 rows before inception (3a) (docs/reference.md#bn-inception-stem): conv 7×7/2 S 64 (depthwise-separable, depth multiplier 8, by
    default) -> maxpool 3×3/2 S -> conv 1×1 64 -> conv 3×3 192 -> maxpool 3×3/2 S. 224 -> 28×28×192."""

    def __init__(self, in_chans: int, width: Width, *, separable: bool) -> None:
        c1, c2, c3 = width(64), width(64), width(192)
        super().__init__(
            OrderedDict(
                conv1=SeparableStemConv(in_chans, c1) if separable else ConvBNReLU(in_chans, c1, 7, 2, same=True),
                pool1=max_pool_same(3, 2),
                conv2=ConvBNReLU(c1, c2, 1),
                conv3=ConvBNReLU(c2, c3, 3, padding=1),
                pool2=max_pool_same(3, 2),
            )
        )
        self.out_channels = c3


class InceptionModule(nn.Module):
    """Plain BN-Inception module (Fig. 5 rows 3a, 3b, 4a–4d, 5a, 5b; docs/reference.md#bn-inception-modules): the GoogLeNet module with its 5×5
    replaced by two stacked 3×3 — ``1×1`` ‖ ``1×1 -> 3×3`` ‖ ``1×1 -> 3×3 -> 3×3`` ‖ ``pool 3×3/1 -> 1×1 proj``;
    the pool is average (max in 5b). ``count_include_pad=False`` is TF's SAME average pool (docs/reference.md#padding)."""

    def __init__(
        self,
        in_channels: int,
        c1: int,
        c3_reduce: int,
        c3: int,
        d3_reduce: int,
        d3: int,
        pool_proj: int,
        *,
        pool: str,
        count_include_pad: bool,
    ) -> None:
        super().__init__()
        self.branch1 = ConvBNReLU(in_channels, c1, 1)
        self.branch2 = nn.Sequential(ConvBNReLU(in_channels, c3_reduce, 1), ConvBNReLU(c3_reduce, c3, 3, padding=1))
        self.branch3 = nn.Sequential(
            ConvBNReLU(in_channels, d3_reduce, 1),
            ConvBNReLU(d3_reduce, d3, 3, padding=1),
            ConvBNReLU(d3, d3, 3, padding=1),
        )
        pooling = avg_pool_3x3_same(count_include_pad) if pool == "avg" else nn.MaxPool2d(3, 1, 1)
        self.branch4 = nn.Sequential(pooling, ConvBNReLU(in_channels, pool_proj, 1))
        self.out_channels = c1 + c3 + d3 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionReduction(nn.Module):
    """Stride-2 BN-Inception module (Fig. 5 rows 3c and 4e, "stride 2"; docs/reference.md#bn-inception-modules): ``1×1 -> 3×3/2 S`` ‖
    ``1×1 -> 3×3 -> 3×3/2 S`` ‖ ``maxpool 3×3/2 S`` (pass-through, no projection). Fig. 5 prints the pre-stride
    grid for these rows; the outputs are 14×14 and 7×7."""

    def __init__(self, in_channels: int, c3_reduce: int, c3: int, d3_reduce: int, d3: int) -> None:
        super().__init__()
        self.branch1 = nn.Sequential(
            ConvBNReLU(in_channels, c3_reduce, 1), ConvBNReLU(c3_reduce, c3, 3, 2, same=True)
        )
        self.branch2 = nn.Sequential(
            ConvBNReLU(in_channels, d3_reduce, 1),
            ConvBNReLU(d3_reduce, d3, 3, padding=1),
            ConvBNReLU(d3, d3, 3, 2, same=True),
        )
        self.branch3 = max_pool_same(3, 2)
        self.out_channels = c3 + d3 + in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x)], 1)


#: Fig. 5 / docs/reference.md#bn-inception-modules: (#1×1, #3×3 reduce, #3×3, #d3×3 reduce, #d3×3, pool, pool proj); 4c/4d proj is 128 in the
#: paper's table and 96 in TF-slim (docs/reference.md#bn-inception-modules).
def _modules(variant: str) -> dict[str, tuple]:
    proj_4cd = 128 if variant == "paper" else 96
    return {
        "3a": (64, 64, 64, 64, 96, "avg", 32),
        "3b": (64, 64, 96, 64, 96, "avg", 64),
        "3c": (128, 160, 64, 96),
        "4a": (224, 64, 96, 96, 128, "avg", 128),
        "4b": (192, 96, 128, 96, 128, "avg", 128),
        "4c": (160, 128, 160, 128, 160, "avg", proj_4cd),
        "4d": (96, 128, 192, 160, 192, "avg", proj_4cd),
        "4e": (128, 192, 192, 256),
        "5a": (352, 192, 320, 160, 224, "avg", 128),
        "5b": (352, 192, 320, 192, 224, "max", 128),
    }


# Rows inception-lab-models shows besides the defaults (docs/reference.md#bn-inception-variants).
BN_INCEPTION_VARIANTS = {
    "variant=slim (TF-slim 576/1024 widths)": {"variant": "slim"},
    "stem_separable=false (dense 7x7)": {"stem_separable": False},
}


@register_model("bn_inception", variants=BN_INCEPTION_VARIANTS)
class BNInception(InceptionNet):
    """BN-Inception (docs/reference.md#bn-inception), the network of the BN paper's Appendix Fig. 5.

    ``variant``: ``'paper'`` (default) keeps Fig. 5's 128-channel pool projections in 4c/4d, so they output 608 and
    4e outputs 1056 (Fig. 5 prints 576, which 128-channel projections cannot give; the Caffe port agrees with 608);
    ``'slim'`` uses TF-slim's 96 (576 / 1024) for its checkpoints (docs/reference.md#bn-inception-modules).
    ``stem_separable`` (default True): the first conv is depthwise-separable with depth multiplier 8, as the
    Appendix states and TF-slim builds (docs/reference.md#bn-inception-stem); False gives the dense 7×7 of the Caffe port.

    Counts at 224 (docs/reference.md#bn-inception-variants): paper 11,278,528 params / 1.949 G MACs; paper + dense stem 11,285,224 / 2.033 G; slim
    11,188,288 / 1.935 G; slim + dense stem 11,194,984 / 2.019 G. The paper's "13.6M" is not reproducible (docs/reference.md#readings
    row 30). The Caffe port's conv biases are not built.

    Dropout: none (BN paper §4.2.1 "Remove Dropout"; docs/reference.md#bn-inception-head) — ``drop_rate`` 0.2 gives TF-slim's. No aux heads in any
    source. Padding: TF-SAME (dynamic) for every stride-2 layer (docs/reference.md#padding), so every input size works,
    odd ones included; the documented floor is 32 px (docs/reference.md#minimum-input). In-block average pools exclude padding
    (``avgpool_count_include_pad=False``, TF; the Caffe port includes it). Normalisation: [-1, 1] (TF-slim, docs/reference.md#preprocessing).
    """

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        variant: str = "paper",
        stem_separable: bool = True,
        width_mult: float = 1.0,
        drop_rate: float = 0.0,
        bn_eps: float = 1e-3,
        bn_momentum: float = 0.1,
        avgpool_count_include_pad: bool = False,
    ) -> None:
        super().__init__()
        self.variant = check_choice("variant", variant, ("paper", "slim"))
        self.in_chans = in_chans
        self.aux_logits = False
        self.drop_rate = float(drop_rate)

        width = width_rule(width_mult)
        self.stem = Stem(in_chans, width, separable=stem_separable)
        channels = self.stem.out_channels
        blocks: dict[str, nn.Module] = {}
        for name, spec in _modules(variant).items():
            if len(spec) == 4:
                block = InceptionReduction(channels, *(width(c) for c in spec))
            else:
                *filters, pool, proj = spec
                block = InceptionModule(
                    channels, *(width(c) for c in filters), width(proj),
                    pool=pool, count_include_pad=avgpool_count_include_pad,
                )
            blocks[f"inception{name}"] = block
            channels = block.out_channels
        self.blocks = nn.Sequential(OrderedDict(blocks))
        self.num_features = channels
        self.defaults = ModelDefaults(input_size=224)
        self._finish(num_classes, bn_eps, bn_momentum)

    def forward_trunk(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        check_same_padding_floor(x, self)
        return self.blocks(self.stem(x)), []
