"""``data=cifar10``, ``data=synthetic``, the digits default's contract, the Hydra configs, and exact
distributed validation (the sampler logic, without launching processes)."""

from __future__ import annotations

import pickle
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from torch.utils.data import TensorDataset
from torch.utils.data.distributed import DistributedSampler

from inception_lab.config_path import CONFIG_DIR
from inception_lab.data import (
    Cifar10DataModule,
    DataError,
    DigitsDataModule,
    EvalShardSampler,
    ImageFolderDataModule,
    SyntheticDataModule,
)


# ---- CIFAR-10 ---------------------------------------------------------------------------------------------------
def write_fake_cifar(folder: Path, per_batch: int = 6) -> Path:
    """The standard python batches (bytes keys, numpy uint8 rows of 3072, pickle protocol 2), tiny."""
    target = folder / "cifar-10-batches-py"
    target.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"batch_label": name.encode(),
            b"labels": [int(v) for v in rng.integers(0, 10, per_batch)],
            b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            b"filenames": [f"{name}_{i}.png".encode() for i in range(per_batch)],
        }
        (target / name).write_bytes(pickle.dumps(batch, protocol=2))
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    (target / "batches.meta").write_bytes(pickle.dumps({b"label_names": names, b"num_vis": 3072}, protocol=2))
    return folder


def test_cifar10_reads_the_python_batches(tmp_path):
    dm = Cifar10DataModule(root=str(write_fake_cifar(tmp_path)), image_size=40, batch_size=4)
    assert dm.num_classes == 10 and dm.channels == 3 and dm.class_names[0] == "airplane"
    dm.setup()
    assert len(dm.train_set) == 30 and len(dm.val_set) == 6
    images, labels = next(iter(dm.train_dataloader()))
    assert images.dtype == torch.uint8 and images.shape == (4, 3, 32, 32)  # 32 px until the device
    train = dm.device_transform(images, training=True)
    val = dm.device_transform(images, training=False)
    assert train.shape == val.shape == (4, 3, 40, 40) and train.dtype == torch.float32
    # also accepts the batches folder itself as root
    assert Cifar10DataModule(root=str(tmp_path / "cifar-10-batches-py")).folder.name == "cifar-10-batches-py"


def test_cifar10_missing_or_bad_files(tmp_path):
    with pytest.raises(DataError, match=r"CIFAR-10 not found in .*: download cifar-10-python.tar.gz .* and extract "
                                        r"it into .* so that .*cifar-10-batches-py/data_batch_1 exists"):
        Cifar10DataModule(root=str(tmp_path)).num_classes
    with pytest.raises(DataError, match=r"data.root is not set"):
        Cifar10DataModule(root=None).num_classes
    root = write_fake_cifar(tmp_path / "partial")
    (root / "cifar-10-batches-py" / "test_batch").unlink()
    with pytest.raises(DataError, match=r"incomplete: missing test_batch"):
        Cifar10DataModule(root=str(root)).setup()
    root = write_fake_cifar(tmp_path / "evil")

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (root / "cifar-10-batches-py" / "data_batch_2").write_bytes(pickle.dumps({b"data": Evil()}))
    with pytest.raises(DataError, match=r"data_batch_2 is not a readable CIFAR-10 batch .*refusing to load"):
        Cifar10DataModule(root=str(root)).setup()


# ---- synthetic ------------------------------------------------------------------------------------------------
def test_synthetic_shapes_and_labels():
    dm = SyntheticDataModule(image_size=33, num_classes=7, train_size=20, val_size=9, batch_size=4, num_workers=0)
    assert dm.num_classes == 7 and dm.channels == 3 and len(dm.class_names) == 7
    dm.setup()
    images, labels = next(iter(dm.val_dataloader()))
    assert images.dtype == torch.uint8 and images.shape == (4, 3, 33, 33) and labels.tolist() == [0, 1, 2, 3]
    assert len(dm.val_set) == 9 and len(dm.train_dataloader()) == 5  # 20 / 4, nothing to drop
    with pytest.raises(DataError, match=r"data.num_classes must be >= 1"):
        SyntheticDataModule(num_classes=0)


# ---- digits keeps its contract ---------------------------------------------------------------------------------
def test_digits_default_contract():
    a, b = DigitsDataModule(image_size=75), DigitsDataModule(image_size=75)
    assert a.num_classes == 10 and a.channels == 1 and a.class_names == [str(d) for d in range(10)]
    a.setup()
    b.setup()
    assert torch.equal(a.val_set.tensors[1], b.val_set.tensors[1])  # deterministic stratified split
    assert len(a.train_set) == 1437 and len(a.val_set) == 360
    assert a.train_set.tensors[0].dtype == torch.uint8
    assert a.class_index["class_names"][3] == "3"


# ---- Hydra configs --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("option", ["digits", "imagefolder", "cifar10", "synthetic"])
def test_data_configs_compose_and_instantiate(option, tmp_path):
    overrides = [f"data={option}"]
    if option == "imagefolder":
        for split in ("train", "val"):
            (tmp_path / split / "a").mkdir(parents=True)
        overrides.append(f"data.root={tmp_path}")
    if option == "cifar10":
        overrides.append(f"data.root={write_fake_cifar(tmp_path)}")
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides, return_hydra_config=False)
    dm = instantiate(cfg.data, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    expected = {"digits": (10, 1, 75), "imagefolder": (1, 3, 299), "cifar10": (10, 3, 75), "synthetic": (1000, 3, 299)}
    assert (dm.num_classes, dm.channels, dm.image_size) == expected[option]
    for key in ("image_size", "batch_size", "num_workers", "pin_memory"):
        assert key in cfg.data
    if option == "imagefolder":
        assert list(cfg.data.crop_area) == [0.08, 1.0] and list(cfg.data.crop_aspect) == pytest.approx([0.75, 4 / 3])
        assert dm.eval_transform.fraction == 0.875  # null = the model family's; 0.875 until told
        from inception_lab.models.layers import ModelDefaults

        dm.apply_model_defaults(ModelDefaults(input_size=299, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                                              crop_fraction=0.8975))
        assert dm.eval_transform.fraction == 0.8975 and dm.mean == (0.485, 0.456, 0.406)
        assert dm.num_workers >= 1  # auto


def test_imagefolder_config_without_root_is_one_clear_error():
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["data=imagefolder"], return_hydra_config=False)
    dm = instantiate(cfg.data)  # construction never fails on missing data (instantiate would wrap the error)
    with pytest.raises(DataError, match=r"data.root is not set"):
        dm.num_classes


# ---- device-side transforms follow the trainer's stage ----------------------------------------------------------
def test_colour_jitter_only_on_training_batches():
    dm = SyntheticDataModule(image_size=8, num_classes=2, train_size=4, val_size=4, batch_size=4,
                             color_jitter="full")
    dm.setup()
    images, labels = next(iter(dm.val_dataloader()))
    plain = ((images.float() / 255.0) - 0.5) / 0.5
    dm.trainer = SimpleNamespace(training=False)
    assert torch.allclose(dm.on_after_batch_transfer((images, labels), 0)[0], plain)
    dm.trainer = SimpleNamespace(training=True)
    assert not torch.allclose(dm.on_after_batch_transfer((images, labels), 0)[0], plain)


# ---- distributed validation: every sample exactly once ----------------------------------------------------------
@pytest.mark.parametrize(("world", "n"), [(w, n) for w in (1, 2, 3, 4, 8) for n in (1, 7, 8, 10, 50001) if n >= w])
def test_eval_shard_sampler_covers_every_sample_once(world, n):
    dataset = range(n)
    shards = [list(EvalShardSampler(dataset, num_replicas=world, rank=r)) for r in range(world)]
    assert sorted(i for shard in shards for i in shard) == list(range(n))  # no duplicate, no drop
    lengths = [len(EvalShardSampler(dataset, num_replicas=world, rank=r)) for r in range(world)]
    assert lengths == [len(s) for s in shards] and max(lengths) - min(lengths) <= 1
    # what Lightning's default would do: pad with repeats to equal shards (the bias this sampler avoids)
    padded = [list(DistributedSampler(dataset, num_replicas=world, rank=r, shuffle=False)) for r in range(world)]
    assert sum(map(len, padded)) == n + (-n) % world


class _FakeTrainer(SimpleNamespace):
    pass


def test_val_loader_uses_the_shard_sampler_under_ddp():
    dm = SyntheticDataModule(image_size=4, num_classes=3, train_size=10, val_size=11, batch_size=4)
    dm.setup()
    dm.trainer = _FakeTrainer(distributed_sampler_kwargs=None, training=False)
    assert not isinstance(dm.val_dataloader().sampler, DistributedSampler)  # one process: plain sequential
    seen = []
    for rank in range(2):
        dm.trainer = _FakeTrainer(distributed_sampler_kwargs={"num_replicas": 2, "rank": rank},
                                  _accelerator_connector=SimpleNamespace(use_distributed_sampler=True))
        loader = dm.val_dataloader()
        # a DistributedSampler subclass: Lightning's _requires_distributed_sampler leaves it in place
        assert isinstance(loader.sampler, EvalShardSampler) and isinstance(loader.sampler, DistributedSampler)
        seen.extend(int(label) for _, labels in loader for label in labels)
        assert not isinstance(dm.train_dataloader().sampler, DistributedSampler)  # Lightning injects its own
    assert sorted(seen) == sorted(i % 3 for i in range(11))  # all 11 val images, once
    dm.trainer = _FakeTrainer(distributed_sampler_kwargs={"num_replicas": 16, "rank": 0},
                              _accelerator_connector=SimpleNamespace(use_distributed_sampler=True))
    with pytest.raises(DataError, match=r"the validation set has 11 images, fewer than the 16 processes"):
        dm.val_dataloader()


def test_lightning_keeps_the_shard_sampler():
    """Lightning's own check, on a real (not launched) 2-device DDP trainer: a DistributedSampler is kept."""
    import lightning as L

    trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False)
    loader = torch.utils.data.DataLoader(TensorDataset(torch.arange(5)),
                                         sampler=EvalShardSampler(range(5), num_replicas=2, rank=0))
    assert trainer._data_connector._requires_distributed_sampler(loader) is False
    plain = torch.utils.data.DataLoader(TensorDataset(torch.arange(5)))
    assert trainer._data_connector._requires_distributed_sampler(plain) is True


def test_worker_errors_keep_their_one_line_message():
    wrapped = (
        "Caught DataError in DataLoader worker process 0.\nOriginal Traceback (most recent call last):\n"
        '  File "x.py", line 1, in <module>\ninception_lab.data.base.DataError: unreadable image /d/a.jpg: broken\n'
    )
    assert str(DataError(wrapped)) == "unreadable image /d/a.jpg: broken"
    assert str(DataError("plain message")) == "plain message"


def test_imagefolder_import_does_not_need_torchvision():
    import sys

    assert "torchvision" not in sys.modules and ImageFolderDataModule.dataset_name == "imagefolder"


def test_config_value_errors_arrive_as_the_cause_of_hydras_wrapper():
    """A bad config value fails in the constructor; hydra.utils.instantiate wraps it, with the DataError as the
    cause (the CLI unwraps it to print one line)."""
    from hydra.errors import InstantiationException

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["data=imagefolder", "data.crop_area=[0.5,0.2]"])
    with pytest.raises(InstantiationException) as raised:
        instantiate(cfg.data)
    assert isinstance(raised.value.__cause__, DataError)
    assert str(raised.value.__cause__).startswith("data config: crop_area must satisfy 0.0 <= min <= max <= 1.0")


def test_collate_matches_torchs_default():
    from torch.utils.data import default_collate

    from inception_lab.data.base import collate_images

    batch = [(torch.randint(0, 256, (3, 5, 4), dtype=torch.uint8).permute(0, 2, 1), i) for i in range(3)]
    images, labels = collate_images(batch)
    expected_images, expected_labels = default_collate(batch)
    assert torch.equal(images, expected_images) and torch.equal(labels, expected_labels)
    assert labels.dtype == torch.int64 and images.is_contiguous(memory_format=torch.channels_last)  # NHWC memory
    tensor_labels = [(torch.zeros(1, 2, 2, dtype=torch.uint8), torch.tensor(7))]
    assert collate_images(tensor_labels)[1].tolist() == [7]
