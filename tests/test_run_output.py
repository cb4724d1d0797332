"""What a run prints and leaves for a user: plain epoch lines when redirected (and in the run's log file), the
whole run directory on a line of its own, list overrides in the title, a warning when the result is chance."""

from __future__ import annotations

import pytest

from conftest import TINY, load_json, results_files
from inception_lab.results import chance_warning


def test_chance_warning_uses_three_binomial_sigmas():
    # 10 classes, 360 images: 1/10 + 3 * sqrt(0.1 * 0.9 / 360) = 0.1474...
    assert chance_warning(0.147, 10, 360) is not None
    assert chance_warning(0.148, 10, 360) is None
    # 2 classes, 100 images: 0.5 + 3 * 0.05 = 0.65
    assert chance_warning(0.649, 2, 100) is not None
    assert chance_warning(0.651, 2, 100) is None
    assert chance_warning(None, 10, 360) is None and chance_warning(0.1, 10, 0) is None
    message = chance_warning(0.1, 10, 360)
    assert "10.0%" in message and "14.7%" in message and "warmup_epochs" in message


@pytest.mark.slow
def test_redirected_run_prints_plain_lines_and_whole_paths(cli, tmp_path):
    # lr 0: the network cannot learn, so its final top-1 on all 360 val digits is at chance
    proc = cli(*TINY, "trainer.max_epochs=2", "trainer.limit_val_batches=null", "optimizer.lr=0",
               "logger=[csv]")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "\r" not in proc.stdout and "\r" not in proc.stderr  # no redrawn progress bar in a log
    epoch_lines = [line for line in proc.stdout.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in epoch_lines] == ["1/2", "2/2"]
    assert all("val/top1" in line and "train/loss" in line for line in epoch_lines)

    (record_file,) = results_files(tmp_path)
    record = load_json(record_file)
    run_dir = record_file.parent
    assert f"run dir: {run_dir}" in proc.stdout.splitlines()  # whole, on its own line
    assert "logger=[csv]" in proc.stdout.replace("\n", "")  # not eaten as rich markup
    assert len(record["warnings"]) == 1 and "within noise of chance" in record["warnings"][0]
    assert "warning: final val top-1" in proc.stdout
    (log_file,) = run_dir.glob("*.log")
    assert sum("] - epoch " in line for line in log_file.read_text().splitlines()) == 2
    for noise in ("litlogger", "LeafSpec", "GPU available", "TPU available"):
        assert noise not in proc.stderr + proc.stdout, noise


def test_slow_cpu_configurations_say_what_they_cost():
    from inception_lab.runlog import cost_notes

    # v3 at 299 px: 5.73 GMACs = 11.46 GFLOPs per image; batch 64, x3 for backward = 2.20 TFLOP per step
    (paper_size,) = cost_notes("v3", 299, 64, 11.46e9, on_cpu=True, compile=False)
    assert "2.20 TFLOP per training step" in paper_size and "about 44 s per step" in paper_size
    assert cost_notes("v3", 75, 64, 33.1e6, on_cpu=True, compile=False) == []  # the default run: nothing to say
    assert cost_notes("v3", 299, 64, 11.46e9, on_cpu=False, compile=True) == []  # a GPU run
    (compiling,) = cost_notes("v3", 75, 64, 33.1e6, on_cpu=True, compile=True)
    assert compiling.startswith("compile=true") and "minutes" in compiling
