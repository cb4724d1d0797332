"""What a network costs: parameters, multiply-adds, grid sizes, minimum input size (docs/reference.md#numbers).

Conventions (docs/reference.md#notation, #counts):

- **Parameters** use the PyTorch convention: every ``nn.Parameter`` (BN gamma and beta included; running stats
  are buffers and not counted). "Without aux" leaves out the auxiliary heads: every parameter whose qualified
  name has a component starting with ``aux`` (``AuxLogits``, ``aux1``, ``aux2`` ...).
- **MACs** are the multiply-accumulates of the convolution and linear layers (matmuls) for one image, as the
  reference and the papers ("multiply-adds", "Bn ops") count them; **FLOPs = 2 x MACs**. They are measured with
  ``torch.utils.flop_counter.FlopCounterMode``, which counts exactly those ops (conv, mm/addmm/bmm) and reports
  FLOPs; BN, pooling, ReLU and additions are not counted (timm/mmpretrain profilers add 0.1-0.6% for those).
- Everything here runs on a **meta-device copy** of the model (shapes only, no arithmetic, no weight copies), so
  full-width counts take well under a second and never touch the real model's state.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = [
    "count_parameters",
    "count_flops",
    "feature_grid_sizes",
    "minimum_input_size",
    "model_card",
    "meta_copy",
    "build_meta",
]

_MAX_SCAN = 4096  # largest input size minimum_input_size will try before giving up


def _is_aux_name(name: str) -> bool:
    return any(part.lower().startswith("aux") for part in name.split("."))


def count_parameters(model: nn.Module, aux: bool = True, trainable_only: bool = False) -> int:
    """Number of parameters (docs/reference.md#notation convention); ``aux=False`` leaves out the auxiliary heads."""
    total = 0
    for name, p in model.named_parameters():
        if not aux and _is_aux_name(name):
            continue
        if trainable_only and not p.requires_grad:
            continue
        total += p.numel()
    return total


def meta_copy(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` whose parameters and buffers live on the meta device (no data is copied)."""
    memo: dict[int, Any] = {}
    for p in model.parameters():
        memo[id(p)] = nn.Parameter(torch.empty_like(p, device="meta"), requires_grad=p.requires_grad)
    for b in model.buffers():
        memo[id(b)] = torch.empty_like(b, device="meta")
    return copy.deepcopy(model, memo)


def build_meta(name: str, **overrides) -> nn.Module:
    """``create_model(name, **overrides)`` built directly on the meta device (fast at any width)."""
    from inception_lab.models.registry import create_model

    with torch.device("meta"):
        return create_model(name, **overrides)


def _as_meta(model: nn.Module) -> nn.Module:
    if all(t.device.type == "meta" for t in _tensors(model)):
        return model
    return meta_copy(model)


def _tensors(model: nn.Module):
    yield from model.parameters()
    yield from model.buffers()


def _in_chans(model: nn.Module, in_chans: int | None) -> int:
    if in_chans is not None:
        return in_chans
    if getattr(model, "in_chans", None):
        return int(model.in_chans)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return m.in_channels
    return 3


def _input(model: nn.Module, input_size: int | tuple[int, int], in_chans: int | None, batch: int) -> torch.Tensor:
    h, w = (input_size, input_size) if isinstance(input_size, int) else input_size
    return torch.empty(batch, _in_chans(model, in_chans), h, w, device="meta")


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


class _Mode:
    """Run a meta model in train or eval mode, shapes only; restore its flags afterwards.

    BatchNorm keeps shapes and costs no MACs, but on the meta device it runs through a slow Python decomposition
    (~3 ms a layer), so it is bypassed while we run; everything else runs as is.
    """

    def __init__(self, model: nn.Module, train: bool) -> None:
        self.model, self.train = model, train

    def __enter__(self) -> nn.Module:
        self.flags = {m: m.training for m in self.model.modules()}
        self.model.train(self.train)
        self.patched = [m for m in self.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        for m in self.patched:
            m.forward = _identity
        return self.model

    def __exit__(self, *exc) -> None:
        for m in self.patched:
            del m.forward
        for m, flag in self.flags.items():
            m.training = flag


def count_flops(
    model: nn.Module, input_size: int | tuple[int, int], in_chans: int | None = None, train: bool = False
) -> dict[str, int]:
    """Forward cost of one image: ``{"macs": conv+linear multiply-accumulates, "flops": 2 * macs}``.

    ``train=False`` (default) is the eval-mode graph (no aux heads, as the papers and docs/reference.md#counts count);
    ``train=True`` includes the aux heads when they are on. ``in_chans`` defaults to the model's.
    """
    meta = _as_meta(model)
    x = _input(meta, input_size, in_chans, batch=1 if not train else 2)
    counter = FlopCounterMode(display=False)
    with _Mode(meta, train), torch.no_grad(), counter:
        meta(x)
    flops = counter.get_total_flops() // x.shape[0]
    return {"macs": flops // 2, "flops": flops}


def _stage_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Named top-level stages; a top-level ``nn.Sequential`` with named children (a stem) is listed layer by layer."""
    stages: list[tuple[str, nn.Module]] = []
    for name, child in model.named_children():
        if isinstance(child, nn.Sequential) and not all(n.isdigit() for n, _ in child.named_children()):
            stages.extend((f"{name}.{sub}", m) for sub, m in child.named_children())
        else:
            stages.append((name, child))
    return stages


def feature_grid_sizes(
    model: nn.Module, input_size: int | tuple[int, int], in_chans: int | None = None, train: bool = False
) -> dict[str, tuple[int, ...]]:
    """Output shape (C, H, W) of every named stage that runs, in execution order (forward hooks, meta device).

    Stages are the top-level children (``Mixed_5b`` ...) with stems expanded layer by layer (``stem.Conv2d_1a_3x3``);
    the aux heads appear only with ``train=True``. Non-4D outputs (the logits) are given as ``(features,)``.
    """
    meta = _as_meta(model)
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = []

    def hook(name):
        def record(_module, _inputs, output):
            if isinstance(output, torch.Tensor):
                shapes[name] = tuple(output.shape[1:])

        return record

    for name, module in _stage_modules(meta):
        hooks.append(module.register_forward_hook(hook(name)))
    try:
        with _Mode(meta, train), torch.no_grad():
            meta(_input(meta, input_size, in_chans, batch=2))
    finally:
        for h in hooks:
            h.remove()
    return shapes


class _ScanInProgress(RuntimeError):
    """Raised by a nested ``minimum_input_size`` call (the base class asks for the minimum while we scan)."""


_SCANNING = threading.local()


def _runs(model: nn.Module, size: int, in_chans: int | None, train: bool) -> bool:
    _SCANNING.active = True
    try:
        with _Mode(model, train), torch.no_grad():
            model(_input(model, size, in_chans, batch=2))  # batch 2: BN in train mode needs > 1 value per channel
        return True
    except (RuntimeError, ValueError, IndexError):  # InputTooSmallError is a ValueError
        return False
    finally:
        _SCANNING.active = False


def accepts_input(model: nn.Module, size: int, in_chans: int | None = None, train: bool = False) -> bool:
    """Whether the network runs on a ``size`` x ``size`` input (``train=True``: with its aux heads, if on), checked
    by one forward pass on the meta device (no memory, no compute)."""
    return _runs(_as_meta(model), size, in_chans, train)


def minimum_input_size(model_or_name: nn.Module | str, aux: bool = False, **kwargs) -> int:
    """Smallest square input the network takes (docs/reference.md#minimum-input), found by a search on the meta device.

    ``model_or_name``: a model (copied to the meta device; the original is untouched) or a registered name, built
    with ``**kwargs``. ``aux=True`` runs in training mode so the aux heads (if on) must fit too. The search is
    a binary search over the sizes ``1 .. 4096`` (valid sizes are monotone for every VALID / SAME network here),
    then checked at the answer and one below. Results are cached per architecture.
    """
    if getattr(_SCANNING, "active", False):
        raise _ScanInProgress("input size too small (raised inside a minimum-input-size scan)")
    if isinstance(model_or_name, str):
        model = build_meta(model_or_name, **kwargs)
    else:
        if kwargs:
            raise TypeError("keyword switches are only accepted with a model name")
        model = model_or_name
    key = (type(model).__module__, type(model).__qualname__, repr(model), _in_chans(model, None), bool(aux))
    return _cached_minimum(key, model)


_MIN_CACHE: dict[tuple, int] = {}


def _cached_minimum(key: tuple, model: nn.Module) -> int:
    if key not in _MIN_CACHE:
        _MIN_CACHE[key] = _search_minimum(_as_meta(model), train=key[-1])
    return _MIN_CACHE[key]


def _search_minimum(meta: nn.Module, train: bool) -> int:
    hi = getattr(getattr(meta, "defaults", None), "input_size", 224)
    while not _runs(meta, hi, None, train):
        if hi >= _MAX_SCAN:
            raise ValueError(f"{type(meta).__name__} runs at no input size up to {_MAX_SCAN}")
        hi = min(hi * 2, _MAX_SCAN)
    lo = 0  # invariant: lo fails (or is 0), hi runs
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _runs(meta, mid, None, train):
            hi = mid
        else:
            lo = mid
    return hi


def model_card(name: str, input_size: int | None = None, **overrides) -> dict[str, Any]:
    """A summary of one network / variant, shared by ``inception-lab-models`` and the training summary.

    Keys: ``name``, ``overrides``, ``input_size`` (the model's standard input unless given), ``params`` (as built
    with ``overrides``), ``params_no_aux`` / ``params_aux`` (aux heads off / on; ``None`` when the model has no
    ``aux_logits`` switch), ``macs`` / ``flops`` (eval graph, one image, conv + linear, 1 MAC = 2 FLOPs),
    ``grids`` (stage -> [C, H, W] at ``input_size``, eval graph), ``min_input`` (aux off) and ``min_input_aux``
    (training with the aux heads on; ``None`` without the switch).
    """
    from inception_lab.models.registry import accepts_switch, canonical_name

    name = canonical_name(name)
    model = build_meta(name, **overrides)
    has_aux_switch = accepts_switch(name, "aux_logits")
    if has_aux_switch:
        no_aux = build_meta(name, **{**overrides, "aux_logits": False})
        with_aux = build_meta(name, **{**overrides, "aux_logits": True})
    else:
        no_aux = with_aux = None
    defaults = getattr(model, "defaults", None)
    size = int(input_size or getattr(defaults, "input_size", 224))
    cost = count_flops(model, size)
    return {
        "name": name,
        "overrides": dict(overrides),
        "input_size": size,
        "params": count_parameters(model),
        "params_no_aux": count_parameters(no_aux) if no_aux is not None else count_parameters(model, aux=False),
        "params_aux": count_parameters(with_aux) if with_aux is not None else None,
        "macs": cost["macs"],
        "flops": cost["flops"],
        "grids": {k: list(v) for k, v in feature_grid_sizes(model, size).items()},
        "min_input": minimum_input_size(no_aux if no_aux is not None else model, aux=False),
        "min_input_aux": minimum_input_size(with_aux, aux=True) if with_aux is not None else None,
    }


def aux_heads_fit(name: str, image_size: int, in_chans: int = 3, pretrained: str | None = None, **switches) -> bool:
    """``aux_logits: auto``: whether the network's aux heads run at this input size (v2/v3: 299 px and up; v1's
    fixed pool also has a maximum; docs/reference.md#minimum-input), probed on the meta device at that very size."""
    from inception_lab.models.registry import create_model

    with torch.device("meta"):
        probe = create_model(name, pretrained, in_chans=in_chans, **{**switches, "aux_logits": True})
    return accepts_input(probe, image_size, in_chans, train=True)


def check_input_size(model: nn.Module, image_size: int, in_chans: int) -> None:
    """``InputTooSmallError`` before any training, naming the network's minimum and the fix, when ``image_size`` is
    too small for it (with its aux heads, if on)."""
    from inception_lab.models.layers import InputTooSmallError

    aux = bool(getattr(model, "has_aux_heads", False))
    if accepts_input(model, image_size, in_chans, train=aux):
        return
    minimum = minimum_input_size(model, aux=aux)
    fix = (
        "turn the aux heads off (regularizer=no_aux) or raise data.image_size"
        if aux and minimum_input_size(model, aux=False) <= image_size
        else f"set data.image_size>={minimum} (or a resolution=r299|r151|r79 setting)"
    )
    raise InputTooSmallError(
        f"data.image_size={image_size} is too small for model={type(model).__name__}"
        f"{' with aux heads' if aux else ''}: the minimum is {minimum}; {fix}"
    )
