"""Harness overhead: the lab's Lightning path against a bare PyTorch loop, same model, data and batch.

On the CPU (default) as described below; with ``--device cuda`` the same comparison runs as ``Setup.for_gpu()``
says (full-width v3 at 299 px, batch 128, bf16 autocast, channels_last, 4 pinned-memory loader workers in both
paths), each path waiting for the device only at the two steps whose times are used.

Both paths train the same network (``create_model("v3", width_mult=0.25, in_chans=3, num_classes=10,
aux_logits=False)``, copied from one initial state for every run) on the same synthetic in-memory data
(``SyntheticDataModule``: a pool of random uint8 images, ``num_workers=0``, the lab's uint8 -> float
normalisation on the device) with the same batch (32 at 75 px) in the same memory format (channels_last, the
lab's ``channels_last=true``), the same optimizer (``RMSpropTF`` with the
papers' hyper-parameters over ``weight_decay_groups``, as ``optimizer=rmsprop_tf`` builds it) and the same
per-step scheduler (``inception_lab.optim.cosine``):

- **lab**: ``lightning.Trainer`` + ``inception_lab.module.InceptionClassifier`` (divergence check, metrics,
  ``self.log`` every step, the ``ThroughputMonitor`` callback of ``callbacks=default``), with no logger, no
  checkpointing, no progress bar and no validation, so the harness is measured, not I/O;
- **bare**: ``for images, labels in loader``: normalise, forward, cross-entropy, backward, optimizer step,
  scheduler step.

After one warm-up run of each, lab and bare alternate (a/b/a/b...) for ``--repeats`` pairs. Each run trains
``--steps`` steps (short runs, many pairs: this 2-core VM's speed wanders by +-20 % over tens of seconds);
the first ``--skip`` steps of every run are not timed (steady state = time between the end
of step ``skip`` and the end of the last step). Reported: steady-state images/s (median over repeats, range),
the ratio lab / bare as the median of the adjacent pairs' ratios (headline: a pair runs seconds apart, so
slow drifts of a shared machine cancel) and of the medians (target >= 0.97), and the whole call (Trainer construction + ``fit`` vs.
optimizer construction + loop) as "end-to-end". The 1-minute load average is recorded before and after each
timed run.

    python benchmarks/harness_overhead.py                  # 20 steps x 10 pairs, markdown table
    python benchmarks/harness_overhead.py --profile        # + torch.profiler of 8 lab and 8 bare steps, compared
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import functools
import json
import os
import statistics
import time
import warnings

import torch
from torch.nn import functional as F

from inception_lab.models.cost import count_flops

NUM_CLASSES = 10
clock = time.perf_counter  # --cpu-time: time.process_time with one torch thread (a loaded machine's wall time lies)


@dataclasses.dataclass(frozen=True)
class Setup:
    """What both paths train. CPU defaults: v3 x0.25, batch 32 at 75 px, fp32, channels_last (the lab's default),
    the loader in the main process. ``Setup.for_gpu()``: the full-width v3 at 299 px, batch 128, bf16 autocast,
    channels_last and cuDNN autotuning (the lab's GPU defaults), 4 pinned-memory loader workers."""

    device: str = "cpu"
    model: str = "v3"
    width_mult: float = 0.25
    image_size: int = 75
    batch: int = 32
    bf16: bool = False
    channels_last: bool = True
    num_workers: int = 0
    compile: bool = False

    @classmethod
    def for_gpu(cls, device: str = "cuda", **changes) -> Setup:
        return cls(**{"device": device, "width_mult": 1.0, "image_size": 299, "batch": 128, "bf16": True,
                      "num_workers": 4, **changes})

    @property
    def cuda(self) -> bool:
        return torch.device(self.device).type == "cuda"


def load1() -> float:
    return round(os.getloadavg()[0], 2)


def build_model(setup: Setup):
    from inception_lab.models import create_model

    torch.manual_seed(0)
    return create_model(setup.model, num_classes=NUM_CLASSES, in_chans=3, width_mult=setup.width_mult,
                        aux_logits=False)


def build_data(setup: Setup, steps: int):
    from inception_lab.data import SyntheticDataModule

    return SyntheticDataModule(image_size=setup.image_size, num_classes=NUM_CLASSES, channels=3,
                               train_size=steps * setup.batch, val_size=setup.batch, pool_size=64, seed=0,
                               batch_size=setup.batch, num_workers=setup.num_workers, pin_memory=setup.cuda,
                               persistent_workers=False, drop_last=True, color_jitter="none")


def optimizer_partial():
    from inception_lab.optim import RMSpropTF

    # conf/optimizer/rmsprop_tf.yaml with regularizer.weight_decay 4e-5
    return functools.partial(RMSpropTF, lr=0.045, alpha=0.9, momentum=0.9, eps=1.0, centered=False,
                             weight_decay=4.0e-5)


def scheduler_partial():
    from inception_lab.optim import cosine

    return functools.partial(cosine, warmup_epochs=0.0, min_lr_ratio=0.0)  # conf/scheduler/cosine.yaml


def stamper(setup: Setup, marks: set[int]):
    """``stamp(ends, i)`` appends the time at the end of step ``i``; on a GPU it first waits for the device at the
    steps whose times are used (``marks``) and nowhere else, so neither path gains a synchronisation it lacks."""

    def stamp(ends: list[float], i: int) -> None:
        if setup.cuda and i in marks:
            torch.cuda.synchronize(setup.device)
        ends.append(clock())

    return stamp


def timing_marks(steps: int, skip: int, profile_steps: int) -> set[int]:
    return {2, 3 + profile_steps - 1} if profile_steps else {skip, steps - 1}


EMA_PATHS = {"lab+ema": "inception_lab.callbacks", "lab+lightning-ema": "lightning.pytorch.callbacks"}


def ema_callback(path: str):
    """conf/callbacks/ema.yaml's EMA for ``lab+ema``; Lightning's own ``EMAWeightAveraging`` (per-tensor update,
    what the lab used before) for ``lab+lightning-ema``, to compare against."""
    import importlib

    cls = importlib.import_module(EMA_PATHS[path]).EMAWeightAveraging
    return cls(decay=0.9999, use_buffers=True, update_every_n_steps=1)


def run_lab(setup: Setup, init_model, steps: int, skip: int, profile_steps: int = 0, ema: str | None = None,
            extra_callbacks: tuple = ()) -> dict:
    import lightning as L
    from lightning.pytorch.callbacks import Callback

    from inception_lab.callbacks import ThroughputMonitor
    from inception_lab.module import InceptionClassifier, batch_size

    stamp = stamper(setup, timing_marks(steps, skip, profile_steps))

    class Stamps(Callback):
        def __init__(self) -> None:
            self.ends: list[float] = []

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            stamp(self.ends, batch_idx)

    t0 = clock()
    model = copy.deepcopy(init_model)
    dm = build_data(setup, steps)
    dm.apply_model_defaults(model.defaults)
    module = InceptionClassifier(model, optimizer_partial(), scheduler_partial(), num_classes=NUM_CLASSES,
                                 label_smoothing=0.0, aux_weight=0.4, channels_last=setup.channels_last)
    if setup.compile:
        module.model.compile()  # as compile=true: in place
    stamps = Stamps()
    callbacks = [stamps, ThroughputMonitor(batch_size_fn=batch_size, window_size=2)]  # conf/callbacks/default.yaml
    if ema:
        callbacks.insert(0, ema_callback(ema))  # before the stamps: its update is part of the step
    callbacks.extend(extra_callbacks)
    device = torch.device(setup.device)
    trainer = L.Trainer(accelerator="gpu" if setup.cuda else "cpu",
                        devices=[device.index or 0] if setup.cuda else 1,
                        precision="bf16-mixed" if setup.bf16 else "32-true", max_epochs=1, max_steps=steps,
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0,
                        log_every_n_steps=10, callbacks=callbacks, benchmark=setup.cuda)  # as trainer=gpu
    if profile_steps:
        return profile_lab(setup, trainer, module, dm, stamps, profile_steps)
    trainer.fit(module, datamodule=dm)
    total = clock() - t0
    return summarise(setup, stamps.ends, skip, total)


def profiler(setup: Setup):
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if setup.cuda else [])
    return profile(activities=activities, record_shapes=False)


def run_bare(setup: Setup, init_model, steps: int, skip: int, profile_steps: int = 0) -> dict:
    from inception_lab.optim import weight_decay_groups

    stamp = stamper(setup, timing_marks(steps, skip, profile_steps))
    device = torch.device(setup.device)
    torch.backends.cudnn.benchmark = setup.cuda  # what the lab's Trainer sets (trainer=gpu: benchmark=true)
    memory_format = torch.channels_last if setup.channels_last else torch.contiguous_format
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if setup.bf16 else contextlib.nullcontext
    t0 = clock()
    model = copy.deepcopy(init_model).to(device, memory_format=memory_format)
    if setup.compile:
        model.compile()
    dm = build_data(setup, steps)
    dm.setup("fit")
    loader = dm.train_dataloader()
    # the normalisation the lab does on the device (uint8 -> [0, 1] -> (x - mean) / std), constants made once
    mean = torch.tensor(model.defaults.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(model.defaults.std, device=device).view(1, -1, 1, 1)
    optimizer = optimizer_partial()(weight_decay_groups(model))
    scheduler = scheduler_partial()(optimizer, steps_per_epoch=len(loader), max_epochs=1)
    model.train()
    ends: list[float] = []
    prof = profiler(setup) if profile_steps else None
    for i, (images, labels) in enumerate(loader):
        if prof is not None and i == 3:
            prof.__enter__()
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        images = images.float().div_(255.0).sub_(mean).div_(std).contiguous(memory_format=memory_format)
        with autocast():
            loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        stamp(ends, i)
        if prof is not None and i == 3 + profile_steps - 1:
            prof.__exit__(None, None, None)
    if prof is not None:
        return profile_result(setup, prof, ends, profile_steps)
    total = clock() - t0
    return summarise(setup, ends, skip, total)


def summarise(setup: Setup, ends: list[float], skip: int, total: float) -> dict:
    timed = len(ends) - 1 - skip
    if timed < 1:
        raise ValueError(f"need more than {skip + 1} steps, got {len(ends)}")
    dt = ends[-1] - ends[skip]
    return {"steps": len(ends), "timed_steps": timed, "steady_s": dt, "images_per_s": timed * setup.batch / dt,
            "ms_per_step": 1000 * dt / timed, "total_s": total,
            "end_to_end_images_per_s": len(ends) * setup.batch / total}


def profile_lab(setup: Setup, trainer, module, dm, stamps, steps: int) -> dict:
    """Profile ``steps`` lab steps (after a few unprofiled ones) and return the top ops by self CPU time."""
    from lightning.pytorch.callbacks import Callback

    class Prof(Callback):
        def __init__(self) -> None:
            self.prof = profiler(setup)

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            if batch_idx == 3:
                self.prof.__enter__()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            if batch_idx == 3 + steps - 1:
                self.prof.__exit__(None, None, None)

    prof = Prof()
    trainer.callbacks.append(prof)
    trainer.fit(module, datamodule=dm)
    return profile_result(setup, prof.prof, stamps.ends, steps)


def profile_result(setup: Setup, prof, ends: list[float], steps: int) -> dict:
    """Top ops by self CPU time (the harness's cost is host time) and the profiled steps' wall time (ms / step,
    profiler overhead included); on a GPU also the device's busy time per step."""
    averages = prof.key_averages()
    table = averages.table(sort_by="self_cpu_time_total", row_limit=20, max_name_column_width=60)
    self_ms = {e.key: e.self_cpu_time_total / 1000 / steps for e in averages}
    wall = (ends[3 + steps - 1] - ends[2]) * 1000 / steps
    out = {"profile_table": table, "self_ms_per_step": self_ms, "wall_ms_per_step": wall}
    if setup.cuda:
        out["device_ms_per_step"] = sum(e.self_device_time_total for e in averages) / 1000 / steps
    return out


def matmul_peak(setup: Setup) -> dict | None:
    """The device's measured matmul rate in the dtype it trains in (benchmarks/model_speed.py), for MFU."""
    from benchmarks import model_speed

    return model_speed.matmul_peak(setup.device, iters=3) if setup.cuda else None


def measure(steps: int = 20, skip: int = 3, repeats: int = 10, profile: bool = False,
            setup: Setup = Setup(), ema_paths: tuple[str, ...] = ("lab+ema",)) -> dict:
    """Time the lab and bare paths (and the lab with each EMA of ``ema_paths``) alternately, ``repeats`` rounds."""
    warnings.filterwarnings("ignore")
    import logging

    for name in ("lightning.pytorch", "lightning.fabric", "lightning.pytorch.utilities.rank_zero",
                 "lightning.fabric.utilities.rank_zero", "lightning.pytorch.accelerators.cuda"):
        logging.getLogger(name).setLevel(logging.ERROR)
    init = build_model(setup)
    threads = torch.get_num_threads()  # the default: torch.set_num_threads is not called
    paths = {"lab": run_lab, "bare": run_bare}
    for name in ema_paths:  # EMA rows: the lab with an EMA callback
        paths[name] = functools.partial(run_lab, ema=name)
    # warm-up: one run of each (allocator, oneDNN primitives / cuDNN autotuning, imports)
    for fn in paths.values():
        fn(setup, init, max(skip + 2, steps // 4), skip)
    runs: dict[str, list[dict]] = {name: [] for name in paths}
    for _ in range(repeats):
        for name, fn in paths.items():  # alternating: each repeat runs every path once, seconds apart
            before = load1()
            result = fn(setup, init, steps, skip)
            result.update(load1_before=before, load1_after=load1())
            runs[name].append(result)
    out: dict = {"suite": "harness_overhead", **dataclasses.asdict(setup),
                 "batch_size": setup.batch, "steps": steps, "skip": skip, "repeats": repeats, "threads": threads,
                 "gpu": torch.cuda.get_device_name(setup.device) if setup.cuda else None, "runs": runs, "rows": []}
    flops = 3 * count_flops(init, setup.image_size)["flops"]  # per training image: forward + backward ~ 3x forward
    peak = matmul_peak(setup)
    for name in paths:
        ips = [r["images_per_s"] for r in runs[name]]
        e2e = [r["end_to_end_images_per_s"] for r in runs[name]]
        out["rows"].append({
            "path": name, "images_per_s": statistics.median(ips), "min": min(ips), "max": max(ips),
            "ms_per_step": 1000 * setup.batch / statistics.median(ips), "end_to_end_images_per_s": statistics.median(e2e),
            "mfu": statistics.median(ips) * flops / 1e9 / peak["gflops_per_s"] if peak else None,
            "load1_before": [r["load1_before"] for r in runs[name]], "load1_after": [r["load1_after"] for r in runs[name]],
        })
    out["matmul_peak"] = peak
    rows = {row["path"]: row for row in out["rows"]}
    lab, bare = rows["lab"], rows["bare"]
    out["ratio"] = lab["images_per_s"] / bare["images_per_s"]
    out["ratio_end_to_end"] = lab["end_to_end_images_per_s"] / bare["end_to_end_images_per_s"]
    pair_ratios = [a["images_per_s"] / b["images_per_s"] for a, b in zip(runs["lab"], runs["bare"])]
    out["pair_ratios"] = pair_ratios
    out["ratio_median_of_pairs"] = statistics.median(pair_ratios)
    for name in ema_paths:  # what EMA costs per step: lab with EMA / lab without, median of adjacent pairs
        out.setdefault("ema_ratio", {})[name] = statistics.median(
            a["images_per_s"] / b["images_per_s"] for a, b in zip(runs[name], runs["lab"]))
    if profile or min(out["ratio"], out["ratio_median_of_pairs"]) < 0.97:
        lab_p = run_lab(setup, init, 3 + 8 + 1, skip, profile_steps=8)
        bare_p = run_bare(setup, init, 3 + 8 + 1, skip, profile_steps=8)
        out["profile"] = {"lab": lab_p, "bare": bare_p}
        out["profile_table"] = compare_profiles(lab_p, bare_p)
    return out


def compare_profiles(lab: dict, bare: dict) -> str:
    """Self CPU ms per step by op, lab vs bare, the largest differences first."""
    keys = set(lab["self_ms_per_step"]) | set(bare["self_ms_per_step"])
    diff = sorted(keys, key=lambda k: -abs(lab["self_ms_per_step"].get(k, 0) - bare["self_ms_per_step"].get(k, 0)))
    lines = [f"profiled wall ms / step: lab {lab['wall_ms_per_step']:.1f}, bare {bare['wall_ms_per_step']:.1f}; "
             f"self CPU ms / step: lab {sum(lab['self_ms_per_step'].values()):.1f}, "
             f"bare {sum(bare['self_ms_per_step'].values()):.1f}"
             + (f"; device busy ms / step: lab {lab['device_ms_per_step']:.1f}, bare {bare['device_ms_per_step']:.1f}"
                if "device_ms_per_step" in lab else ""),
             "| op (self CPU) | lab ms / step | bare ms / step | lab - bare |", "|---|---:|---:|---:|"]
    for k in diff[:15]:
        a, b = lab["self_ms_per_step"].get(k, 0.0), bare["self_ms_per_step"].get(k, 0.0)
        lines.append(f"| {k[:70]} | {a:.2f} | {b:.2f} | {a - b:+.2f} |")
    return "\n".join(lines)


def markdown(out: dict) -> str:
    lines = ["| path | images/s (median) | range | ms / step | MFU | end-to-end images/s | load1 before -> after |",
             "|---|---:|---|---:|---:|---:|---|"]
    for row in out["rows"]:
        loads = ", ".join(f"{b:.2f}->{a:.2f}" for b, a in zip(row["load1_before"], row["load1_after"]))
        mfu = "-" if row.get("mfu") is None else f"{row['mfu']:.1%}"
        lines.append(f"| {row['path']} | {row['images_per_s']:.1f} | {row['min']:.1f}-{row['max']:.1f} | "
                     f"{row['ms_per_step']:.1f} | {mfu} | {row['end_to_end_images_per_s']:.1f} | {loads} |")
    lines.append("")
    lines.append(f"ratio lab / bare, median of the adjacent pairs: **{out['ratio_median_of_pairs']:.3f}**; "
                 f"of the medians: {out['ratio']:.3f}; per pair: "
                 + ", ".join(f"{r:.3f}" for r in out["pair_ratios"])
                 + f"; end-to-end (incl. Trainer construction and fit start-up): {out['ratio_end_to_end']:.3f}")
    for name, ratio in out.get("ema_ratio", {}).items():
        lines.append(f"EMA cost, {name} / lab (median of adjacent pairs): **{ratio:.3f}**")
    if "sync_debug" in out:
        lines.append(f"torch.cuda.set_sync_debug_mode('warn') over {out['sync_debug']['steps']} lab steps: "
                     f"{out['sync_debug']['warnings']} synchronising calls")
    return "\n".join(lines)


def ema_update_cost(models: tuple[str, ...] = ("v3", "inception_resnet_v2"), device: str = "cpu",
                    iters: int = 10) -> list[dict]:
    """Host CPU ms of one EMA update of each full-width network: Lightning's ``AveragedModel.update_parameters``
    (per tensor, two host reads of its counter) against ``inception_lab.callbacks.EMAWeightAveraging`` (one
    multi-tensor lerp per dtype). One torch thread and thread CPU time, median of ``iters`` (a loaded machine
    stretches wall time, not this). The step-level figure is the harness's ``lab+ema`` / ``lab`` ratio."""
    from torch.optim.swa_utils import AveragedModel, get_ema_avg_fn

    from inception_lab.callbacks import EMAWeightAveraging
    from inception_lab.models import create_model

    def cpu_ms(fn) -> float:
        times = []
        for _ in range(iters + 2):
            t0 = time.thread_time()
            fn()
            if torch.device(device).type == "cuda":
                torch.cuda.synchronize(device)
            times.append((time.thread_time() - t0) * 1000)
        return statistics.median(times[2:])

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # all of an update's work on the timed thread
    rows = []
    for name in models:
        model = create_model(name, num_classes=1000, aux_logits=False).to(device)
        lightning_avg = AveragedModel(model, use_buffers=True, avg_fn=get_ema_avg_fn(0.9999))
        ema = EMAWeightAveraging(decay=0.9999, use_buffers=True)
        ema._average_model = AveragedModel(model, use_buffers=True)
        tensors = len(list(model.parameters())) + len(list(model.buffers()))
        before = cpu_ms(functools.partial(lightning_avg.update_parameters, model))
        after = cpu_ms(functools.partial(ema.update_average, model, num_updates=100))
        rows.append({"model": name, "tensors": tensors, "lightning_ms": before, "lab_ms": after,
                     "speedup": before / after})
    torch.set_num_threads(threads)
    return rows


def sync_debug(setup: Setup, steps: int = 20, skip: int = 3) -> dict:
    """Run the lab path (with EMA) under ``torch.cuda.set_sync_debug_mode("warn")`` after ``skip`` warm-up steps:
    every host-device synchronisation in those ``steps`` steps is a warning; returns their count and messages."""
    if not setup.cuda:
        return {"steps": 0, "warnings": 0, "messages": [], "skipped": "needs a CUDA device"}
    from lightning.pytorch.callbacks import Callback

    class Mode(Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            if batch_idx == skip:
                torch.cuda.set_sync_debug_mode("warn")

        def on_train_end(self, trainer, pl_module) -> None:
            torch.cuda.set_sync_debug_mode("default")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_lab(setup, build_model(setup), skip + steps, skip, ema="lab+ema", extra_callbacks=[Mode()])
    messages = sorted({str(w.message).splitlines()[0] for w in caught if "synchroniz" in str(w.message)})
    count = sum("synchroniz" in str(w.message) for w in caught)
    return {"steps": steps, "warnings": count, "messages": messages}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--skip", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda[:N] for Setup.for_gpu()")
    parser.add_argument("--model", default="v3")
    parser.add_argument("--batch", type=int, default=None, help="default: 32 on the CPU, 128 on a GPU")
    parser.add_argument("--image-size", type=int, default=None, help="default: 75 on the CPU, 299 on a GPU")
    parser.add_argument("--width-mult", type=float, default=None, help="default: 0.25 on the CPU, 1.0 on a GPU")
    parser.add_argument("--compile", action="store_true", help="nn.Module.compile in both paths (compile=true)")
    parser.add_argument("--ema", default="lab+ema", help="EMA rows, comma-separated: lab+ema (this lab's "
                        "callback), lab+lightning-ema (Lightning's own, per tensor); none for no EMA row")
    parser.add_argument("--sync-debug", action="store_true", help="also count synchronising calls in 20 lab steps")
    parser.add_argument("--cpu-time", action="store_true", help="time steps in process CPU time, one torch thread "
                        "(CPU only: the step's host work, which the machine's load does not stretch)")
    parser.add_argument("--ema-update", action="store_true", help="only time one EMA update per network")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.cpu_time:
        global clock
        clock = time.process_time
        torch.set_num_threads(1)
    if args.ema_update:
        print("| model | tensors | Lightning's update (CPU ms) | lab's update (CPU ms) | speed-up |\n|---|---:|---:|---:|---:|")
        for r in ema_update_cost(device=args.device):
            print(f"| {r['model']} | {r['tensors']} | {r['lightning_ms']:.1f} | {r['lab_ms']:.1f} | {r['speedup']:.1f}x |")
        return
    changes = {k: v for k, v in {"model": args.model, "batch": args.batch, "image_size": args.image_size,
                                 "width_mult": args.width_mult, "compile": args.compile}.items() if v is not None}
    setup = (Setup.for_gpu(args.device, **changes) if torch.device(args.device).type == "cuda"
             else dataclasses.replace(Setup(), **changes))
    ema_paths = tuple(p for p in args.ema.split(",") if p and p != "none")
    out = measure(args.steps, args.skip, args.repeats, args.profile, setup, ema_paths=ema_paths)
    if args.sync_debug:
        out["sync_debug"] = sync_debug(setup)
    print(markdown(out))
    if "profile_table" in out:
        print(out["profile_table"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
