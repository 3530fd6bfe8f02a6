"""The sandbox contract, written once and run against every backend in ``conftest.BACKENDS``.

Cells here run unchanged under the process tier's RestrictedPython policy and under plain Python: only
allow-listed imports, no ``os``/``sys``. What needs them is in backend-specific tests and, for the runner
both backends share, in ``tests/unit/test_runner_protocol.py``.
"""

from __future__ import annotations

import asyncio
import base64

import pytest

from emulator.sandbox.base import Sandbox, SandboxSession
from tests.sandbox.conftest import CONTRACT_SETTINGS, BackendSpec

LIMIT = CONTRACT_SETTINGS["output_limit_bytes"]


def marker(cut: int) -> str:
    return f"…[truncated {cut} bytes]"


async def test_sandbox_describes_its_backend_and_tier(sandbox: Sandbox) -> None:
    facts = sandbox.describe()
    assert facts["backend"] == sandbox.backend
    assert facts["isolation_tier"] == sandbox.isolation_tier
    assert sandbox.isolation_tier in {"process", "container", "gvisor"}


async def test_last_expression_shows_its_repr(sandbox_session: SandboxSession) -> None:
    result = await sandbox_session.run("123**21")
    assert result.result == "77269364466549865653073473388030061522211723"
    assert (result.stdout, result.stderr, result.error, result.images, result.reset) == (
        "",
        "",
        None,
        (),
        False,
    )
    assert result.duration_ms >= 0


@pytest.mark.parametrize(
    "code", ["None", "x = 5", "def f():\n    return 1", "print('only')", "for i in range(2):\n    i"]
)
async def test_none_and_statements_show_no_result(sandbox_session: SandboxSession, code: str) -> None:
    result = await sandbox_session.run(code)
    assert result.result is None
    assert result.error is None


async def test_print_then_expression_gives_stdout_and_result(sandbox_session: SandboxSession) -> None:
    result = await sandbox_session.run("print('hello', 'world')\nprint(1)\n6 * 7")
    assert result.stdout == "hello world\n1\n"
    assert result.result == "42"
    assert result.logs() == "hello world\n1\n42"


async def test_string_result_is_its_repr(sandbox_session: SandboxSession) -> None:
    result = await sandbox_session.run("'héllo ✓'")
    assert result.result == "'héllo ✓'"


async def test_unicode_output_round_trips(sandbox_session: SandboxSession) -> None:
    result = await sandbox_session.run("print('héllo ✓ 你好')")
    assert result.stdout == "héllo ✓ 你好\n"


async def test_globals_persist_between_executions(sandbox_session: SandboxSession) -> None:
    assert (await sandbox_session.run("x = 41\ndef double(v):\n    return v * 2")).error is None
    assert (await sandbox_session.run("x += 1\nx")).result == "42"
    assert (await sandbox_session.run("double(x)")).result == "84"


async def test_error_has_name_message_and_only_user_frames(sandbox_session: SandboxSession) -> None:
    result = await sandbox_session.run("print('before')\ndef f():\n    return 1 / 0\nf()")
    assert result.stdout == "before\n"
    assert result.error is not None
    assert (result.error.name, result.error.message) == ("ZeroDivisionError", "division by zero")
    traceback = result.error.traceback
    assert traceback.startswith("Traceback (most recent call last):\n")
    assert "line 4, in <module>" in traceback and "line 3, in f" in traceback
    assert "return 1 / 0" in traceback
    assert traceback.endswith("ZeroDivisionError: division by zero")
    assert "runner.py" not in traceback and "restricted_policy" not in traceback
    assert result.reset is False


async def test_syntax_error_is_an_error_result(sandbox_session: SandboxSession) -> None:
    result = await sandbox_session.run("def broken(:\n    pass")
    assert result.error is not None and result.error.name == "SyntaxError"
    assert (await sandbox_session.run("1 + 1")).result == "2"


@pytest.mark.parametrize(
    ("code", "name", "message"),
    [("raise SystemExit(3)", "SystemExit", "3"), ("raise KeyboardInterrupt", "KeyboardInterrupt", "")],
)
async def test_base_exceptions_are_errors_and_the_interpreter_goes_on(
    sandbox_session: SandboxSession, code: str, name: str, message: str
) -> None:
    await sandbox_session.run("kept = 'yes'")
    result = await sandbox_session.run(code)
    assert result.error is not None
    assert (result.error.name, result.error.message, result.reset) == (name, message, False)
    assert (await sandbox_session.run("kept")).result == "'yes'"


async def test_timeout_restarts_the_interpreter_and_forgets_state(sandbox_session: SandboxSession) -> None:
    await sandbox_session.run("x = 1")
    result = await sandbox_session.run("while True:\n    pass", timeout=1)
    assert result.reset is True
    assert result.error is not None and result.error.name == "TimeoutError"
    assert "1 s" in result.error.message and "restarted" in result.error.message
    assert result.result is None
    after = await sandbox_session.run("x")
    assert after.error is not None and after.error.name == "NameError"
    assert after.reset is False
    assert (await sandbox_session.run("2 + 2")).result == "4"


async def test_sleeping_past_the_timeout_is_stopped(sandbox_session: SandboxSession) -> None:
    result = await sandbox_session.run("import time\ntime.sleep(60)", timeout=1)
    assert result.reset is True
    assert result.error is not None and result.error.name == "TimeoutError"
    assert result.duration_ms < 10_000


async def test_killed_runner_resets_the_session(
    sandbox_session: SandboxSession, backend: BackendSpec
) -> None:
    await sandbox_session.run("x = 1")
    execution = asyncio.create_task(sandbox_session.run("import time\ntime.sleep(60)", timeout=30))
    await backend.kill_runner(sandbox_session)
    result = await execution
    assert result.reset is True
    assert result.error is not None and "killed" in result.error.message.lower()
    after = await sandbox_session.run("x")
    assert after.error is not None and after.error.name == "NameError"
    assert (await sandbox_session.run("3 * 3")).result == "9"


async def test_stdout_is_capped_with_a_visible_marker(sandbox_session: SandboxSession) -> None:
    result = await sandbox_session.run("print('a' * 10000)")
    assert result.stdout_truncated is True
    assert result.stdout == "a" * LIMIT + "\n" + marker(10001 - LIMIT)
    assert result.truncated is True


async def test_many_small_lines_are_capped(sandbox_session: SandboxSession) -> None:
    result = await sandbox_session.run("for i in range(100000):\n    print(i)")
    full = "".join(f"{i}\n" for i in range(100000))
    assert result.stdout_truncated is True
    assert result.stdout == full[:LIMIT] + "\n" + marker(len(full) - LIMIT)


async def test_one_huge_line_is_cut(sandbox_session: SandboxSession) -> None:
    result = await sandbox_session.run("print('y' * 20_000_000, end='')")
    assert result.stdout == "y" * LIMIT + "\n" + marker(20_000_000 - LIMIT)
    assert (await sandbox_session.run("'still here'")).result == "'still here'"


async def test_result_is_capped_with_a_visible_marker(sandbox_session: SandboxSession) -> None:
    result = await sandbox_session.run("'z' * 10000")
    assert result.result_truncated is True
    assert result.result == "'" + "z" * (LIMIT - 1) + "\n" + marker(10002 - LIMIT)
    assert result.stdout_truncated is False


async def test_cut_never_splits_a_character(sandbox_session: SandboxSession) -> None:
    result = await sandbox_session.run(
        "print('é' * 5000)"
    )  # 2 bytes each: the cap falls on a boundary or not
    text = result.stdout.split("\n")[0]
    assert set(text) == {"é"} and len(text.encode()) <= LIMIT


async def test_library_warnings_go_to_stderr(sandbox_session: SandboxSession) -> None:
    result = await sandbox_session.run("import numpy as np\nnp.log(np.zeros(1))")
    assert "RuntimeWarning: divide by zero encountered in log" in result.stderr
    assert result.result == "array([-inf])"
    assert result.stdout == ""


async def test_open_matplotlib_figure_comes_back_as_one_png(sandbox_session: SandboxSession) -> None:
    result = await sandbox_session.run(
        "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.title('squares')\nplt.show()"
    )
    assert result.error is None, result.error
    assert len(result.images) == 1
    png = base64.b64decode(result.images[0])
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000
    assert result.stderr == ""
    again = await sandbox_session.run("len(plt.get_fignums())")
    assert again.images == () and again.result == "0"


async def test_two_figures_give_two_images(sandbox_session: SandboxSession) -> None:
    code = "import matplotlib.pyplot as plt\nfor n in range(2):\n    plt.figure()\n    plt.plot([n, n + 1])"
    result = await sandbox_session.run(code)
    assert len(result.images) == 2


async def test_sessions_are_isolated(sandbox: Sandbox) -> None:
    first, second = await sandbox.open("a"), await sandbox.open("b")
    try:
        assert first.id != second.id
        await first.run("secret = 'mine'")
        other = await second.run("secret")
        assert other.error is not None and other.error.name == "NameError"
    finally:
        await first.close()
        await second.close()


async def test_closed_session_refuses_to_run(sandbox: Sandbox) -> None:
    session = await sandbox.open("closing")
    await session.close()
    await session.close()  # idempotent
    with pytest.raises(Exception, match="closed"):
        await session.run("1")
