"""The in-sandbox program: one persistent Python interpreter per conversation (stdlib only).

It is the main process of a sandbox container (docker tier) or a local subprocess (process tier) and
speaks **JSON lines** on its stdin/stdout: one JSON object per line, UTF-8, ``\\n``-terminated.

Frames, runner -> host::

    {"type": "ready", "pid": 7, "python": "3.11.7"}                 once, before any request is read
    {"id": "<id>", "type": "pong"}                                   answers a ping
    {"id": "<id>", "type": "execute_reply",                          answers an execute, exactly once
     "stdout": str, "stderr": str, "result": str | null, "images": [base64 PNG, ...],
     "error": null | {"ename": str, "evalue": str, "traceback": str},
     "duration_ms": float, "truncated": {"stdout": bool, "stderr": bool, "result": bool}}
    {"id": "<id>" | null, "type": "protocol_error", "message": str}  a request it could not understand

Requests, host -> runner::

    {"id": "<id>", "op": "ping"}
    {"id": "<id>", "op": "execute", "code": "...", "limits": {"output_bytes": 65536}}

The runner exits 0 at EOF of its input. When it cannot go on it exits with 70 (the drain thread did not
answer), 71 (the frame fd is gone, e.g. closed by the code), 72 (the drain thread failed) or 73 (a runner
bug), saying why on its real stderr, never in a frame. The host treats any end of stream as a reset.
Options: ``--policy restricted`` (below), ``--policy-path DIR`` (where that policy's package lives) and
``--nproc-limit N`` (``RLIMIT_NPROC``, applied after the drain thread started: threads count against it).

Semantics follow Jupyter: the cell runs in globals that persist across requests; if its last statement is
an expression, the repr of its value is ``result`` (``None`` shows nothing). ``stdout``/``stderr`` are what
the code wrote to file descriptors 1 and 2 (``os.write(1, ...)`` and C extensions included), each capped at
``output_bytes`` with a visible ``…[truncated N bytes]`` marker, invalid UTF-8 replaced. ``images`` are the
open matplotlib figures (then closed). Every ``BaseException`` (``SystemExit``, ``KeyboardInterrupt``)
becomes ``error`` and the interpreter goes on; the traceback shows user frames only.

Why it is built this way (each rule was learned by attacking a prototype):

* Frames travel on private duplicates of the original stdin/stdout; fd 0 becomes ``/dev/null`` and fds 1/2
  are capture pipes, so nothing user code prints can forge a frame. User code can still ``os.write`` to the
  frame fd: every request carries an id its reply echoes, and the host treats any other frame as a desync.
* ``os.fork()`` in user code returns a child into this loop: the child closes the frame fds
  (``register_at_fork``) and exits as soon as it is back in runner code (``os.getpid() != RUNNER_PID``).
* One drain thread, started once, empties the capture pipes while code runs (1 GB of output never blocks
  the writer), keeping only the first ``output_bytes``. After an execution the runner does not wait for EOF
  on them (a background child may hold them open): it installs fresh pipes and drains what the old ones hold.
* ``--policy restricted`` (process tier) imports ``emulator.sandbox.restricted_policy``, which confines the
  process (``confine``: Landlock, where the kernel has it), compiles cells with RestrictedPython
  (``compile_cell``) and fills the globals with guards (``prepare_globals``).
"""

from __future__ import annotations

import argparse
import ast
import base64
import codecs
import contextlib
import importlib
import io
import json
import linecache
import os
import select
import sys
import threading
import time
import traceback
import warnings

RUNNER_PID = os.getpid()
RUNNER_FILE = os.path.abspath(__file__)
DEFAULT_OUTPUT_BYTES = 64 * 1024
FINAL_DRAIN_BYTES = 4 * 1024 * 1024  # bound on what a swap reads from a pipe still being written to
HANDOFF_TIMEOUT = 10.0
CHUNK = 65536

_frame_fds: list[int] = []  # fds a forked child must not keep: frames, diagnostics, capture plumbing
_diag_fd: int | None = None


def _close_frame_fds_in_child() -> None:
    for fd in _frame_fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    _frame_fds.clear()


def _exit_if_forked() -> None:
    if os.getpid() != RUNNER_PID:
        os._exit(0)


class Capture:
    """Fds 1 and 2 as pipes, drained by one thread started once; ``swap()`` ends one execution's capture."""

    def __init__(self, fds: tuple[int, ...] = (1, 2)) -> None:
        self.fds = fds
        self.limit = DEFAULT_OUTPUT_BYTES
        self._kept = {fd: bytearray() for fd in fds}
        self._total = dict.fromkeys(fds, 0)
        self._reading = {fd: self._install(fd) for fd in fds}
        self._wake_r, self._wake_w = os.pipe()
        _frame_fds.extend([self._wake_r, self._wake_w, *self._reading.values()])
        self._pending: dict[int, int] | None = None
        self._collected: dict[int, tuple[bytes, int]] = {}
        self._done = threading.Event()
        threading.Thread(target=self._drain_or_die, name="runner-drain", daemon=True).start()

    @staticmethod
    def _install(fd: int) -> int:
        read_end, write_end = os.pipe()
        os.dup2(write_end, fd)
        os.close(write_end)
        return read_end

    def _keep(self, fd: int, data: bytes) -> None:
        self._total[fd] += len(data)
        room = self.limit - len(self._kept[fd])
        if room > 0:
            self._kept[fd] += data[:room]

    def _drain_or_die(self) -> None:
        try:
            self._drain()
        except BaseException:  # without the drain thread no execution can finish
            diagnose("the drain thread failed")
            os._exit(72)

    def _drain(self) -> None:
        poller = select.poll()
        poller.register(self._wake_r, select.POLLIN)
        owner: dict[int, int] = {}
        for fd, read_end in self._reading.items():
            poller.register(read_end, select.POLLIN)
            owner[read_end] = fd
        while True:
            wake = False
            for ready, _events in poller.poll():
                fd = owner.get(ready)
                if ready == self._wake_r:
                    wake = True
                elif fd is not None:
                    chunk = b""
                    with contextlib.suppress(OSError):
                        chunk = os.read(ready, CHUNK)
                    if chunk:
                        self._keep(fd, chunk)
                    else:  # EOF (every writer closed) or a broken fd: stop polling it until the next swap
                        poller.unregister(ready)
                        owner.pop(ready)
            if wake:  # after the reads above: the switch closes fds those events refer to
                os.read(self._wake_r, 64)
                if self._pending is not None:  # a stray byte written by user code is ignored
                    self._switch(poller, owner)

    def _switch(self, poller: select.poll, owner: dict[int, int]) -> None:
        pending, self._pending = self._pending or {}, None
        for fd, new_read in pending.items():
            old = self._reading[fd]
            try:
                os.set_blocking(old, False)
                drained = 0
                while drained < FINAL_DRAIN_BYTES:
                    chunk = os.read(old, CHUNK)
                    if not chunk:
                        break
                    drained += len(chunk)
                    self._keep(fd, chunk)
            except OSError:  # EAGAIN: the pipe is empty (a background writer may still hold it)
                pass
            if owner.pop(old, None) is not None:
                poller.unregister(old)
            _forget(old)
            os.close(old)
            self._collected[fd] = (bytes(self._kept[fd]), self._total[fd])
            self._kept[fd], self._total[fd] = bytearray(), 0
            self._reading[fd] = new_read
            owner[new_read] = fd
            poller.register(new_read, select.POLLIN)
        self._done.set()

    def swap(self) -> dict[int, tuple[bytes, int]]:
        """Point fds 1/2 at fresh pipes and return ``{fd: (kept bytes, total bytes)}`` of the old ones."""
        fresh = {fd: self._install(fd) for fd in self.fds}
        _frame_fds.extend(fresh.values())
        self._done.clear()
        self._pending = fresh
        os.write(self._wake_w, b"x")
        if not self._done.wait(HANDOFF_TIMEOUT):
            diagnose("the drain thread did not answer")
            os._exit(70)  # the drain thread is gone (user code closed its fds): the host resets us
        return self._collected


def diagnose(what: str) -> None:
    """Write a runner failure to the runner's real stderr (never the user's capture, never a frame)."""
    if _diag_fd is not None:
        text = f"runner: {what}\n{traceback.format_exc()}"
        with contextlib.suppress(OSError):
            os.write(_diag_fd, text.encode("utf-8", "replace"))


def _forget(fd: int) -> None:
    if fd in _frame_fds:
        _frame_fds.remove(fd)


def cap_text(data: bytes, total: int, limit: int) -> tuple[str, bool]:
    """Decode the kept bytes (invalid UTF-8 replaced, a cut character dropped) and mark what was cut."""
    kept = data[:limit]
    if total <= len(kept):
        return kept.decode("utf-8", "replace"), False
    text = codecs.getincrementaldecoder("utf-8")("replace").decode(kept, final=False)
    separator = "" if text.endswith("\n") or not text else "\n"
    return f"{text}{separator}…[truncated {total - len(kept)} bytes]", True


def split_cell(source: str, filename: str) -> tuple[object, object | None]:
    """Plain ``compile`` with Jupyter's split: the body, then the last statement if it is an expression."""
    tree = ast.parse(source, filename, "exec")
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
        return compile(tree, filename, "exec"), compile(last, filename, "eval")
    return compile(tree, filename, "exec"), None


class Runner:
    """The request loop: compile, run, capture, reply."""

    def __init__(self, frame_in: int, frame_out: int, policy: object | None) -> None:
        self.requests = open(frame_in, "rb", closefd=False)  # noqa: SIM115 - lives as long as the runner
        self.frame_out = frame_out
        self.policy = policy
        self.capture = Capture()
        self.stdout = self._text_stream(1)
        self.stderr = self._text_stream(2)
        self.globals: dict[str, object] = {"__name__": "__main__", "__builtins__": __builtins__}
        self.hidden = {RUNNER_FILE}
        self.compile_cell = split_cell
        if policy is not None:
            self.compile_cell = policy.compile_cell  # type: ignore[attr-defined]
            policy.prepare_globals(self.globals)  # type: ignore[attr-defined]
            self.hidden.update(getattr(policy, "TRACEBACK_HIDDEN_FILES", ()))
        self.cells = 0
        self._restore_streams()

    @staticmethod
    def _text_stream(fd: int) -> io.TextIOWrapper:
        raw = io.FileIO(fd, "wb", closefd=False)
        return io.TextIOWrapper(raw, encoding="utf-8", errors="backslashreplace", line_buffering=True)

    def _restore_streams(self) -> None:
        if self.stdout.closed:
            self.stdout = self._text_stream(1)
        if self.stderr.closed:
            self.stderr = self._text_stream(2)
        sys.stdout, sys.stderr = self.stdout, self.stderr
        sys.__stdout__, sys.__stderr__ = self.stdout, self.stderr

    def send(self, frame: dict[str, object]) -> None:
        data = (json.dumps(frame, ensure_ascii=False) + "\n").encode("utf-8", "replace")
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self.frame_out, view) :]
        except OSError:
            os._exit(71)  # the frame fd is gone (closed by user code): the host sees EOF and resets

    def serve(self) -> None:
        self.send({"type": "ready", "pid": RUNNER_PID, "python": ".".join(map(str, sys.version_info[:3]))})
        while True:
            _exit_if_forked()
            line = self.requests.readline()
            _exit_if_forked()
            if not line:
                return
            try:
                request = json.loads(line)
                rid, op = request.get("id"), request.get("op")
                if not isinstance(rid, str):
                    raise ValueError("a request needs a string id")
                limit = int((request.get("limits") or {}).get("output_bytes", DEFAULT_OUTPUT_BYTES))
            except (ValueError, TypeError, AttributeError) as exc:
                self.send({"id": None, "type": "protocol_error", "message": f"bad request: {exc}"})
                continue
            if op == "ping":
                self.send({"id": rid, "type": "pong"})
            elif op == "execute" and isinstance(request.get("code"), str):
                self.send(self.execute(rid, request["code"], max(limit, 1)))
            else:
                self.send({"id": rid, "type": "protocol_error", "message": f"unknown op {op!r}"})

    def execute(self, rid: str, code: str, limit: int) -> dict[str, object]:
        self.capture.limit = limit
        self.cells += 1
        filename = f"<cell-{self.cells}>"
        linecache.cache[filename] = (len(code), None, code.splitlines(keepends=True), filename)
        result: str | None = None
        error = None
        started = time.perf_counter()
        try:
            body, last = self.compile_cell(code, filename)
            exec(body, self.globals)
            if last is not None:
                value = eval(last, self.globals)
                if value is not None:
                    result = repr(value)
        except BaseException as exc:  # SystemExit and KeyboardInterrupt included, by design
            _exit_if_forked()
            error = self._error(exc)
        duration_ms = (time.perf_counter() - started) * 1000
        _exit_if_forked()
        images = self._figures()
        for stream in (self.stdout, self.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        self._restore_streams()
        streams = self.capture.swap()
        stdout, out_cut = cap_text(*streams[1], limit)
        stderr, err_cut = cap_text(*streams[2], limit)
        result_cut = False
        if result is not None:
            encoded = result.encode("utf-8", "replace")
            result, result_cut = cap_text(encoded, len(encoded), limit)
        return {
            "id": rid,
            "type": "execute_reply",
            "stdout": stdout,
            "stderr": stderr,
            "result": result,
            "images": images,
            "error": error,
            "duration_ms": round(duration_ms, 3),
            "truncated": {"stdout": out_cut, "stderr": err_cut, "result": result_cut},
        }

    def _error(self, exc: BaseException) -> dict[str, str]:
        te = traceback.TracebackException.from_exception(exc, lookup_lines=False)
        pending, seen = [te], set()
        while pending:  # drop runner/policy frames from the exception and its whole chain
            item = pending.pop()
            if id(item) in seen:
                continue
            seen.add(id(item))
            kept = [frame for frame in item.stack if frame.filename not in self.hidden]
            item.stack = traceback.StackSummary.from_list(kept)
            pending.extend(x for x in (item.__cause__, item.__context__) if x is not None)
        try:
            evalue = str(exc)
        except Exception:  # a user __str__ that fails must not take the runner down
            evalue = f"<unprintable {type(exc).__name__}>"
        return {"ename": type(exc).__name__, "evalue": evalue, "traceback": "".join(te.format()).rstrip("\n")}

    def _figures(self) -> list[str]:
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is None:
            return []
        images = []
        try:
            for number in pyplot.get_fignums():
                buffer = io.BytesIO()
                pyplot.figure(number).savefig(buffer, format="png")
                images.append(base64.b64encode(buffer.getvalue()).decode("ascii"))
        except Exception as exc:  # a figure that cannot render is reported, not fatal
            print(f"could not render a figure: {type(exc).__name__}: {exc}", file=self.stderr)
        finally:
            with contextlib.suppress(Exception):
                pyplot.close("all")
        return images


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--policy", choices=["restricted"], help="compile cells under a policy module")
    parser.add_argument("--policy-path", help="directory to import the policy package from")
    parser.add_argument("--nproc-limit", type=int, help="RLIMIT_NPROC, set after the drain thread starts")
    args = parser.parse_args(argv)

    global _diag_fd
    frame_in, frame_out, _diag_fd = os.dup(0), os.dup(1), os.dup(2)  # os.dup: not inherited by children
    _frame_fds.extend([frame_in, frame_out, _diag_fd])
    os.register_at_fork(after_in_child=_close_frame_fds_in_child)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.environ["MPLBACKEND"] = "Agg"
    os.environ.setdefault("MPLCONFIGDIR", "/tmp/mpl")
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"
    # plt.show() under Agg only warns; in a notebook it would display: figures are returned anyway
    warnings.filterwarnings("ignore", message=".*non-interactive, and thus cannot be shown")

    policy = None
    if args.policy:
        if args.policy_path:
            sys.path.append(args.policy_path)
        policy = importlib.import_module(f"emulator.sandbox.{args.policy}_policy")
        if hasattr(policy, "confine"):  # before any thread starts: threads inherit the confinement
            policy.confine()
    runner = Runner(frame_in, frame_out, policy)
    if args.nproc_limit is not None:  # after the drain thread: threads count against RLIMIT_NPROC too
        import resource

        resource.setrlimit(resource.RLIMIT_NPROC, (args.nproc_limit, args.nproc_limit))
    try:
        runner.serve()
    except BaseException:  # a runner bug: say why on the real stderr, then the host resets
        diagnose("the request loop failed")
        os._exit(73)


if __name__ == "__main__":
    main()
