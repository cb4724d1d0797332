"""Cluster sweeps: a dry run that shows each job (hydra/launcher=plan), and a job cut by its time limit that
resumes by itself (submitit's local executor plays SLURM's part: the signal, the requeue)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import BIN, results_files
from inception_lab.results import read_results

EPOCHS = 8


def test_plan_prints_every_job_and_the_slurm_request_and_runs_nothing(cli, tmp_path):
    proc = cli("--multirun", "trainer=ddp_slurm", "trainer.num_nodes=4", "trainer.devices=8",
               "hydra.launcher.partition=gpu", "optimizer=sgd,rmsprop", "seed=range(2)", "hydra/launcher=plan")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    out = proc.stdout
    assert "plan: 4 jobs" in out and "every job: trainer=ddp_slurm trainer.num_nodes=4 trainer.devices=8" in out
    for job in ("optimizer=sgd seed=0", "optimizer=sgd seed=1", "optimizer=rmsprop seed=0", "optimizer=rmsprop seed=1"):
        assert f": {job}  |  v3 x0.25, Digits @ 75 px, 8 devices x 4 nodes, 10 epochs" in out, job
    assert "partition=gpu, nodes=4, tasks_per_node=8, gpus_per_node=8" in out and "max_num_timeout=20" in out
    assert not results_files(tmp_path) and not list(tmp_path.rglob("checkpoints"))
    assert not list(tmp_path.rglob(".submitit"))  # nothing was submitted


def test_multirun_with_cfg_is_one_error_line_pointing_at_the_plan(cli):
    proc = cli("--multirun", "trainer=ddp_slurm", "optimizer=sgd,rmsprop", "--cfg", "job")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error:") and "hydra/launcher=plan" in line


def _submitit_tasks() -> list[int]:
    """PIDs of this machine's submitit task processes (the job itself, not the local controller)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"submitit.core._submit" in cmdline:
                pids.append(int(entry.name))
    return pids


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the task process through /proc")
def test_a_timed_out_submitit_job_is_requeued_and_resumes_from_its_checkpoint(tmp_path):
    args = ["--multirun", "trainer=ddp_slurm", "hydra/launcher=submitit_local", "trainer.accelerator=cpu",
            "trainer.devices=1", "trainer.strategy=auto", "trainer.precision=32-true", "model.width_mult=0.25",
            f"trainer.max_epochs={EPOCHS}", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1",
            "data.batch_size=16", "logger=none"]
    env = {**os.environ, "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "0"}
    before = set(_submitit_tasks())
    sweep = subprocess.Popen([str(BIN / "inception-lab"), *args], cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 600
        checkpoint = None
        while checkpoint is None and time.monotonic() < deadline and sweep.poll() is None:
            found = list((tmp_path / "outputs" / "multirun").glob("*/*/0/checkpoints/last.ckpt"))
            checkpoint = found[0] if found else None
            time.sleep(0.1)
        assert checkpoint is not None, "the job wrote no checkpoint before it ended"
        tasks = [pid for pid in _submitit_tasks() if pid not in before]
        assert len(tasks) == 1
        os.kill(tasks[0], signal.SIGUSR2)  # what SLURM sends signal_delay_s before the time limit
        out, err = sweep.communicate(timeout=900)
    finally:
        if sweep.poll() is None:
            sweep.kill()
        for pid in set(_submitit_tasks()) - before:  # never leave a job running behind a failed test
            os.kill(pid, signal.SIGKILL)
    assert sweep.returncode == 0, err[-3000:]
    job_dir = checkpoint.parents[1]
    record = read_results(job_dir)
    assert record["status"] == "completed"
    assert record["resumed_from"] == str(checkpoint.resolve())
    assert [row["epoch"] for row in record["history"]] == list(range(EPOCHS))  # nothing lost, nothing repeated
    logs = "".join(p.read_text() for p in (job_dir.parent / ".submitit").rglob("*_log.err"))
    assert "Caught signal SIGUSR2" in logs and "Restoring states from the checkpoint" in logs
    assert "1 jobs: 1 completed" in out
