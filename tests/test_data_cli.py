"""``inception-lab data=imagefolder`` end to end, as a user runs it: a generated ImageNet-layout folder of real
JPEG/PNG files (grayscale and CMYK among them) trains one epoch; bad data stops the run before training with
one ``error:`` line."""

from __future__ import annotations

import pytest

from conftest import load_json, results_files
from inception_lab.data.testing import make_image_folder

TINY_IMAGEFOLDER = [
    "data=imagefolder",
    "model.width_mult=0.25",
    "model.aux_logits=false",
    "data.image_size=75",
    "data.batch_size=4",
    "data.num_workers=1",  # the real path: decode in a worker process
    "trainer.max_epochs=1",
]


@pytest.mark.slow
def test_imagefolder_trains_one_epoch_through_the_cli(cli, tmp_path):
    root = make_image_folder(
        tmp_path / "ds", classes=("apple", "banana", "cherry"), per_class=4, size=[(96, 72), (72, 96)],
        kinds=("jpeg_rgb", "jpeg_gray", "jpeg_cmyk", "png_rgb", "png_palette"),
    )
    (root / "train" / "apple" / "README.txt").write_text("ignored: not an image")
    proc = cli(*TINY_IMAGEFOLDER, f"data.root={root}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = results_files(tmp_path / "outputs" / "runs")
    record = load_json(path)
    assert record["status"] == "completed" and record["epochs"] == 1
    assert record["steps"] == 3  # 12 train images, batch 4
    assert record["config"]["data"]["_target_"] == "inception_lab.data.ImageFolderDataModule"
    assert record["config"]["data"]["root"] == str(root)


def test_bad_data_is_one_error_line_before_training(cli, tmp_path):
    root = make_image_folder(tmp_path / "ds", classes=("a", "b"), per_class=1, splits=("train",))
    proc = cli(*TINY_IMAGEFOLDER, f"data.root={root}")
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"split folder {root}/val does not exist (found: train)" in errors[0]
    assert "Traceback" not in proc.stderr and "Epoch 0" not in proc.stdout + proc.stderr
