"""Shared fixtures: live emulators on 127.0.0.1 and the Docker requirement policy."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from emulator.config import Settings
from emulator.testing import RunningEmulator, run_emulator

IN_CI = os.environ.get("CI", "").lower() == "true"

#: the key our servers are started with in tests that check auth; others accept any key
TEST_KEY = "sk-test-emulator"


@pytest.fixture(scope="session")
def server() -> Iterator[RunningEmulator]:
    """A shared emulator with the builtin model and the process-tier sandbox (fast, no engine needed)."""
    with run_emulator(Settings(sandbox="restricted", exec_timeout=5)) as running:
        yield running


@pytest.fixture
def make_server() -> Iterator[Callable[..., RunningEmulator]]:
    """Start extra emulators with given settings; all are stopped at the end of the test."""
    with ExitStack() as stack:

        def start(**overrides: Any) -> RunningEmulator:
            app_kwargs = {k: overrides.pop(k) for k in ("sandbox_backend", "models") if k in overrides}
            if "sandbox_backend" in app_kwargs:
                app_kwargs["sandbox"] = app_kwargs.pop("sandbox_backend")
            return stack.enter_context(run_emulator(Settings(**overrides), **app_kwargs))

        yield start


def docker_engine_or_fail() -> None:
    """Docker tests fail (never skip) when CI=true and no engine answers; locally they skip."""
    from emulator.sandbox.docker import docker_available

    ok, reason = docker_available()
    if ok:
        return
    message = f"a Docker engine is required for this test: {reason}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message + " (not in CI: skipped)")


@pytest.fixture(scope="session")
def docker_engine() -> None:
    docker_engine_or_fail()
