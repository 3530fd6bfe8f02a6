"""Settings come from EMULATOR_* variables and CLI flags (flags win); the token counter is stable."""

from __future__ import annotations

import pytest

from emulator.cli import main
from emulator.config import Settings
from emulator.core.tokens import count_tokens


def test_environment_sets_every_option(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMULATOR_PORT", "9123")
    monkeypatch.setenv("EMULATOR_SANDBOX", "restricted")
    monkeypatch.setenv("EMULATOR_API_KEY", "sk-env")
    monkeypatch.setenv("EMULATOR_MAX_ROUNDS", "3")
    settings = Settings()
    assert (settings.port, settings.sandbox, settings.api_key, settings.max_rounds) == (
        9123,
        "restricted",
        "sk-env",
        3,
    )


def test_cli_flags_override_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from emulator import cli

    monkeypatch.setenv("EMULATOR_PORT", "9123")
    seen: list[Settings] = []
    monkeypatch.setattr(cli, "serve", lambda settings: seen.append(settings) or 0)
    assert main(["serve", "--port", "9999", "--exec-timeout", "2.5", "--sandbox", "restricted"]) == 0
    assert seen[0].port == 9999 and seen[0].exec_timeout == 2.5 and seen[0].sandbox == "restricted"


def test_invalid_setting_is_a_clear_exit_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--max-rounds", "0"]) == 2
    assert "invalid setting" in capsys.readouterr().err


def test_token_counter_is_deterministic_and_plausible() -> None:
    text = "Berapa 123 pangkat 21? 123的21次方是多少？"
    assert count_tokens(text) == count_tokens(text)
    assert count_tokens("hello world") == 4
    assert count_tokens("123的21次方") == 5  # 123 的 21 次 方
    assert count_tokens("") == 0


def test_ask_runs_one_turn_in_the_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "Berapa 12 pangkat 3?", "--sandbox", "restricted"]) == 0
    out = capsys.readouterr().out
    assert "== code ==\n12**3" in out
    assert "== output" in out and "1728" in out.split("== answer ==")[1]
    assert "executions 1]" in out


def test_doctor_reports_the_sandbox_choice(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--sandbox", "restricted"]) == 0
    out = capsys.readouterr().out
    assert "--sandbox restricted -> process (restricted)" in out
    assert out.startswith("python")
