"""Bad input, found before any work: every config group's values, the checkpoint to resume, the run directory.

Each check raises ``RunError`` with one line: the key, the value given, what it must be, and how to fix it. The
training CLI runs ``check_config`` and ``check_run_dir`` from a Hydra callback, before Hydra creates or writes the
run directory and before Lightning is imported, so a bad value costs seconds and leaves no file behind; ``train()``
runs ``check_config`` again (sweep jobs, library callers). The checks are explicit functions, one per group, rather
than dataclass schemas in Hydra's ConfigStore: most ranges here (``lr > 0``, ``label_smoothing`` in [0, 1)) are
not types, a structured schema would fix every group option's key set (each ``data`` or ``optimizer`` option has
its own), and Hydra's own errors for a schema mismatch are multi-line. Errors raised on purpose for bad input are
``RunError`` (and the data, model and eval modules' own error types); anything else is a bug and keeps its
traceback.

Pure-Python checks come first; only the model group (its registry and a meta-device build that runs the networks'
own switch checks) and the optimizer / scheduler argument names import torch.
"""

from __future__ import annotations

import inspect
import math
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from inception_lab.checkpoints import CHECKPOINT_DIR, CheckpointError
from inception_lab.results import FILENAME as RESULTS_FILE

# The values the data modules accept (inception_lab/data; tests/test_bad_input.py checks that they agree). Listed
# here because importing the data package imports Lightning, seconds that a bad value should not cost.
COLOR_JITTER = ("none", "fast", "full")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "area", "random")
EVAL_CROPS = ("central", "square")
VERIFY = ("auto", "none", "header", "full")
# Lightning 2.x Trainer(precision=...) values (lightning.fabric.plugins.precision.precision), plus our `auto`
PRECISIONS = ("auto", "transformer-engine", "transformer-engine-float16", "16-true", "16-mixed", "bf16-true",
              "bf16-mixed", "32-true", "64-true", "64", "32", "16", "bf16", 64, 32, 16)
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")
# Hydra keywords of an instantiated node, not arguments of its target
HYDRA_KEYS = ("_target_", "_partial_", "_convert_", "_recursive_", "_args_")


class RunError(ValueError):
    """Bad input (a config value, a file, a directory in the way): the message says what is wrong and how to fix it."""


class RunDirInUse(RunError):
    """The run directory already holds a run: nothing in it may change, not even a ``failed`` record."""


def user_errors(*extra: type[BaseException]) -> tuple[type[BaseException], ...]:
    """The exception types raised on purpose for bad input (plus ``extra``); anything else is a bug. DataError and
    FinetuneError count once their modules are imported: those import Lightning, and nothing can have raised them
    before."""
    import sys

    from inception_lab.models import InputTooSmallError, PretrainedError, UnknownModelError

    types = [RunError, CheckpointError, InputTooSmallError, UnknownModelError, PretrainedError, *extra]
    for module, name in (("inception_lab.data.base", "DataError"), ("inception_lab.finetune", "FinetuneError")):
        if module in sys.modules:
            types.append(getattr(sys.modules[module], name))
    return tuple(types)


# ------------------------------------------------------------------------------------------------------ helpers
def show(value: Any) -> str:
    """A value as a user types it on the command line: null, true, 0.1, [0.08,1.0]."""
    if isinstance(value, (DictConfig, ListConfig)):
        value = OmegaConf.to_container(value, resolve=True)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(show(v) for v in value) + "]"
    return str(value)


_ABSENT = object()


def _get(cfg: Any, key: str) -> Any:
    """``cfg``'s value at the dotted ``key`` (interpolations resolved), or ``_ABSENT`` when the group has no such key."""
    return OmegaConf.select(cfg, key, default=_ABSENT)


def _fail(key: str, value: Any, expected: str, hint: str = "") -> None:
    raise RunError(f"{key}={show(value)}: must be {expected}" + (f"; {hint}" if hint else ""))


def _is_number(value: Any, integer: bool = False) -> bool:
    if isinstance(value, bool):
        return False
    if integer:
        return isinstance(value, int)
    return isinstance(value, (int, float)) and math.isfinite(value)


def _range_text(gt: float | None, ge: float | None, lt: float | None, le: float | None) -> str:
    low = (f"({gt}", gt) if gt is not None else (f"[{ge}", ge) if ge is not None else None
    high = (f"{lt})", lt) if lt is not None else (f"{le}]", le) if le is not None else None
    if low and high:
        return f"in {low[0]}, {high[0]}"
    parts = [f"> {gt}" if gt is not None else f">= {ge}" if ge is not None else "",
             f"< {lt}" if lt is not None else f"<= {le}" if le is not None else ""]
    return " and ".join(p for p in parts if p)


def number(cfg: Any, key: str, *, gt: float | None = None, ge: float | None = None, lt: float | None = None,
           le: float | None = None, integer: bool = False, nullable: bool = False, also: Sequence[Any] = (),
           hint: str = "") -> None:
    """``key`` (when the group has it) is a number in the given bounds, or null (``nullable``), or one of ``also``."""
    value = _get(cfg, key)
    if value is _ABSENT or (value is None and nullable) or (not isinstance(value, bool) and value in also):
        return
    ok = _is_number(value, integer) and (gt is None or value > gt) and (ge is None or value >= ge) and (
        lt is None or value < lt) and (le is None or value <= le)
    if not ok:
        expected = f"{'an integer' if integer else 'a number'} {_range_text(gt, ge, lt, le)}".rstrip()
        extras = [show(v) for v in also] + (["null"] if nullable else [])
        _fail(key, value, expected + (f" (or {' or '.join(extras)})" if extras else ""), hint)


def choice(cfg: Any, key: str, choices: Iterable[Any], hint: str = "") -> None:
    """``key`` (when the group has it) is one of ``choices`` (type and value: 1 is not true, "32" is not 32)."""
    value = _get(cfg, key)
    choices = tuple(choices)
    if value is not _ABSENT and not any(type(value) is type(c) and value == c for c in choices):
        _fail(key, value, "one of " + ", ".join(dict.fromkeys(show(c) for c in choices)), hint)


def flag(cfg: Any, key: str) -> None:
    """``key`` (when the group has it) is true or false."""
    value = _get(cfg, key)
    if value is not _ABSENT and not isinstance(value, bool):
        _fail(key, value, "true or false")


def pair(cfg: Any, key: str, *, gt: float, le: float | None = None) -> None:
    """``key`` is ``[min, max]`` with ``gt < min <= max (<= le)``."""
    value = _get(cfg, key)
    if value is _ABSENT:
        return
    items = list(value) if isinstance(value, (list, tuple, ListConfig)) else None
    ok = items is not None and len(items) == 2 and all(_is_number(v) for v in items) and gt < items[0] <= items[1]
    if ok and le is not None:
        ok = items[1] <= le
    if not ok:
        bound = f" <= {le}" if le is not None else ""
        _fail(key, value, f"a pair [min,max] with {gt} < min <= max{bound}")


def check_arguments(key: str, node: Any, provided: Iterable[str] = ()) -> None:
    """Every key of an instantiated node is an argument its ``_target_`` takes (a misspelt key or a ``+group.key``
    would otherwise fail as a TypeError inside the constructor). ``provided``: arguments the code passes itself."""
    from hydra.utils import get_object

    target = node.get("_target_") if isinstance(node, DictConfig) else None
    if not target:
        return
    try:
        obj = get_object(str(target))
    except Exception as err:  # ImportError, AttributeError: hydra words them
        raise RunError(f"{key}._target_={target}: cannot be imported ({str(err).splitlines()[0]})") from None
    accepted: list[str] = []
    for owner in (obj.__mro__ if inspect.isclass(obj) else (obj,)):
        function = owner.__init__ if inspect.isclass(owner) else owner
        if inspect.isclass(owner) and "__init__" not in owner.__dict__:
            continue
        params = inspect.signature(function).parameters.values()
        accepted += [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break  # **kwargs go to the base class's __init__: keep collecting there
    else:
        return  # **kwargs all the way up: anything goes
    unknown = sorted(set(map(str, node)) - set(HYDRA_KEYS) - set(accepted) - set(provided))
    if unknown:
        choices = ", ".join(a for a in dict.fromkeys(accepted) if a not in ("self", "params", "optimizer", *provided))
        raise RunError(f"{key}.{unknown[0]}: {target} takes no argument {unknown[0]!r}; its arguments are: {choices}")


# ------------------------------------------------------------------------------------------------------- groups
def check_model(cfg: Any) -> None:
    """The model group's numeric switches (``check_model_switches`` does the rest)."""
    if not isinstance(_get(cfg, "model"), DictConfig):
        return
    number(cfg, "model.width_mult", gt=0, hint="1.0 = the paper's widths, 0.25 = the quarter-width CPU default")
    number(cfg, "model.drop_rate", ge=0, lt=1, nullable=True, hint="the dropout probability before the classifier")
    number(cfg, "model.bn_eps", gt=0)
    number(cfg, "model.bn_momentum", ge=0, le=1)
    number(cfg, "model.aux_hidden", ge=1, integer=True)
    number(cfg, "model.residual_scale", gt=0, also=("reference",), hint="1.0 turns residual scaling off")
    choice(cfg, "model.aux_logits", ("auto", True, False))
    flag(cfg, "model.aux_bn_fc")
    flag(cfg, "model.stem_separable")
    flag(cfg, "model.avgpool_count_include_pad")


def check_model_switches(cfg: Any) -> None:
    """The model's name, its switch names and choices, by the registry and the network's own checks (a meta-device
    build: no memory, well under a second)."""
    if not isinstance(_get(cfg, "model"), DictConfig):
        return
    import torch

    from inception_lab.models import UnknownModelError, canonical_name, create_model
    from inception_lab.models.layers import SwitchError
    from inception_lab.models.registry import model_switches, unknown_switches

    name = _get(cfg, "model.name")
    try:
        canonical = canonical_name(str(name))
    except UnknownModelError as err:
        raise RunError(f"model.name={show(name)}: {err}") from None
    # ``pretrained`` is create_model's, not the network's (its weights are checked when they are loaded)
    switches = {k: v for k, v in OmegaConf.to_container(cfg.model, resolve=True).items()
                if k not in ("name", "pretrained")}
    for key in ("num_classes", "in_chans"):
        if key in switches:
            raise RunError(f"model.{key}={show(switches[key])}: set by the data (its classes and channels); drop it")
    unknown = unknown_switches(canonical, switches)
    if unknown:
        names = ", ".join(k for k in model_switches(canonical) if k != "in_chans")
        hint = " (resolution=r299|r151|r79 sets first_stride/first_pool: v2 and v3 only)" if unknown[0] in (
            "first_stride", "first_pool") else ""
        raise RunError(f"model.{unknown[0]}: model {name} has no such switch{hint}; its switches are: {names}")
    if switches.get("aux_logits") == "auto":  # resolved from the input size later; either value builds
        switches["aux_logits"] = False
    try:
        with torch.device("meta"):
            create_model(canonical, num_classes=10, **switches)
    except SwitchError as err:
        raise RunError(f"model.{err.switch}={show(err.value)}: must be one of "
                       f"{', '.join(show(c) for c in err.choices)}") from None


def check_data(cfg: Any) -> None:
    """The data group: sizes, crops, workers and, for folder data, that ``data.root`` is an existing folder."""
    if not isinstance(_get(cfg, "data"), DictConfig):
        return
    number(cfg, "data.image_size", ge=1, integer=True, hint="the input size in pixels (299 for v3 on ImageNet)")
    number(cfg, "data.batch_size", ge=1, integer=True, hint="images per batch and process")
    number(cfg, "data.num_workers", ge=0, integer=True, also=("auto",))
    number(cfg, "data.prefetch_factor", ge=1, integer=True, nullable=True)
    number(cfg, "data.val_fraction", gt=0, lt=1, hint="the share of images held out for validation, e.g. 0.2")
    number(cfg, "data.eval_crop_fraction", gt=0, le=1, nullable=True, hint="0.875 = TF-slim's central crop")
    number(cfg, "data.crop_attempts", ge=1, integer=True)
    for key in ("num_classes", "train_size", "val_size", "pool_size"):
        number(cfg, f"data.{key}", ge=1, integer=True)
    pair(cfg, "data.crop_area", gt=0, le=1)
    pair(cfg, "data.crop_aspect", gt=0)
    choice(cfg, "data.channels", (1, 3))
    choice(cfg, "data.color_jitter", COLOR_JITTER)
    choice(cfg, "data.interpolation", INTERPOLATIONS)
    choice(cfg, "data.eval_crop", EVAL_CROPS)
    choice(cfg, "data.verify", VERIFY)
    root = _get(cfg, "data.root")
    if root is not _ABSENT:
        if root is None or str(root).strip() in ("", "???"):
            raise RunError("data.root is not set: pass data.root=/path/to/dataset (see conf/data/ for its layout)")
        path = Path(os.path.expanduser(str(root)))
        if not path.is_dir():
            what = "is not a folder" if path.exists() else "does not exist"
            raise RunError(f"data.root={root} {what}: pass data.root=<the dataset folder on this machine>")


def check_optimizer(cfg: Any) -> None:
    """The optimizer group: the papers' RMSProp, SGD and AdamW hyper-parameters and the target's argument names."""
    if not isinstance(_get(cfg, "optimizer"), DictConfig):
        return
    number(cfg, "optimizer.lr", ge=0, hint="the base learning rate, e.g. optimizer.lr=0.045 (RMSProp); 0 keeps the weights")
    number(cfg, "optimizer.momentum", ge=0, lt=1)
    number(cfg, "optimizer.alpha", ge=0, lt=1, hint="RMSProp's decay of the squared-gradient average (0.9)")
    number(cfg, "optimizer.eps", gt=0)
    number(cfg, "optimizer.weight_decay", ge=0, hint="regularizer.weight_decay sets it for the papers' optimizers")
    number(cfg, "optimizer.dampening", ge=0, le=1)
    flag(cfg, "optimizer.centered")
    flag(cfg, "optimizer.nesterov")
    betas = _get(cfg, "optimizer.betas")
    if betas is not _ABSENT:
        items = list(betas) if isinstance(betas, (list, tuple, ListConfig)) else []
        if len(items) != 2 or not all(_is_number(b) and 0 <= b < 1 for b in items):
            _fail("optimizer.betas", betas, "a pair [beta1,beta2] of numbers in [0, 1)", "AdamW's default [0.9,0.999]")
    if _get(cfg, "optimizer.nesterov") is True and (_get(cfg, "optimizer.momentum") in (0, _ABSENT)
                                                     or _get(cfg, "optimizer.dampening") not in (0, _ABSENT)):
        raise RunError("optimizer.nesterov=true needs optimizer.momentum > 0 and optimizer.dampening=0")


def check_scheduler(cfg: Any) -> None:
    """The scheduler group: warmup, decay and floor of the learning-rate schedules (inception_lab.optim)."""
    if not isinstance(_get(cfg, "scheduler"), DictConfig):
        return
    number(cfg, "scheduler.warmup_epochs", ge=0, hint="0 = no warmup")
    number(cfg, "scheduler.decay_rate", gt=0, le=1, hint="the papers' 0.94 every scheduler.decay_epochs=2")
    number(cfg, "scheduler.decay_epochs", gt=0)
    number(cfg, "scheduler.min_lr_ratio", ge=0, le=1, hint="the final lr as a fraction of the base lr")
    flag(cfg, "scheduler.staircase")


def check_regularizer(cfg: Any) -> None:
    number(cfg, "regularizer.label_smoothing", ge=0, lt=1, hint="the Rethinking paper's 0.1; 0 = off")
    number(cfg, "regularizer.aux_weight", ge=0, nullable=True, hint="null = the model family's weight")
    number(cfg, "regularizer.weight_decay", ge=0, hint="0 = off; TF-slim's 4e-5")


def check_trainer(cfg: Any) -> None:
    """The trainer group: the Lightning Trainer values that would train nothing or fail deep inside Lightning."""
    if not isinstance(_get(cfg, "trainer"), DictConfig):
        return
    max_steps = _get(cfg, "trainer.max_steps")
    number(cfg, "trainer.max_steps", ge=1, integer=True, also=(-1,), hint="-1 = no step limit; 0 trains nothing")
    limited_by_steps = _is_number(max_steps, integer=True) and max_steps >= 1
    number(cfg, "trainer.max_epochs", ge=1, integer=True, nullable=True, also=(-1,) if limited_by_steps else (),
           hint="0 trains nothing" + ("" if limited_by_steps else "; -1 (no epoch limit) needs trainer.max_steps"))
    number(cfg, "trainer.min_epochs", ge=0, integer=True, nullable=True)
    for key in ("limit_train_batches", "limit_val_batches"):  # Lightning: an int counts batches, a float is a share
        value = _get(cfg, f"trainer.{key}")
        if value is _ABSENT or value is None:
            continue
        if not (_is_number(value, integer=True) and value >= 1 or isinstance(value, float) and 0 < value <= 1):
            what = "trains nothing" if key == "limit_train_batches" else "skips validation (results.json records it)"
            _fail(f"trainer.{key}", value, "an integer >= 1 (batches) or a fraction in (0, 1] (or null = all)",
                  f"0 {what}")
    number(cfg, "trainer.overfit_batches", ge=0)
    number(cfg, "trainer.accumulate_grad_batches", ge=1, integer=True)
    number(cfg, "trainer.check_val_every_n_epoch", ge=1, integer=True, nullable=True)
    number(cfg, "trainer.log_every_n_steps", ge=1, integer=True)
    number(cfg, "trainer.num_sanity_val_steps", ge=-1, integer=True)
    number(cfg, "trainer.gradient_clip_val", gt=0, nullable=True, hint="null = no clipping; the Rethinking paper's 2.0")
    choice(cfg, "trainer.gradient_clip_algorithm", ("norm", "value"))
    number(cfg, "trainer.num_nodes", ge=1, integer=True)
    devices = _get(cfg, "trainer.devices")
    if devices is not _ABSENT and not isinstance(devices, (str, ListConfig, list)):
        number(cfg, "trainer.devices", ge=1, integer=True, also=(-1, "auto"),
               hint="devices per node; -1 = all of them")
    choice(cfg, "trainer.accelerator", ACCELERATORS)
    choice(cfg, "trainer.precision", PRECISIONS, hint="auto = bf16-mixed on a bf16-capable GPU, else 32-true")


def check_checkpointing(cfg: Any) -> None:
    number(cfg, "checkpoint_every_n_steps", ge=0, integer=True, hint="0 = checkpoints at epoch ends only")
    flag(cfg, "overwrite")


def check_run(cfg: Any) -> None:
    """Top-level keys: seed, divergence bound, speed switches."""
    number(cfg, "seed", integer=True, ge=0)
    number(cfg, "divergence.loss_bound", gt=0, nullable=True, hint="null = only a non-finite loss counts as diverged")
    choice(cfg, "matmul_precision", ("highest", "high", "medium"))
    choice(cfg, "schedule_horizon", ("original", "stretch"),
           hint="original = a resume keeps the schedule of the run it continues; stretch = re-plan over the new "
           "trainer.max_epochs")
    flag(cfg, "channels_last")
    flag(cfg, "compile")
    choice(cfg, "compile_options.mode", (None, "default", "reduce-overhead", "max-autotune",
                                         "max-autotune-no-cudagraphs"))


def check_optimizer_and_scheduler_arguments(cfg: Any) -> None:
    """Their keys are arguments of their ``_target_`` (importing it imports torch)."""
    if isinstance(_get(cfg, "optimizer"), DictConfig):
        check_arguments("optimizer", cfg.optimizer)
    if isinstance(_get(cfg, "scheduler"), DictConfig):
        check_arguments("scheduler", cfg.scheduler, provided=("steps_per_epoch", "max_epochs"))


GROUP_CHECKS = (check_run, check_checkpointing, check_regularizer, check_trainer, check_data, check_scheduler,
                check_optimizer, check_model,  # pure Python: a bad value here costs no import of torch
                check_optimizer_and_scheduler_arguments, check_model_switches)


def check_config(cfg: Any) -> None:
    """Every group's values; the first bad one raises ``RunError``."""
    for check in GROUP_CHECKS:
        check(cfg)


# ------------------------------------------------------------------------------------------------ run directories
def held_outputs(run_dir: Path) -> list[str]:
    """What in ``run_dir`` says a run already wrote there: its results.json, a non-empty checkpoints/."""
    held = [RESULTS_FILE] if (run_dir / RESULTS_FILE).exists() else []
    checkpoints = run_dir / CHECKPOINT_DIR
    if checkpoints.is_dir() and any(checkpoints.iterdir()):
        held.append(f"{CHECKPOINT_DIR}/")
    return held


def check_run_dir(run_dir: Path, resume_from: str | None, overwrite: bool) -> bool:
    """Refuse a run into a directory that already holds a run, unless it resumes that run's own checkpoint
    (``ckpt_path=<run dir>``, a requeued job) or ``overwrite=true`` replaces it. True: clear the old run first."""
    run_dir = Path(run_dir).absolute()
    held = held_outputs(run_dir)
    if not held or (resume_from is not None and Path(resume_from).is_relative_to(run_dir.resolve())):
        return False
    if overwrite:
        return True
    raise RunDirInUse(f"{run_dir} already holds a run ({' and '.join(held)}): resume it with ckpt_path={run_dir}, "
                      "replace it with overwrite=true, or pick another hydra.run.dir")


def check_sweep_dir(sweep_dir: Path, resuming: bool, overwrite: bool) -> None:
    """The sweep form of ``check_run_dir``: a fixed ``hydra.sweep.dir`` whose job directories already hold runs."""
    sweep_dir = Path(sweep_dir).absolute()
    if resuming or overwrite or not sweep_dir.is_dir():
        return
    held = [job.name for job in sorted(sweep_dir.iterdir()) if job.is_dir() and held_outputs(job)]
    if held:
        raise RunDirInUse(f"{sweep_dir} already holds a sweep (jobs {', '.join(held[:5])}"
                       f"{', ...' if len(held) > 5 else ''} have results.json or checkpoints): replace them with "
                       "overwrite=true, resume them with ckpt_path=last, or pick another hydra.sweep.dir")


def clear_run_dir(run_dir: Path) -> None:
    """``overwrite=true``: remove the previous run's results.json and checkpoints (the rest is rewritten)."""
    run_dir = Path(run_dir)
    (run_dir / RESULTS_FILE).unlink(missing_ok=True)
    shutil.rmtree(run_dir / CHECKPOINT_DIR, ignore_errors=True)


def is_relaunched_rank() -> bool:
    """A DDP rank that Lightning started from inside this run (it set LOCAL_RANK for it); under torchrun every rank
    is started alike and checks for itself."""
    return os.environ.get("LOCAL_RANK", "0") != "0" and "TORCHELASTIC_RUN_ID" not in os.environ


# --------------------------------------------------------------------------------------------- inception-lab-eval
def check_eval(cfg: Any) -> None:
    """``inception-lab-eval``'s own numbers (the crop set, split, weights, device, precision and checkpoints are
    checked by inception_lab.evaluate as it reads them)."""
    number(cfg, "eval.batch_size", ge=1, integer=True, nullable=True, hint="null = the run's data.batch_size")
    number(cfg, "eval.views_per_forward", ge=1, integer=True, hint="crops per forward pass; lower it to save memory")
    number(cfg, "eval.limit_batches", ge=1, integer=True, nullable=True, hint="null = every batch")
    flag(cfg, "eval.overwrite")
    flag(cfg, "eval.unsafe_load")
