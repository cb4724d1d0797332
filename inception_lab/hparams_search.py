"""Optuna studies through Hydra's Optuna sweeper (``inception-lab hparams_search=optuna``, conf/hparams_search/).

The sweeper asks Optuna for each trial's parameters, runs the trial as an ordinary job and tells Optuna the
job's return value (best val top-1). A job that diverged, failed or crashed returns ``None``, which the sweeper
records as a FAIL trial. The sweeper keeps its study to itself; ``track_study`` (its ``custom_search_space``
hook, called with every new trial) notes it so that ``OptunaSummary`` can print and save every trial's state,
value and parameters when the sweep ends.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

STUDY_FILENAME = "optuna_study.json"

_study: Any = None


def track_study(config: DictConfig, trial: Any) -> None:
    """The sweeper's ``custom_search_space`` hook: remember the study (the search space stays ``params``)."""
    global _study
    _study = trial.study


def study_record(study: Any, sweep_dir: Path) -> dict[str, Any]:
    """Every trial (number, state, value, parameters, its job directory and run status) and the best one."""
    from optuna.trial import TrialState

    from inception_lab.results import ResultsError, read_results

    trials = []
    for trial in study.trials:
        job_dir = sweep_dir / str(trial.number)  # the sweeper launches trial n as job n
        try:
            status = read_results(job_dir)["status"]
        except ResultsError:
            status = None
        value = trial.value if trial.state == TrialState.COMPLETE else None
        trials.append({"number": trial.number, "state": trial.state.name, "value": value, "params": trial.params,
                       "job_dir": str(job_dir), "run_status": status})
    complete = [t for t in trials if t["state"] == "COMPLETE" and t["value"] is not None and not math.isnan(t["value"])]
    best = max(complete, key=lambda t: t["value"]) if complete else None
    return {"study_name": study.study_name, "direction": study.direction.name, "metric": "best val top-1",
            "trials": trials, "best_trial": best}


class OptunaSummary(Callback):
    """At the end of an Optuna sweep: a table of the trials and the best one; ``<sweep dir>/optuna_study.json``."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from rich.markup import escape
        from rich.table import Table

        from inception_lab.console import console
        from inception_lab.results import write_json_atomic

        if _study is None:  # no trial was asked for
            return
        sweep_dir = Path(config.hydra.sweep.dir)
        record = study_record(_study, sweep_dir)
        path = write_json_atomic(sweep_dir / STUDY_FILENAME, record)
        table = Table(title=f"optuna study {record['study_name']} · maximise best val top-1", title_justify="left")
        for column in ("trial", "state", "run", "val top-1", "parameters"):
            table.add_column(column, overflow="fold")
        colours = {"COMPLETE": "green", "FAIL": "red"}
        for trial in record["trials"]:
            value = "-" if trial["value"] is None else f"{100 * trial['value']:.2f}%"
            params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial["params"].items())
            colour = colours.get(trial["state"], "yellow")
            table.add_row(str(trial["number"]), f"[{colour}]{trial['state']}[/]", trial["run_status"] or "-", value,
                          escape(params))
        console.print(table)
        best = record["best_trial"]
        if best is None:
            console.print("[bold red]optuna:[/] no trial completed", highlight=False)
        else:
            params = " ".join(f"{k}={v}" for k, v in best["params"].items())
            console.print(f"[bold]best trial[/] {best['number']}: val top-1 {100 * best['value']:.2f}% with "
                          f"{escape(params)} ({escape(best['job_dir'])})", highlight=False, soft_wrap=True)
        console.print(f"[bold]study[/] {escape(str(path))}", highlight=False, soft_wrap=True)
