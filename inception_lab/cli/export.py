"""``inception-lab-export``: a checkpoint as ONNX (or a torch.export program), checked against PyTorch.

    inception-lab-export ckpt=outputs/runs/2026-11-21/10-00-00            # -> <run dir>/export/model.onnx (+ .json)
    inception-lab-export ckpt=<run>/checkpoints/last.ckpt export.format=pt2

Bad input (missing or foreign checkpoint, an earlier export in the way, missing data, the [export] extra not
installed) ends with one ``error:`` line and exit status 2; an export whose logits differ from PyTorch's by more
than ``export.atol`` ends with one ``error:`` line and exit status 1, and no file is written.
"""

from __future__ import annotations

from typing import Any

import hydra
from omegaconf import DictConfig
from omegaconf.errors import MissingMandatoryValue

from inception_lab.config_path import CONFIG_DIR
from inception_lab.console import console, fail, first_line


def print_export(record: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    check, spec = record["check"], record["input"]
    table = Table(title=f"inception-lab-export · {record['format']}", show_header=False, title_justify="left")
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row("checkpoint", escape(record["source"]["checkpoint"]))
    table.add_row("model", f"{record['model']['name']}, {record['model']['params']:,} parameters, "
                           f"{record['source']['weights']} weights")
    table.add_row("input", f"{escape(_shape(spec))} float32, mean {spec['mean']}, std {spec['std']}")
    table.add_row("output", escape(f"{record['output']['name']} [batch, {record['output']['shape'][1]}] (before softmax)"))
    table.add_row("check", f"max abs diff {check['max_abs_diff']:.3g} (tolerance {check['atol']:g}) on "
                           f"{escape(check['images'])} and on one image; top-1 "
                           f"{'agrees' if check['top1_agrees'] else 'DIFFERS'}")
    table.add_row("file", escape(record["output_path"]))
    table.add_row("conventions", escape(record["conventions_path"]))
    console.print(table)


def _shape(spec: dict[str, Any]) -> str:
    return "[" + ", ".join(str(d) for d in spec["shape"]) + "]"


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="export")
def main(cfg: DictConfig) -> None:
    """The ``inception-lab-export`` console script."""
    from inception_lab.export import CheckFailed, ExportError, export
    from inception_lab.validation import user_errors

    try:
        record = export(cfg)
    except MissingMandatoryValue:
        fail("ckpt is required: inception-lab-export ckpt=<run dir or .ckpt>")
    except CheckFailed as err:
        fail(str(err), status=1)
    except user_errors(ExportError) as err:
        fail(first_line(err))
    print_export(record)


if __name__ == "__main__":
    main()
