"""Building blocks shared by every Inception network (docs/reference.md#conventions).

- ``ConvBNReLU``: the CBR unit of every BN-era Inception (docs/reference.md#notation): conv without bias, BatchNorm, ReLU;
  ``bn=False`` gives the 2014 unit and ``same=True`` TF-SAME padding (docs/reference.md#padding).
- ``PadSame`` / ``max_pool_same`` / ``avg_pool_3x3_same`` / ``check_same_padding_floor``: TF "SAME" padding
  (docs/reference.md#padding, #minimum-input).
- ``SeparableStemConv``: the depthwise-separable 7×7/2 first layer of GoogLeNet / BN-Inception (docs/reference.md#googlenet-stem, #bn-inception-stem).
- ``stem_convs``: the three convs that open the v3, v4 and Inception-ResNet stems (docs/reference.md#v3-stem, #v4-stem, #ir-v1-stem, #ir-v2-slim).
- ``Branches``: parallel branches concatenated along channels (the v4 / Inception-ResNet modules).
- ``scale_channels`` / ``width_rule``: the TF-slim width-multiplier rule (docs/reference.md#width-multiplier); ``width_mult=1.0`` is the paper's
  network. A network takes ``width_mult`` and hands every block ``width_rule(width_mult)``, a ``Width`` callable.
- ``init_weights`` / ``configure_batchnorm``: TF-slim initialisation (docs/reference.md#weight-decay-and-init) and BN eps / momentum (docs/reference.md#batchnorm).
- ``check_choice`` / ``check_aux_switch``: the one way a constructor rejects a bad switch value (docs/reference.md#switches).
- ``InceptionNet``: the face every network shows the module, eval and cost code.
- ``InputTooSmallError``: the one clear error for an input below a network's minimum size (docs/reference.md#minimum-input).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INCEPTION_MEAN = (0.5, 0.5, 0.5)  # x/255 -> (x - 0.5) / 0.5 = [-1, 1] scaling of TF-slim (docs/reference.md#preprocessing)
INCEPTION_STD = (0.5, 0.5, 0.5)

#: Smallest side the TF-SAME networks (GoogLeNet, BN-Inception) accept. Every stride-2 SAME layer maps
#: n -> ceil(n / 2), so any n >= 1 would run; TF-slim documents inputs "greater than 32x32" (docs/reference.md#minimum-input).
SAME_PADDING_FLOOR = 32

#: ``c -> channels at this width`` (see :func:`width_rule`).
Width = Callable[[int], int]


class InputTooSmallError(ValueError):
    """An input image is smaller than the network (with its current switches) can take."""


def scale_channels(channels: int, width_mult: float) -> int:
    """TF-slim depth multiplier (docs/reference.md#width-multiplier): ``max(int(c * m), 16)``; identity at ``m = 1``."""
    if width_mult == 1.0:
        return channels
    return max(int(channels * width_mult), 16)


def width_rule(width_mult: float) -> Width:
    """``c -> scale_channels(c, width_mult)``: the per-conv width rule every network applies (docs/reference.md#width-multiplier)."""
    return functools.partial(scale_channels, width_mult=width_mult)


# ------------------------------------------------------------------------------------------- choices and switches
class SwitchError(ValueError):
    """A switch set to a value the network does not offer; ``switch``, ``value`` and ``choices`` say which."""

    def __init__(self, switch: str, value: object, choices: Iterable, message: str | None = None) -> None:
        self.switch, self.value, self.choices = switch, value, tuple(choices)
        super().__init__(message or f"{switch} must be one of {', '.join(repr(c) for c in self.choices)}, got {value!r}")


def check_choice(name: str, value, choices: Iterable):
    """Return ``value`` if it is one of ``choices``, else raise ``SwitchError`` naming the switch and the choices."""
    choices = tuple(choices)
    if value not in choices:
        raise SwitchError(name, value, choices)
    return value


def check_aux_switch(aux_logits: object) -> bool:
    """``aux_logits`` must be a bool here; ``'auto'`` is resolved from the input size by the training CLI."""
    if not isinstance(aux_logits, bool):
        raise SwitchError("aux_logits", aux_logits, (True, False),
                          f"aux_logits={aux_logits!r}: pass True or False ('auto' is resolved from the input size by "
                          "the training CLI before the model is built)")
    return aux_logits


# ------------------------------------------------------------------------------------------------ TF-SAME padding
class PadSame(nn.Module):
    """TensorFlow "SAME" padding for a ``kernel_size``/``stride`` layer, computed from the input size (docs/reference.md#padding).

    TF pads ``max((ceil(n / s) - 1) * s + k - n, 0)`` pixels with the odd one at the bottom / right; PyTorch's
    symmetric padding shifts the window by a pixel whenever that total is odd. Max pools pad with ``-inf``.
    """

    def __init__(self, kernel_size: int, stride: int, value: float = 0.0) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.value = kernel_size, stride, value

    @staticmethod
    def amount(n: int, kernel_size: int, stride: int) -> int:
        return max((math.ceil(n / stride) - 1) * stride + kernel_size - n, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ph = self.amount(x.shape[-2], self.kernel_size, self.stride)
        pw = self.amount(x.shape[-1], self.kernel_size, self.stride)
        if ph == 0 and pw == 0:
            return x
        return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), value=self.value)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


def max_pool_same(kernel_size: int, stride: int) -> nn.Sequential:
    """``maxpool k/s S`` with TF-SAME padding (pads with -inf, so padding never wins the max; docs/reference.md#padding)."""
    return nn.Sequential(PadSame(kernel_size, stride, value=float("-inf")), nn.MaxPool2d(kernel_size, stride))


def avg_pool_3x3_same(count_include_pad: bool) -> nn.AvgPool2d:
    """In-block ``avgpool 3×3/1 S``; TF leaves the padded zeros out of the mean: ``count_include_pad=False`` (docs/reference.md#padding)."""
    return nn.AvgPool2d(kernel_size=3, stride=1, padding=1, count_include_pad=count_include_pad)


def check_same_padding_floor(x: torch.Tensor, model: nn.Module) -> None:
    """The pad-same networks run at every size; enforce the documented practical floor (docs/reference.md#minimum-input)."""
    if min(x.shape[-2:]) < SAME_PADDING_FLOOR:
        raise InputTooSmallError(
            f"input {tuple(x.shape[-2:])} is too small for {type(model).__name__}: minimum is "
            f"{SAME_PADDING_FLOOR}x{SAME_PADDING_FLOOR} (docs/reference.md#minimum-input)"
        )


# ----------------------------------------------------------------------------------------------------- layers
class ConvBNReLU(nn.Sequential):
    """CBR (docs/reference.md#notation): Conv2d (no bias) -> BatchNorm2d (eps 1e-3, docs/reference.md#batchnorm) -> ReLU.

    ``bn=False`` gives the 2014 unit (conv with bias, ReLU; GoogLeNet ``'paper'``, docs/reference.md#googlenet-variants). ``same=True`` pads
    TF-SAME at run time (:class:`PadSame`; the stride-2 layers of GoogLeNet / BN-Inception, docs/reference.md#padding); otherwise
    ``padding`` is static and symmetric (stride-1 SAME = ``k // 2``, VALID = 0).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        *,
        bn: bool = True,
        same: bool = False,
    ) -> None:
        layers: list[nn.Module] = []
        if same:
            assert isinstance(kernel_size, int) and isinstance(stride, int), "SAME padding handles square kernels"
            layers.append(PadSame(kernel_size, stride))
            padding = 0
        layers.append(nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=not bn))
        if bn:
            layers.append(nn.BatchNorm2d(out_channels, eps=1e-3))
        layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class SeparableStemConv(nn.Sequential):
    """Depthwise-separable 7×7/2 first layer (docs/reference.md#googlenet-stem, #bn-inception-stem): depthwise 7×7 with depth multiplier 8 (3 -> 24, no BN
    in between) -> pointwise 1×1 -> [BN] -> ReLU. Table 1 of GoogLeNet (2.7K params / 34M ops) and the BN paper's
    Appendix ("convolution*") count this layer; the Xception paper §2 says Inception V1/V2 used it."""

    def __init__(
        self, in_channels: int, out_channels: int, *, bn: bool = True, same: bool = True, depth_multiplier: int = 8
    ) -> None:
        mid = in_channels * depth_multiplier
        layers: list[nn.Module] = [PadSame(7, 2)] if same else []
        layers += [
            nn.Conv2d(in_channels, mid, 7, 2, 0 if same else 3, groups=in_channels, bias=False),
            nn.Conv2d(mid, out_channels, 1, bias=not bn),
        ]
        if bn:
            layers.append(nn.BatchNorm2d(out_channels, eps=1e-3))
        layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


def stem_convs(in_chans: int, width: Width, first_stride: int = 2) -> dict[str, nn.Module]:
    """``Conv2d_1a_3x3`` 3×3/2 V 32 -> ``Conv2d_2a_3x3`` 3×3 V 32 -> ``Conv2d_2b_3x3`` 3×3 S 64 (299 -> 147×147×64):
    the factorised 7×7 that opens the v3, v4 and Inception-ResNet stems (docs/reference.md#v3-stem, #v4-stem, #ir-v1-stem, #ir-v2-slim)."""
    return {
        "Conv2d_1a_3x3": ConvBNReLU(in_chans, width(32), 3, stride=first_stride),
        "Conv2d_2a_3x3": ConvBNReLU(width(32), width(32), 3),
        "Conv2d_2b_3x3": ConvBNReLU(width(32), width(64), 3, padding=1),
    }


class Branches(nn.Module):
    """``a ‖ b ‖ c``: parallel branches on one input, concatenated on channels in that order (docs/reference.md#notation)."""

    def __init__(self, branches: list[nn.Module], out_channels: int) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.branches], 1)


# ---------------------------------------------------------------------------------------------- initialisation
def trunc_normal_(tensor: torch.Tensor, std: float) -> None:
    """Truncated normal N(0, std²) cut at ±2σ, as TF's ``truncated_normal_initializer`` (docs/reference.md#weight-decay-and-init)."""
    nn.init.trunc_normal_(tensor, mean=0.0, std=std, a=-2.0 * std, b=2.0 * std)


def init_weights(model: nn.Module) -> None:
    """TF-slim initialisation (docs/reference.md#weight-decay-and-init): ``variance_scaling_initializer()`` = truncated normal (cut at 2σ) with
    σ = sqrt(1.3 · 2 / fan_in) for conv and linear weights; zero biases; BN γ = 1, β = 0. The residual 1×1 is
    *not* zero-initialised (docs/reference.md#weight-decay-and-init: no reference does that, and the residual-scale ablation would be void at step 0).
    Per-layer overrides (v3's aux head) are applied by the network after this call."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            fan_in = module.weight[0].numel()
            trunc_normal_(module.weight, math.sqrt(1.3 * 2.0 / fan_in))  # 1.3: TF's correction for the truncation
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


def configure_batchnorm(model: nn.Module, eps: float, momentum: float) -> None:
    """Set eps / momentum of every BatchNorm layer (docs/reference.md#batchnorm: eps 1e-3, momentum 0.1; 0.0003 = TF decay 0.9997)."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eps = eps
            module.momentum = momentum


@dataclass(frozen=True)
class ModelDefaults:
    """Per-network defaults that data, eval and cost code read instead of asking which family they hold."""

    input_size: int  # the paper's standard input (224 or 299)
    mean: tuple[float, ...] = INCEPTION_MEAN  # per-channel normalisation on [0, 1] pixels (docs/reference.md#preprocessing)
    std: tuple[float, ...] = INCEPTION_STD
    crop_fraction: float = 0.875  # central-crop fraction for single-crop evaluation (docs/reference.md#preprocessing)
    interpolation: str = "bilinear"
    aux_weight: float = 0.4  # loss weight of each auxiliary head: TF-slim's 0.4 for the single v2+ head
    extra: dict = field(default_factory=dict)


class InceptionNet(nn.Module):
    """Common surface of the seven networks.

    Subclasses set ``self.num_features``, ``self.drop_rate``, ``self.defaults``, end their constructor with
    :meth:`_finish` (logits layer ``self.fc``, initialisation) and implement :meth:`forward_trunk`, which returns
    the final feature map and the list of auxiliary logits computed on the way (empty unless training with aux
    heads on). ``aux_head_names`` lists the attributes holding aux heads (``None`` when off); each head has a
    ``reset_classifier(num_classes)`` of its own.
    """

    defaults: ModelDefaults
    num_features: int
    drop_rate: float
    fc: nn.Linear
    aux_head_names: tuple[str, ...] = ()

    def _finish(self, num_classes: int, bn_eps: float, bn_momentum: float) -> None:
        """Last step of every constructor: the logits layer, TF-slim init (docs/reference.md#weight-decay-and-init), BN eps / momentum (docs/reference.md#batchnorm)."""
        self.fc = nn.Linear(self.num_features, num_classes)
        init_weights(self)
        configure_batchnorm(self, bn_eps, bn_momentum)

    def forward_trunk(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        raise NotImplementedError

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Feature map before global pooling (N, num_features, h, w)."""
        return self._checked_trunk(x)[0]

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Global average pool -> dropout -> linear (the papers' classifier with a global pool, docs/reference.md#minimum-input)."""
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(features, 1), 1)
        if pre_logits:
            return x
        x = nn.functional.dropout(x, p=self.drop_rate, training=self.training)
        return self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """Logits in eval mode; ``(logits, *aux_logits)`` in training mode when aux heads are on."""
        features, aux = self._checked_trunk(x)
        logits = self.forward_head(features)
        return (logits, *aux) if aux else logits

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the main logits layer and the logits layer of every aux head that is built."""
        self.fc = nn.Linear(self.num_features, num_classes, device=self.fc.weight.device)
        for name in self.aux_head_names:
            head = getattr(self, name)
            if head is not None:
                head.reset_classifier(num_classes)

    def _checked_trunk(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        try:
            return self.forward_trunk(x)
        except RuntimeError as err:
            # A VALID conv/pool on a too-small grid fails deep inside the trunk; turn it into one clear line.
            if x.is_meta or "size" not in str(err).lower():  # meta: the size search itself is probing
                raise
            from inception_lab.models.cost import minimum_input_size

            minimum = minimum_input_size(self, aux=self.training and self.has_aux_heads)
            if min(x.shape[-2:]) >= minimum:
                raise
            raise InputTooSmallError(
                f"input {tuple(x.shape[-2:])} is too small for {type(self).__name__}: minimum is "
                f"{minimum}x{minimum}{' with aux heads on (turn them off with aux_logits=False)' if self.training and self.has_aux_heads else ''}"
            ) from None

    @property
    def has_aux_heads(self) -> bool:
        return bool(getattr(self, "aux_logits", False))
