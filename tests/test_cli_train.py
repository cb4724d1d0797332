"""The `inception-lab` command end to end, as a user runs it (real subprocess, tiny width, CPU)."""

from __future__ import annotations

import math

import pytest

from conftest import TINY, load_json, results_files
from inception_lab.results import read_results


def test_single_run_writes_valid_results(cli, tmp_path):
    proc = cli(*TINY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = results_files(tmp_path / "outputs" / "runs")
    record = read_results(path)
    assert record["status"] == "completed"
    assert record["model"]["name"] == "v3"
    assert (record["model"]["params"], record["model"]["flops"]) == (1_382_658, 33_127_712)  # the README's figures
    for key in ("top1_err", "top5_err", "loss"):
        assert math.isfinite(record["metrics"]["final"][key])
    assert 0.0 <= record["metrics"]["best"]["top1_err"] <= 100.0
    assert record["epochs"] == 1 and record["steps"] == 3
    assert record["config"]["model"]["width_mult"] == 0.25  # the resolved config travels with the result
    assert "model.width_mult=0.25" in record["overrides"]
    assert record["versions"]["torch"] and record["wall_time_s"] > 0
    assert (path.parent / "checkpoints" / "last.ckpt").is_file()
    assert "val top-1" in proc.stdout  # the rich summary table


def test_multirun_runs_each_job_in_its_own_dir(cli, tmp_path):
    proc = cli("--multirun", "optimizer=sgd,rmsprop", *TINY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    paths = results_files(tmp_path / "outputs" / "multirun")
    assert len(paths) == 2
    records = [read_results(p) for p in paths]
    assert {r["config"]["optimizer"]["_target_"] for r in records} == {"torch.optim.SGD", "torch.optim.RMSprop"}
    assert all(r["status"] == "completed" for r in records)
    assert "2 jobs: 2 completed, 0 diverged, 0 failed" in proc.stdout


def test_unknown_model_group_option_is_one_clear_error(cli, tmp_path):
    proc = cli("model=resnet50")
    assert proc.returncode != 0
    assert "Could not find 'model/resnet50'" in proc.stderr
    assert "v3" in proc.stderr  # Hydra lists the available options


def test_unknown_model_name_is_one_error_line(cli, tmp_path):
    proc = cli("model.name=inceptoin_v3", *TINY)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len([line for line in lines if line.startswith("error:")]) == 1
    assert "unknown model 'inceptoin_v3'" in proc.stderr and "did you mean 'inception_v3'" in proc.stderr
    assert load_json(results_files(tmp_path)[0])["status"] == "failed"  # recorded, nothing crashed


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["data.image_size=74", "model.aux_logits=false"], "the minimum is 75"),
        (["data.image_size=100", "model.aux_logits=true"], "the minimum is 299"),
    ],
)
def test_input_too_small_for_v3(cli, overrides, expected):
    proc = cli(*overrides, *TINY)
    assert proc.returncode == 2
    assert expected in proc.stderr and "error:" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_help_and_cfg_job(cli):
    help_text = cli("--help").stdout
    for group in ("model", "optimizer", "regularizer", "resolution", "data", "trainer", "logger"):
        assert f"{group}:" in help_text
    cfg = cli("--cfg", "job", "model=v3", "regularizer=label_smoothing").stdout
    assert "label_smoothing: 0.1" in cfg and "name: v3" in cfg
