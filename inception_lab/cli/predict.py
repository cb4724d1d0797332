"""``inception-lab-predict``: top-k class names and probabilities for images, from a run or from pretrained weights.

    inception-lab-predict ckpt=outputs/runs/<date>/<time> images=photos/
    inception-lab-predict model.pretrained=timm:inception_v3.tf_in1k 'images=[a.jpg,b.png]' topk=3

Each image gets one central crop with the network's conventions: a run's input size, crop fraction and
interpolation (its recorded data config) and its family's normalisation; pretrained weights' own input size, crop
fraction, interpolation and mean/std (``model.pretrained_cfg``). Class names come from the run's
``class_index.json`` or the weights (ImageNet: WordNet ids, with their labels). Writes ``<output>.csv`` and
``<output>.json``. A file that cannot be read as an image is named on stderr (one line each) and recorded under
``skipped``; the rest are still predicted. Bad input (no network, nothing readable, outputs in the way) ends with
one ``error:`` line and exit status 2.
"""

from __future__ import annotations

import csv
import io
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from inception_lab.config_path import CONFIG_DIR
from inception_lab.console import console, error_console, fail, first_line


class PredictError(ValueError):
    """Bad input for a prediction (no network, no images, outputs in the way); one line saying what to do."""


@dataclass
class Network:
    """What predicting needs: the network in eval mode and how it wants its input."""

    model: Any
    source: dict[str, Any]  # {"ckpt": path} or {"pretrained": source, "layout": ...}
    class_names: list[str] | None
    label_offset: int
    input_size: int
    crop_fraction: float
    interpolation: str
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def conventions(self) -> dict[str, Any]:
        return {"mean": list(self.mean), "std": list(self.std), "input_size": self.input_size,
                "crop_fraction": self.crop_fraction, "interpolation": self.interpolation, "channels": self.channels}


def load_network(cfg: DictConfig) -> Network:
    """The network ``ckpt=`` or ``model.pretrained=`` names, with its conventions and class names."""
    from inception_lab.checkpoints import load_checkpoint, load_pretrained
    from inception_lab.data.base import DataError, load_class_index

    pretrained = OmegaConf.select(cfg, "model.pretrained")
    if bool(cfg.ckpt) == bool(pretrained):
        raise PredictError("give one network: ckpt=<run dir or .ckpt> or model.pretrained=<weights>")
    if cfg.ckpt:
        loaded = load_checkpoint(cfg.ckpt, weights=str(cfg.weights))
        data = loaded.config.get("data") or {}
        defaults = loaded.model.defaults
        try:
            names = load_class_index(loaded.run_dir)
        except DataError:
            names = None
        weights_cfg = getattr(loaded.model, "pretrained_cfg", None)
        interpolation = str(data.get("interpolation") or defaults.interpolation)
        return Network(
            loaded.model, {"ckpt": str(loaded.path), "weights": loaded.weights}, names, 0,
            int(data.get("image_size") or defaults.input_size),
            float(data.get("eval_crop_fraction") or (weights_cfg.crop_pct if weights_cfg else defaults.crop_fraction)),
            "bilinear" if interpolation == "random" else interpolation,
            int(loaded.model_args.get("in_chans", 3)), tuple(defaults.mean), tuple(defaults.std),
        )
    loaded = load_pretrained(str(pretrained), OmegaConf.select(cfg, "model.name"))
    pc = loaded.cfg
    return Network(
        loaded.model, {"pretrained": str(pretrained), "layout": pc.layout, "file": pc.file}, pc.class_names,
        int(pc.label_offset or 0), int(pc.input_size), float(pc.crop_pct), str(pc.interpolation),
        int(loaded.model_args.get("in_chans", 3)), tuple(pc.mean), tuple(pc.std),
    )


def collect_images(values: Any) -> tuple[list[Path], list[tuple[str, str]], int]:
    """``images=``: folders (searched recursively, image files by extension), files (any name: asked for), or a
    list of either. Returns (files, [(missing path, reason)], files in folders ignored as not images)."""
    from inception_lab.data.imagefolder import is_image_name

    items = list(values) if isinstance(values, (list, tuple, ListConfig)) else [values]
    files: list[Path] = []
    missing: list[tuple[str, str]] = []
    ignored = 0
    for item in items:
        path = Path(os.path.expanduser(str(item)))
        if path.is_dir():
            for folder, subfolders, names in os.walk(path):
                subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
                for name in sorted(names):
                    if is_image_name(name):
                        files.append(Path(folder) / name)
                    else:
                        ignored += 1
        elif path.is_file():
            files.append(path)
        else:
            missing.append((str(item), "no such file or folder"))
    return files, missing, ignored


def predict_images(network: Network, files: list[Path], topk: int, batch_size: int, device: Any,
                   autocast_dtype: Any) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Top-k per readable image; (predictions, [(path, reason)] for files that are not readable images)."""
    import torch

    from inception_lab.data.transforms import EvalTransform, ImageDecodeError
    from inception_lab.evaluate import view_log_probs

    transform = EvalTransform(network.input_size, network.crop_fraction, "central", network.interpolation,
                              mode="RGB" if network.channels == 3 else "L")
    model = network.model.to(device, memory_format=torch.channels_last).eval()
    labels = _readable_labels(network.class_names)
    predictions: list[dict[str, Any]] = []
    bad: list[tuple[str, str]] = []

    def flush(batch: list[tuple[Path, Any]]) -> None:
        views = torch.stack([t for _, t in batch]).to(device).float().div_(255.0).unsqueeze(1)
        log_probs = view_log_probs(model, views, network.mean, network.std, batch_size, autocast_dtype)[:, 0]
        probs = log_probs[:, network.label_offset:].exp()
        probs = probs / probs.sum(-1, keepdim=True)  # a skipped background output leaves the rest summing below 1
        values, indices = probs.topk(min(topk, probs.shape[-1]), dim=-1)
        for (path, _), value_row, index_row in zip(batch, values.tolist(), indices.tolist()):
            top = []
            for value, index in zip(value_row, index_row):
                name = network.class_names[index] if network.class_names else str(index)
                entry = {"index": int(index), "class": name, "probability": float(value)}
                if labels and name in labels:
                    entry["label"] = labels[name]
                top.append(entry)
            predictions.append({"path": str(path), "top": top})

    batch: list[tuple[Path, Any]] = []
    for path in files:
        try:
            batch.append((path, transform(path)))
        except ImageDecodeError as err:
            bad.append((str(path), str(err)))
            continue
        if len(batch) == batch_size:
            flush(batch)
            batch = []
    if batch:
        flush(batch)
    return predictions, bad


def _readable_labels(names: list[str] | None) -> dict[str, str] | None:
    """WordNet id -> label when the class names are ImageNet's WordNet ids."""
    if not names or not str(names[0]).startswith("n") or not str(names[0])[1:].isdigit():
        return None
    from inception_lab.models.pretrained import imagenet_class_labels

    return imagenet_class_labels()


def write_outputs(stem: Path, record: dict[str, Any], topk: int) -> tuple[Path, Path]:
    """``<stem>.csv`` (path, then class_i / probability_i [/ label_i] for each rank) and ``<stem>.json``, each
    written to a temporary file and renamed."""
    from inception_lab.results import write_json_atomic

    csv_path, json_path = stem.with_name(stem.name + ".csv"), stem.with_name(stem.name + ".json")
    with_labels = any("label" in entry for p in record["predictions"] for entry in p["top"])
    header = ["path"]
    for rank in range(1, topk + 1):
        header += [f"class_{rank}", f"probability_{rank}"] + ([f"label_{rank}"] if with_labels else [])
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for prediction in record["predictions"]:
        row = [prediction["path"]]
        for entry in prediction["top"]:
            row += [entry["class"], f"{entry['probability']:.6f}"] + ([entry.get("label", "")] if with_labels else [])
        writer.writerow(row)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = csv_path.with_name(f".{csv_path.name}.tmp{os.getpid()}")
    tmp.write_text(buffer.getvalue())
    os.replace(tmp, csv_path)
    write_json_atomic(json_path, record)
    return csv_path, json_path


def run(cfg: DictConfig) -> dict[str, Any]:
    """The whole job: load, list, predict, write; returns the record."""
    from inception_lab.evaluate import resolve_autocast, resolve_device
    from inception_lab.results import environment

    started = time.time()
    topk, batch_size = int(cfg.topk), int(cfg.batch_size)
    if topk < 1 or batch_size < 1:
        raise PredictError(f"topk and batch_size must be >= 1 (got topk={topk}, batch_size={batch_size})")
    stem = Path(os.path.expanduser(str(cfg.output)))
    existing = [p for p in (stem.with_name(stem.name + ".csv"), stem.with_name(stem.name + ".json")) if p.exists()]
    if existing and not cfg.overwrite:
        raise PredictError(f"{existing[0]} exists (an earlier prediction); pass overwrite=true to replace it, or "
                           "output=<path without extension>")
    files, missing, ignored = collect_images(cfg.images)
    if not files and not missing:
        raise PredictError(f"images={OmegaConf.to_container(cfg, resolve=True)['images']}: no image files found")
    device = resolve_device(cfg.device)
    network = load_network(cfg)
    predictions, bad = predict_images(network, files, topk, batch_size, device, resolve_autocast(cfg.precision, device))
    skipped = [*missing, *bad]
    from rich.markup import escape

    for path, reason in skipped:
        error_console.print(f"[bold yellow]skipped:[/] {escape(f'{path}: {reason}')}", highlight=False, soft_wrap=True)
    if not predictions:
        raise PredictError(f"none of the {len(files) + len(missing)} images could be read (each is named above)")
    record = {
        "kind": "predict",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "source": network.source,
        "conventions": network.conventions(),
        "topk": min(topk, len(predictions[0]["top"])),
        "num_images": len(predictions),
        "predictions": predictions,
        "skipped": [{"path": p, "reason": r} for p, r in skipped],
        "ignored_non_images": ignored,
        "wall_time_s": time.time() - started,
        **environment(),
    }
    record["outputs"] = [str(p) for p in write_outputs(stem, record, record["topk"])]
    return record


def print_predictions(record: dict[str, Any], rows: int = 20) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="inception-lab-predict", title_justify="left")
    for column in ("image", "top-1", "probability"):
        table.add_column(column, overflow="fold")
    for prediction in record["predictions"][:rows]:
        best = prediction["top"][0]
        name = best["class"] + (f" ({best['label'].split(',')[0]})" if best.get("label") else "")
        table.add_row(escape(prediction["path"]), escape(name), f"{best['probability']:.3f}")
    console.print(table)
    more = len(record["predictions"]) - rows
    console.print(
        (f"... and {more} more; " if more > 0 else "")
        + f"{record['num_images']} image(s) predicted, {len(record['skipped'])} skipped -> "
        + ", ".join(record["outputs"]), highlight=False, soft_wrap=True)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="predict")
def main(cfg: DictConfig) -> None:
    """The ``inception-lab-predict`` console script."""
    from inception_lab.validation import user_errors

    try:
        record = run(cfg)
    except MissingMandatoryValue:
        fail("images is required: inception-lab-predict ckpt=<run dir> images=<folder | file | [a.jpg,b.jpg]>")
    except user_errors(PredictError) as err:
        fail(first_line(err))
    print_predictions(record)


if __name__ == "__main__":
    main()
