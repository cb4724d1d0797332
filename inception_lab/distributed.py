"""DDP inside a Hydra ``--multirun`` sweep (docs/reference.md#ddp-in-sweeps).

Lightning starts ranks 1..N-1 by re-executing the script with ``sys.argv`` plus ``hydra.run.dir=<run dir>``. In a
sweep, ``sys.argv`` still holds ``--multirun`` and every comma list, so each child would start the whole sweep in a
sweep directory of its own. Two pieces fix that:

- ``relaunch_command``: the children re-run *this job only*, in RUN mode, with the job's own overrides, into the
  job's output directory (``hydra.output_subdir=null``: only rank zero writes ``.hydra/``).
- ``reset_after_job``: after each job, rank zero tears down the process group and forgets the distributed
  environment Lightning put into ``os.environ``; otherwise the next job believes an external launcher created its
  processes, spawns no children and hangs.

Jobs of Hydra's submitit launcher run ``hydra.launcher.tasks_per_node`` processes each. On SLURM Lightning reads the
ranks from SLURM itself; ``adopt_submitit_local_tasks`` gives the local executor's tasks the same treatment
(``hydra/launcher=submitit_local``: how the SLURM path is exercised on one machine).

Lightning's hook point is the private ``_hydra_subprocess_cmd`` (imported by name into the Trainer's launcher too);
``install`` patches both, guarded by a check that the function still exists with the expected signature.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from hydra.core.hydra_config import HydraConfig

DISTRIBUTED_ENV = ("LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "GLOBAL_RANK", "RANK", "MASTER_ADDR", "MASTER_PORT",
                   "LOCAL_WORLD_SIZE", "GROUP_RANK", "ROLE_RANK", "ROLE_WORLD_SIZE", "PL_GLOBAL_SEED")
TRAIN_MODULE = "inception_lab.cli.train"


def relaunch_command(local_rank: int) -> tuple[Sequence[str], str]:
    """Command and cwd that start rank ``local_rank`` of the current Hydra job (run or sweep job)."""
    from hydra.utils import get_original_cwd

    hydra_cfg = HydraConfig.get()
    overrides = list(hydra_cfg.overrides.task)
    output_dir = hydra_cfg.runtime.output_dir
    command = [sys.executable, "-m", TRAIN_MODULE, *overrides]
    command += [f'hydra.run.dir="{output_dir}"', f"hydra.job.name=ddp_rank_{local_rank}", "hydra.output_subdir=null"]
    return command, get_original_cwd()


def reset_after_job() -> None:
    """Leave the process as a fresh sweep job expects it: no process group, no inherited rank variables."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    for name in DISTRIBUTED_ENV:
        os.environ.pop(name, None)


def adopt_submitit_local_tasks() -> None:
    """Inside a multi-task job of submitit's *local* executor: export the ranks submitit assigned (submitit's own
    ``TorchDistributedEnvironment``) plus ``NODE_RANK``, so Lightning treats the tasks as externally created
    processes, as it does SLURM tasks, instead of starting ranks of its own in every task."""
    if os.environ.get("SUBMITIT_EXECUTOR") != "local":
        return
    import submitit
    from submitit.helpers import TorchDistributedEnvironment

    job = submitit.JobEnvironment()
    if job.num_tasks > 1:
        TorchDistributedEnvironment().export(set_cuda_visible_devices=False, overwrite=True)
        os.environ["NODE_RANK"] = str(job.node)


def requeued_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    """The checkpoint a requeued submitit job resumes from: its own ``checkpoints/last.ckpt``, else None.

    Hydra's submitit launchers requeue a job that SLURM (or the local executor) signals before its time limit or
    a preemption (``hydra.launcher.max_num_timeout`` times at most); the requeued job runs the same sweep job again,
    in the same directory. Every sweep has a directory of its own, so a checkpoint already there can only be this
    job's from before the requeue."""
    if "SUBMITIT_EXECUTOR" not in os.environ:
        return None
    path = Path(run_dir) / "checkpoints" / "last.ckpt"
    return path if path.is_file() else None


def install() -> None:
    """Route Lightning's Hydra relaunch (Trainer and Fabric launchers) through ``relaunch_command``; idempotent."""
    from lightning.fabric.strategies.launchers import subprocess_script as fabric_launcher
    from lightning.pytorch.strategies.launchers import subprocess_script as trainer_launcher

    for module in (fabric_launcher, trainer_launcher):
        current = getattr(module, "_hydra_subprocess_cmd", None)
        if current is None or list(inspect.signature(current).parameters) != ["local_rank"]:
            raise RuntimeError(
                f"this Lightning version changed how it relaunches DDP ranks under Hydra ({module.__name__}."
                "_hydra_subprocess_cmd); inception_lab/distributed.py needs updating"
            )
        module._hydra_subprocess_cmd = relaunch_command
