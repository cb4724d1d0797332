"""``inception-lab-models``: every registered network and the variants worth seeing, with what they cost.

For each model in ``list_models()`` (and each variant: Rethinking Table 2 settings from ``conf/resolution/``,
Table 3 switches, paper-vs-code readings) it prints one row of ``model_card``: parameters without / with the
auxiliary heads, MACs at the input size (conv + linear, eval graph, 1 MAC = 2 FLOPs; docs/reference.md#notation, #counts),
the spatial grid after each stage, and the minimum input size with the aux heads off / on (docs/reference.md#minimum-input).
All networks are built on the meta device, so full widths cost no memory and little time.

The rows besides the defaults and the Table 2 settings are the family's own: ``register_model(..., variants=...)``
in its model file, a dict ``label -> overrides`` (an ``input_size`` key in the overrides sets the input size).

Usage::

    inception-lab-models                    # rich table, every model and variant
    inception-lab-models --model v3 --model v2
    inception-lab-models --json             # the same rows as JSON (model_card dicts + "variant", "error")
    inception-lab-models --no-variants      # one row per model, its defaults
    inception-lab-models model=v3 model.width_mult=0.25 data=imagefolder data.root=...   # the network a run trains
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
from pathlib import Path
from typing import Any

RESOLUTION_SWITCHES = ("first_stride", "first_pool")  # models with these take resolution=r299|r151|r79 rows


def _import_all_models() -> None:
    """Import every module of inception_lab.models so that each registers its networks."""
    import inception_lab.models as package

    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{info.name}")


def resolution_settings() -> dict[str, dict[str, Any]]:
    """Table 2 settings read from conf/resolution/r*.yaml: name -> model overrides + ``input_size``."""
    from omegaconf import OmegaConf

    from inception_lab.config_path import CONFIG_DIR

    settings = {}
    for path in sorted(Path(CONFIG_DIR, "resolution").glob("r*.yaml"), key=lambda p: -int(p.stem[1:] or 0)):
        cfg = OmegaConf.to_container(OmegaConf.load(path), resolve=True) or {}
        overrides = dict(cfg.get("model") or {})
        size = (cfg.get("data") or {}).get("image_size")
        if size is not None:
            overrides["input_size"] = int(size)
        settings[path.stem] = overrides
    return settings


def variants_for(name: str) -> dict[str, dict[str, Any]]:
    """Rows to show for one model: ``label -> overrides`` (the first is the model's defaults; then the Table 2
    settings for a network with the resolution switches; then the family's own, ``model_variants``)."""
    from inception_lab.models.registry import model_switches, model_variants

    rows: dict[str, dict[str, Any]] = {"defaults": {}}
    switches = model_switches(name)
    if all(s in switches for s in RESOLUTION_SWITCHES):
        for res, overrides in resolution_settings().items():
            if res != "r299":  # r299 is the defaults row
                rows[f"resolution={res}"] = overrides
    rows.update(model_variants(name))
    return rows


def collect(models: list[str] | None = None, variants: bool = True) -> list[dict[str, Any]]:
    """One ``model_card`` dict per row, with ``variant`` (label) and ``error`` (None, or why the card failed)."""
    from inception_lab.models.cost import model_card
    from inception_lab.models.registry import canonical_name, list_models

    _import_all_models()
    names = [canonical_name(m) for m in models] if models else list_models()
    rows = []
    for name in dict.fromkeys(names):
        for label, overrides in (variants_for(name) if variants else {"defaults": {}}).items():
            overrides = dict(overrides)
            input_size = overrides.pop("input_size", None)
            try:
                card = model_card(name, input_size=input_size, **overrides)
                card["error"] = None
            except Exception as err:  # one broken variant must not hide the others
                card = {"name": name, "overrides": overrides, "input_size": input_size, "error": f"{type(err).__name__}: {err}"}
            card["variant"] = label
            rows.append(card)
    return rows


def collect_run(overrides: list[str]) -> list[dict[str, Any]]:
    """The one network that ``inception-lab <overrides>`` would train: its width, switches, input size, classes
    and channels, composed from the same config (aux heads resolved as training resolves them)."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from inception_lab.build import build_model
    from inception_lab.config_path import CONFIG_DIR
    from inception_lab.models.cost import model_card

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    data = instantiate(cfg.data)
    _, model_args = build_model(cfg, data.num_classes, data.channels, data.image_size)
    switches = {k: v for k, v in model_args.items() if k != "name"}
    card = model_card(cfg.model.name, input_size=data.image_size, **switches)
    card.update(error=None, variant=f"this run ({data.num_classes} classes, {data.channels}-channel input)")
    return [card]


def grid_path(grids: dict[str, list[int]]) -> str:
    """Spatial sizes stage after stage, repeats collapsed: ``149→147→73→71→35→17→8`` (docs/reference.md#minimum-input style)."""
    sizes: list[str] = []
    for shape in grids.values():
        if len(shape) == 3:
            h, w = shape[1:]
            s = str(h) if h == w else f"{h}x{w}"
            if not sizes or sizes[-1] != s:
                sizes.append(s)
    return "→".join(sizes)


def _fmt_int(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def print_table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console() if sys.stdout.isatty() else Console(width=200)
    table = Table(
        title="inception-lab models (1000 classes unless the row says otherwise; MACs = conv+linear multiply-adds, "
        "eval graph, 1 MAC = 2 FLOPs)",
        title_justify="left",
    )
    for column, justify in (
        ("model", "left"),
        ("variant", "left"),
        ("input", "right"),
        ("params (no aux)", "right"),
        ("params (+aux)", "right"),
        ("GMACs", "right"),
        ("grid after each stage", "left"),
        ("min input (aux off / on)", "right"),
    ):
        table.add_column(column, justify=justify, overflow="fold")
    previous = None
    for row in rows:
        model = row["name"] if row["name"] != previous else ""
        previous = row["name"]
        if row.get("error"):
            table.add_row(model, row["variant"], str(row.get("input_size") or "-"), f"[red]{row['error']}[/]", *[""] * 4)
            continue
        aux_min = row["min_input_aux"]
        table.add_row(
            model,
            row["variant"],
            str(row["input_size"]),
            _fmt_int(row["params_no_aux"]),
            _fmt_int(row["params_aux"]),
            f"{row['macs'] / 1e9:.3f}",
            grid_path(row["grids"]),
            f"{row['min_input']} / {'-' if aux_min is None else aux_min}",
        )
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="inception-lab-models",
        description="Parameters, MACs, grid sizes and minimum input sizes of every registered network and its "
        "variants (docs/reference.md#numbers; built on the meta device).",
    )
    parser.add_argument("--model", action="append", metavar="NAME", help="only this model (repeatable; aliases ok)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    parser.add_argument("--no-variants", action="store_true", help="one row per model (its defaults)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="a training run's overrides (model=v3 model.width_mult=0.25 data=...): show exactly the "
                        "network that run trains, at its input size, classes and channels")
    args = parser.parse_args(argv)

    from hydra.errors import HydraException

    from inception_lab.data import DataError
    from inception_lab.models.registry import UnknownModelError

    try:
        rows = collect_run(args.overrides) if args.overrides else collect(args.model, variants=not args.no_variants)
    except (UnknownModelError, DataError, HydraException) as err:
        from inception_lab.console import print_error

        print_error(err)
        return 2
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print_table(rows)
    return 1 if any(r.get("error") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
