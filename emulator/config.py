"""One settings object for the whole emulator.

Every option is an ``EMULATOR_*`` environment variable; the CLI builds the same object with flags that
override the environment. Nothing else in the package reads ``os.environ``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SandboxChoice = Literal["auto", "restricted", "docker"]

#: Model names the hosted service serves with the code interpreter; the builtin model answers to all of them.
DEFAULT_MODEL_NAMES: tuple[str, ...] = (
    "qwen3-max",
    "qwen3-max-2026-01-23",
    "qwen3-max-preview",
    "qwen3.5-plus",
    "qwen3.5-plus-2026-02-15",
    "qwen3.5-flash",
    "qwen3.5-flash-2026-02-23",
    "qwen3.5-397b-a17b",
    "qwen3.5-122b-a10b",
    "qwen3.5-27b",
    "qwen3.5-35b-a3b",
    "qwen-plus",
    "qwen-max",
    "qwen-turbo",
)


class Settings(BaseSettings):
    """All emulator settings with safe defaults (``EMULATOR_<NAME>`` in the environment)."""

    model_config = SettingsConfigDict(env_prefix="EMULATOR_", extra="ignore")

    # server
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    max_request_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    log_level: str = "info"

    # model
    model: str = "builtin"
    model_names: list[str] = Field(default_factory=lambda: list(DEFAULT_MODEL_NAMES))
    max_rounds: int = Field(default=5, ge=1, le=50)
    seed: int | None = None  # pins ids and timestamps (recordings, replays)
    stream_delay_ms: float = Field(default=0.0, ge=0)  # pause between streamed deltas (demo realism)

    # scripted model / cassettes / upstream
    cassette_dir: Path | None = None
    record_dir: Path | None = None
    upstream_url: str | None = None
    upstream_model: str | None = None
    upstream_key: str | None = None
    upstream_timeout: float = Field(default=120.0, gt=0)

    # sandbox
    sandbox: SandboxChoice = "auto"
    exec_timeout: float = Field(default=30.0, gt=0)
    output_limit_bytes: int = Field(default=64 * 1024, ge=256)
    session_ttl: float = Field(default=1200.0, gt=0)
    max_sessions: int = Field(default=64, ge=1)

    # process tier (restricted)
    restricted_cpu_seconds: int = Field(default=60, ge=1)
    restricted_memory_bytes: int = Field(default=1024 * 1024 * 1024, ge=64 * 1024 * 1024)
    restricted_max_processes: int = Field(default=0, ge=0)  # 0: no new processes at all
    restricted_file_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    restricted_open_files: int = Field(default=256, ge=16)

    # docker tier
    docker_image: str | None = None  # default: the content-hashed tag `emulator image build` makes
    docker_runtime: str | None = None  # e.g. "runsc" (gVisor)
    docker_pool_size: int = Field(default=2, ge=0, le=64)
    docker_max_containers: int = Field(default=32, ge=1)
    docker_acquire_timeout: float = Field(default=10.0, gt=0)
    docker_mem_limit: str = "512m"
    docker_nano_cpus: int = Field(default=1_000_000_000, ge=10_000_000)
    docker_pids_limit: int = Field(default=64, ge=8)
    docker_tmpfs_size: str = "64m"
    docker_shm_size: str = "16m"
    docker_nofile: int = Field(default=256, ge=16)
    docker_fsize_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    docker_reap_interval: float = Field(default=30.0, gt=0)
    docker_start_timeout: float = Field(default=30.0, gt=0)  # container start until the runner is ready
    docker_base_image: str | None = None  # default: python:3.11-slim-bookworm, else a debootstrap-built base
    docker_debian_mirror: str | None = None  # for the debootstrap base; default: the machine's apt sources
