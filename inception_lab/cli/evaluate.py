"""``inception-lab-eval``: single-crop, multi-crop and ensemble evaluation of checkpoints (``inception_lab.evaluate``).

    inception-lab-eval ckpt=outputs/runs/.../checkpoints/last.ckpt               # single centre crop
    inception-lab-eval ckpt=outputs/runs/2026-11-21/10-00-00 eval.crops=12       # a run dir = its last.ckpt
    inception-lab-eval ckpt=[a/checkpoints/last.ckpt,b/checkpoints/last.ckpt] eval.crops=144   # ensemble
    inception-lab-eval model.pretrained=timm:inception_v3.tf_in1k data=imagefolder data.root=/data/imagenet

Bad input (missing, truncated or foreign checkpoint; unknown crop set; a bad ``eval.*`` value; missing data; an
earlier record in the way) ends with one ``error:`` line and exit status 2; any other exception is a bug and keeps
its traceback.
"""

from __future__ import annotations

import sys
from typing import Any

import hydra
from omegaconf import DictConfig
from omegaconf.errors import MissingMandatoryValue

from inception_lab.config_path import CONFIG_DIR
from inception_lab.console import console, fail


def _fmt(value: Any, spec: str = ".2f") -> str:
    return "-" if value is None else f"{value:{spec}}"


def _pair(metrics: dict[str, Any] | None) -> str:
    if not metrics:
        return "-"
    return f"{_fmt(metrics.get('top1_err'))}% / {_fmt(metrics.get('top5_err'))}%"


def print_eval(record: dict[str, Any]) -> None:
    """The evaluation's summary (protocol, error, the run's own val error, published numbers); members of an
    ensemble as a second table."""
    from rich.markup import escape
    from rich.table import Table

    from inception_lab.data.views import describe_conventions

    crops = record["crops"]
    members = record["members"]
    table = Table(title=f"inception-lab-eval · {crops['name']} crops", show_header=False, title_justify="left")
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    if len(members) == 1:
        member = members[0]
        if member.get("pretrained"):
            table.add_row("weights", escape(f"{member['pretrained']} ({member['weights_cfg']['layout']} layout)"))
        else:
            table.add_row("checkpoint", escape(member["checkpoint"]))
        table.add_row("model", f"{member['model']['name']} @ {member['model']['input_size']} px, "
                               f"{member['weights']} weights")
        table.add_row("conventions", escape(describe_conventions(member["conventions"])))
        table.add_row("classes", escape(member["classes"]))
    else:
        table.add_row("ensemble", f"{len(members)} networks, mean softmax")
    protocol = f"{crops['label'] or crops['name']}: {crops['views']} view(s) per image"
    if crops.get("shorter_sides_px"):
        protocol += (f"; shorter sides {crops['shorter_sides_px']} px, {crops['squares']} square(s), corners "
                     f"{'on' if crops['corners'] else 'off'}, full square {'on' if crops['full_square'] else 'off'}, "
                     f"mirror {'on' if crops['mirror'] else 'off'}")
    table.add_row("protocol", escape(protocol))
    unmirrored = [m for m in members if not m.get("mirrored", True)]
    if crops.get("protocol_mirrors") and unmirrored:
        table.add_row("[yellow]mirror[/]", "views not mirrored for networks trained without horizontal flips (a "
                      "mirrored digit is another glyph); eval.mirror=true mirrors anyway")
    table.add_row("images", f"{record['num_images']} ({record['split']} split)")
    table.add_row("top-1 / top-5 error", _pair(record["metrics"]))
    table.add_row("NLL of mean softmax", _fmt(record["metrics"]["loss"], ".4f"))
    if len(members) == 1 and members[0].get("run_dir"):
        run_metrics = members[0].get("run_metrics") or {}
        table.add_row("run's own val (final)", _pair(run_metrics.get("final")))
    for published in record.get("published", []):
        table.add_row("published (ImageNet)",
                      escape(f"{_pair(published)}  {published['label']} · {published['source_text']}"))
    table.add_row("record", escape(record["output"]))
    console.print(table)
    if len(members) > 1:
        detail = Table(title="members", title_justify="left")
        for column in ("#", "run / weights", "model", "weights", "conventions", "top-1 / top-5 err"):
            detail.add_column(column, overflow="fold")
        for index, member in enumerate(members, 1):
            detail.add_row(str(index), escape(member.get("run_name") or member["checkpoint"] or member["pretrained"]),
                           f"{member['model']['name']} @ {member['model']['input_size']} px", member["weights"],
                           escape(describe_conventions(member["conventions"])), _pair(member["metrics"]))
        console.print(detail)


def _progress_factory():
    """A rich progress bar per member on a terminal; nothing when stdout is a file."""
    if not sys.stdout.isatty():
        return None
    from rich.progress import Progress

    def make(description: str, total: int):
        progress = Progress(console=console, transient=True)
        progress.start()
        task = progress.add_task(description, total=total)

        class _Advance:
            def __call__(self) -> None:
                progress.advance(task)

            def close(self) -> None:
                progress.stop()

        return _Advance()

    return make


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def main(cfg: DictConfig) -> float | None:
    """The ``inception-lab-eval`` console script. Returns the (ensemble's) top-1 accuracy."""
    from inception_lab.validation import RunError, check_eval, user_errors

    try:
        check_eval(cfg)
    except RunError as err:
        fail(err)
    from inception_lab.evaluate import EvalError, evaluate

    try:
        record = evaluate(cfg, progress_factory=_progress_factory())
    except MissingMandatoryValue:
        fail("ckpt is required: inception-lab-eval ckpt=<run dir or .ckpt> (a list [a.ckpt,b.ckpt] = an ensemble), "
             "or model.pretrained=<weights> data=imagefolder data.root=<folder>")
    except user_errors(EvalError) as err:
        fail(err)
    print_eval(record)
    return record["metrics"]["top1"]


if __name__ == "__main__":
    main()
