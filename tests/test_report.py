"""`inception-lab-report` on a synthetic sweep directory whose results.json files come from the real writer."""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import pytest
import yaml

from conftest import run_cli
from inception_lab.cli.report import main as report_main
from inception_lab.config_path import CONFIG_DIR
from inception_lab.paper_numbers import (
    MULTI_CROP,
    PAPER_TABLES,
    SINGLE_CROP,
    VERIFY_FLAG,
    published_for,
    published_row,
)
from inception_lab.report import load
from inception_lab.results import summarize_history, write_results

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
COMMON = ["model.width_mult=0.25", "trainer.max_epochs=3"]


def _history(top1s: list[float], losses: list[float | None], steps_per_epoch: int = 10) -> list[dict]:
    return [
        {"epoch": e, "step": (e + 1) * steps_per_epoch, "val_loss": 2.0 - 0.1 * e, "val_top1": t1,
         "val_top5": min(1.0, t1 + 0.3), "train_loss": loss, "lr": 0.045}
        for e, (t1, loss) in enumerate(zip(top1s, losses))
    ]


def _write_run(job_dir: Path, overrides: list[str], experiment: str | None, status: str = "completed",
               history: list[dict] | None = None, model: str = "v3", reason: str | None = None,
               diverged_at_step: int | None = None) -> Path:
    """A run directory as the runner leaves it: .hydra/ and a results.json written by write_results."""
    (job_dir / ".hydra").mkdir(parents=True)
    (job_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    history = history or []
    record = {
        "status": status,
        "reason": reason,
        "run_name": ",".join(overrides),
        "overrides": overrides,
        "experiment": experiment,
        "output_dir": str(job_dir),
        "model": {"name": model, "params": 1_382_658, "params_with_aux": 1_400_000, "flops": 33_127_712,
                  "macs": 16_563_856, "input_size": 75},
        "model_args": {"name": model},
        "metrics": summarize_history(history),
        "history": history,
        "train_loss": {"first_step": 2.7, "last_epoch": None, "min_epoch": None},
        "epochs": len(history),
        "steps": history[-1]["step"] if history else 0,
        "images_per_second": 123.4 if status == "completed" else None,
        "wall_time_s": 75.0,
        "diverged_at_step": diverged_at_step,
        "config": {"experiment_name": experiment, "seed": 0, "model": {"name": model}},
    }
    write_results(job_dir, record)
    return job_dir / "results.json"


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """A multirun-shaped directory: Table 3 rows (one diverged, one failed), Table 2, the residual-scaling sweep,
    a plain run, a job without results.json, and broken records."""
    root = tmp_path / "multirun" / "2026-11-21" / "10-00-00"
    root.mkdir(parents=True)
    (root / "multirun.yaml").write_text("hydra: {}\n")
    jobs = [
        # listed out of the paper's order on purpose: the report must restore it
        ("table3/rmsprop", "completed", _history([0.5, 0.7, 0.75], [None, 1.5, 1.0]), "v2", None, None),
        ("table3/v2", "completed", _history([0.4, 0.6, 0.7], [None, 1.8, 1.2]), "v2", None, None),
        ("table3/label_smoothing", "diverged", _history([0.3], [None]), "v2", None, 14),
        ("table3/bn_aux", "failed", [], "v3", "DataError: data.root is not set", None),
        ("table2/r151", "completed", _history([0.5, 0.6], [None, 1.4]), "v2", None, None),
        ("residual_scaling/ir_v1_scaled", "completed", _history([0.5, 0.8, 0.9], [None, 1.0, 0.5]),
         "inception_resnet_v1", None, None),
        ("residual_scaling/ir_v1_unscaled", "diverged", _history([0.1], [None]), "inception_resnet_v1", None, 7),
        ("residual_scaling/v4_control", "completed", _history([0.4, 0.6, 0.7], [None, 1.6, 1.1]), "v4", None, None),
    ]
    for number, (experiment, status, history, model, reason, step) in enumerate(jobs):
        _write_run(root / str(number), [f"+experiment={experiment}", *COMMON], experiment, status, history, model,
                   reason, step)
    _write_run(root / "8", ["optimizer=sgd", *COMMON], None, history=_history([0.2, 0.3], [None, 2.0]))
    (root / "9" / ".hydra").mkdir(parents=True)  # killed before it wrote results.json
    (root / "10" / ".hydra").mkdir(parents=True)
    (root / "10" / "results.json").write_text('{"status": "completed", "run_na')  # truncated
    (root / "11" / ".hydra").mkdir(parents=True)
    (root / "11" / "results.json").write_text('{"schema_version": 1, "status": "completed"}')  # keys missing
    bad = _write_run(root / "12", ["optimizer=adamw", *COMMON], None)
    text = bad.read_text()
    bad.write_text(re.sub(r'"metrics": \{.*?\n  \}', '"metrics": [1, 2]', text, count=1, flags=re.S))
    return root


def test_report_on_a_sweep_writes_table_files_and_plots(sweep, tmp_path, capsys):
    out = tmp_path / "out"
    status = report_main([str(sweep), "--out", str(out), "--width", "220"])
    terminal = capsys.readouterr()
    assert status == 1  # bad files were skipped: written anyway, but the exit status says so

    for name in ("report.md", "report.csv", "val_error.png", "train_loss.png", "residual_scaling.png"):
        assert (out / name).is_file(), name
    for name in ("val_error.png", "train_loss.png", "residual_scaling.png"):
        assert (out / name).read_bytes()[:8] == PNG_MAGIC and (out / name).stat().st_size > 5000

    rows = list(csv.DictReader((out / "report.csv").open()))
    runs = [r for r in rows if r["status"] != "unreadable"]
    assert len(runs) == 9 and len(rows) == 9 + 4  # one seed each: a row per run (diverged, failed too) + 4 unreadable
    assert len(list(csv.DictReader((out / "runs.csv").open()))) == 9 + 4
    by_experiment = {r["experiment"]: r for r in runs}
    rms = by_experiment["table3/rmsprop"]
    assert float(rms["paper_imagenet_top1_err"]) == 23.1 and float(rms["paper_imagenet_top5_err"]) == 6.3
    assert "delta_top1" not in rms  # the paper's ImageNet error is never subtracted from ours
    assert math.isclose(float(rms["top1_err_best"]), 25.0, abs_tol=1e-9)
    assert math.isclose(float(rms["top1_err_mean"]), 25.0, abs_tol=1e-9)  # final epoch, one seed
    assert rms["top1_err_std"] == rms["top1_err_ci95"] == ""  # one seed: no spread
    assert rms["seeds"] == "1" and rms["completed"] == "1" and rms["seed_list"] == "0"
    # its effect: rmsprop (25.0) minus v2 (30.0) on our runs, beside the paper's 23.1 - 23.4
    assert math.isclose(float(rms["effect_above_top1"]), -5.0, abs_tol=1e-9) and rms["effect_above_vs"] == "v2"
    assert float(rms["effect_above_paper"]) == pytest.approx(-0.3) and rms["effect_above_sign_agrees"] == "yes"
    assert rms["effect_above_top1_ci95"] == "" and rms["effect_above_excludes_zero"] == ""  # one seed each
    assert rms["paper_source"] == "Rethinking Table 3" and rms["name"] == "rmsprop" and rms["row"] == "rmsprop"
    assert rms["run_name"].startswith("+experiment=table3/rmsprop")  # the full name from the overrides is kept
    assert by_experiment["table3/v2"]["paper_imagenet_top5_err"] == ""  # the paper gives no top-5 for that row
    assert by_experiment["table2/r151"]["paper_source"] == "Rethinking Table 2"
    assert by_experiment["table3/label_smoothing"]["status"] == "diverged"
    assert by_experiment["table3/label_smoothing"]["diverged_at_step"] == "14"
    assert by_experiment["table3/label_smoothing"]["top1_err_mean"] == ""  # statistics over completed seeds only
    assert by_experiment["table3/bn_aux"]["reason"] == "DataError: data.root is not set"
    assert float(by_experiment["residual_scaling/ir_v1_scaled"]["paper_imagenet_top1_err"]) == 21.3
    assert float(by_experiment["table3/v2"]["flops_g"]) == pytest.approx(0.033127712)
    # table3 rows come out in the paper's order, not the directory order
    order = [r["experiment"] for r in runs if r["group"] == "table3"]
    assert order == ["table3/v2", "table3/rmsprop", "table3/label_smoothing", "table3/bn_aux"]
    unreadable = {Path(r["results_path"]).parent.name: r["reason"] for r in rows if r["status"] == "unreadable"}
    assert set(unreadable) == {"9", "10", "11", "12"}
    assert "missing results.json" in unreadable["9"]
    assert "not valid JSON" in unreadable["10"]
    assert "missing key(s)" in unreadable["11"]
    assert "metrics is a list" in unreadable["12"]

    markdown = (out / "report.md").read_text()
    assert "## table3: Rethinking Table 3" in markdown and "## residual_scaling:" in markdown
    assert "| rmsprop | 1 | completed | 25.00 | - | - | 0.00 | - | - | 25.00 | 2.0 | 1.38 M |" in markdown
    assert "| 23.10 / 6.30 | Rethinking Table 3 |" in markdown  # the paper's ImageNet numbers, beside ours
    assert "| rmsprop | v2 | top-1 err (final, %) | 25.00 | 30.00 | -5.00 | - | - | - | -0.30 | yes |" in markdown
    assert VERIFY_FLAG not in markdown
    assert "All rows: `model.width_mult=0.25,trainer.max_epochs=3`" in markdown
    diverged_section = markdown.split("## Diverged and failed runs")[1]
    assert "`label_smoothing`: diverged at step 14" in diverged_section
    assert "`bn_aux`: failed: DataError: data.root is not set" in diverged_section
    assert "`ir_v1_unscaled`: diverged at step 7" in diverged_section
    assert "## Unreadable results (skipped)" in markdown and "![residual_scaling](residual_scaling.png)" in markdown

    assert "9 runs: 6 completed, 2 diverged, 1 failed; 4 unreadable" in terminal.out
    assert "Rethinking Table 3" in terminal.out and "diverged @ step 14" in terminal.out
    assert "missing results.json" in terminal.out
    assert "Traceback" not in terminal.err


def test_report_formats_and_default_out_dir(sweep, capsys):
    status = report_main([str(sweep / "0"), str(sweep / "5"), "--format", "csv", "--out", str(sweep / "r")])
    assert status == 0
    assert sorted(p.name for p in (sweep / "r").iterdir()) == ["report.csv", "runs.csv"]
    status = report_main([str(sweep / "8")])  # one run dir -> <run>/report/, all formats
    assert status == 0
    written = {p.name for p in (sweep / "8" / "report").iterdir()}
    assert {"report.md", "report.csv", "val_error.png", "train_loss.png"} <= written
    assert report_main([str(sweep)]) == 1  # the earlier report/ folders are not mistaken for runs
    capsys.readouterr()


def test_nothing_readable_is_one_error_and_status_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert report_main([str(tmp_path / "empty"), str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        f"error: no readable results.json under {tmp_path / 'empty'}, {tmp_path / 'nope'}"]


def test_console_script_runs(sweep, tmp_path):
    proc = run_cli([str(sweep / "1"), "--out", str(tmp_path / "o"), "--format", "md"], cwd=tmp_path,
                   script="inception-lab-report", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "v2" in proc.stdout and (tmp_path / "o" / "report.md").is_file()
    assert run_cli(["--format", "pdf", "x"], cwd=tmp_path, script="inception-lab-report").returncode == 2


def test_load_groups_and_names(sweep):
    report = load([sweep])
    assert [g.key for g in report.groups] == ["table3", "table2", "residual_scaling", "runs"]
    (plain,) = [r for r in report.runs if r.group == "runs"]
    assert plain.name == "optimizer=sgd,model.width_mult=0.25,trainer.max_epochs=3"  # alone: nothing to factor out
    runs = {r.experiment: r for r in report.runs}
    assert runs["table3/v2"].name == "v2" and runs["table3/v2"].published.top1_err == 23.4
    assert runs["table3/v2"].group == "table3" and runs["table3/bn_aux"].status == "failed"


def test_paper_numbers_match_the_experiment_configs():
    """Every published row is keyed by an experiment file that sets exactly that experiment_name."""
    for family, table in PAPER_TABLES.items():
        for key, published in table.rows.items():
            config = yaml.safe_load((Path(CONFIG_DIR) / "experiment" / f"{key}.yaml").read_text())
            assert config["experiment_name"] == key
            assert published.source and published.paper
        assert key.startswith(family + "/")
    assert not any(p.verify for p in PAPER_TABLES["table2"].rows.values())  # checked against the paper's text
    assert [p.top1_err for p in PAPER_TABLES["table2"].rows.values()] == [23.4, 23.6, 24.8]  # 76.6 / 76.4 / 75.2 %
    assert published_row("table3/bn_aux").top1_err == 21.2 and published_row("table9/x") is None
    assert SINGLE_CROP["inception_resnet_v2"][0].top5_err == 4.9
    assert [p.top1_err for p in published_for(["v3"], 12)] == [19.47, 19.8]
    assert [p.top1_err for p in published_for(["inception_resnet_v2", "v4", "inception_resnet_v2",
                                               "inception_resnet_v2"], 144)] == [16.5]
    assert all(len(p.models) >= 1 and p.crops in (1, 10, 12, 144) for p in MULTI_CROP)
