"""Paper-faithful optimisation: TF1-style RMSProp, the papers' learning-rate schedules, batch-size scaling.

Everything here is plain PyTorch (no Lightning, no Hydra), so the configs in ``conf/optimizer`` and
``conf/scheduler`` reach it through ``hydra.utils.instantiate`` as partials:

- ``RMSpropTF``: the update of TF1 ``tf.train.RMSPropOptimizer`` that the Rethinking (§8) and Inception-v4 (§4)
  papers and TF-slim trained with. ``torch.optim.RMSprop`` is a different rule (docs/reference.md#rmsprop-tf).
- ``exponential_step_decay`` / ``cosine`` / ``constant``: ``LambdaLR`` schedules stepped every *optimizer step*
  (the module registers them with ``interval="step"``), expressed in epochs.
- ``scaled_lr``: the batch-size scaling rule for the papers' learning rate (docs/reference.md#lr-scaling).
- ``weight_decay_groups``: parameter groups that decay conv/FC weights only, as TF-slim does (docs/reference.md#weight-decay-and-init), and
  give the backbone a lower learning rate than the head when fine-tuning (``create_optimizer`` applies it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch.optim.lr_scheduler import LambdaLR

__all__ = [
    "RMSpropTF",
    "constant",
    "cosine",
    "create_optimizer",
    "exponential_step_decay",
    "head_names",
    "scaled_lr",
    "weight_decay_groups",
]


# ------------------------------------------------------------------------------------------------------------------
# RMSProp with TensorFlow 1 semantics
# ------------------------------------------------------------------------------------------------------------------
class RMSpropTF(torch.optim.Optimizer):
    r"""RMSProp with the semantics of TF1 ``tf.train.RMSPropOptimizer`` (docs/reference.md#rmsprop-tf).

    Per parameter ``w`` with gradient ``g``, learning rate ``lr``, decay ``ρ`` (``alpha``), momentum ``μ``
    and ``ε`` (``eps``)::

        g   ← g + weight_decay · w              (coupled L2 = TF-slim's 4e-5·Σw²/2 in the loss, docs/reference.md#weight-decay-and-init)
        ms  ← ρ · ms + (1 − ρ) · g²             (ms starts at ONES, not zeros)
        mom ← μ · mom + lr · g / √(ms + ε)      (ε INSIDE the root; lr folded INTO the momentum buffer)
        w   ← w − mom

    Differences from ``torch.optim.RMSprop`` (which computes ``buf ← μ·buf + g/(√v + ε); w ← w − lr·buf`` with
    ``v₀ = 0``): the square average starts at one, so the first steps are not blown up by a tiny denominator;
    ε sits inside the root; and because lr multiplies the gradient *before* it enters the momentum buffer, a
    learning-rate change (the 0.94 staircase of the papers) takes effect gradually, over the momentum horizon,
    instead of rescaling the whole buffer at once.

    With ``centered=True`` it follows TF's centered variant: ``mg ← ρ·mg + (1 − ρ)·g`` (``mg₀ = 0``) and the
    denominator is ``√(ms − mg² + ε)``. With ``momentum=0`` no buffer is kept and ``w ← w − lr·g/√(ms + ε)``,
    which is the same update.

    Defaults are the papers' recipe (Rethinking §8, v4 paper §4, TF-slim; docs/reference.md#recipe): lr 0.045 (for batch
    32 per replica, see :func:`scaled_lr`), decay 0.9, momentum 0.9, ε 1.0. The decay is called ``alpha`` to
    match ``torch.optim.RMSprop``; TF calls it ``decay`` (or ``rho`` in Keras).

    State per parameter (``square_avg``, ``momentum_buffer``, ``grad_avg`` when centered, ``step``) lives in
    ``self.state`` and round-trips through the standard ``state_dict`` / ``load_state_dict``, so Lightning's
    checkpoints resume the optimizer exactly. Sparse gradients are not supported.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict],
        lr: float = 0.045,
        alpha: float = 0.9,
        eps: float = 1.0,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        centered: bool = False,
        maximize: bool = False,
    ) -> None:
        if not 0.0 <= lr:
            raise ValueError(f"RMSpropTF: invalid learning rate {lr}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"RMSpropTF: invalid decay alpha {alpha} (must be in [0, 1])")
        if not 0.0 <= eps:
            raise ValueError(f"RMSpropTF: invalid eps {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"RMSpropTF: invalid momentum {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"RMSpropTF: invalid weight_decay {weight_decay}")
        defaults = dict(
            lr=lr, alpha=alpha, eps=eps, momentum=momentum, weight_decay=weight_decay, centered=centered,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        for group in self.param_groups:  # groups saved by an older version lack the newer keys
            group.setdefault("centered", False)
            group.setdefault("maximize", False)

    def _init_state(self, p: torch.Tensor, group: dict) -> dict:
        state = self.state[p]
        if len(state) == 0:
            state["step"] = 0
            # TF1 creates the "rms" slot with a ones initializer: the first denominator is ≈ √(ρ + ε), not √ε.
            state["square_avg"] = torch.ones_like(p, memory_format=torch.preserve_format)
            if group["momentum"] > 0:
                state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if group["centered"]:
                state["grad_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return state

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None):
        """Perform one optimisation step; ``closure`` re-evaluates the loss (Lightning passes one)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()

        for group in self.param_groups:
            params: list[torch.Tensor] = []
            grads: list[torch.Tensor] = []
            square_avgs: list[torch.Tensor] = []
            momentum_bufs: list[torch.Tensor] = []
            grad_avgs: list[torch.Tensor] = []
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("RMSpropTF does not support sparse gradients")
                if torch.is_complex(p):
                    raise RuntimeError("RMSpropTF does not support complex parameters")
                state = self._init_state(p, group)
                state["step"] += 1
                params.append(p)
                grads.append(p.grad)
                square_avgs.append(state["square_avg"])
                if group["momentum"] > 0:
                    if "momentum_buffer" not in state:  # momentum switched on after the state was created
                        state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    momentum_bufs.append(state["momentum_buffer"])
                if group["centered"]:
                    if "grad_avg" not in state:
                        state["grad_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    grad_avgs.append(state["grad_avg"])
            if not params:
                continue
            self._update(params, grads, square_avgs, momentum_bufs, grad_avgs, group)
        return loss

    @staticmethod
    def _update(params, grads, square_avgs, momentum_bufs, grad_avgs, group) -> None:
        lr = float(group["lr"])
        rho = float(group["alpha"])
        eps = float(group["eps"])
        momentum = float(group["momentum"])
        weight_decay = float(group["weight_decay"])

        # New lists where the gradient is modified: p.grad itself is never written to.
        if group["maximize"]:
            grads = torch._foreach_neg(grads)
        if weight_decay != 0.0:
            grads = torch._foreach_add(grads, params, alpha=weight_decay)

        # ms ← ρ·ms + (1 − ρ)·g²
        torch._foreach_mul_(square_avgs, rho)
        torch._foreach_addcmul_(square_avgs, grads, grads, value=1.0 - rho)

        # denom = √(ms + ε)   or, centered,   √(ms − mg² + ε)
        if group["centered"]:
            torch._foreach_mul_(grad_avgs, rho)
            torch._foreach_add_(grad_avgs, grads, alpha=1.0 - rho)
            denom = torch._foreach_addcmul(square_avgs, grad_avgs, grad_avgs, value=-1.0)
            torch._foreach_add_(denom, eps)
        else:
            denom = torch._foreach_add(square_avgs, eps)
        torch._foreach_sqrt_(denom)

        if momentum > 0:
            # mom ← μ·mom + lr·g/denom ;  w ← w − mom
            torch._foreach_mul_(momentum_bufs, momentum)
            torch._foreach_addcdiv_(momentum_bufs, grads, denom, value=lr)
            torch._foreach_sub_(params, momentum_bufs)
        else:
            torch._foreach_addcdiv_(params, grads, denom, value=-lr)


# ------------------------------------------------------------------------------------------------------------------
# Weight decay only where TF-slim puts it
# ------------------------------------------------------------------------------------------------------------------
def head_names(network: torch.nn.Module) -> tuple[str, ...]:
    """The network's sub-modules that map features to classes: ``fc`` and every aux head that is built
    (``InceptionNet.aux_head_names``). Everything else is the backbone (what fine-tuning freezes or slows down)."""
    if not isinstance(getattr(network, "fc", None), torch.nn.Module):
        raise ValueError(f"{type(network).__name__} has no `fc` classifier: cannot tell its head from its backbone")
    aux = tuple(n for n in getattr(network, "aux_head_names", ()) if getattr(network, n, None) is not None)
    return ("fc", *aux)


def weight_decay_groups(module: torch.nn.Module, backbone_lr_mult: float = 1.0) -> list[dict]:
    """Split ``module``'s trainable parameters into ``[decayed, not decayed]`` optimizer parameter groups.

    TF-slim puts its L2 (4e-5) on conv and fully connected *weights* only; BatchNorm scale/offset and biases are
    not decayed (docs/reference.md#weight-decay-and-init; the IR-v2 scope also decays biases, ignored here). Every parameter with at most
    one dimension (biases, BN γ/β) goes to the second group, which carries ``weight_decay=0.0``; the first group
    takes the optimizer's own ``weight_decay`` (e.g. ``${regularizer.weight_decay}``). Pass the result where the
    optimizer partial expects its parameters: ``optimizer_partial(weight_decay_groups(model))``.

    Fine-tuning (``backbone_lr_mult != 1``; ``module`` is a network with a ``fc``, see :func:`head_names`): four
    groups named ``head``, ``head_no_decay``, ``backbone``, ``backbone_no_decay`` (the names Lightning's
    LearningRateMonitor logs); the backbone's carry ``lr_mult = backbone_lr_mult``, which :func:`create_optimizer`
    turns into their learning rate. Frozen parameters (``requires_grad=False``) are left out; a group may be empty
    (a frozen backbone), so that parameters unfrozen later join it (``finetune.Finetuning``).
    """
    def split(named, prefix: str, extra: dict) -> list[dict]:
        decay, no_decay = [], []
        for _, p in named:
            if p.requires_grad:
                (no_decay if p.ndim <= 1 else decay).append(p)
        groups = [{"params": decay, **extra}, {"params": no_decay, "weight_decay": 0.0, **extra}]
        if prefix:
            groups[0]["name"], groups[1]["name"] = prefix, f"{prefix}_no_decay"
        return groups

    if backbone_lr_mult == 1.0:
        return split(module.named_parameters(), "", {})
    heads = head_names(module)
    named = list(module.named_parameters())
    head = [n for n in named if n[0].split(".", 1)[0] in heads]
    backbone = [n for n in named if n[0].split(".", 1)[0] not in heads]
    return split(head, "head", {}) + split(backbone, "backbone", {"lr_mult": float(backbone_lr_mult)})


def create_optimizer(factory: Callable[..., torch.optim.Optimizer], module: torch.nn.Module,
                     backbone_lr_mult: float = 1.0) -> torch.optim.Optimizer:
    """``factory(weight_decay_groups(module, backbone_lr_mult))`` with every group's ``lr`` set to the optimizer's
    lr times the group's ``lr_mult`` (1 when absent), before any scheduler records its base learning rates."""
    optimizer = factory(weight_decay_groups(module, backbone_lr_mult))
    for group in optimizer.param_groups:
        group["lr"] = optimizer.defaults["lr"] * group.get("lr_mult", 1.0)
    return optimizer


# ------------------------------------------------------------------------------------------------------------------
# Learning-rate scaling with the batch size
# ------------------------------------------------------------------------------------------------------------------
def scaled_lr(base_lr: float, global_batch: int, reference_batch: int = 32, rule: str = "linear") -> float:
    """The learning rate for ``global_batch`` given ``base_lr`` tuned at ``reference_batch``.

    docs/reference.md#lr-scaling: the papers' 0.045 (Rethinking §8, v4 paper §4) belongs to steps of batch 32 per replica,
    most likely applied asynchronously by each of 50 (v4: 20) replicas. With synchronous data parallelism at a
    global batch ``B`` the lab keeps 0.045 unless the user asks for scaling:

    - ``"linear"``: ``base_lr · B / reference_batch`` (Goyal et al. 2017; pair it with a warmup);
    - ``"sqrt"``: ``base_lr · √(B / reference_batch)`` (keeps the gradient-noise scale for adaptive rules);
    - ``"none"``: ``base_lr`` unchanged.
    """
    if global_batch <= 0 or reference_batch <= 0:
        raise ValueError(f"scaled_lr: batch sizes must be positive (global_batch={global_batch}, "
                         f"reference_batch={reference_batch})")
    ratio = global_batch / reference_batch
    if rule == "linear":
        return base_lr * ratio
    if rule == "sqrt":
        return base_lr * math.sqrt(ratio)
    if rule == "none":
        return base_lr
    raise ValueError(f"scaled_lr: unknown rule {rule!r}; expected 'linear', 'sqrt' or 'none'")


# ------------------------------------------------------------------------------------------------------------------
# Schedules: LambdaLR multipliers of each group's base lr, evaluated at the optimizer-step count
# ------------------------------------------------------------------------------------------------------------------
def _check(steps_per_epoch: int, max_epochs: int, warmup_epochs: float) -> int:
    if int(steps_per_epoch) < 1:
        raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
    if int(max_epochs) < 1:
        raise ValueError(f"max_epochs must be >= 1, got {max_epochs}")
    if warmup_epochs < 0:
        raise ValueError(f"warmup_epochs must be >= 0, got {warmup_epochs}")
    return int(round(warmup_epochs * steps_per_epoch))


def _ramp(step: int, warmup_steps: int) -> float:
    """Linear warmup from 0: ``step / warmup_steps`` until ``warmup_steps``, then 1."""
    return step / warmup_steps if step < warmup_steps else 1.0


def exponential_step_decay(
    optimizer: torch.optim.Optimizer,
    steps_per_epoch: int,
    max_epochs: int,
    decay_rate: float = 0.94,
    decay_epochs: float = 2.0,
    warmup_epochs: float = 0.0,
    staircase: bool = True,
) -> LambdaLR:
    """The papers' schedule: ``lr = base · decay_rate^⌊epoch / decay_epochs⌋`` (docs/reference.md#lr-schedule).

    Rethinking §8 and the v4 paper §4: 0.045 decayed by 0.94 every 2 epochs; implemented as TF-slim's
    ``tf.train.exponential_decay(..., decay_steps=int(steps_per_epoch · decay_epochs), staircase=True)``, counted
    in optimizer steps (``epoch = step / steps_per_epoch``). ``staircase=False`` gives the smooth
    ``decay_rate^(step / decay_steps)``. An optional linear warmup from 0 over ``warmup_epochs`` multiplies the
    decay, whose clock still starts at step 0 (as in Goyal et al.: the decay epochs stay where the paper put them).
    GoogLeNet §6 ("decreasing the learning rate by 4% every 8 epochs") is ``decay_rate=0.96, decay_epochs=8``.
    """
    warmup_steps = _check(steps_per_epoch, max_epochs, warmup_epochs)
    decay_steps = max(1, int(steps_per_epoch * decay_epochs))

    def factor(step: int) -> float:
        exponent = step // decay_steps if staircase else step / decay_steps
        return _ramp(step, warmup_steps) * decay_rate**exponent

    return LambdaLR(optimizer, factor)


def cosine(
    optimizer: torch.optim.Optimizer,
    steps_per_epoch: int,
    max_epochs: int,
    warmup_epochs: float = 0.0,
    min_lr_ratio: float = 0.0,
) -> LambdaLR:
    """Half-cosine from the base lr to ``min_lr_ratio · base`` at the end of training (Loshchilov & Hutter, SGDR).

    Not a paper recipe for the Inception family (those use :func:`exponential_step_decay`); offered as the
    common modern baseline. After an optional linear warmup from 0 over ``warmup_epochs``, the cosine runs over
    the remaining ``max_epochs · steps_per_epoch − warmup`` steps and stays at the floor past the end.
    """
    warmup_steps = _check(steps_per_epoch, max_epochs, warmup_epochs)
    total_steps = int(steps_per_epoch) * int(max_epochs)
    decay_steps = max(1, total_steps - warmup_steps)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return _ramp(step, warmup_steps)
        progress = min(1.0, (step - warmup_steps) / decay_steps)
        return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)


def constant(
    optimizer: torch.optim.Optimizer,
    steps_per_epoch: int,
    max_epochs: int,
    warmup_epochs: float = 0.0,
) -> LambdaLR:
    """The base lr throughout, after an optional linear warmup from 0 (debugging, short fine-tuning runs)."""
    warmup_steps = _check(steps_per_epoch, max_epochs, warmup_epochs)

    def factor(step: int) -> float:
        return _ramp(step, warmup_steps)

    return LambdaLR(optimizer, factor)
