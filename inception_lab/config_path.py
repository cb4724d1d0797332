"""Where the Hydra configs are: inside the package in a wheel install, the top-level conf/ in a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGED = Path(__file__).resolve().parent / "conf"  # wheel: pyproject force-includes conf/ here
_SOURCE = Path(__file__).resolve().parent.parent / "conf"  # editable install / source checkout

CONFIG_DIR = str(_PACKAGED if _PACKAGED.is_dir() else _SOURCE)
