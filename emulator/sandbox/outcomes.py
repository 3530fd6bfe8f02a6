"""How an execution that lost its interpreter is reported, the same way by every backend.

A runner that ends without a result frame always means ``reset: true`` (spec/sandbox.md); these helpers
name what happened (timeout, signal, the runner's own exit codes) in one wording for both backends.
"""

from __future__ import annotations

import contextlib
import signal

from emulator.sandbox.base import ExecError, ExecResult

RESET_NOTE = "the interpreter was restarted, so earlier variables are gone."

#: exit codes the runner uses for its own failures (see runner.py)
_RUNNER_EXIT_CODES = {
    70: "lost its output pipes (file descriptors closed by the code)",
    71: "lost its result channel (file descriptors closed by the code)",
    72: "lost its output-drain thread",
    73: "failed in its request loop",
}
_SIGNALS = {
    signal.SIGKILL: "was killed (SIGKILL)",
    signal.SIGSEGV: "crashed (segmentation fault)",
    signal.SIGXCPU: "used up its CPU-time limit (RLIMIT_CPU)",
    signal.SIGXFSZ: "wrote a file over the size limit (RLIMIT_FSIZE)",
    signal.SIGTERM: "was terminated (SIGTERM)",
    signal.SIGABRT: "aborted (SIGABRT)",
}


def reset_result(name: str, message: str, *, duration_ms: float = 0.0) -> ExecResult:
    """The result of an execution that ended with the session's interpreter being replaced."""
    return ExecResult(error=ExecError(name, message), duration_ms=duration_ms, reset=True)


def describe_exit_code(code: int | None) -> str:
    """What happened to a runner that exited with ``code`` (``asyncio`` style: ``-N`` is signal N)."""
    if code is None:
        return "stopped answering"
    if code < 0:
        with contextlib.suppress(ValueError):
            sig = signal.Signals(-code)
            return _SIGNALS.get(sig, f"was killed by {sig.name}")
        return f"was killed by signal {-code}"
    if code in _RUNNER_EXIT_CODES:
        return _RUNNER_EXIT_CODES[code]
    return f"exited (exit code {code}{', e.g. os._exit(0)' if code == 0 else ''})"
