"""`inception-lab-eval`: single / 12 / 144-crop evaluation and ensembles of a tiny checkpoint trained once a session."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest
import torch
from PIL import Image

from conftest import compose_cfg, run_cli
from inception_lab.checkpoints import CheckpointError, load_checkpoint
from inception_lab.data import DataError
from inception_lab.data.transforms import multi_crop_batch
from inception_lab.data.views import MultiCropFileTransform
from inception_lab.evaluate import (
    CropSet,
    EvalError,
    crop_set_from_cfg,
    evaluate,
    mean_softmax_log,
    view_log_probs,
)

TRAIN = [
    "model.width_mult=0.25",
    "optimizer=sgd",  # a tame optimiser: the tiny net keeps finite, distinct logits
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=2",
    "data.batch_size=16",
    "logger=none",
    "~callbacks.throughput",
    "~callbacks.learning_rate_monitor",
]


pytestmark = pytest.mark.usefixtures("one_thread")




@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A real run directory: trained in-process by the runner's own ``train`` (v3 at quarter width, 2 steps)."""
    from inception_lab.cli.train import train

    run_dir = tmp_path_factory.mktemp("tiny") / "run"
    run_dir.mkdir()  # Hydra creates the run dir before the job; here we do
    train(compose_cfg("config", [*TRAIN, f"paths.output_dir={run_dir}"]))
    assert (run_dir / "checkpoints" / "last.ckpt").is_file() and (run_dir / "results.json").is_file()
    return run_dir


def eval_cfg(ckpt, *overrides: str):
    value = "[" + ",".join(map(str, ckpt)) + "]" if isinstance(ckpt, (list, tuple)) else str(ckpt)
    return compose_cfg("eval", [f"ckpt={value}", "eval.batch_size=2", "eval.limit_batches=1", *overrides])


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- crop sets -------------------------------------------------------------------------------------------------
def test_crop_sets_are_config_with_the_papers_geometry():
    cfg = compose_cfg("eval", ["ckpt=x"])
    sets = {name: crop_set_from_cfg(name, cfg.crop_sets) for name in ("single", "10", "12", "144")}
    assert {name: s.num_views for name, s in sets.items()} == {"single": 1, "10": 10, "12": 12, "144": 144}
    assert sets["144"].shorter_sides(224) == [256, 288, 320, 352]  # GoogLeNet §7
    assert sets["144"].shorter_sides(299) == [342, 384, 427, 470]  # docs/reference.md#evaluation: x 299/224 (our assumption)
    assert sets["12"].shorter_sides(299) == [342] and sets["12"].squares == 1
    assert sets["single"].central
    custom = compose_cfg("eval", ["ckpt=x", "+crop_sets.mine={scales:[256],squares:1,corners:false,mirror:true}",
                                  "eval.crops=mine"])
    assert crop_set_from_cfg(custom.eval.crops, custom.crop_sets).num_views == 2  # full square + mirror
    with pytest.raises(EvalError, match="no such crop set"):
        crop_set_from_cfg("7", cfg.crop_sets)
    with pytest.raises(EvalError, match="squares must be 1"):
        CropSet.from_config({"scales": [256], "squares": 2}, "bad")
    with pytest.raises(EvalError, match="unknown key"):
        CropSet.from_config({"scales": [256], "flips": True}, "bad")


def test_multi_crop_counts_shapes_and_mirrors():
    image = torch.rand(2, 3, 80, 100)  # landscape: squares run left / centre / right
    cfg = compose_cfg("eval", ["ckpt=x"])
    for name, count in (("10", 10), ("12", 12), ("144", 144)):
        cs = crop_set_from_cfg(name, cfg.crop_sets)
        views = multi_crop_batch(image, 75, cs.shorter_sides(75), cs.squares, cs.corners, cs.full_square, cs.mirror)
        assert views.shape == (2, count, 3, 75, 75)
        assert torch.equal(views[:, 1::2], views[:, 0::2].flip(-1))  # every view is followed by its mirror image
    # 12 crops at one scale: corner crop 0 is the top-left input-size crop of the centre square, an exact slice
    side = crop_set_from_cfg("12", cfg.crop_sets).shorter_sides(75)[0]
    scaled = torch.nn.functional.interpolate(image, size=(side, round(100 * side / 80)), mode="bilinear",
                                             align_corners=False, antialias=True)
    left = round((scaled.shape[-1] - side) / 2)
    views = multi_crop_batch(image, 75, [side], squares=1, corners=True, full_square=True, mirror=True)
    assert torch.allclose(views[:, 0], scaled[:, :, :75, left:left + 75])


def test_constant_image_gives_identical_views_for_files_and_tensors(tmp_path):
    path = tmp_path / "grey.png"
    Image.new("RGB", (120, 90), (77, 77, 77)).save(path)
    cs = CropSet.from_config({"scales": [256, 288, 320, 352], "squares": 3, "mirror": True}, "144")

    class Base:  # the data module's EvalTransform attributes MultiCropFileTransform reads
        mode, exif_transpose, interpolation = "RGB", True, "bilinear"

    file_views = MultiCropFileTransform(Base(), cs, 75)(path)
    assert file_views.shape == (144, 3, 75, 75) and file_views.dtype == torch.uint8
    assert bool((file_views == 77).all())
    tensor_views = multi_crop_batch(torch.full((1, 3, 90, 120), 77 / 255), 75, cs.shorter_sides(75), 3)
    assert tensor_views.shape == (1, 144, 3, 75, 75)
    assert torch.allclose(tensor_views, torch.full_like(tensor_views, 77 / 255), atol=1e-6)


# ---- evaluation of a trained checkpoint --------------------------------------------------------------------------
def test_eval_single_12_and_144_crops_on_a_trained_checkpoint(tiny_run):
    results_before = _sha(tiny_run / "results.json")
    records = {}
    for crops in ("single", "12", "144"):  # the digits run trained without flips: eval.mirror=true forces them
        records[crops] = evaluate(eval_cfg(tiny_run, f"eval.crops={crops}", "eval.mirror=true"))
    for crops, views in (("single", 1), ("12", 12), ("144", 144)):
        record = records[crops]
        assert record["crops"]["views"] == views and record["members"][0]["views"] == views
        assert record["num_images"] == 2 and record["members"][0]["weights"] == "raw"
        assert 0.0 <= record["metrics"]["top1"] <= record["metrics"]["top5"] <= 1.0
        assert math.isfinite(record["metrics"]["loss"])
        written = tiny_run / "eval" / f"last-val-{crops}.json"
        assert json.loads(written.read_text())["crops"]["name"] == crops
    assert records["144"]["crops"]["shorter_sides_px"] == [86, 96, 107, 118]  # 256..352 x 75/224
    assert records["144"]["published"][0]["source"] == "Rethinking Table 4"  # v3 at 144 crops
    assert _sha(tiny_run / "results.json") == results_before  # the run's own record is never touched

    # an earlier evaluation is not overwritten unless asked
    with pytest.raises(EvalError, match="exists"):
        evaluate(eval_cfg(tiny_run, "eval.crops=12"))
    # by default (eval.mirror=auto) a network trained without flips gets the unmirrored half of the protocol
    auto = evaluate(eval_cfg(tiny_run, "eval.crops=12", "eval.overwrite=true"))
    assert auto["crops"]["views"] == 6 and auto["members"][0]["views"] == 6 and not auto["members"][0]["mirrored"]
    assert auto["crops"]["protocol_mirrors"] and auto["crops"]["mirror_rule"] == "auto"
    with pytest.raises(EvalError, match="eval.mirror=maybe"):
        evaluate(eval_cfg(tiny_run, "eval.crops=12", "eval.overwrite=true", "eval.mirror=maybe"))


def test_single_crop_reproduces_the_runs_validation(tiny_run, tmp_path):
    """The run validated its first 2 batches of 16; the same images through eval give the same top-1 / top-5."""
    record = evaluate(eval_cfg(tiny_run, "eval.batch_size=16", "eval.limit_batches=2",
                               f"eval.output={tmp_path / 'single.json'}"))
    final = json.loads((tiny_run / "results.json").read_text())["metrics"]["final"]
    assert record["num_images"] == 32
    assert record["metrics"]["top1"] == pytest.approx(final["top1"], abs=1e-6)
    assert record["metrics"]["top5"] == pytest.approx(final["top5"], abs=1e-6)


def test_constant_image_predictions_equal_across_crops(tiny_run):
    loaded = load_checkpoint(tiny_run)
    cs = CropSet.from_config({"scales": [256, 288, 320, 352], "squares": 3, "mirror": True}, "144")
    views = multi_crop_batch(torch.full((2, 1, 75, 75), 0.3), 75, cs.shorter_sides(75), 3)
    per_view = view_log_probs(loaded.model, views, loaded.model.defaults.mean, loaded.model.defaults.std, chunk=64)
    assert per_view.shape == (2, 144, 10)
    # equal up to float32 round-off: oneDNN may pick another conv algorithm per batch shape, and a barely
    # trained network's log-probabilities reach -1e4, so the tolerance scales with their magnitude
    tol = 1e-5 * float(per_view.abs().max())
    assert torch.allclose(per_view, per_view[:, :1].expand_as(per_view), rtol=0, atol=tol)
    assert torch.allclose(mean_softmax_log(per_view, 1), per_view[:, 0], rtol=0, atol=tol)  # mean of equals


def test_ensemble_of_a_checkpoint_with_itself_equals_the_single_model(tiny_run, tmp_path):
    ckpt = tiny_run / "checkpoints" / "last.ckpt"
    single = evaluate(eval_cfg(ckpt, "eval.crops=10", f"eval.output={tmp_path / 'a.json'}"))
    pair = evaluate(eval_cfg([ckpt, ckpt], "eval.crops=10", f"eval.output={tmp_path / 'b.json'}"))
    assert pair["ensemble"] and len(pair["members"]) == 2
    for key in ("top1", "top5"):
        assert pair["metrics"][key] == single["metrics"][key]
    assert pair["metrics"]["loss"] == pytest.approx(single["metrics"]["loss"], rel=1e-9)
    assert pair["members"][0]["metrics"] == pair["members"][1]["metrics"]
    default = evaluate(eval_cfg([ckpt, ckpt], "eval.crops=single"))  # default place: the first member's run
    assert Path(default["output"]).parent == tiny_run / "eval" and Path(default["output"]).name.startswith("ensemble2-")


def test_ema_weights_are_used_when_the_checkpoint_has_them(tiny_run, tmp_path):
    """A checkpoint as Lightning's EMAWeightAveraging writes it: averaged weights in state_dict, raw ones in
    current_model_state. auto -> EMA; raw -> the raw weights."""
    checkpoint = torch.load(tiny_run / "checkpoints" / "last.ckpt", weights_only=True)
    raw = checkpoint["state_dict"]
    checkpoint["current_model_state"] = raw
    checkpoint["state_dict"] = {k: (v * 0.5 if v.is_floating_point() and "running_var" not in k else v)
                                for k, v in raw.items()}
    checkpoint["averaging_state"] = {"n_averaged": torch.tensor(3)}
    path = tmp_path / "run" / "checkpoints" / "ema.ckpt"
    path.parent.mkdir(parents=True)
    torch.save(checkpoint, path)
    ema = load_checkpoint(path)
    assert ema.weights == "ema" and ema.has_ema
    key = next(k for k in raw if k.endswith("fc.weight"))
    assert torch.equal(ema.model.state_dict()[key[len("model."):]], checkpoint["state_dict"][key])
    assert torch.equal(load_checkpoint(path, weights="raw").model.state_dict()[key[len("model."):]], raw[key])
    with pytest.raises(CheckpointError, match="no EMA weights"):
        load_checkpoint(tiny_run, weights="ema")


def test_image_files_go_through_pillow_multi_crop(tiny_run, tmp_path):
    """The same network pointed at an image folder (grayscale, 10 classes): views come from Pillow in the loader."""
    from inception_lab.data.testing import make_image_folder

    root = make_image_folder(tmp_path / "images", classes=[f"c{i}" for i in range(10)], per_class=1,
                             size=[(60, 45), (45, 60)])
    checkpoint = torch.load(tiny_run / "checkpoints" / "last.ckpt", weights_only=True)
    checkpoint["hyper_parameters"]["config"]["data"] = {
        "_target_": "inception_lab.data.ImageFolderDataModule", "root": "/elsewhere", "image_size": 75,
        "batch_size": 4, "num_workers": 0, "channels": 1}
    path = tmp_path / "run" / "checkpoints" / "last.ckpt"
    path.parent.mkdir(parents=True)
    torch.save(checkpoint, path)
    with pytest.raises(DataError, match="data"):  # the recorded root does not exist here
        evaluate(eval_cfg(path, "eval.crops=12"))
    record = evaluate(eval_cfg(path, "eval.crops=12", f"data.root={root}", "eval.limit_batches=null",
                               "eval.mirror=true"))
    assert record["num_images"] == 10 and record["members"][0]["views"] == 12
    assert (tmp_path / "run" / "eval" / "last-val-12.json").is_file()


def test_bad_checkpoints_are_one_clear_error(tiny_run, tmp_path):
    good = (tiny_run / "checkpoints" / "last.ckpt").read_bytes()
    (tmp_path / "truncated.ckpt").write_bytes(good[: len(good) // 2])
    (tmp_path / "text.ckpt").write_text("not a checkpoint\n")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.ckpt")
    torch.save({"state_dict": {}, "hyper_parameters": {}}, tmp_path / "other_lightning.ckpt")
    cases = {
        "truncated.ckpt": "not a readable PyTorch checkpoint",
        "text.ckpt": "not a readable PyTorch checkpoint",
        "foreign.ckpt": "not a Lightning checkpoint",
        "other_lightning.ckpt": "not an inception-lab checkpoint",
        "missing.ckpt": "no such checkpoint file",
    }
    for name, message in cases.items():
        with pytest.raises(CheckpointError, match=message):
            load_checkpoint(tmp_path / name)
    with pytest.raises(CheckpointError, match="without checkpoints/last.ckpt"):
        load_checkpoint(tmp_path)


def test_cli_error_line_and_exit_status(tiny_run, tmp_path):
    good = (tiny_run / "checkpoints" / "last.ckpt").read_bytes()
    (tmp_path / "truncated.ckpt").write_bytes(good[:1000])
    proc = run_cli(["ckpt=truncated.ckpt"], cwd=tmp_path, script="inception-lab-eval", timeout=300)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "truncated.ckpt: not a readable PyTorch checkpoint" in errors[0]
    assert "Traceback" not in proc.stderr
    assert not any(tmp_path.glob("*.log")) and not (tmp_path / "outputs").exists()  # eval leaves no Hydra clutter
