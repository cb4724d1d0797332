"""recipe=paper|cpu: the CPU-sized recipe as its own config group (the digits select it), and data.max_per_class:
a deterministic per-class subset of an ImageNet-layout folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from inception_lab.config_path import CONFIG_DIR
from inception_lab.data.base import DataError
from inception_lab.data.imagefolder import ImageFolderDataModule
from inception_lab.data.testing import make_image_folder


def _compose(*overrides: str):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=True)


def _recipe(cfg) -> tuple:
    return (cfg.hydra.runtime.choices.recipe, cfg.model.width_mult, cfg.trainer.max_epochs,
            cfg.scheduler._target_.rsplit(".", 1)[-1], cfg.scheduler.warmup_epochs, cfg.data.image_size)


def test_the_digits_select_the_cpu_recipe_other_data_the_papers():
    assert _recipe(_compose()) == ("cpu", 0.25, 10, "cosine", 1, 75)  # the default run, as before the group
    assert _recipe(_compose("recipe=paper")) == ("paper", 1.0, 10, "exponential_step_decay", 0.0, 75)
    assert _recipe(_compose("data=imagefolder")) == ("paper", 1.0, 10, "exponential_step_decay", 0.0, 299)
    assert _recipe(_compose("data=imagefolder", "recipe=cpu")) == ("cpu", 0.25, 10, "cosine", 1, 299)
    # experiments keep their own optimizer and schedule under the CPU recipe; resolution still sets the input size
    cfg = _compose("recipe=cpu", "data=imagefolder", "+experiment=table2/r151")
    assert _recipe(cfg)[1:] == (0.25, 10, "cosine", 1, 151)
    cfg = _compose("+experiment=table3/v2", "recipe=cpu")
    assert cfg.optimizer._target_.endswith("SGD") and cfg.scheduler._target_.endswith("exponential_step_decay")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return make_image_folder(tmp_path_factory.mktemp("subset") / "ds", classes=("cat", "dog", "fish"),
                             per_class={"cat": 7, "dog": 3, "fish": 5}, kinds=("jpeg_rgb", "png_rgb"))


def _files(dm: ImageFolderDataModule, split: str) -> list[str]:
    index = dm.train_index if split == "train" else dm.val_index
    return [os.path.relpath(p, index.base) for p in index.all_paths()]


def _module(root: Path, **kwargs) -> ImageFolderDataModule:
    dm = ImageFolderDataModule(root=str(root), image_size=24, batch_size=2, num_workers=0, **kwargs)
    dm.setup("fit")
    return dm


def test_max_per_class_keeps_an_evenly_spaced_deterministic_subset(folder):
    dm = _module(folder, max_per_class=4, val_max_per_class=2)
    train = _files(dm, "train")
    # cat has 7 images: every other one (0, 2, 4, 6); dog's 3 all stay; fish's 5: 0, 1, 3, 4 (linspace 0..4, rounded)
    assert [Path(p).stem for p in train] == [
        "cat_0000", "cat_0002", "cat_0004", "cat_0006", "dog_0000", "dog_0001", "dog_0002",
        "fish_0000", "fish_0001", "fish_0003", "fish_0004"]
    assert dm.train_index.labels.tolist() == [0] * 4 + [1] * 3 + [2] * 4
    assert len(dm.val_set) == 6 and len(dm.train_set) == 11
    assert _files(_module(folder, max_per_class=4, val_max_per_class=2), "train") == train  # same every time
    summary = dm.data_summary()
    assert (summary["train_images"], summary["val_images"], summary["max_per_class"]) == (11, 6, 4)
    full = _module(folder)
    assert len(full.train_set) == 15 and len(full.val_set) == 15  # null = every image


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_max_per_class_must_be_a_positive_whole_number(folder, bad):
    with pytest.raises(DataError, match=r"data config: max_per_class must be a positive whole number"):
        ImageFolderDataModule(root=str(folder), max_per_class=bad)
