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
    assert not (tmp_path / "outputs").exists()  # refused before Hydra created a run directory


def test_a_bad_value_in_a_sweep_job_is_recorded_and_the_sweep_goes_on(cli, tmp_path):
    proc = cli("--multirun", "optimizer.lr=-1,0.01", *TINY, "logger=none")
    assert proc.returncode == 1  # a job failed
    assert "error: job failed: optimizer.lr=-1: must be a number >= 0" in proc.stderr
    records = sorted((load_json(p) for p in results_files(tmp_path)), key=lambda r: r["output_dir"])
    assert [r["status"] for r in records] == ["failed", "completed"]
    assert "2 jobs: 1 completed, 0 diverged, 1 failed" in proc.stdout


def test_a_second_run_into_the_same_dir_is_refused_unless_it_overwrites(cli, tmp_path):
    """The documented torchrun form fixes hydra.run.dir: running it again must not replace the first run."""
    args = [*TINY, "logger=none", "hydra.run.dir=fixed"]
    first = cli(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    run = tmp_path / "fixed"
    kept = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    again = cli(*args)
    assert again.returncode == 2 and "Traceback" not in again.stderr
    assert f"error: {run} already holds a run (results.json and checkpoints/): resume it with ckpt_path={run}, " \
           "replace it with overwrite=true, or pick another hydra.run.dir" in again.stderr
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == kept
    replaced = cli(*args, "overwrite=true", "seed=1")
    assert replaced.returncode == 0, replaced.stderr[-3000:]
    record = load_json(run / "results.json")
    assert record["status"] == "completed" and "seed=1" in record["overrides"] and record["resumed_from"] is None
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["epoch000.ckpt", "last.ckpt"]


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
