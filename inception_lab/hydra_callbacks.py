"""Hydra callbacks of the training CLI (conf/hydra/default.yaml): ``CheckBeforeRun`` refuses bad input before
Hydra writes anything, ``SweepSummary`` tallies a sweep's jobs and fails its exit status when any job failed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback as HydraCallback
from omegaconf import DictConfig

from inception_lab.checkpoints import resume_checkpoint
from inception_lab.console import console, fail, print_error
from inception_lab.results import ResultsError, read_results
from inception_lab.validation import check_config, check_run_dir, check_sweep_dir, is_relaunched_rank, user_errors


class CheckBeforeRun(HydraCallback):
    """Bad input ends the command before Hydra creates or writes the run directory (and before Lightning is
    imported): every config value (``check_config``), the checkpoint to resume, and a run directory that already
    holds a run. One ``error:`` line, exit status 2, no file written. A sweep checks the values it does not sweep
    and a fixed ``hydra.sweep.dir``; its jobs check their own values in ``train``."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            check_config(config)
            if not is_relaunched_rank():  # Lightning's own ranks of a run that passed this already
                resume_from = resume_checkpoint(config, list(config.hydra.overrides.task),
                                                Path(config.hydra.run.dir))
                check_run_dir(Path(config.hydra.run.dir), resume_from, bool(config.get("overwrite")))
        except user_errors() as err:
            fail(err)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            check_config(config)
            check_sweep_dir(Path(config.hydra.sweep.dir), resuming=config.get("ckpt_path") not in (None, ""),
                            overwrite=bool(config.get("overwrite")))
        except user_errors() as err:
            fail(err)


class SweepSummary(HydraCallback):
    """At the end of a ``--multirun`` sweep: tally completed / diverged / failed jobs from their results.json;
    the sweep exits non-zero when any job failed (diverged jobs are results, not failures)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if config.hydra.launcher._target_ == "hydra_plugins.inception_lab_plan.PlanLauncher":
            return  # a dry run (hydra/launcher=plan): no job ran, nothing to tally
        sweep_dir = Path(config.hydra.sweep.dir)
        counts = {"completed": 0, "diverged": 0, "failed": 0, "missing": 0}
        for job_dir in sorted(p for p in sweep_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
            try:
                counts[read_results(job_dir)["status"]] += 1
            except ResultsError:
                counts["missing"] += 1
        total = sum(counts.values())
        line = ", ".join(f"{n} {status}" for status, n in counts.items() if n or status != "missing")
        console.print(f"[bold]sweep[/] {sweep_dir}: {total} jobs: {line}", highlight=False, soft_wrap=True)
        if total == 0:
            print_error("the sweep ran no job (a glob that matched no option? a whole experiment table is "
                        "'+experiment/table3=glob(*)')")
        if counts["failed"] or counts["missing"] or total == 0:
            sys.exit(1)
