"""The docker engine side of the docker sandbox: hardened container options, labels, start/attach/remove,
diagnosing a dead runner, and finding leftovers. Everything here is blocking docker-py; ``docker.py`` calls
it through ``anyio.to_thread``.

The options mirror the hardening table of ``spec/sandbox.md`` keyword for keyword (docker-py names), and
every limit comes from ``Settings``.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests
from docker.types import LogConfig, Ulimit

from emulator.config import Settings
from emulator.sandbox.image import SANDBOX_UID

NAME_PREFIX = "emulator-sbx-"
WORKDIR = "/workspace"
COMMAND = ["python3", "-u", "/opt/emulator/launch.py"]
LABEL_INSTANCE = "emulator.instance"
LABEL_SESSION = "emulator.session"
LABEL_PID = "emulator.pid"
LABEL_PID_START = "emulator.pid_start"
LABEL_HOST = "emulator.host"
LABEL_CREATED = "emulator.created"
ATTACH_PARAMS = {"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
#: how long to wait for a dead runner's container to stop before reading its state
EXIT_WAIT_SECONDS = 3.0

#: docker-py and requests failures meaning "the engine could not do it" (not a bug of ours)
ENGINE_ERRORS: tuple[type[Exception], ...] = (docker.errors.DockerException, requests.RequestException)


def docker_available(timeout: float = 2.0) -> tuple[bool, str]:
    """Is a Docker engine reachable? ``(True, "docker 20.10.24")`` or ``(False, why)``; fast (one ping with
    a short timeout), for ``--sandbox auto`` to choose between the docker and restricted backends."""
    try:
        client = docker.from_env(timeout=max(1, round(timeout)))
    except ENGINE_ERRORS as exc:
        return False, f"no Docker engine: {exc}"
    try:
        client.ping()
        version = client.version().get("Version", "?")
    except ENGINE_ERRORS as exc:
        return False, f"Docker engine not reachable: {exc}"
    finally:
        client.close()
    return True, f"docker {version}"


def _proc_stat(pid: int) -> list[str] | None:
    """``/proc/<pid>/stat`` from field 3 (state) on; ``None`` where it cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def process_start_ticks(pid: int) -> str | None:
    """The start time of a process in clock ticks since boot (``/proc/<pid>/stat`` field 22): with the pid
    it identifies a process across pid reuse. ``None`` where there is no ``/proc``."""
    fields = _proc_stat(pid)
    return fields[19] if fields else None


def process_alive(pid: int, start_ticks: str | None) -> bool:
    """Is the process that had this pid (and start time) still running? A zombie is not: a server killed
    with ``kill -9`` stays one until its parent reaps it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    fields = _proc_stat(pid)
    if fields is None:
        return True  # no /proc to tell more
    if fields[0] in ("Z", "X"):
        return False
    return not start_ticks or fields[19] == start_ticks


@dataclass(frozen=True)
class InstanceIdentity:
    """Who created a container: this emulator process (instance id, pid, its start time, host)."""

    instance: str
    pid: int
    pid_start: str
    host: str

    @classmethod
    def current(cls, instance: str) -> InstanceIdentity:
        pid = os.getpid()
        return cls(instance, pid, process_start_ticks(pid) or "", socket.gethostname())

    def labels(self, session: str) -> dict[str, str]:
        return {
            LABEL_INSTANCE: self.instance,
            LABEL_SESSION: session,
            LABEL_PID: str(self.pid),
            LABEL_PID_START: self.pid_start,
            LABEL_HOST: self.host,
            LABEL_CREATED: f"{time.time():.0f}",
        }

    def owns(self, labels: dict[str, str]) -> bool:
        return labels.get(LABEL_INSTANCE) == self.instance

    def is_orphan(self, labels: dict[str, str]) -> bool:
        """A container of another emulator instance on this host whose process is gone."""
        if self.owns(labels) or labels.get(LABEL_HOST, self.host) != self.host:
            return False  # ours, or another host's (we cannot see its processes)
        try:
            pid = int(labels.get(LABEL_PID, ""))
        except ValueError:
            return True  # labelled by an emulator but unattributable: nobody will ever remove it
        return not process_alive(pid, labels.get(LABEL_PID_START))


def container_options(settings: Settings, *, image: str, name: str, labels: dict[str, str]) -> dict[str, Any]:
    """``containers.create`` keyword arguments for one sandbox: the hardening baseline of spec/sandbox.md."""
    tmpfs_opts = f"size={settings.docker_tmpfs_size}"
    options: dict[str, Any] = {
        "image": image,
        "command": COMMAND,
        "name": name,
        "labels": labels,
        "user": f"{SANDBOX_UID}:{SANDBOX_UID}",
        "working_dir": WORKDIR,
        "environment": {},  # only the image's ENV: nothing of the host's
        "stdin_open": True,
        "tty": False,
        "network_mode": "none",
        "read_only": True,
        "tmpfs": {
            WORKDIR: f"{tmpfs_opts},uid={SANDBOX_UID},gid={SANDBOX_UID},mode=0700",
            "/tmp": f"{tmpfs_opts},mode=1777",
        },
        "shm_size": settings.docker_shm_size,
        "ipc_mode": "private",
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "pids_limit": settings.docker_pids_limit,
        "mem_limit": settings.docker_mem_limit,
        "memswap_limit": settings.docker_mem_limit,  # = mem_limit: no swap
        "nano_cpus": settings.docker_nano_cpus,
        "ulimits": [
            Ulimit(name="nofile", soft=settings.docker_nofile, hard=settings.docker_nofile),
            Ulimit(name="fsize", soft=settings.docker_fsize_bytes, hard=settings.docker_fsize_bytes),
            Ulimit(name="core", soft=0, hard=0),
        ],
        "init": True,
        "oom_score_adj": 1000,  # under host memory pressure, sandboxes die before anything else
        "log_config": LogConfig(type="none"),  # else every byte on the real stdout lands on the host disk
        "hostname": "sandbox",
    }
    if settings.docker_runtime:
        options["runtime"] = settings.docker_runtime
    return options


def create_attached(client: docker.DockerClient, options: dict[str, Any]) -> tuple[str, socket.socket]:
    """Create the container, attach to its stdio *before* starting it (the ready frame cannot be lost),
    start it; return its id and the attach socket (ours to close). Removes the container on failure."""
    container = client.containers.create(**options)
    try:
        owned = _take_attach_socket(client.api.attach_socket(container.id, params=dict(ATTACH_PARAMS)))
        try:
            container.start()
        except BaseException:
            owned.close()
            raise
    except BaseException:
        remove_container(client, container.id)
        raise
    return container.id, owned


def _take_attach_socket(response_socket: Any) -> socket.socket:
    """A duplicate of the upgraded connection under docker-py's attach response, which is then closed
    (response first, so it does not flush into a closed file): the duplicate is ours alone."""
    raw = getattr(response_socket, "_sock", response_socket)
    response = getattr(response_socket, "_response", None)
    try:
        if not isinstance(raw, socket.socket):
            raise docker.errors.DockerException(f"unsupported attach socket {type(raw).__name__}")
        return raw.dup()
    finally:
        if response is not None:
            response.close()
        response_socket.close()
        if isinstance(raw, socket.socket):
            raw.close()


def remove_container(client: docker.DockerClient, container_id: str) -> None:
    """Kill and remove; a container that is already gone is fine."""
    try:
        client.api.remove_container(container_id, force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        if exc.status_code == 409 and "already in progress" in str(exc):
            return  # someone (the reaper, the engine) is removing it already
        raise


def exit_state(client: docker.DockerClient, container_id: str) -> dict[str, Any] | None:
    """The container's ``State`` once it has stopped (OOMKilled, ExitCode); ``None`` if it is gone."""
    try:
        client.api.wait(container_id, timeout=EXIT_WAIT_SECONDS)
    except docker.errors.NotFound:
        return None
    except requests.RequestException:
        pass  # still running after the wait: report what the engine says now
    try:
        state: dict[str, Any] = client.api.inspect_container(container_id)["State"]
    except docker.errors.NotFound:
        return None
    return state


def labelled_containers(client: docker.DockerClient) -> Iterator[tuple[str, dict[str, str]]]:
    """``(id, labels)`` of every container any emulator instance created (running or not)."""
    for entry in client.api.containers(all=True, filters={"label": LABEL_INSTANCE}):
        yield entry["Id"], dict(entry.get("Labels") or {})


def remove_orphans(client: docker.DockerClient, identity: InstanceIdentity) -> int:
    """Remove containers left by emulator processes on this host that are gone (``kill -9`` included)."""
    doomed = [cid for cid, labels in labelled_containers(client) if identity.is_orphan(labels)]
    for container_id in doomed:
        remove_container(client, container_id)
    return len(doomed)


def remove_instance_containers(client: docker.DockerClient, identity: InstanceIdentity) -> int:
    """Remove every container this emulator instance created (shutdown's final sweep)."""
    mine = [cid for cid, labels in labelled_containers(client) if identity.owns(labels)]
    for container_id in mine:
        remove_container(client, container_id)
    return len(mine)
