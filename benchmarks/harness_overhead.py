"""Harness overhead: the lab's Lightning path against a bare PyTorch loop, same model, data and batch.

Both paths train the same network (``create_model("v3", width_mult=0.25, in_chans=3, num_classes=10,
aux_logits=False)``, copied from one initial state for every run) on the same synthetic in-memory data
(``SyntheticDataModule``: a pool of random uint8 images, ``num_workers=0``, the lab's uint8 -> float
normalisation on the device) with the same batch (32 at 75 px), the same optimizer (``RMSpropTF`` with the
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
import copy
import functools
import json
import os
import statistics
import time
import warnings

import torch
from torch.nn import functional as F

BATCH = 32
IMAGE_SIZE = 75
NUM_CLASSES = 10


def load1() -> float:
    return round(os.getloadavg()[0], 2)


def build_model():
    from inception_lab.models import create_model

    torch.manual_seed(0)
    return create_model("v3", num_classes=NUM_CLASSES, in_chans=3, width_mult=0.25, aux_logits=False)


def build_data(steps: int):
    from inception_lab.data import SyntheticDataModule

    dm = SyntheticDataModule(image_size=IMAGE_SIZE, num_classes=NUM_CLASSES, channels=3, train_size=steps * BATCH,
                             val_size=BATCH, pool_size=64, seed=0, batch_size=BATCH, num_workers=0,
                             pin_memory=False, persistent_workers=False, drop_last=True, color_jitter="none")
    return dm


def optimizer_partial():
    from inception_lab.optim import RMSpropTF

    # conf/optimizer/rmsprop_tf.yaml with regularizer.weight_decay 4e-5
    return functools.partial(RMSpropTF, lr=0.045, alpha=0.9, momentum=0.9, eps=1.0, centered=False,
                             weight_decay=4.0e-5)


def scheduler_partial():
    from inception_lab.optim import cosine

    return functools.partial(cosine, warmup_epochs=0.0, min_lr_ratio=0.0)  # conf/scheduler/cosine.yaml


def run_lab(init_model, steps: int, skip: int, profile_steps: int = 0) -> dict:
    import lightning as L
    from lightning.pytorch.callbacks import Callback, ThroughputMonitor

    from inception_lab.module import InceptionClassifier, batch_size

    class Stamps(Callback):
        def __init__(self) -> None:
            self.ends: list[float] = []

        def on_train_batch_end(self, *args, **kwargs) -> None:
            self.ends.append(time.perf_counter())

    t0 = time.perf_counter()
    model = copy.deepcopy(init_model)
    dm = build_data(steps)
    dm.apply_model_defaults(model.defaults)
    module = InceptionClassifier(model, optimizer_partial(), scheduler_partial(), num_classes=NUM_CLASSES,
                                 label_smoothing=0.0, aux_weight=0.4, channels_last=False)
    stamps = Stamps()
    callbacks = [stamps, ThroughputMonitor(batch_size_fn=batch_size, window_size=10)]
    trainer = L.Trainer(accelerator="cpu", devices=1, precision="32-true", max_epochs=1, max_steps=steps,
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0,
                        log_every_n_steps=10, callbacks=callbacks)
    if profile_steps:
        return profile_lab(trainer, module, dm, stamps, profile_steps)
    trainer.fit(module, datamodule=dm)
    total = time.perf_counter() - t0
    return summarise(stamps.ends, skip, total)


def run_bare(init_model, steps: int, skip: int, profile_steps: int = 0) -> dict:
    from inception_lab.optim import weight_decay_groups

    t0 = time.perf_counter()
    model = copy.deepcopy(init_model)
    dm = build_data(steps)
    dm.apply_model_defaults(model.defaults)
    dm.setup("fit")
    loader = dm.train_dataloader()
    optimizer = optimizer_partial()(weight_decay_groups(model))
    scheduler = scheduler_partial()(optimizer, steps_per_epoch=len(loader), max_epochs=1)
    model.train()
    ends: list[float] = []
    prof = None
    if profile_steps:
        from torch.profiler import ProfilerActivity, profile

        prof = profile(activities=[ProfilerActivity.CPU], record_shapes=False)
    for i, (images, labels) in enumerate(loader):
        if prof is not None and i == 3:
            prof.__enter__()
        images = dm.device_transform(images, training=True)
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        ends.append(time.perf_counter())
        if prof is not None and i == 3 + profile_steps - 1:
            prof.__exit__(None, None, None)
    if prof is not None:
        return profile_result(prof, ends, profile_steps)
    total = time.perf_counter() - t0
    return summarise(ends, skip, total)


def summarise(ends: list[float], skip: int, total: float) -> dict:
    timed = len(ends) - 1 - skip
    if timed < 1:
        raise ValueError(f"need more than {skip + 1} steps, got {len(ends)}")
    dt = ends[-1] - ends[skip]
    return {"steps": len(ends), "timed_steps": timed, "steady_s": dt, "images_per_s": timed * BATCH / dt,
            "ms_per_step": 1000 * dt / timed, "total_s": total, "end_to_end_images_per_s": len(ends) * BATCH / total}


def profile_lab(trainer, module, dm, stamps, steps: int) -> dict:
    """Profile ``steps`` lab steps (after a few unprofiled ones) and return the top ops by self CPU time."""
    from lightning.pytorch.callbacks import Callback
    from torch.profiler import ProfilerActivity, profile

    class Prof(Callback):
        def __init__(self) -> None:
            self.prof = profile(activities=[ProfilerActivity.CPU], record_shapes=False)

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            if batch_idx == 3:
                self.prof.__enter__()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            if batch_idx == 3 + steps - 1:
                self.prof.__exit__(None, None, None)

    prof = Prof()
    trainer.callbacks.append(prof)
    trainer.fit(module, datamodule=dm)
    return profile_result(prof.prof, stamps.ends, steps)


def profile_result(prof, ends: list[float], steps: int) -> dict:
    """Top ops by self CPU time and the profiled steps' wall time (ms / step, profiler overhead included)."""
    averages = prof.key_averages()
    table = averages.table(sort_by="self_cpu_time_total", row_limit=20, max_name_column_width=60)
    self_ms = {e.key: e.self_cpu_time_total / 1000 / steps for e in averages}
    wall = (ends[3 + steps - 1] - ends[2]) * 1000 / steps
    return {"profile_table": table, "self_ms_per_step": self_ms, "wall_ms_per_step": wall}


def measure(steps: int = 20, skip: int = 3, repeats: int = 10, profile: bool = False) -> dict:
    warnings.filterwarnings("ignore")
    import logging

    for name in ("lightning.pytorch", "lightning.fabric", "lightning.pytorch.utilities.rank_zero",
                 "lightning.fabric.utilities.rank_zero", "lightning.pytorch.accelerators.cuda"):
        logging.getLogger(name).setLevel(logging.ERROR)
    init = build_model()
    threads = torch.get_num_threads()  # the default: torch.set_num_threads is not called
    # warm-up: one run of each (allocator, oneDNN primitives, imports)
    run_lab(init, max(skip + 2, steps // 4), skip)
    run_bare(init, max(skip + 2, steps // 4), skip)
    runs: dict[str, list[dict]] = {"lab": [], "bare": []}
    for _ in range(repeats):
        for name, fn in (("lab", run_lab), ("bare", run_bare)):
            before = load1()
            result = fn(init, steps, skip)
            result.update(load1_before=before, load1_after=load1())
            runs[name].append(result)
    out: dict = {"suite": "harness_overhead", "model": "v3", "width_mult": 0.25, "image_size": IMAGE_SIZE,
                 "batch_size": BATCH, "steps": steps, "skip": skip, "repeats": repeats, "threads": threads,
                 "runs": runs, "rows": []}
    for name in ("lab", "bare"):
        ips = [r["images_per_s"] for r in runs[name]]
        e2e = [r["end_to_end_images_per_s"] for r in runs[name]]
        out["rows"].append({
            "path": name, "images_per_s": statistics.median(ips), "min": min(ips), "max": max(ips),
            "ms_per_step": 1000 * BATCH / statistics.median(ips), "end_to_end_images_per_s": statistics.median(e2e),
            "load1_before": [r["load1_before"] for r in runs[name]], "load1_after": [r["load1_after"] for r in runs[name]],
        })
    lab, bare = out["rows"]
    out["ratio"] = lab["images_per_s"] / bare["images_per_s"]
    out["ratio_end_to_end"] = lab["end_to_end_images_per_s"] / bare["end_to_end_images_per_s"]
    pair_ratios = [a["images_per_s"] / b["images_per_s"] for a, b in zip(runs["lab"], runs["bare"])]
    out["pair_ratios"] = pair_ratios
    out["ratio_median_of_pairs"] = statistics.median(pair_ratios)
    if profile or min(out["ratio"], out["ratio_median_of_pairs"]) < 0.97:
        lab_p = run_lab(init, 3 + 8 + 1, skip, profile_steps=8)
        bare_p = run_bare(init, 3 + 8 + 1, skip, profile_steps=8)
        out["profile"] = {"lab": lab_p, "bare": bare_p}
        out["profile_table"] = compare_profiles(lab_p, bare_p)
    return out


def compare_profiles(lab: dict, bare: dict) -> str:
    """Self CPU ms per step by op, lab vs bare, the largest differences first."""
    keys = set(lab["self_ms_per_step"]) | set(bare["self_ms_per_step"])
    diff = sorted(keys, key=lambda k: -abs(lab["self_ms_per_step"].get(k, 0) - bare["self_ms_per_step"].get(k, 0)))
    lines = [f"profiled wall ms / step: lab {lab['wall_ms_per_step']:.1f}, bare {bare['wall_ms_per_step']:.1f}; "
             f"self CPU ms / step: lab {sum(lab['self_ms_per_step'].values()):.1f}, "
             f"bare {sum(bare['self_ms_per_step'].values()):.1f}",
             "| op (self CPU) | lab ms / step | bare ms / step | lab - bare |", "|---|---:|---:|---:|"]
    for k in diff[:15]:
        a, b = lab["self_ms_per_step"].get(k, 0.0), bare["self_ms_per_step"].get(k, 0.0)
        lines.append(f"| {k[:70]} | {a:.2f} | {b:.2f} | {a - b:+.2f} |")
    return "\n".join(lines)


def markdown(out: dict) -> str:
    lines = ["| path | images/s (median) | range | ms / step | end-to-end images/s | load1 before -> after |",
             "|---|---:|---|---:|---:|---|"]
    for row in out["rows"]:
        loads = ", ".join(f"{b:.2f}->{a:.2f}" for b, a in zip(row["load1_before"], row["load1_after"]))
        lines.append(f"| {row['path']} | {row['images_per_s']:.1f} | {row['min']:.1f}-{row['max']:.1f} | "
                     f"{row['ms_per_step']:.1f} | {row['end_to_end_images_per_s']:.1f} | {loads} |")
    lines.append("")
    lines.append(f"ratio lab / bare, median of the adjacent pairs: **{out['ratio_median_of_pairs']:.3f}**; "
                 f"of the medians: {out['ratio']:.3f}; per pair: "
                 + ", ".join(f"{r:.3f}" for r in out["pair_ratios"])
                 + f"; end-to-end (incl. Trainer construction and fit start-up): {out['ratio_end_to_end']:.3f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--skip", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    out = measure(args.steps, args.skip, args.repeats, args.profile)
    print(markdown(out))
    if "profile_table" in out:
        print(out["profile_table"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
