"""Name -> constructor registry: ``create_model(name, pretrained=None, num_classes=None, **overrides)`` and
``list_models()``.

Users type the short names (``v1``, ``bn_inception``, ``v2``, ``v3``, ``v4``, ``inception_resnet_v1``,
``inception_resnet_v2``); long aliases (``googlenet``, ``inception_v3`` ...) resolve to the same entry.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable

from torch import nn

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}
_ALIASES: dict[str, str] = {}


class UnknownModelError(KeyError):
    """A model name that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it one plain line
        return str(self.args[0])


def register_model(name: str, *aliases: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Class/function decorator: register a constructor under ``name`` and its aliases."""

    def decorator(constructor: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        _REGISTRY[name] = constructor
        for alias in aliases:
            _ALIASES[alias] = name
        return constructor

    return decorator


def list_models() -> list[str]:
    """The canonical names, in registration order."""
    return list(_REGISTRY)


def canonical_name(name: str) -> str:
    """Resolve an alias; raise UnknownModelError naming the choices (and the closest one) otherwise."""
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        choices = list_models() + sorted(_ALIASES)
        close = difflib.get_close_matches(key, choices, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise UnknownModelError(f"unknown model '{name}'{hint}; choose one of: {', '.join(list_models())}")
    return key


def create_model(name: str, pretrained: str | None = None, num_classes: int | None = None, **overrides) -> nn.Module:
    """Build a registered network; ``overrides`` are the model's switches (docs/reference.md#switches).

    ``pretrained``: a weights file, an inception-lab checkpoint, ``timm:<tag>``, ``hf-hub:timm/<tag>`` or
    ``torchvision:<Weights enum>`` (:mod:`inception_lab.models.pretrained`): the loader sets the switches the weights
    need and attaches ``model.pretrained_cfg``. ``num_classes`` defaults to 1000, or to the weights' class count;
    another count re-initialises the classifier and aux classifiers and loads everything else.
    """
    canonical = canonical_name(name)
    constructor = _REGISTRY[canonical]
    accepted = inspect.signature(constructor).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
        unknown = sorted(set(overrides) - set(accepted))
        if unknown:
            raise TypeError(
                f"model '{name}' has no switch {', '.join(unknown)}; its switches are: "
                f"{', '.join(k for k in accepted if k != 'num_classes')}"
            )
    if pretrained is not None:
        from inception_lab.models.pretrained import build_pretrained

        return build_pretrained(canonical, pretrained, num_classes, overrides, constructor)
    return constructor(num_classes=1000 if num_classes is None else num_classes, **overrides)
