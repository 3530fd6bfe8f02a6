"""The docker backend's pure parts: container options (the hardening table), exit diagnosis, orphans."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from emulator.config import Settings
from emulator.sandbox.containers import (
    InstanceIdentity,
    container_options,
    process_alive,
    process_start_ticks,
)
from emulator.sandbox.docker import describe_exit


def options(**overrides: object) -> dict[str, object]:
    identity = InstanceIdentity.current("inst1")
    return container_options(
        Settings(**overrides),  # type: ignore[arg-type]
        image="emulator-sandbox:test",
        name="emulator-sbx-abc",
        labels=identity.labels("abc"),
    )


def test_container_options_follow_the_hardening_baseline() -> None:
    opts = options()
    assert opts["network_mode"] == "none"
    assert opts["read_only"] is True
    assert opts["cap_drop"] == ["ALL"]
    assert opts["security_opt"] == ["no-new-privileges"]
    assert opts["init"] is True
    assert opts["user"] == "10001:10001"
    assert opts["environment"] == {}
    assert opts["mem_limit"] == opts["memswap_limit"] == "512m"
    assert opts["pids_limit"] == 64
    assert opts["stdin_open"] is True and opts["tty"] is False
    assert "volumes" not in opts and "mounts" not in opts and "privileged" not in opts
    tmpfs = opts["tmpfs"]
    assert isinstance(tmpfs, dict)
    assert "uid=10001" in tmpfs["/workspace"] and "mode=0700" in tmpfs["/workspace"]
    assert "size=64m" in tmpfs["/tmp"]
    ulimits = {u["Name"]: (u["Soft"], u["Hard"]) for u in opts["ulimits"]}  # type: ignore[attr-defined]
    assert ulimits == {"nofile": (256, 256), "fsize": (64 * 1024 * 1024,) * 2, "core": (0, 0)}
    assert opts["log_config"]["Type"] == "none"  # type: ignore[index]
    assert "runtime" not in opts


def test_limits_and_runtime_come_from_settings() -> None:
    opts = options(
        docker_mem_limit="256m", docker_pids_limit=32, docker_runtime="runsc", docker_shm_size="8m"
    )
    assert opts["mem_limit"] == opts["memswap_limit"] == "256m"
    assert opts["pids_limit"] == 32
    assert opts["runtime"] == "runsc"
    assert opts["shm_size"] == "8m"


def test_labels_identify_instance_session_and_process() -> None:
    labels = options()["labels"]
    assert isinstance(labels, dict)
    assert labels["emulator.instance"] == "inst1"
    assert labels["emulator.session"] == "abc"
    assert labels["emulator.pid"] == str(InstanceIdentity.current("x").pid)


def test_exit_diagnosis_tells_memory_apart_from_other_kills() -> None:
    name, message = describe_exit({"OOMKilled": True, "ExitCode": 137, "Running": False}, "512m")
    assert name == "MemoryError" and "memory" in message and "512m" in message and "reset" in message
    name, message = describe_exit({"OOMKilled": False, "ExitCode": 137, "Running": False}, "512m")
    assert name == "SandboxCrashed" and "SIGKILL" in message
    name, message = describe_exit({"OOMKilled": False, "ExitCode": 0, "Running": False}, "512m")
    assert "exit code 0" in message
    name, message = describe_exit({"OOMKilled": False, "ExitCode": 139, "Running": False}, "512m", "boom\n")
    assert "segmentation fault" in message and "boom" in message
    assert describe_exit(None, "512m")[0] == "SandboxLost"


def test_orphans_are_containers_of_dead_processes_on_this_host() -> None:
    me = InstanceIdentity.current("me")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    dead_labels = InstanceIdentity("gone", dead.pid, "1", me.host).labels("s")
    alive_labels = InstanceIdentity("other", me.pid, me.pid_start, me.host).labels("s")
    reused_pid = InstanceIdentity("reused", me.pid, "12345", me.host).labels("s")
    elsewhere = InstanceIdentity("remote", dead.pid, "1", "another-host").labels("s")
    assert me.is_orphan(dead_labels)
    assert not me.is_orphan(alive_labels)
    assert me.is_orphan(reused_pid) == (process_start_ticks(me.pid) is not None)
    assert not me.is_orphan(elsewhere)
    assert not me.is_orphan(me.labels("mine"))


def test_a_zombie_server_counts_as_dead() -> None:
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 5
    while Path(f"/proc/{zombie.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    try:
        assert not process_alive(zombie.pid, process_start_ticks(zombie.pid))
    finally:
        zombie.wait()
