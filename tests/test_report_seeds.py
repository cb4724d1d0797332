"""Seeds as a sweep axis: rows aggregated over seeds (mean / std / Student-t 95% interval), effects with Welch's
interval beside the papers' changes, on results.json files from the real writer, and a real 2-row x 2-seed sweep."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
from test_report import _write_run

from conftest import TINY, results_files, run_cli
from inception_lab.cli.report import main as report_main
from inception_lab.report import CSV_COLUMNS, load, mean_curve
from inception_lab.stats import summarize, t_cdf, t_quantile, welch

# two-sided 95% critical values t(0.975, df), from printed Student t tables
T_TABLE = {1: 12.7062, 2: 4.3027, 3: 3.1824, 4: 2.7764, 5: 2.5706, 10: 2.2281, 20: 2.0860, 30: 2.0423, 120: 1.9799}


@pytest.mark.parametrize("df, expected", sorted(T_TABLE.items()))
def test_t_quantile_matches_the_printed_table(df, expected):
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=5e-5)


def test_t_quantile_closed_forms_and_fractional_df():
    # df = 1 is the Cauchy distribution, df = 2 has t = (2p - 1) / sqrt(2 p (1 - p))
    assert t_quantile(0.975, 1) == pytest.approx(math.tan(math.pi * 0.475), rel=1e-10)
    assert t_quantile(0.975, 2) == pytest.approx(0.95 / math.sqrt(2 * 0.975 * 0.025), rel=1e-10)
    assert t_quantile(0.975, math.inf) == pytest.approx(1.959964, abs=1e-6)
    assert t_quantile(0.025, 4) == pytest.approx(-2.776445, abs=1e-6)
    # a fractional df (Welch's): the quantile's tail, integrated from the t density independently, is 0.025
    df = 2.635036
    q = t_quantile(0.975, df)
    density = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)
    n, top = 200_000, q + 4000.0  # Simpson on [q, q + 4000]; the tail beyond is ~ (q+4000)^-df, negligible
    h = (top - q) / n
    f = [density * (1 + (q + i * h) ** 2 / df) ** (-(df + 1) / 2) for i in range(n + 1)]
    tail = h / 3 * (f[0] + f[-1] + 4 * sum(f[1:-1:2]) + 2 * sum(f[2:-1:2]))
    assert tail == pytest.approx(0.025, abs=2e-5)
    assert t_quantile(0.975, 3) < q < t_quantile(0.975, 2)  # fewer degrees of freedom, wider
    assert t_cdf(0.0, 7.5) == pytest.approx(0.5)


def test_mean_std_ci_against_a_hand_computed_example():
    # 20, 22, 24: mean 22, sample variance (4 + 0 + 4) / 2 = 4, std 2, ci95 = 4.302653 * 2 / sqrt(3) = 4.968275
    s = summarize([20.0, 22.0, 24.0])
    assert (s.n, s.mean, s.std) == (3, 22.0, 2.0)
    assert s.ci95 == pytest.approx(4.968275, abs=1e-6)
    one = summarize([21.5, None, float("nan")])  # absent and non-finite values are not samples
    assert (one.n, one.mean, one.std, one.ci95) == (1, 21.5, None, None)
    # Welch: 20, 22, 24 vs 25, 26: delta -3.5, se^2 = 4/3 + 0.5/2 = 1.583333,
    # df = se^4 / ((4/3)^2 / 2 + 0.25^2 / 1) = 2.507 / 0.951389 = 2.635036, ci95 = t(0.975, df) * 1.258306
    d = welch(s, summarize([25.0, 26.0]))
    assert d.delta == -3.5 and d.df == pytest.approx(2.635036, abs=1e-6)
    assert d.ci95 == pytest.approx(t_quantile(0.975, 2.635036) * math.sqrt(1.583333333), abs=1e-5)
    assert d.ci95 == pytest.approx(4.3373, abs=1e-4) and d.excludes_zero is False


def _history(final_errors: list[float]) -> list[dict]:
    """Per-epoch history whose top-1 errors are ``final_errors`` (the last one is the final epoch)."""
    return [{"epoch": e, "step": 10 * (e + 1), "val_loss": 1.0, "val_top1": 1 - err / 100,
             "val_top5": min(1.0, 1.1 - err / 100), "train_loss": 1.0, "lr": 0.01, "train_time_s": 10.0 * (e + 1)}
            for e, err in enumerate(final_errors)]


def _sweep(root: Path, jobs: list[tuple[str, int, list[float], str]], extra: list[str] | None = None) -> Path:
    """A sweep directory, one job per (experiment, seed, error history, status), written by the real writer."""
    start = len(list(root.iterdir())) if root.exists() else 0
    for number, (experiment, seed, errors, status) in enumerate(jobs, start):
        _write_run(root / str(number), [f"+experiment={experiment}", f"seed={seed}", *(extra or [])], experiment,
                   status=status, history=_history(errors), diverged_at_step=5 if status == "diverged" else None)
    return root


TABLE3_JOBS = [
    # v2: final 30 / 32 / 34 (mean 32, std 2); seed 1's best epoch is epoch 0 (31 before 32)
    ("table3/v2", 0, [40.0, 30.0], "completed"), ("table3/v2", 1, [31.0, 32.0], "completed"),
    ("table3/v2", 2, [40.0, 34.0], "completed"),
    # rmsprop: 29 / 31 / 33 (mean 31, std 2): -1 vs v2, like the paper's -0.3, but not distinguishable from 0
    ("table3/rmsprop", 0, [40.0, 29.0], "completed"), ("table3/rmsprop", 1, [40.0, 31.0], "completed"),
    ("table3/rmsprop", 2, [40.0, 33.0], "completed"),
    # label smoothing: 40 / 41 / 42 (mean 41, std 1) and a diverged seed: +10, against the paper's -0.3
    ("table3/label_smoothing", 0, [50.0, 40.0], "completed"), ("table3/label_smoothing", 1, [50.0, 41.0], "completed"),
    ("table3/label_smoothing", 2, [50.0, 42.0], "completed"), ("table3/label_smoothing", 3, [90.0], "diverged"),
]


def test_seeds_are_grouped_and_aggregated(tmp_path):
    report = load([_sweep(tmp_path / "sweep", TABLE3_JOBS)])
    (group,) = report.groups
    assert [(row.name, len(row.runs)) for row in group.rows] == [("v2", 3), ("rmsprop", 3), ("label_smoothing", 4)]
    v2, rms, ls = group.rows
    assert v2.seeds == [0, 1, 2] and ls.seeds == [0, 1, 2, 3]
    top1 = v2.summary("top1_err")  # final epoch
    assert (top1.n, top1.mean, top1.std) == (3, pytest.approx(32.0), pytest.approx(2.0))
    assert top1.ci95 == pytest.approx(4.968275, abs=1e-6)
    best = v2.summary("top1_err_best")  # 30, 31, 34
    assert best.mean == pytest.approx(95 / 3) and best.std == pytest.approx(math.sqrt(13 / 3))
    epochs = v2.summary("best_epoch")  # 1, 0, 1
    assert epochs.mean == pytest.approx(2 / 3)
    assert ls.summary("top1_err").n == 3 and ls.count("diverged") == 1  # statistics over completed seeds only
    assert ls.status_text == "3 completed, 1 diverged"

    above = rms.effect("above")
    assert above.reference is v2 and above.ours.delta == pytest.approx(-1.0)
    # equal n and variances: Welch's df = 2 (n - 1) = 4, half-width t(0.975, 4) * sqrt(4/3 + 4/3)
    assert above.ours.df == pytest.approx(4.0)
    assert above.ours.ci95 == pytest.approx(2.776445 * math.sqrt(8 / 3), abs=1e-5)
    assert above.paper == pytest.approx(-0.3) and above.sign_agrees is True and above.excludes_zero is False
    ls_above, ls_first = ls.effect("above"), ls.effect("first")
    assert ls_above.reference is rms and ls_above.ours.delta == pytest.approx(10.0)
    assert ls_above.ours.df == pytest.approx(50 / 17)  # (5/3)^2 / ((1/3)^2 / 2 + (4/3)^2 / 2)
    assert ls_above.sign_agrees is False and ls_above.excludes_zero is True
    assert ls_first.reference is v2 and ls_first.ours.delta == pytest.approx(9.0)
    assert ls_first.paper == pytest.approx(-0.6) and ls_first.sign_agrees is False
    assert v2.effects == []  # the first row is the reference


def test_report_files_carry_the_aggregate_and_effect_columns(tmp_path):
    sweep = _sweep(tmp_path / "sweep", TABLE3_JOBS)
    assert report_main([str(sweep), "--out", str(tmp_path / "out"), "--format", "md,csv"]) == 0
    with open(tmp_path / "out" / "report.csv") as handle:
        reader = csv.DictReader(handle)
        rows = {r["row"]: r for r in reader}
        header = reader.fieldnames
    assert header == list(CSV_COLUMNS)
    for name in ("seeds", "top1_err_mean", "top1_err_std", "top1_err_ci95", "top5_err_mean", "top5_err_std",
                 "top5_err_ci95", "top1_err_best_mean", "top1_err_best_std", "top1_err_best_ci95",
                 "best_epoch_mean", "best_epoch_std", "best_epoch_ci95"):
        assert name in header
    assert len(rows) == 3
    v2, ls = rows["v2"], rows["label_smoothing"]
    assert (v2["seeds"], v2["seed_list"], v2["completed"]) == ("3", "0 1 2", "3")
    assert float(v2["top1_err_mean"]) == pytest.approx(32.0) and float(v2["top1_err_std"]) == pytest.approx(2.0)
    assert float(v2["top1_err_ci95"]) == pytest.approx(4.968275, abs=1e-6)
    assert v2["top1_err_best"] == "" and v2["status"] == ""  # one run's own columns: only for one-run rows
    assert (ls["seeds"], ls["completed"], ls["diverged"]) == ("4", "3", "1")
    assert float(ls["effect_above_top1"]) == pytest.approx(10.0) and ls["effect_above_vs"] == "rmsprop"
    assert ls["effect_above_sign_agrees"] == "no" and ls["effect_above_excludes_zero"] == "yes"
    assert float(ls["effect_first_paper"]) == pytest.approx(-0.6) and ls["effect_first_vs"] == "v2"
    assert float(ls["paper_imagenet_top1_err"]) == 22.8  # the paper's ImageNet number, kept beside ours
    runs = list(csv.DictReader(open(tmp_path / "out" / "runs.csv")))
    assert len(runs) == 10 and {r["row"] for r in runs} == {"v2", "rmsprop", "label_smoothing"}
    effects = list(csv.DictReader(open(tmp_path / "out" / "effects.csv")))
    assert [(e["row"], e["vs"], e["kind"]) for e in effects] == [
        ("rmsprop", "v2", "above"), ("rmsprop", "v2", "first"),
        ("label_smoothing", "rmsprop", "above"), ("label_smoothing", "v2", "first")]
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "| v2 | 3 | 3 completed | 32.00 | 2.00 | 4.97 |" in markdown
    assert "| label_smoothing | rmsprop | top-1 err (final, %) | 41.00 ± 2.48 | 31.00 ± 4.97 | +10.00 |" in markdown
    assert "t(0.975, n-1) x std / sqrt(n)" in markdown and "Welch" in markdown
    assert "band: ±1 sample standard deviation" not in markdown  # no plots asked for


def test_rows_compare_only_within_the_same_other_overrides(tmp_path):
    root = tmp_path / "sweep"
    jobs = [("table3/v2", s, [30.0 + s], "completed") for s in range(2)]
    jobs += [("table3/rmsprop", s, [20.0 + s], "completed") for s in range(2)]
    _sweep(root, jobs, ["model.width_mult=0.25"])
    _sweep(root, [("table3/rmsprop", s, [50.0 + s], "completed") for s in range(2)], ["model.width_mult=0.5"])
    (group,) = load([root]).groups
    assert [(row.name, len(row.runs)) for row in group.rows] == [
        ("v2,model.width_mult=0.25", 2), ("rmsprop,model.width_mult=0.25", 2), ("rmsprop,model.width_mult=0.5", 2)]
    assert group.rows[1].effect("above").ours.delta == pytest.approx(-10.0)
    assert group.rows[2].effects == []  # no v2 run at width 0.5: nothing to compare it with


def test_table2_effects_are_against_299(tmp_path):
    jobs = [("table2/r299", s, [30.0 + s], "completed") for s in range(2)]
    jobs += [("table2/r151", s, [33.0 + s], "completed") for s in range(2)]
    jobs += [("table2/r79", s, [29.0 + s], "completed") for s in range(2)]
    (group,) = load([_sweep(tmp_path / "sweep", jobs)]).groups
    r299, r151, r79 = group.rows
    assert [e.kind for e in r151.effects] == ["first"] and r151.effects[0].reference is r299
    assert r151.effects[0].ours.delta == pytest.approx(3.0) and r151.effects[0].paper == pytest.approx(0.2)
    assert r151.effects[0].sign_agrees is True
    assert r79.effects[0].ours.delta == pytest.approx(-1.0) and r79.effects[0].paper == pytest.approx(1.4)
    assert r79.effects[0].sign_agrees is False


def test_residual_scaling_divergence_and_convergence(tmp_path):
    jobs = [("residual_scaling/ir_v1_scaled", s, [60.0, 30.0, 20.0], "completed") for s in range(3)]
    jobs += [("residual_scaling/ir_v1_unscaled", 0, [90.0], "diverged"),
             ("residual_scaling/ir_v1_unscaled", 1, [90.0], "diverged"),
             ("residual_scaling/ir_v1_unscaled", 2, [60.0, 40.0, 25.0], "completed")]
    # the non-residual control reaches 70% top-1 (30% error) one or two epochs later
    jobs += [("residual_scaling/v4_control", 0, [60.0, 50.0, 30.0], "completed"),
             ("residual_scaling/v4_control", 1, [60.0, 50.0, 40.0, 30.0], "completed")]
    (group,) = load([_sweep(tmp_path / "sweep", jobs)]).groups
    scaled, unscaled, control = group.rows
    diverged = unscaled.effect("pair")
    assert diverged.measure == "diverged" and diverged.reference is scaled
    assert (diverged.row_value, diverged.reference_value) == ("2/3", "0/3")
    assert diverged.ours.delta == pytest.approx(2 / 3) and diverged.sign_agrees is True
    assert group.target_top1 == 70.0  # the best every compared run reached (v4 seed 0's 70%)
    epochs, seconds = scaled.to_target()
    assert (epochs.mean, epochs.std) == (2.0, 0.0) and seconds.mean == 20.0
    assert control.to_target()[0].mean == 3.5  # epochs 3 and 4
    convergence = [e for e in scaled.effects if e.measure == "epochs_to_target"][0]
    assert convergence.reference is control and convergence.ours.delta == pytest.approx(-1.5)
    assert convergence.sign_agrees is True and convergence.paper_sign == -1
    assert load([tmp_path / "sweep"], target_top1=75.0).groups[0].rows[0].to_target()[0].mean == 3.0


def test_mean_curve_aligns_on_x_and_bands_by_sample_std():
    xs, mean, std = mean_curve([([0, 1, 2], [10.0, 20.0, 30.0]), ([0, 1], [14.0, 22.0])])
    assert xs == [0, 1, 2] and mean == [12.0, 21.0, 30.0]
    assert std == pytest.approx([math.sqrt(8), math.sqrt(2), 0.0])


@pytest.mark.slow
def test_two_rows_by_two_seeds_end_to_end(tmp_path):
    """A real sweep, 2 Table-3 rows x 2 seeds at the tiny size, then the report: 2 aggregated rows of 2 seeds."""
    tiny = [o for o in TINY if not o.startswith("trainer.limit_")] + ["trainer.limit_train_batches=1",
                                                                        "trainer.limit_val_batches=1"]
    proc = run_cli(["--multirun", "+experiment=table3/v2,table3/rmsprop", "seed=range(2)", *tiny,
                    "paths.log_dir=out"], cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(results_files(tmp_path / "out")) == 4
    (sweep,) = (tmp_path / "out" / "multirun").glob("*/*")
    assert report_main([str(sweep), "--out", str(tmp_path / "report"), "--width", "200"]) == 0
    rows = list(csv.DictReader(open(tmp_path / "report" / "report.csv")))
    assert [(r["row"], r["seeds"], r["seed_list"], r["completed"]) for r in rows] == [
        ("v2", "2", "0 1", "2"), ("rmsprop", "2", "0 1", "2")]
    for row in rows:
        assert 0.0 <= float(row["top1_err_mean"]) <= 100.0 and float(row["top1_err_std"]) >= 0.0
        assert float(row["top1_err_ci95"]) == pytest.approx(12.7062 * float(row["top1_err_std"]) / math.sqrt(2),
                                                            rel=1e-4)
    assert rows[1]["effect_above_vs"] == "v2" and rows[1]["effect_above_top1"] != ""
    assert float(rows[1]["effect_above_paper"]) == pytest.approx(-0.3)
    for name in ("val_error.png", "train_loss.png", "report.md", "runs.csv", "effects.csv"):
        assert (tmp_path / "report" / name).is_file()


def test_plot_styles_and_legend_labels_tell_25_rows_apart():
    from inception_lab.report import _short_overrides, _styles

    styles = _styles(25)
    assert len(set(styles)) == 25  # matplotlib's default cycle repeats after 10
    assert len({colour for colour, _ in _styles(10)}) == 10 and {style for _, style in _styles(10)} == {"-"}
    assert _short_overrides("optimizer.lr=0.01,regularizer.label_smoothing=0.1") == "lr=0.01, label_smoothing=0.1"
    assert _short_overrides("+experiment=table3/v2,seed=1") == "+experiment=table3/v2, seed=1"
