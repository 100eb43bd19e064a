"""The README's walkthrough, typed as a newcomer types it: each line its own `samband` process, from a
folder laid out like the repository's root, on a fresh state directory and free ports.

The lines are read from the README itself, so the walkthrough cannot drift from what works.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from samband.broker_config import free_port

from ._support import samband_process, stop_samband_process

ROOT = Path(__file__).resolve().parents[1]


def walkthrough() -> list[str]:
    """The command lines of the README's walkthrough block, comments dropped."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Walkthrough", 1)[1]
    block = re.search(r"```\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]
    return [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.strip()]


def test_the_readme_walkthrough_runs_as_a_newcomer_types_it(tmp_path):
    lines = walkthrough()
    assert lines[0] == "samband up" and all(line.startswith("samband ") for line in lines)
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    state = tmp_path / ".samband"
    env = os.environ | {"SAMBAND_STATE": str(state), "COLUMNS": "200"}
    # terminal 1 (free ports instead of 4222/8222, so it runs beside anything else)
    up, up_lines = samband_process(
        state, "up", "--port", str(free_port()), "--http-port", str(free_port()), ready="router running"
    )
    try:
        for line in lines[1:]:
            argv = shlex.split(line)
            proc = subprocess.run(
                [sys.executable, "-m", "samband", *argv[1:]],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert proc.returncode == 0, f"`{line}` exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
            assert "Traceback" not in proc.stdout + proc.stderr, line
    finally:
        out = stop_samband_process(up, up_lines)
    assert "stopped cleanly" in out
    assert (tmp_path / "exports" / "polisen.jsonl").is_file()
    assert (tmp_path / "received" / "skatteverket.jsonl").is_file()
    assert (tmp_path / "export.json").is_file() and (tmp_path / "schemas-out" / "envelope.json").is_file()
