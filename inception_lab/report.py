"""Runs -> the papers' kind of evidence: a table (rich, markdown, CSV) with the published numbers beside ours, and
plots (PNG). Reads ``results.json`` files only (``inception_lab.results``), never checkpoints or logs.

- **Discovery.** Each path may be a ``results.json``, a run directory, a ``--multirun`` sweep directory or any
  folder above them. A run directory is one holding ``results.json`` or Hydra's ``.hydra/``; a run directory
  without a readable, valid results.json (a job killed before it wrote one, a truncated or hand-edited file) is
  listed as a *problem* and the rest of the report goes on.
- **Rows.** One per run, named from its overrides (results.json ``run_name`` / ``overrides``); within a group the
  overrides every run shares are printed once above the table instead of in every row. Diverged and failed runs
  stay in the table with their status and are listed again, with the step / reason, below it.
- **Groups.** Runs are grouped by the family of their ``experiment`` (``table3/rmsprop`` -> ``table3``); a group
  that is a known paper table (``inception_lab.paper_numbers.PAPER_TABLES``: Rethinking Table 3, Table 2, the v4
  paper's residual scaling) gets the published top-1 / top-5 error beside ours and the deltas, rows in the
  paper's order. Runs without an experiment form the group ``runs``.
- **Plots** (matplotlib, Agg, no pyplot state): validation error vs epoch per run, train loss vs step per run,
  and for the residual-scaling sweep the v4 paper's convergence comparison (residual, scaled and unscaled, vs the
  non-residual Inception-v4: its Figs 21-26), diverged runs marked where they stopped.
"""

from __future__ import annotations

import csv
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from inception_lab.paper_numbers import PAPER_TABLES, VERIFY_FLAG, PaperTable, Published, experiment_family
from inception_lab.results import FILENAME, ResultsError, read_results

NO_EXPERIMENT = "runs"
FORMATS = ("md", "csv", "png")
SKIP_DIRS = {"checkpoints", "csv", "wandb", "eval", "report", "tensorboard", "lightning_logs", "__pycache__"}
NAME_HIDDEN_PREFIXES = ("paths.", "hydra.", "logger.")  # as train.run_name: not part of a run's identity

CSV_COLUMNS = (
    "group", "experiment", "name", "run_name", "status", "reason", "diverged_at_step",
    "top1_err_best", "top5_err_best", "best_epoch", "top1_err_final", "top5_err_final", "final_epoch",
    "params", "params_with_aux", "flops_g", "macs_g", "input_size", "model",
    "images_per_second", "epochs", "steps", "wall_time_s",
    "paper_top1_err", "paper_top5_err", "delta_top1", "delta_top5", "paper_source", "paper_cost_gmacs",
    "paper_note", "output_dir", "results_path",
)


class MalformedRecord(ValueError):
    """A results.json that passes the schema's required keys but holds something unusable."""


@dataclass
class Problem:
    """A path the report could not use, and why (listed, never fatal)."""

    path: str
    reason: str


@dataclass
class Run:
    """One run's row, built from its results.json."""

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

    def metric(self, which: str, key: str) -> float | None:
        row = self.best if which == "best" else self.final
        value = (row or {}).get(key)
        return None if value is None or not _finite(value) else float(value)

    def delta(self, key: str) -> float | None:
        """Ours (best) minus the paper's, percentage points."""
        ours = self.metric("best", key)
        paper = getattr(self.published, key, None) if self.published else None
        return None if ours is None or paper is None else ours - paper

    @property
    def status_text(self) -> str:
        if self.status == "diverged" and self.diverged_at_step is not None:
            return f"diverged @ step {self.diverged_at_step}"
        return self.status


@dataclass
class Group:
    key: str
    runs: list[Run]
    table: PaperTable | None
    common: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return self.table.title if self.table else ("Runs without an experiment" if self.key == NO_EXPERIMENT
                                                     else f"Experiment {self.key}")


@dataclass
class Report:
    groups: list[Group]
    problems: list[Problem]
    sources: list[str]

    @property
    def runs(self) -> list[Run]:
        return [run for group in self.groups for run in group.runs]

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


def load(paths: Iterable[str | os.PathLike]) -> Report:
    """Read every results.json under ``paths``; bad files become problems, never exceptions."""
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
    return Report(groups=group_runs(runs), problems=problems, sources=paths)


def _visible(overrides: Sequence[str]) -> list[str]:
    return [o for o in overrides if not o.startswith(NAME_HIDDEN_PREFIXES)]


def _is_experiment_override(override: str) -> bool:
    return re.match(r"^\+{0,2}experiment=", override) is not None


def _short_override(override: str, family: str) -> str:
    """``+experiment=table3/rmsprop`` -> ``rmsprop`` inside the table3 group (the group names the family)."""
    match = re.match(r"^\+{0,2}experiment=(.+)$", override)
    if match and match.group(1).startswith(f"{family}/"):
        return match.group(1)[len(family) + 1:]
    return override


def group_runs(runs: list[Run]) -> list[Group]:
    """Group by experiment family, in order of first appearance; paper tables keep the paper's row order."""
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
        for run, overrides in zip(members, visible):
            parts = [_short_override(o, key) for o in overrides if o not in common]
            run.name = ",".join(parts) or (run.experiment or "default")
        groups.append(Group(key=key, runs=members, table=table, common=common))
    return groups


# ---------------------------------------------------------------------------------------------------------------
# Cells
# ---------------------------------------------------------------------------------------------------------------
def _num(value: Any, spec: str = ".2f", empty: str = "-") -> str:
    return empty if value is None or not _finite(value) else format(value, spec)


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2f}"


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


def row_values(run: Run) -> dict[str, Any]:
    """Every column of a run's row, raw (numbers as numbers, None = absent): the CSV row."""
    model = run.model
    paper = run.published
    flops, macs = model.get("flops"), model.get("macs")
    return {
        "group": run.group,
        "experiment": run.experiment,
        "name": run.name,
        "run_name": run.run_name,
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
        "paper_top1_err": paper.top1_err if paper else None,
        "paper_top5_err": paper.top5_err if paper else None,
        "delta_top1": run.delta("top1_err"),
        "delta_top5": run.delta("top5_err"),
        "paper_source": paper.source_text if paper else None,
        "paper_cost_gmacs": paper.cost_gmacs if paper else None,
        "paper_note": paper.note if paper and paper.note else None,
        "output_dir": str(run.run_dir),
        "results_path": str(run.path),
    }


def _pair(first: Any, second: Any, fmt=None) -> str:
    fmt = fmt or _num
    if first is None and second is None:
        return "-"
    return f"{fmt(first) if first is not None else '-'} / {fmt(second) if second is not None else '-'}"


def table_cells(group: Group) -> tuple[list[str], list[list[str]]]:
    """Headers and formatted cells of a group's human table (terminal and markdown): error pairs as
    ``top-1 / top-5``; paper columns only in paper-table groups."""
    headers = ["run", "status", "best err 1/5", "final err 1/5", "params", "FLOPs (G)", "images/s", "epochs",
               "wall time"]
    if group.table:
        headers += ["paper err 1/5", "Δ best − paper", "source"]
    rows = []
    for run in group.runs:
        v = row_values(run)
        epochs = v["epochs"]
        cells = [
            run.name,
            run.status_text,
            _pair(v["top1_err_best"], v["top5_err_best"]),
            _pair(v["top1_err_final"], v["top5_err_final"]),
            _params(v["params"]),
            _num(v["flops_g"], ".3f"),
            _num(v["images_per_second"], ".1f"),
            str(epochs) if isinstance(epochs, int) else _num(epochs, ".0f"),
            _wall(v["wall_time_s"]),
        ]
        if group.table:
            cells += [
                _pair(v["paper_top1_err"], v["paper_top5_err"]),
                _pair(v["delta_top1"], v["delta_top5"], _signed),
                run.published.source_text if run.published else "(not in the paper)",
            ]
        rows.append(cells)
    return headers, rows


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
    if report.problems:
        parts.append(f"{len(report.problems)} unreadable")
    return "; ".join(parts)


# ---------------------------------------------------------------------------------------------------------------
# Terminal (rich)
# ---------------------------------------------------------------------------------------------------------------
_STATUS_STYLE = {"completed": "green", "diverged": "yellow", "failed": "red"}


def render_terminal(report: Report, console: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    console.print(f"[bold]inception-lab-report[/] · {summary_line(report)}", highlight=False)
    for group in report.groups:
        headers, rows = table_cells(group)
        table = Table(title=escape(f"{group.key} · {group.title}"), title_justify="left", show_lines=False)
        longest = max((len(cells[0]) for cells in rows), default=10)
        for header in headers:
            numeric = header not in ("run", "status", "source")
            table.add_column(header, justify="right" if numeric else "left", overflow="fold",
                             min_width=min(longest, 32) if header == "run" else None)
        for run, cells in zip(group.runs, rows):
            style = _STATUS_STYLE.get(run.status, "")
            cells = [escape(c) for c in cells]  # run names like regularizer=[a,b] are not markup
            cells[1] = f"[{style}]{cells[1]}[/]" if style else cells[1]
            table.add_row(*cells)
        if group.common:
            table.caption = "all rows: " + escape(",".join(group.common))
            table.caption_justify = "left"
        console.print(table)
        if group.table:
            console.print(escape("  err 1/5 = top-1 / top-5 error %, lower is better; Δ = ours (best) − paper, "
                                 "points. " + " ".join(group.table.notes)), style="dim", highlight=False)
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
    right = {h for h in headers if h not in ("run", "status", "source")}
    lines = ["| " + " | ".join(_md_escape(h) for h in headers) + " |",
             "|" + "|".join("---:" if h in right else "---" for h in headers) + "|"]
    lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in rows]
    return lines


def write_markdown(report: Report, path: Path, plots: Sequence[Path] = ()) -> Path:
    lines = [
        "# inception-lab report",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M:%S')} from: " + ", ".join(f"`{s}`" for s in report.sources),
        "",
        summary_line(report) + ". `err 1/5` = top-1 / top-5 validation error %, lower is better; `best` = the "
        "epoch with the best top-1, `final` = the last epoch.",
        "",
    ]
    for group in report.groups:
        headers, rows = table_cells(group)
        lines += [f"## {group.key}: {group.title}", ""]
        if group.common:
            lines += ["All rows: `" + ",".join(group.common) + "`", ""]
        lines += _md_table(headers, rows) + [""]
        if group.table:
            lines.append(f"Published numbers: {group.table.source} ({_paper_title(group.table.paper)}). "
                         "Δ = ours (best epoch) − paper, percentage points.")
            if any(run.published and run.published.verify for run in group.runs):
                lines.append(f"Numbers marked {VERIFY_FLAG} are flagged so in the reference; check them against "
                             "the paper.")
            lines += [f"- {note}" for note in group.table.notes]
            notes = {run.published.label: run.published.note for run in group.runs
                     if run.published and run.published.note}
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
        lines += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots] + [""]
    path.write_text("\n".join(lines))
    return path


def _paper_title(key: str) -> str:
    from inception_lab.paper_numbers import PAPERS

    return PAPERS.get(key, key)


def write_csv(report: Report, path: Path) -> Path:
    """One row per run (all columns raw); unreadable files as rows with status ``unreadable``."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(CSV_COLUMNS), extrasaction="ignore")
        writer.writeheader()
        for run in report.runs:
            writer.writerow({k: ("" if v is None else v) for k, v in row_values(run).items()})
        for problem in report.problems:
            writer.writerow({"status": "unreadable", "reason": problem.reason, "results_path": problem.path})
    return path


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


def _label(run: Run, limit: int = 48) -> str:
    text = run.name if run.group == NO_EXPERIMENT or not run.experiment else run.experiment.split("/", 1)[-1]
    if run.status != "completed":
        text += f" ({run.status})"
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
    return xs, ys


def _mark_end(ax, run: Run, xs: list[float], ys: list[float], color: Any) -> None:
    finite = [(x, y) for x, y in zip(xs, ys) if math.isfinite(y)]
    if run.status != "completed" and finite:
        ax.plot([finite[-1][0]], [finite[-1][1]], marker="x", markersize=10, color=color, linestyle="none")


def _integer_x(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _log_if_wide(ax, values: Iterable[float]) -> None:
    positive = [v for v in values if math.isfinite(v) and v > 0]
    if positive and max(positive) / min(positive) > 100:
        ax.set_yscale("log")


def plot_val_error(runs: Sequence[Run], path: Path) -> Path | None:
    runs = [r for r in runs if _series(r, "epoch", "val_top1")[0]]
    if not runs:
        return None
    fig, (ax1, ax5) = _figure(2)
    for run in runs:
        for ax, key in ((ax1, "val_top1"), (ax5, "val_top5")):
            xs, ys = _series(run, "epoch", key, _err)
            (line,) = ax.plot(xs, ys, marker="o", markersize=3, label=_label(run))
            _mark_end(ax, run, xs, ys, line.get_color())
    for ax, title in ((ax1, "top-1"), (ax5, "top-5")):
        _integer_x(ax)
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"validation {title} error (%)")
        ax.set_title(f"Validation {title} error per run")
        ax.grid(alpha=0.3)
    ax1.legend(fontsize=7, loc="best")
    fig.savefig(path, dpi=110)
    return path


def plot_train_loss(runs: Sequence[Run], path: Path) -> Path | None:
    runs = [r for r in runs if _train_loss_series(r)[0]]
    if not runs:
        return None
    fig, (ax,) = _figure(1, width=7.5)
    values = []
    for run in runs:
        xs, ys = _train_loss_series(run)
        values += ys
        (line,) = ax.plot(xs, ys, marker="o", markersize=3, label=_label(run))
        _mark_end(ax, run, xs, ys, line.get_color())
    _log_if_wide(ax, values)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("train loss (epoch mean; step 0 = first batch)")
    ax.set_title("Training loss per run (x = where a run stopped early)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.savefig(path, dpi=110)
    return path


def _residual_kind(run: Run) -> tuple[str, str]:
    """(network family, setting) of a residual-scaling run: ('IR-v1' | 'IR-v2' | 'v4', 'scaled' | 'unscaled' |
    'control'), from the experiment name or, failing that, the recorded model config."""
    row = (run.experiment or "").split("/", 1)[-1]
    if row.startswith("ir_v1"):
        family = "Inception-ResNet-v1"
    elif row.startswith("ir_v2"):
        family = "Inception-ResNet-v2"
    elif row.startswith("v4"):
        family = "Inception-v4"
    else:
        family = str(run.model.get("name") or row)
    if "unscaled" in row:
        setting = "unscaled (scale 1.0)"
    elif "scaled" in row:
        setting = "scaled"
    elif family == "Inception-v4":
        setting = "non-residual control"
    else:
        config = run.record.get("config") if isinstance(run.record.get("config"), dict) else {}
        setting = f"residual_scale={((config.get('model') or {}).get('residual_scale'))}"
    return family, setting


def plot_residual_scaling(runs: Sequence[Run], path: Path) -> Path | None:
    """The v4 paper's convergence comparison (Figs 21-26): validation top-1 error vs epoch and training loss vs step,
    residual networks (solid: scaled, dashed: unscaled) against the non-residual Inception-v4 (black)."""
    runs = [r for r in runs if r.history or r.status != "completed"]
    if not runs:
        return None
    colours = {"Inception-ResNet-v1": "tab:blue", "Inception-ResNet-v2": "tab:orange", "Inception-v4": "black"}
    fig, (ax_err, ax_loss) = _figure(2)
    loss_values = []
    for run in runs:
        family, setting = _residual_kind(run)
        colour = colours.get(family, None)
        style = "--" if setting.startswith("unscaled") else "-"
        label = f"{family}, {setting}" + ("" if run.status == "completed" else f" — {run.status_text}")
        xs, ys = _series(run, "epoch", "val_top1", _err)
        (line,) = ax_err.plot(xs, ys, linestyle=style, marker="o", markersize=3, color=colour, label=label)
        _mark_end(ax_err, run, xs, ys, line.get_color())
        xs, ys = _train_loss_series(run)
        loss_values += ys
        ax_loss.plot(xs, ys, linestyle=style, marker="o", markersize=3, color=line.get_color())
        _mark_end(ax_loss, run, xs, ys, line.get_color())
        if run.status == "diverged" and run.diverged_at_step is not None:
            ax_loss.axvline(run.diverged_at_step, color=line.get_color(), linestyle=":", alpha=0.6)
    _log_if_wide(ax_loss, loss_values)
    _integer_x(ax_err)
    ax_err.set_xlabel("epoch")
    ax_err.set_ylabel("validation top-1 error (%)")
    ax_err.set_title("Residual vs non-residual: validation error")
    ax_loss.set_xlabel("optimizer step")
    ax_loss.set_ylabel("train loss")
    ax_loss.set_title("Training loss (dotted: divergence step)")
    for ax in (ax_err, ax_loss):
        ax.grid(alpha=0.3)
    ax_err.legend(fontsize=7, loc="best")
    fig.suptitle("Residual scaling (cf. Inception-v4 paper §3.3, Figs 21-26)")
    fig.savefig(path, dpi=110)
    return path


def write_plots(report: Report, out: Path) -> list[Path]:
    written = [plot_val_error(report.runs, out / "val_error.png"),
               plot_train_loss(report.runs, out / "train_loss.png")]
    for group in report.groups:
        if group.key == "residual_scaling":
            written.append(plot_residual_scaling(group.runs, out / "residual_scaling.png"))
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
        written.append(write_csv(report, out / "report.csv"))
    return written
