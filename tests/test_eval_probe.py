"""Evaluation against hand-computed numbers: which pixels every multi-crop view holds, and what a probe network
whose prediction depends on the view it sees must score under each crop set, averaging rule and ensemble.

The test image is ``coordinate_picture`` (48 x 32): its pixel at column x, row y is (5x, 7y, 255 - 2x - 3y), so
a view's top-left pixel says where the view starts. At a 28-pixel input the 144-crop scales (256, 288, 320, 352
at 224) become shorter sides 32, 36, 40, 44; at 32 the image is not resized at all, so those views are exact
slices of the picture and everything the probe predicts on them follows from the formula below.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from PIL import Image
from torch import nn
from torch.nn import functional as F

from inception_lab.config_path import CONFIG_DIR
from inception_lab.data.testing import coordinate_picture
from inception_lab.data.transforms import multi_crop_batch, to_uint8_tensor
from inception_lab.data.views import MultiCropFileTransform
from inception_lab.evaluate import (
    crop_set_from_cfg,
    evaluate,
    mean_softmax_log,
    metrics_from_log_probs,
)
from inception_lab.models.layers import ModelDefaults
from inception_lab.models.registry import register_model, unregister_model

SIZE = 28  # the probe's input size
WIDTH, HEIGHT = 48, 32
# the 144 crops' shorter sides at a 28-pixel input (256, 288, 320, 352 x 28 / 224); the picture is 1.5 s x s there
SIDES = (32, 36, 40, 44)
SQUARE_STARTS = {32: (0, 8, 16), 36: (0, 9, 18), 40: (0, 10, 20), 44: (0, 11, 22)}  # left / centre / right square
FAR = {32: 4, 36: 8, 40: 12, 44: 16}  # side - 28: where the right and the bottom corner crops start in a square
MIDDLE = {32: 2, 36: 4, 40: 6, 44: 8}  # (side - 28) / 2: the centre crop
# view order in a square (GoogLeNet §7): top-left, top-right, bottom-left, bottom-right, centre, the whole square


def rgb(x: int, y: int) -> tuple[int, int, int]:
    """coordinate_picture's pixel, written out again (independent of the helper)."""
    return (5 * x, 7 * y, 255 - 2 * x - 3 * y)


def crop_offsets(side: int) -> list[tuple[int, int]]:
    far, mid = FAR[side], MIDDLE[side]
    return [(0, 0), (far, 0), (0, far), (far, far), (mid, mid)]


def square_origins(side: int, portrait: bool) -> list[tuple[int, int]]:
    return [(0, start) if portrait else (start, 0) for start in SQUARE_STARTS[side]]


def scaled_size(side: int, portrait: bool) -> tuple[int, int]:
    """(width, height) of the picture with its shorter side at ``side``."""
    longer = side * 3 // 2
    return (side, longer) if portrait else (longer, side)


def crop_set(name: str):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="eval", overrides=["ckpt=x"])
    return crop_set_from_cfg(name, cfg.crop_sets)


def expected_tensor_views(image: torch.Tensor, portrait: bool) -> list[torch.Tensor]:
    """The 144 views of a float (1, 3, H, W) picture, cut at the offsets above from torch's antialiased bilinear
    resize of the whole picture."""
    views = []
    for side in SIDES:
        width, height = scaled_size(side, portrait)
        scaled = image if side == min(image.shape[-2:]) else F.interpolate(
            image, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
        for x0, y0 in square_origins(side, portrait):
            crops = [scaled[:, :, y0 + dy:y0 + dy + SIZE, x0 + dx:x0 + dx + SIZE] for dx, dy in crop_offsets(side)]
            crops.append(F.interpolate(scaled[:, :, y0:y0 + side, x0:x0 + side], size=(SIZE, SIZE), mode="bilinear",
                                       align_corners=False, antialias=True))
            for crop in crops:
                views += [crop[0], crop[0].flip(-1)]
    return views


def expected_pillow_views(picture: Image.Image) -> list[torch.Tensor]:
    """The 144 views of a picture file, cut with Pillow at the offsets above (uint8 (3, 28, 28) each)."""
    portrait = picture.height > picture.width
    views = []
    for side in SIDES:
        scaled = picture.resize(scaled_size(side, portrait), Image.Resampling.BILINEAR)
        for x0, y0 in square_origins(side, portrait):
            crops = [scaled.crop((x0 + dx, y0 + dy, x0 + dx + SIZE, y0 + dy + SIZE)) for dx, dy in crop_offsets(side)]
            crops.append(scaled.resize((SIZE, SIZE), Image.Resampling.BILINEAR, box=(x0, y0, x0 + side, y0 + side)))
            for crop in crops:
                views += [to_uint8_tensor(crop), to_uint8_tensor(crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT))]
    return views


# ---- geometry: every box, every scale, every mirror ----------------------------------------------------------------
@pytest.mark.parametrize("portrait", [False, True], ids=["landscape", "portrait"])
def test_144_tensor_views_are_the_papers_boxes(portrait):
    picture = coordinate_picture(WIDTH, HEIGHT)
    if portrait:  # 32 x 48: the squares run top / centre / bottom
        picture = picture.transpose(Image.Transpose.TRANSPOSE)
    image = to_uint8_tensor(picture).float().div(255).unsqueeze(0)
    cs = crop_set("144")
    assert cs.shorter_sides(SIZE) == list(SIDES)
    views = multi_crop_batch(image, SIZE, cs.shorter_sides(SIZE), cs.squares, cs.corners, cs.full_square, cs.mirror)
    expected = expected_tensor_views(image, portrait)
    assert views.shape == (1, 144, 3, SIZE, SIZE) and len(expected) == 144
    for index, view in enumerate(expected):
        assert torch.allclose(views[0, index], view, atol=1e-6), f"view {index}"
    # read off the pixels by hand at the unresized scale: view 2k is box k of the left (top) square, 2k+1 its mirror
    top_left = [tuple(round(float(v) * 255) for v in views[0, i, :, 0, 0]) for i in range(10)]
    at = (lambda x, y: rgb(y, x)) if portrait else rgb
    assert top_left == [at(0, 0), at(27, 0), at(4, 0), at(31, 0), at(0, 4), at(27, 4), at(4, 4), at(31, 4),
                        at(2, 2), at(29, 2)]


def test_144_file_views_are_the_papers_boxes(tmp_path):
    """The Pillow path (image folders) cuts the same boxes; at the unresized scale they are exact slices."""
    cs = crop_set("144")

    class Base:  # the data module's EvalTransform attributes MultiCropFileTransform reads
        mode, exif_transpose, interpolation = "RGB", True, "bilinear"

    for portrait in (False, True):
        picture = coordinate_picture(WIDTH, HEIGHT)
        if portrait:
            picture = picture.transpose(Image.Transpose.TRANSPOSE)
        path = tmp_path / f"{'portrait' if portrait else 'landscape'}.png"
        picture.save(path)
        views = MultiCropFileTransform(Base(), cs, SIZE)(path)
        assert views.shape == (144, 3, SIZE, SIZE) and views.dtype == torch.uint8
        for index, view in enumerate(expected_pillow_views(picture)):
            assert torch.equal(views[index], view), f"{path.name}: view {index}"
        pixels = to_uint8_tensor(picture)
        for k, (dx, dy) in enumerate(crop_offsets(32)):  # scale 32, first square: slices of the file's pixels
            assert torch.equal(views[2 * k], pixels[:, dy:dy + SIZE, dx:dx + SIZE])


# ---- averaging rules on literal numbers ----------------------------------------------------------------------------
def test_views_are_averaged_as_probabilities_not_log_probabilities():
    per_view = torch.tensor([[[0.9, 0.1], [0.6, 0.4]]], dtype=torch.float64).log()  # 1 image, 2 views
    averaged = mean_softmax_log(per_view, dim=1)
    assert averaged.exp()[0].tolist() == pytest.approx([0.75, 0.25], abs=1e-12)  # a geometric mean: 0.73 / 0.2


def test_metrics_from_probabilities_by_hand():
    probs = torch.tensor([
        [0.50, 0.20, 0.10, 0.10, 0.05, 0.05],  # label 0: top-1
        [0.30, 0.40, 0.10, 0.10, 0.05, 0.05],  # label 1: top-1
        [0.05, 0.10, 0.10, 0.20, 0.25, 0.30],  # label 0: last of 6, outside the top 5
        [0.10, 0.10, 0.60, 0.10, 0.05, 0.05],  # label 2: top-1
        [0.30, 0.40, 0.10, 0.10, 0.05, 0.05],  # label 0: second, inside the top 5
    ], dtype=torch.float64)
    metrics = metrics_from_log_probs(probs.log(), torch.tensor([0, 1, 0, 2, 0]))
    assert metrics["top1"] == pytest.approx(0.6) and metrics["top5"] == pytest.approx(0.8) and metrics["images"] == 5
    assert metrics["top1_err"] == pytest.approx(40.0) and metrics["top5_err"] == pytest.approx(20.0)
    nll = (math.log(2) + math.log(2.5) + math.log(20) + math.log(5 / 3) + math.log(10 / 3)) / 5
    assert metrics["loss"] == pytest.approx(nll)


# ---- the probe network through inception-lab-eval's job --------------------------------------------------------------
PROBE = "view_probe_for_tests"
MEAN, STD = (0.4, 0.5, 0.6), (0.2, 0.25, 0.5)  # per channel, all different: a swapped or skipped one shows
# two different checkpoints of the probe: logits = W . (normalised top-left pixel) + b
MEMBERS = {
    "a": ([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]], [0.0, 0.0, 0.0]),
    "b": ([[0.0, 2.0, 0.0], [0.0, 0.0, 2.0], [2.0, 0.0, 0.0]], [0.5, 0.0, -0.5]),
}
# the evaluation images, one per class: the picture, its upside-down copy, its transpose (portrait)
IMAGES = {
    "0_picture": (lambda x, y: rgb(x, y), False),
    "1_flipped": (lambda x, y: rgb(x, HEIGHT - 1 - y), False),
    "2_transposed": (lambda x, y: rgb(y, x), True),
}


class ViewProbe(nn.Module):
    """logits = weight @ (the normalised view's top-left pixel) + bias: its output says where the view starts in
    the image and which normalisation it went through."""

    def __init__(self, num_classes: int = 3, in_chans: int = 3) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(num_classes, in_chans))
        self.bias = nn.Parameter(torch.zeros(num_classes))
        self.defaults = ModelDefaults(input_size=SIZE, mean=MEAN, std=STD)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, 0, 0] @ self.weight.t() + self.bias


def probe_probabilities(pixel: tuple[float, ...], member: str) -> list[float]:
    """What the probe predicts for a view starting with ``pixel`` (0-255 values), in plain Python."""
    weight, bias = MEMBERS[member]
    normalised = [(v / 255.0 - m) / s for v, m, s in zip(pixel, MEAN, STD)]
    logits = [sum(w * n for w, n in zip(row, normalised)) + b for row, b in zip(weight, bias)]
    top = max(logits)
    exps = [math.exp(v - top) for v in logits]
    return [e / sum(exps) for e in exps]


def mean_of(rows: list[list[float]]) -> list[float]:
    return [sum(column) / len(rows) for column in zip(*rows)]


def expected_metrics(probabilities: list[list[float]]) -> tuple[float, float]:
    """(top-1, NLL) of per-image class probabilities; image i has label i."""
    top1 = sum(max(range(3), key=p.__getitem__) == label for label, p in enumerate(probabilities)) / 3
    return top1, -sum(math.log(p[label]) for label, p in enumerate(probabilities)) / 3


def exact_view_pixels(at, portrait: bool) -> list[tuple[int, int, int]]:
    """Top-left pixels of the 30 views at shorter side 32 (no resize): 3 squares x 5 crops, each then mirrored
    (a mirrored view starts with the crop's top-right pixel, 27 columns on)."""
    pixels = []
    for x0, y0 in square_origins(32, portrait):
        for dx, dy in crop_offsets(32):
            pixels += [at(x0 + dx, y0 + dy), at(x0 + dx + SIZE - 1, y0 + dy)]
    return pixels


@pytest.fixture
def probe_checkpoints(tmp_path):
    """Two checkpoints of the probe, as inception-lab writes them, whose data config is an image folder holding
    the three images above (train and val)."""
    register_model(PROBE)(ViewProbe)
    root = tmp_path / "images"
    for split in ("train", "val"):
        for name, (at, portrait) in IMAGES.items():
            size = (HEIGHT, WIDTH) if portrait else (WIDTH, HEIGHT)
            pixels = [at(x, y) for y in range(size[1]) for x in range(size[0])]
            picture = Image.new("RGB", size)
            picture.putdata(pixels)
            (root / split / name).mkdir(parents=True)
            picture.save(root / split / name / "image.png")
    data = {"_target_": "inception_lab.data.ImageFolderDataModule", "root": str(root), "image_size": SIZE,
            "batch_size": 3, "num_workers": 0, "channels": 3, "flip": True}  # trained with flips: views mirror
    paths = []
    for member, (weight, bias) in MEMBERS.items():
        path = tmp_path / f"run_{member}" / "checkpoints" / "last.ckpt"
        path.parent.mkdir(parents=True)
        torch.save({
            "state_dict": {"model.weight": torch.tensor(weight), "model.bias": torch.tensor(bias)},
            "epoch": 0, "global_step": 1,
            "hyper_parameters": {"config": {"model_args": {"name": PROBE, "num_classes": 3}, "data": data}},
        }, path)
        paths.append(path)
    yield paths
    unregister_model(PROBE)


def run_eval(ckpts: list[Path], crops: str, output: Path) -> dict:
    value = "[" + ",".join(map(str, ckpts)) + "]" if len(ckpts) > 1 else str(ckpts[0])
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="eval", overrides=[f"ckpt={value}", f"eval.crops={crops}", f"eval.output={output}"])
    return evaluate(cfg)


EXACT_30 = "{scales:[32],reference_size:28,squares:3,full_square:false,mirror:true}"  # shorter side 32: no resize


def test_probe_on_unresized_views_scores_the_hand_computed_numbers(probe_checkpoints, tmp_path):
    """30 exact views per image, two different checkpoints: each member's NLL is that of the mean of its softmax
    over views, computed from the pixel formula, the crop offsets and the probe's own mean/std; the ensemble's is
    that of the mean of the two members' probabilities."""
    per_member = {}
    for member in MEMBERS:
        per_member[member] = [mean_of([probe_probabilities(p, member) for p in exact_view_pixels(at, portrait)])
                              for at, portrait in IMAGES.values()]
    ensemble = [mean_of([per_member["a"][i], per_member["b"][i]]) for i in range(3)]

    record = run_eval(probe_checkpoints, EXACT_30, tmp_path / "pair.json")
    assert record["num_images"] == 3 and record["crops"]["views"] == 30 and record["ensemble"]
    for member, result in zip(MEMBERS, record["members"]):
        top1, nll = expected_metrics(per_member[member])
        assert result["views"] == 30
        assert result["metrics"]["loss"] == pytest.approx(nll, rel=1e-5), member
        assert result["metrics"]["top1"] == pytest.approx(top1), member
    top1, nll = expected_metrics(ensemble)
    assert record["metrics"]["loss"] == pytest.approx(nll, rel=1e-5)
    assert record["metrics"]["top1"] == pytest.approx(top1)
    # the numbers are far apart: the averaging rules and members cannot be confused within the tolerance
    losses = [record["metrics"]["loss"], *(m["metrics"]["loss"] for m in record["members"])]
    assert min(abs(a - b) for i, a in enumerate(losses) for b in losses[i + 1:]) > 0.05


def test_probe_on_144_crops_of_image_files(probe_checkpoints, tmp_path):
    """Every scale, square, box and mirror of the 144-crop set: the probe's NLL equals the one computed from the
    top-left pixels of the views Pillow cuts at the hand-written offsets."""
    record = run_eval(probe_checkpoints[:1], "144", tmp_path / "one.json")
    probabilities = []
    for name, (at, portrait) in IMAGES.items():
        size = (HEIGHT, WIDTH) if portrait else (WIDTH, HEIGHT)
        picture = Image.new("RGB", size)
        picture.putdata([at(x, y) for y in range(size[1]) for x in range(size[0])])
        views = expected_pillow_views(picture)
        probabilities.append(mean_of([probe_probabilities(tuple(int(v) for v in view[:, 0, 0]), "a")
                                      for view in views]))
    top1, nll = expected_metrics(probabilities)
    assert record["crops"]["views"] == 144 and record["crops"]["shorter_sides_px"] == list(SIDES)
    assert record["metrics"]["loss"] == pytest.approx(nll, rel=1e-5)
    assert record["metrics"]["top1"] == pytest.approx(top1)
