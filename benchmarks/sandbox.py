"""Sandbox benchmark (``make bench``): the docker backend's paths side by side, in one run, on one image.

* trivial execution via ``docker run --rm`` (hardened flags), via ``docker exec`` into a running container,
  and via our warm session (the runner over attached stdio): p50 / p99;
* a new conversation's acquire + first execution with a warm pool;
* a cold container start to the first result (pool size 0), against ``docker run``;
* memory of an idle runner container (cgroup RSS and ``docker stats``' usage).

Results go to ``benchmarks/results/sandbox-<timestamp>.json`` and are printed as a table with the targets of
spec/sandbox.md. Absolute numbers move between machines; compare the paths within one run.

    python benchmarks/sandbox.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import docker
from latency import summary, write_results  # benchmarks/ is on sys.path when run as a script

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emulator.config import Settings
from emulator.sandbox.docker import DockerSandbox

HARDENED_RUN_FLAGS = [
    "--network", "none", "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
    "--init", "--log-driver", "none", "--user", "10001:10001", "--pids-limit", "64", "--memory", "512m",
]  # fmt: skip
TRIVIAL = "pass"


def timed_cli(command: list[str], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def bench_docker_run(image: str, runs: int) -> dict[str, float]:
    command = ["docker", "run", "--rm", *HARDENED_RUN_FLAGS, image, "python3", "-c", TRIVIAL]
    timed_cli(command, 1)  # warm the engine's caches
    return summary(timed_cli(command, runs))


def bench_docker_exec(image: str, runs: int) -> dict[str, float]:
    name = f"emulator-bench-exec-{int(time.time())}"
    subprocess.run(
        ["docker", "run", "-d", "--name", name, *HARDENED_RUN_FLAGS, image, "sleep", "infinity"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        command = ["docker", "exec", name, "python3", "-c", TRIVIAL]
        timed_cli(command, 1)
        return summary(timed_cli(command, runs))
    finally:
        subprocess.run(["docker", "rm", "-f", name], check=False, stdout=subprocess.DEVNULL)


async def timed(action: Callable[[], Awaitable[object]], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await action()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def pool_filled(sandbox: DockerSandbox, size: int) -> None:
    while sandbox.pool.stats()["ready"] < size:
        await asyncio.sleep(0.02)


async def bench_warm(settings: Settings, runs: int) -> dict[str, Any]:
    async with DockerSandbox(settings) as sandbox:
        session = await sandbox.open("bench")
        await timed(lambda: session.run(TRIVIAL), 50)  # warm-up
        round_trips = await timed(lambda: session.run(TRIVIAL), runs)
        inside = []
        for _ in range(200):
            result = await session.run(TRIVIAL)
            inside.append(result.duration_ms)
        await session.close()
        runner_ms = statistics.median(inside)
        out = summary(round_trips)
        out["runner_exec_p50_ms"] = round(runner_ms, 3)
        out["overhead_p50_ms"] = round(out["p50_ms"] - runner_ms, 3)
        return {"warm": out, "image": sandbox.image}


async def bench_new_conversation(settings: Settings, runs: int) -> dict[str, float]:
    samples = []
    async with DockerSandbox(settings) as sandbox:
        for index in range(runs):
            await pool_filled(sandbox, settings.docker_pool_size)
            started = time.perf_counter()
            session = await sandbox.open(f"conv-{index}")
            await session.run(TRIVIAL)
            samples.append((time.perf_counter() - started) * 1000)
            await session.close()
    return summary(samples)


async def bench_cold(settings: Settings, runs: int) -> dict[str, float]:
    samples = []
    async with DockerSandbox(settings.model_copy(update={"docker_pool_size": 0})) as sandbox:
        for index in range(runs):
            started = time.perf_counter()
            session = await sandbox.open(f"cold-{index}")
            await session.run(TRIVIAL)
            samples.append((time.perf_counter() - started) * 1000)
            await session.close()
            await asyncio.sleep(0.3)  # let the removal finish: measure starts, not contention
    return summary(samples)


async def bench_idle_memory(settings: Settings, count: int = 3) -> dict[str, float]:
    async with DockerSandbox(settings.model_copy(update={"docker_pool_size": count})) as sandbox:
        await pool_filled(sandbox, count)
        await asyncio.sleep(1.0)
        client = docker.from_env()
        rss, usage = [], []
        try:
            for entry in client.api.containers(
                filters={"label": f"emulator.instance={sandbox.identity.instance}"}
            ):
                stats = client.api.stats(entry["Id"], stream=False)
                memory = stats.get("memory_stats", {})
                detail = memory.get("stats", {})
                rss.append(detail.get("total_rss", detail.get("rss", detail.get("anon", 0))) / 2**20)
                cache = detail.get("total_inactive_file", detail.get("inactive_file", 0))
                usage.append((memory.get("usage", 0) - cache) / 2**20)
        finally:
            client.close()
    return {
        "containers": len(rss),
        "rss_mib_mean": round(statistics.mean(rss), 2),
        "usage_mib_mean": round(statistics.mean(usage), 2),
    }


def ratio(a: float, b: float) -> str:
    return f"{a / b:,.0f}x" if b > 0 else "-"


def report(results: dict[str, Any]) -> str:
    run, exe, warm = results["docker_run"], results["docker_exec"], results["warm"]
    new, cold, mem = results["new_conversation"], results["cold_start"], results["idle_memory"]
    rows = [
        ("docker run --rm (hardened flags)", run, f"{ratio(run['p50_ms'], warm['p50_ms'])} warm", ""),
        ("docker exec into a running container", exe, f"{ratio(exe['p50_ms'], warm['p50_ms'])} warm", ""),
        ("warm session (runner over attach)", warm, "1x", "p50 <= 1 ms, >= 50x faster than exec"),
        ("new conversation: acquire + 1st exec", new, "", "p50 <= 20 ms"),
        (
            "cold start to first result (no pool)",
            cold,
            f"{cold['p50_ms'] / run['p50_ms']:.2f} of docker run",
            "<= docker run",
        ),
    ]
    lines = [f"{'path':40} {'p50 ms':>9} {'p99 ms':>9}  {'vs warm / note':24} target", "-" * 110]
    for name, stats, note, target in rows:
        lines.append(f"{name:40} {stats['p50_ms']:>9.2f} {stats['p99_ms']:>9.2f}  {note:24} {target}")
    lines.append(
        f"{'warm exec overhead (round trip - runner)':40} {warm['overhead_p50_ms']:>9.3f} {'':>9}  "
        f"{'runner ' + str(warm['runner_exec_p50_ms']) + ' ms':24}"
    )
    lines.append(
        f"{'idle container memory (MiB)':40} {mem['rss_mib_mean']:>9.1f} {'':>9}  "
        f"{'usage ' + str(mem['usage_mib_mean']) + ' MiB':24} <= 40 MB RSS"
    )
    return "\n".join(lines)


async def main_async(quick: bool) -> dict[str, Any]:
    settings = Settings(sandbox="docker", docker_pool_size=2, exec_timeout=30)
    scale = 1 if not quick else 0.2
    warm = await bench_warm(settings, int(1000 * scale) or 50)
    image = warm.pop("image")
    results: dict[str, Any] = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": __import__("os").cpu_count(), "platform": platform.platform()},
        "engine": docker.from_env().version().get("Version"),
        "image": image,
        **warm,
        "docker_run": bench_docker_run(image, max(5, int(20 * scale))),
        "docker_exec": bench_docker_exec(image, max(5, int(40 * scale))),
        "new_conversation": await bench_new_conversation(settings, max(5, int(30 * scale))),
        "cold_start": await bench_cold(settings, max(5, int(15 * scale))),
        "idle_memory": await bench_idle_memory(settings),
    }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description="docker sandbox benchmark")
    parser.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    args = parser.parse_args()
    results = asyncio.run(main_async(args.quick))
    write_results("sandbox", results, report(results))


if __name__ == "__main__":
    main()
