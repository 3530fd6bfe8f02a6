"""The seed's Responses API examples, run verbatim as scripts against a live emulator."""

from __future__ import annotations

from emulator.testing import RunningEmulator
from tests.contract.seed_runner import run_seed

R21 = str(123**21)


def test_seed_quickstart_prints_1728_and_one_execution(server: RunningEmulator) -> None:
    out = run_seed("responses_quickstart.py", server.apps_base_url)
    response_part = out.split("=" * 20 + "Response" + "=" * 20)[1].split("Penggunaan token")[0]
    assert "1728" in response_part
    assert "x_tools={'code_interpreter': {'count': 1}}" in out
    assert "input_tokens=" in out and "reasoning_tokens=" in out


def test_seed_usage_example_answers_123_pow_21_in_indonesian(server: RunningEmulator) -> None:
    out = run_seed("responses_usage.py", server.base_url + "/compatible-mode/v1")
    assert R21 in out
    assert "pangkat" in out


def test_seed_stream_parser_prints_reasoning_code_result_and_usage(server: RunningEmulator) -> None:
    out = run_seed("responses_stream_parse.py", server.apps_base_url)
    sections = [line for line in out.splitlines() if line.startswith("=" * 20)]
    assert sections == [
        "=" * 20 + "Reasoning Process" + "=" * 20,
        "=" * 20 + "Code Execution" + "=" * 20,
        "=" * 20 + "Reasoning Process" + "=" * 20,
        "=" * 20 + "Full Reply" + "=" * 20,
        "=" * 20 + "Token Consumption and Tool Calls" + "=" * 20,
    ]
    assert "Code:\n12**3" in out or "Code:\n12 ** 3" in out
    assert "Result: 1728" in out
    reply = out.split("Full Reply")[1].split("Token Consumption")[0]
    assert "1728" in reply
    assert "Code interpreter calls: 1" in out
