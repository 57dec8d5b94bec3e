"""Run a repository script (benchmark or example) as a subprocess, as a user would."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_script(
    path: str, *args: str, timeout: int = 300, cwd: str | Path = ROOT, env: dict[str, str] | None = None
) -> str:
    """``path`` relative to the repository root, run in ``cwd`` (default: the repository root) with
    ``env`` added to the environment; returns stdout, fails the test on a non-zero exit."""
    out = subprocess.run(
        [sys.executable, str(ROOT / path), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout
