"""The process tier (``restricted``): refused imports, the known escape classes, rlimits, scratch dir,
scrubbed environment. Each escape test asserts both the refusal and that nothing escaped."""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emulator.config import Settings
from emulator.core.errors import SandboxUnavailable
from emulator.sandbox.base import Sandbox, SandboxSession
from emulator.sandbox.landlock import landlock_abi
from emulator.sandbox.restricted import RestrictedSandbox, RestrictedSession, describe_exit_code, runner_path
from tests.sandbox.conftest import runner_is_sleeping, wait_until

TIER = "process-tier sandbox (restricted)"


@pytest.fixture
async def restricted() -> AsyncIterator[RestrictedSandbox]:
    sandbox = RestrictedSandbox(Settings(exec_timeout=10, output_limit_bytes=4096))
    await sandbox.start()
    try:
        yield sandbox
    finally:
        await sandbox.aclose()


@pytest.fixture
async def session(restricted: RestrictedSandbox) -> AsyncIterator[RestrictedSession]:
    opened = await restricted.open("restricted-test")
    try:
        yield opened
    finally:
        await opened.close()


async def error_of(session: RestrictedSession, code: str) -> tuple[str, str]:
    result = await session.run(code)
    assert result.error is not None, f"expected an error from {code!r}, got {result}"
    assert result.reset is False
    return result.error.name, result.error.message


# --- imports ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "import os",
        "import sys",
        "import subprocess",
        "import socket",
        "import ctypes",
        "import importlib",
        "import signal",
        "import shutil",
        "import pathlib",
        "import os.path",
        "from os import path",
        "import numpy.ctypeslib",
        "import pandas.io",
        "import sympy.parsing.ast_parser",
    ],
)
async def test_refused_import_names_the_tier_and_the_allow_list(
    session: RestrictedSession, code: str
) -> None:
    name, message = await error_of(session, code)
    assert name == "ImportError"
    module = code.split()[1]
    assert message.startswith(f"import of {module!r} is not allowed in the {TIER}; allowed: ")
    assert "math" in message and "json" in message


async def test_refused_import_traceback_hides_the_policy(session: RestrictedSession) -> None:
    result = await session.run("import os")
    assert result.error is not None
    assert "restricted_policy" not in result.error.traceback
    assert 'File "<cell-1>", line 1, in <module>' in result.error.traceback


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("import math\nmath.factorial(10)", "3628800"),
        ("import json\njson.dumps({'a': [1, 2]})", "'{\"a\": [1, 2]}'"),
        ("from collections import Counter\nCounter('banana').most_common(1)", "[('a', 3)]"),
        ("import numpy as np\nint(np.arange(10).sum())", "45"),
        ("import sympy\nx = sympy.Symbol('x')\nsympy.solve(x**2 - 4, x)", "[-2, 2]"),
        ("import sympy\nsympy.sympify('x**2 + 1').subs('x', 2)", "5"),
        ("import pandas as pd\ndf = pd.DataFrame({'a': [1, 2]})\ndf['b'] = df.a * 2\nint(df.b.sum())", "6"),
        ("import datetime\ndatetime.date(2024, 1, 31).isoformat()", "'2024-01-31'"),
        (
            "import dataclasses\n@dataclasses.dataclass\nclass P:\n    x: int\n    y: int = 2\nP(1)",
            "P(x=1, y=2)",
        ),
        ("import enum\nclass Color(enum.Enum):\n    RED = 1\nColor.RED.name", "'RED'"),
        ("class A:\n    def __init__(self):\n        self.v = 3\nA().v", "3"),
        ("'{:.2f} and {}'.format(3.14159, 'x')", "'3.14 and x'"),
        ("a, (b, c) = 1, (2, 3)\na + b + c", "6"),
        ("sorted(zip([3, 1], 'ab'))", "[(1, 'b'), (3, 'a')]"),
        ("import matplotlib.pyplot as plt\nplt.style.use('ggplot')\n'styled'", "'styled'"),
        ("import numpy as np\nnp.array([[1, 2], [3, 4]]).T.tolist()", "[[1, 3], [2, 4]]"),
    ],
)
async def test_allowed_python_works(session: RestrictedSession, code: str, expected: str) -> None:
    result = await session.run(code)
    assert result.error is None, result.error
    assert result.result == expected


# --- escape classes (sandbox.md) --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "name"),
    [
        # format-string attribute access, str.format_map
        ("'{0.__class__}'.format(1)", "ValueError"),
        ("str.format('{0.__class__.__mro__}', 1)", "ValueError"),
        ("'{x.__class__}'.format_map({'x': 1})", "ValueError"),
        ("'{0:{1.__class__}}'.format(1, 2)", "ValueError"),
        (
            "class S(str):\n    def f(self):\n        return super().format(1)\nS('{0.__class__}').f()",
            "ValueError",
        ),
        ("import collections\ncollections.UserString('{0.__class__}').format(1)", "AttributeError"),
        ("import string\nstring.Formatter().format('{0.__class__}', 1)", "AttributeError"),
        # getattr with computed names
        ("getattr(1, '__cl' + 'ass__')", "AttributeError"),
        ("getattr(getattr, '__glob' + 'als__')", "AttributeError"),
        ("import operator\noperator.attrgetter('__class__')(1)", "AttributeError"),
        ("import operator\noperator.methodcaller('__subclasses__')", "AttributeError"),
        # generator / frame attributes
        ("def g():\n    yield 1\ng().gi_frame.f_globals", "SyntaxError"),
        ("def g():\n    yield 1\ngetattr(g(), 'gi_' + 'frame')", "AttributeError"),
        ("try:\n    1 / 0\nexcept Exception as e:\n    e.__traceback__.tb_frame", "SyntaxError"),
        # subclass walking
        ("().__class__.__bases__[0].__subclasses__()", "SyntaxError"),
        ("getattr(getattr((), '__class__'), '__bases__')", "AttributeError"),
        # decorators
        ("@'{0.__globals__}'.format\ndef f():\n    pass", "ValueError"),
        ("@getattr\ndef f():\n    pass", "TypeError"),
        ("def leak(f):\n    return f.__globals__\n@leak\ndef g():\n    pass", "SyntaxError"),
        # type() tricks
        ("type('X', (object,), {'__init__': None})", "TypeError"),
        ("T = type(type(1))\ngetattr(T, '__subclasses__')", "AttributeError"),
        ("class M(type):\n    pass\nclass X(metaclass=M):\n    pass", "SyntaxError"),
        # evaluators and string annotations
        ("eval('1 + 1')", "SyntaxError"),
        ("exec('x = 1')", "SyntaxError"),
        ("__import__('os')", "SyntaxError"),
        ("open('/etc/passwd')", "NameError"),
        ("globals()", "NameError"),
        ("vars()", "NameError"),
        ("import typing\ntyping.get_type_hints", "AttributeError"),
        ("import functools\nfunctools.singledispatch", "AttributeError"),
        # modules reachable as attributes of allowed packages
        ("import matplotlib\nmatplotlib.os", "AttributeError"),
        ("import matplotlib\nmatplotlib.use('module://os')", "AttributeError"),
        ("from matplotlib import os", "ImportError"),
        ("import numpy\nnumpy.ctypeslib", "AttributeError"),
        ("import numpy\nnumpy.zeros(2).ctypes", "AttributeError"),
        ("import sympy\nsympy.external.import_module('os')", "AttributeError"),
        # objects of system modules handed out by allowed functions (an open file here)
        (
            "import matplotlib.cbook as cb\ncb.get_sample_data('Minduka_Present_Blue_Pack.png').read",
            "AttributeError",
        ),
        # writes to shared modules and classes
        ("import math\nmath.pi = 3", "TypeError"),
        ("import json\nsetattr(json, 'dumps', None)", "TypeError"),
        ("int.real = 1", "TypeError"),
    ],
)
async def test_escape_attempt_is_refused(session: RestrictedSession, code: str, name: str) -> None:
    error_name, _message = await error_of(session, code)
    assert error_name == name
    assert (await session.run("1 + 1")).result == "2"  # and the session is intact


async def test_sympify_cannot_reach_import(session: RestrictedSession, tmp_path: Path) -> None:
    target = tmp_path / "pwned"
    attack = f"__import__('os').system('touch {target}')"
    result = await session.run(f"import sympy\nsympy.sympify({attack!r})")
    assert result.error is not None and result.error.name == "SympifyError"
    assert not target.exists()


async def test_lambdify_cannot_run_code_hidden_in_a_symbol_name(
    session: RestrictedSession, tmp_path: Path
) -> None:
    target = tmp_path / "pwned"
    name = f"__import__('os').system('touch {target}')"
    code = f"import sympy\nx = sympy.Symbol('x')\nf = sympy.lambdify(x, sympy.Symbol({name!r}))\nf(1)"
    result = await session.run(code)
    assert result.error is not None and result.error.name == "SyntaxError"
    assert not target.exists()
    working = await session.run("f = sympy.lambdify(x, x**2 + 1)\nf(3)")
    assert working.result == "10"


async def test_print_goes_to_stdout(session: RestrictedSession) -> None:
    result = await session.run("print('a', 1)\nprint('b', end='!')\nvalues = [print(i) for i in range(2)]")
    assert result.stdout == "a 1\nb!0\n1\n"


# --- the process around the code --------------------------------------------------------------------------


def proc_limits(pid: int) -> dict[str, tuple[str, str]]:
    limits = {}
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines()[1:]:
        match = re.match(r"(.+?)\s{2,}(\S+)\s+(\S+)", line)
        assert match is not None
        limits[match.group(1)] = (match.group(2), match.group(3))
    return limits


async def test_rlimits_come_from_the_settings() -> None:
    settings = Settings(
        restricted_cpu_seconds=17,
        restricted_memory_bytes=768 * 1024 * 1024,
        restricted_file_bytes=2 * 1024 * 1024,
        restricted_open_files=64,
        restricted_max_processes=0,
    )
    sandbox = RestrictedSandbox(settings)
    session = await sandbox.open("limits")
    try:
        assert session.pid is not None
        limits = proc_limits(session.pid)
        assert limits["Max cpu time"] == ("17", "18")  # SIGXCPU at the soft limit, SIGKILL a second later
        assert limits["Max address space"] == (str(768 * 1024 * 1024),) * 2
        assert limits["Max file size"] == (str(2 * 1024 * 1024),) * 2
        assert limits["Max open files"] == ("64", "64")
        assert limits["Max processes"] == ("0", "0")
        assert limits["Max core file size"] == ("0", "0")
    finally:
        await sandbox.aclose()


async def test_memory_limit_gives_memory_error_and_the_session_lives(session: RestrictedSession) -> None:
    await session.run("kept = 1")
    name, _message = await error_of(session, "big = bytearray(4 * 1024 ** 3)")
    assert name == "MemoryError"
    assert (await session.run("kept")).result == "1"


async def test_cpu_limit_kills_the_runner_and_says_so() -> None:
    sandbox = RestrictedSandbox(Settings(restricted_cpu_seconds=1, exec_timeout=20))
    session = await sandbox.open("cpu")
    try:
        result = await session.run("while True:\n    pass")
        assert result.reset is True
        assert result.error is not None and result.error.name == "SandboxCrashed"
        assert "CPU-time limit" in result.error.message
        assert (await session.run("1 + 1")).result == "2"
    finally:
        await sandbox.aclose()


async def test_session_runs_in_a_private_scratch_dir_removed_on_close(restricted: RestrictedSandbox) -> None:
    session = await restricted.open("scratch")
    scratch, pid = session.scratch_dir, session.pid
    assert pid is not None
    assert scratch.is_dir() and scratch.name.startswith("emulator-sbx-")
    assert scratch.parent == Path(tempfile.gettempdir())
    assert Path(os.readlink(f"/proc/{pid}/cwd")) == scratch
    await session.close()
    assert not scratch.exists()
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()


async def test_environment_is_scrubbed(
    monkeypatch: pytest.MonkeyPatch, restricted: RestrictedSandbox
) -> None:
    monkeypatch.setenv("EMULATOR_API_KEY", "sk-should-not-leak")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "also-secret")
    session = await restricted.open("env")
    assert session.pid is not None
    raw = Path(f"/proc/{session.pid}/environ").read_bytes()
    env = dict(item.split("=", 1) for item in raw.decode().split("\0") if item)
    assert "sk-should-not-leak" not in raw.decode() and "also-secret" not in raw.decode()
    assert not any(key.startswith("EMULATOR_") for key in env)
    assert set(env) <= {"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "MPLCONFIGDIR", "MPLBACKEND"} | {
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
    }
    assert env["HOME"] == str(session.scratch_dir)
    await session.close()


@pytest.mark.parametrize(
    "code",
    [
        "open({path!r}, 'w').write('x')",
        "import numpy as np\nnp.save({path!r}, np.zeros(1))",
        "import numpy as np\nnp.zeros(3).tofile({path!r})",
        "import numpy as np\nnp.savetxt({path!r}, np.zeros(2))",
        "import pandas as pd\npd.DataFrame({{'a': [1]}}).to_csv({path!r})",
        "import matplotlib.pyplot as plt\nplt.plot([1])\nplt.savefig({path!r})",
        "import pandas as pd\npd.read_csv('/etc/passwd')",
    ],
)
async def test_no_file_is_written_outside_the_scratch_dir(
    session: RestrictedSession, tmp_path: Path, code: str
) -> None:
    target = tmp_path / "outside.bin"
    result = await session.run(code.format(path=str(target)))
    assert result.error is not None and result.error.name in {"NameError", "AttributeError"}
    assert not target.exists()
    assert os.listdir(tmp_path) == []


needs_landlock = pytest.mark.skipif(landlock_abi() == 0, reason="this kernel has no Landlock")


@needs_landlock
async def test_kernel_refuses_writes_the_python_guards_miss(
    session: RestrictedSession, tmp_path: Path
) -> None:
    # DataFrame.to_string(buf=path) is not on any deny-list: only Landlock stands between it and the disk
    target = tmp_path / "written-by-pandas.txt"
    result = await session.run(
        f"import pandas as pd\npd.DataFrame({{'a': [1]}}).to_string(buf={str(target)!r})"
    )
    assert result.error is not None and result.error.name == "PermissionError"
    assert not target.exists()


@needs_landlock
async def test_kernel_refuses_reads_of_host_files(session: RestrictedSession) -> None:
    code = "import numpy as np\nnp.genfromtxt"  # denied by name; the kernel backs up what is not:
    assert (await session.run(code)).error is not None
    result = await session.run("import pandas as pd\npd.DataFrame().to_string(buf='/etc/hostname-probe')")
    assert result.error is not None and result.error.name == "PermissionError"
    read = await session.run("import matplotlib.pyplot as plt\nplt.style.use('/etc/passwd')")
    assert read.error is not None and "/etc/passwd" in read.error.message
    assert "PermissionError: [Errno 13] Permission denied: '/etc/passwd'" in read.error.traceback


@needs_landlock
async def test_matplotlib_still_writes_its_cache_and_the_scratch_dir_is_writable(
    session: RestrictedSession,
) -> None:
    result = await session.run("import matplotlib.pyplot as plt\nplt.plot([1, 2])\n'ok'")
    assert result.result == "'ok'" and len(result.images) == 1 and result.stderr == ""


async def test_timeout_kills_the_old_runner(session: RestrictedSession) -> None:
    old_pid = session.pid
    assert old_pid is not None
    result = await session.run("while True:\n    pass", timeout=0.5)
    assert result.reset is True and session.resets == 1
    assert session.pid is not None and session.pid != old_pid
    with pytest.raises(ProcessLookupError):
        os.kill(old_pid, 0)


async def test_cancelled_execution_stops_the_code_and_the_next_run_says_reset(
    session: RestrictedSession,
) -> None:
    await session.run("x = 1")
    pid = session.pid
    assert pid is not None
    execution = asyncio.create_task(session.run("import time\ntime.sleep(60)", timeout=30))
    await wait_until(lambda: runner_is_sleeping(pid), what="the runner to start sleeping")
    execution.cancel()
    with pytest.raises(asyncio.CancelledError):
        await execution
    await wait_until(lambda: not Path(f"/proc/{pid}").exists() or "Z" in proc_state(pid), what="the kill")
    result = await session.run("x")
    assert result.reset is True
    assert result.error is not None and result.error.name == "NameError"
    assert (await session.run("'fresh'")).reset is False


async def test_close_during_an_execution_ends_it(restricted: RestrictedSandbox) -> None:
    session = await restricted.open("closing-while-busy")
    pid = session.pid
    assert pid is not None
    execution = asyncio.create_task(session.run("import time\ntime.sleep(60)", timeout=30))
    await wait_until(lambda: runner_is_sleeping(pid), what="the runner to start sleeping")
    await session.close()
    with pytest.raises(SandboxUnavailable, match="closed during the execution"):
        await execution
    assert not session.scratch_dir.exists()


def proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return "gone"


async def test_session_id_looks_like_a_container_id(session: RestrictedSession) -> None:
    assert re.fullmatch(r"cntr_[0-9a-f]{24}", session.id)


async def test_describe_reports_the_process_tier(restricted: RestrictedSandbox) -> None:
    opened = await restricted.open("describe")
    assert isinstance(restricted, Sandbox) and isinstance(opened, SandboxSession)
    facts = restricted.describe()
    assert (facts["backend"], facts["isolation_tier"], facts["sessions"]) == ("restricted", "process", 1)
    assert "weaker than a container" in str(facts["note"])
    abi = landlock_abi()
    assert facts["confinement"] == (f"landlock ABI {abi}" if abi else "none (the kernel has no Landlock)")
    await opened.close()
    assert restricted.describe()["sessions"] == 0


async def test_aclose_closes_every_session() -> None:
    sandbox = RestrictedSandbox(Settings())
    sessions = [await sandbox.open(f"s{i}") for i in range(2)]
    pids = [s.pid for s in sessions]
    await sandbox.aclose()
    for session, pid in zip(sessions, pids, strict=True):
        assert not session.scratch_dir.exists()
        assert pid is not None
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


async def test_missing_runner_makes_the_sandbox_unavailable(tmp_path: Path) -> None:
    sandbox = RestrictedSandbox(Settings(), runner=tmp_path / "missing.py")
    with pytest.raises(SandboxUnavailable, match="runner is missing"):
        await sandbox.start()


async def test_runner_that_never_gets_ready_makes_open_fail(tmp_path: Path) -> None:
    silent = tmp_path / "silent.py"
    silent.write_text("import sys\nsys.stderr.write('no frames from me')\n")
    sandbox = RestrictedSandbox(Settings(), runner=silent)
    with pytest.raises(SandboxUnavailable, match=r"did not start.*no frames from me"):
        await sandbox.open("broken")
    assert restricted_scratch_dirs_of(sandbox) == []
    await sandbox.aclose()


def restricted_scratch_dirs_of(sandbox: RestrictedSandbox) -> list[str]:
    return [s.id for s in sandbox._sessions.values()]


def test_runner_path_points_at_the_shared_runner() -> None:
    path = runner_path()
    assert path.name == "runner.py" and path.parent.name == "sandbox_image" and path.is_file()


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (0, "exited (exit code 0, e.g. os._exit(0))"),
        (3, "exited (exit code 3)"),
        (-9, "was killed (SIGKILL)"),
        (-11, "crashed (segmentation fault)"),
        (-24, "used up its CPU-time limit (RLIMIT_CPU)"),
        (71, "lost its result channel (file descriptors closed by the code)"),
        (None, "stopped answering"),
    ],
)
def test_exit_codes_are_described(code: int | None, text: str) -> None:
    assert describe_exit_code(code) == text
