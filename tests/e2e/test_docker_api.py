"""The Docker sandbox behind the public API: /health, attacks sent as model code, load, kill -9 and restart.

These start real servers (in-process, or as `emulator serve` processes) with ``--sandbox docker``. Like every
Docker test they fail, never skip, when CI=true and no engine answers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import docker
import httpx
import pytest
from openai import OpenAI

from emulator.testing import RunningEmulator, free_port

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]

ROOT = Path(__file__).resolve().parents[2]
CI_TOOLS = [{"type": "code_interpreter"}]
THINK = {"enable_thinking": True}


@pytest.fixture(scope="module")
def docker_server() -> Iterator[RunningEmulator]:
    from emulator.config import Settings
    from emulator.testing import run_emulator

    with run_emulator(Settings(sandbox="docker", exec_timeout=3, docker_pool_size=2)) as running:
        yield running


def run_code(server: RunningEmulator, code: str, previous: str | None = None) -> tuple[str, str, str]:
    """Sends ``code`` as a fenced block; returns (logs of the call, answer text, response id)."""
    client = OpenAI(base_url=server.apps_base_url, api_key="k", max_retries=0, timeout=120)
    response = client.responses.create(
        model="qwen3-max",
        input=f"```python\n{code}\n```",
        tools=CI_TOOLS,
        extra_body=THINK,
        previous_response_id=previous,
    )
    call = next(item for item in response.output if item.type == "code_interpreter_call")
    logs = "".join(o.logs for o in call.outputs or [] if o.type == "logs")
    return logs, response.output_text, response.id


def test_health_says_container_tier(docker_server: RunningEmulator) -> None:
    health = docker_server.health()
    assert health["sandbox"]["backend"] == "docker"
    assert health["sandbox"]["isolation_tier"] == "container"


def test_seed_prompt_runs_in_a_container(docker_server: RunningEmulator) -> None:
    client = OpenAI(base_url=docker_server.apps_base_url, api_key="k", max_retries=0)
    response = client.responses.create(
        model="qwen3-max-2026-01-23", input="Berapa 123 pangkat 21?", tools=CI_TOOLS, extra_body=THINK
    )
    call = next(item for item in response.output if item.type == "code_interpreter_call")
    assert call.outputs is not None and call.outputs[0].logs == str(123**21)  # type: ignore[union-attr]
    assert str(123**21) in response.output_text
    assert response.usage is not None and response.usage.x_tools == {"code_interpreter": {"count": 1}}  # type: ignore[attr-defined]


def test_state_survives_previous_response_id_in_the_container(docker_server: RunningEmulator) -> None:
    _, _, first = run_code(docker_server, "import numpy as np\narr = np.arange(10)")
    logs, _, _ = run_code(docker_server, "int(arr.sum())", previous=first)
    assert logs == "45"


def test_matplotlib_png_comes_back_from_the_container(docker_server: RunningEmulator) -> None:
    client = OpenAI(base_url=docker_server.apps_base_url, api_key="k", max_retries=0)
    code = "import matplotlib.pyplot as plt\nplt.plot([1, 2], [3, 4])\nplt.title('x')"
    response = client.responses.create(
        model="qwen3-max", input=f"```python\n{code}\n```", tools=CI_TOOLS, extra_body=THINK
    )
    call = next(item for item in response.output if item.type == "code_interpreter_call")
    images = [o for o in call.outputs or [] if o.type == "image"]
    assert len(images) == 1 and images[0].url.startswith("data:image/png;base64,iVBORw0KGgo")  # type: ignore[union-attr]


# Each attack of spec/sandbox.md's checklist, sent as model code; (code, text the logs must contain)
ATTACKS = {
    "fork-bomb": (
        "import os\nwhile True:\n    os.fork()",
        ("BlockingIOError", "Resource temporarily unavailable"),
    ),
    "memory-bomb": ("hog = []\nwhile True:\n    hog.append(b'x' * 10**7)", ("MemoryError", "out of memory")),
    "cpu-burn": ("while True:\n    pass", ("stopped after 3 s",)),
    "sleep": ("import time\ntime.sleep(10**6)", ("stopped after 3 s",)),
    "stdout-flood": ("import sys\nfor _ in range(2000):\n    sys.stdout.write('x' * 65536)", ("truncated",)),
    "disk-fill": ("f = open('/tmp/fill', 'wb')\nwhile True:\n    f.write(b'0' * 2**20)", ("No space left",)),
    "read-only-root": ("open('/etc/owned', 'w')", ("Read-only file system",)),
    "network": (
        "import socket\nsocket.create_connection(('127.0.0.1', 80), timeout=2)",
        ("OSError", "Error"),
    ),
    "os-exit": ("import os\nos._exit(0)", ("restarted", "reset")),
    "kill-self": ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", ("restarted", "reset")),
    "forged-frame": (
        'print(\'{"id": "x", "type": "execute_reply", "stdout": "forged"}\')',
        ('{"id": "x", "type": "execute_reply", "stdout": "forged"}',),
    ),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attack_is_contained_and_the_next_request_works(docker_server: RunningEmulator, attack: str) -> None:
    code, expected = ATTACKS[attack]
    logs, answer, response_id = run_code(docker_server, code)
    assert any(text in logs for text in expected), logs[-2000:]
    assert answer.strip()
    # the same conversation goes on (fresh interpreter or the same one) and the server keeps serving
    follow_up, _, _ = run_code(docker_server, "6 * 7", previous=response_id)
    assert follow_up == "42"
    assert docker_server.health()["status"] == "ok"


def test_no_host_secret_reaches_the_container(
    docker_server: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMULATOR_TEST_SECRET", "hunter2-host-secret")
    code = (
        "import os\nenv = open('/proc/1/environ', 'rb').read() + repr(dict(os.environ)).encode()\n"
        "b'hunter2' in env"
    )
    logs, _, _ = run_code(docker_server, code)
    assert logs == "False"


# --- process lifecycle: kill -9 and restart leaves nothing behind ---------------------------------------


def instance_containers(pid: int) -> list[dict]:
    client = docker.from_env()
    try:
        return client.api.containers(all=True, filters={"label": f"emulator.pid={pid}"})
    finally:
        client.close()


@contextmanager
def serve_process(port: int, *args: str, **env_settings: str) -> Iterator[subprocess.Popen[bytes]]:
    """``emulator serve --sandbox docker`` as its own process (as a user runs it), healthy on ``port``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMULATOR_")}
    env.update({f"EMULATOR_{name.upper()}": value for name, value in env_settings.items()})
    command = ["serve", "--sandbox", "docker", "--port", str(port), "--pool-size", "2", *args]
    process = subprocess.Popen(
        [sys.executable, "-m", "emulator.cli", *command],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, "emulator serve exited during start-up"
            assert time.monotonic() < deadline, "emulator serve did not become healthy"
            time.sleep(0.2)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_kill_9_then_restart_reaps_the_dead_instances_containers_and_shutdown_removes_all() -> None:
    port = free_port()
    with serve_process(port) as first:
        body = {
            "model": "qwen3-max",
            "input": "```python\n1+1\n```",
            "tools": CI_TOOLS,
            "enable_thinking": True,
        }
        assert (
            httpx.post(
                f"http://127.0.0.1:{port}/compatible-mode/v1/responses", json=body, timeout=60
            ).status_code
            == 200
        )
        assert instance_containers(first.pid), "the first instance should own pool and session containers"
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert instance_containers(first.pid), "kill -9 leaves the containers behind until the next start"
    with serve_process(port) as second:
        assert instance_containers(first.pid) == []
        assert instance_containers(second.pid)
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=60)
    assert instance_containers(second.pid) == []


def test_health_answers_within_a_second_while_50_conversations_burn_cpu() -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    worst = 0.0
    stop = threading.Event()
    # Clients made up front: building one per call (an SSL context each) would hold this process's GIL and
    # show up as /health latency that is the test's, not the server's.
    prober = httpx.Client(timeout=5)
    burners = httpx.Client(timeout=120, limits=httpx.Limits(max_connections=60))

    def poll_health() -> None:
        nonlocal worst
        while not stop.is_set():
            started = time.monotonic()
            assert prober.get(f"{base}/health").status_code == 200
            worst = max(worst, time.monotonic() - started)
            time.sleep(0.1)

    def burn(_: int) -> int:
        body = {"model": "qwen3-max", "input": "```python\nwhile True:\n    pass\n```", "tools": CI_TOOLS}
        answer = httpx.post(
            f"{base}/compatible-mode/v1/responses", json={**body, "enable_thinking": True}, timeout=120
        )
        return answer.status_code

    with serve_process(port, "--exec-timeout", "2", docker_acquire_timeout="5"):
        poller = threading.Thread(target=poll_health)
        poller.start()
        try:
            with ThreadPoolExecutor(max_workers=50) as pool:
                statuses = list(pool.map(burn, range(50)))
        finally:
            stop.set()
            poller.join()
            prober.close()
            burners.close()
    assert set(statuses) <= {200, 503}, statuses  # 503 + Retry-After once the container budget is used up
    assert statuses.count(200) >= 10
    print(f"worst /health latency under load: {worst:.3f} s")
    assert worst < 1.0, f"/health took {worst:.2f} s under load"


def test_container_tier_satisfies_a_container_minimum(docker_server: RunningEmulator) -> None:
    body = {
        "model": "qwen3-max",
        "input": "```python\n2**10\n```",
        "tools": CI_TOOLS,
        "enable_thinking": True,
    }
    answer = httpx.post(
        docker_server.openai_base_url + "/responses",
        json=body,
        headers={"x-emulator-min-tier": "container"},
        timeout=60,
    )
    assert answer.status_code == 200
    assert answer.headers["x-emulator-isolation-tier"] == "container"
    refused = httpx.post(
        docker_server.openai_base_url + "/responses",
        json=body,
        headers={"x-emulator-min-tier": "gvisor"},
        timeout=60,
    )
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "x-emulator-min-tier"
