"""pytest plugin: a live emulator in your test suite, with cassettes and faults (like pytest-httpserver).

Installed with the package (entry point ``pytest11``); it only registers fixtures and a marker, and imports
the emulator when a test asks for one::

    import pytest
    from openai import OpenAI

    @pytest.mark.emulator(cassettes=["cassettes/power-single-step.yaml"], sandbox="restricted")
    def test_agent_quotes_the_interpreter(emulator_server):
        client = OpenAI(base_url=emulator_server.openai_base_url, api_key="test")
        answer = client.responses.create(
            model="scripted:power-single-step",
            input="What is 123**21?",
            tools=[{"type": "code_interpreter", "container": {"type": "auto"}}],
            extra_body={"enable_thinking": True},
        )
        assert "77269364466549865653073473388030061522211723" in answer.output_text

- ``emulator_server``: an emulator on a free 127.0.0.1 port for one test. The ``emulator`` marker gives
  ``cassettes`` (files or directories; relative paths are resolved against the test file's directory),
  ``faults`` (global fault specs) and any ``Settings`` field (``sandbox``, ``api_key``, ``seed``, …).
- ``emulator_factory``: start several emulators in one test: ``emulator_factory(cassettes=[…], seed=1)``.

Both stop their emulators at the end of the test, which closes every sandbox they opened.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from emulator.testing import RunningEmulator

MARKER = "emulator"
_CASSETTE_SUFFIXES = (".yaml", ".yml", ".json")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(cassettes=[...], faults=[...], **settings): configure the emulator_server fixture "
        "(cassette files or directories, global fault specs, emulator Settings fields)",
    )


class EmulatorServer:
    """A running emulator: the base URL for each SDK, plus its admin API (``/_emulator/``)."""

    def __init__(self, running: RunningEmulator) -> None:
        self.running = running
        key = running.settings.api_key
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}

    @property
    def base_url(self) -> str:
        return self.running.base_url

    @property
    def openai_base_url(self) -> str:
        """``OpenAI(base_url=…)``: Responses and Chat Completions."""
        return self.running.openai_base_url

    @property
    def apps_base_url(self) -> str:
        """The hosted Responses form ``…/api/v2/apps/protocols/compatible-mode/v1``."""
        return self.running.apps_base_url

    @property
    def dashscope_base_url(self) -> str:
        """``dashscope.base_http_api_url = …``."""
        return self.running.dashscope_base_url

    def _admin(self, method: str, path: str, headers: Mapping[str, str] | None = None, **kwargs: Any) -> Any:
        import httpx

        url = f"{self.base_url}/_emulator/{path}"
        response = httpx.request(
            method, url, headers={**self._headers, **(headers or {})}, timeout=30, **kwargs
        )
        if response.status_code >= 400:
            raise RuntimeError(f"emulator admin {method} /_emulator/{path}: {response.text}")
        return response.json()

    def load_cassette(
        self, cassette: str | Path | Mapping[str, Any], name: str | None = None
    ) -> dict[str, Any]:
        """Load a cassette file (its name is the file name) or a cassette mapping (which names itself)."""
        params = {"name": name} if name else {}
        if isinstance(cassette, Mapping):
            answer: dict[str, Any] = self._admin("POST", "scripts", json=dict(cassette), params=params)
            return answer
        path = Path(cassette)
        params.setdefault("name", path.stem)
        text = path.read_text(encoding="utf-8")
        answer = self._admin(
            "POST",
            "scripts",
            content=text.encode(),
            params=params,
            headers={"Content-Type": "application/yaml"},
        )
        return answer

    def scripts(self) -> list[str]:
        return [entry["name"] for entry in self._admin("GET", "scripts")["data"]]

    def add_fault(self, spec: str, *, times: int | None = None, model: str | None = None) -> dict[str, Any]:
        """A global fault for the requests that follow (``times`` of them, or until cleared)."""
        answer: dict[str, Any] = self._admin(
            "POST", "faults", json={"spec": spec, "times": times, "model": model}
        )
        return answer

    def clear_faults(self) -> None:
        self._admin("DELETE", "faults")


def _cassette_files(sources: Sequence[str | Path], base: Path) -> list[Path]:
    files: list[Path] = []
    for source in sources:
        path = Path(source)
        if not path.is_absolute():
            path = base / path
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in _CASSETTE_SUFFIXES)
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"emulator cassette not found: {path}")
    return files


@pytest.fixture
def emulator_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., EmulatorServer]]:
    """Start emulators with given cassettes, faults and settings; all stop at the end of the test."""
    base = Path(request.path).parent

    with ExitStack() as stack:

        def start(
            *, cassettes: Sequence[str | Path] = (), faults: Sequence[str] = (), **settings: Any
        ) -> EmulatorServer:
            from emulator.config import Settings
            from emulator.testing import run_emulator

            server = EmulatorServer(stack.enter_context(run_emulator(Settings(**settings))))
            for path in _cassette_files(cassettes, base):
                server.load_cassette(path)
            for spec in faults:
                server.add_fault(spec)
            return server

        yield start


@pytest.fixture
def emulator_server(
    request: pytest.FixtureRequest, emulator_factory: Callable[..., EmulatorServer]
) -> EmulatorServer:
    """A live emulator for this test, configured by the ``emulator`` marker (cassettes, faults, settings)."""
    marker = request.node.get_closest_marker(MARKER)
    options = dict(marker.kwargs) if marker is not None else {}
    return emulator_factory(**options)
