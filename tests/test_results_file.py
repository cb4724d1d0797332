"""results.json and the eval records: atomic writes that a collaborator can read (the umask decides, as for open)."""

from __future__ import annotations

import json
import os
import stat

import pytest

from inception_lab.results import write_json_atomic


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_write_gives_the_mode_the_umask_asks_for(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        path = write_json_atomic(tmp_path / "results.json", {"a": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temporary file left behind


def test_atomic_write_replaces_the_whole_file(tmp_path):
    target = tmp_path / "r.json"
    write_json_atomic(target, {"long": "x" * 1000})
    write_json_atomic(target, {"short": 1})
    assert json.loads(target.read_text()) == {"short": 1}
