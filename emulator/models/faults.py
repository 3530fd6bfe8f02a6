"""Fault injection: what a client of the hosted service sees when things go wrong, on demand.

A fault spec is a short string, per request in the ``x-emulator-fault`` header, in a cassette's ``faults``
field, or global through the admin API (``POST /_emulator/faults``)::

    latency=300ms; delta-latency=20ms; error=503@1; sandbox-crash@2

Each item is ``kind[=value][@at]``. The kinds (``FAULT_KINDS`` documents each):

- ``latency=<duration>``: wait before the model's first output (so before the first byte of the response).
- ``delta-latency=<duration>``: wait between the model's streamed outputs.
- ``error=<429|500|503|504>[@round]``: the model fails at the start of inference ``round`` (default 0, before
  the first byte: a real HTTP status; later rounds fail mid-stream).
- ``malformed-code[@round]``: the model's code does not parse (the execution is a real ``SyntaxError``).
- ``empty-step[@round]``: the model's step yields nothing (default round 0).
- ``endless``: the model proposes code every step and never answers (the loop stops at ``max_rounds``).
- ``sandbox-crash[@n]``: the ``n``-th execution of the turn (default 1) crashes its interpreter, which is
  restarted (earlier variables are gone).
- ``sandbox-timeout[=duration][@n]``: the ``n``-th execution runs into the sandbox's real timeout.
- ``disconnect[@k]``: the connection is cut right after the model's ``k``-th output (default 1).

``FaultInjector.plan`` makes one ``FaultPlan`` per turn; the loop wraps the model and the interpreter of
that turn with it (``FaultPlan.wrap_model`` / ``wrap_session``).
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import cast

from emulator.core.errors import (
    EmulatorError,
    InvalidParameter,
    ModelFailed,
    ModelUnavailable,
    RateLimited,
    UpstreamTimeout,
)
from emulator.models.base import Model, StepCode, StepContext, StepOutput, StepReasoning
from emulator.sandbox.base import ExecError, ExecResult, SandboxSession

FAULT_HEADER = "x-emulator-fault"

FAULT_KINDS: dict[str, str] = {
    "latency": "wait before the model's first output (time to first byte)",
    "delta-latency": "wait between the model's streamed outputs",
    "error": "the model fails with 429, 500, 503 or 504 at inference @round (default 0)",
    "malformed-code": "the model's code at @round (default: its first) does not parse",
    "empty-step": "the model's step at @round (default 0) yields nothing",
    "endless": "the model proposes code every step and never answers",
    "sandbox-crash": "execution @n (default 1) crashes the interpreter, which is restarted",
    "sandbox-timeout": "execution @n (default 1) runs into the sandbox timeout (=duration, default 0.2s)",
    "disconnect": "the connection is cut after the model's @k-th output (default 1)",
}

_MODEL_KINDS = {"latency", "delta-latency", "error", "malformed-code", "empty-step", "endless", "disconnect"}
_SANDBOX_KINDS = {"sandbox-crash", "sandbox-timeout"}

#: what each injectable status raises; the surfaces render these in their own error bodies
INJECTED_ERRORS: dict[int, Callable[[], EmulatorError]] = {
    429: lambda: RateLimited("Requests rate limit exceeded, please try again later. (injected fault)"),
    500: lambda: ModelFailed("The model failed while generating the response. (injected fault)"),
    503: lambda: ModelUnavailable("The model is temporarily unavailable. (injected fault)"),
    504: lambda: UpstreamTimeout("The model did not answer in time. (injected fault)"),
}

#: worded like the real backends' crash results (``sandbox/docker.py``)
CRASH_MESSAGE = (
    "The Python interpreter crashed (injected fault). The sandbox was restarted and the session was reset: "
    "earlier variables and files are gone."
)
#: code that runs into any sandbox's deadline (pure Python, allowed by every tier)
_BUSY_LOOP = "while True:\n    pass\n"
_DEFAULT_SANDBOX_TIMEOUT = 0.2
_ITEM = re.compile(r"^(?P<kind>[a-z-]+)(?:=(?P<value>[^@]+))?(?:@(?P<at>\d+))?$")
_DURATION = re.compile(r"^(?P<number>\d+(?:\.\d+)?)(?P<unit>ms|s)?$")


class ConnectionCut(BaseException):
    """Raised from the event stream to drop the client's connection mid-stream (fault ``disconnect``).

    A ``BaseException`` on purpose: the loop turns every ``Exception`` of a backend into a clean ``Failed``
    event; this one must travel up through the surface's generator, so the server closes the connection
    without the final event, as a network cut would.
    """


@dataclass(frozen=True, slots=True)
class Fault:
    """One parsed fault item."""

    kind: str
    seconds: float = 0.0  # latency, delta-latency, sandbox-timeout
    status: int = 0  # error
    at: int | None = None  # round (model faults), execution number (sandbox), output count (disconnect)


def _duration(value: str, item: str) -> float:
    match = _DURATION.match(value.strip())
    if match is None:
        raise _bad(item, "durations look like 300ms, 0.3s or 0.3")
    number = float(match["number"])
    return number / 1000 if match["unit"] == "ms" else number


def _bad(item: str, why: str) -> InvalidParameter:
    return InvalidParameter(f"Invalid fault {item!r} in `{FAULT_HEADER}`: {why}.", param=FAULT_HEADER)


def parse_faults(spec: str) -> tuple[Fault, ...]:
    """Parse ``kind[=value][@at]`` items separated by ``;`` or ``,``; raises ``InvalidParameter``."""
    faults: list[Fault] = []
    for raw in re.split(r"[;,]", spec):
        item = raw.strip()
        if not item:
            continue
        match = _ITEM.match(item)
        if match is None or match["kind"] not in FAULT_KINDS:
            raise _bad(item, f"known kinds: {', '.join(FAULT_KINDS)}")
        kind, value = match["kind"], match["value"]
        at = int(match["at"]) if match["at"] is not None else None
        if kind in ("latency", "delta-latency"):
            if value is None:
                raise _bad(item, "give a duration, e.g. latency=300ms")
            faults.append(Fault(kind, seconds=_duration(value, item), at=at))
        elif kind == "error":
            status = int(value) if value is not None and value.isdigit() else 0
            if status not in INJECTED_ERRORS:
                raise _bad(item, f"error takes one of {sorted(INJECTED_ERRORS)}")
            faults.append(Fault(kind, status=status, at=at))
        elif kind == "sandbox-timeout":
            seconds = _duration(value, item) if value is not None else _DEFAULT_SANDBOX_TIMEOUT
            faults.append(Fault(kind, seconds=seconds, at=at))
        elif value is not None:
            raise _bad(item, f"{kind} takes no value")
        elif kind in ("sandbox-crash", "disconnect") and at == 0:
            raise _bad(item, "counts start at 1")
        else:
            faults.append(Fault(kind, at=at))
    return tuple(faults)


def malformed(code: str) -> str:
    """The model's code with an unmatched bracket appended: a real ``SyntaxError`` in any Python."""
    return f"{code.rstrip()}\n)"


class FaultPlan:
    """The faults of one turn, with the counters they need (outputs seen, executions made)."""

    def __init__(self, faults: Sequence[Fault] = ()) -> None:
        self.faults = tuple(faults)
        self.outputs = 0
        self.executions = 0
        self._malformed = False

    def __bool__(self) -> bool:
        return bool(self.faults)

    def first(self, kind: str) -> Fault | None:
        return next((f for f in self.faults if f.kind == kind), None)

    def at_round(self, kind: str, round_index: int, default: int = 0) -> Fault | None:
        return next(
            (
                f
                for f in self.faults
                if f.kind == kind and (f.at if f.at is not None else default) == round_index
            ),
            None,
        )

    def malform(self, round_index: int) -> bool:
        """Whether the code of this step is to be malformed (once per turn)."""
        fault = self.first("malformed-code")
        if fault is None or self._malformed or (fault.at is not None and fault.at != round_index):
            return False
        self._malformed = True
        return True

    def wrap_model(self, model: Model) -> Model:
        if not any(f.kind in _MODEL_KINDS for f in self.faults):
            return model
        return FaultyModel(model, self)

    def wrap_session(
        self, session: SandboxSession, reopen: Callable[[], Awaitable[SandboxSession]]
    ) -> SandboxSession:
        if not any(f.kind in _SANDBOX_KINDS for f in self.faults):
            return session
        return FaultySession(session, self, reopen)


class FaultyModel:
    """A model wrapped with the model faults of one turn's plan."""

    def __init__(self, inner: Model, plan: FaultPlan) -> None:
        self.inner = inner
        self.plan = plan
        self.name = inner.name

    def serves(self, model: str) -> bool:
        return self.inner.serves(model)

    async def step(self, ctx: StepContext) -> AsyncIterator[StepOutput]:
        plan = self.plan
        latency = plan.first("latency")
        if ctx.round_index == 0 and latency is not None:
            await asyncio.sleep(latency.seconds)
        error = plan.at_round("error", ctx.round_index)
        if error is not None:
            raise INJECTED_ERRORS[error.status]()
        if plan.at_round("empty-step", ctx.round_index):
            return
        gap = plan.first("delta-latency")
        cut = plan.first("disconnect")
        source = _endless(ctx) if plan.first("endless") else self.inner.step(ctx)
        async with aclosing(cast("AsyncGenerator[StepOutput, None]", source)) as outputs:
            async for out in outputs:
                if gap is not None and plan.outputs > 0:
                    await asyncio.sleep(gap.seconds)
                if isinstance(out, StepCode) and plan.malform(ctx.round_index):
                    out = StepCode(malformed(out.code))
                plan.outputs += 1
                yield out
                if cut is not None and plan.outputs >= (cut.at or 1):
                    raise ConnectionCut(f"fault disconnect@{cut.at or 1}")

    async def aclose(self) -> None:
        return None  # the registry owns (and closes) the inner model


async def _endless(ctx: StepContext) -> AsyncIterator[StepOutput]:
    yield StepReasoning(f"Let me check that once more (step {ctx.round_index + 1}).")
    yield StepCode(f"print({ctx.round_index + 1})")


class FaultySession:
    """An interpreter wrapped with the sandbox faults of one turn's plan."""

    def __init__(
        self, inner: SandboxSession, plan: FaultPlan, reopen: Callable[[], Awaitable[SandboxSession]]
    ) -> None:
        self.inner = inner
        self.plan = plan
        self._reopen = reopen

    @property
    def id(self) -> str:
        return self.inner.id

    async def run(self, code: str, timeout: float | None = None) -> ExecResult:
        self.plan.executions += 1
        number = self.plan.executions
        for fault in self.plan.faults:
            if (fault.at or 1) != number:
                continue
            if fault.kind == "sandbox-crash":
                # A crash loses the interpreter: really restart it, as the backends do after a dead runner.
                self.inner = await self._reopen()
                return ExecResult(
                    error=ExecError("SandboxCrashed", CRASH_MESSAGE),
                    reset=True,
                )
            if fault.kind == "sandbox-timeout":
                return await self.inner.run(_BUSY_LOOP, fault.seconds)
        return await self.inner.run(code, timeout)

    async def close(self) -> None:
        await self.inner.close()


#: a fault source maps (model name, request options) to a spec, e.g. the scripted backend's cassette faults
FaultSource = Callable[[str, Mapping[str, str]], "str | None"]


@dataclass
class GlobalFault:
    """A fault set through the admin API: applies to every request (of ``model``, if given)."""

    id: str
    spec: str
    faults: tuple[Fault, ...]
    times: int | None = None  # None: until removed
    model: str | None = None

    def describe(self) -> dict[str, object]:
        return {"id": self.id, "spec": self.spec, "times": self.times, "model": self.model}


class FaultInjector:
    """Global faults plus per-request ones (header, sources); makes one ``FaultPlan`` per turn."""

    def __init__(self, sources: Sequence[FaultSource] = ()) -> None:
        self.sources = list(sources)
        self._global: list[GlobalFault] = []
        self._ids = itertools.count(1)

    def add(self, spec: str, *, times: int | None = None, model: str | None = None) -> GlobalFault:
        if times is not None and times < 1:
            raise InvalidParameter("`times` must be at least 1 (or absent: until removed).", param="times")
        fault = GlobalFault(f"fault_{next(self._ids)}", spec, parse_faults(spec), times, model)
        self._global.append(fault)
        return fault

    def list(self) -> list[GlobalFault]:
        return list(self._global)

    def remove(self, fault_id: str) -> bool:
        before = len(self._global)
        self._global = [f for f in self._global if f.id != fault_id]
        return len(self._global) < before

    def clear(self) -> None:
        self._global.clear()

    def plan(self, model: str, options: Mapping[str, str]) -> FaultPlan:
        """The faults of one turn; uses up one application of each matching global fault."""
        # Per-request faults come first (``first()`` takes the first of a kind, so they override).
        faults: list[Fault] = []
        header = options.get(FAULT_HEADER)
        if header:
            faults.extend(parse_faults(header))
        for source in self.sources:
            spec = source(model, options)
            if spec:
                faults.extend(parse_faults(spec))
        for fault in list(self._global):
            if fault.model is not None and fault.model != model:
                continue
            faults.extend(fault.faults)
            if fault.times is not None:
                fault.times -= 1
                if fault.times == 0:
                    self._global.remove(fault)
        return FaultPlan(faults)
