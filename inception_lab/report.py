"""Runs -> the papers' kind of evidence: tables (rich, markdown, CSV) of our runs aggregated over seeds, the effects
of each ablation with their 95% intervals beside the effects the papers report, and plots (PNG). Reads
``results.json`` files only (``inception_lab.results``), never checkpoints or logs.

- **Discovery.** Each path may be a ``results.json``, a run directory, a ``--multirun`` sweep directory or any
  folder above them. A run directory is one holding ``results.json`` or Hydra's ``.hydra/``; a run directory
  without a readable, valid results.json (a job killed before it wrote one, a truncated or hand-edited file) is
  listed as a *problem* and the rest of the report goes on.
- **Groups.** Runs are grouped by the family of their ``experiment`` (``table3/rmsprop`` -> ``table3``); a group
  that is a known paper table (``inception_lab.paper_numbers.PAPER_TABLES``: Rethinking Table 3, Table 2, the v4
  paper's residual scaling) keeps the paper's row order. Runs without an experiment form the group ``runs``.
- **Rows.** Runs whose overrides differ only in ``seed`` are one row (``seed=0,1,2`` or ``seed=range(3)`` in a
  sweep). A row shows ``seeds`` (runs in it), how many completed / diverged / failed, and over its *completed*
  runs the mean, sample standard deviation and 95% interval half-width (Student t, ``inception_lab.stats``) of
  the final-epoch top-1 / top-5 error (``top1_err_*``, ``top5_err_*``), of the best epoch's errors
  (``top1_err_best_*``, ``top5_err_best_*``; selected on the same validation images, so biased low) and of the
  best epoch itself (``best_epoch_*``). Within a group the overrides every run shares are printed once.
- **Effects.** In a paper table each row is compared with other rows of *our* runs, never with the paper's
  absolute ImageNet numbers (those stay in the table, marked ImageNet, for orientation): Table 3 (cumulative)
  against the row above and the first row, Table 2 against 299 px, residual scaling unscaled vs scaled (diverged
  seeds and error) and residual vs the non-residual Inception-v4 (epochs and training time to a target top-1).
  Each effect has Welch's 95% interval, whether it excludes zero, the paper's change (or the sign of its claim)
  and whether the signs agree. Rows are compared only with rows that share every other override (but the table's
  ``row_keys``: Table 2 read at scaled-down sizes sets ``data.image_size`` per row).
- **Plots** (matplotlib, Agg, no pyplot state): validation error vs epoch and train loss vs step, one curve per
  row = the mean over its completed seeds with a band of +-1 sample standard deviation; diverged and failed runs
  drawn alone (dashed), marked where they stopped; and for the residual-scaling sweep the v4 paper's convergence
  comparison (its Figs 21-26).
"""

from __future__ import annotations

import csv
import math
import os
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inception_lab.paper_numbers import PAPER_TABLES, PaperTable, Published, experiment_family
from inception_lab.results import FILENAME, ResultsError, read_results
from inception_lab.stats import Difference, Summary, summarize, welch

NO_EXPERIMENT = "runs"
FORMATS = ("md", "csv", "png")
SKIP_DIRS = {"checkpoints", "csv", "wandb", "eval", "report", "tensorboard", "lightning_logs", "__pycache__"}
NAME_HIDDEN_PREFIXES = ("paths.", "hydra.", "logger.")  # as train.run_name: not part of a run's identity
SEED_OVERRIDE = re.compile(r"^\+{0,2}seed=(.*)$")
EXPERIMENT_OVERRIDE = re.compile(r"^\+{0,2}experiment(?:/([^=]+))?=(.+)$")  # experiment=t/r and experiment/t=r

# per metric, what is aggregated over a row's completed runs: (results.json metrics row, key)
METRICS = {
    "top1_err": ("final", "top1_err"),
    "top5_err": ("final", "top5_err"),
    "top1_err_best": ("best", "top1_err"),
    "top5_err_best": ("best", "top5_err"),
    "best_epoch": ("best", "epoch"),
}
STATS = ("mean", "std", "ci95")
EFFECT_COLUMNS = ("vs", "top1", "top1_ci95", "excludes_zero", "paper", "sign_agrees")

# report.csv: one line per row (configuration); the last block is one run's own columns, filled when the row is a
# single run (runs.csv has every run)
CSV_COLUMNS = (
    "group", "experiment", "row", "seeds", "seed_list", "completed", "diverged", "failed",
    *(f"{metric}_{stat}" for metric in METRICS for stat in STATS),
    *(f"effect_{kind}_{column}" for kind in ("above", "first") for column in EFFECT_COLUMNS),
    "target_top1", "epochs_to_target_mean", "epochs_to_target_ci95", "time_to_target_s_mean", "time_to_target_s_ci95",
    "paper_imagenet_top1_err", "paper_imagenet_top5_err", "paper_source", "paper_cost_gmacs", "paper_note",
    "params", "params_with_aux", "flops_g", "macs_g", "input_size", "model",
    "images_per_second_mean", "epochs_mean", "wall_time_s_mean",
    "name", "run_name", "status", "reason", "diverged_at_step", "top1_err_best", "top5_err_best", "best_epoch",
    "top1_err_final", "top5_err_final", "final_epoch", "output_dir", "results_path",
)
# runs.csv: one line per run
RUN_CSV_COLUMNS = (
    "group", "experiment", "row", "name", "run_name", "seed", "status", "reason", "diverged_at_step",
    "top1_err_best", "top5_err_best", "best_epoch", "top1_err_final", "top5_err_final", "final_epoch",
    "params", "params_with_aux", "flops_g", "macs_g", "input_size", "model",
    "images_per_second", "epochs", "steps", "wall_time_s", "output_dir", "results_path",
)
# effects.csv: one line per comparison
EFFECT_CSV_COLUMNS = (
    "group", "row", "vs", "kind", "measure", "row_value", "vs_value", "effect", "effect_ci95", "df",
    "excludes_zero", "paper_effect", "paper_sign", "sign_agrees", "claim",
)


class MalformedRecord(ValueError):
    """A results.json that passes the schema's required keys but holds something unusable."""


@dataclass
class Problem:
    """A path the report could not use, and why (listed, never fatal)."""

    path: str
    reason: str


def _parse_seed(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        return text


@dataclass
class Run:
    """One run, built from its results.json."""

    path: Path  # the results.json
    record: dict[str, Any]
    run_name: str
    overrides: list[str]
    experiment: str | None
    status: str
    reason: str | None
    diverged_at_step: int | None
    best: dict[str, Any] | None
    final: dict[str, Any] | None
    model: dict[str, Any]
    history: list[dict[str, Any]]
    name: str = ""  # filled per group: overrides not shared by the whole group
    published: Published | None = None

    @property
    def group(self) -> str:
        return experiment_family(self.experiment) or NO_EXPERIMENT

    @property
    def run_dir(self) -> Path:
        return self.path.parent

    @property
    def seed(self) -> Any:
        """The ``seed=`` override, else the recorded config's seed."""
        for override in self.overrides:
            match = SEED_OVERRIDE.match(override)
            if match:
                return _parse_seed(match.group(1))
        config = self.record.get("config")
        return config.get("seed") if isinstance(config, dict) else None

    def metric(self, which: str, key: str) -> float | None:
        row = self.best if which == "best" else self.final
        value = (row or {}).get(key)
        return None if value is None or not _finite(value) else float(value)

    def to_target(self, target_top1: float) -> tuple[int | None, float | None]:
        """(epochs trained, training seconds) when validation top-1 first reached ``target_top1`` (%)."""
        for row in self.history:
            top1 = row.get("val_top1")
            if _finite(top1) and 100.0 * top1 >= target_top1 - 1e-9 and _finite(row.get("epoch")):
                seconds = row.get("train_time_s")
                return int(row["epoch"]) + 1, float(seconds) if _finite(seconds) else None
        return None, None

    @property
    def status_text(self) -> str:
        if self.status == "diverged" and self.diverged_at_step is not None:
            return f"diverged @ step {self.diverged_at_step}"
        return self.status


@dataclass
class Row:
    """One configuration: the runs whose overrides differ only in ``seed``."""

    name: str
    runs: list[Run]
    variant: tuple[str, ...]  # the overrides other than the experiment and the seed: rows compare within one
    published: Published | None = None
    effects: list[Effect] = field(default_factory=list)
    target_top1: float | None = None  # set in residual-scaling groups

    @property
    def experiment(self) -> str | None:
        return self.runs[0].experiment

    @property
    def group(self) -> str:
        return self.runs[0].group

    @property
    def seeds(self) -> list[Any]:
        return [run.seed for run in self.runs]

    @property
    def completed(self) -> list[Run]:
        return [run for run in self.runs if run.status == "completed"]

    def count(self, status: str) -> int:
        return sum(run.status == status for run in self.runs)

    def summary(self, metric: str) -> Summary:
        """``metric`` (a key of METRICS) over the completed runs."""
        which, key = METRICS[metric]
        return summarize(run.metric(which, key) for run in self.completed)

    def to_target(self) -> tuple[Summary, Summary]:
        """(epochs, training seconds) to ``target_top1`` over the completed runs that reached it."""
        if self.target_top1 is None:
            return summarize([]), summarize([])
        reached = [run.to_target(self.target_top1) for run in self.completed]
        return summarize(e for e, _ in reached if e is not None), summarize(s for _, s in reached if s is not None)

    def mean_of(self, key: str) -> float | None:
        return summarize(run.record.get(key) for run in self.completed if _finite(run.record.get(key))).mean

    @property
    def status_text(self) -> str:
        counts = [(status, self.count(status)) for status in ("completed", "diverged", "failed")]
        if len(self.runs) == 1:
            return self.runs[0].status_text
        return ", ".join(f"{n} {status}" for status, n in counts if n)

    def effect(self, kind: str) -> Effect | None:
        return next((e for e in self.effects if e.kind == kind), None)


@dataclass
class Effect:
    """``row`` minus ``reference`` on ``measure``, ours with Welch's 95% interval, beside the paper's change."""

    kind: str  # above | first | pair
    measure: str  # top1_err | diverged | epochs_to_target | time_to_target_s
    row: Row
    reference: Row
    ours: Difference
    paper: float | None = None  # the paper's change in the same units, where it gives numbers
    paper_sign: int | None = None  # the sign of the paper's change, or of its claim
    claim: str = ""
    row_value: str = ""  # what the measure reads for each side, e.g. "2/3"
    reference_value: str = ""

    @property
    def excludes_zero(self) -> bool | None:
        return self.ours.excludes_zero

    @property
    def sign_agrees(self) -> bool | None:
        if self.ours.delta is None or not self.paper_sign:
            return None
        return self.ours.delta != 0 and (self.ours.delta > 0) == (self.paper_sign > 0)


@dataclass
class Group:
    key: str
    runs: list[Run]
    table: PaperTable | None
    rows: list[Row] = field(default_factory=list)
    common: list[str] = field(default_factory=list)
    target_top1: float | None = None

    @property
    def title(self) -> str:
        return self.table.title if self.table else ("Runs without an experiment" if self.key == NO_EXPERIMENT
                                                     else f"Experiment {self.key}")

    @property
    def effects(self) -> list[Effect]:
        return [effect for row in self.rows for effect in row.effects]


@dataclass
class Report:
    groups: list[Group]
    problems: list[Problem]
    sources: list[str]

    @property
    def runs(self) -> list[Run]:
        return [run for group in self.groups for run in group.runs]

    @property
    def rows(self) -> list[Row]:
        return [row for group in self.groups for row in group.rows]

    def counts(self) -> dict[str, int]:
        counts = {"completed": 0, "diverged": 0, "failed": 0}
        for run in self.runs:
            counts[run.status] = counts.get(run.status, 0) + 1
        return counts


# ---------------------------------------------------------------------------------------------------------------
# Discovery and loading
# ---------------------------------------------------------------------------------------------------------------
def _natural_key(path: Path) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


def _is_run_dir(path: Path) -> bool:
    return (path / FILENAME).is_file() or (path / ".hydra").is_dir()


def discover(paths: Iterable[str | os.PathLike]) -> tuple[list[Path], list[Problem]]:
    """results.json files under ``paths`` (files, run dirs, sweep dirs), and the paths that hold none."""
    found: list[Path] = []
    problems: list[Problem] = []
    for raw in paths:
        path = Path(os.path.expanduser(str(raw)))
        if path.is_file():
            found.append(path)
            continue
        if not path.is_dir():
            problems.append(Problem(str(path), "no such file or directory"))
            continue
        hits: list[Path] = []
        for root, dirs, _files in os.walk(path):
            here = Path(root)
            if _is_run_dir(here):
                hits.append(here / FILENAME)  # may be missing: reported when read
                dirs[:] = []
                continue
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS)
        if not hits:
            problems.append(Problem(str(path), f"no run directories (with {FILENAME} or .hydra/) found"))
        found.extend(sorted(hits, key=_natural_key))
    unique: list[Path] = []
    seen: set[Path] = set()
    for item in found:
        key = item.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return unique, problems


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _optional_dict(record: dict[str, Any], key: str, where: str) -> dict[str, Any] | None:
    value = record.get(key)
    if value is not None and not isinstance(value, dict):
        raise MalformedRecord(f"{where} is a {type(value).__name__}, expected an object")
    return value


def _experiment_of(record: dict[str, Any], overrides: Sequence[str]) -> str | None:
    experiment = record.get("experiment")
    if experiment:
        return str(experiment)
    for override in overrides:  # older records: recover it from the override that chose it
        match = re.match(r"^\+{0,2}experiment=(.+)$", override)
        if match:
            return match.group(1)
    config = record.get("config")
    if isinstance(config, dict) and config.get("experiment_name"):
        return str(config["experiment_name"])
    return None


def run_from_record(path: Path, record: dict[str, Any]) -> Run:
    """A validated results.json -> Run; MalformedRecord when a field has the wrong shape."""
    metrics = _optional_dict(record, "metrics", "metrics")
    if metrics is None:
        raise MalformedRecord("metrics is null")
    best = _optional_dict(metrics, "best", "metrics.best")
    final = _optional_dict(metrics, "final", "metrics.final")
    model = _optional_dict(record, "model", "model") or {}
    overrides = record.get("overrides")
    if overrides is None:
        overrides = [o for o in str(record["run_name"]).split(",") if o and o != "default"]
    if not isinstance(overrides, list):
        raise MalformedRecord(f"overrides is a {type(overrides).__name__}, expected a list")
    history = record.get("history") or []
    if not isinstance(history, list) or not all(isinstance(row, dict) for row in history):
        raise MalformedRecord("history is not a list of objects")
    step = record.get("diverged_at_step")
    return Run(
        path=path,
        record=record,
        run_name=str(record["run_name"]),
        overrides=[str(o) for o in overrides],
        experiment=_experiment_of(record, [str(o) for o in overrides]),
        status=str(record["status"]),
        reason=record.get("reason"),
        diverged_at_step=int(step) if isinstance(step, (int, float)) and not isinstance(step, bool) else None,
        best=best,
        final=final,
        model=model,
        history=history,
    )


def load(paths: Iterable[str | os.PathLike], target_top1: float | None = None) -> Report:
    """Read every results.json under ``paths``; bad files become problems, never exceptions. ``target_top1``:
    the validation top-1 (%) of the residual-vs-non-residual convergence comparison (default: ``default_target``)."""
    paths = [str(p) for p in paths]
    files, problems = discover(paths)
    runs: list[Run] = []
    for file in files:
        if not file.is_file():
            problems.append(Problem(str(file), f"missing {FILENAME} (the job did not finish, or crashed before "
                                               "writing it)"))
            continue
        try:
            runs.append(run_from_record(file, read_results(file)))
        except ResultsError as err:
            problems.append(Problem(str(file), str(err).replace(f"{file}: ", "")))
        except (MalformedRecord, KeyError, TypeError, ValueError, AttributeError) as err:
            problems.append(Problem(str(file), f"malformed {FILENAME}: {err}"))
    return Report(groups=group_runs(runs, target_top1), problems=problems, sources=paths)




def _visible(overrides: Sequence[str]) -> list[str]:
    return [o for o in overrides if not o.startswith(NAME_HIDDEN_PREFIXES)]


def _is_experiment_override(override: str) -> bool:
    return EXPERIMENT_OVERRIDE.match(override) is not None


def _is_seed_override(override: str) -> bool:
    return SEED_OVERRIDE.match(override) is not None


def _short_override(override: str, family: str) -> str:
    """``+experiment=table3/rmsprop`` or ``+experiment/table3=rmsprop`` -> ``rmsprop`` inside the table3 group (the
    group names the family)."""
    match = EXPERIMENT_OVERRIDE.match(override)
    if match:
        name = f"{match.group(1)}/{match.group(2)}" if match.group(1) else match.group(2)
        if name.startswith(f"{family}/"):
            return name[len(family) + 1:]
    return override


def group_runs(runs: list[Run], target_top1: float | None = None) -> list[Group]:
    """Group by experiment family, in order of first appearance (paper tables in the paper's row order); within a
    group, runs that differ only in ``seed`` form one row; paper tables get their effects."""
    by_key: dict[str, list[Run]] = {}
    for run in runs:
        by_key.setdefault(run.group, []).append(run)
    groups = []
    for key, members in by_key.items():
        table = PAPER_TABLES.get(key)
        if table is not None:
            for run in members:
                run.published = table.rows.get(run.experiment or "")
            members = sorted(members, key=lambda r: table.order(r.experiment))  # stable: discovery order within a row
        visible = [_visible(run.overrides) for run in members]
        # shared overrides are printed once per group; the experiment override always names its row, and a lone
        # run without one keeps its full name
        common = [o for o in visible[0] if all(o in v for v in visible[1:]) and not _is_experiment_override(o)]
        if len(members) == 1 and not members[0].experiment:
            common = []
        rows: dict[tuple[str, ...], Row] = {}
        for run, overrides in zip(members, visible):
            parts = [_short_override(o, key) for o in overrides if o not in common]
            run.name = ",".join(parts) or (run.experiment or "default")
            identity = tuple(sorted(o for o in overrides if not _is_seed_override(o)))
            if identity not in rows:
                name = ",".join(p for o, p in zip([o for o in overrides if o not in common], parts)
                                if not _is_seed_override(o))
                row_keys = tuple(f"{k}=" for k in table.row_keys) if table else ()
                variant = tuple(o for o in identity
                                if not _is_experiment_override(o) and not o.lstrip("+").startswith(row_keys))
                rows[identity] = Row(name=name or (run.experiment or "default"), runs=[], variant=variant,
                                     published=run.published)
            rows[identity].runs.append(run)
        group = Group(key=key, runs=members, table=table, rows=list(rows.values()), common=common)
        if table is not None:
            add_effects(group, target_top1)
        groups.append(group)
    return groups


def _value_text(summary: Summary, spec: str = ".1f") -> str:
    return "-" if summary.mean is None else format(summary.mean, spec) + (
        f" ± {summary.ci95:{spec}}" if summary.ci95 is not None else "")


def _top1_effect(kind: str, row: Row, reference: Row) -> Effect:
    ours, base = row.summary("top1_err"), reference.summary("top1_err")
    paper_row, paper_ref = row.published, reference.published
    paper = None
    if paper_row and paper_ref and paper_row.top1_err is not None and paper_ref.top1_err is not None:
        paper = round(paper_row.top1_err - paper_ref.top1_err, 6)  # the published numbers have one decimal
    sign = None if paper is None or paper == 0 else (1 if paper > 0 else -1)
    return Effect(kind, "top1_err", row, reference, welch(ours, base), paper=paper, paper_sign=sign,
                  row_value=_value_text(ours, ".2f"), reference_value=_value_text(base, ".2f"))


def default_target(rows: Sequence[Row]) -> float | None:
    """The highest validation top-1 (%, rounded down to 0.1) that every completed run of ``rows`` reached."""
    bests = [max(100.0 * h["val_top1"] for h in run.history if _finite(h.get("val_top1")))
             for row in rows for run in row.completed if any(_finite(h.get("val_top1")) for h in run.history)]
    return math.floor(min(bests) * 10 + 1e-6) / 10 if bests else None


def add_effects(group: Group, target_top1: float | None = None) -> None:
    """Fill ``row.effects`` for a paper table's rows (module docstring, **Effects**)."""
    table = group.table
    assert table is not None
    variants: dict[tuple[str, ...], list[Row]] = {}
    for row in group.rows:
        if row.experiment in table.rows:
            variants.setdefault(row.variant, []).append(row)
    for rows in variants.values():
        by_experiment = {row.experiment: row for row in rows}  # one row per experiment within a variant
        present = [by_experiment[name] for name in table.rows if name in by_experiment]
        if table.effects in ("cumulative", "baseline"):
            for i, row in enumerate(present[1:], 1):
                if table.effects == "cumulative":
                    row.effects.append(_top1_effect("above", row, present[i - 1]))
                row.effects.append(_top1_effect("first", row, present[0]))
            continue
        convergence = [c for c in table.pairs if c.measure == "epochs_to_target"]
        involved = list({id(by_experiment[name]): by_experiment[name] for c in convergence
                         if c.row in by_experiment and c.reference in by_experiment
                         for name in (c.row, c.reference)}.values())
        target = target_top1 if target_top1 is not None else default_target(involved)
        for row in involved:
            row.target_top1 = target
        group.target_top1 = target if involved else group.target_top1
        for comparison in table.pairs:
            row, reference = by_experiment.get(comparison.row), by_experiment.get(comparison.reference)
            if row is None or reference is None:
                continue
            common = {"paper_sign": comparison.sign, "claim": comparison.claim}
            if comparison.measure == "diverged":
                share = [r.count("diverged") / len(r.runs) for r in (row, reference)]
                row.effects.append(Effect(
                    "pair", "diverged", row, reference, Difference(share[0] - share[1], None, None), **common,
                    row_value=f"{row.count('diverged')}/{len(row.runs)}",
                    reference_value=f"{reference.count('diverged')}/{len(reference.runs)}"))
                row.effects.append(_top1_effect("pair", row, reference))
            else:
                (epochs, seconds), (ref_epochs, ref_seconds) = row.to_target(), reference.to_target()
                row.effects.append(Effect("pair", "epochs_to_target", row, reference, welch(epochs, ref_epochs),
                                          **common, row_value=_value_text(epochs),
                                          reference_value=_value_text(ref_epochs)))
                row.effects.append(Effect("pair", "time_to_target_s", row, reference, welch(seconds, ref_seconds),
                                          **common, row_value=_value_text(seconds, ".0f"),
                                          reference_value=_value_text(ref_seconds, ".0f")))


def residual_role(run: Run) -> tuple[str, str]:
    """(network, setting) of a residual-scaling run: the roles paper_numbers gives its rows, else the recorded
    model name and residual_scale."""
    table = PAPER_TABLES["residual_scaling"]
    if run.experiment in table.roles:
        return table.roles[run.experiment]
    config = run.record.get("config") if isinstance(run.record.get("config"), dict) else {}
    scale = (config.get("model") or {}).get("residual_scale")
    return str(run.model.get("name") or run.experiment or "?"), f"residual_scale={scale}"


# ---------------------------------------------------------------------------------------------------------------
# Cells
# ---------------------------------------------------------------------------------------------------------------
def _num(value: Any, spec: str = ".2f", empty: str = "-") -> str:
    return empty if value is None or not _finite(value) else format(value, spec)


def _signed(value: float | None, spec: str = "+.2f") -> str:
    return "-" if value is None else format(value, spec)


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _wall(seconds: Any) -> str:
    if not _finite(seconds):
        return "-"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m {sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def _params(value: Any) -> str:
    if not _finite(value):
        return "-"
    return f"{value / 1e6:.2f} M"


def run_values(run: Run, row: Row | None = None) -> dict[str, Any]:
    """Every column of one run, raw (numbers as numbers, None = absent): a runs.csv line."""
    model = run.model
    flops, macs = model.get("flops"), model.get("macs")
    return {
        "group": run.group,
        "experiment": run.experiment,
        "row": row.name if row else None,
        "name": run.name,
        "run_name": run.run_name,
        "seed": run.seed,
        "status": run.status,
        "reason": run.reason,
        "diverged_at_step": run.diverged_at_step,
        "top1_err_best": run.metric("best", "top1_err"),
        "top5_err_best": run.metric("best", "top5_err"),
        "best_epoch": (run.best or {}).get("epoch"),
        "top1_err_final": run.metric("final", "top1_err"),
        "top5_err_final": run.metric("final", "top5_err"),
        "final_epoch": (run.final or {}).get("epoch"),
        "params": model.get("params"),
        "params_with_aux": model.get("params_with_aux"),
        "flops_g": flops / 1e9 if _finite(flops) else None,
        "macs_g": macs / 1e9 if _finite(macs) else None,
        "input_size": model.get("input_size"),
        "model": model.get("name"),
        "images_per_second": run.record.get("images_per_second"),
        "epochs": run.record.get("epochs"),
        "steps": run.record.get("steps"),
        "wall_time_s": run.record.get("wall_time_s"),
        "output_dir": str(run.run_dir),
        "results_path": str(run.path),
    }


def _effect_values(effect: Effect | None) -> dict[str, Any]:
    if effect is None:
        return dict.fromkeys(EFFECT_COLUMNS)
    return {"vs": effect.reference.name, "top1": effect.ours.delta, "top1_ci95": effect.ours.ci95,
            "excludes_zero": effect.excludes_zero, "paper": effect.paper, "sign_agrees": effect.sign_agrees}


def row_values(row: Row) -> dict[str, Any]:
    """Every column of a row (configuration), raw: a report.csv line."""
    first = run_values(row.runs[0], row)
    paper = row.published
    values: dict[str, Any] = {
        "group": row.group, "experiment": row.experiment, "row": row.name, "seeds": len(row.runs),
        "seed_list": " ".join(str(seed) for seed in row.seeds if seed is not None),
        "completed": row.count("completed"), "diverged": row.count("diverged"), "failed": row.count("failed"),
    }
    for metric in METRICS:
        summary = row.summary(metric)
        values.update({f"{metric}_mean": summary.mean, f"{metric}_std": summary.std, f"{metric}_ci95": summary.ci95})
    for kind in ("above", "first"):
        values.update({f"effect_{kind}_{k}": v for k, v in _effect_values(row.effect(kind)).items()})
    epochs, seconds = row.to_target()
    values.update({
        "target_top1": row.target_top1,
        "epochs_to_target_mean": epochs.mean, "epochs_to_target_ci95": epochs.ci95,
        "time_to_target_s_mean": seconds.mean, "time_to_target_s_ci95": seconds.ci95,
        "paper_imagenet_top1_err": paper.top1_err if paper else None,
        "paper_imagenet_top5_err": paper.top5_err if paper else None,
        "paper_source": paper.source_text if paper else None,
        "paper_cost_gmacs": paper.cost_gmacs if paper else None,
        "paper_note": paper.note if paper and paper.note else None,
        "images_per_second_mean": row.mean_of("images_per_second"),
        "epochs_mean": row.mean_of("epochs"),
        "wall_time_s_mean": row.mean_of("wall_time_s"),
    })
    for key in ("params", "params_with_aux", "flops_g", "macs_g", "input_size", "model"):
        values[key] = first[key]  # the same network for every seed
    single = ("name", "run_name", "status", "reason", "diverged_at_step", "top1_err_best", "top5_err_best",
              "best_epoch", "top1_err_final", "top5_err_final", "final_epoch", "output_dir", "results_path")
    values.update({key: first[key] if len(row.runs) == 1 else None for key in single})
    return values


ROW_HEADERS = ["row", "seeds", "status", "top1_err_mean", "top1_err_std", "top1_err_ci95", "top5_err_mean",
               "top5_err_std", "top5_err_ci95", "top1_err_best_mean", "best_epoch_mean", "params", "FLOPs (G)",
               "wall time"]
TEXT_HEADERS = {"row", "status", "source", "vs", "measure", "excludes 0", "sign agrees"}


def table_cells(group: Group, compact: bool = False) -> tuple[list[str], list[list[str]]]:
    """Headers and formatted cells of a group's table (markdown; ``compact``: the terminal's, without the FLOPs and
    source columns), one line per row; report.csv has every statistic (``*_best_std``, ``*_best_ci95``, top-5 at
    the best epoch, images/s ...)."""
    headers = list(ROW_HEADERS)
    if group.table:
        headers += ["ImageNet err 1/5 (paper)", "source"]
    lines = []
    for row in group.rows:
        v = row_values(row)
        cells = [row.name, str(v["seeds"]), row.status_text]
        for metric in ("top1_err", "top5_err"):
            cells += [_num(v[f"{metric}_{stat}"]) for stat in STATS]
        cells += [_num(v["top1_err_best_mean"]), _num(v["best_epoch_mean"], ".1f"), _params(v["params"]),
                  _num(v["flops_g"], ".3f"), _wall(v["wall_time_s_mean"])]
        if group.table:
            paper = row.published
            cells += [_pair(v["paper_imagenet_top1_err"], v["paper_imagenet_top5_err"]),
                      paper.source_text if paper else "(not in the paper)"]
        lines.append(cells)
    if compact:
        keep = [i for i, header in enumerate(headers) if header not in ("FLOPs (G)", "source")]
        headers, lines = [headers[i] for i in keep], [[cells[i] for i in keep] for cells in lines]
    return headers, lines


def _pair(first: Any, second: Any) -> str:
    if first is None and second is None:
        return "-"
    return f"{_num(first) if first is not None else '-'} / {_num(second) if second is not None else '-'}"


MEASURE_TEXT = {"top1_err": "top-1 err (final, %)", "diverged": "diverged seeds",
                "epochs_to_target": "epochs to target", "time_to_target_s": "train time to target (s)"}
EFFECT_HEADERS = ["row", "vs", "measure", "row value", "vs value", "Δ ours", "95% CI ±", "df", "excludes 0",
                  "Δ paper (ImageNet)", "sign agrees"]


def shown_effects(group: Group) -> list[Effect]:
    """The effects of a group's table: "first" is left out where it is the row above."""
    out = []
    for row in group.rows:
        above = row.effect("above")
        out += [e for e in row.effects if not (e.kind == "first" and above and above.reference is e.reference)]
    return out


def effect_cells(group: Group) -> tuple[list[str], list[list[str]]]:
    lines = []
    for effect in shown_effects(group):
        spec = ".0f" if effect.measure == "time_to_target_s" else ".2f"
        if effect.paper is not None:
            paper = _signed(effect.paper)
        elif effect.paper_sign:
            paper = ("higher" if effect.paper_sign > 0 else "lower") + " (claim)"
        else:
            paper = "-"
        lines.append([
            effect.row.name, effect.reference.name, MEASURE_TEXT.get(effect.measure, effect.measure),
            effect.row_value or "-", effect.reference_value or "-",
            _signed(effect.ours.delta, "+" + spec), _num(effect.ours.ci95, spec),
            _num(effect.ours.df, ".1f"), _yes_no(effect.excludes_zero), paper, _yes_no(effect.sign_agrees),
        ])
    return EFFECT_HEADERS, lines


def effect_values(effect: Effect) -> dict[str, Any]:
    """An effects.csv line."""
    return {
        "group": effect.row.group, "row": effect.row.name, "vs": effect.reference.name, "kind": effect.kind,
        "measure": effect.measure, "row_value": effect.row_value, "vs_value": effect.reference_value,
        "effect": effect.ours.delta, "effect_ci95": effect.ours.ci95, "df": effect.ours.df,
        "excludes_zero": effect.excludes_zero, "paper_effect": effect.paper, "paper_sign": effect.paper_sign,
        "sign_agrees": effect.sign_agrees, "claim": effect.claim or None,
    }


def group_notes(group: Group) -> list[str]:
    """What a reader needs to read a group's tables."""
    notes = []
    if any(len(row.runs) > 1 for row in group.rows):
        notes.append("Over each row's completed seeds: mean, std = sample standard deviation, ci95 = half-width of "
                     "the 95% interval of the mean, t(0.975, n-1) x std / sqrt(n).")
    if group.table:
        notes.append("ImageNet err = the paper's ImageNet-1k numbers, for orientation only: never subtracted from "
                     "ours. Δ ours = row minus vs on our runs (final-epoch top-1 error unless the measure says "
                     "otherwise), with Welch's 95% interval; Δ paper = the same change in the paper's table.")
        claims = sorted({e.claim for e in group.effects if e.claim})
        notes += [f"Paper's claim: {claim}." for claim in claims]
        if group.target_top1 is not None:
            notes.append(f"Target: {group.target_top1:.1f}% validation top-1 (the best every compared completed run "
                         "reached, unless given).")
        notes += list(group.table.notes)
    return notes


def attention(report: Report) -> list[tuple[Run, str]]:
    """Diverged and failed runs, each with what happened."""
    out = []
    for run in report.runs:
        if run.status == "diverged":
            out.append((run, f"diverged at step {run.diverged_at_step}" if run.diverged_at_step is not None
                        else "diverged"))
        elif run.status == "failed":
            out.append((run, f"failed: {run.reason or 'no reason recorded'}"))
    return out


def summary_line(report: Report) -> str:
    counts = report.counts()
    parts = [f"{len(report.runs)} runs: {counts['completed']} completed, {counts['diverged']} diverged, "
             f"{counts['failed']} failed"]
    if len(report.rows) != len(report.runs):
        parts[0] += f", in {len(report.rows)} rows"
    if report.problems:
        parts.append(f"{len(report.problems)} unreadable")
    return "; ".join(parts)


# ---------------------------------------------------------------------------------------------------------------
# Terminal (rich)
# ---------------------------------------------------------------------------------------------------------------
_STATUS_STYLE = {"completed": "green", "diverged": "yellow", "failed": "red"}


def _rich_table(title: str, headers: list[str], lines: list[list[str]], styles: Sequence[str] = ()):
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(title), title_justify="left", show_lines=False)
    longest = max((len(cells[0]) for cells in lines), default=10)
    for header in headers:
        shown = "_\n".join(header.rsplit("_", 1)) if header.count("_") > 1 else header  # fold at the last _
        table.add_column(escape(shown), justify="left" if header in TEXT_HEADERS else "right", overflow="fold",
                         min_width=min(longest, 32) if header == "row" else None, no_wrap=header == "status")
    for i, cells in enumerate(lines):
        cells = [escape(c) for c in cells]  # names like regularizer=[a,b] are not markup
        style = styles[i] if i < len(styles) else ""
        if style and len(cells) > 2:
            cells[2] = f"[{style}]{cells[2]}[/]"
        table.add_row(*cells)
    return table


def render_terminal(report: Report, console: Any) -> None:
    from rich.markup import escape

    console.print(f"[bold]inception-lab-report[/] · {summary_line(report)}", highlight=False)
    for group in report.groups:
        headers, lines = table_cells(group, compact=True)
        styles = [_STATUS_STYLE.get(row.runs[0].status, "") if len(row.runs) == 1
                  else ("green" if len(row.completed) == len(row.runs) else "yellow") for row in group.rows]
        table = _rich_table(f"{group.key} · {group.title}", headers, lines, styles)
        if group.common:
            table.caption = "all rows: " + escape(",".join(group.common))
            table.caption_justify = "left"
        console.print(table)
        if group.table and group.effects:
            console.print(_rich_table(f"{group.key} · effects (ours vs the paper's)", *effect_cells(group)))
        notes = group_notes(group)
        if notes:
            console.print(escape("  " + " ".join(notes)), style="dim", highlight=False)
    trouble = attention(report)
    if trouble:
        console.print("[bold yellow]diverged / failed runs[/]")
        for run, what in trouble:
            console.print(escape(f"  {run.name}: {what}  ({run.run_dir})"), highlight=False, soft_wrap=True)
    if report.problems:
        console.print("[bold red]unreadable results[/] (skipped)")
        for problem in report.problems:
            console.print(escape(f"  {problem.path}: {problem.reason}"), highlight=False, soft_wrap=True)


# ---------------------------------------------------------------------------------------------------------------
# Files: markdown, CSV
# ---------------------------------------------------------------------------------------------------------------
def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(_md_escape(h) for h in headers) + " |",
             "|" + "|".join("---" if h in TEXT_HEADERS else "---:" for h in headers) + "|"]
    lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in rows]
    return lines


def write_markdown(report: Report, path: Path, plots: Sequence[Path] = ()) -> Path:
    lines = [
        "# inception-lab report",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M:%S')} from: " + ", ".join(f"`{s}`" for s in report.sources),
        "",
        summary_line(report) + ". One row per configuration (runs that differ only in `seed`); errors are "
        "validation error %, lower is better: `top1_err_*` / `top5_err_*` at the final epoch, `*_best_*` at the "
        "epoch with the best top-1 (chosen on the same images, so optimistic); statistics over completed seeds.",
        "",
    ]
    for group in report.groups:
        headers, rows = table_cells(group)
        lines += [f"## {group.key}: {group.title}", ""]
        if group.common:
            lines += ["All rows: `" + ",".join(group.common) + "`", ""]
        lines += _md_table(headers, rows) + [""]
        if group.table and group.effects:
            lines += ["Effects (ours vs the paper's):", ""] + _md_table(*effect_cells(group)) + [""]
        lines += [f"- {note}" for note in group_notes(group)]
        if group.table:
            lines.append(f"- Published numbers: {group.table.source} ({_paper_title(group.table.paper)}).")
            notes = {row.published.label: row.published.note for row in group.rows
                     if row.published and row.published.note}
            lines += [f"- {label}: {note}" for label, note in notes.items()]
        lines.append("")
    trouble = attention(report)
    lines += ["## Diverged and failed runs", ""]
    lines += [f"- `{_md_escape(run.name)}`: {_md_escape(what)} (`{run.run_dir}`)" for run, what in trouble] or ["None."]
    lines.append("")
    if report.problems:
        lines += ["## Unreadable results (skipped)", ""]
        lines += [f"- `{p.path}`: {_md_escape(p.reason)}" for p in report.problems] + [""]
    if plots:
        lines += ["## Plots", "", ("Curves: the mean over each row's completed seeds; band: ±1 sample standard "
                                   "deviation over those seeds; dashed: diverged / failed runs, x where they stopped."),
                  ""]
        lines += [f"![{p.stem}]({p.name})" for p in plots] + [""]
    path.write_text("\n".join(lines))
    return path


def _paper_title(key: str) -> str:
    from inception_lab.paper_numbers import PAPERS

    return PAPERS.get(key, key)


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


def _write_csv(path: Path, columns: Sequence[str], lines: Iterable[dict[str, Any]]) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for line in lines:
            writer.writerow({k: _csv_cell(v) for k, v in line.items()})
    return path


def _unreadable(report: Report) -> list[dict[str, Any]]:
    return [{"status": "unreadable", "reason": p.reason, "results_path": p.path} for p in report.problems]


def write_csv(report: Report, path: Path) -> Path:
    """report.csv: one line per row (configuration), all columns raw; unreadable files as lines with status
    ``unreadable``."""
    return _write_csv(path, CSV_COLUMNS, [*(row_values(row) for row in report.rows), *_unreadable(report)])


def write_runs_csv(report: Report, path: Path) -> Path:
    """runs.csv: one line per run (and per unreadable file)."""
    return _write_csv(path, RUN_CSV_COLUMNS,
                      [*(run_values(run, row) for row in report.rows for run in row.runs), *_unreadable(report)])


def write_effects_csv(report: Report, path: Path) -> Path | None:
    """effects.csv: one line per comparison of a paper table (None when there is none)."""
    effects = [effect for group in report.groups for effect in group.effects]
    return _write_csv(path, EFFECT_CSV_COLUMNS, map(effect_values, effects)) if effects else None


# ---------------------------------------------------------------------------------------------------------------
# Plots (matplotlib Figure + Agg canvas: no pyplot, no display needed)
# ---------------------------------------------------------------------------------------------------------------
def _figure(ncols: int = 1, width: float = 6.5, height: float = 4.2):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes


def _short_overrides(name: str) -> str:
    """``optimizer.lr=0.01,regularizer.label_smoothing=0.1`` -> ``lr=0.01, label_smoothing=0.1`` for legends
    (the last key component names the knob; the report's tables keep the full overrides)."""
    parts = []
    for part in name.split(","):
        key, sep, value = part.partition("=")
        parts.append(f"{key.rsplit('.', 1)[-1]}={value}" if sep and not key.startswith(("+", "~")) else part)
    return ", ".join(parts)


def _label(row: Row, prefix: bool, limit: int = 48) -> str:
    name = _short_overrides(row.name)
    text = f"{row.group}/{name}" if prefix and row.group != NO_EXPERIMENT else name
    if len(row.runs) > 1:
        text += f" (n={len(row.completed)})"
    elif row.runs[0].status != "completed":
        text += f" ({row.runs[0].status})"
    if len(text) <= limit:
        return text
    keep = (limit - 1) // 2  # cut the middle: rows of one sweep often share a long start and differ at the end
    return text[:keep] + "…" + text[-(limit - 1 - keep):]


def _styles(n: int) -> list[tuple[Any, str]]:
    """(colour, line style) per row, all distinct: tab10 up to 10 rows, tab20 up to 20, then the line styles cycle
    as well (matplotlib's default cycle repeats its colours after 10)."""
    from matplotlib import colormaps

    size = 10 if n <= 10 else 20
    cmap = colormaps[f"tab{size}"]
    return [(cmap(i % size), ("-", "--", "-.", ":")[(i // size) % 4]) for i in range(n)]


def _legend_outside(fig, ax) -> None:
    """The legend right of the plots, where it covers no curve (constrained layout makes room for it)."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, fontsize=7, loc="outside right upper")


def _readable_span(ax, xs: Iterable[float], min_y_span: float = 2.0) -> None:
    """A 1-epoch sweep is one point per row: give it a visible x range and at least ``min_y_span`` (points of
    error), instead of matplotlib's tiny automatic margins around a single value."""
    xs = sorted({x for x in xs if math.isfinite(x)})
    if len(xs) == 1:
        ax.set_xlim(xs[0] - 0.5, xs[0] + 0.5)
        ax.set_xticks(xs)
    low, high = ax.get_ylim()
    if high - low < min_y_span:
        middle = (low + high) / 2
        ax.set_ylim(middle - min_y_span / 2, middle + min_y_span / 2)


def _series(run: Run, x_key: str, y_key: str, transform=lambda v: v) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for row in run.history:
        x, y = row.get(x_key), row.get(y_key)
        if _finite(x) and y is not None and isinstance(y, (int, float)):
            xs.append(float(x))
            ys.append(transform(float(y)) if math.isfinite(y) else float("nan"))
    return xs, ys


def _err(accuracy: float) -> float:
    return 100.0 * (1.0 - accuracy)


def _train_loss_series(run: Run) -> tuple[list[float], list[float]]:
    xs, ys = _series(run, "step", "train_loss")
    summary = run.record.get("train_loss")
    first = summary.get("first_step") if isinstance(summary, dict) else None
    if _finite(first):
        xs, ys = [0.0] + xs, [float(first)] + ys
    bad = run.record.get("diverged_loss")
    if run.diverged_at_step is not None and _finite(bad):  # the loss that stopped it (a non-finite one cannot plot)
        xs, ys = [*xs, float(run.diverged_at_step)], [*ys, float(bad)]
    return xs, ys


def mean_curve(series: Sequence[tuple[list[float], list[float]]]) -> tuple[list[float], list[float], list[float]]:
    """Align curves on their x values -> (x, mean, sample std) over the curves with a finite value there (std 0
    where only one has)."""
    at: dict[float, list[float]] = {}
    for xs, ys in series:
        for x, y in zip(xs, ys):
            if math.isfinite(y):
                at.setdefault(x, []).append(y)
    xs = sorted(at)
    stats = [summarize(at[x]) for x in xs]
    return xs, [s.mean for s in stats], [s.std or 0.0 for s in stats]


def _plot_row(ax, row: Row, series_of, label: str, colour: Any = None, style: str = "-") -> list[float]:
    """The row's mean curve with a +-1 std band (completed seeds), and each unfinished run alone, dashed, with an x
    where it stopped. Returns the values drawn (for the log-scale decision)."""
    values: list[float] = []
    completed = [series_of(run) for run in row.completed]
    completed = [s for s in completed if s[0]]
    if completed:
        xs, mean, std = mean_curve(completed)
        (line,) = ax.plot(xs, mean, linestyle=style, marker="o", markersize=3, color=colour, label=label)
        colour = line.get_color()
        if len(completed) > 1:
            ax.fill_between(xs, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)],
                            color=colour, alpha=0.2, linewidth=0)
        values += mean
    for run in row.runs:
        if run.status == "completed":
            continue
        xs, ys = series_of(run)
        if not xs:
            continue
        (line,) = ax.plot(xs, ys, linestyle="--", linewidth=1, marker="o", markersize=2, color=colour,
                          label=None if completed else label)
        colour = line.get_color()
        finite = [(x, y) for x, y in zip(xs, ys) if math.isfinite(y)]
        if finite:
            ax.plot([finite[-1][0]], [finite[-1][1]], marker="x", markersize=10, color=colour, linestyle="none")
        values += ys
    return values


def _integer_x(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _log_if_wide(ax, values: Iterable[float]) -> None:
    positive = [v for v in values if math.isfinite(v) and v > 0]
    if positive and max(positive) / min(positive) > 100:
        ax.set_yscale("log")


BAND_TEXT = "mean over seeds, band ±1 s.d."


def plot_val_error(rows: Sequence[Row], path: Path) -> Path | None:
    rows = [r for r in rows if any(_series(run, "epoch", "val_top1")[0] for run in r.runs)]
    if not rows:
        return None
    prefix = len({r.group for r in rows}) > 1
    fig, (ax1, ax5) = _figure(2)
    epochs: list[float] = []
    for row, (colour, style) in zip(rows, _styles(len(rows))):
        label = _label(row, prefix)
        for ax, key, paper in ((ax1, "val_top1", "top1_err"), (ax5, "val_top5", "top5_err")):
            _plot_row(ax, row, lambda run, key=key: _series(run, "epoch", key, _err), label, colour, style)
            published = getattr(row.published, paper, None) if row.published else None
            if published is not None:  # the paper's number for this row, on ImageNet: a reference, not a target
                ax.axhline(published, color=colour, linestyle=(0, (1, 3)), linewidth=1,
                           label=f"{label}: paper, ImageNet" if ax is ax1 else None)
        epochs += [x for run in row.runs for x in _series(run, "epoch", "val_top1")[0]]
    for ax, title in ((ax1, "top-1"), (ax5, "top-5")):
        _integer_x(ax)
        _readable_span(ax, epochs)
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"validation {title} error (%)")
        ax.set_title(f"Validation {title} error")
        ax.grid(alpha=0.3)
    fig.suptitle(f"{BAND_TEXT}; dotted: the paper's error for the row (ImageNet)", fontsize=9)
    _legend_outside(fig, ax1)
    fig.savefig(path, dpi=110)
    return path


def plot_train_loss(rows: Sequence[Row], path: Path) -> Path | None:
    rows = [r for r in rows if any(_train_loss_series(run)[0] for run in r.runs)]
    if not rows:
        return None
    prefix = len({r.group for r in rows}) > 1
    fig, (ax,) = _figure(1, width=7.5)
    values: list[float] = []
    for row, (colour, style) in zip(rows, _styles(len(rows))):
        values += _plot_row(ax, row, _train_loss_series, _label(row, prefix), colour, style)
    _log_if_wide(ax, values)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("train loss (epoch mean; step 0 = first batch)")
    ax.set_title(f"Training loss ({BAND_TEXT}; x = where a run stopped early)", fontsize=9)
    ax.grid(alpha=0.3)
    _legend_outside(fig, ax)
    fig.savefig(path, dpi=110)
    return path


def plot_residual_scaling(rows: Sequence[Row], path: Path) -> Path | None:
    """The v4 paper's convergence comparison (Figs 21-26): validation top-1 error vs epoch and training loss vs step,
    residual networks (solid: scaled, dashed: unscaled) against the non-residual Inception-v4 (black)."""
    rows = [r for r in rows if any(run.history or run.status != "completed" for run in r.runs)]
    if not rows:
        return None
    colours = {"Inception-ResNet-v1": "tab:blue", "Inception-ResNet-v2": "tab:orange", "Inception-v4": "black"}
    fig, (ax_err, ax_loss) = _figure(2)
    loss_values: list[float] = []
    for row in rows:
        network, setting = residual_role(row.runs[0])
        colour = colours.get(network)
        style = ":" if setting.startswith("unscaled") else "-"
        extra = f" — {row.count('diverged')}/{len(row.runs)} diverged" if row.count("diverged") else ""
        label = f"{network}, {setting}" + (f" (n={len(row.runs)})" if len(row.runs) > 1 else "") + extra
        _plot_row(ax_err, row, lambda run: _series(run, "epoch", "val_top1", _err), label, colour, style)
        loss_values += _plot_row(ax_loss, row, _train_loss_series, label, colour, style)
        for run in row.runs:
            if run.status == "diverged" and run.diverged_at_step is not None:
                ax_loss.axvline(run.diverged_at_step, color=colour or "grey", linestyle=":", alpha=0.6)
    _log_if_wide(ax_loss, loss_values)
    _integer_x(ax_err)
    ax_err.set_xlabel("epoch")
    ax_err.set_ylabel("validation top-1 error (%)")
    ax_err.set_title(f"Residual vs non-residual: validation error ({BAND_TEXT})")
    ax_loss.set_xlabel("optimizer step")
    ax_loss.set_ylabel("train loss")
    ax_loss.set_title("Training loss (vertical dotted: divergence step)")
    for ax in (ax_err, ax_loss):
        ax.grid(alpha=0.3)
    _legend_outside(fig, ax_err)
    fig.suptitle("Residual scaling (cf. Inception-v4 paper, Scaling of the Residuals, Figs 21-26)")
    fig.savefig(path, dpi=110)
    return path


def write_plots(report: Report, out: Path) -> list[Path]:
    written = [plot_val_error(report.rows, out / "val_error.png"),
               plot_train_loss(report.rows, out / "train_loss.png")]
    for group in report.groups:
        if group.key == "residual_scaling":
            written.append(plot_residual_scaling(group.rows, out / "residual_scaling.png"))
    return [p for p in written if p is not None]


# ---------------------------------------------------------------------------------------------------------------
# The whole report
# ---------------------------------------------------------------------------------------------------------------
def default_out_dir(paths: Sequence[str | os.PathLike]) -> Path:
    """``<path>/report`` for one directory; ``./report`` otherwise."""
    if len(paths) == 1:
        path = Path(os.path.expanduser(str(paths[0])))
        if path.is_dir():
            return path / "report"
        if path.is_file():
            return path.parent / "report"
    return Path("report")


def write_report(report: Report, out: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write the requested files into ``out``; returns what was written."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    plots = write_plots(report, out) if "png" in formats else []
    written += plots
    if "md" in formats:
        written.append(write_markdown(report, out / "report.md", plots))
    if "csv" in formats:
        written += [write_csv(report, out / "report.csv"), write_runs_csv(report, out / "runs.csv")]
        effects = write_effects_csv(report, out / "effects.csv")
        written += [effects] if effects else []
    return written
