"""Pretrained weights: find them, recognise their layout, map every tensor onto a lab network, carry their conventions.

``create_model(name, pretrained=SOURCE, num_classes=None, **switches)`` (registry) calls :func:`build_pretrained`.
SOURCE is one of

- a local file: ``.safetensors``, ``.pth`` / ``.pt`` / ``.bin`` (a plain state_dict, or a dict holding one under
  ``state_dict`` / ``model``), or an inception-lab ``.ckpt`` (weights only: the LightningModule's ``model.`` prefix is
  stripped, optimizer state ignored; with EMA averaging the checkpoint's ``state_dict`` already *is* the EMA model);
- ``timm:<tag>`` or ``hf-hub:timm/<tag>`` (e.g. ``timm:inception_v3.tf_in1k``): ``model.safetensors`` of the Hugging
  Face repo ``timm/<tag>``, through ``huggingface_hub`` (the optional ``hub`` extra). The local cache is tried first;
  a download happens only when the file is not cached and the hub is not offline (``HF_HUB_OFFLINE=1``);
- ``torchvision:<Weights enum name>`` (e.g. ``torchvision:Inception_V3_Weights.IMAGENET1K_V1``): the file torchvision
  publishes for that enum, looked up by its file name in the torch hub cache (``torch.hub.get_dir()/checkpoints``);
  torchvision itself is never imported.

The layout (lab, timm, torchvision, mmpretrain) and the source network are recognised from the tensor names; each
foreign tensor is then mapped by an explicit per-network key map (module by module, below), every shape is
checked, and the switches the source network was built with are set (``avgpool_count_include_pad=True`` for the
timm/torchvision/mmpretrain Inception-v3, ``v1_variant='torchvision'`` for torchvision's GoogLeNet, full width...).
Which tensors may be absent: BatchNorm's ``num_batches_tracked`` (older files lack it) and aux-head tensors (an aux
head the file does not have stays freshly initialised; one the network does not build is dropped, as aux heads only
run in training). Anything else missing or unexpected raises :class:`PretrainedError` naming the first keys.

Classes: a 1001-class TF-slim head (class 0 = "background") loses row 0 and becomes the 1000 ImageNet classes, as
timm documents for such weights (``label_offset=1``); ask for ``num_classes=1001`` to keep it. Any other class count
than the weights' re-initialises the classifier and the aux classifiers (``reset_classifier``) and loads the rest.
A different ``in_chans`` adapts the first conv (summed over RGB for one channel, else RGB repeated and rescaled).

Conventions (:class:`PretrainedCfg`, attached as ``model.pretrained_cfg``; ``model.defaults`` is updated to match, so
data modules normalise and crop as the weights expect): mean/std *as the lab network sees its input*, input size,
crop fraction, interpolation, class names (ImageNet-1k = the 1000 WordNet ids sorted, which is also how an
ImageNet-layout folder sorts them) and ``label_offset``. torchvision's Inception weights run with
``transform_input=True``, which turns ImageNet-normalised input into [-1, 1] scaling; mean = std = 0.5 here gives
the same network input. The published values are in ``docs/reference.md``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from inception_lab.models.layers import IMAGENET_MEAN, IMAGENET_STD, INCEPTION_MEAN, INCEPTION_STD

LAYOUTS = ("lab", "timm", "torchvision", "mmpretrain")
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".ckpt")
#: Switches that shape training only (heads that run in training, dropout, BN running-average speed): the caller's
#: value stands; every other switch comes from the weights' network.
TRAINING_SWITCHES = frozenset({"aux_logits", "drop_rate", "bn_momentum"})
IMAGENET_CLASSES_FILE = Path(__file__).with_name("imagenet_classes.tsv")


class PretrainedError(ValueError):
    """Pretrained weights that cannot be found, read or mapped; the message is one line saying what to do."""


@dataclass
class PretrainedCfg:
    """Where the weights came from and the conventions they were trained with (``model.pretrained_cfg``)."""

    source: str  # what was asked for (path, timm:..., torchvision:...)
    layout: str  # lab | timm | torchvision | mmpretrain
    num_classes: int  # outputs of the loaded network (after a background row is dropped or the head re-initialised)
    mean: tuple[float, ...]  # per-channel normalisation on [0, 1] pixels, as the lab network sees its input
    std: tuple[float, ...]
    input_size: int
    crop_pct: float  # central-crop fraction for single-crop evaluation
    interpolation: str  # bilinear | bicubic
    class_names: list[str] | None = None  # index i -> name (WordNet id for ImageNet-1k), None when unknown
    label_offset: int = 0  # leading outputs that are not classes of class_names (1 = TF-slim background kept)
    file: str = ""  # the local file that was read
    source_num_classes: int = 0  # classes in the file's classifier
    head_reset: bool = False  # classifier (and aux classifiers) re-initialised for num_classes
    model_args: dict[str, Any] = field(default_factory=dict)  # create_model kwargs that rebuild this network

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """One line for summaries: layout, normalisation, geometry, classes."""
        mean = "/".join(f"{m:g}" for m in self.mean)
        std = "/".join(f"{s:g}" for s in self.std)
        return (f"{self.layout} weights ({self.source}): mean {mean}, std {std}, {self.input_size} px, crop "
                f"{self.crop_pct:g}, {self.interpolation}, {self.num_classes} classes"
                f"{', head re-initialised' if self.head_reset else ''}")


# ----------------------------------------------------------------------------------------------------- key maps
# A key map is a list of module pairs (source module, lab module, kind, group). ``kind`` names the tensors of one
# pair: "cbr" = a conv without bias + BatchNorm (timm ConvNormAct / torchvision BasicConv2d ``conv``/``bn`` ->
# lab ConvBNReLU ``0``/``1``), "affine" = weight + bias (a linear layer or a conv with bias). ``group`` says what
# may be absent: "trunk" never; "aux" (aux-head trunk) and "aux_head" (aux classifier) when aux heads differ;
# "head" is the main classifier.
_KIND_TENSORS = {
    "cbr": (("conv.weight", "0.weight"), ("bn.weight", "1.weight"), ("bn.bias", "1.bias"),
            ("bn.running_mean", "1.running_mean"), ("bn.running_var", "1.running_var"),
            ("bn.num_batches_tracked", "1.num_batches_tracked")),
    "affine": (("weight", "weight"), ("bias", "bias")),
}
Pair = tuple[str, str, str, str]


def _seq(src: str, lab: str, count: int, src_start: int = 1, sep: str = "_") -> list[tuple[str, str]]:
    """``src{sep}1..n`` -> ``lab.0..n-1`` (torchvision's numbered convs -> a lab nn.Sequential)."""
    return [(f"{src}{sep}{i + src_start}", f"{lab}.{i}") for i in range(count)]


def _cbr(pairs: list[tuple[str, str]], group: str = "trunk") -> list[Pair]:
    return [(source, lab, "cbr", group) for source, lab in pairs]


def v3_pairs(prefix: str = "") -> list[Pair]:
    """Inception-v3 as torchvision ``Inception3`` and timm ``InceptionV3`` name it (mmpretrain: ``backbone.``)."""
    p = prefix
    pairs = _cbr([(f"{p}{n}", f"stem.{n}") for n in
                  ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3")])
    for m in ("Mixed_5b", "Mixed_5c", "Mixed_5d"):  # InceptionA
        pairs += _cbr([(f"{p}{m}.branch1x1", f"{m}.branch1x1"), *_seq(f"{p}{m}.branch5x5", f"{m}.branch5x5", 2),
                       *_seq(f"{p}{m}.branch3x3dbl", f"{m}.branch3x3dbl", 3),
                       (f"{p}{m}.branch_pool", f"{m}.branch_pool.1")])
    m = "Mixed_6a"  # ReductionA (torchvision/timm InceptionB)
    pairs += _cbr([(f"{p}{m}.branch3x3", f"{m}.branch3x3"), *_seq(f"{p}{m}.branch3x3dbl", f"{m}.branch3x3dbl", 3)])
    for m in ("Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"):  # InceptionB (torchvision/timm InceptionC)
        pairs += _cbr([(f"{p}{m}.branch1x1", f"{m}.branch1x1"), *_seq(f"{p}{m}.branch7x7", f"{m}.branch7x7", 3),
                       *_seq(f"{p}{m}.branch7x7dbl", f"{m}.branch7x7dbl", 5),
                       (f"{p}{m}.branch_pool", f"{m}.branch_pool.1")])
    m = "Mixed_7a"  # ReductionB (torchvision/timm InceptionD)
    pairs += _cbr([*_seq(f"{p}{m}.branch3x3", f"{m}.branch3x3", 2),
                   *_seq(f"{p}{m}.branch7x7x3", f"{m}.branch7x7x3", 4)])
    for m in ("Mixed_7b", "Mixed_7c"):  # InceptionC (torchvision/timm InceptionE)
        same = ("branch1x1", "branch3x3_1", "branch3x3_2a", "branch3x3_2b")
        pairs += _cbr([(f"{p}{m}.{b}", f"{m}.{b}") for b in same])
        pairs += _cbr([(f"{p}{m}.branch3x3dbl_1", f"{m}.branch3x3dbl_1.0"),
                       (f"{p}{m}.branch3x3dbl_2", f"{m}.branch3x3dbl_1.1"),
                       (f"{p}{m}.branch3x3dbl_3a", f"{m}.branch3x3dbl_2a"),
                       (f"{p}{m}.branch3x3dbl_3b", f"{m}.branch3x3dbl_2b"),
                       (f"{p}{m}.branch_pool", f"{m}.branch_pool.1")])
    pairs += _cbr([(f"{p}AuxLogits.conv0", "AuxLogits.conv0"), (f"{p}AuxLogits.conv1", "AuxLogits.conv1")], "aux")
    pairs += [(f"{p}AuxLogits.fc", "AuxLogits.fc", "affine", "aux_head"), (f"{p}fc", "fc", "affine", "head")]
    return pairs


def googlenet_torchvision_pairs() -> list[Pair]:
    """torchvision ``GoogLeNet`` -> lab ``v1`` with ``v1_variant='torchvision'``."""
    pairs = _cbr([(f"conv{i}", f"stem.conv{i}") for i in (1, 2, 3)])
    for block in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"):
        m = f"inception{block}"
        pairs += _cbr([(f"{m}.branch1", f"{m}.branch1"), (f"{m}.branch2.0", f"{m}.branch2.0"),
                       (f"{m}.branch2.1", f"{m}.branch2.1"), (f"{m}.branch3.0", f"{m}.branch3.0"),
                       (f"{m}.branch3.1", f"{m}.branch3.1"), (f"{m}.branch4.1", f"{m}.branch4.1")])
    for aux in ("aux1", "aux2"):
        pairs += [(f"{aux}.conv", f"{aux}.conv", "cbr", "aux"), (f"{aux}.fc1", f"{aux}.fc1", "affine", "aux"),
                  (f"{aux}.fc2", f"{aux}.fc2", "affine", "aux_head")]
    return pairs + [("fc", "fc", "affine", "head")]


def v4_timm_pairs() -> list[Pair]:
    """timm ``InceptionV4`` (``features.0..21``, ``last_linear``) -> lab ``v4``."""
    pairs = _cbr([("features.0", "stem.Conv2d_1a_3x3"), ("features.1", "stem.Conv2d_2a_3x3"),
                  ("features.2", "stem.Conv2d_2b_3x3"), ("features.3.conv", "stem.Mixed_3a.branches.1"),
                  *[(f"features.4.branch0.{i}", f"stem.Mixed_4a.branches.0.{i}") for i in range(2)],
                  *[(f"features.4.branch1.{i}", f"stem.Mixed_4a.branches.1.{i}") for i in range(4)],
                  ("features.5.conv", "stem.Mixed_5a.branches.0")])
    for index, letter in zip(range(6, 10), "bcde"):  # Inception-A
        f, m = f"features.{index}", f"Mixed_5{letter}.branches"
        pairs += _cbr([(f"{f}.branch0", f"{m}.0"), *[(f"{f}.branch1.{i}", f"{m}.1.{i}") for i in range(2)],
                       *[(f"{f}.branch2.{i}", f"{m}.2.{i}") for i in range(3)], (f"{f}.branch3.1", f"{m}.3.1")])
    f, m = "features.10", "Mixed_6a.branches"  # Reduction-A
    pairs += _cbr([(f"{f}.branch0", f"{m}.0"), *[(f"{f}.branch1.{i}", f"{m}.1.{i}") for i in range(3)]])
    for index, letter in zip(range(11, 18), "bcdefgh"):  # Inception-B
        f, m = f"features.{index}", f"Mixed_6{letter}.branches"
        pairs += _cbr([(f"{f}.branch0", f"{m}.0"), *[(f"{f}.branch1.{i}", f"{m}.1.{i}") for i in range(3)],
                       *[(f"{f}.branch2.{i}", f"{m}.2.{i}") for i in range(5)], (f"{f}.branch3.1", f"{m}.3.1")])
    f, m = "features.18", "Mixed_7a.branches"  # Reduction-B
    pairs += _cbr([*[(f"{f}.branch0.{i}", f"{m}.0.{i}") for i in range(2)],
                   *[(f"{f}.branch1.{i}", f"{m}.1.{i}") for i in range(4)]])
    for index, letter in zip(range(19, 22), "bcd"):  # Inception-C
        f, m = f"features.{index}", f"Mixed_7{letter}"
        pairs += _cbr([(f"{f}.branch0", f"{m}.branch0"), (f"{f}.branch1_0", f"{m}.branch1"),
                       (f"{f}.branch1_1a", f"{m}.branch1_1x3"), (f"{f}.branch1_1b", f"{m}.branch1_3x1"),
                       *[(f"{f}.branch2_{i}", f"{m}.branch2.{i}") for i in range(3)],
                       (f"{f}.branch2_3a", f"{m}.branch2_1x3"), (f"{f}.branch2_3b", f"{m}.branch2_3x1"),
                       (f"{f}.branch3.1", f"{m}.branch3.1")])
    return pairs + [("last_linear", "fc", "affine", "head")]


def inception_resnet_v2_timm_pairs() -> list[Pair]:
    """timm ``InceptionResnetV2`` -> lab ``inception_resnet_v2`` (``variant='slim'``)."""
    pairs = _cbr([("conv2d_1a", "stem.Conv2d_1a_3x3"), ("conv2d_2a", "stem.Conv2d_2a_3x3"),
                  ("conv2d_2b", "stem.Conv2d_2b_3x3"), ("conv2d_3b", "stem.Conv2d_3b_1x1"),
                  ("conv2d_4a", "stem.Conv2d_4a_3x3")])
    m = "Mixed_5b.branches"
    pairs += _cbr([("mixed_5b.branch0", f"{m}.0"), *[(f"mixed_5b.branch1.{i}", f"{m}.1.{i}") for i in range(2)],
                   *[(f"mixed_5b.branch2.{i}", f"{m}.2.{i}") for i in range(3)], ("mixed_5b.branch3.1", f"{m}.3.1")])

    def block(src: str, lab: str, branch_convs: tuple[int, ...]) -> list[Pair]:
        out = _cbr([(f"{src}.branch0", f"{lab}.branches.0")])
        for b, count in enumerate(branch_convs, start=1):
            out += _cbr([(f"{src}.branch{b}.{i}", f"{lab}.branches.{b}.{i}") for i in range(count)])
        return out + [(f"{src}.conv2d", f"{lab}.conv", "affine", "trunk")]

    for i in range(10):
        pairs += block(f"repeat.{i}", f"Repeat.{i}", (2, 3))  # Block35
    pairs += _cbr([("mixed_6a.branch0", "Mixed_6a.branches.0"),
                   *[(f"mixed_6a.branch1.{i}", f"Mixed_6a.branches.1.{i}") for i in range(3)]])
    for i in range(20):
        pairs += block(f"repeat_1.{i}", f"Repeat_1.{i}", (3,))  # Block17
    pairs += _cbr([*[(f"mixed_7a.branch0.{i}", f"Mixed_7a.branches.0.{i}") for i in range(2)],
                   *[(f"mixed_7a.branch1.{i}", f"Mixed_7a.branches.1.{i}") for i in range(2)],
                   *[(f"mixed_7a.branch2.{i}", f"Mixed_7a.branches.2.{i}") for i in range(3)]])
    for i in range(9):
        pairs += block(f"repeat_2.{i}", f"Repeat_2.{i}", (3,))  # Block8
    pairs += block("block8", "Block8", (3,))
    pairs += _cbr([("conv2d_7b", "Conv2d_7b_1x1")])
    return pairs + [("classif", "fc", "affine", "head")]


def expand(pairs: list[Pair]) -> dict[str, tuple[str, str]]:
    """Module pairs -> ``{source tensor: (lab tensor, group)}``."""
    out: dict[str, tuple[str, str]] = {}
    for src, lab, kind, group in pairs:
        for theirs, ours in _KIND_TENSORS[kind]:
            out[f"{src}.{theirs}"] = (f"{lab}.{ours}", group)
    return out


@dataclass(frozen=True)
class SourceNetwork:
    """One foreign network the loader knows: how to recognise it, its key map, the switches and conventions."""

    layout: str
    model: str  # lab model name
    marker_keys: tuple[str, ...]  # all present -> this network
    pairs: Callable[[], list[Pair]]
    switches: dict[str, Any]  # the lab switches that build this network
    mean: tuple[float, ...] = INCEPTION_MEAN
    std: tuple[float, ...] = INCEPTION_STD
    input_size: int = 299
    crop_pct: float = 0.875
    interpolation: str = "bicubic"


_V3_SWITCHES = {"width_mult": 1.0, "stem": "3x3", "num_17x17_blocks": 4, "aux_hidden": 768, "aux_bn_fc": True,
                "avgpool_count_include_pad": True, "bn_eps": 1e-3, "in_chans": 3}
#: Published conventions: timm pretrained_cfg (crop_pct, bicubic, Inception mean/std); torchvision Weights
#: transforms (resize 256 -> crop 224 / resize 342 -> crop 299, bilinear, ImageNet mean/std turned into [-1, 1]
#: scaling by transform_input); mmpretrain's config (resize 342 -> crop 299, ImageNet mean/std, no transform_input).
SOURCE_NETWORKS = (
    SourceNetwork("timm", "v3", ("Conv2d_1a_3x3.conv.weight", "Mixed_5b.branch5x5_1.conv.weight"),
                  v3_pairs, _V3_SWITCHES),
    SourceNetwork("torchvision", "v3", ("Conv2d_1a_3x3.conv.weight", "Mixed_5b.branch5x5_1.conv.weight",
                                        "AuxLogits.fc.weight"),
                  v3_pairs, _V3_SWITCHES, crop_pct=299 / 342, interpolation="bilinear"),
    SourceNetwork("mmpretrain", "v3",
                  ("backbone.Conv2d_1a_3x3.conv.weight", "backbone.Mixed_5b.branch5x5_1.conv.weight"),
                  lambda: v3_pairs("backbone."), _V3_SWITCHES, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                  crop_pct=299 / 342, interpolation="bilinear"),
    SourceNetwork("torchvision", "v1", ("conv1.conv.weight", "inception3a.branch1.conv.weight"),
                  googlenet_torchvision_pairs,
                  {"v1_variant": "torchvision", "width_mult": 1.0, "fivebyfive_kernel": None, "pool4": None,
                   "aux_pool": None, "stem_separable": False, "bn_eps": 1e-3, "in_chans": 3},
                  input_size=224, crop_pct=224 / 256, interpolation="bilinear"),
    SourceNetwork("timm", "v4", ("features.0.conv.weight", "features.21.branch3.1.conv.weight", "last_linear.weight"),
                  v4_timm_pairs,
                  {"width_mult": 1.0, "avgpool_count_include_pad": False, "bn_eps": 1e-3, "in_chans": 3}),
    SourceNetwork("timm", "inception_resnet_v2", ("conv2d_1a.conv.weight", "mixed_5b.branch0.conv.weight",
                                                  "classif.weight"),
                  inception_resnet_v2_timm_pairs,
                  {"variant": "slim", "final_block": None, "residual_scale": "reference", "width_mult": 1.0,
                   "avgpool_count_include_pad": False, "bn_eps": 1e-3, "in_chans": 3}, crop_pct=0.8975),
)

#: torchvision Weights enum -> (published file name in the torch hub cache, lab model).
TORCHVISION_WEIGHTS = {
    "GoogLeNet_Weights.IMAGENET1K_V1": ("googlenet-1378be20.pth", "v1"),
    "Inception_V3_Weights.IMAGENET1K_V1": ("inception_v3_google-0cc3c7bd.pth", "v3"),
}
TORCHVISION_URL = "https://download.pytorch.org/models/"
for _alias, _target in (("GoogLeNet_Weights.DEFAULT", "GoogLeNet_Weights.IMAGENET1K_V1"),
                        ("Inception_V3_Weights.DEFAULT", "Inception_V3_Weights.IMAGENET1K_V1")):
    TORCHVISION_WEIGHTS[_alias] = TORCHVISION_WEIGHTS[_target]


def source_network(layout: str, model: str) -> SourceNetwork:
    for net in SOURCE_NETWORKS:
        if net.layout == layout and net.model == model:
            return net
    raise KeyError((layout, model))


def detect_layout(keys: set[str] | list[str]) -> SourceNetwork | None:
    """The foreign network whose marker tensors are all present (most specific first), or None for lab keys.

    timm's and torchvision's Inception-v3 use the same names; a file with aux-head tensors is reported as
    torchvision's (timm ships them only for its copy of the torchvision weights), one without as timm's."""
    keys = set(keys)
    matches = [net for net in SOURCE_NETWORKS if all(k in keys for k in net.marker_keys)]
    if not matches:
        return None
    return max(matches, key=lambda net: len(net.marker_keys))


# ------------------------------------------------------------------------------------------------- resolving
@dataclass
class WeightsFile:
    """What a SOURCE resolved to: the tensors and what the file says about them."""

    source: str
    path: Path
    state: dict[str, torch.Tensor]
    kind: str  # file | timm | torchvision
    model_args: dict[str, Any] | None = None  # lab checkpoint: create_model kwargs
    config: dict[str, Any] | None = None  # lab checkpoint: the run's resolved config
    hub_cfg: dict[str, Any] | None = None  # timm's pretrained_cfg from the hub repo's config.json
    class_names: list[str] | None = None


def _one_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def read_weights_file(path: Path, source: str | None = None) -> WeightsFile:
    """Read a local weights file (safetensors, torch pickle, lab checkpoint) with safe loading only."""
    source = source or str(path)
    if not path.is_file():
        raise PretrainedError(f"pretrained={source}: no such file")
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError:  # pragma: no cover - a dependency
            raise PretrainedError("a .safetensors file needs the safetensors package: pip install safetensors") from None
        try:
            return WeightsFile(source, path, load_file(str(path)), "file")
        except Exception as err:
            raise PretrainedError(f"pretrained={source}: not a readable safetensors file ({_one_line(err)})") from None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise PretrainedError(
            f"pretrained={source}: not a readable weights file with safe loading ({_one_line(err)}); convert it to "
            "a plain state_dict or .safetensors"
        ) from None
    if not isinstance(payload, dict):
        raise PretrainedError(f"pretrained={source}: holds a {type(payload).__name__}, not a state_dict")
    hparams = payload.get("hyper_parameters")
    config = hparams.get("config") if isinstance(hparams, dict) else None
    model_args = config.get("model_args") if isinstance(config, dict) else None
    if isinstance(model_args, dict) and isinstance(payload.get("state_dict"), dict):  # an inception-lab checkpoint
        state = {k[len("model."):]: v for k, v in payload["state_dict"].items() if k.startswith("model.")}
        return WeightsFile(source, path, state, "file", model_args=dict(model_args), config=config,
                           class_names=_run_class_names(path))
    for key in ("state_dict", "model"):
        if isinstance(payload.get(key), dict):
            payload = payload[key]
            break
    state = {k: v for k, v in payload.items() if isinstance(v, torch.Tensor)}
    if not state:
        raise PretrainedError(f"pretrained={source}: holds no tensors (expected a state_dict)")
    for prefix in ("module.", "model."):  # a DDP-wrapped network / a LightningModule's own state_dict
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
            break
    return WeightsFile(source, path, state, "file")


def _run_class_names(checkpoint: Path) -> list[str] | None:
    """The class names an inception-lab run saved next to its checkpoints (``<run>/class_index.json``)."""
    run_dir = checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent
    index = run_dir / "class_index.json"
    try:
        names = json.loads(index.read_text())["class_names"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return [str(n) for n in names] if isinstance(names, list) else None


def resolve(source: str | os.PathLike) -> WeightsFile:
    """SOURCE -> the weights it names (see the module docstring)."""
    text = str(source).strip()
    if text.startswith(("timm:", "hf-hub:")):
        return _resolve_hub(text)
    if text.startswith("torchvision:"):
        return _resolve_torchvision(text)
    path = Path(os.path.expanduser(text))
    if path.is_dir():
        raise PretrainedError(f"pretrained={text}: is a directory; pass a weights file ({', '.join(WEIGHT_SUFFIXES)}), "
                              "timm:<tag> or torchvision:<Weights enum>")
    if not path.is_file():
        raise PretrainedError(f"pretrained={text}: no such file (pass a weights file, timm:<tag>, hf-hub:timm/<tag> "
                              "or torchvision:<Weights enum>)")
    weights = read_weights_file(path, text)
    config_json = path.with_name("config.json")  # a hub snapshot copied as a folder keeps timm's config next to it
    if weights.model_args is None and config_json.is_file():
        weights.hub_cfg = _read_hub_config(config_json)
    return weights


def _read_hub_config(path: Path) -> dict[str, Any] | None:
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    cfg = payload.get("pretrained_cfg") if isinstance(payload, dict) else None
    return cfg if isinstance(cfg, dict) else None


def _resolve_hub(text: str) -> WeightsFile:
    """``timm:<tag>`` / ``hf-hub:timm/<tag>`` -> the repo's model.safetensors (cache first)."""
    repo = text[len("timm:"):] if text.startswith("timm:") else text[len("hf-hub:"):]
    repo = repo.strip()
    if text.startswith("timm:"):
        repo = f"timm/{repo}"
    if "/" not in repo or not repo.split("/", 1)[1]:
        raise PretrainedError(f"pretrained={text}: expected timm:<model>.<tag> or hf-hub:<owner>/<repo>")
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.utils import EntryNotFoundError, LocalEntryNotFoundError
    except ImportError:
        raise PretrainedError(f"pretrained={text}: needs huggingface_hub (pip install 'inception-lab[hub]')") from None

    def fetch(filename: str) -> Path | None:
        for local_only in (True, False):
            try:
                return Path(hf_hub_download(repo, filename, local_files_only=local_only))
            except (LocalEntryNotFoundError, EntryNotFoundError):
                continue  # not cached / not in the repo: try the hub, then give up
            except Exception:  # offline, unknown repo, no network
                return None
        return None

    path = fetch("model.safetensors") or fetch("pytorch_model.bin")
    if path is None:
        raise PretrainedError(
            f"pretrained={text}: model.safetensors of {repo} is not in the Hugging Face cache and could not be "
            "downloaded (offline or unknown repo); run once online, or pass the file's path"
        )
    weights = read_weights_file(path, text)
    weights.kind = "timm"
    config = fetch("config.json")
    weights.hub_cfg = _read_hub_config(config) if config else None
    return weights


def _resolve_torchvision(text: str) -> WeightsFile:
    """``torchvision:<Enum>.<member>`` -> the published file in the torch hub cache (never imports torchvision)."""
    name = text[len("torchvision:"):].strip()
    if name not in TORCHVISION_WEIGHTS:
        raise PretrainedError(f"pretrained={text}: unknown torchvision weights; choose one of: "
                              f"{', '.join(k for k in TORCHVISION_WEIGHTS if not k.endswith('DEFAULT'))}")
    filename, _ = TORCHVISION_WEIGHTS[name]
    path = Path(torch.hub.get_dir()) / "checkpoints" / filename
    if not path.is_file():
        raise PretrainedError(
            f"pretrained={text}: {filename} is not in the torch hub cache ({path.parent}); fetch it once with "
            f"python -c \"import torch; torch.hub.load_state_dict_from_url('{TORCHVISION_URL}{filename}')\" "
            "or pass the file's path"
        )
    weights = read_weights_file(path, text)
    weights.kind = "torchvision"
    return weights


# -------------------------------------------------------------------------------------------------- classes
def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet-1k WordNet ids in class-index order (sorted ids: what an ImageNet-layout folder gives)."""
    return [line.split("\t", 1)[0] for line in IMAGENET_CLASSES_FILE.read_text().splitlines() if line.strip()]


def imagenet_class_labels() -> dict[str, str]:
    """WordNet id -> its WordNet lemmas (``'n01440764' -> 'tench, Tinca tinca'``), for readable predictions."""
    rows = (line.split("\t", 1) for line in IMAGENET_CLASSES_FILE.read_text().splitlines() if line.strip())
    return {wnid: label for wnid, label in rows}


# ---------------------------------------------------------------------------------------------------- loading
def _classifier_classes(state: dict[str, torch.Tensor], key: str) -> int:
    tensor = state.get(key)
    return int(tensor.shape[0]) if tensor is not None else 0


def _adapt_input_conv(weight: torch.Tensor, in_chans: int) -> torch.Tensor:
    """RGB first-conv weights -> ``in_chans`` inputs: summed for one channel, else RGB repeated and rescaled by
    3 / in_chans so the activations keep their scale."""
    if in_chans == 1:
        return weight.sum(dim=1, keepdim=True)
    repeat = math.ceil(in_chans / weight.shape[1])
    return weight.repeat(1, repeat, 1, 1)[:, :in_chans] * (weight.shape[1] / in_chans)


def _first_conv(model: nn.Module) -> str:
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return f"{name}.weight"
    raise PretrainedError(f"{type(model).__name__} has no convolution")  # pragma: no cover


def _list(keys, limit: int = 4) -> str:
    keys = sorted(keys)
    more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def build_pretrained(
    name: str,
    source: str | os.PathLike,
    num_classes: int | None,
    switches: dict[str, Any],
    construct: Callable[..., nn.Module],
) -> nn.Module:
    """Build ``name`` with the weights ``source`` names (see the module docstring); ``construct(**kwargs)`` is the
    registered constructor. Returns the network (training mode, as constructed) with ``pretrained_cfg`` and matching
    ``defaults``."""
    weights = resolve(source)
    net = detect_layout(weights.state)
    in_chans = switches.get("in_chans")
    if net is None:
        if not any(k.startswith("stem.") for k in weights.state):
            raise PretrainedError(
                f"pretrained={weights.source}: unrecognised weights layout (first keys: {_list(weights.state, 3)}); "
                f"known: inception-lab, timm (v3, v4, inception_resnet_v2), torchvision (v1, v3), mmpretrain (v3)"
            )
        layout, mapping = "lab", None
        forced = {k: v for k, v in (weights.model_args or {}).items() if k not in {"name", "num_classes"}}
        if weights.model_args and weights.model_args.get("name") != name:
            raise PretrainedError(f"pretrained={weights.source}: an inception-lab checkpoint of "
                                  f"model={weights.model_args.get('name')}, not model={name}")
    else:
        layout = net.layout if weights.kind == "file" else weights.kind
        if weights.kind == "timm" and net.layout == "torchvision":
            layout = "timm"  # timm's tv_in1k copy of the torchvision file
        if net.model != name:
            raise PretrainedError(f"pretrained={weights.source}: {net.layout} weights of model={net.model}, not "
                                  f"model={name}; use model={net.model}")
        mapping = expand(net.pairs())
        forced = dict(net.switches)

    # The weights' network: its switches win, except those that only shape training (the caller's stand where
    # given); a different in_chans adapts the first conv.
    kwargs = dict(switches)
    for key, value in forced.items():
        if key != "in_chans" and not (key in TRAINING_SWITCHES and key in switches):
            kwargs[key] = value
    source_in_chans = int(forced.get("in_chans", 3))
    kwargs["in_chans"] = int(in_chans) if in_chans is not None else source_in_chans

    state = dict(weights.state)
    if mapping is None:  # lab layout: keys are the network's own
        mapping = {k: (k, _lab_group(k)) for k in state}
    head_key = next((src for src, (lab, group) in mapping.items() if group == "head" and lab == "fc.weight"), None)
    source_classes = _classifier_classes(state, head_key) if head_key else 0
    if not source_classes:
        raise PretrainedError(f"pretrained={weights.source}: no classifier weights (fc) in the {layout} layout")
    if net is not None and "aux_logits" not in switches:  # the source network as published: aux heads if it has them
        kwargs["aux_logits"] = any(group in {"aux", "aux_head"} and src in state for src, (_, group) in mapping.items())

    background = source_classes == 1001  # TF-slim: class 0 = background
    if background and num_classes in (None, 1000):  # drop it, as timm does for label_offset=1 weights
        for src, (_, group) in mapping.items():
            if group in {"head", "aux_head"} and src in state and state[src].shape[0] == 1001:
                state[src] = state[src][1:]
        loaded_classes, label_offset = 1000, 0
    else:
        loaded_classes, label_offset = source_classes, int(background)
    kwargs["num_classes"] = loaded_classes
    target_device = torch.empty(0).device  # meta inside `with torch.device("meta")` (shape probes)
    try:
        with torch.device("meta"):  # no random init of tensors the file replaces right away
            model = construct(**kwargs)
    except (TypeError, ValueError) as err:
        raise PretrainedError(f"pretrained={weights.source}: cannot build model={name} for these {layout} weights "
                              f"({_one_line(err)})") from None
    loaded = _mapped_tensors(model, state, mapping, layout, weights.source, kwargs["in_chans"], source_in_chans)
    if target_device.type != "meta":
        if all(k in loaded or k.endswith("num_batches_tracked") for k in model.state_dict()):
            model = model.to_empty(device=target_device)
            for key, tensor in model.state_dict().items():
                if key.endswith("num_batches_tracked"):
                    tensor.zero_()
        else:  # an aux head the file lacks: build for real so it gets the network's own initialisation
            model = construct(**kwargs)
        own = model.state_dict()
        with torch.no_grad():
            for key, tensor in loaded.items():
                own[key].copy_(tensor)

    target = num_classes if num_classes is not None else loaded_classes
    head_reset = target != loaded_classes
    if head_reset:
        model.reset_classifier(target)
        label_offset = 0
    model_args = {"name": name, **kwargs, "num_classes": target}
    cfg = _conventions(weights, layout, net, model, target, label_offset, source_classes, head_reset, model_args)
    apply_conventions(model, cfg)
    return model


def apply_conventions(model: nn.Module, cfg: PretrainedCfg | dict[str, Any]) -> None:
    """Attach ``cfg`` as ``model.pretrained_cfg`` and make ``model.defaults`` (what data modules read) agree with
    it. A dict is what :meth:`PretrainedCfg.to_dict` wrote into a run's checkpoint."""
    if isinstance(cfg, dict):
        known = PretrainedCfg.__dataclass_fields__
        cfg = PretrainedCfg(**{k: v for k, v in cfg.items() if k in known})
        cfg.mean, cfg.std = tuple(cfg.mean), tuple(cfg.std)
    model.pretrained_cfg = cfg
    model.defaults = replace(model.defaults, mean=tuple(cfg.mean), std=tuple(cfg.std), input_size=int(cfg.input_size),
                             crop_fraction=float(cfg.crop_pct), interpolation=str(cfg.interpolation))


def _lab_group(key: str) -> str:
    top = key.split(".", 1)[0]
    if top == "fc":
        return "head"
    if top in {"AuxLogits", "aux1", "aux2"}:
        return "aux_head" if key.rsplit(".", 2)[-2] in {"fc", "fc2"} else "aux"
    return "trunk"


def _mapped_tensors(model: nn.Module, state: dict[str, torch.Tensor], mapping: dict[str, tuple[str, str]],
                    layout: str, source: str, in_chans: int, source_in_chans: int) -> dict[str, torch.Tensor]:
    """``{lab tensor: file tensor}`` after checking names and shapes against ``model``; one PretrainedError
    otherwise."""
    own = model.state_dict()
    has_aux_model = any(group in {"aux", "aux_head"} and lab in own for lab, group in mapping.values())
    optional = {"aux", "aux_head"}
    unexpected = [k for k in state if k not in mapping
                  or (mapping[k][0] not in own and not (mapping[k][1] in optional and not has_aux_model))]
    missing = [lab for src, (lab, group) in mapping.items()
               if src not in state and lab in own and group not in optional
               and not lab.endswith("num_batches_tracked")]
    missing += [lab for lab in own if lab not in {m for m, _ in mapping.values()}
                and not lab.endswith("num_batches_tracked") and _lab_group(lab) not in optional]
    if unexpected or missing:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensors ({_list(missing)})")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} tensors ({_list(unexpected)})")
        raise PretrainedError(f"pretrained={source}: read as {layout} layout for {type(model).__name__}: "
                              f"{'; '.join(parts)}")
    first_conv = _first_conv(model)
    loaded: dict[str, torch.Tensor] = {}
    wrong = []
    for src, (lab, _group) in mapping.items():
        if src not in state or lab not in own:
            continue
        tensor = state[src]
        rgb_first_conv = lab == first_conv and tensor.dim() == 4 and tensor.shape[1] == source_in_chans
        if rgb_first_conv and in_chans != source_in_chans:
            tensor = _adapt_input_conv(tensor, in_chans)
        if tuple(tensor.shape) != tuple(own[lab].shape):
            wrong.append(f"{lab} {tuple(tensor.shape)} vs {tuple(own[lab].shape)}")
        loaded[lab] = tensor
    if wrong:
        raise PretrainedError(f"pretrained={source}: read as {layout} layout, {len(wrong)} tensors do not fit "
                              f"{type(model).__name__} (file vs network: {'; '.join(wrong[:3])}); the weights were "
                              "built with other switches (width_mult, variant...)")
    return loaded


def _conventions(weights: WeightsFile, layout: str, net: SourceNetwork | None, model: nn.Module, num_classes: int,
                 label_offset: int, source_classes: int, head_reset: bool, model_args: dict[str, Any]) -> PretrainedCfg:
    """The weights' conventions: hub config.json > the source network's published values > the lab run's config."""
    defaults = model.defaults
    if net is not None:
        mean, std, size, crop, interp = net.mean, net.std, net.input_size, net.crop_pct, net.interpolation
        if layout == "timm" and net.layout == "torchvision":  # timm's copy of torchvision's v3 file
            crop, interp = 0.875, "bicubic"
    else:
        config = weights.config or {}
        data = config.get("data") if isinstance(config.get("data"), dict) else {}
        inherited = config.get("pretrained") if isinstance(config.get("pretrained"), dict) else {}
        mean = tuple(inherited.get("mean", defaults.mean))  # a fine-tuned run keeps its weights' normalisation
        std = tuple(inherited.get("std", defaults.std))
        size = int(data.get("image_size") or defaults.input_size)
        crop = float(data.get("eval_crop_fraction") or inherited.get("crop_pct") or defaults.crop_fraction)
        interp = str(inherited.get("interpolation", defaults.interpolation))
    hub = weights.hub_cfg or {}
    if hub:
        mean = tuple(float(m) for m in hub.get("mean", mean))
        std = tuple(float(s) for s in hub.get("std", std))
        input_size = hub.get("input_size")
        size = int(input_size[-1]) if isinstance(input_size, (list, tuple)) and input_size else size
        crop = float(hub.get("crop_pct", crop))
        interp = str(hub.get("interpolation", interp))
    if head_reset:
        names = None
    elif net is not None:
        names = imagenet_class_names() if num_classes == 1000 else None
        if label_offset and num_classes == 1001:
            names = imagenet_class_names()
    else:
        names = weights.class_names if weights.class_names and len(weights.class_names) == num_classes else None
    return PretrainedCfg(
        source=weights.source, layout=layout, num_classes=num_classes, mean=tuple(mean), std=tuple(std),
        input_size=size, crop_pct=round(crop, 6), interpolation=interp, class_names=names, label_offset=label_offset,
        file=str(weights.path), source_num_classes=source_classes, head_reset=head_reset, model_args=model_args,
    )
