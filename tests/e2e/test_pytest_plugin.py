"""The pytest plugin as a user drops it into a suite: the ``emulator`` marker, ``emulator_server`` and
``emulator_factory`` fixtures, driven with the real openai and dashscope SDKs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import dashscope
import httpx
import pytest
from dashscope import Generation
from openai import OpenAI

from emulator.pytest_plugin import EmulatorServer

pytest_plugins = ["pytester"]

CASSETTES = Path(__file__).parent.parent / "cassettes"
R21 = str(123**21)
CI_TOOLS = [{"type": "code_interpreter"}]


@pytest.mark.emulator(cassettes=["../cassettes/power-single-step.yaml"], sandbox="restricted", seed=7)
def test_marker_cassette_is_replayed_for_the_openai_sdk(emulator_server: EmulatorServer) -> None:
    assert emulator_server.scripts() == ["power-single-step"]
    client = OpenAI(base_url=emulator_server.openai_base_url, api_key="test", max_retries=0)
    answer = client.responses.create(
        model="scripted:power-single-step",
        input="What is 123**21?",
        tools=CI_TOOLS,
        extra_body={"enable_thinking": True},
    )
    assert answer.output_text == f"123^21 = {R21}."
    assert answer.created_at == 1_760_000_000  # the seed pins timestamps


@pytest.mark.emulator(cassettes=["../cassettes"], faults=["error=429"], sandbox="restricted")
def test_marker_faults_reach_the_dashscope_sdk(emulator_server: EmulatorServer) -> None:
    assert len(emulator_server.scripts()) == 5
    dashscope.base_http_api_url = emulator_server.dashscope_base_url
    response = Generation.call(
        model="scripted:power-single-step",
        api_key="test",
        messages=[{"role": "user", "content": "What is 123**21?"}],
        enable_code_interpreter=True,
        enable_thinking=True,
        result_format="message",
    )
    assert (response.status_code, response.code) == (429, "Throttling.RateQuota")
    emulator_server.clear_faults()
    response = Generation.call(
        model="scripted:power-single-step",
        api_key="test",
        messages=[{"role": "user", "content": "What is 123**21?"}],
        enable_code_interpreter=True,
        enable_thinking=True,
        result_format="message",
    )
    assert response.status_code == 200 and response.output.choices[0].message.content == f"123^21 = {R21}."


def test_factory_starts_independent_emulators_with_inline_cassettes(emulator_factory) -> None:  # type: ignore[no-untyped-def]
    keyed = emulator_factory(sandbox="restricted", api_key="sk-plugin")
    plain = emulator_factory(sandbox="restricted")
    assert keyed.base_url != plain.base_url
    keyed.load_cassette({"name": "inline-hello", "steps": [{"reasoning": "easy", "answer": "Hello!"}]})
    assert keyed.scripts() == ["inline-hello"] and plain.scripts() == []
    client = OpenAI(base_url=keyed.openai_base_url, api_key="sk-plugin", max_retries=0)
    answer = client.responses.create(
        model="scripted:inline-hello", input="hi", extra_body={"enable_thinking": True}
    )
    assert answer.output_text == "Hello!"


def test_plugin_import_is_light() -> None:
    heavy = ("fastapi", "uvicorn", "emulator.app", "openai")
    probe = f"import sys, emulator.pytest_plugin; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_users_suite_gets_the_fixture_from_the_entry_point_and_the_server_stops(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    (pytester.path / "cassettes").mkdir()
    (pytester.path / "cassettes" / "greeting-short.yaml").write_text("steps:\n  - answer: Hi there.\n")
    pytester.makepyfile(
        test_user=textwrap.dedent(
            """
            from pathlib import Path

            import pytest
            from openai import OpenAI

            @pytest.mark.emulator(cassettes=["cassettes"], sandbox="restricted")
            def test_greeting(emulator_server):
                client = OpenAI(base_url=emulator_server.openai_base_url, api_key="x", max_retries=0)
                reply = client.chat.completions.create(
                    model="scripted:greeting-short", messages=[{"role": "user", "content": "hello"}]
                )
                assert reply.choices[0].message.content == "Hi there."
                Path("url.txt").write_text(emulator_server.base_url)
            """
        )
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")
    result.assert_outcomes(passed=1)
    base_url = (pytester.path / "url.txt").read_text()
    assert base_url.startswith("http://127.0.0.1:")
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base_url}/health", timeout=5)
