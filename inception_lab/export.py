"""Export a trained network for inference: ONNX (default) or a ``torch.export`` program, checked against PyTorch.

``export(cfg)`` (the ``inception-lab-export`` job):

1. loads the checkpoint with ``inception_lab.checkpoints.load_checkpoint`` (weights_only, EMA or raw weights);
2. takes a real batch: the first validation images of the run's own data, through the run's validation
   transform and the family's normalisation (what the network saw when it was evaluated);
3. exports with a dynamic batch dimension (``torch.onnx.export(..., dynamo=True)``: torch.export, then ONNX);
   the spatial size stays fixed at the run's input size, so the TF-SAME padding of GoogLeNet and BN-Inception,
   computed from the input's shape, is exported for that size;
4. runs the exported file (ONNX Runtime; or ``torch.export.load``) on that batch and on a single image and
   compares the logits with PyTorch's: the max abs difference is recorded, and above ``export.atol`` the export
   fails and leaves no file behind;
5. moves the file into place and writes its input conventions (size, channels, layout, mean/std, class names,
   the check) beside it as ``<file>.json`` (``model.onnx.json``).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

EXPORT_DIRNAME = "export"
FORMATS = {"onnx": ".onnx", "pt2": ".pt2"}
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


class ExportError(ValueError):
    """Bad export input (checkpoint, format, output path, missing extra); one line saying what to do."""


class CheckFailed(RuntimeError):
    """The exported model's logits differ from PyTorch's by more than the tolerance."""


@dataclass
class CheckBatch:
    """Normalised float32 NCHW images and where they came from."""

    images: torch.Tensor
    source: str


def real_batch(data_config: dict[str, Any], defaults: Any, data_overrides: dict[str, Any] | None,
               batch_size: int) -> tuple[CheckBatch, Any]:
    """The first ``batch_size`` validation images of a run's data (its recorded ``data`` config), through its
    validation transform and normalised with the family's ``defaults``: what the network saw in evaluation."""
    from inception_lab.data.transforms import normalize_batch
    from inception_lab.data.views import ViewSource, build_datamodule, split_dataset
    from inception_lab.evaluate import CropSet

    datamodule = build_datamodule(data_config, data_overrides)
    datamodule.apply_model_defaults(defaults)
    dataset = split_dataset(datamodule, "val")
    source = ViewSource(datamodule, dataset, CropSet(name="single", central=True), int(datamodule.image_size),
                        batch_size, 0, torch.device("cpu"), limit_batches=1)
    views, _ = next(iter(source))
    images = normalize_batch(views[:, 0], datamodule.mean, datamodule.std).contiguous()
    return CheckBatch(images, f"the first {images.shape[0]} {datamodule.dataset_name} validation images"), datamodule


def _require(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ExportError(f"exporting needs {module}: pip install 'inception-lab[export]'") from None


def export_file(model: nn.Module, images: torch.Tensor, path: Path, fmt: str, opset: int | None = None) -> None:
    """Write ``model`` (eval mode, CPU) to ``path`` as ``fmt`` with a dynamic batch dimension."""
    batch = torch.export.Dim("batch", min=1)
    dynamic_shapes = ({0: batch},)
    if fmt == "onnx":
        _require("onnxscript")  # torch.onnx's exporter translates the graph with it
        _require("onnx")
        # it warns once per torchvision operator it cannot register when torchvision is absent: not ours to use
        logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
        torch.onnx.export(model, (images,), str(path), dynamo=True, dynamic_shapes=dynamic_shapes,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], opset_version=opset,
                          external_data=False, verbose=False)
    elif fmt == "pt2":
        torch.export.save(torch.export.export(model, (images,), dynamic_shapes=dynamic_shapes), str(path))
    else:
        raise ExportError(f"export.format must be one of {', '.join(FORMATS)}, got {fmt!r}")


def run_file(path: Path, fmt: str, images: torch.Tensor) -> torch.Tensor:
    """Logits of the exported file on ``images`` (ONNX Runtime on the CPU, or the loaded torch.export program)."""
    if fmt == "onnx":
        ort = _require("onnxruntime")
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return torch.from_numpy(session.run([OUTPUT_NAME], {INPUT_NAME: images.numpy()})[0])
    program = torch.export.load(str(path))
    with torch.inference_mode():
        return program.module()(images)


def check_file(model: nn.Module, path: Path, fmt: str, images: torch.Tensor, atol: float) -> dict[str, Any]:
    """Compare the exported file's logits with PyTorch's on the batch and on its first image (dynamic batch)."""
    diffs, agree = [], True
    for batch in (images, images[:1]):
        with torch.inference_mode():
            expected = model(batch)
        got = run_file(path, fmt, batch)
        if got.shape != expected.shape:
            raise CheckFailed(f"the exported model returned shape {tuple(got.shape)} for a batch of {batch.shape[0]}, "
                              f"PyTorch {tuple(expected.shape)}")
        diffs.append(float((got.float() - expected.float()).abs().max()))
        agree = agree and bool(torch.equal(got.argmax(-1), expected.argmax(-1)))
    result = {"batch_sizes": [int(images.shape[0]), 1], "max_abs_diff": max(diffs), "atol": float(atol),
              "top1_agrees": agree, "max_abs_logit": float(expected.abs().max())}
    if result["max_abs_diff"] > atol:
        raise CheckFailed(f"the exported model's logits differ from PyTorch's by up to {result['max_abs_diff']:.3g} "
                          f"(export.atol={atol:g}); the file was not written")
    return result


def default_output(run_dir: Path, fmt: str) -> Path:
    return run_dir / EXPORT_DIRNAME / f"model{FORMATS[fmt]}"


def conventions_path(output: Path) -> Path:
    """``model.onnx`` -> ``model.onnx.json`` (an ONNX and a pt2 export can share a folder)."""
    return output.with_name(output.name + ".json")


def export(cfg: Any) -> dict[str, Any]:
    """The ``inception-lab-export`` job (``cfg``: the composed ``conf/export.yaml``). Returns the conventions record."""
    from omegaconf import OmegaConf

    from inception_lab.checkpoints import load_checkpoint
    from inception_lab.results import environment, write_json_atomic

    started = time.time()
    ex = cfg.export
    fmt = str(ex.format)
    if fmt not in FORMATS:
        raise ExportError(f"export.format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    loaded = load_checkpoint(cfg.ckpt, weights=str(ex.weights), unsafe_load=bool(ex.unsafe_load))
    output = Path(os.path.expanduser(str(ex.output))) if ex.output else default_output(loaded.run_dir, fmt)
    if output.suffix != FORMATS[fmt]:
        raise ExportError(f"export.output={output}: a {fmt} file ends in {FORMATS[fmt]}")
    sidecar = conventions_path(output)
    for path in (output, sidecar):
        if path.exists() and not ex.overwrite:
            raise ExportError(f"{path} exists (an earlier export); pass export.overwrite=true to replace it, or "
                              "export.output=<file>")

    data_overrides = OmegaConf.to_container(cfg.data, resolve=True) if cfg.get("data") is not None else {}
    batch, datamodule = real_batch(loaded.config.get("data") or {}, loaded.model.defaults, data_overrides,
                                   int(ex.batch_size))
    model = loaded.model.float().eval()
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp{output.suffix}")
    try:
        export_file(model, batch.images, tmp, fmt, ex.opset)
        check = check_file(model, tmp, fmt, batch.images, float(ex.atol))
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
    check.update(images=batch.source, runtime="onnxruntime (CPUExecutionProvider)" if fmt == "onnx"
                 else "torch.export.load")

    channels, size = int(batch.images.shape[1]), int(batch.images.shape[-1])
    class_index = datamodule.class_index
    record = {
        "kind": "export",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "format": fmt,
        "file": output.name,
        "opset": _onnx_opset(output) if fmt == "onnx" else None,
        "model": {"name": loaded.model_name, "model_args": loaded.model_args,
                  "params": sum(p.numel() for p in model.parameters())},
        "source": {"checkpoint": str(loaded.path), "run_dir": str(loaded.run_dir), "weights": loaded.weights,
                   "epoch": loaded.epoch, "global_step": loaded.global_step},
        "input": {
            "name": INPUT_NAME,
            "shape": ["batch", channels, size, size],
            "dtype": "float32",
            "layout": "NCHW",
            "size": size,
            "channels": channels,
            "pixels": "values in [0, 1] (uint8 / 255), then (x - mean) / std per channel",
            "mean": list(datamodule.mean)[:channels],
            "std": list(datamodule.std)[:channels],
            "eval_crop_fraction": getattr(datamodule, "eval_crop_fraction", None),
            "interpolation": loaded.model.defaults.interpolation,
            "note": "the batch dimension is dynamic; height and width are fixed at size",
        },
        "output": {"name": OUTPUT_NAME, "shape": ["batch", class_index["num_classes"]],
                   "meaning": "class scores before softmax; index i is class_names[i]"},
        "class_names": class_index["class_names"],
        "dataset": class_index["dataset"],
        "check": check,
        "wall_time_s": time.time() - started,
        **environment(),
    }
    record["output_path"] = str(output)
    record["conventions_path"] = str(sidecar)
    write_json_atomic(sidecar, record)
    return record


def _onnx_opset(path: Path) -> int | None:
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return next((int(o.version) for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
