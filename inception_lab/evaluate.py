"""Checkpoint evaluation: single crop, multi-crop (10 / 12 / 144 views) and ensembles (docs/reference.md#evaluation).

The pieces, each usable on its own:

- Members are loaded by :mod:`inception_lab.checkpoints` (a run's checkpoint, EMA or raw weights, or
  ``model.pretrained`` weights with their conventions) and fed by :mod:`inception_lab.data.views` (the run's data
  module rebuilt from its record; every image's views for a crop set).
- ``CropSet`` describes one evaluation protocol (a file in ``conf/crops/``). ``central: true`` = the run's own
  validation transform (the papers' "single crop"); otherwise GoogLeNet §7 multi-crop: for each shorter-side
  scale, ``squares`` squares (1 = centre, 3 = left/centre/right or top/centre/bottom), in each square the 4 corner
  crops and the centre crop of the network's input size (``corners``) and the whole square resized to it
  (``full_square``), each also mirrored (``mirror``). Scales are given at ``reference_size`` (224, the GoogLeNet
  input) and multiplied by ``input_size / reference_size``: 144 crops at 224 = shorter sides 256, 288, 320, 352;
  at 299 = 342, 384, 427, 470 (the reference's recommendation; the papers do not state them).
- ``predict`` runs one model over a split and returns per-image log-probabilities, the log of the **mean
  softmax over views**; ``evaluate`` averages members' softmax the same way (an ensemble, Rethinking Table 5 /
  BN paper §4.2.3: arithmetic mean of class probabilities over crops and models) and writes the record.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from inception_lab.checkpoints import CheckpointError, checkpoint_file, load_checkpoint, load_pretrained, run_dir_of
from inception_lab.console import first_line
from inception_lab.data.views import SPLITS, ViewSource, build_datamodule, split_dataset, used_conventions

EVAL_DIRNAME = "eval"
EVAL_SCHEMA_VERSION = 1


class EvalError(CheckpointError):
    """Bad evaluation input (crop set, classes, data, output path); the message is one line saying what to do.
    A subclass of ``CheckpointError``, so one ``except EvalError`` also catches a bad checkpoint."""


# ---------------------------------------------------------------------------------------------------------------
# Pretrained weights (model.pretrained=...): a network with its conventions and no run behind it
# ---------------------------------------------------------------------------------------------------------------
#: data keys that are the weights' conventions: a pretrained member takes them from its weights unless set
CONVENTION_KEYS = ("image_size", "eval_crop_fraction", "interpolation", "channels")


def pretrained_list(value: Any) -> list[str]:
    """``model.pretrained``: one source or a list of them (ensemble members); [] when unset."""
    from omegaconf import ListConfig

    if value is None or value == "":
        return []
    return [str(v) for v in (list(value) if isinstance(value, (list, tuple, ListConfig)) else [value])]


class ClassOutputs(nn.Module):
    """The network's outputs for the data's classes, in the data's order (``index[i]`` = output of class i)."""

    def __init__(self, model: nn.Module, index: Sequence[int]) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("index", torch.as_tensor(list(index), dtype=torch.long), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        logits = out[0] if isinstance(out, (tuple, list)) else out
        return logits.index_select(1, self.index.to(logits.device))


def class_outputs(cfg: Any, data_classes: Sequence[str], source: str) -> tuple[list[int], str]:
    """Which output of the weights scores each of the data's classes, and how they were matched (for the record).

    By name when the weights know theirs (ImageNet-1k: the sorted WordNet ids, as an ImageNet-layout folder names
    its class folders; a subset folder such as 10 ImageNet classes is scored over those 10 outputs); by position
    when they do not and the counts agree. ``label_offset`` leading outputs (a kept background class) are skipped.
    """
    offset = int(getattr(cfg, "label_offset", 0) or 0)
    names = getattr(cfg, "class_names", None)
    classes = int(cfg.num_classes) - offset
    data_classes = [str(c) for c in data_classes]
    if names:
        position = {str(n): i for i, n in enumerate(names)}
        missing = [c for c in data_classes if c not in position]
        if missing:
            raise EvalError(
                f"model.pretrained={source}: the data's classes are not among the weights' {len(names)} (first "
                f"unknown: {', '.join(missing[:3])}); the class folders must be named as the weights name their "
                "classes (ImageNet: WordNet ids such as n01440764)"
            )
        how = ("all classes, matched by name" if len(data_classes) == len(names)
               else f"{len(data_classes)} of the weights' {len(names)} classes, matched by name (softmax over these)")
        shift = int(cfg.num_classes) - len(names)  # a kept background output comes before the named classes
        return [position[c] + shift for c in data_classes], how
    if classes != len(data_classes):
        raise EvalError(f"model.pretrained={source}: the weights have {classes} classes and no class names, the data "
                        f"{len(data_classes)}; evaluate on data with the same {classes} classes (same order)")
    return [i + offset for i in range(classes)], "by position (the weights carry no class names)"


# ---------------------------------------------------------------------------------------------------------------
# Crop sets (docs/reference.md#evaluation)
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CropSet:
    """One evaluation protocol: ``central`` (the run's validation transform) or GoogLeNet §7 multi-crop."""

    name: str
    label: str = ""
    central: bool = False
    scales: tuple[int, ...] = ()  # shorter sides at reference_size
    reference_size: int = 224
    squares: int = 1
    corners: bool = True
    full_square: bool = True
    mirror: bool = False
    source: str = ""

    @classmethod
    def from_config(cls, node: Any, name: str | None = None) -> CropSet:
        """Build from a ``conf/crops/*.yaml`` node (a dict); EvalError naming the bad key."""
        if not isinstance(node, dict):
            raise EvalError(f"crop set {name!r}: expected a mapping of crop settings, got {type(node).__name__}")
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(node) - known)
        if unknown:
            raise EvalError(f"crop set {name!r}: unknown key(s) {', '.join(unknown)}; "
                            f"known: {', '.join(sorted(known))}")
        values = dict(node)
        values["name"] = str(values.get("name") or name)
        values["scales"] = tuple(int(s) for s in (values.get("scales") or ()))
        crop_set = cls(**values)
        crop_set.validate()
        return crop_set

    def validate(self) -> None:
        where = f"crop set {self.name!r}"
        if self.central:
            return
        if not self.scales:
            raise EvalError(f"{where}: give at least one scale (shorter side in pixels at reference_size) "
                            "or central: true")
        if self.squares not in (1, 3):
            raise EvalError(f"{where}: squares must be 1 (centre) or 3 (left/centre/right), got {self.squares}")
        if not (self.corners or self.full_square):
            raise EvalError(f"{where}: corners and full_square are both off: no views")
        if self.corners and min(self.scales) < self.reference_size:
            raise EvalError(
                f"{where}: scale {min(self.scales)} is smaller than the crop ({self.reference_size} at "
                "reference_size); corner crops need shorter side >= crop"
            )
        if self.reference_size < 1:
            raise EvalError(f"{where}: reference_size must be positive")

    @property
    def views_per_square(self) -> int:
        return 5 * int(self.corners) + int(self.full_square)

    @property
    def num_views(self) -> int:
        flips = 2 if self.mirror else 1
        if self.central:
            return flips
        return len(self.scales) * self.squares * self.views_per_square * flips

    def shorter_sides(self, input_size: int) -> list[int]:
        """The scales in pixels for a network of ``input_size`` (``round(s * input_size / reference_size)``)."""
        sides = [max(1, round(s * input_size / self.reference_size)) for s in self.scales]
        return [max(side, int(input_size)) for side in sides] if self.corners else sides

    def describe(self, input_size: int) -> dict[str, Any]:
        """What the record stores: the exact protocol at this input size."""
        out = asdict(self)
        out["scales"] = list(self.scales)
        out["views"] = self.num_views
        out["input_size"] = int(input_size)
        out["shorter_sides_px"] = None if self.central else self.shorter_sides(input_size)
        return out


def crop_set_from_cfg(crops: Any, crop_sets: Any) -> CropSet:
    """``eval.crops`` = a name in ``crop_sets`` (``single``, ``10``, ``12``, ``144`` or your own) or an inline
    mapping."""
    from omegaconf import DictConfig, OmegaConf

    if isinstance(crops, DictConfig):
        return CropSet.from_config(OmegaConf.to_container(crops, resolve=True), name="custom")
    if isinstance(crops, dict):
        return CropSet.from_config(crops, name="custom")
    name = str(crops)
    if isinstance(crop_sets, DictConfig):
        available = OmegaConf.to_container(crop_sets, resolve=True)
    else:
        available = dict(crop_sets or {})
    if name not in available:
        raise EvalError(
            f"eval.crops={name}: no such crop set; choose one of {', '.join(map(str, available))} "
            "(or add one: a file DIR/crops/<name>.yaml with --config-dir DIR +crops@crop_sets.<name>=<name>, or inline "
            "+crop_sets.<name>={scales:[256],squares:1,mirror:true})"
        )
    return CropSet.from_config(available[name], name=name)


# ---------------------------------------------------------------------------------------------------------------
# Prediction
# ---------------------------------------------------------------------------------------------------------------
def view_log_probs(
    model: nn.Module,
    views: torch.Tensor,
    mean: Sequence[float],
    std: Sequence[float],
    chunk: int = 256,
    autocast_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Normalise views (N, K, C, S, S) in [0, 1] and return per-view log-softmax (N, K, classes) in float64 (so that
    averaging and top-k keep the order of nearly equal logits: a single view ranks classes exactly as its logits)."""
    from inception_lab.data.transforms import normalize_batch

    n, k = views.shape[:2]
    flat = normalize_batch(views.reshape(n * k, *views.shape[2:]), mean, std)
    outputs = []
    with torch.inference_mode():
        for start in range(0, flat.shape[0], max(1, int(chunk))):
            x = flat[start:start + chunk].contiguous(memory_format=torch.channels_last)  # as training feeds it
            with torch.autocast(x.device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                logits = model(x)
            if isinstance(logits, (tuple, list)):
                logits = logits[0]
            outputs.append(F.log_softmax(logits.double(), dim=-1))
    return torch.cat(outputs).reshape(n, k, -1)


def mean_softmax_log(log_probs: torch.Tensor, dim: int) -> torch.Tensor:
    """log(mean(softmax)) over ``dim`` from log-probabilities (stable: logsumexp - log K)."""
    return torch.logsumexp(log_probs, dim=dim) - math.log(log_probs.shape[dim])


@dataclass
class Prediction:
    log_probs: torch.Tensor  # (N, classes): log of the mean softmax over views, CPU float64
    labels: torch.Tensor  # (N,)
    views: int
    seconds: float


def predict(
    model: nn.Module,
    source: ViewSource,
    mean: Sequence[float],
    std: Sequence[float],
    chunk: int = 256,
    autocast_dtype: torch.dtype | None = None,
    progress: Any = None,
) -> Prediction:
    """Run ``model`` over every batch of ``source``; average the softmax over each image's views."""
    device = source.device
    model = model.to(device, memory_format=torch.channels_last)  # NHWC: faster on CPUs and GPUs (BENCHMARKS.md)
    model.eval()
    started = time.perf_counter()
    all_log_probs, all_labels, views_seen = [], [], 0
    for views, labels in source:
        per_view = view_log_probs(model, views, mean, std, chunk, autocast_dtype)
        all_log_probs.append(mean_softmax_log(per_view, dim=1).cpu())
        all_labels.append(labels.cpu())
        views_seen = per_view.shape[1]
        if progress is not None:
            progress()
    if not all_labels:
        raise EvalError("the evaluation split is empty (no images)")
    return Prediction(torch.cat(all_log_probs), torch.cat(all_labels), views_seen, time.perf_counter() - started)


def metrics_from_log_probs(log_probs: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Top-1 / top-5 accuracy (torchmetrics), the papers' error %, and the NLL of the averaged probabilities."""
    from torchmetrics.functional.classification import multiclass_accuracy

    num_classes = log_probs.shape[-1]
    top1 = float(multiclass_accuracy(log_probs, labels, num_classes=num_classes, top_k=1, average="micro"))
    top5 = float(multiclass_accuracy(log_probs, labels, num_classes=num_classes, top_k=min(5, num_classes),
                                     average="micro"))
    loss = float(F.nll_loss(log_probs, labels))
    return {"top1": top1, "top5": top5, "top1_err": 100.0 * (1.0 - top1), "top5_err": 100.0 * (1.0 - top5),
            "loss": loss, "images": int(labels.numel())}


# ---------------------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------------------
def member_data_config(recorded: dict[str, Any] | None, chosen: dict[str, Any],
                       conventions: dict[str, Any]) -> dict[str, Any]:
    """The data config one member evaluates with. ``chosen`` = the non-null ``data.*`` of the command line (with
    ``data=<group>``: that data set). A checkpoint keeps its run's recorded config unless ``chosen`` names another
    data module; then, as for pretrained weights (``recorded=None``), the data set is ``chosen`` and the member's own
    ``conventions`` (input size, crop fraction, interpolation, channels) fill what the command line leaves unset."""
    if recorded is not None and chosen.get("_target_", recorded.get("_target_")) == recorded.get("_target_"):
        return {**recorded, **chosen}
    if "_target_" not in chosen:
        raise EvalError("model.pretrained=... has no run to take its images from: add data=imagefolder "
                        "data.root=<folder> (ImageNet layout: <root>/val/<class>/<image>)")
    return {**{k: v for k, v in conventions.items() if v is not None}, **chosen}


# ---------------------------------------------------------------------------------------------------------------
# The evaluation job
# ---------------------------------------------------------------------------------------------------------------
def resolve_device(value: str) -> torch.device:
    if value in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(value)
    except RuntimeError as err:
        raise EvalError(f"eval.device={value}: {first_line(err)}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise EvalError(f"eval.device={value}: CUDA is not available on this machine; use eval.device=cpu")
    return device


def resolve_autocast(precision: Any, device: torch.device) -> torch.dtype | None:
    """``auto`` = bf16 autocast on a bf16-capable CUDA device (as training), else float32; ``32`` / ``bf16`` force."""
    value = str(precision).lower()
    if value in ("32", "32-true", "fp32", "float32"):
        return None
    if value in ("bf16", "bf16-mixed"):
        return torch.bfloat16
    if value == "auto":
        return torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else None
    raise EvalError(f"eval.precision must be auto, 32 or bf16, got {precision!r}")


def checkpoint_list(value: Any) -> list[str]:
    from omegaconf import ListConfig

    if value is None or value == "" or value == "???":
        raise EvalError("ckpt is required: inception-lab-eval ckpt=<run dir or .ckpt> (a list [a.ckpt,b.ckpt] = "
                        "ensemble), or model.pretrained=<weights> data=imagefolder data.root=<folder>")
    items = list(value) if isinstance(value, (list, tuple, ListConfig)) else [value]
    if not items:
        raise EvalError("ckpt=[]: give at least one checkpoint")
    return [str(item) for item in items]


def default_output_path(members: list[Path | str], split: str, crop_name: str, run_dir: Path) -> Path:
    """``<run>/eval/<ckpt stem>-<split>-<crops>.json``; an ensemble goes to the first member's run:
    ``eval/ensemble<M>-<hash of the members>-<split>-<crops>.json``; weights alone (``model.pretrained``) go to
    ``./eval/pretrained-<weights name>-<split>-<crops>.json``."""
    if len(members) == 1:
        member = members[0]
        if isinstance(member, Path):
            stem = member.stem
        else:
            name = str(member).split(":", 1)[-1].rstrip("/")
            name = Path(name).stem if Path(os.path.expanduser(name)).is_file() else name.replace("/", "_")
            stem = f"pretrained-{name}"
    else:
        digest = hashlib.sha1("\n".join(str(p) for p in members).encode()).hexdigest()[:8]
        stem = f"ensemble{len(members)}-{digest}"
    return run_dir / EVAL_DIRNAME / f"{stem}-{split}-{crop_name}.json"


def _run_metrics(run_dir: Path) -> dict[str, Any] | None:
    """The run's own final/best validation metrics (its results.json), to compare against; None when absent."""
    from inception_lab.results import ResultsError, read_results

    try:
        metrics = read_results(run_dir)["metrics"]
    except (ResultsError, KeyError, TypeError):
        return None
    return metrics if isinstance(metrics, dict) else None


MIRROR_RULES = ("auto", "true", "false")


def mirror_rule(crop_set: CropSet, rule: str, trained_with_flips: bool) -> CropSet:
    """The crop set one member is evaluated with. The papers' 10/12/144-crop protocols mirror every view, which
    is only a view of the same class for a network trained with horizontal flips (ImageNet photos; every published
    set of weights). ``auto``: mirror only for such members, so a network trained without flips (the digits: a
    mirrored digit is another glyph) keeps the unmirrored half of the protocol. ``true``: the protocol as written
    (mirrored where it mirrors); ``false``: never mirrored.
    """
    if rule not in MIRROR_RULES:
        raise EvalError(f"eval.mirror={rule}: use one of {', '.join(MIRROR_RULES)} (auto = mirror views only for "
                        "networks trained with horizontal flips)")
    if rule == "false" or (rule == "auto" and not trained_with_flips):
        return replace(crop_set, mirror=False)
    return crop_set  # the protocol as written


def evaluate(cfg: Any, progress_factory: Any = None) -> dict[str, Any]:
    """The ``inception-lab-eval`` job: load every checkpoint, predict the split, average, write the record.

    ``cfg``: the composed ``conf/eval.yaml`` (``ckpt``, ``eval.*``, ``data.*``, ``crop_sets``). Returns the record.
    """
    from omegaconf import OmegaConf

    from inception_lab.paper_numbers import published_for
    from inception_lab.results import environment, write_json_atomic

    started = time.time()
    ev = cfg.eval
    crop_set = crop_set_from_cfg(ev.crops, cfg.get("crop_sets"))
    split = str(ev.split)
    if split not in SPLITS:
        raise EvalError(f"eval.split must be one of {', '.join(SPLITS)}, got {split!r}")
    device = resolve_device(ev.device)
    autocast_dtype = resolve_autocast(ev.precision, device)
    sources = pretrained_list(OmegaConf.select(cfg, "model.pretrained"))
    ckpt_values = checkpoint_list(cfg.ckpt) if cfg.get("ckpt") not in (None, "", "???") or not sources else []
    paths = [checkpoint_file(v).resolve() for v in ckpt_values]
    first_run = run_dir_of(paths[0]) if paths else Path.cwd()  # weights alone have no run directory
    output = Path(os.path.expanduser(str(ev.output))) if ev.output else default_output_path(
        [*paths, *sources], split, crop_set.name, first_run)
    if output.name == "results.json":
        raise EvalError(f"eval.output={output}: that is the run's own results.json; an evaluation never replaces it")
    if output.exists() and not ev.overwrite:
        raise EvalError(f"{output} exists (an earlier evaluation); pass eval.overwrite=true to replace it, or "
                        "eval.output=<file>")

    chosen = {k: v for k, v in (OmegaConf.to_container(cfg.data, resolve=True) if cfg.get("data") is not None
                                else {}).items() if v is not None}
    model_name = OmegaConf.select(cfg, "model.name")
    limit = int(ev.limit_batches) if ev.limit_batches else None
    datamodules: dict[str, Any] = {}
    members: list[dict[str, Any]] = []
    combined: torch.Tensor | None = None
    labels: torch.Tensor | None = None
    images_seconds = 0.0
    first_member = str(paths[0]) if paths else sources[0]
    for kind, item in [*(("ckpt", p) for p in paths), *(("pretrained", s) for s in sources)]:
        if kind == "ckpt":
            loaded = load_checkpoint(item, weights=str(ev.weights), unsafe_load=bool(ev.unsafe_load))
            recorded = dict(loaded.config.get("data") or {})
            conventions = {k: recorded.get(k) for k in CONVENTION_KEYS}
        else:
            loaded = load_pretrained(item, model_name)
            recorded = None
            pc = loaded.cfg
            conventions = {"image_size": pc.input_size, "eval_crop_fraction": pc.crop_pct,
                           "interpolation": pc.interpolation, "channels": loaded.model_args.get("in_chans", 3)}
        data_config = member_data_config(recorded, chosen, conventions)
        key = json.dumps(data_config, sort_keys=True, default=str)
        if key not in datamodules:
            datamodules[key] = build_datamodule(data_config)
        datamodule = datamodules[key]
        # as training did: the family's (or the weights') normalisation and, where unset, its eval crop
        if hasattr(datamodule, "apply_model_defaults"):
            datamodule.apply_model_defaults(loaded.model.defaults)
        else:
            datamodule.set_normalization(loaded.model.defaults.mean, loaded.model.defaults.std)
        network, classes_how = loaded.model, "the run's own classes"
        if kind == "pretrained":
            index, classes_how = class_outputs(loaded.cfg, datamodule.class_names, item)
            network = ClassOutputs(loaded.model, index)
        dataset = split_dataset(datamodule, split)
        input_size = int(datamodule.image_size)
        batch_size = int(ev.batch_size or datamodule.batch_size)
        member_crops = mirror_rule(crop_set, str(ev.get("mirror", "auto")).lower(),
                                   trained_with_flips=True if recorded is None else bool(recorded.get("flip")))
        source = ViewSource(datamodule, dataset, member_crops, input_size, batch_size, int(datamodule.num_workers),
                            device, limit)
        mean, std = datamodule.mean, datamodule.std
        progress = None
        if progress_factory is not None:
            progress = progress_factory(f"{loaded.model_name} · {crop_set.name} crops", len(source))
        try:
            prediction = predict(network, source, mean, std, int(ev.views_per_forward), autocast_dtype, progress)
        finally:
            if progress is not None and hasattr(progress, "close"):
                progress.close()
        if labels is None:
            labels = prediction.labels
        elif not torch.equal(labels, prediction.labels) or combined.shape[-1] != prediction.log_probs.shape[-1]:
            raise EvalError(
                f"ensemble members see different data: {item} does not evaluate the same images / classes as "
                f"{first_member} (same dataset, split and class index needed)"
            )
        # running sum of the members' probabilities, kept in log space
        combined = prediction.log_probs if combined is None else torch.logaddexp(combined, prediction.log_probs)
        images_seconds += prediction.seconds
        model_info = {"name": loaded.model_name, "input_size": input_size,
                      "params": sum(p.numel() for p in loaded.model.parameters())}
        member: dict[str, Any] = {"kind": kind, "model": model_info, "model_args": loaded.model_args}
        if kind == "ckpt":
            run_dir = loaded.run_dir
            member.update({
                "checkpoint": str(loaded.path),
                "run_dir": str(run_dir),
                "run_name": _run_name(run_dir),
                "experiment": loaded.config.get("experiment_name"),
                "weights": loaded.weights,
                "has_ema": loaded.has_ema,
                "epoch": loaded.epoch,
                "global_step": loaded.global_step,
                "run_metrics": _run_metrics(run_dir),
            })
        else:
            weights_cfg = {k: v for k, v in loaded.cfg.to_dict().items() if k not in ("class_names", "model_args")}
            member.update({"checkpoint": None, "pretrained": item, "run_name": None, "weights": "pretrained",
                           "weights_cfg": weights_cfg})
        member.update({
            "mirrored": member_crops.mirror,
            "conventions": used_conventions(datamodule),
            "classes": classes_how,
            "views": prediction.views,
            "seconds": prediction.seconds,
            "images_per_second": len(prediction.labels) / prediction.seconds if prediction.seconds > 0 else None,
            "metrics": metrics_from_log_probs(prediction.log_probs, prediction.labels),
        })
        members.append(member)
        del loaded, network
    assert combined is not None and labels is not None
    ensemble_log_probs = combined - math.log(len(members))
    metrics = metrics_from_log_probs(ensemble_log_probs, labels)
    names = [m["model"]["name"] for m in members]
    published = [p.as_dict() for p in published_for(names, crop_set.num_views)]
    record: dict[str, Any] = {
        "kind": "eval",
        "schema_version": EVAL_SCHEMA_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "ensemble": len(members) > 1,
        "split": split,
        "num_images": int(labels.numel()),
        "limit_batches": limit,
        "crops": {**replace(crop_set, mirror=members[0]["mirrored"]).describe(members[0]["model"]["input_size"]),
                  "protocol_mirrors": crop_set.mirror, "mirror_rule": str(ev.get("mirror", "auto")).lower()},
        "averaging": "arithmetic mean of softmax probabilities over views"
                     + (" and models" if len(members) > 1 else ""),
        "metrics": metrics,
        "members": members,
        "published": published,
        "device": str(device),
        "precision": "bf16-autocast" if autocast_dtype is not None else "32",
        "overrides": _hydra_overrides(),
        "config": OmegaConf.to_container(cfg, resolve=True),
        "output": str(output),
        "wall_time_s": time.time() - started,
        "predict_seconds": images_seconds,
        **environment(),
    }
    write_json_atomic(output, record)
    return record


def _run_name(run_dir: Path) -> str | None:
    from inception_lab.results import ResultsError, read_results

    try:
        return read_results(run_dir).get("run_name")
    except (ResultsError, AttributeError):
        return None


def _hydra_overrides() -> list[str]:
    try:
        from hydra.core.hydra_config import HydraConfig

        return list(HydraConfig.get().overrides.task)
    except (ValueError, ImportError):
        return []
