"""`inception-lab-predict` (top-k per image, CSV + JSON, bad files named) and `inception-lab-eval model.pretrained=...`
(weights without a run: their conventions, class matching by name, ensembles with a trained run), both with a lab
checkpoint as the weights."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from conftest import compose_cfg, run_cli
from inception_lab.evaluate import EvalError, evaluate

QUIET = ["logger=none", "~callbacks.throughput", "~callbacks.learning_rate_monitor"]


pytestmark = pytest.mark.usefixtures("one_thread")




@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    from inception_lab.data.testing import make_image_folder

    return make_image_folder(tmp_path_factory.mktemp("photos"), classes=[f"c{i}" for i in range(5)], per_class=3,
                             size=[(90, 80), (80, 96)])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, photos) -> Path:
    """A real run on the 5-class folder (v3, quarter width, one step at lr 0 with BN momentum 1: BatchNorm
    statistics that fit these pictures, so the logits are finite and distinct)."""
    from inception_lab.cli.train import train

    run = tmp_path_factory.mktemp("run") / "run"
    run.mkdir()
    train(compose_cfg("config", ["data=imagefolder", f"data.root={photos}", "data.image_size=75",
                                 "data.num_workers=0", "data.batch_size=15", "model.width_mult=0.25", "optimizer=sgd",
                                 "optimizer.lr=0.0", "model.bn_momentum=1.0", "trainer.max_epochs=1",
                                 f"paths.output_dir={run}", *QUIET]))
    return run


# ---- inception-lab-predict -------------------------------------------------------------------------------------
def test_predict_a_folder_and_files_names_bad_images_and_predicts_the_rest(run_dir, photos, tmp_path):
    folder = tmp_path / "mixed"
    (folder / "sub").mkdir(parents=True)
    good = sorted((photos / "val").rglob("*.*"))
    for i, path in enumerate(good[:4]):
        (folder / "sub" / f"{i}{path.suffix}").write_bytes(path.read_bytes())
    (folder / "broken.jpg").write_bytes(good[0].read_bytes()[:300])  # truncated JPEG
    (folder / "text.png").write_text("not an image\n")
    (folder / "README.txt").write_text("ignored: not an image by name\n")
    extra = tmp_path / "extra.bmp"
    extra.write_bytes(good[5].read_bytes())  # a JPEG by content, named .bmp: still readable
    proc = run_cli([f"ckpt={run_dir}", f"images=[{folder},{extra},{tmp_path / 'gone.jpg'}]", "topk=3",
                    f"output={tmp_path / 'out' / 'pred'}"], cwd=tmp_path, script="inception-lab-predict", timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    skipped = [line for line in proc.stderr.splitlines() if line.startswith("skipped:")]
    assert len(skipped) == 3 and {Path(line.split(": ")[1]).name for line in skipped} == {
        "broken.jpg", "text.png", "gone.jpg"}
    rows = list(csv.DictReader((tmp_path / "out" / "pred.csv").open()))
    assert {Path(r["path"]).name for r in rows} == {f"{i}{p.suffix}" for i, p in enumerate(good[:4])} | {"extra.bmp"}
    record = json.loads((tmp_path / "out" / "pred.json").read_text())
    assert record["num_images"] == 5 and len(record["skipped"]) == 3 and record["ignored_non_images"] == 1
    assert record["conventions"]["input_size"] == 75 and record["source"]["ckpt"].endswith("last.ckpt")
    classes = json.loads((run_dir / "class_index.json").read_text())["class_names"]
    for row, prediction in zip(rows, record["predictions"]):
        probs = [float(row[f"probability_{k}"]) for k in (1, 2, 3)]
        assert probs == sorted(probs, reverse=True) and all(0 <= p <= 1 for p in probs)
        assert [row[f"class_{k}"] for k in (1, 2, 3)] == [t["class"] for t in prediction["top"]]
        assert all(t["class"] == classes[t["index"]] for t in prediction["top"])


def test_predict_matches_evaluation_and_works_from_pretrained_weights(run_dir, photos, tmp_path):
    """The same weights as a run and as model.pretrained give the same probabilities as the single-crop evaluation."""
    from inception_lab.cli.predict import run

    images = sorted((photos / "val").rglob("*.*"))
    by_run = run(compose_cfg("predict", [f"ckpt={run_dir}", f"images={photos / 'val'}", "topk=5",
                                         f"output={tmp_path / 'a'}"]))
    by_weights = run(compose_cfg("predict", [f"model.pretrained={run_dir / 'checkpoints' / 'last.ckpt'}",
                                             f"images={photos / 'val'}", "topk=5", f"output={tmp_path / 'b'}"]))
    assert by_weights["source"]["layout"] == "lab" and by_weights["conventions"] == by_run["conventions"]
    assert len(by_run["predictions"]) == len(images)
    for a, b in zip(by_run["predictions"], by_weights["predictions"]):
        assert [t["class"] for t in a["top"]] == [t["class"] for t in b["top"]]
        assert [t["probability"] for t in a["top"]] == pytest.approx([t["probability"] for t in b["top"]], abs=1e-6)
    record = evaluate(compose_cfg("eval", [f"ckpt={run_dir}", "eval.batch_size=4", f"eval.output={tmp_path / 'e.json'}",
                                           f"data.root={photos}"]))
    top1 = sum(p["top"][0]["class"] == Path(p["path"]).parent.name for p in by_run["predictions"]) / len(images)
    assert top1 == pytest.approx(record["metrics"]["top1"])


def test_predict_bad_input_is_one_error_line_and_keeps_earlier_outputs(run_dir, tmp_path):
    (tmp_path / "predictions.csv").write_text("earlier\n")
    (tmp_path / "only_text.jpg").write_text("no\n")
    cases = [
        ([f"ckpt={run_dir}", f"images={tmp_path / 'only_text.jpg'}", "output=new"], "could be read"),
        ([f"ckpt={run_dir}", f"images={tmp_path / 'only_text.jpg'}"], "predictions.csv exists"),
        ([f"images={tmp_path / 'only_text.jpg'}", "output=other"], "give one network"),
    ]
    for args, message in cases:
        proc = run_cli(args, cwd=tmp_path, script="inception-lab-predict", timeout=300)
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert proc.returncode == 2 and len(errors) == 1 and message in errors[0], proc.stderr[-1500:]
        assert "Traceback" not in proc.stderr
    assert (tmp_path / "predictions.csv").read_text() == "earlier\n" and not (tmp_path / "new.csv").exists()


# ---- inception-lab-eval model.pretrained=... -------------------------------------------------------------------
def eval_cfg(*overrides: str):
    return compose_cfg("eval", ["eval.batch_size=4", *overrides])


def test_eval_pretrained_weights_use_their_conventions_and_equal_the_checkpoint_path(run_dir, photos, tmp_path):
    weights = run_dir / "checkpoints" / "last.ckpt"
    as_run = evaluate(eval_cfg(f"ckpt={run_dir}", "eval.crops=12", f"eval.output={tmp_path / 'run.json'}"))
    as_weights = evaluate(eval_cfg(f"model.pretrained={weights}", "data=imagefolder", f"data.root={photos}",
                                   "data.num_workers=0", "eval.crops=12", f"eval.output={tmp_path / 'w.json'}"))
    member = as_weights["members"][0]
    assert member["kind"] == "pretrained" and member["weights_cfg"]["layout"] == "lab"
    assert member["conventions"] == as_run["members"][0]["conventions"]
    assert member["conventions"]["input_size"] == 75 and member["conventions"]["crop_fraction"] == 0.875
    assert member["classes"] == "all classes, matched by name" and member["views"] == 12
    assert as_weights["metrics"] == pytest.approx(as_run["metrics"])
    mixed = evaluate(eval_cfg(f"ckpt={run_dir}", f"model.pretrained={weights}", "data=imagefolder",
                              f"data.root={photos}", "data.num_workers=0", f"eval.output={tmp_path / 'mix.json'}"))
    single = evaluate(eval_cfg(f"ckpt={run_dir}", f"eval.output={tmp_path / 'single.json'}"))
    assert [m["kind"] for m in mixed["members"]] == ["ckpt", "pretrained"]
    assert mixed["metrics"] == pytest.approx(single["metrics"])  # the same network twice = that network


def test_eval_pretrained_scores_a_subset_folder_over_its_classes_by_name(run_dir, photos, tmp_path):
    from inception_lab.data.testing import make_image_folder

    subset = make_image_folder(tmp_path / "subset", classes=["c1", "c3"], per_class=2, size=(90, 80), seed=7)
    weights = run_dir / "checkpoints" / "last.ckpt"
    record = evaluate(eval_cfg(f"model.pretrained={weights}", "data=imagefolder", f"data.root={subset}",
                               "data.num_workers=0", "data.image_size=80", f"eval.output={tmp_path / 's.json'}"))
    assert record["members"][0]["classes"].startswith("2 of the weights' 5 classes")
    assert record["members"][0]["conventions"]["input_size"] == 80  # the command line wins over the weights
    other = make_image_folder(tmp_path / "other", classes=["dog", "c1"], per_class=1, size=(90, 80))
    with pytest.raises(EvalError, match="not among the weights' 5 .*first unknown: dog"):
        evaluate(eval_cfg(f"model.pretrained={weights}", "data=imagefolder", f"data.root={other}",
                          "data.num_workers=0", f"eval.output={tmp_path / 'o.json'}"))
    with pytest.raises(EvalError, match="add data=imagefolder"):
        evaluate(eval_cfg(f"model.pretrained={weights}", f"eval.output={tmp_path / 'n.json'}"))


def test_eval_cli_names_the_conventions_in_its_summary(run_dir, photos, tmp_path):
    weights = run_dir / "checkpoints" / "last.ckpt"
    proc = run_cli([f"model.pretrained={weights}", "data=imagefolder", f"data.root={photos}", "data.num_workers=0",
                    "eval.batch_size=4"], cwd=tmp_path, script="inception-lab-eval", timeout=300,
                   env={"COLUMNS": "400"})  # one table row per line
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = " ".join(proc.stdout.split())
    assert "lab layout" in out and "mean 0.5/0.5/0.5, std 0.5/0.5/0.5, 75 px, crop 0.875, bilinear" in out
    assert (tmp_path / "eval" / "pretrained-last-val-single.json").is_file()
