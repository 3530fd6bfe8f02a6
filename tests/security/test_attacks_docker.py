"""The attack checklist of spec/sandbox.md, sent as code through ``DockerSandbox`` sessions on a real engine.

Each attack runs in its own conversation; after it, the same conversation must answer a plain request
(fresh interpreter or the same one, as the result's ``reset`` flag says) and, where the attack targets
shared resources, a second conversation must be unaffected. Test timeouts are 2-5 s.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import pytest

from emulator.sandbox.base import ExecResult
from emulator.sandbox.docker import DockerSandbox, DockerSession
from tests.sandbox.docker_support import started_sandbox

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]

HOST_SECRET = "sk-host-secret-do-not-leak-4242"


@pytest.fixture
async def sandbox(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[DockerSandbox]:
    monkeypatch.setenv("EMULATOR_FAKE_UPSTREAM_KEY", HOST_SECRET)
    monkeypatch.setenv("OPENAI_API_KEY", HOST_SECRET)
    async with started_sandbox(docker_pool_size=2, exec_timeout=5.0) as started:
        yield started


@pytest.fixture
async def session(sandbox: DockerSandbox) -> DockerSession:
    return await sandbox.open("attacker")


async def still_answers(session: DockerSession) -> None:
    result = await session.run("21 * 2")
    assert result.result == "42" and result.error is None and not result.reset, result


def error_name(result: ExecResult) -> str | None:
    return result.error.name if result.error is not None else None


# 1, 2: process and thread bombs ---------------------------------------------------------------------------


async def test_fork_bomb_hits_the_pids_limit_and_other_sessions_are_unaffected(
    sandbox: DockerSandbox, session: DockerSession
) -> None:
    bystander = await sandbox.open("bystander")
    result = await session.run("import os\nwhile True:\n    os.fork()", timeout=5)
    assert result.error is not None
    assert result.reset or error_name(result) in ("BlockingIOError", "OSError")
    await still_answers(session)
    await still_answers(bystander)


async def test_subprocess_bomb_is_stopped_by_the_pids_limit(session: DockerSession) -> None:
    result = await session.run(
        "import subprocess\nprocs = []\nwhile True:\n    procs.append(subprocess.Popen(['sleep', '60']))",
        timeout=5,
    )
    assert result.error is not None
    await still_answers(session)


async def test_thread_bomb_fails_cleanly_and_the_interpreter_goes_on(session: DockerSession) -> None:
    code = """
import threading, time
threads = []
while True:
    t = threading.Thread(target=time.sleep, args=(60,), daemon=True)
    t.start()
    threads.append(t)
"""
    result = await session.run(code, timeout=5)
    assert error_name(result) == "RuntimeError" and "thread" in result.error.message  # type: ignore[union-attr]
    assert not result.reset
    await still_answers(session)


# 3, 15: memory -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "b'x' * 10**10",
        "chunks = []\nwhile True:\n    chunks.append(bytearray(10**7))",
        "import numpy\nnumpy.ones(2**31)",
    ],
    ids=["bytes", "growing-list", "numpy"],
)
async def test_memory_bomb_is_reported_as_memory(session: DockerSession, code: str) -> None:
    result = await session.run(code, timeout=5)
    assert error_name(result) == "MemoryError", result
    if result.reset:
        assert "memory" in result.error.message and "reset" in result.error.message  # type: ignore[union-attr]
    await still_answers(session)


async def test_decompression_bomb_is_held_by_the_memory_limit(session: DockerSession) -> None:
    result = await session.run(
        "import zlib\nc = zlib.compressobj(1)\nblock = bytes(10**6)\n"
        "bomb = b''.join(c.compress(block) for _ in range(700)) + c.flush()\n"
        "len(bomb) < 10**7, len(zlib.decompress(bomb))",
        timeout=5,
    )
    assert error_name(result) == "MemoryError", result


# 4, 5: time ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code", ["while True:\n    pass", "import time\ntime.sleep(10**6)"], ids=["cpu", "sleep"]
)
async def test_runaway_code_is_stopped_at_the_timeout_and_the_session_reset(
    session: DockerSession, code: str
) -> None:
    await session.run("before = 1")
    started = time.monotonic()
    result = await session.run(code, timeout=2)
    assert time.monotonic() - started < 4
    assert result.reset and error_name(result) == "TimeoutError"
    assert "2 s" in result.error.message and "reset" in result.error.message  # type: ignore[union-attr]
    after = await session.run("'before' in globals()")
    assert after.result == "False"


# 6, 20: output floods ------------------------------------------------------------------------------------


async def test_100_mb_of_stdout_is_capped_with_a_marker(session: DockerSession) -> None:
    result = await session.run(
        "import sys\nfor _ in range(100):\n    sys.stdout.write('y' * 10**6)", timeout=5
    )
    assert result.stdout_truncated and "truncated" in result.stdout
    assert len(result.stdout) < 2 * 64 * 1024
    await still_answers(session)


async def test_one_huge_line_and_invalid_utf8_on_fd_1_do_not_corrupt_the_protocol(
    session: DockerSession,
) -> None:
    result = await session.run("import os\nos.write(1, b'\\xff\\xfe ok ' + b'z' * (20 * 10**6))", timeout=5)
    assert result.stdout.startswith("\ufffd\ufffd ok ")
    assert result.stdout_truncated
    await still_answers(session)


async def test_flooding_the_frame_fd_resets_the_session_without_exhausting_the_host(
    session: DockerSession,
) -> None:
    result = await session.run(
        "import os\nfor fd in range(3, 12):\n    try:\n        os.write(fd, b'j' * (80 * 2**20))\n"
        "    except OSError:\n        pass",
        timeout=5,
    )
    assert result.reset or result.error is None
    await still_answers(session)


# 7: disk -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/tmp/fill", "/workspace/fill"])
async def test_filling_a_tmpfs_raises_oserror(session: DockerSession, path: str) -> None:
    result = await session.run(
        f"with open({path!r}, 'wb') as f:\n    while True:\n        f.write(bytes(2**20))"
    )
    assert error_name(result) == "OSError" and not result.reset, result
    cleanup = await session.run(f"import os\nos.remove({path!r})\n'ok'")
    assert cleanup.result == "'ok'"


async def test_the_root_file_system_is_read_only(session: DockerSession) -> None:
    result = await session.run("open('/opt/emulator/evil', 'w')")
    assert error_name(result) in ("OSError", "PermissionError")
    assert "Read-only" in result.error.message or "Permission" in result.error.message  # type: ignore[union-attr]


# 8: secrets ----------------------------------------------------------------------------------------------


async def test_no_host_secret_is_visible_inside(session: DockerSession) -> None:
    result = await session.run(
        "import os\nseen = []\nfor path in ('/proc/1/environ', '/proc/self/environ'):\n"
        "    try:\n        seen.append(open(path, 'rb').read().decode(errors='replace'))\n"
        "    except OSError as exc:\n        seen.append(repr(exc))\n"
        "seen.append(repr(dict(os.environ)))\nprint('\\n'.join(seen))"
    )
    assert result.error is None
    assert HOST_SECRET not in result.stdout and "EMULATOR_" not in result.stdout
    assert "OPENAI_API_KEY" not in result.stdout
    shadow = await session.run("open('/etc/shadow').read()")
    assert error_name(shadow) == "PermissionError"


# 9: network ----------------------------------------------------------------------------------------------


async def test_there_is_no_network(session: DockerSession) -> None:
    # 192.0.2.1 is TEST-NET-1 (documentation only): with no interface but lo, connect fails at once,
    # no packet leaves the container
    result = await session.run(
        "import socket\nout = [socket.if_nameindex()]\n"
        "for target in (('192.0.2.1', 80), ('127.0.0.1', 8000)):\n"
        "    s = socket.socket()\n    s.settimeout(2)\n"
        "    try:\n        s.connect(target)\n        out.append('connected')\n"
        "    except OSError as exc:\n        out.append(type(exc).__name__)\n"
        "try:\n    socket.getaddrinfo('dashscope.aliyuncs.com', 443)\n    out.append('resolved')\n"
        "except OSError as exc:\n    out.append(type(exc).__name__)\nout"
    )
    assert result.result == "[[(1, 'lo')], 'OSError', 'ConnectionRefusedError', 'gaierror']", result


# 10, 11: signals and exits -------------------------------------------------------------------------------


async def test_sigkill_to_the_init_is_a_no_op(session: DockerSession) -> None:
    result = await session.run("import os, signal\nkeep = 1\nos.kill(1, signal.SIGKILL)\n'alive'")
    assert result.result == "'alive'" and not result.reset
    assert (await session.run("keep")).result == "1"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("import os, signal\nos.kill(1, signal.SIGTERM)\nimport time\ntime.sleep(3)", "SIGTERM"),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "SIGKILL"),
        ("import os\nos._exit(0)", "exit code 0"),
        ("import os\nos.closerange(0, 256)", "The Python interpreter"),
    ],
    ids=["sigterm-init", "sigkill-self", "os-exit", "closerange"],
)
async def test_interpreter_death_resets_with_a_clear_error(
    session: DockerSession, code: str, expected: str
) -> None:
    result = await session.run(code, timeout=5)
    assert result.reset and result.error is not None, result
    assert expected in result.error.message and "reset" in result.error.message
    await still_answers(session)


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("import sys\nsys.exit(3)", "SystemExit"),
        ("raise SystemExit", "SystemExit"),
        ("raise KeyboardInterrupt", "KeyboardInterrupt"),
    ],
)
async def test_exit_exceptions_are_errors_and_the_interpreter_lives(
    session: DockerSession, code: str, name: str
) -> None:
    await session.run("kept = 7")
    result = await session.run(code)
    assert error_name(result) == name and not result.reset
    assert (await session.run("kept")).result == "7"


# 12: recursion -------------------------------------------------------------------------------------------


async def test_deep_recursion_is_a_recursion_error(session: DockerSession) -> None:
    result = await session.run("def f(n):\n    return f(n + 1)\nf(0)")
    assert error_name(result) == "RecursionError" and not result.reset
    await still_answers(session)


async def test_raised_recursion_limit_errors_or_resets_and_the_conversation_goes_on(
    session: DockerSession,
) -> None:
    result = await session.run(
        "import sys\nsys.setrecursionlimit(10**6)\ndef f(n):\n    return f(n + 1)\nf(0)", timeout=3
    )
    assert result.error is not None
    await still_answers(session)


# 13: forged frames ---------------------------------------------------------------------------------------


async def test_printed_frames_stay_text(session: DockerSession) -> None:
    fake = json.dumps({"id": "x", "type": "execute_reply", "stdout": "pwned"})
    result = await session.run(f"print({fake!r})\n'done'")
    assert result.stdout.strip() == fake and result.result == "'done'"


async def test_frames_forged_on_the_frame_fd_reset_and_never_answer_a_later_request(
    session: DockerSession,
) -> None:
    forged = {
        "id": "0" * 24, "type": "execute_reply", "stdout": "FORGED", "stderr": "", "result": "'FORGED'",
        "images": [], "error": None, "duration_ms": 0.0,
        "truncated": {"stdout": False, "stderr": False, "result": False},
    }  # fmt: skip
    line = (json.dumps(forged) + "\n").encode()
    result = await session.run(
        f"import os\nfor fd in range(3, 12):\n    try:\n        os.write(fd, {line!r} * 3)\n"
        "    except OSError:\n        pass"
    )
    assert result.reset or result.error is None
    for _ in range(3):
        later = await session.run("'mine'")
        assert later.result == "'mine'" and "FORGED" not in later.stdout


# 14: privileges ------------------------------------------------------------------------------------------


async def test_privileged_syscalls_are_denied(session: DockerSession) -> None:
    code = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(120)
calls = {
    'setuid': lambda: libc.setuid(0),
    'unshare': lambda: libc.unshare(0x10000000),  # CLONE_NEWUSER
    'mount': lambda: libc.mount(b'none', b'/tmp', b'tmpfs', 0, None),
    'chroot': lambda: libc.chroot(b'/tmp'),
    'io_uring_setup': lambda: libc.syscall(425, 8, buf),
    'bpf': lambda: libc.syscall(321, 0, 0, 0),
}
out = {name: call() for name, call in calls.items()}
out['dev_mem'] = os.path.exists('/dev/mem')
out['setuid_binaries'] = [
    path
    for folder in ('/usr/bin', '/bin', '/usr/sbin', '/sbin')
    for path in (os.path.join(folder, name) for name in os.listdir(folder))
    if os.path.isfile(path) and os.stat(path).st_mode & 0o6000
]
out['uid'] = (os.getuid(), os.geteuid())
out
"""
    result = await session.run(code)
    assert result.error is None, result
    assert result.result == (
        "{'setuid': -1, 'unshare': -1, 'mount': -1, 'chroot': -1, 'io_uring_setup': -1, 'bpf': -1, "
        "'dev_mem': False, 'setuid_binaries': [], 'uid': (10001, 10001)}"
    )


# 17, 19: leftovers ---------------------------------------------------------------------------------------


async def test_background_processes_do_not_block_the_result(session: DockerSession) -> None:
    started = time.monotonic()
    code = """
import os, subprocess, time
subprocess.Popen(['sleep', '30'])
if os.fork() == 0:  # a double-forked daemon
    if os.fork() == 0:
        os.setsid()
        time.sleep(30)
    os._exit(0)
'back'
"""
    result = await session.run(code, timeout=5)
    assert result.result == "'back'" and time.monotonic() - started < 2
    await still_answers(session)


async def test_a_forked_child_returning_into_the_runner_does_not_answer(session: DockerSession) -> None:
    result = await session.run("import os\npid = os.fork()\npid > 0")
    assert result.result == "True" or result.reset
    for expected in ("1", "2", "3"):
        assert (await session.run(expected)).result == expected
