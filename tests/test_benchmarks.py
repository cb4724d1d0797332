"""The benchmark scripts' code paths (python -m benchmarks) at toy sizes, so that a session with a GPU spends its
minutes measuring, not debugging: every precision / memory-format config, the harness's lab and bare paths."""

from __future__ import annotations

import math

import pytest

from benchmarks import harness_overhead, model_speed


@pytest.mark.parametrize("name, expected", [
    ("fp32", {"bf16": False, "channels_last": False, "compile": False}),
    ("bf16+cl", {"bf16": True, "channels_last": True, "compile": False}),
    ("bf16+cl+compile", {"bf16": True, "channels_last": True, "compile": True}),
])
def test_config_names_parse(name, expected):
    assert model_speed.parse_config(name) == {"name": name, **expected}


@pytest.mark.parametrize("name", ["fp16", "cl", "bf16+fast", ""])
def test_unknown_config_is_refused(name):
    with pytest.raises(ValueError, match="expected fp32|bf16"):
        model_speed.parse_config(name)


def test_model_speed_runs_each_config_and_reports_a_fraction_of_the_measured_peak():
    out = model_speed.measure(["v1"], batch=2, size=32, warmup=0, iters=1, configs=("fp32", "bf16+cl"))
    assert [r["config"] for r in out["rows"]] == ["fp32", "bf16+cl"]
    assert out["matmul_peak"]["dtype"] == "float32" and out["matmul_peak"]["gflops_per_s"] > 0
    for row in out["rows"]:
        assert row["fwdbwd_images_per_s"] > 0 and math.isfinite(row["fwdbwd_fraction_of_peak"])
        assert row["fwdbwd_fraction_of_peak"] == pytest.approx(row["fwdbwd_gflops_per_s"]
                                                               / out["matmul_peak"]["gflops_per_s"])
    assert "| v1 | bf16+cl |" in model_speed.markdown(out)


@pytest.mark.slow
def test_harness_overhead_times_both_paths_on_the_same_setup():
    setup = harness_overhead.Setup(image_size=75, batch=4)
    out = harness_overhead.measure(steps=5, skip=2, repeats=1, setup=setup)
    lab, bare, ema = out["rows"]
    assert (lab["path"], bare["path"], ema["path"]) == ("lab", "bare", "lab+ema")
    assert all(r["images_per_s"] > 0 for r in out["rows"]) and out["ratio"] > 0 and out["ema_ratio"]["lab+ema"] > 0
    assert out["channels_last"] is True and out["batch_size"] == 4
