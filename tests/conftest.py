"""Shared fixtures: run the real console scripts in a subprocess, in a temporary directory, offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent

# Smallest settings that still exercise the whole path: a quarter-width network, a few batches.
TINY = [
    "model.width_mult=0.25",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=3",
    "trainer.limit_val_batches=2",
    "data.batch_size=16",
]


def run_cli(args: list[str], cwd: Path, script: str = "inception-lab", timeout: int = 600, env: dict | None = None):
    """Run a console script; return the CompletedProcess (stdout/stderr as text)."""
    full_env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "HYDRA_FULL_ERROR": "0", **(env or {})}
    return subprocess.run(
        [str(BIN / script), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=full_env
    )


def results_files(root: Path) -> list[Path]:
    return sorted(root.rglob("results.json"))


def load_json(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.fixture
def cli(tmp_path):
    def _run(*args: str, **kwargs):
        return run_cli(list(args), cwd=tmp_path, **kwargs)

    return _run


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors: extra intra-op threads only add synchronisation on a small shared CPU
    (``pytestmark = pytest.mark.usefixtures("one_thread")`` in a module that wants it)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def compose_cfg(name: str, overrides: list[str]):
    """A config of ``conf/`` composed as the console script composes it (``config`` = inception-lab's)."""
    from hydra import compose, initialize_config_dir

    from inception_lab.config_path import CONFIG_DIR

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name=name, overrides=overrides)
