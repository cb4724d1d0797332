"""Where a network's weights come from: a run's checkpoint or pretrained weights (one home for train, eval,
predict and export).

- ``checkpoint_file(value)``: a ``.ckpt`` file, or a run directory (its ``checkpoints/last.ckpt``).
- ``read_checkpoint(path)``: ``torch.load(..., weights_only=True)``, memory-mapped; a missing, truncated or foreign
  file is one ``CheckpointError`` line naming the key it came from (``ckpt=`` / ``ckpt_path=``).
- ``resume_checkpoint(cfg, overrides, run_dir)``: what ``inception-lab ckpt_path=...`` resumes (a file, a run
  directory, ``last``, or a requeued job's own checkpoint), checked before any training starts.
- ``load_checkpoint(path)``: the network an ``inception-lab`` checkpoint holds, rebuilt from
  ``hyper_parameters["config"]["model_args"]`` (the exact ``create_model`` kwargs). With Lightning's
  ``EMAWeightAveraging`` the checkpoint's ``state_dict`` *is* the averaged (EMA) model and the raw weights sit in
  ``current_model_state``: ``weights="auto"`` takes the EMA weights when they exist (the papers evaluate a running
  average of the parameters, docs/reference.md#ema), ``"raw"`` the raw ones, ``"ema"`` insists on EMA.
- ``load_pretrained(source)``: a network from ``model.pretrained=<weights>`` with the weights' own conventions.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported where it is used: the config checks import this module before any work
    import torch
    from torch import nn

CHECKPOINT_DIR = "checkpoints"
LAST = "last.ckpt"
WEIGHT_CHOICES = ("auto", "ema", "raw")
# A resume may train longer, checkpoint more often or overwrite; any other override is a different run.
RESUME_MAY_CHANGE = ("ckpt_path=", "trainer.max_epochs=", "trainer.max_steps=", "checkpoint_every_n_steps=",
                     "overwrite=")


class CheckpointError(ValueError):
    """A checkpoint or weights file that cannot be used; the message is one line saying what to do."""


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def checkpoint_file(value: str | os.PathLike, key: str = "ckpt") -> Path:
    """A ``.ckpt`` file, or a run directory (its ``checkpoints/last.ckpt``)."""
    path = Path(os.path.expanduser(str(value)))
    if path.is_dir():
        candidate = path / CHECKPOINT_DIR / LAST
        if not candidate.is_file():
            raise CheckpointError(f"{key}={value}: a directory without {CHECKPOINT_DIR}/{LAST}; pass a .ckpt file or "
                                  "a run directory")
        return candidate
    if not path.is_file():
        choices = "a .ckpt, a run directory, or last" if key == "ckpt_path" else "a .ckpt or a run directory"
        raise CheckpointError(f"{key}={value}: no such checkpoint file ({choices})")
    return path


def read_checkpoint(path: Path, unsafe_load: bool = False, key: str = "ckpt") -> dict[str, Any]:
    """``torch.load`` with ``weights_only=True`` (memory-mapped); CheckpointError for a truncated, foreign or unsafe
    file."""
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=not unsafe_load, mmap=True)
    except pickle.UnpicklingError as err:
        if "weights_only" in str(err) or "Unsupported global" in str(err):
            fix = ("if you trust this file, pass eval.unsafe_load=true" if key == "ckpt"
                   else "training resumes only checkpoints that load with weights_only (inception-lab's own)")
            raise CheckpointError(
                f"{key}={path}: holds objects that safe loading (weights_only) refuses ({_first_line(err)}); {fix}"
            ) from None
        raise CheckpointError(f"{key}={path}: not a readable PyTorch checkpoint ({_first_line(err)})") from None
    except Exception as err:  # truncated zip, a text file, a foreign pickle, an old non-zip file with mmap
        raise CheckpointError(f"{key}={path}: not a readable PyTorch checkpoint ({_first_line(err)})") from None


# --------------------------------------------------------------------------------------------------- resuming
def last_matching_run(log_dir: str | os.PathLike, overrides: Sequence[str]) -> Path:
    """``ckpt_path=last``: the newest ``last.ckpt`` under ``log_dir`` of a run started with the same overrides
    (the number of epochs / steps may differ)."""
    import yaml

    wanted = sorted(o for o in overrides if not o.startswith(RESUME_MAY_CHANGE))
    runs = sorted(Path(log_dir).glob(f"**/{CHECKPOINT_DIR}/{LAST}"), key=lambda p: p.stat().st_mtime)
    for candidate in reversed(runs):
        saved = candidate.parent.parent / ".hydra" / "overrides.yaml"
        if saved.is_file() and sorted(o for o in yaml.safe_load(saved.read_text()) or []
                                      if not o.startswith(RESUME_MAY_CHANGE)) == wanted:
            return candidate
    raise CheckpointError(f"ckpt_path=last: no run under {log_dir}/ with these overrides has a "
                          f"{CHECKPOINT_DIR}/{LAST}; pass the checkpoint file or run directory instead")


def resume_checkpoint(cfg: Any, overrides: Sequence[str], run_dir: Path | None = None) -> str | None:
    """``ckpt_path``: a checkpoint file, a run directory (its checkpoints/last.ckpt), or ``last``
    (:func:`last_matching_run` under ``paths.log_dir``); unset, a requeued submitit job resumes from its own
    last.ckpt in ``run_dir``. The file is opened (memory-mapped, weights only) so that a truncated or foreign file
    fails here with one line instead of deep inside Lightning."""
    from omegaconf import OmegaConf

    from inception_lab import distributed

    value = OmegaConf.select(cfg, "ckpt_path", default=None)
    if value in (None, ""):
        value = distributed.requeued_checkpoint(run_dir) if run_dir is not None else None
        if value is None:
            return None
    if value == "last":
        value = last_matching_run(OmegaConf.select(cfg, "paths.log_dir"), overrides)
    path = checkpoint_file(value, key="ckpt_path")
    checkpoint = read_checkpoint(path, key="ckpt_path")
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint or "loops" not in checkpoint:
        raise CheckpointError(f"ckpt_path={path}: not an inception-lab training checkpoint (no state_dict/loops)")
    return str(path.resolve())


# ------------------------------------------------------------------------------------------------ a run's network
@dataclass
class LoadedCheckpoint:
    """A network rebuilt from an inception-lab checkpoint, with what the evaluation record needs."""

    path: Path
    model: nn.Module
    model_args: dict[str, Any]
    config: dict[str, Any]
    weights: str  # "ema" or "raw": what was loaded
    has_ema: bool
    epoch: int | None
    global_step: int | None

    @property
    def run_dir(self) -> Path:
        """The run directory: ``<run>/checkpoints/x.ckpt`` -> ``<run>``; a loose file -> its folder."""
        return run_dir_of(self.path)

    @property
    def model_name(self) -> str:
        return str(self.model_args.get("name"))

    @property
    def input_size(self) -> int:
        size = (self.config.get("data") or {}).get("image_size")
        return int(size) if size else int(self.model.defaults.input_size)


def run_dir_of(path: Path) -> Path:
    """``<run>/checkpoints/x.ckpt`` -> ``<run>``; a loose file -> its folder."""
    parent = Path(path).parent
    return parent.parent if parent.name == CHECKPOINT_DIR else parent


def _network_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """LightningModule keys ``model.<...>`` -> network keys (metric states and anything else the module holds are
    dropped; ``compile=true`` compiles in place, so its keys are the same)."""
    return {key[len("model."):]: value for key, value in state.items() if key.startswith("model.")}


def load_checkpoint(path: str | os.PathLike, weights: str = "auto", unsafe_load: bool = False) -> LoadedCheckpoint:
    """Open an inception-lab checkpoint and rebuild its network (eval mode, CPU)."""
    import torch

    from inception_lab.models import create_model

    if weights not in WEIGHT_CHOICES:
        raise CheckpointError(f"eval.weights must be one of {', '.join(WEIGHT_CHOICES)}, got {weights!r}")
    path = checkpoint_file(path)
    checkpoint = read_checkpoint(path, unsafe_load)
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise CheckpointError(f"ckpt={path}: not a Lightning checkpoint (no state_dict)")
    hparams = checkpoint.get("hyper_parameters")
    config = hparams.get("config") if isinstance(hparams, dict) else None
    model_args = config.get("model_args") if isinstance(config, dict) else None
    if not isinstance(model_args, dict) or "name" not in model_args:
        raise CheckpointError(
            f"ckpt={path}: not an inception-lab checkpoint (no hyper_parameters.config.model_args to rebuild the "
            "network from)"
        )
    has_ema = isinstance(checkpoint.get("current_model_state"), dict) and "averaging_state" in checkpoint
    if weights == "ema" and not has_ema:
        raise CheckpointError(f"ckpt={path}: has no EMA weights (trained without EMAWeightAveraging); use "
                              "eval.weights=auto")
    use_raw = weights == "raw" and has_ema
    state = _network_state(checkpoint["current_model_state"] if use_raw else checkpoint["state_dict"])
    try:
        with torch.device("meta"):  # no random init of weights that are replaced right away
            model = create_model(**model_args)
    except Exception as err:
        name = model_args.get("name")
        raise CheckpointError(f"ckpt={path}: cannot rebuild {name!r} from its model_args ({_first_line(err)})") from None
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as err:
        detail = " ".join(str(err).split())[:300]
        raise CheckpointError(f"ckpt={path}: its weights do not fit the network its model_args describe "
                              f"({detail})") from None
    if any(t.is_meta for t in (*model.parameters(), *model.buffers())):  # state the checkpoint does not hold
        model = create_model(**model_args)
        model.load_state_dict(state, strict=True)
    if isinstance(config.get("pretrained"), dict):  # started from pretrained weights: keep their conventions
        from inception_lab.models.pretrained import apply_conventions

        apply_conventions(model, config["pretrained"])
    model.eval()
    return LoadedCheckpoint(
        path=path.resolve(),
        model=model,
        model_args=dict(model_args),
        config=config,
        weights="ema" if has_ema and not use_raw else "raw",
        has_ema=has_ema,
        epoch=checkpoint.get("epoch"),
        global_step=checkpoint.get("global_step"),
    )


# --------------------------------------------------------------------------------------------- pretrained weights
@dataclass
class LoadedPretrained:
    """A network built by ``create_model(name, pretrained=source)``; ``model.pretrained_cfg`` holds its conventions."""

    source: str
    model: nn.Module
    model_args: dict[str, Any]

    @property
    def model_name(self) -> str:
        return str(self.model_args.get("name"))

    @property
    def cfg(self) -> Any:
        return self.model.pretrained_cfg


def pretrained_model_name(source: str, name: str | None = None) -> str:
    """``name``, or the network the weights' tensor names (or a lab checkpoint's config) say they are."""
    if name:
        return str(name)
    from inception_lab.models.pretrained import detect_layout, resolve

    weights = resolve(source)
    network = detect_layout(weights.state)
    if network is not None:
        return network.model
    if weights.model_args and weights.model_args.get("name"):
        return str(weights.model_args["name"])
    raise CheckpointError(f"model.pretrained={source}: its tensors do not say which network they are; add "
                          "model.name=<v1|bn_inception|v2|v3|v4|inception_resnet_v1|inception_resnet_v2>")


def load_pretrained(source: str, name: str | None = None, num_classes: int | None = None) -> LoadedPretrained:
    """Build the network ``source`` holds (eval mode, CPU) with the weights' own switches and conventions."""
    from inception_lab.models import create_model

    model = create_model(pretrained_model_name(source, name), pretrained=source, num_classes=num_classes)
    model.eval()
    return LoadedPretrained(str(source), model, dict(model.pretrained_cfg.model_args))
