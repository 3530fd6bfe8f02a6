"""``emulator ask`` and ``emulator doctor``: the loop and the machine, seen from a terminal.

``ask`` runs one turn in-process (no HTTP server) with the same engine, model and sandbox selection as
``serve``, printing reasoning, code, execution output and the answer as they stream. ``doctor`` says what
``serve`` would use on this machine and why.
"""

from __future__ import annotations

import asyncio
import platform
import sys
from typing import TextIO

from emulator.config import Settings
from emulator.core.events import CodeCall, CodeResult, Done, Failed, ReasoningDelta, TextDelta, Usage
from emulator.core.ids import IdFactory
from emulator.core.loop import Engine, TurnRequest
from emulator.core.session import ConversationStore
from emulator.models.base import Message


async def ask(settings: Settings, prompt: str, *, model: str, out: TextIO | None = None) -> int:
    """Run one code-interpreter turn for ``prompt`` and print it; exit status 1 when the turn failed."""
    from emulator.app import build_models, start_sandbox

    out = out or sys.stdout
    models = build_models(settings)
    sandbox, note = await start_sandbox(settings)
    conversations = ConversationStore(ttl=settings.session_ttl, max_conversations=1)
    engine = Engine(
        models=models,
        sandbox=sandbox,
        conversations=conversations,
        ids=IdFactory(settings.seed),
        max_rounds=settings.max_rounds,
        exec_timeout=settings.exec_timeout,
    )
    print(f"[sandbox: {sandbox.describe().get('isolation_tier')} ({note})]", file=out)
    status = 0
    try:
        conversation = await conversations.create("ask", persistent=False)
        request = TurnRequest(
            model=model, messages=[Message("user", prompt)], thinking=True, code_interpreter=True
        )
        turn = await engine.prepare(request, conversation)
        section = ""
        usage = Usage(0, 0, 0, 0)
        async for event in turn.events():
            if isinstance(event, ReasoningDelta):
                section = _section(out, section, "thinking")
                out.write(event.text)
            elif isinstance(event, CodeCall):
                section = _section(out, section, "code")
                out.write(event.code)
            elif isinstance(event, CodeResult):
                section = _section(out, section, f"output ({event.result.duration_ms:.0f} ms)")
                out.write(event.result.logs())
                if event.result.images:
                    out.write(f"\n[{len(event.result.images)} image(s)]")
            elif isinstance(event, TextDelta):
                section = _section(out, section, "answer")
                out.write(event.text)
            elif isinstance(event, Usage):
                usage = event
            elif isinstance(event, Failed):
                section = _section(out, section, "error")
                out.write(event.error.message)
                status = 1
            elif isinstance(event, Done):
                out.write(
                    f"\n\n[tokens in {usage.input_tokens}, out {usage.output_tokens}, "
                    f"executions {usage.code_interpreter_count}]\n"
                )
            out.flush()
    finally:
        await conversations.aclose()
        await sandbox.aclose()
        await models.aclose()
    return status


def _section(out: TextIO, current: str, name: str) -> str:
    if current != name:
        out.write(f"\n\n== {name} ==\n" if current else f"== {name} ==\n")
    return name


def doctor(settings: Settings, out: TextIO | None = None) -> int:
    """Print what ``serve`` would use here; exit status 1 when ``--sandbox docker`` could not start."""
    from emulator.sandbox.docker import docker_available
    from emulator.sandbox.landlock import landlock_abi

    out = out or sys.stdout
    print(f"python      {platform.python_version()} ({sys.executable})", file=out)
    engine_ok, reason = docker_available()
    print(f"docker      {'engine answers' if engine_ok else 'no engine: ' + reason}", file=out)
    image = None
    if engine_ok:
        import docker

        from emulator.sandbox.image import default_image_tag

        client = docker.from_env()
        try:
            image = default_image_tag(settings, client)
        finally:
            client.close()
        print(
            f"image       {image or 'not built yet (emulator image build, or built on first serve)'}",
            file=out,
        )
    print(f"landlock    ABI {landlock_abi() or 'absent'} (extra confinement of the process tier)", file=out)
    if settings.sandbox == "restricted" or not engine_ok:
        tier = "process (restricted)"
    else:
        tier = "gvisor (docker + runsc)" if settings.docker_runtime == "runsc" else "container (docker)"
    print(f"sandbox     --sandbox {settings.sandbox} -> {tier}", file=out)
    print(f"model       {settings.model}", file=out)
    return 1 if settings.sandbox == "docker" and not engine_ok else 0


def run_ask(settings: Settings, prompt: str, model: str) -> int:
    return asyncio.run(ask(settings, prompt, model=model))
