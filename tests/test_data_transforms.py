"""Transform geometry and pixels (docs/reference.md#train-augmentation, #evaluation): crop area / aspect bounds, eval crop, multi-crop views,
decode of every colour mode, EXIF orientation, reduced-scale JPEG decode, batch-wise device ops."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from inception_lab.data.testing import IMAGE_KINDS, encode_picture, synthetic_picture
from inception_lab.data.transforms import (
    EvalTransform,
    TrainTransform,
    _saturation,
    center_crop_resize_batch,
    central_box,
    color_jitter_batch,
    crop_resize_batch,
    five_crop_boxes,
    hsv_to_rgb,
    load_image,
    multi_crop,
    normalize_batch,
    random_resized_crop_batch,
    rgb_to_hsv,
    sample_distorted_box,
    sample_distorted_boxes,
    square_boxes,
)


def _check_box(box, width, height, area_range, aspect_range):
    left, top, w, h = box
    assert 0.0 <= left and 0.0 <= top and left + w <= width + 1e-6 and top + h <= height + 1e-6
    area = w * h / (width * height)
    assert area_range[0] - 1e-9 <= area <= area_range[1] + 1e-9
    assert aspect_range[0] - 1e-9 <= w / h <= aspect_range[1] + 1e-9


@pytest.mark.parametrize(("width", "height"), [(500, 375), (375, 500), (299, 299), (1000, 250)])
def test_distorted_box_respects_area_and_aspect_bounds(width, height):
    torch.manual_seed(0)
    area_range, aspect_range = (0.08, 1.0), (3 / 4, 4 / 3)
    areas, aspects, fallbacks = [], [], 0
    for _ in range(2000):
        box = sample_distorted_box(width, height, area_range, aspect_range)
        if box == (0.0, 0.0, float(width), float(height)):
            fallbacks += 1
            continue
        _check_box(box, width, height, area_range, aspect_range)
        areas.append(box[2] * box[3] / (width * height))
        aspects.append(box[2] / box[3])
    assert fallbacks < 40  # the 100 redraws almost always find a box
    # the draws span the ranges (uniform area, log-uniform aspect): both ends are reached
    # the largest area a box within the aspect range can have inside this image
    feasible = min(1.0, height * aspect_range[1] / width, width / aspect_range[0] / height)
    assert min(areas) < 0.12 and max(areas) > 0.6 * feasible
    assert min(aspects) < 0.8 and max(aspects) > 1.25
    log_aspects = torch.tensor(aspects).log()
    assert abs(float(log_aspects.mean())) < 0.05  # symmetric between portrait and landscape


def test_distorted_box_config_ranges_and_fallback():
    torch.manual_seed(1)
    for _ in range(300):  # TF-slim's v2+ range (docs/reference.md#train-augmentation)
        box = sample_distorted_box(400, 300, (0.05, 1.0), (0.75, 4 / 3))
        if box != (0.0, 0.0, 400.0, 300.0):
            _check_box(box, 400, 300, (0.05, 1.0), (0.75, 4 / 3))
    # an impossible request (a 1:1 crop of the full area of a 4:1 image) falls back to the whole image
    assert sample_distorted_box(400, 100, (1.0, 1.0), (1.0, 1.0), max_attempts=5) == (0.0, 0.0, 400.0, 100.0)


def test_distorted_boxes_batch_version_respects_bounds():
    generator = torch.Generator().manual_seed(0)
    boxes = sample_distorted_boxes(4000, 32, 32, (0.08, 1.0), (3 / 4, 4 / 3), generator=generator)
    whole = (boxes[:, 2] == 32) & (boxes[:, 3] == 32)
    for box in boxes[~whole][:500].tolist():
        _check_box(box, 32, 32, (0.08, 1.0), (3 / 4, 4 / 3))
    assert float(whole.float().mean()) < 0.05


def test_eval_central_crop_geometry():
    # TF-slim central_crop: 87.5 % of each side, centred
    left, top, w, h = central_box(400, 300, 0.875)
    assert (w, h) == pytest.approx((350.0, 262.5))
    assert (left, top) == pytest.approx((25.0, 18.75))
    # square mode: 87.5 % of the shorter side, centred (timm / torchvision resize-then-crop)
    assert central_box(400, 300, 0.875, square=True) == pytest.approx((68.75, 18.75, 262.5, 262.5))
    with pytest.raises(ValueError):
        central_box(10, 10, 1.5)


def test_eval_transform_is_the_central_crop_resized(tmp_path):
    picture = synthetic_picture(160, 120, seed=3)
    path = str(tmp_path / "eval.png")
    picture.save(path)
    out = EvalTransform(56, fraction=0.875)(path)
    assert out.shape == (3, 56, 56) and out.dtype == torch.uint8
    expected = picture.resize((56, 56), Image.Resampling.BILINEAR, box=(10.0, 7.5, 150.0, 112.5))
    assert torch.equal(out, torch.from_numpy(np.array(expected)).permute(2, 0, 1))


def test_multi_crop_counts_and_boxes():
    # docs/reference.md#evaluation: 4 scales x 3 squares x (4 corners + centre + whole square) x 2 mirrors = 144
    picture = synthetic_picture(64, 48, seed=4)
    views = multi_crop(picture, 24, shorter_sides=(32, 36, 40, 44))
    assert views.shape == (144, 3, 24, 24) and views.dtype == torch.uint8
    assert multi_crop(picture, 24, (32,), squares=1).shape[0] == 12  # 12-crop (our reading)
    assert multi_crop(picture, 24, (32,), squares=1, full_square=False).shape[0] == 10  # 10-crop
    assert torch.equal(views[1], views[0].flip(-1))  # each view is followed by its mirror
    # squares: left / centre / right for landscape, top / centre / bottom for portrait
    assert square_boxes(400, 300) == [(0, 0, 300, 300), (50, 0, 300, 300), (100, 0, 300, 300)]
    assert square_boxes(300, 400)[2] == (0, 100, 300, 300)
    corners = five_crop_boxes((50.0, 0.0, 300.0, 300.0), 224)
    assert corners[0] == (50.0, 0.0, 224, 224) and corners[3] == (126.0, 76.0, 224, 224)
    assert corners[4] == (88.0, 38.0, 224, 224)


@pytest.mark.parametrize("kind", sorted(IMAGE_KINDS))
def test_every_colour_mode_decodes_to_rgb_and_gray(kind, tmp_path):
    data, extension = encode_picture(synthetic_picture(40, 30, seed=5), kind)
    path = str(tmp_path / ("x" + extension))
    open(path, "wb").write(data)
    rgb = TrainTransform(20)(path)
    assert rgb.shape == (3, 20, 20) and rgb.dtype == torch.uint8
    grey = EvalTransform(20, mode="L")(path)
    assert grey.shape == (1, 20, 20)
    if kind != "jpeg_gray" and kind != "png_gray":
        assert rgb.float().std(0).mean() > 1.0  # colour survived (CMYK / palette converted, not greyed)


def test_sixteen_bit_grayscale_is_rescaled(tmp_path):
    array = (np.linspace(0, 65535, 40 * 30).reshape(30, 40)).astype(np.uint16)
    path = str(tmp_path / "deep.png")
    Image.fromarray(array).save(path)
    out = EvalTransform(16, fraction=1.0)(path)
    assert out.shape == (3, 16, 16) and int(out.max()) > 200 and int(out.min()) < 50


def test_exif_orientation_is_applied_before_cropping(tmp_path):
    picture = synthetic_picture(80, 40, seed=6)  # stored landscape
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed rotated 90 degrees: portrait
    path = str(tmp_path / "rot.jpg")
    picture.save(path, exif=exif.tobytes(), quality=95)
    image, box = load_image(path)
    assert image.size == (40, 80) and box == (0.0, 0.0, 40.0, 80.0)
    image, _ = load_image(path, exif_transpose=False)
    assert image.size == (80, 40)


def test_reduced_scale_jpeg_decode_keeps_output_resolution(tmp_path):
    picture = synthetic_picture(800, 600, seed=7)
    path = str(tmp_path / "big.jpg")
    picture.save(path, quality=92)
    image, box = load_image(path, box_fn=lambda w, h: central_box(w, h, 0.875), min_output=64)
    assert image.size == (100, 75)  # 1/8 DCT scale is enough for a 64-pixel output
    assert box[2] >= 64 and box[3] >= 64
    fast = EvalTransform(64)(path).float()
    exact = EvalTransform(64, draft=False)(path).float()
    assert (fast - exact).abs().mean() < 6.0  # same picture, a different (DCT-domain) downscale
    image, box = load_image(path, box_fn=lambda w, h: (0.0, 0.0, 100.0, 100.0), min_output=64)
    assert image.size == (800, 600)  # a small crop keeps the full decode


def test_train_transform_flip_and_interpolation_options(tmp_path):
    path = str(tmp_path / "f.png")
    synthetic_picture(30, 30, seed=8).save(path)
    torch.manual_seed(0)
    full = TrainTransform(30, area_range=(1.0, 1.0), aspect_range=(1.0, 1.0), flip=True)
    outs = {bytes(full(path).numpy().tobytes()) for _ in range(20)}
    assert len(outs) == 2  # the whole image, mirrored or not
    TrainTransform(30, interpolation="random")(path)
    with pytest.raises(ValueError, match="crop_area"):
        TrainTransform(30, area_range=(0.5, 0.1))
    with pytest.raises(ValueError, match="interpolation"):
        TrainTransform(30, interpolation="lanczos5")


def test_batch_crop_resize_matches_the_box():
    x = torch.arange(32.0).repeat(1, 1, 32, 1)  # (1, 1, 32, 32): value = column index
    box = torch.tensor([[8.0, 0.0, 16.0, 32.0]])  # columns 8..24
    out = crop_resize_batch(x, box, 16)
    assert out.shape == (1, 1, 16, 16)
    assert torch.allclose(out[0, 0, 0], torch.arange(8.0, 24.0), atol=1e-4)
    flipped = crop_resize_batch(x, box, 16, flip=torch.tensor([True]))
    assert torch.allclose(flipped, out.flip(-1), atol=1e-4)
    y = random_resized_crop_batch(torch.rand(5, 3, 32, 32), 40, generator=torch.Generator().manual_seed(0))
    assert y.shape == (5, 3, 40, 40)
    z = center_crop_resize_batch(torch.rand(2, 3, 32, 32), 75, fraction=1.0)
    assert z.shape == (2, 3, 75, 75)


def test_normalisation_and_colour_jitter():
    images = torch.tensor([0, 255], dtype=torch.uint8).view(1, 1, 1, 2).expand(2, 3, 1, 2)
    out = normalize_batch(images, (0.5,) * 3, (0.5,) * 3)  # [-1, 1] scaling (TF-slim)
    assert out.min() == -1.0 and out.max() == 1.0
    rgb = torch.rand(4, 3, 8, 8)
    assert torch.allclose(hsv_to_rgb(rgb_to_hsv(rgb)), rgb, atol=1e-5)
    # the saturation step equals TF's HSV definition (S scaled and clipped, H and V kept)
    fast = _saturation(rgb, torch.Generator().manual_seed(3))
    factor = torch.empty(4).uniform_(0.5, 1.5, generator=torch.Generator().manual_seed(3)).view(-1, 1, 1)
    hsv = rgb_to_hsv(rgb)
    hsv[:, 1] = (hsv[:, 1] * factor).clamp(0.0, 1.0)
    assert torch.allclose(fast, hsv_to_rgb(hsv), atol=1e-5)
    generator = torch.Generator().manual_seed(0)
    for mode in ("fast", "full"):
        jittered = color_jitter_batch(rgb, mode, generator=generator)
        assert jittered.shape == rgb.shape and 0.0 <= float(jittered.min()) and float(jittered.max()) <= 1.0
        assert not torch.allclose(jittered, rgb)
    assert torch.equal(color_jitter_batch(rgb, "none"), rgb)
    grey = torch.rand(2, 1, 8, 8)
    assert color_jitter_batch(grey, "full", generator=generator).shape == grey.shape
    assert not math.isnan(float(color_jitter_batch(torch.zeros(2, 3, 4, 4), "full").sum()))
