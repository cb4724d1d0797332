"""Rich terminal output shared by the entry points: one console for results, one for errors (stderr)."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()
error_console = Console(stderr=True)


def print_error(message: object, label: str = "error") -> None:
    """One ``error: ...`` line on stderr (only the message's first line; printed literally, never wrapped).
    ``label="warning"`` for the yellow variant."""
    text = str(message).strip().splitlines()[0] if str(message).strip() else type(message).__name__
    colour = "yellow" if label == "warning" else "red"
    error_console.print(f"[bold {colour}]{label}:[/] {escape(text)}", highlight=False, soft_wrap=True)


def first_line(err: BaseException) -> str:
    """What an ``error:`` line says of an exception: its message's first line, or its type when it has none."""
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def fail(message: object, status: int = 2) -> NoReturn:
    """Bad input: ``print_error`` and exit with ``status`` (2, the convention for a usage error)."""
    print_error(message)
    sys.exit(status)


def _fmt(value: Any, spec: str = ".2f", suffix: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:{spec}}{suffix}"


def print_summary(record: dict[str, Any]) -> None:
    """The end-of-run table: status, val top-1/top-5 (accuracy and error), loss, cost, time, where things are."""
    best = record["metrics"].get("best") or {}
    final = record["metrics"].get("final") or {}
    model = record["model"]
    status = record["status"]
    colour = {"completed": "green", "diverged": "yellow", "failed": "red"}[status]
    # escape: overrides such as logger=[csv,wandb] are rich markup otherwise, and vanish from the title
    table = Table(title=f"inception-lab · {escape(record['run_name'])}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    extra = f" at step {record.get('diverged_at_step')}" if status == "diverged" else ""
    table.add_row("status", f"[{colour}]{status}[/]{extra}")
    if status == "diverged" and record.get("reason"):
        table.add_row("why", escape(record["reason"]))
    aux = "aux heads on" if model.get("aux_heads") else "aux heads off"
    table.add_row("model", f"{model['name']} @ {model.get('input_size')} px, {aux}")
    for label, row in (("final", final), ("best", best)):
        if row:
            table.add_row(
                f"val top-1 / top-5 ({label}, epoch {row.get('epoch')})",
                f"{_fmt(row.get('top1') and 100 * row['top1'])}% / {_fmt(row.get('top5') and 100 * row['top5'])}%"
                f"  (error {_fmt(row.get('top1_err'))}% / {_fmt(row.get('top5_err'))}%)",
            )
    table.add_row("val loss (final)", _fmt(final.get("loss"), ".4f"))
    table.add_row("params", _fmt(model.get("params"), ",d"))
    table.add_row("FLOPs / image (forward)", _fmt(model.get("flops") and model["flops"] / 1e9, ".3f", " G"))
    table.add_row("epochs / steps", f"{record.get('epochs')} / {record.get('steps')}")
    table.add_row("train images/s", _fmt(record.get("images_per_second"), ".1f"))
    table.add_row("wall time", _fmt(record.get("wall_time_s"), ".1f", " s"))
    table.add_row("outputs", str(record.get("output_dir")))
    if record.get("checkpoint"):
        table.add_row("checkpoint", str(record["checkpoint"]))
    if record.get("wandb"):
        table.add_row("W&B", str(record["wandb"].get("url") or record["wandb"].get("run_path")))
    console.print(table)
    for warning in record.get("warnings") or []:
        console.print(f"[bold yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    # The paths inception-lab-eval and ckpt_path= need, whole (the table cuts long cells in narrow terminals/logs).
    console.print(f"run dir: {record.get('output_dir')}", highlight=False, soft_wrap=True, markup=False)
