"""Scale and tracking for real on the CPU: 2-process DDP (gloo), --multirun x DDP, W&B offline, resume."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import TINY, results_files
from inception_lab.results import read_results

pytestmark = pytest.mark.slow
DDP = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"]


@pytest.mark.ddp
def test_multirun_with_ddp_gives_one_sweep_dir_and_one_record_per_job(cli, tmp_path):
    """The Hydra multirun x Lightning DDP trap (runner-anchors B1): children must not start sweeps of their own."""
    proc = cli("--multirun", "optimizer=sgd,rmsprop", *DDP, *TINY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweeps = list((tmp_path / "outputs" / "multirun").glob("*/*"))
    assert len(sweeps) == 1, sweeps  # no extra sweep directories created by rank 1
    job_dirs = sorted(p for p in sweeps[0].iterdir() if p.is_dir())
    assert [p.name for p in job_dirs] == ["0", "1"]
    records = [read_results(p) for p in job_dirs]
    assert all(r["status"] == "completed" and r["hardware"]["devices"] == 2 for r in records)
    assert [r["config"]["optimizer"]["_target_"] for r in records] == ["torch.optim.SGD", "torch.optim.RMSprop"]
    assert "Starting with 2 processes" in proc.stderr
    assert len(results_files(tmp_path)) == 2


def test_wandb_offline_run_holds_the_metrics_and_config(cli, tmp_path):
    proc = cli("logger=[csv,wandb]", "regularizer=label_smoothing", "trainer.log_every_n_steps=1", *TINY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (record,) = [read_results(p) for p in results_files(tmp_path)]
    assert record["wandb"] and record["wandb"]["id"]
    (run_file,) = (tmp_path / "outputs").rglob("offline-run-*/run-*.wandb")
    data = run_file.read_bytes()  # protobuf records: metric and config keys are stored verbatim
    for key in (b"val/top1", b"val/top5", b"train/loss", b"model/params", b"label_smoothing"):
        assert key in data, key
    assert (tmp_path / "outputs").rglob("csv/metrics.csv")


def test_resume_continues_from_the_checkpoint(cli, tmp_path):
    first = cli(*TINY, "logger=none", "trainer.max_epochs=1")
    assert first.returncode == 0, first.stderr[-3000:]
    resumed = cli(*TINY, "logger=none", "trainer.max_epochs=2", "ckpt_path=last")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    records = sorted((read_results(p) for p in results_files(tmp_path)), key=lambda r: r["output_dir"])
    assert records[1]["resumed_from"].endswith("checkpoints/last.ckpt")
    assert records[1]["resumed_from"] == str(Path(records[0]["output_dir"]).resolve() / "checkpoints" / "last.ckpt")
    assert [row["epoch"] for row in records[1]["history"]] == [0, 1]  # epoch 0 restored, epoch 1 trained
    assert records[1]["history"][0] == records[0]["history"][0]
    assert records[1]["steps"] == 2 * records[0]["steps"]


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04truncated"])
def test_bad_checkpoint_is_one_clear_error(cli, tmp_path, content):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(content)
    proc = cli(*TINY, f"ckpt_path={bad}")
    assert proc.returncode == 2
    assert f"ckpt_path={bad}: not a readable checkpoint" in proc.stderr
    assert "Traceback" not in proc.stderr
