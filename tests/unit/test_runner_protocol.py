"""``sandbox_image/runner.py`` driven unrestricted as a plain subprocess through ``RunnerClient``: the
protocol both backends share, including the attacks that need ``os`` (fd-level writes, forged frames on
the frame fd, fork) and the client's side of the contract (ids, desync, EOF, deadline)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import platform
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress

import pytest

from emulator.sandbox.base import ExecResult
from emulator.sandbox.protocol import (
    MAX_FRAME_BYTES,
    ExecuteReply,
    RunnerClient,
    RunnerDesync,
    RunnerGone,
    RunnerTimeout,
    StreamTransport,
    parse_frame,
)
from emulator.sandbox.restricted import runner_path

OUTPUT = 65536
FORGED: dict[str, object] = {
    "type": "execute_reply",
    "stdout": "forged",
    "stderr": "",
    "result": "'forged'",
    "images": [],
    "error": None,
    "duration_ms": 0.0,
    "truncated": {"stdout": False, "stderr": False, "result": False},
}


@asynccontextmanager
async def started_runner(
    *, limit: int = MAX_FRAME_BYTES, new_id: Callable[[], str] | None = None
) -> AsyncIterator[tuple[RunnerClient, asyncio.subprocess.Process]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(runner_path()),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
        limit=limit,
    )
    assert process.stdin is not None and process.stdout is not None
    transport = StreamTransport(process.stdout, process.stdin)
    client = RunnerClient(transport, new_id=new_id) if new_id else RunnerClient(transport)
    try:
        await client.wait_ready(timeout=20)
        yield client, process
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        await client.close()


@pytest.fixture
async def runner() -> AsyncIterator[tuple[RunnerClient, asyncio.subprocess.Process]]:
    async with started_runner() as started:
        yield started


async def run(client: RunnerClient, code: str, *, timeout: float = 20, output: int = OUTPUT) -> ExecResult:
    return await client.execute(code, timeout=timeout, output_bytes=output)


async def test_ready_frame_reports_pid_and_python(
    runner: tuple[RunnerClient, asyncio.subprocess.Process],
) -> None:
    client, process = runner
    assert client.ready is not None
    assert client.ready.pid == process.pid
    assert client.ready.python == platform.python_version()


async def test_reply_echoes_the_request_id() -> None:
    async with started_runner() as (client, process):
        assert process.stdin is not None and process.stdout is not None
        await client.transport.send(b'{"id": "req-\\u00e9-42", "op": "ping"}\n')
        assert json.loads(await client.transport.receive_line()) == {"id": "req-é-42", "type": "pong"}
        request = {"id": "abc", "op": "execute", "code": "1", "limits": {"output_bytes": 100}}
        await client.transport.send(json.dumps(request).encode() + b"\n")
        reply = json.loads(await client.transport.receive_line())
        assert (reply["id"], reply["type"], reply["result"]) == ("abc", "execute_reply", "1")


async def test_bad_requests_get_protocol_errors(
    runner: tuple[RunnerClient, asyncio.subprocess.Process],
) -> None:
    client, _process = runner
    for raw, expected_id in [
        (b"not json\n", None),
        (b'{"op": "ping"}\n', None),
        (b'{"id": "x", "op": "dance"}\n', "x"),
    ]:
        await client.transport.send(raw)
        frame = json.loads(await client.transport.receive_line())
        assert (frame["type"], frame["id"]) == ("protocol_error", expected_id)
    await client.ping(timeout=5)


async def test_output_is_captured_at_the_file_descriptor_level(
    runner: tuple[RunnerClient, asyncio.subprocess.Process],
) -> None:
    client, _process = runner
    result = await run(
        client, "import os, sys\nos.write(1, b'raw fd\\n')\nprint('python')\nos.write(2, b'err fd\\n')"
    )
    assert result.stdout == "raw fd\npython\n"
    assert result.stderr == "err fd\n"


async def test_invalid_utf8_on_fd_1_is_replaced(
    runner: tuple[RunnerClient, asyncio.subprocess.Process],
) -> None:
    client, _process = runner
    result = await run(client, "import os\nos.write(1, b'ok \\xff\\xfe end\\n')")
    assert result.stdout == "ok \ufffd\ufffd end\n"
    assert result.error is None


async def test_stderr_is_capped_too(runner: tuple[RunnerClient, asyncio.subprocess.Process]) -> None:
    client, _process = runner
    result = await run(client, "import sys\nsys.stderr.write('e' * 5000)", output=1000)
    assert result.stderr == "e" * 1000 + "\n…[truncated 4000 bytes]"
    assert result.stderr_truncated is True and result.stdout_truncated is False


async def test_printed_frame_stays_text(runner: tuple[RunnerClient, asyncio.subprocess.Process]) -> None:
    client, _process = runner
    forged = json.dumps({"id": "whatever", **FORGED})
    result = await run(client, f"print({forged!r})\n'real'")
    assert result.stdout == forged + "\n"
    assert result.result == "'real'"
    assert (await run(client, "2 + 2")).result == "4"


WRITE_TO_EVERY_FD = """
import os
for fd in range(3, 256):
    try:
        os.write(fd, {frame!r})
    except OSError:
        pass
"""


async def test_frame_written_on_the_frame_fd_desyncs_the_client(
    runner: tuple[RunnerClient, asyncio.subprocess.Process],
) -> None:
    client, _process = runner
    frame = (json.dumps({"id": "forged-id", **FORGED}) + "\n").encode()
    with pytest.raises(RunnerDesync, match="another request"):
        await run(client, WRITE_TO_EVERY_FD.format(frame=frame))
    assert client.broken
    with pytest.raises(RunnerDesync, match="unusable"):
        await run(client, "1")


async def test_extra_frame_never_answers_a_later_request() -> None:
    ids = (f"req-{n}" for n in itertools.count(1))
    async with started_runner(new_id=lambda: next(ids)) as (client, _process):
        # code that guesses its own request id can fake that reply; the real one then arrives as an extra
        frame = (json.dumps({"id": "req-1", **FORGED}) + "\n").encode()
        faked = await run(client, WRITE_TO_EVERY_FD.format(frame=frame))
        assert faked.stdout == "forged"
        with pytest.raises(RunnerDesync, match="another request"):
            await run(client, "'second'")


async def test_garbage_on_the_frame_fd_desyncs_the_client(
    runner: tuple[RunnerClient, asyncio.subprocess.Process],
) -> None:
    client, _process = runner
    with pytest.raises(RunnerDesync, match="malformed"):
        await run(client, WRITE_TO_EVERY_FD.format(frame=b"this is not json\n"))


async def test_forked_child_does_not_answer(runner: tuple[RunnerClient, asyncio.subprocess.Process]) -> None:
    client, process = runner
    code = "import os\npid = os.fork()\nif pid == 0:\n    print('child')\nelse:\n    os.waitpid(pid, 0)\npid"
    result = await run(client, code)
    assert result.stdout == "child\n"
    assert result.result is not None and int(result.result) not in (0, process.pid)
    for n in range(3):  # the parent still answers every request, with the right id, alone
        assert (await run(client, f"{n} * 10")).result == str(n * 10)
    await client.ping(timeout=5)


async def test_hundred_megabytes_of_stdout_are_capped_without_hanging(
    runner: tuple[RunnerClient, asyncio.subprocess.Process],
) -> None:
    client, _process = runner
    code = "import os\nchunk = b'x' * (1 << 20)\nfor _ in range(100):\n    os.write(1, chunk)"
    result = await run(client, code, timeout=60)
    assert result.stdout == "x" * OUTPUT + "\n…[truncated " + str(100 * (1 << 20) - OUTPUT) + " bytes]"
    assert result.stdout_truncated is True
    assert (await run(client, "'next'")).result == "'next'"


async def test_background_child_holding_the_pipes_does_not_stall(
    runner: tuple[RunnerClient, asyncio.subprocess.Process],
) -> None:
    client, _process = runner
    sleeper = "[sys.executable, '-c', 'import time; time.sleep(30)']"
    code = f"import subprocess, sys\nsubprocess.Popen({sleeper})\n'started'"
    started = time.monotonic()
    result = await run(client, code)
    assert result.result == "'started'"
    follow_up = await run(client, "print('after')")
    assert follow_up.stdout == "after\n"
    assert time.monotonic() - started < 5  # no wait for EOF on a pipe the child still holds


async def test_thread_is_not_started_per_execution(
    runner: tuple[RunnerClient, asyncio.subprocess.Process],
) -> None:
    client, process = runner
    before = len(os.listdir(f"/proc/{process.pid}/task"))
    for n in range(20):
        await run(client, f"print({n})")
    assert len(os.listdir(f"/proc/{process.pid}/task")) == before == 2  # main + the one drain thread


async def test_traceback_shows_user_frames_only(
    runner: tuple[RunnerClient, asyncio.subprocess.Process],
) -> None:
    client, _process = runner
    result = await run(client, "def f():\n    raise ValueError('boom')\nf()")
    assert result.error is not None
    traceback = result.error.traceback
    assert "runner.py" not in traceback
    assert traceback.count('File "<cell-') == 2 and traceback.endswith("ValueError: boom")


async def test_exit_without_reply_raises_runner_gone(
    runner: tuple[RunnerClient, asyncio.subprocess.Process],
) -> None:
    client, process = runner
    with pytest.raises(RunnerGone):
        await run(client, "import os\nos._exit(0)")
    assert await process.wait() == 0


async def test_closing_every_fd_ends_the_runner(
    runner: tuple[RunnerClient, asyncio.subprocess.Process],
) -> None:
    client, process = runner
    with pytest.raises(RunnerGone):
        await run(client, "import os\nos.closerange(3, 256)")
    assert await process.wait() in (70, 71, 72, 73)


async def test_deadline_raises_runner_timeout_and_breaks_the_client(
    runner: tuple[RunnerClient, asyncio.subprocess.Process],
) -> None:
    client, _process = runner
    with pytest.raises(RunnerTimeout, match=r"0\.5 s"):
        await run(client, "import time\ntime.sleep(30)", timeout=0.5)
    with pytest.raises(RunnerDesync, match="unusable"):
        await client.ping(timeout=5)


async def test_frame_over_the_transport_limit_is_a_desync() -> None:
    async with started_runner(limit=4096) as (client, _process):
        with pytest.raises(RunnerDesync, match="limit"):
            await run(client, "print('q' * 50000)", output=100000)


def test_reply_maps_to_exec_result() -> None:
    line = json.dumps(
        {
            **FORGED,
            "id": "r1",
            "stderr": "warn",
            "result": None,
            "images": ["aGk="],
            "error": {"ename": "ValueError", "evalue": "bad", "traceback": "Traceback ...\nValueError: bad"},
            "duration_ms": 1.5,
            "truncated": {"stdout": True, "stderr": False, "result": True},
        }
    ).encode()
    frame = parse_frame(line)
    assert isinstance(frame, ExecuteReply)
    result = frame.to_result()
    assert (result.stdout, result.stderr, result.result, result.images) == ("forged", "warn", None, ("aGk=",))
    assert result.error is not None
    assert (result.error.name, result.error.message) == ("ValueError", "bad")
    assert (
        result.duration_ms,
        result.stdout_truncated,
        result.stderr_truncated,
        result.result_truncated,
    ) == (
        1.5,
        True,
        False,
        True,
    )
    assert result.reset is False


@pytest.mark.parametrize(
    "line",
    [
        b"not json\n",
        b"[1, 2]\n",
        b'{"type": "mystery"}\n',
        b'{"id": "r", "type": "pong", "extra": 1}\n',
        json.dumps({**FORGED, "id": "r", "stdout": 5}).encode(),
        json.dumps({**FORGED, "id": "r", "images": "not a list"}).encode(),
    ],
)
def test_malformed_frames_are_desyncs(line: bytes) -> None:
    with pytest.raises(RunnerDesync, match="malformed"):
        parse_frame(line)
