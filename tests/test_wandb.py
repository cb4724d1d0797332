"""W&B offline: a resumed run continues its W&B run, checkpoints become artifacts, a sweep's jobs share a group."""

from __future__ import annotations

import base64
import hashlib

import pytest

from conftest import TINY, load_json

pytestmark = pytest.mark.slow


def wandb_env(tmp_path):
    # artifacts are staged under WANDB_DATA_DIR; keep them (and W&B's caches) inside the test's directory
    return {key: str(tmp_path / "wandb-home" / key.lower()) for key in ("WANDB_DATA_DIR", "WANDB_CACHE_DIR",
                                                                        "WANDB_CONFIG_DIR")}


def run_file(run_dir, run_id):
    (path,) = (run_dir / "wandb").glob(f"offline-run-*-{run_id}/run-{run_id}.wandb")
    return path.read_bytes()


def test_resume_continues_the_wandb_run_and_log_model_uploads_the_checkpoint(cli, tmp_path):
    env = wandb_env(tmp_path)
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first = cli("logger=wandb", "logger.wandb.log_model=true", *TINY, f"hydra.run.dir={first_dir}", env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    run = load_json(first_dir / "wandb.json")
    assert run["id"] == load_json(first_dir / "results.json")["wandb"]["id"]
    logged = run_file(first_dir, run["id"])
    # the best checkpoint as a W&B model artifact: its name, its file and that file's MD5 in the run's record
    digest = base64.b64encode(hashlib.md5((first_dir / "checkpoints" / "epoch000.ckpt").read_bytes()).digest())
    assert f"model-{run['id']}".encode() in logged and b'"original_filename":"epoch000.ckpt"' in logged
    assert digest in logged

    second = cli("logger=wandb", *TINY, "trainer.max_epochs=2", f"ckpt_path={first_dir}",
                 f"hydra.run.dir={second_dir}", env=env)
    assert second.returncode == 0, second.stderr[-2000:]
    record = load_json(second_dir / "results.json")
    assert record["resumed_from"] == str(first_dir / "checkpoints" / "last.ckpt") and record["epochs"] == 2
    assert record["wandb"]["id"] == run["id"]  # the same W&B run, not a new one
    resumed = load_json(second_dir / "wandb.json")
    assert resumed["id"] == run["id"] and resumed["name"] == run["name"]  # kept its name too
    assert run["name"].encode() in run_file(second_dir, run["id"])

    fresh = cli("logger=wandb", *TINY, f"hydra.run.dir={tmp_path / 'fresh'}", env=env)  # no resume: a new run
    assert fresh.returncode == 0 and load_json(tmp_path / "fresh" / "wandb.json")["id"] != run["id"]


def test_the_jobs_of_a_sweep_share_a_wandb_group_named_after_it(cli, tmp_path):
    proc = cli("--multirun", "seed=0,1", "logger=wandb", *TINY, "trainer.limit_train_batches=1",
               "trainer.limit_val_batches=1", env=wandb_env(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    (sweep,) = (tmp_path / "outputs" / "multirun").glob("*/*")
    group = str(sweep.relative_to(tmp_path / "outputs"))  # multirun/<date>/<time>
    runs = [load_json(sweep / job / "wandb.json") for job in ("0", "1")]
    assert [r["group"] for r in runs] == [group, group] and runs[0]["id"] != runs[1]["id"]
    for job, run in zip(("0", "1"), runs):
        assert group.encode() in run_file(sweep / job, run["id"])
