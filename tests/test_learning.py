"""The default network learns: `inception-lab` with nothing but a 3-epoch budget (v3 at quarter width, the
embedded digits, RMSProp (TF) with 1 warm-up epoch and a cosine, seed 0), then `inception-lab-eval` on its run
directory, as a user runs it.

The bar: final validation top-1 >= 50% and a last-epoch mean training loss <= 1.2, against 10% and ln 10 = 2.30
for a network that learns nothing. Seeds 0-4 end at 73.6-88.1% top-1 (82.2% at seed 0) and 0.40-0.72 loss, so
the bar is 23 points and 0.48 below the worst of them: another CPU's rounding cannot cross it, while a loss, label,
optimizer or schedule that does not train stays near chance. Validation before the last epoch is not a measure of
learning here (its BatchNorm statistics lag the fast-moving weights: epochs 1-2 score 10-30%), so only the final
epoch is asserted. About 60 s of CPU time.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from conftest import run_cli
from inception_lab.config_path import CONFIG_DIR

pytestmark = pytest.mark.slow

EPOCHS = 3
TOP1_BAR = 0.50
TRAIN_LOSS_BAR = 1.2
VAL_IMAGES = 360  # 20% of the 1,797 digits, stratified


@pytest.fixture(scope="module")
def learned_run(tmp_path_factory) -> tuple[Path, dict]:
    from inception_lab.cli.train import train

    run_dir = tmp_path_factory.mktemp("learned") / "run"
    run_dir.mkdir()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"trainer.max_epochs={EPOCHS}", "logger=none",
                                                       f"paths.output_dir={run_dir}"])
    return run_dir, train(cfg)


def test_the_default_network_learns_the_digits(learned_run):
    _, record = learned_run
    assert record["status"] == "completed" and record["epochs"] == EPOCHS
    assert record["steps"] == EPOCHS * 23  # 1,437 training digits in batches of 64
    final = record["metrics"]["final"]
    assert final["top1"] >= TOP1_BAR, record["history"]
    assert record["train_loss"]["last_epoch"] <= TRAIN_LOSS_BAR, record["history"]
    assert record["train_loss"]["first_step"] > 2.0  # it started from nothing
    # the schedule as the history records it at each epoch's end: warmed up after epoch 1 (0.045), halfway down
    # the cosine after epoch 2 (0.0225), at its floor after the last step
    assert [row["lr"] for row in record["history"]] == pytest.approx([0.045, 0.0225, 0.0], abs=1e-12)
    assert (record["model"]["params"], record["model"]["flops"]) == (1_382_658, 33_127_712)


def test_eval_cli_reproduces_the_learned_runs_validation(learned_run, tmp_path):
    """`inception-lab-eval ckpt=<run dir>`: exit 0, the summary table printed, the record written, and the single
    crop scoring what the run's own last validation scored on the same images."""
    run_dir, record = learned_run
    proc = run_cli([f"ckpt={run_dir}"], cwd=tmp_path, script="inception-lab-eval", timeout=300,
                   env={"COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    written = json.loads((run_dir / "eval" / "last-val-single.json").read_text())
    metrics, final = written["metrics"], record["metrics"]["final"]
    assert written["num_images"] == VAL_IMAGES and written["members"][0]["views"] == 1
    assert math.isclose(metrics["top1"], final["top1"], abs_tol=1.5 / VAL_IMAGES)  # one near-tie may flip
    assert math.isclose(metrics["top5"], final["top5"], abs_tol=1.5 / VAL_IMAGES)
    assert metrics["top1"] >= TOP1_BAR

    out = proc.stdout
    assert "inception-lab-eval · single crops" in out
    rows = {m.group(1).strip(): m.group(2).strip() for m in re.finditer(r"│ ([^│]+?) +│ (.+?) +│", out)}
    assert rows["top-1 / top-5 error"] == f"{metrics['top1_err']:.2f}% / {metrics['top5_err']:.2f}%"
    assert rows["images"] == f"{VAL_IMAGES} (val split)"
    assert rows["run's own val (final)"] == f"{final['top1_err']:.2f}% / {final['top5_err']:.2f}%"
    assert rows["NLL of mean softmax"] == f"{metrics['loss']:.4f}"
