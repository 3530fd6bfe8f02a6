"""The seed's Node.js examples (Chat Completions stream, Responses) run verbatim with the Node openai SDK.

``make node-deps`` installs the package into ``.cache/node``; each script is copied next to that
``node_modules`` so ``import OpenAI from "openai"`` resolves. Without node or the package the tests skip
locally and fail under ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from emulator.testing import RunningEmulator
from tests.conftest import IN_CI

pytestmark = pytest.mark.node

SEED = Path(__file__).parent / "seed"
NODE_DIR = Path(__file__).resolve().parents[2] / ".cache" / "node"
R21 = str(123**21)


@pytest.fixture(scope="module")
def node() -> str:
    binary = shutil.which("node")
    problem = None
    if binary is None:
        problem = "node is not installed"
    elif not (NODE_DIR / "node_modules" / "openai" / "package.json").is_file():
        problem = f"the Node openai package is missing in {NODE_DIR} (run `make node-deps`)"
    if problem is not None:
        if IN_CI:
            pytest.fail(problem)
        pytest.skip(problem + " (not in CI: skipped)")
    assert binary is not None
    return binary


@pytest.fixture
def run_node(node: str) -> Iterator[Callable[[str, str], str]]:
    copies: list[Path] = []

    def run(script: str, base_url: str) -> str:
        copy = NODE_DIR / f"seed-{uuid.uuid4().hex}-{script}"
        shutil.copyfile(SEED / script, copy)
        copies.append(copy)
        env = {**os.environ, "SEED_BASE_URL": base_url, "DASHSCOPE_API_KEY": "sk-anything"}
        done = subprocess.run(
            [node, str(copy)], env=env, capture_output=True, text=True, timeout=120, check=False, cwd=NODE_DIR
        )
        assert done.returncode == 0, done.stderr
        assert not done.stderr.strip(), done.stderr  # the chat example prints errors instead of failing
        return done.stdout

    yield run
    for copy in copies:
        copy.unlink(missing_ok=True)


def test_node_chat_stream_prints_thinking_then_the_exact_answer(
    run_node: Callable[[str, str], str], server: RunningEmulator
) -> None:
    out = run_node("chat_stream.mjs", server.openai_base_url)
    thinking, answer = out.split("=" * 20 + "Proses thinking" + "=" * 20)[1].split(
        "=" * 20 + "Tanggapan lengkap" + "=" * 20
    )
    assert thinking.strip() and R21 in thinking
    assert R21 in answer
    assert "123**21" not in answer


def test_node_responses_prints_1728_and_one_execution(
    run_node: Callable[[str, str], str], server: RunningEmulator
) -> None:
    out = run_node("responses_quickstart.mjs", server.apps_base_url)
    response, usage = out.split("====================Response====================")[1].split(
        "====================Penggunaan token dan pemanggilan tool===================="
    )
    assert "1728" in response
    assert "Jumlah eksekusi code interpreter: 1" in usage
