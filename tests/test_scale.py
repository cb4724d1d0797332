"""Scale and tracking for real on the CPU: 2-process DDP (gloo), --multirun x DDP, W&B offline, resume."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from conftest import BIN, TINY, results_files
from inception_lab.config_path import CONFIG_DIR
from inception_lab.results import read_results

pytestmark = pytest.mark.slow
DDP = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"]


@pytest.mark.ddp
def test_multirun_with_ddp_gives_one_sweep_dir_and_one_record_per_job(cli, tmp_path):
    """The Hydra multirun x Lightning DDP trap (docs/reference.md#ddp-in-sweeps): children must not start sweeps of their own."""
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


@pytest.mark.ddp
def test_submitit_local_sweep_runs_each_job_as_one_ddp_group_of_submitit_tasks(cli, tmp_path):
    """The SLURM path (trainer=ddp_slurm: one submitit job per sweep point, one task per device) with the local
    executor: each job's 2 tasks become ranks 0 and 1 of its own DDP group, nothing relaunched by Lightning."""
    proc = cli("--multirun", "trainer=ddp_slurm", "hydra/launcher=submitit_local", "trainer.accelerator=cpu",
               "trainer.devices=2", "trainer.precision=32-true", "optimizer=sgd,rmsprop", *TINY, "logger=none")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (sweep,) = (tmp_path / "outputs" / "multirun").glob("*/*")
    records = [read_results(sweep / job) for job in ("0", "1")]
    assert all(r["status"] == "completed" and r["hardware"]["devices"] == 2 for r in records)
    assert [r["config"]["optimizer"]["_target_"] for r in records] == ["torch.optim.SGD", "torch.optim.RMSprop"]
    assert "2 jobs: 2 completed" in proc.stdout
    jobs = sorted(p for p in (sweep / ".submitit").iterdir() if list(p.glob("*_log.err")))
    assert len(jobs) == 2  # one submitit job per sweep point
    for job in jobs:
        logs = "".join(p.read_text() for p in sorted(job.glob("*_log.err")))
        assert len(list(job.glob("*_log.err"))) == 2  # two tasks
        assert "GLOBAL_RANK: 0, MEMBER: 1/2" in logs and "GLOBAL_RANK: 1, MEMBER: 2/2" in logs


@pytest.mark.ddp
def test_torchrun_starts_the_ranks_of_one_run(cli, tmp_path):
    """README's torchrun command: torchrun creates the processes, Lightning adopts them, one shared run dir."""
    args = ["--nproc_per_node=2", "-m", "inception_lab.cli.train", *DDP, *TINY, "logger=none"]
    proc = cli(*args, "hydra.run.dir=outputs/torchrun", script="torchrun")
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = read_results(tmp_path / "outputs" / "torchrun")
    assert record["status"] == "completed" and record["hardware"]["devices"] == 2
    assert "Starting with 2 processes" in proc.stderr and len(results_files(tmp_path)) == 1
    forgot = cli(*args, script="torchrun")
    assert forgot.returncode != 0
    assert "error: under torchrun every rank must write to the same directory: add hydra.run.dir=" in forgot.stderr


def test_ddp_slurm_wires_the_slurm_job_to_the_trainer():
    """trainer=ddp_slurm: nodes x GPUs come from the trainer, time and partition are launcher overrides."""
    overrides = ["trainer=ddp_slurm", "trainer.num_nodes=4", "trainer.devices=8", "hydra.launcher.partition=gpu",
                 "hydra.launcher.timeout_min=600"]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides, return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert (launcher.nodes, launcher.tasks_per_node, launcher.gpus_per_node) == (4, 8, 8)
    assert (launcher.partition, launcher.timeout_min) == ("gpu", 600)
    assert (cfg.trainer.strategy, cfg.trainer.accelerator, cfg.trainer.precision) == ("ddp", "gpu", "bf16-mixed")


def test_wandb_offline_run_holds_the_metrics_and_config(cli, tmp_path):
    proc = cli("logger=[csv,wandb]", "regularizer=label_smoothing", "trainer.log_every_n_steps=1", *TINY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (record,) = [read_results(p) for p in results_files(tmp_path)]
    assert record["wandb"] and record["wandb"]["id"]
    (run_file,) = (tmp_path / "outputs").rglob("offline-run-*/run-*.wandb")
    data = run_file.read_bytes()  # protobuf records: metric and config keys are stored verbatim
    for key in (b"val/top1", b"val/top5", b"train/loss", b"model/params", b"label_smoothing"):
        assert key in data, key
    (metrics_csv,) = (tmp_path / "outputs").rglob("csv/metrics.csv")  # the csv logger ran beside W&B
    header = metrics_csv.read_text().splitlines()[0].split(",")
    assert {"val/top1", "val/top5", "train/loss"} <= set(header), header


def test_each_sweep_job_is_its_own_wandb_run(cli, tmp_path):
    """docs/reference.md#wandb-one-run-per-job: a sweep that reuses one W&B run logs every job into the first; each job must get its own
    run (finished between jobs), named after its overrides, holding its own config."""
    proc = cli("--multirun", "optimizer=sgd,adamw", "logger=wandb", "trainer.log_every_n_steps=1", *TINY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (sweep,) = (tmp_path / "outputs" / "multirun").glob("*/*")
    records = [read_results(sweep / job) for job in ("0", "1")]
    ids = [r["wandb"]["id"] for r in records]
    assert all(ids) and len(set(ids)) == 2
    for job, record, optimizer in (("0", records[0], b"SGD"), ("1", records[1], b"AdamW")):
        (run_file,) = (sweep / job).rglob(f"offline-run-*-{record['wandb']['id']}/run-*.wandb")
        data = run_file.read_bytes()
        assert optimizer in data and b"val/top1" in data
        assert f"optimizer={optimizer.decode().lower()}".encode() in data  # run name: the job's overrides
    assert b"AdamW" not in next((sweep / "0").rglob("run-*.wandb")).read_bytes()


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


def test_resume_with_more_epochs_keeps_the_schedule_unless_told_to_stretch(cli, tmp_path):
    """A 1-epoch run (cosine after a 1-epoch warm-up, so the cosine ends where it starts) resumed for 3 epochs of 3
    steps: by default the schedule keeps its horizon (lr at the floor from step 4 on); schedule_horizon=stretch
    re-plans it over 3 epochs, so the end of the second epoch (step 6) is half-way down the cosine: 0.045 x 0.5."""
    first = cli(*TINY, "logger=none", "trainer.max_epochs=1", "hydra.run.dir=outputs/first")
    assert first.returncode == 0, first.stderr[-3000:]
    source = tmp_path / "outputs" / "first"
    for name, horizon in (("kept", "original"), ("stretched", "stretch")):
        resumed = cli(*TINY, "logger=none", "trainer.max_epochs=3", f"ckpt_path={source}",
                      f"schedule_horizon={horizon}", f"hydra.run.dir=outputs/{name}")
        assert resumed.returncode == 0, resumed.stderr[-3000:]
    kept, stretched = (read_results(tmp_path / "outputs" / n) for n in ("kept", "stretched"))
    assert kept["history"][0] == stretched["history"][0]  # the restored first epoch (lr 0.045 after its warm-up)
    assert [row["lr"] for row in kept["history"][1:]] == [0.0, 0.0]
    assert [row["lr"] for row in stretched["history"][1:]] == pytest.approx([0.0225, 0.0], abs=1e-9)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04truncated"])
def test_bad_checkpoint_is_one_clear_error(cli, tmp_path, content):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(content)
    proc = cli(*TINY, f"ckpt_path={bad}")
    assert proc.returncode == 2
    assert f"ckpt_path={bad}: not a readable PyTorch checkpoint" in proc.stderr
    assert "Traceback" not in proc.stderr


# 3 epochs of 7 steps, a checkpoint every 3 steps: steps 3, 6, 9, 12, ... are mid-epoch resume points
EXACT = ["model.width_mult=0.25", "trainer.max_epochs=3", "trainer.limit_train_batches=7", "trainer.limit_val_batches=3",
         "data.batch_size=16", "checkpoint_every_n_steps=3", "logger=none", "seed=3"]
STEPS_PER_EPOCH = 7


def _checkpoint_step(path: Path) -> int | None:
    try:
        return int(torch.load(path, map_location="cpu", weights_only=True)["global_step"])
    except Exception:  # not written yet
        return None


def _kill_after_a_mid_epoch_checkpoint(args: list[str], cwd: Path, checkpoint: Path) -> int:
    """Start a run, freeze all its processes (SIGSTOP) each time last.ckpt changes, SIGKILL them once the
    checkpoint is mid-epoch after the first epoch; return the checkpoint's step."""
    env = {**os.environ, "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "0"}
    proc = subprocess.Popen([str(BIN / "inception-lab"), *args], cwd=cwd, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    signal_all = lambda sig: os.killpg(proc.pid, sig)  # noqa: E731  (every rank, as a preempted job)
    seen = None
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            stamp = checkpoint.stat().st_mtime_ns if checkpoint.exists() else None
            if stamp is not None and stamp != seen:
                signal_all(signal.SIGSTOP)
                seen = checkpoint.stat().st_mtime_ns
                step = _checkpoint_step(checkpoint)
                if step is not None and step > STEPS_PER_EPOCH and step % STEPS_PER_EPOCH:
                    signal_all(signal.SIGKILL)
                    proc.wait()
                    return step
                signal_all(signal.SIGCONT)
            time.sleep(0.01)
        pytest.fail(f"the run ended (exit {proc.returncode}) before a mid-epoch checkpoint could be killed")
    finally:
        if proc.poll() is None:
            signal_all(signal.SIGKILL)
            proc.wait()


@pytest.mark.parametrize("setup", [["callbacks=default"], ["callbacks=[default,ema]"],
                                   pytest.param([*DDP, "data.batch_size=8"], marks=pytest.mark.ddp)],
                         ids=["plain", "ema", "ddp"])
def test_a_run_killed_mid_epoch_resumes_to_the_same_metrics(cli, tmp_path, setup):
    """SIGKILL after a mid-epoch checkpoint, resume with ckpt_path=<run dir>: weights, optimizer,
    scheduler, EMA, epoch, data order and random streams (dropout) continue, so every epoch's metrics equal an
    unbroken run's."""
    args = [*EXACT, *setup]
    unbroken = cli(*args, "hydra.run.dir=unbroken")
    assert unbroken.returncode == 0, unbroken.stderr[-3000:]
    killed_dir = tmp_path / "killed"
    step = _kill_after_a_mid_epoch_checkpoint([*args, "hydra.run.dir=killed"], tmp_path,
                                              killed_dir / "checkpoints" / "last.ckpt")
    assert not (killed_dir / "results.json").exists()
    resumed = cli(*args, "hydra.run.dir=killed", f"ckpt_path={killed_dir}")
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    expected, got = read_results(tmp_path / "unbroken"), read_results(killed_dir)
    assert got["resumed_from"] == str(killed_dir / "checkpoints" / "last.ckpt") and 0 < step < got["steps"]
    assert got["steps"] == expected["steps"] == 3 * STEPS_PER_EPOCH
    assert len(got["history"]) == len(expected["history"]) == 3
    for ours, theirs in zip(got["history"], expected["history"]):
        assert ours["step"] == theirs["step"] and ours["val_top1"] == theirs["val_top1"]
        assert ours["val_loss"] == pytest.approx(theirs["val_loss"], rel=1e-6, abs=1e-7)
        if "trainer=ddp" not in setup:  # the checkpoint holds rank 0's share of the epoch's running train loss
            assert ours["train_loss"] == pytest.approx(theirs["train_loss"], rel=1e-6, abs=1e-7)


def test_deterministic_runs_repeat_exactly_and_the_seed_matters(cli, tmp_path):
    args = [*TINY, "logger=none", "trainer.max_epochs=2", "trainer.deterministic=true"]
    runs = [cli(*args, f"seed={seed}", f"hydra.run.dir=seed{seed}_{i}") for i, seed in enumerate((5, 5, 6))]
    assert all(proc.returncode == 0 for proc in runs), [proc.stderr[-2000:] for proc in runs]
    first, again, other = (read_results(tmp_path / f"seed{seed}_{i}") for i, seed in enumerate((5, 5, 6)))
    untimed = [[{k: v for k, v in row.items() if k != "train_time_s"} for row in r["history"]] for r in (first, again)]
    assert untimed[0] == untimed[1] and first["train_loss"] == again["train_loss"]
    assert first["train_loss"]["first_step"] != other["train_loss"]["first_step"]


def test_compile_trains_and_its_checkpoint_resumes_without_compile(cli, tmp_path):
    """compile=true (aot_eager here: Dynamo + AOTAutograd without inductor's C++ build, minutes on 2 cores) compiles
    the network in place, so the checkpoint's keys are the plain ones and a run without compile resumes from it."""
    compiled = cli(*TINY, "logger=none", "compile=true", "compile_options.backend=aot_eager", "hydra.run.dir=compiled",
                   env={"TORCH_LOGS": "dynamo"})
    assert compiled.returncode == 0, compiled.stderr[-3000:]
    assert "compiler function aot_eager" in compiled.stderr  # Dynamo traced the network and handed it to the backend
    assert read_results(tmp_path / "compiled")["config"]["compile_options"]["backend"] == "aot_eager"
    state = torch.load(tmp_path / "compiled" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert "model.stem.Conv2d_1a_3x3.0.weight" in state and not any("_orig_mod" in key for key in state)
    resumed = cli(*TINY, "logger=none", "trainer.max_epochs=2", "ckpt_path=compiled", "hydra.run.dir=resumed")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    record = read_results(tmp_path / "resumed")
    assert record["status"] == "completed" and [row["epoch"] for row in record["history"]] == [0, 1]


def test_sync_batchnorm_on_cpu_ddp_is_one_error_line(cli, tmp_path):
    proc = cli(*DDP, "trainer.sync_batchnorm=true", *TINY, "logger=none")
    assert proc.returncode == 2
    assert "error: trainer.sync_batchnorm=true needs GPUs" in proc.stderr and "Traceback" not in proc.stderr
    assert "Starting with 2 processes" not in proc.stderr  # refused before any rank was started
