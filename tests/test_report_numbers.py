"""The numbers a run's summary, its results.json and inception-lab-report print, against hand-written values.

Histories go up and down (the best epoch is never the last), so a best taken from the wrong epoch, or a top-5
taken from another epoch than the best top-1, shows. Expected values are written out by hand, never computed by
the code under test.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import yaml

from inception_lab.cli.report import main as report_main
from inception_lab.console import console, print_summary
from inception_lab.results import summarize_history, write_results

COMMON = ["model.width_mult=0.25", "trainer.max_epochs=4"]
NAN = float("nan")


def history(top1: list[float], top5: list[float], loss: list[float]) -> list[dict]:
    return [{"epoch": e, "step": 10 * (e + 1), "val_loss": vl, "val_top1": t1, "val_top5": t5, "train_loss": 1.0,
             "lr": 0.01} for e, (t1, t5, vl) in enumerate(zip(top1, top5, loss))]


def test_best_is_the_epoch_with_the_best_top1_and_final_the_last():
    rows = history([NAN, 0.60, 0.75, 0.70], [NAN, 0.90, 0.95, 0.97], [NAN, 1.1, 0.8, 0.9])
    summary = summarize_history(rows)
    best, final = summary["best"], summary["final"]
    assert best["epoch"] == 2 and final["epoch"] == 3  # a NaN epoch (nothing validated) is never the best
    assert best["top1"] == 0.75 and best["top5"] == 0.95 and best["loss"] == 0.8  # top-5 of the best top-1 epoch
    assert best["top1_err"] == pytest.approx(25.0) and best["top5_err"] == pytest.approx(5.0)
    assert final["top1_err"] == pytest.approx(30.0) and final["top5_err"] == pytest.approx(3.0)
    assert final["loss"] == 0.9
    assert summarize_history([]) == {"final": None, "best": None}


def test_run_summary_prints_best_and_final_as_recorded(capsys, monkeypatch):
    monkeypatch.setattr(console, "width", 200)
    record = {
        "status": "completed", "run_name": "optimizer=sgd", "output_dir": "/runs/x",
        "model": {"name": "v3", "input_size": 75, "params": 1_382_658, "flops": 33_127_712, "aux_heads": False},
        "metrics": summarize_history(history([0.5, 0.8, 0.7], [0.8, 0.95, 0.9], [1.5, 0.7, 0.9123])),
        "epochs": 3, "steps": 69, "images_per_second": 310.25, "wall_time_s": 54.04,
    }
    print_summary(record)
    lines = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in capsys.readouterr().out.splitlines()
             if line.count("│") == 3}
    assert lines["val top-1 / top-5 (final, epoch 2)"] == "70.00% / 90.00%  (error 30.00% / 10.00%)"
    assert lines["val top-1 / top-5 (best, epoch 1)"] == "80.00% / 95.00%  (error 20.00% / 5.00%)"
    assert lines["val loss (final)"] == "0.9123"
    assert lines["params"] == "1,382,658" and lines["FLOPs / image (forward)"] == "0.033 G"
    assert lines["epochs / steps"] == "3 / 69" and lines["train images/s"] == "310.2"
    assert lines["wall time"] == "54.0 s"


# (choice, seed, status, diverged at, top-1 per epoch, top-5 per epoch, val loss per epoch)
RUNS = [
    ("+experiment=table3/rmsprop", 0, "completed", None, [0.50, 0.80, 0.70], [0.80, 0.95, 0.90], [1.5, 0.7, 0.9]),
    ("+experiment=table3/v2", 0, "completed", None, [0.30, 0.65, 0.60, 0.62], [0.70, 0.90, 0.85, 0.97],
     [2.0, 1.0, 1.1, 1.05]),
    ("+experiment=table3/label_smoothing", 0, "diverged", 25, [0.40, 0.10], [0.70, 0.50], [1.2, NAN]),
    ("optimizer=sgd", 0, "completed", None, [0.20, 0.45, 0.44], [0.60, 0.80, 0.81], [2.2, 1.6, 1.7]),
    ("optimizer=sgd", 1, "completed", None, [0.30, 0.52, 0.40], [0.70, 0.85, 0.80], [2.1, 1.5, 1.8]),
    ("optimizer=adamw", 0, "completed", None, [0.55, 0.35], [0.90, 0.70], [1.3, 1.9]),
]
# per run, in the report's order (table3 in the paper's order, then the plain runs as found):
# (row, seed, best top-1 / top-5 err, best epoch, final top-1 / top-5 err, final epoch, epochs)
EXPECTED_RUNS = [
    ("v2", 0, 35.0, 10.0, 1, 38.0, 3.0, 3, 4),
    ("rmsprop", 0, 20.0, 5.0, 1, 30.0, 10.0, 2, 3),
    ("label_smoothing", 0, 60.0, 30.0, 0, 90.0, 50.0, 1, 2),
    ("optimizer=sgd", 0, 55.0, 20.0, 1, 56.0, 19.0, 2, 3),
    ("optimizer=sgd", 1, 48.0, 15.0, 1, 60.0, 20.0, 2, 3),
    ("optimizer=adamw", 0, 45.0, 10.0, 0, 65.0, 30.0, 1, 2),
]
# what the tables print per row, over its completed seeds: final top-1 err mean, std, 95% half-width, final top-5
# err mean, best top-1 err mean, best epoch mean. sgd: finals 56 / 60 -> mean 58, std 2 sqrt 2 = 2.83, half-width
# t(0.975, 1) x 2.83 / sqrt 2 = 12.7062 x 2 = 25.41; top-5 19 / 20 -> 19.50; bests 55 / 48 -> 51.50
EXPECTED_ROWS = {
    "v2": ("38.00", "-", "-", "3.00", "35.00", "1.0"),
    "rmsprop": ("30.00", "-", "-", "10.00", "20.00", "1.0"),
    "label_smoothing": ("-", "-", "-", "-", "-", "-"),  # diverged: no completed seed to average
    "optimizer=sgd": ("58.00", "2.83", "25.41", "19.50", "51.50", "1.0"),
    "optimizer=adamw": ("65.00", "-", "-", "30.00", "45.00", "0.0"),
}


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """A multirun directory whose results.json files come from the runner's own writer and summary."""
    root = tmp_path / "multirun" / "2026-12-01" / "09-00-00"
    for number, (choice, seed, status, step, top1, top5, loss) in enumerate(RUNS):
        job = root / str(number)
        overrides = [choice, f"seed={seed}", *COMMON]
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
        rows = history(top1, top5, loss)
        experiment = choice.split("=", 1)[1] if choice.startswith("+experiment=") else None
        write_results(job, {
            "status": status, "reason": None, "run_name": ",".join(overrides), "overrides": overrides,
            "experiment": experiment, "output_dir": str(job),
            "model": {"name": "v2", "params": 1_382_658, "flops": 33_127_712, "input_size": 75},
            "metrics": summarize_history(rows), "history": rows,
            "train_loss": {"first_step": 2.3, "last_epoch": 1.0, "min_epoch": 1.0},
            "epochs": len(rows), "steps": 10 * len(rows), "images_per_second": 123.4 if status == "completed" else None,
            "wall_time_s": 75.0, "diverged_at_step": step, "config": {"experiment_name": experiment},
        })
    return root


def test_report_prints_each_runs_best_and_final_in_the_papers_row_order(sweep, tmp_path, capsys):
    out = tmp_path / "out"
    assert report_main([str(sweep), "--out", str(out), "--format", "md,csv", "--width", "250"]) == 0
    terminal = capsys.readouterr().out

    runs = list(csv.DictReader((out / "runs.csv").open()))
    assert [(r["row"], int(r["seed"])) for r in runs] == [(e[0], e[1]) for e in EXPECTED_RUNS]
    for run, (name, _, top1_best, top5_best, best_epoch, top1_final, top5_final, final_epoch, epochs) in zip(
            runs, EXPECTED_RUNS):
        got = [float(run[k]) for k in ("top1_err_best", "top5_err_best", "top1_err_final", "top5_err_final")]
        assert got == pytest.approx([top1_best, top5_best, top1_final, top5_final]), name
        assert [int(run[k]) for k in ("best_epoch", "final_epoch", "epochs")] == [best_epoch, final_epoch, epochs]
    assert runs[2]["status"] == "diverged" and runs[2]["diverged_at_step"] == "25"
    assert float(runs[0]["flops_g"]) == pytest.approx(0.033127712) and runs[0]["params"] == "1382658"

    rows = {r["row"]: r for r in csv.DictReader((out / "report.csv").open())}
    assert list(rows) == list(EXPECTED_ROWS)
    sgd = rows["optimizer=sgd"]
    assert (sgd["seeds"], sgd["completed"]) == ("2", "2")
    assert float(sgd["top1_err_mean"]) == pytest.approx(58.0) and float(sgd["top1_err_best_mean"]) == pytest.approx(51.5)
    assert float(sgd["top1_err_std"]) == pytest.approx(2 * math.sqrt(2))

    markdown = (out / "report.md").read_text()
    for name, (final, std, ci95, final5, best, best_epoch) in EXPECTED_ROWS.items():
        seeds = 2 if name == "optimizer=sgd" else 1
        status = {"label_smoothing": "diverged @ step 25", "optimizer=sgd": "2 completed"}.get(name, "completed")
        line = f"| {name} | {seeds} | {status} | {final} | {std} | {ci95} | {final5} | "
        assert line in markdown, line
        tail = f" | {best} | {best_epoch} | 1.38 M | 0.033 |"
        assert tail in markdown.split(line)[1].splitlines()[0], (name, tail)
    assert markdown.index("| v2 |") < markdown.index("| rmsprop |") < markdown.index("| label_smoothing |")

    printed = {}
    for line in terminal.splitlines():  # rich rows: │ row │ seeds │ status │ top1_err_mean │ ... (effects come later)
        parts = [p.strip() for p in line.split("│")]
        if len(parts) > 12 and parts[1] in EXPECTED_ROWS and parts[1] not in printed:
            printed[parts[1]] = (parts[4], parts[5], parts[6], parts[7], parts[10], parts[11])
    assert printed == EXPECTED_ROWS
    assert "6 runs: 5 completed, 1 diverged, 0 failed" in terminal
