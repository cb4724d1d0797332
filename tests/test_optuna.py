"""``hparams_search=optuna``: a real 3-trial Optuna study on the digits through Hydra's Optuna sweeper."""

from __future__ import annotations

import math

import pytest
import yaml

from conftest import TINY, load_json

pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="needs the [optuna] extra")

pytestmark = pytest.mark.slow

SEARCHED = {"optimizer.lr": (0.005, 0.2), "regularizer.label_smoothing": (0.0, 0.2),
            "optimizer.weight_decay": (1e-6, 1e-3)}


def test_three_trial_study_reports_failures_as_fail_and_saves_the_best(cli, tmp_path):
    # Two extra categorical dimensions make a trial diverge at its first step (a loss bound below any loss) or fail
    # on bad input (8 px is below Inception-v3's minimum). Seed 10's draws (optuna 2.x): completed, failed, diverged.
    proc = cli("hparams_search=optuna", "hydra.sweeper.n_trials=3", "seed=10", "logger=none", *TINY,
               "divergence.loss_bound=choice(1e4,1e-3)", "data.image_size=choice(75,8)")
    assert "3 jobs: 1 completed, 1 diverged, 1 failed" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.returncode == 1  # a failed job fails the sweep's exit status, after the study finished

    (sweep,) = (tmp_path / "outputs" / "multirun").glob("*/*")
    study = load_json(sweep / "optuna_study.json")
    assert [t["number"] for t in study["trials"]] == [0, 1, 2]
    for trial in study["trials"]:
        record = load_json(sweep / str(trial["number"]) / "results.json")
        assert trial["run_status"] == record["status"]
        assert set(trial["params"]) == {*SEARCHED, "divergence.loss_bound", "data.image_size"}
        for key, (low, high) in SEARCHED.items():
            assert low <= trial["params"][key] <= high
            assert f"{key}={trial['params'][key]}" in record["overrides"]  # the job ran with Optuna's choice
        if record["status"] == "completed":
            assert trial["state"] == "COMPLETE"
            assert math.isclose(trial["value"], record["metrics"]["best"]["top1"])
        else:  # diverged or failed: a FAIL trial without a value, and the study went on
            assert trial["state"] == "FAIL" and trial["value"] is None
    (completed,) = [t for t in study["trials"] if t["state"] == "COMPLETE"]
    assert study["best_trial"] == completed
    saved = yaml.safe_load((sweep / "optimization_results.yaml").read_text())  # the sweeper's own file
    assert saved["best_params"] == completed["params"] and math.isclose(saved["best_value"], completed["value"])
    assert f"best trial {completed['number']}: val top-1 {100 * completed['value']:.2f}%" in proc.stdout
