"""A diverged run is a result: ``diverged`` with its first bad step in results.json and in the sweep's tally, exit 0,
on one process and under 2-process DDP (where a rank that skips its step would deadlock or crash the others)."""

from __future__ import annotations

import pytest

from conftest import TINY, results_files
from inception_lab.results import read_results

pytestmark = pytest.mark.slow


def _records(tmp_path) -> dict[int, dict]:
    return {int(p.parent.name): read_results(p.parent) for p in results_files(tmp_path)}


def test_divergence_at_step_zero_is_recorded_and_the_sweep_goes_on(cli, tmp_path):
    """divergence.loss_bound below the first loss: the very first step is bad (step 0 is not "no divergence")."""
    proc = cli("--multirun", "divergence.loss_bound=0.01,1.0e4", *TINY, "logger=none")
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = _records(tmp_path)
    assert records[0]["status"] == "diverged" and records[0]["diverged_at_step"] == 0
    first = records[0]["train_loss"]["first_step"]  # the bad loss is the first step's, kept as the reason
    assert records[0]["diverged_loss"] == pytest.approx(first, rel=1e-5) and first > 0.01
    assert records[0]["reason"] == (f"training loss {records[0]['diverged_loss']:.4g} at step 0 exceeded "
                                    "divergence.loss_bound=0.01")
    assert records[1]["status"] == "completed" and records[1]["diverged_at_step"] is None
    assert "2 jobs: 1 completed, 1 diverged, 0 failed" in proc.stdout


@pytest.mark.ddp
def test_ddp_run_that_diverges_is_recorded_not_crashed(cli, tmp_path):
    """2 processes (gloo): a loss that explodes (lr 1e12) and one above the bound at step 0 both end ``diverged``
    with their step; the sweep runs its second job after the first diverged and exits 0."""
    tiny = [o for o in TINY if not o.startswith(("trainer.max_epochs=", "trainer.limit_train_batches="))]
    proc = cli("--multirun", "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", *tiny,
               "trainer.max_epochs=2", "trainer.limit_train_batches=6", "trainer.log_every_n_steps=2",
               "optimizer.lr=1e12", "divergence.loss_bound=0.01,1.0e4", "logger=none")
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = _records(tmp_path)
    assert records[0]["status"] == "diverged" and records[0]["diverged_at_step"] == 0
    assert records[1]["status"] == "diverged" and isinstance(records[1]["diverged_at_step"], int)
    assert all(r["hardware"]["devices"] == 2 for r in records.values())
    assert records[1]["steps"] < 2 * 6  # stopped at the next check, not trained to the end
    assert "2 jobs: 0 completed, 2 diverged, 0 failed" in proc.stdout
