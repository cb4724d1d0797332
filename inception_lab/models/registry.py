"""Name -> constructor registry: ``create_model(name, pretrained=None, num_classes=None, **overrides)`` and
``list_models()``.

Users type the short names (``v1``, ``bn_inception``, ``v2``, ``v3``, ``v4``, ``inception_resnet_v1``,
``inception_resnet_v2``); long aliases (``googlenet``, ``inception_v3`` ...) resolve to the same entry.

What the rest of the code asks about a registered network goes through the functions here (nothing else reads the
tables): :func:`get_model_constructor`, :func:`model_switches` (keyword names and defaults, from the constructor's
signature), :func:`unknown_switches` / :func:`accepts_switch`, :func:`model_variants` (the rows
``inception-lab-models`` shows, declared by the family with ``register_model(..., variants=...)``) and
:func:`unregister_model`. :func:`with_defaults` declares a variant of a constructor that only changes defaults
(v2 is v3 with another stem and aux head).
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from torch import nn

Constructor = Callable[..., nn.Module]

_REGISTRY: dict[str, Constructor] = {}
_ALIASES: dict[str, str] = {}
_VARIANTS: dict[str, dict[str, dict[str, Any]]] = {}


class UnknownModelError(KeyError):
    """A model name that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it one plain line
        return str(self.args[0])


def register_model(
    name: str, *aliases: str, variants: Mapping[str, Mapping[str, Any]] | None = None
) -> Callable[[Constructor], Constructor]:
    """Class/function decorator: register a constructor under ``name`` and its aliases.

    ``variants``: ``label -> overrides``, the family's rows worth seeing besides its defaults (paper-vs-code
    readings, table rows); each override is a switch of the constructor, or ``input_size``.
    """

    def decorator(constructor: Constructor) -> Constructor:
        rows = {label: dict(overrides) for label, overrides in (variants or {}).items()}
        params = inspect.signature(constructor).parameters
        for label, overrides in rows.items():
            unknown = _not_taken(params, set(overrides) - {"input_size"})
            if unknown:
                raise TypeError(f"model '{name}' variant {label!r}: no switch {', '.join(unknown)}")
        _REGISTRY[name] = constructor
        _VARIANTS[name] = rows
        for alias in aliases:
            _ALIASES[alias] = name
        return constructor

    return decorator


def unregister_model(name: str) -> None:
    """Remove a registered model with its aliases and variants (tests that register toy networks)."""
    canonical = canonical_name(name)
    del _REGISTRY[canonical]
    del _VARIANTS[canonical]
    for alias in [a for a, target in _ALIASES.items() if target == canonical]:
        del _ALIASES[alias]


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


def get_model_constructor(name: str) -> Constructor:
    """The registered constructor of ``name`` (or an alias)."""
    return _REGISTRY[canonical_name(name)]


def _parameters(name: str) -> Mapping[str, inspect.Parameter]:
    return inspect.signature(get_model_constructor(name)).parameters


def _not_taken(params: Mapping[str, inspect.Parameter], keys: Iterable[str]) -> list[str]:
    """The ``keys`` a constructor with these parameters does not take (none when it takes ``**kwargs``), sorted."""
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return []
    return sorted(set(keys) - set(params))


def model_switches(name: str) -> dict[str, Any]:
    """The network's switches: ``keyword -> default`` in signature order (``inspect.Parameter.empty`` where there
    is none). ``num_classes`` is ``create_model``'s own argument, not listed; ``**kwargs`` is not listed either
    (see :func:`accepts_switch`)."""
    return {
        key: p.default
        for key, p in _parameters(name).items()
        if key != "num_classes" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


def unknown_switches(name: str, switches: Iterable[str]) -> list[str]:
    """The ``switches`` that ``create_model(name, ...)`` would refuse (the constructor takes no such keyword), sorted."""
    return _not_taken(_parameters(name), switches)


def accepts_switch(name: str, switch: str) -> bool:
    """Whether ``create_model(name, **{switch: ...})`` passes the constructor that keyword."""
    return not unknown_switches(name, [switch])


def model_variants(name: str) -> dict[str, dict[str, Any]]:
    """The family's own rows: ``label -> overrides`` as registered (a copy; may hold ``input_size``)."""
    return {label: dict(overrides) for label, overrides in _VARIANTS[canonical_name(name)].items()}


def with_defaults(base: Constructor, **defaults: Any) -> Callable[[Callable[[], Any]], Constructor]:
    """Decorator for a variant that is ``base`` with other keyword defaults (``functools.partial``-like).

    Decorate an empty function that carries the variant's name and docstring; the result calls ``base`` and its
    ``inspect.signature`` is ``base``'s with the new defaults, so ``create_model``, the config checks and
    ``inception-lab-models`` list and check its switches as for any constructor::

        @with_defaults(InceptionV3, stem="7x7")
        def inception_v2() -> InceptionV3:
            '''Inception-v2: v3 with the 7x7 stem.'''
    """
    signature = inspect.signature(base)
    unknown = sorted(set(defaults) - set(signature.parameters))
    if unknown:
        raise TypeError(f"{base.__name__} has no keyword {', '.join(unknown)}")
    signature = signature.replace(parameters=[
        p.replace(default=defaults[key]) if key in defaults else p for key, p in signature.parameters.items()
    ])

    def decorator(stub: Callable[[], Any]) -> Constructor:
        declared = inspect.signature(stub)
        if declared.parameters:
            raise TypeError(f"{stub.__name__}: the variant's arguments are {base.__name__}'s; declare it without any")
        returns = declared.return_annotation
        variant_signature = signature if returns is declared.empty else signature.replace(return_annotation=returns)

        def constructor(*args: Any, **kwargs: Any) -> nn.Module:
            bound = variant_signature.bind(*args, **kwargs)
            bound.apply_defaults()
            return base(*bound.args, **bound.kwargs)

        for attr in ("__module__", "__name__", "__qualname__", "__doc__"):
            setattr(constructor, attr, getattr(stub, attr))
        constructor.__signature__ = variant_signature  # type: ignore[attr-defined]
        return constructor

    return decorator


def create_model(name: str, pretrained: str | None = None, num_classes: int | None = None, **overrides) -> nn.Module:
    """Build a registered network; ``overrides`` are the model's switches (docs/reference.md#switches).

    ``pretrained``: a weights file, an inception-lab checkpoint, ``timm:<tag>``, ``hf-hub:timm/<tag>`` or
    ``torchvision:<Weights enum>`` (:mod:`inception_lab.models.pretrained`): the loader sets the switches the weights
    need and attaches ``model.pretrained_cfg``. ``num_classes`` defaults to 1000, or to the weights' class count;
    another count re-initialises the classifier and aux classifiers and loads everything else.
    """
    canonical = canonical_name(name)
    constructor = get_model_constructor(canonical)
    unknown = unknown_switches(canonical, overrides)
    if unknown:
        raise TypeError(
            f"model '{name}' has no switch {', '.join(unknown)}; its switches are: "
            f"{', '.join(model_switches(canonical))}"
        )
    if pretrained is not None:
        from inception_lab.models.pretrained import build_pretrained

        return build_pretrained(canonical, pretrained, num_classes, overrides, constructor)
    return constructor(num_classes=1000 if num_classes is None else num_classes, **overrides)
