"""End-to-end benchmark (``make bench``): the emulator as a separate process, measured over HTTP.

For each sandbox backend (``docker``, then ``restricted`` for comparison) a server is started with
``python -m emulator.cli serve --sandbox <backend> --port <free port>``, waited for on ``/health`` (and, for
docker, a full warm pool), warmed up, and measured with one persistent ``httpx.Client``:

* a warm Responses request: builtin model, one execution, non-stream, continuing one conversation through
  ``previous_response_id`` (the interpreter is warm): p50 / p99;
* the same request starting a new conversation each time (warm pool acquire + first execution);
* the time to the first SSE byte of the warm request with ``stream: true`` (and to its last byte);
* the server's floor: a plain Chat Completion without the code interpreter (and ``GET /health``).

Each server is stopped with SIGTERM and waited for; the run checks that none of its instance's containers
remain. Results go to ``benchmarks/results/e2e-<timestamp>.json`` and are printed as a table per backend
with the targets of spec/sandbox.md. Absolute numbers move between machines; compare within one run.

    python benchmarks/e2e.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
from latency import summary, write_results  # benchmarks/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
PYTHON = (
    str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
)
BACKENDS = ("docker", "restricted")
RESPONSES = "/compatible-mode/v1/responses"
CHAT = "/compatible-mode/v1/chat/completions"
EXEC_BODY: dict[str, Any] = {
    "model": "qwen3-max",
    "input": "```python\n1+1\n```",
    "tools": [{"type": "code_interpreter"}],
    "enable_thinking": True,
}
CHAT_BODY: dict[str, Any] = {
    "model": "qwen3-max",
    "messages": [{"role": "user", "content": "What is 1+1?"}],
    "enable_thinking": False,
}
TARGET_WARM_P50_MS = 10.0
TARGET_TTFB_P50_MS = 5.0
WARMUP_TURNS = 30
STARTUP_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0


def drift(samples_ms: list[float]) -> dict[str, Any]:
    """How the latency moves as one conversation grows: p50 of the first and last quarter, and the slope."""
    quarter = max(1, len(samples_ms) // 4)
    slope = statistics.linear_regression(range(len(samples_ms)), samples_ms).slope
    return {
        "turns": [WARMUP_TURNS + 1, WARMUP_TURNS + len(samples_ms)],
        "first_quarter_p50_ms": round(statistics.median(samples_ms[:quarter]), 3),
        "last_quarter_p50_ms": round(statistics.median(samples_ms[-quarter:]), 3),
        "slope_ms_per_100_turns": round(100 * slope, 3),
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def instance_containers(instance: str) -> list[str]:
    listed = subprocess.run(
        ["docker", "ps", "-a", "-q", "--filter", f"label=emulator.instance={instance}"],
        check=True,
        capture_output=True,
        text=True,
    )
    return listed.stdout.split()


@dataclass
class Server:
    backend: str
    process: subprocess.Popen[bytes]
    client: httpx.Client
    log_path: Path
    health: dict[str, Any]

    @property
    def instance(self) -> str | None:
        value = self.health.get("sandbox", {}).get("instance")
        return value if isinstance(value, str) else None

    def pool(self) -> dict[str, Any] | None:
        pool = self.client.get("/health").json()["sandbox"].get("pool")
        return pool if isinstance(pool, dict) else None

    def wait_pool_full(self, timeout: float = 60.0) -> None:
        """Docker: until the warm pool is full and nothing is starting (no background starts while timing)."""
        deadline = time.monotonic() + timeout
        while True:
            pool = self.pool()
            wanted = min(pool["size"], pool["max_total"] - pool["in_use"]) if pool is not None else 0
            if pool is None or (pool["ready"] >= wanted and pool["starting"] == 0):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the warm pool did not fill within {timeout:g} s: {pool}")
            time.sleep(0.02)


@contextmanager
def serve(backend: str) -> Iterator[Server]:
    """The emulator in its own process; SIGTERM and a wait on exit, then a check for leftover containers."""
    port = free_port()
    descriptor, log_name = tempfile.mkstemp(prefix=f"emulator-e2e-{backend}-", suffix=".log")
    os.close(descriptor)
    command = [PYTHON, "-m", "emulator.cli", "serve", "--sandbox", backend, "--port", str(port)]
    with open(log_name, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    server = Server(backend, process, client, Path(log_name), {})
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the {backend} server exited ({process.returncode}): see {log_name}")
            try:
                server.health = client.get("/health").json()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the {backend} server did not answer /health in time") from None
                time.sleep(0.05)
        server.wait_pool_full()
        yield server
    finally:
        client.close()
        stop(server)


def stop(server: Server) -> None:
    process = server.process
    started = time.perf_counter()
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    log = server.log_path.read_text(errors="replace")
    server.health["stop"] = {
        "returncode": process.returncode,  # uvicorn re-raises the SIGTERM it handled: -15 after a clean stop
        "seconds": round(time.perf_counter() - started, 2),
        "graceful": "Application shutdown complete" in log,
    }
    if server.instance is not None:
        left = instance_containers(server.instance)
        server.health["stop"]["leftover_containers"] = len(left)
        if left:  # our own instance's containers only
            subprocess.run(["docker", "rm", "-f", *left], check=False, stdout=subprocess.DEVNULL)
    if server.health["stop"]["graceful"] and not server.health["stop"].get("leftover_containers"):
        server.log_path.unlink(missing_ok=True)
    else:
        server.health["stop"]["log"] = str(server.log_path)


def timed(action: Callable[[], float | None], runs: int) -> list[float]:
    """``action`` returns its own sample (ms) or None to be timed whole."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        own = action()
        samples.append(own if own is not None else (time.perf_counter() - started) * 1000)
    return samples


def check_execution(body: dict[str, Any]) -> None:
    calls = [item for item in body.get("output", []) if item.get("type") == "code_interpreter_call"]
    if (
        body.get("status") != "completed"
        or len(calls) != 1
        or calls[0].get("outputs") != [{"type": "logs", "logs": "2"}]
    ):
        raise RuntimeError(f"unexpected response: {json.dumps(body)[:500]}")


class Conversation:
    """One conversation continued through ``previous_response_id`` (its interpreter stays warm)."""

    def __init__(self, client: httpx.Client):
        self.client = client
        self.previous: str | None = None

    def request(self) -> float:
        body = {**EXEC_BODY, "previous_response_id": self.previous} if self.previous else EXEC_BODY
        started = time.perf_counter()
        reply = self.client.post(RESPONSES, json=body)
        elapsed = (time.perf_counter() - started) * 1000
        reply.raise_for_status()
        answer = reply.json()
        check_execution(answer)
        self.previous = answer["id"]
        return elapsed

    def stream(self, totals: list[float]) -> float:
        """Time to the first SSE byte; the time to the last byte goes to ``totals``."""
        body = {**EXEC_BODY, "stream": True, "previous_response_id": self.previous}
        chunks: list[bytes] = []
        started = time.perf_counter()
        with self.client.stream("POST", RESPONSES, json=body) as reply:
            raw = reply.iter_raw()
            chunks.append(next(raw))
            first = (time.perf_counter() - started) * 1000
            chunks.extend(raw)
        totals.append((time.perf_counter() - started) * 1000)
        reply.raise_for_status()
        text = b"".join(chunks).decode()
        if not text.startswith("event: ") or "event: response.completed" not in text:
            raise RuntimeError(f"unexpected stream: {text[:300]}")
        completed = text.rsplit("event: response.completed\ndata: ", 1)[1].split("\n", 1)[0]
        response = json.loads(completed)["response"]
        check_execution(response)
        self.previous = response["id"]
        return first


def bench_backend(backend: str, scale: float) -> dict[str, Any]:
    warm_runs, new_runs, stream_runs, floor_runs = (
        max(20, int(200 * scale)),
        max(5, int(28 * scale)),  # each conversation keeps its container: 2 + 28 <= 32 (max_containers)
        max(20, int(200 * scale)),
        max(20, int(200 * scale)),
    )
    with serve(backend) as server:
        client = server.client

        def chat() -> None:
            reply = client.post(CHAT, json=CHAT_BODY)
            reply.raise_for_status()

        def health() -> None:
            client.get("/health").raise_for_status()

        timed(health, 50)
        timed(chat, 50)
        out: dict[str, Any] = {"health_floor": summary(timed(health, floor_runs))}
        out["chat_floor"] = summary(timed(chat, floor_runs))

        # one conversation per path, each measured over the same turns (WARMUP_TURNS + 1 ...): a conversation
        # grows by one turn per request, so the drift over the samples is reported too
        warm = Conversation(client)
        timed(warm.request, WARMUP_TURNS)  # the first turn opens the interpreter; the rest warm up
        samples = timed(warm.request, warm_runs)
        out["warm_exec"] = {**summary(samples), **drift(samples)}

        streamed = Conversation(client)
        timed(streamed.request, WARMUP_TURNS)
        totals: list[float] = []
        out["stream_first_byte"] = summary(timed(lambda: streamed.stream(totals), stream_runs))
        out["stream_last_byte"] = {**summary(totals), **drift(totals)}

        server.wait_pool_full()
        news = []
        for _ in range(new_runs):
            server.wait_pool_full()  # a warm pool, and no container starting in the background
            news.append(Conversation(client).request())
        out["new_conversation"] = summary(news)

        out["server"] = {
            k: v for k, v in server.health.get("sandbox", {}).items() if k not in ("pool", "note")
        }
    out["server"]["stop"] = server.health.get("stop")
    return out


def ratio(a: float, b: float) -> str:
    return f"{a / b:,.1f}x" if b > 0 else "-"


def verdict(value: float, target: float) -> str:
    return "PASS" if value <= target else "FAIL"


def report(results: dict[str, Any]) -> str:
    lines: list[str] = []
    for backend in BACKENDS:
        r = results["backends"][backend]
        floor, warm = r["chat_floor"]["p50_ms"], r["warm_exec"]["p50_ms"]
        new, first, last = r["new_conversation"], r["stream_first_byte"], r["stream_last_byte"]
        warm_target = f"p50 <= {TARGET_WARM_P50_MS:g} ms  {verdict(warm, TARGET_WARM_P50_MS)}"
        ttfb_target = f"p50 <= {TARGET_TTFB_P50_MS:g} ms  {verdict(first['p50_ms'], TARGET_TTFB_P50_MS)}"
        rows = [
            (
                "GET /health (transport floor)",
                r["health_floor"],
                ratio(r["health_floor"]["p50_ms"], floor),
                "",
            ),
            ("chat completion, no interpreter (floor)", r["chat_floor"], "1.0x", ""),
            ("responses, 1 exec, warm conversation", r["warm_exec"], ratio(warm, floor), warm_target),
            ("responses, 1 exec, new conversation", new, ratio(new["p50_ms"], floor), ""),
            ("stream: time to first SSE byte", first, ratio(first["p50_ms"], floor), ttfb_target),
            ("stream: time to last SSE byte", last, ratio(last["p50_ms"], floor), ""),
        ]
        server = r["server"]
        stop_info = server.get("stop") or {}
        lines.append(
            f"[{backend}] tier {server.get('isolation_tier')}, graceful stop {stop_info.get('graceful')} "
            f"in {stop_info.get('seconds')} s, leftover containers: "
            f"{stop_info.get('leftover_containers', '-')}"
        )
        lines.append(f"{'path':42} {'n':>4} {'p50 ms':>9} {'p99 ms':>9}  {'vs floor':9} target")
        lines.append("-" * 104)
        for name, stats, note, target in rows:
            p50, p99 = stats["p50_ms"], stats["p99_ms"]
            lines.append(f"{name:42} {stats['n']:>4} {p50:>9.2f} {p99:>9.2f}  {note:9} {target}")
        for name, key in (("warm", "warm_exec"), ("stream last byte", "stream_last_byte")):
            d = r[key]
            lines.append(
                f"{'drift p50 1st/last 1/4: ' + name:42} {'':>4} {d['first_quarter_p50_ms']:>9.2f} "
                f"{d['last_quarter_p50_ms']:>9.2f}  turns {d['turns'][0]}-{d['turns'][1]}, "
                f"{d['slope_ms_per_100_turns']:+.2f} ms per 100 turns"
            )
        lines.append("")
    docker, restricted = results["backends"]["docker"], results["backends"]["restricted"]
    lines.append("docker / restricted (p50):")
    for key in ("chat_floor", "warm_exec", "new_conversation", "stream_first_byte"):
        lines.append(
            f"  {key:20} {docker[key]['p50_ms']:>8.2f} / {restricted[key]['p50_ms']:>8.2f} ms = "
            f"{ratio(docker[key]['p50_ms'], restricted[key]['p50_ms'])}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="end-to-end emulator benchmark (server in its own process)")
    parser.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    args = parser.parse_args()
    scale = 1 if not args.quick else 0.2
    results: dict[str, Any] = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "targets": {"warm_exec_p50_ms": TARGET_WARM_P50_MS, "stream_first_byte_p50_ms": TARGET_TTFB_P50_MS},
        "request": EXEC_BODY,
        "backends": {backend: bench_backend(backend, scale) for backend in BACKENDS},
    }
    results["pass"] = {
        backend: {
            "warm_exec": r["warm_exec"]["p50_ms"] <= TARGET_WARM_P50_MS,
            "stream_first_byte": r["stream_first_byte"]["p50_ms"] <= TARGET_TTFB_P50_MS,
        }
        for backend, r in results["backends"].items()
    }
    results["leftover_containers"] = sum(
        (r["server"].get("stop") or {}).get("leftover_containers", 0) for r in results["backends"].values()
    )
    write_results("e2e", results, report(results))


if __name__ == "__main__":
    main()
