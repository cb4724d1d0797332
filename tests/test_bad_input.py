"""Bad input, as a user types it: one ``error:`` line naming the key, the value and the valid range, exit status 2,
no traceback, and nothing written: an existing run directory stays byte for byte (and mtime) as it was.

The training cases run into that existing directory (``hydra.run.dir``): they pass only if the value is refused
before Hydra writes its ``.hydra/`` record and log there. Every case fails before training (most before torch is
imported), so each costs a few seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from conftest import run_cli
from inception_lab.config_path import CONFIG_DIR


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A folder holding an earlier run (results.json, checkpoints, Hydra's record, log), an earlier sweep, and a
    file that is not a checkpoint."""
    root = tmp_path_factory.mktemp("bad_input")
    for run in (root / "run", root / "sweep" / "0"):
        (run / "checkpoints").mkdir(parents=True)
        (run / ".hydra").mkdir()
        (run / "results.json").write_text(json.dumps({"status": "completed", "note": "an earlier run"}))
        (run / "checkpoints" / "last.ckpt").write_bytes(b"an earlier run's checkpoint")
        (run / ".hydra" / "overrides.yaml").write_text("- seed=1\n")
        (run / "train.log").write_text("an earlier run's log\n")
    (root / "sweep" / "multirun.yaml").write_text("an earlier sweep\n")
    (root / "notes.ckpt").write_text("not a checkpoint\n")
    return root


TRAIN_CASES = {
    # model
    "width_mult=0": (["model.width_mult=0"], "model.width_mult=0: must be a number > 0"),
    "drop_rate": (["model.drop_rate=1.5"], "model.drop_rate=1.5: must be a number in [0, 1)"),
    "stem": (["model.stem=5x5"], "model.stem=5x5: must be one of 3x3, 7x7, table1"),
    "model name": (["model.name=inceptoin_v3"], "did you mean 'inception_v3'"),
    "model switch": (["+model.foo=1"], "model.foo: model v3 has no such switch; its switches are: width_mult"),
    # data
    "batch_size=0": (["data.batch_size=0"], "data.batch_size=0: must be an integer >= 1"),
    "val_fraction": (["data.val_fraction=1.0"], "data.val_fraction=1.0: must be a number in (0, 1)"),
    "crop_area": (["data=imagefolder", "data.crop_area=[0.5,0.1]"], "data.crop_area=[0.5,0.1]: must be a pair"),
    "no data.root": (["data=imagefolder"], "data.root is not set: pass data.root="),
    "missing data.root": (["data=cifar10", "data.root=/no/such/folder"], "data.root=/no/such/folder does not exist"),
    # optimizer
    "lr<0": (["optimizer.lr=-1"], "optimizer.lr=-1: must be a number >= 0"),
    "momentum": (["optimizer=sgd", "optimizer.momentum=1.5"], "optimizer.momentum=1.5: must be a number in [0, 1)"),
    "betas": (["optimizer=adamw", "optimizer.betas=[0.9,1.5]"], "optimizer.betas=[0.9,1.5]: must be a pair"),
    "optimizer key": (["+optimizer.foo=1"], "optimizer.foo: inception_lab.optim.RMSpropTF takes no argument 'foo'"),
    # scheduler
    "decay_rate": (["scheduler=step_decay", "scheduler.decay_rate=0"], "scheduler.decay_rate=0: must be a number in (0, 1]"),
    "warmup": (["scheduler.warmup_epochs=-1"], "scheduler.warmup_epochs=-1: must be a number >= 0"),
    # regularizer
    "label_smoothing": (["regularizer.label_smoothing=1.5"], "regularizer.label_smoothing=1.5: must be a number in [0, 1)"),
    "weight_decay": (["regularizer.weight_decay=-0.1"], "regularizer.weight_decay=-0.1: must be a number >= 0"),
    # trainer
    "max_epochs=0": (["trainer.max_epochs=0"], "trainer.max_epochs=0: must be an integer >= 1 (or null); 0 trains nothing"),
    "max_steps=0": (["trainer.max_steps=0"], "trainer.max_steps=0: must be an integer >= 1 (or -1)"),
    "limit_train_batches=0": (["trainer.limit_train_batches=0"], "trainer.limit_train_batches=0: must be an integer >= 1"),
    "devices=0": (["trainer.devices=0"], "trainer.devices=0: must be an integer >= 1 (or -1 or auto)"),
    "precision": (["trainer.precision=17"], "trainer.precision=17: must be one of auto,"),
    # checkpoint, run directory, top-level keys
    "checkpoint_every_n_steps": (["checkpoint_every_n_steps=-5"], "checkpoint_every_n_steps=-5: must be an integer >= 0"),
    "missing ckpt": (["ckpt_path=no/such.ckpt"], "ckpt_path=no/such.ckpt: no such checkpoint file"),
    "not a ckpt": (["ckpt_path={root}/notes.ckpt"], "/notes.ckpt: not a readable PyTorch checkpoint"),
    "loss_bound": (["divergence.loss_bound=0"], "divergence.loss_bound=0: must be a number > 0 (or null)"),
    "run dir holds a run": ([], "already holds a run (results.json and checkpoints/): resume it with ckpt_path="),
}


def _assert_one_error_line(proc, expected: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr[-2000:]
    assert expected in errors[0], errors[0]
    assert "Traceback" not in proc.stderr + proc.stdout and "Epoch 0" not in proc.stderr + proc.stdout


@pytest.mark.parametrize("case", list(TRAIN_CASES))
def test_bad_training_input_is_one_line_and_changes_nothing(workspace, case):
    overrides, expected = TRAIN_CASES[case]
    before = _snapshot(workspace)
    args = [o.format(root=workspace) for o in overrides]
    proc = run_cli([*args, f"hydra.run.dir={workspace / 'run'}"], cwd=workspace, timeout=120)
    _assert_one_error_line(proc, expected.format(root=workspace))
    assert _snapshot(workspace) == before  # not even Hydra's record of the config or its log


def test_a_sweep_into_a_sweep_dir_that_holds_runs_is_one_line(workspace):
    before = _snapshot(workspace)
    proc = run_cli(["--multirun", "optimizer=sgd,adamw", f"hydra.sweep.dir={workspace / 'sweep'}"], cwd=workspace,
                   timeout=120)
    _assert_one_error_line(proc, "already holds a sweep (jobs 0 have results.json or checkpoints): replace them with "
                                 "overwrite=true")
    assert _snapshot(workspace) == before


def test_a_bad_value_that_a_sweep_does_not_sweep_ends_it_before_any_job(workspace):
    proc = run_cli(["--multirun", "optimizer=sgd,adamw", "trainer.max_epochs=0"], cwd=workspace, timeout=120)
    _assert_one_error_line(proc, "trainer.max_epochs=0: must be an integer >= 1")
    assert not (workspace / "outputs").exists()


EVAL_CASES = {
    "no ckpt": ([], "ckpt is required: inception-lab-eval ckpt=<run dir or .ckpt>"),
    "missing ckpt": (["ckpt=no/such.ckpt"], "ckpt=no/such.ckpt: no such checkpoint file"),
    "crop set": (["ckpt={root}/run", "eval.crops=7"], "eval.crops=7: no such crop set; choose one of single, 10, 12, 144"),
    "split": (["ckpt={root}/run", "eval.split=test"], "eval.split must be one of val, train, got 'test'"),
    "batch_size=0": (["ckpt={root}/run", "eval.batch_size=0"], "eval.batch_size=0: must be an integer >= 1 (or null)"),
    "views_per_forward=0": (["ckpt={root}/run", "eval.views_per_forward=0"],
                            "eval.views_per_forward=0: must be an integer >= 1"),
}


@pytest.mark.parametrize("case", list(EVAL_CASES))
def test_bad_eval_input_is_one_line_and_changes_nothing(workspace, case):
    overrides, expected = EVAL_CASES[case]
    before = _snapshot(workspace)
    proc = run_cli([o.format(root=workspace) for o in overrides], cwd=workspace, script="inception-lab-eval",
                   timeout=120)
    _assert_one_error_line(proc, expected)
    assert _snapshot(workspace) == before


REPORT_CASES = {
    "missing sweep dir": (["no/such/sweep"], "error: no readable results.json under no/such/sweep"),
    "width=0": (["{root}/run", "--width", "0"], "argument --width: --width=0: must be an integer >= 1"),
    "format": (["{root}/run", "--format", "pdf"], "argument --format: unknown format pdf; choose from md, csv, png"),
}


@pytest.mark.parametrize("case", list(REPORT_CASES))
def test_bad_report_input_is_one_line_and_changes_nothing(workspace, case):
    args, expected = REPORT_CASES[case]
    before = _snapshot(workspace)
    proc = run_cli([a.format(root=workspace) for a in args], cwd=workspace, script="inception-lab-report", timeout=120)
    _assert_one_error_line(proc, expected)
    assert _snapshot(workspace) == before


def test_the_choices_listed_for_the_data_group_are_the_data_modules_own():
    from inception_lab import validation
    from inception_lab.data import imagefolder, transforms

    assert validation.COLOR_JITTER == transforms.COLOR_JITTER_MODES
    assert set(validation.INTERPOLATIONS) == {*transforms.INTERPOLATIONS, transforms.RANDOM_INTERPOLATION}
    assert set(validation.VERIFY) == set(imagefolder.VERIFY_MODES)


def _cfg(tmp_path: Path, *overrides: str):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=[f"paths.output_dir={tmp_path}", *overrides])


def test_a_bug_keeps_its_traceback_and_bad_input_does_not(tmp_path, monkeypatch, capsys):
    """Only the errors raised on purpose for bad input become one line; a TypeError from our own code is a bug."""
    from inception_lab.cli import train as cli

    def buggy(cfg):
        raise TypeError("a bug in our code")

    monkeypatch.setattr(cli, "train", buggy)
    with pytest.raises(TypeError, match="a bug in our code"):
        cli.run_job(_cfg(tmp_path))
    assert json.loads((tmp_path / "results.json").read_text())["reason"] == "TypeError: a bug in our code"

    monkeypatch.undo()
    (tmp_path / "results.json").unlink()
    with pytest.raises(SystemExit) as exit_info:
        cli.run_job(_cfg(tmp_path, "optimizer.lr=-1"))
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "error: optimizer.lr=-1: must be a number >= 0; the base learning rate, e.g. optimizer.lr=0.045 (RMSProp); "
        "0 keeps the weights")
