"""The papers' ablations as configs: every experiment composes to the intended keys; sweeps survive divergence."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from conftest import TINY, results_files
from inception_lab.config_path import CONFIG_DIR
from inception_lab.results import read_results

EXPERIMENTS = sorted(
    str(p.relative_to(Path(CONFIG_DIR) / "experiment").with_suffix(""))
    for p in (Path(CONFIG_DIR) / "experiment").rglob("*.yaml")
)


def compose_experiment(name: str, *overrides: str):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("config", overrides=[f"+experiment={name}", *overrides], return_hydra_config=False)


def test_every_paper_table_has_its_experiments():
    assert {e.split("/")[0] for e in EXPERIMENTS} >= {"table2", "table3", "residual_scaling", "paper_recipe"}
    assert len([e for e in EXPERIMENTS if e.startswith("table3/")]) == 5


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_composes_and_names_itself(name):
    cfg = compose_experiment(name, *(["data.root=/data/imagenet"] if name.startswith("paper_recipe/") else []))
    OmegaConf.to_container(cfg, resolve=False)  # no missing interpolation targets
    assert cfg.experiment_name == name
    assert cfg.wandb.group == name.split("/")[0] and cfg.wandb.tags


# Rethinking Table 3: each row keeps every change above it (docs/reference.md#table3).
TABLE3 = {
    "table3/v2": ("v2", "7x7", "torch.optim.SGD", 0.0, False),
    "table3/rmsprop": ("v2", "7x7", "inception_lab.optim.RMSpropTF", 0.0, False),
    "table3/label_smoothing": ("v2", "7x7", "inception_lab.optim.RMSpropTF", 0.1, False),
    "table3/factorized_7x7": ("v2", "3x3", "inception_lab.optim.RMSpropTF", 0.1, False),
    "table3/bn_aux": ("v2", "3x3", "inception_lab.optim.RMSpropTF", 0.1, True),
}


@pytest.mark.parametrize("name", sorted(TABLE3))
def test_table3_rows_are_cumulative(name):
    cfg = compose_experiment(name)
    model, stem, optimizer, smoothing, bn_aux = TABLE3[name]
    assert (cfg.model.name, cfg.model.stem, cfg.optimizer._target_) == (model, stem, optimizer)
    assert cfg.regularizer.label_smoothing == smoothing and cfg.model.aux_bn_fc is bn_aux
    assert cfg.trainer.gradient_clip_val == 2.0  # held fixed in every row


def test_table3_last_row_is_inception_v3():
    from inception_lab.models import create_model
    from inception_lab.models.cost import build_meta, count_parameters

    switches = {k: v for k, v in OmegaConf.to_container(compose_experiment("table3/bn_aux").model).items()
                if k not in ("name", "width_mult")}
    switches["aux_logits"] = True
    row = build_meta("v2", **switches)
    assert count_parameters(row) == count_parameters(build_meta("v3")) == 27_161_264
    assert type(row) is type(create_model("v3", width_mult=0.25))


@pytest.mark.parametrize(
    ("name", "image_size", "first_stride"), [("table2/r299", 299, 2), ("table2/r151", 151, 1), ("table2/r79", 79, 1)]
)
def test_table2_sets_size_and_stem_together(name, image_size, first_stride):
    cfg = compose_experiment(name)
    assert (cfg.model.name, cfg.data.image_size, cfg.model.first_stride) == ("v2", image_size, first_stride)


def test_residual_scaling_switches_scaling_off_and_on():
    assert compose_experiment("residual_scaling/ir_v2_unscaled").model.residual_scale == 1.0
    assert compose_experiment("residual_scaling/ir_v2_scaled").model.residual_scale == "reference"
    assert compose_experiment("residual_scaling/v4_control").model.name == "v4"


def test_paper_recipe_turns_on_clipping_ema_and_smoothing():
    cfg = compose_experiment("paper_recipe/v3", "data.root=/data/imagenet")
    assert cfg.trainer.gradient_clip_val == 2.0 and cfg.regularizer.label_smoothing == 0.1
    assert cfg.callbacks.ema._target_.endswith("EMAWeightAveraging") and cfg.callbacks.ema.decay == 0.9999
    assert cfg.optimizer.lr == 0.045 and cfg.scheduler.decay_rate == 0.94


@pytest.mark.slow
def test_table3_rows_run_as_one_sweep(cli, tmp_path):
    proc = cli("--multirun", "+experiment=table3/v2,table3/rmsprop", *TINY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [read_results(p) for p in results_files(tmp_path)]
    assert sorted(r["experiment"] for r in records) == ["table3/rmsprop", "table3/v2"]
    assert all(r["status"] == "completed" for r in records)


@pytest.mark.slow
def test_a_diverged_job_is_recorded_and_the_sweep_goes_on(cli, tmp_path):
    proc = cli("--multirun", "optimizer.lr=0.01,1e9,0.02", *TINY)
    assert proc.returncode == 0, proc.stderr[-3000:]  # divergence is a result, not a failure
    records = {r["config"]["optimizer"]["lr"]: r for r in map(read_results, results_files(tmp_path))}
    assert records[1e9]["status"] == "diverged" and records[1e9]["diverged_at_step"] is not None
    assert records[0.01]["status"] == records[0.02]["status"] == "completed"
    assert "3 jobs: 2 completed, 1 diverged, 0 failed" in proc.stdout
