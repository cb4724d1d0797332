"""``hydra/launcher=plan``: a dry run of a sweep. Hydra's sweeper expands the overrides (comma lists, ranges,
globs of experiment tables) as for a real sweep; this launcher composes each job's config and prints what the
job would be, then runs nothing, submits nothing and writes nothing.

Hydra refuses ``--multirun`` together with ``--cfg``, and a sweep under ``trainer=ddp_slurm`` submits SLURM jobs
as soon as it starts, so the plan is a launcher of its own. Its config (conf/hydra/launcher/plan.yaml) takes the
SLURM launcher's keys, so the command line of the real sweep works unchanged with ``hydra/launcher=plan`` added.
Hydra instantiates launchers only from the ``hydra_plugins`` namespace package, hence this package's place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra.plugins.launcher import Launcher
from omegaconf import OmegaConf

from inception_lab.console import console

# what a researcher checks before paying for a sweep: the SLURM request of each job
SLURM_KEYS = ("partition", "account", "nodes", "tasks_per_node", "gpus_per_node", "cpus_per_task", "mem_gb",
              "timeout_min", "max_num_timeout", "setup")


class PlanLauncher(Launcher):
    def __init__(self, **params: Any) -> None:
        self.params = params
        self.config = self.hydra_context = self.task_function = None

    def setup(self, *, hydra_context, task_function, config) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        jobs = [list(filter_overrides(overrides)) for overrides in job_overrides]
        common = [o for o in jobs[0] if all(o in job for job in jobs)] if jobs else []
        console.print(f"plan: {len(jobs)} jobs into {self.config.hydra.sweep.dir}/<job> (nothing runs)",
                      highlight=False, soft_wrap=True, markup=False)
        console.print(f"every job: {' '.join(common) or '(defaults)'}", highlight=False, soft_wrap=True, markup=False)
        returns = []
        for offset, (overrides, shown) in enumerate(zip(job_overrides, jobs)):
            cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            data = cfg.data._target_.rsplit(".", 1)[-1].removesuffix("DataModule")
            line = (f"job {initial_job_idx + offset}: {' '.join(o for o in shown if o not in common) or '-'}  |  "
                    f"{cfg.model.name} x{OmegaConf.select(cfg, 'model.width_mult', default=1.0)}, {data} @ "
                    f"{OmegaConf.select(cfg, 'data.image_size')} px, {cfg.trainer.devices} devices x "
                    f"{cfg.trainer.num_nodes} nodes, {cfg.trainer.max_epochs} epochs")
            console.print(line, highlight=False, soft_wrap=True, markup=False)
            returns.append(JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED, _return_value=None))
        request = ", ".join(f"{key}={self._resolved(key)}" for key in SLURM_KEYS
                            if self.params.get(key) not in (None, [], {}))
        console.print(f"as SLURM jobs (trainer=ddp_slurm): {request}", highlight=False, soft_wrap=True, markup=False)
        return returns

    def _resolved(self, key: str) -> Any:
        value = OmegaConf.select(self.config, f"hydra.launcher.{key}")  # ${trainer.devices} etc. resolved
        return OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
