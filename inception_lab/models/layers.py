"""Building blocks shared by every Inception network (reference §1).

- ``ConvBNReLU``: the CBR unit of every BN-era Inception (§0.2, §1.1): conv without bias, BatchNorm, ReLU.
- ``scale_channels``: the TF-slim width-multiplier rule (§1.5); ``width_mult=1.0`` is the paper's network.
- ``InceptionNet``: the face every network shows the module, eval and cost code (DESIGN "A model's face").
- ``InputTooSmallError``: the one clear error for an input below a network's minimum size (§9.3).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INCEPTION_MEAN = (0.5, 0.5, 0.5)  # x/255 -> (x - 0.5) / 0.5 = [-1, 1] scaling of TF-slim (§10.8)
INCEPTION_STD = (0.5, 0.5, 0.5)


class InputTooSmallError(ValueError):
    """An input image is smaller than the network (with its current switches) can take."""


def scale_channels(channels: int, width_mult: float) -> int:
    """TF-slim depth multiplier (§1.5): ``max(int(c * m), 16)``; identity at ``m = 1``."""
    if width_mult == 1.0:
        return channels
    return max(int(channels * width_mult), 16)


class ConvBNReLU(nn.Sequential):
    """CBR: Conv2d (no bias) -> BatchNorm2d (eps 1e-3, §1.3) -> ReLU."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
    ) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(out_channels, eps=1e-3),
            nn.ReLU(inplace=True),
        )


def configure_batchnorm(model: nn.Module, eps: float, momentum: float) -> None:
    """Set eps / momentum of every BatchNorm layer (§1.3: eps 1e-3, momentum 0.1; 0.0003 = TF decay 0.9997)."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eps = eps
            module.momentum = momentum


@dataclass(frozen=True)
class ModelDefaults:
    """Per-network defaults that data, eval and cost code read instead of asking which family they hold."""

    input_size: int  # the paper's standard input (224 or 299)
    mean: tuple[float, ...] = INCEPTION_MEAN  # per-channel normalisation on [0, 1] pixels (§10.8)
    std: tuple[float, ...] = INCEPTION_STD
    crop_fraction: float = 0.875  # central-crop fraction for single-crop evaluation (§10.8)
    interpolation: str = "bilinear"
    extra: dict = field(default_factory=dict)


class InceptionNet(nn.Module):
    """Common surface of the seven networks.

    Subclasses build ``self.fc`` (the logits layer), set ``self.num_features``, ``self.drop_rate``,
    ``self.defaults`` and implement :meth:`forward_trunk`, which returns the final feature map and the
    list of auxiliary logits computed on the way (empty unless training with aux heads on).
    """

    defaults: ModelDefaults
    num_features: int
    drop_rate: float
    fc: nn.Linear

    def forward_trunk(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        raise NotImplementedError

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Feature map before global pooling (N, num_features, h, w)."""
        return self._checked_trunk(x)[0]

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Global average pool -> dropout -> linear (the papers' classifier with a global pool, §9.3)."""
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
        """Replace the main logits layer (aux heads keep theirs)."""
        self.fc = nn.Linear(self.num_features, num_classes, device=self.fc.weight.device)

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
