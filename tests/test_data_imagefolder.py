"""``data=imagefolder``: a generated ImageNet-layout folder of real JPEG/PNG files (grayscale and CMYK among
them), the class index, file lists, and every bad-input case asserted by its message."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from inception_lab.data import DataError, ImageFolderDataModule, load_class_index
from inception_lab.data.imagefolder import check_image
from inception_lab.data.testing import IMAGE_KINDS, make_image_folder, synthetic_picture

CLASSES = ("n01440764", "n01443537", "n01484850")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = make_image_folder(
        tmp_path_factory.mktemp("imagenet") / "ds", classes=CLASSES, per_class=4,
        kinds=("jpeg_rgb", "png_rgb", "jpeg_gray", "jpeg_cmyk", "png_palette", "png_rgba", "jpg_rgb"),
        size=[(48, 36), (36, 48), (64, 40)],
    )
    # things a real folder holds besides images: ignored by extension / as hidden files
    (root / "train" / CLASSES[0] / "notes.txt").write_text("not an image")
    (root / "train" / CLASSES[0] / ".DS_Store").write_bytes(b"\0\0")
    (root / "train" / CLASSES[1] / "._n01443537_0000.JPEG").write_bytes(b"AppleDouble")
    nested = root / "train" / CLASSES[2] / "more"
    nested.mkdir()
    synthetic_picture(40, 40, seed=99).save(nested / "deep.webp")
    return root


def copy_of(dataset: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(dataset, tmp_path / "copy"))


def make(root, **kwargs) -> ImageFolderDataModule:
    options = dict(root=str(root), image_size=24, batch_size=4, num_workers=0)
    options.update(kwargs)
    return ImageFolderDataModule(**options)


def test_reads_the_folder_and_yields_uint8_batches(dataset):
    dm = make(dataset)
    # available right after construction (the CLI builds the model before setup)
    assert dm.num_classes == 3 and dm.channels == 3 and dm.class_names == list(CLASSES)
    dm.setup("fit")
    assert len(dm.train_set) == 13 and len(dm.val_set) == 12  # + the nested .webp; junk ignored
    summary = dm.data_summary()
    assert summary["ignored_files"] == 3 and summary["skipped_at_scan"] == 0
    assert summary["train_images"] == 13 and summary["num_classes"] == 3
    labels = sorted(int(dm.train_set[i][1]) for i in range(len(dm.train_set)))
    assert labels == [0] * 4 + [1] * 4 + [2] * 5
    images, targets = next(iter(dm.train_dataloader()))
    assert images.dtype == torch.uint8 and images.shape == (4, 3, 24, 24) and targets.dtype == torch.int64
    x, _ = dm.on_after_batch_transfer((images, targets), 0)
    assert x.dtype == torch.float32 and -1.0 <= float(x.min()) and float(x.max()) <= 1.0
    for i in range(len(dm.val_set)):  # every kind decodes: RGB, gray, CMYK, palette, RGBA
        image, label = dm.val_set[i]
        assert image.shape == (3, 24, 24) and 0 <= label < 3
    assert len(dm.val_dataloader()) == 3  # 12 images, batch 4, nothing dropped in validation
    assert len(dm.train_dataloader()) == 3  # 13 // 4: the last partial training batch is dropped


def test_grayscale_channel_option(dataset):
    dm = make(dataset, channels=1, mean=(0.5,), std=(0.5,))
    assert dm.channels == 1
    dm.setup()
    assert dm.val_set[0][0].shape == (1, 24, 24)


def test_class_index_is_saved_and_read_back(dataset, tmp_path):
    dm = make(dataset)
    assert dm.class_index == {"num_classes": 3, "class_names": list(CLASSES), "dataset": "imagefolder"}
    path = dm.save_class_index(tmp_path)
    assert path.name == "class_index.json" and json.loads(path.read_text())["class_names"] == list(CLASSES)
    assert load_class_index(tmp_path) == list(CLASSES)


def test_file_lists(dataset, tmp_path):
    lines = [
        "# comment, then a blank line",
        "",
        f"{CLASSES[0]}/{CLASSES[0]}_0000.JPEG",  # class from the folder
        f"{CLASSES[1]}/{CLASSES[1]}_0001.png\t{CLASSES[1]}",  # tab-separated class
        f"{dataset / 'train' / CLASSES[2] / (CLASSES[2] + '_0002.jpg')} {CLASSES[2]}",  # absolute path
        f"{CLASSES[0]}/notes.txt",  # not an image: ignored
    ]
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "val.txt").write_text("\n".join(lines[2:5]) + "\n")
    dm = make(dataset, train_list=str(tmp_path / "train.txt"), val_split="train", val_list=str(tmp_path / "val.txt"))
    assert dm.class_names == list(CLASSES)
    dm.setup()
    assert len(dm.train_set) == 3 and [int(dm.train_set[i][1]) for i in range(3)] == [0, 1, 2]
    (tmp_path / "bad.txt").write_text("loose.jpg\n")
    with pytest.raises(DataError, match=r"bad.txt:1: no class for 'loose.jpg'"):
        make(dataset, train_list=str(tmp_path / "bad.txt")).class_names


# ---- bad input: one clear line each ------------------------------------------------------------------------
def test_root_not_set_or_missing(tmp_path):
    with pytest.raises(DataError, match=r"data.root is not set: pass data.root="):
        ImageFolderDataModule(root=None).num_classes
    with pytest.raises(DataError, match=r"data.root=.*nowhere does not exist"):
        make(tmp_path / "nowhere").num_classes


def test_missing_split(dataset, tmp_path):
    root = copy_of(dataset, tmp_path)
    shutil.rmtree(root / "val")
    with pytest.raises(DataError, match=r"split folder .*copy/val does not exist \(found: train\)"):
        make(root).num_classes


def test_empty_class_folder(dataset, tmp_path):
    root = copy_of(dataset, tmp_path)
    (root / "train" / "n99999999").mkdir()
    (root / "train" / "n99999999" / "readme.md").write_text("only a non-image file")
    (root / "val" / "n99999999").mkdir()
    with pytest.raises(DataError, match=r"empty class folder .*train/n99999999: no images in it"):
        make(root).setup()


def test_no_images(tmp_path):
    for split in ("train", "val"):
        for name in CLASSES:
            (tmp_path / split / name).mkdir(parents=True)
            (tmp_path / split / name / "list.csv").write_text("a,b")
    with pytest.raises(DataError, match=r"no images found under .*train \(looked in 3 class folders"):
        make(tmp_path).setup()
    flat = tmp_path / "flat"
    (flat / "val").mkdir(parents=True)
    (flat / "train").mkdir()
    synthetic_picture(20, 20, 0).save(flat / "train" / "ILSVRC2012_val_00000001.JPEG")
    with pytest.raises(DataError, match=r"no class folders in .*flat/train \(1 images lie directly in it"):
        make(flat).num_classes


def test_class_mismatch_between_train_and_val(dataset, tmp_path):
    root = copy_of(dataset, tmp_path)
    (root / "val" / CLASSES[2]).rename(root / "val" / "n00000001")
    with pytest.raises(DataError, match=r"class mismatch between .*train \(3 classes\) and .*val \(3 classes\): "
                                        r"in val but not in train: n00000001; in train but not in val: n01484850"):
        make(root).num_classes


def _corrupt(root: Path) -> tuple[Path, Path]:
    garbage = root / "train" / CLASSES[0] / "garbage.jpg"
    garbage.write_bytes(b"this is not a JPEG at all" * 10)
    truncated = root / "train" / CLASSES[1] / "truncated.JPEG"
    synthetic_picture(64, 48, seed=1).save(truncated, quality=90)
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) * 2 // 3])
    return garbage, truncated


def test_corrupt_and_truncated_files_are_named_at_setup(dataset, tmp_path):
    root = copy_of(dataset, tmp_path)
    garbage, truncated = _corrupt(root)
    assert check_image(str(garbage)) == "not an image Pillow can read"
    assert "truncated" in check_image(str(truncated))
    with pytest.raises(DataError, match=rf"unreadable image {garbage}: not an image Pillow can read \(1 more bad "
                                        r"files in this split\); .*data.skip_corrupt=true"):
        make(root).setup()  # verify=auto -> header check for a small folder


def test_skip_corrupt_counts_the_skips(dataset, tmp_path, capsys):
    root = copy_of(dataset, tmp_path)
    _corrupt(root)
    dm = make(root, skip_corrupt=True)
    dm.setup()
    assert len(dm.train_set) == 13 and dm.data_summary()["skipped_at_scan"] == 2
    assert "skipped 2 unreadable image(s)" in capsys.readouterr().err


def _error_from_worker(dataset) -> str:
    """The DataError message a worker process raised. (No pytest.raises: its traceback would keep the loader
    iterator in a reference cycle, and a garbage-collected iterator waits 5 s for its worker to stop.)"""
    iterator = iter(torch.utils.data.DataLoader(dataset, num_workers=1))
    try:
        next(iterator)
    except DataError as err:
        return str(err)
    raise AssertionError("no DataError from the worker")


def test_corrupt_file_at_decode_time_names_the_file(dataset, tmp_path, capsys):
    root = copy_of(dataset, tmp_path)
    _, truncated = _corrupt(root)
    (root / "train" / CLASSES[0] / "garbage.jpg").unlink()
    dm = make(root, verify="none")  # the ImageNet-scale setting: no up-front pass
    dm.setup()
    position = dm.train_index.all_paths().index(str(truncated))
    with pytest.raises(DataError, match=rf"^unreadable image {truncated}: image file is truncated"):
        dm.train_set[position]
    # inside a DataLoader worker process, the error still reaches the main process as one line naming the file
    assert _error_from_worker(torch.utils.data.Subset(dm.train_set, [position])).startswith(
        f"unreadable image {truncated}: image file is truncated"
    )
    # skip_corrupt: replaced by the next readable file and counted, also across worker processes
    dm = make(root, verify="none", skip_corrupt=True)
    dm.setup()
    image, label = dm.train_set[position]
    assert image.shape == (3, 24, 24) and dm.skipped_at_decode == 1
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dm.train_set, [position]), num_workers=1)
    list(loader)  # exhausted: the worker stops now, not at some later garbage collection
    assert dm.skipped_at_decode == 2 and dm.data_summary()["skipped_at_decode"] == 2
    assert f"skipped unreadable image {truncated}" in capsys.readouterr().err


def test_config_errors_are_data_errors(dataset):
    with pytest.raises(DataError, match=r"data config: crop_area must satisfy"):
        make(dataset, crop_area=[0.5, 0.2])
    with pytest.raises(DataError, match=r"data config: verify must be one of"):
        make(dataset, verify="sometimes")
    with pytest.raises(DataError, match=r"data config: channels must be 1 or 3"):
        make(dataset, channels=4)


def test_every_generated_kind_is_a_real_encoded_file(dataset):
    from PIL import Image

    formats = set()
    for path in (dataset / "val").rglob("*"):
        if path.is_file():
            with Image.open(path) as image:
                formats.add((image.format, image.mode))
    assert {("JPEG", "RGB"), ("JPEG", "L"), ("JPEG", "CMYK"), ("PNG", "RGB"), ("PNG", "P"), ("PNG", "RGBA")} <= formats
    assert set(IMAGE_KINDS) >= {"jpeg_gray", "jpeg_cmyk"}
