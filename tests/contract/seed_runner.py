"""Runs a seed example (tests/contract/seed/) as a script, pointed at a live emulator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SEED = Path(__file__).parent / "seed"


def run_seed(script: str, base_url: str, **extra_env: str) -> str:
    """The script's stdout; it reads its base URL from ``SEED_BASE_URL``, its key as the seed does."""
    env = {**os.environ, "SEED_BASE_URL": base_url, "DASHSCOPE_API_KEY": "sk-anything", **extra_env}
    command = [sys.executable, str(SEED / script)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout
