"""Run an emulator in-process on a free loopback port (used by our tests and the pytest plugin)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from emulator.app import create_app
from emulator.config import Settings


@dataclass(frozen=True)
class RunningEmulator:
    """A live emulator: where to point each SDK."""

    settings: Settings
    base_url: str  # http://127.0.0.1:<port>

    @property
    def openai_base_url(self) -> str:
        """For ``OpenAI(base_url=…)``: Chat Completions and Responses."""
        return f"{self.base_url}/compatible-mode/v1"

    @property
    def apps_base_url(self) -> str:
        """The seed's Responses base URL form (``/api/v2/apps/protocols/compatible-mode/v1``)."""
        return f"{self.base_url}/api/v2/apps/protocols/compatible-mode/v1"

    @property
    def dashscope_base_url(self) -> str:
        """For ``dashscope.base_http_api_url``."""
        return f"{self.base_url}/api/v1"

    def health(self) -> dict[str, Any]:
        answer: dict[str, Any] = httpx.get(f"{self.base_url}/health", timeout=5).json()
        return answer


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def run_emulator(
    settings: Settings | None = None, *, startup_timeout: float = 120.0, **app_kwargs: Any
) -> Iterator[RunningEmulator]:
    """Start the emulator in a background thread; stop it (and clean its sandboxes) on exit."""
    settings = (settings or Settings()).model_copy(update={"host": "127.0.0.1", "port": free_port()})
    app = create_app(settings, **app_kwargs)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="emulator-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the emulator failed to start (see the log above)")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the emulator did not start within {startup_timeout} s")
        time.sleep(0.02)
    try:
        yield RunningEmulator(settings, f"http://{settings.host}:{settings.port}")
    finally:
        server.should_exit = True
        thread.join(timeout=60)
