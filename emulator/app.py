"""The FastAPI app factory: mounts the surfaces, owns start-up and shutdown of every backend."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulator.api import admin, chat, dashscope, health, responses
from emulator.api.http import AppState
from emulator.config import Settings
from emulator.core.ids import IdFactory
from emulator.core.loop import Engine
from emulator.core.session import ConversationStore
from emulator.models.base import Model
from emulator.models.cassette import CassetteError, CassetteLibrary
from emulator.models.faults import FaultInjector
from emulator.models.registry import ModelRegistry
from emulator.models.scripted import ScriptedModel
from emulator.sandbox.base import Sandbox

log = logging.getLogger("emulator")

TIER_HEADER = b"x-emulator-isolation-tier"


class IsolationTierHeader:
    """Every HTTP answer says which isolation tier runs code here (pure ASGI: streams pass untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state: AppState | None = getattr(scope.get("app") and scope["app"].state, "emulator", None)
        if scope["type"] != "http" or state is None:
            await self.app(scope, receive, send)
            return
        tier = state.engine.sandbox.isolation_tier.encode()

        async def send_with_tier(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (TIER_HEADER, tier)]
            await send(message)

        await self.app(scope, receive, send_with_tier)


class StartupError(RuntimeError):
    """The emulator cannot start with these settings (e.g. ``--sandbox docker`` without an engine)."""


def select_sandbox(settings: Settings) -> tuple[Sandbox, str]:
    """The sandbox backend for ``settings.sandbox`` and a note on why (shown in ``/health``)."""
    from emulator.sandbox.restricted import RestrictedSandbox

    if settings.sandbox == "restricted":
        return RestrictedSandbox(settings), "restricted sandbox selected"
    from emulator.sandbox.docker import DockerSandbox, docker_available

    ok, reason = docker_available()
    if ok:
        return DockerSandbox(settings), "docker engine answered"
    return _fallback(settings, f"no Docker engine ({reason})")


def _fallback(settings: Settings, reason: str) -> tuple[Sandbox, str]:
    """``--sandbox auto`` without a usable engine: the process tier, said loudly; ``docker``: refuse."""
    from emulator.sandbox.restricted import RestrictedSandbox

    if settings.sandbox == "docker":
        raise StartupError(
            f"--sandbox docker was requested but the Docker sandbox cannot start: {reason}. Start dockerd "
            "(or set DOCKER_HOST) and run `emulator image build`, or use --sandbox auto / restricted."
        )
    note = f"{reason}; fell back to the process-tier restricted sandbox"
    log.warning(note)
    return RestrictedSandbox(settings), note


async def start_sandbox(settings: Settings) -> tuple[Sandbox, str]:
    """Select and start the sandbox; a Docker sandbox that fails to start falls back under ``auto``."""
    from emulator.sandbox.docker import DockerSandboxError

    chosen, note = select_sandbox(settings)
    try:
        await chosen.start()
    except DockerSandboxError as exc:
        await chosen.aclose()
        chosen, note = _fallback(settings, str(exc))
        await chosen.start()
    return chosen, note


def build_models(settings: Settings, scripts: CassetteLibrary | None = None) -> ModelRegistry:
    from emulator.models.builtin import BuiltinModel

    backends: list[Model] = []
    if settings.model == "openai-compatible":
        from emulator.models.openai_compat import OpenAICompatModel

        backends.append(OpenAICompatModel.from_settings(settings))
    backends.append(BuiltinModel(settings.model_names, delta_delay=settings.stream_delay_ms / 1000))
    if settings.record_dir is not None:  # record what the primary backend says (the upstream, if any)
        from emulator.models.recorder import CassetteRecorder, RecordingModel

        backends[0] = RecordingModel(backends[0], CassetteRecorder(settings.record_dir))
    return ModelRegistry([ScriptedModel(scripts), *backends])


def _scripted(registry: ModelRegistry, settings: Settings) -> ScriptedModel | None:
    """The registry's scripted backend, with ``settings.cassette_dir`` loaded into it."""
    scripted = next((b for b in registry.backends if isinstance(b, ScriptedModel)), None)
    if scripted is not None and settings.cassette_dir is not None:
        try:
            loaded = scripted.library.load_dir(settings.cassette_dir)
        except CassetteError as exc:
            raise StartupError(f"cannot load the cassettes: {exc}") from None
        log.info("loaded %d cassettes from %s", len(loaded), settings.cassette_dir)
    return scripted


def create_app(
    settings: Settings | None = None,
    *,
    sandbox: Sandbox | None = None,
    models: ModelRegistry | None = None,
) -> FastAPI:
    """The emulator app. ``sandbox`` and ``models`` override what the settings would select (tests)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        registry = models or build_models(settings)
        scripted = _scripted(registry, settings)
        faults = FaultInjector(sources=[scripted.fault_spec] if scripted is not None else [])
        if sandbox is not None:
            chosen, note = sandbox, "sandbox given by the caller"
            await chosen.start()
        else:
            chosen, note = await start_sandbox(settings)
        app.state.admin = admin.AdminState(scripted.library if scripted else CassetteLibrary(), faults)
        conversations = ConversationStore(ttl=settings.session_ttl, max_conversations=settings.max_sessions)
        ids = IdFactory(settings.seed)
        engine = Engine(
            models=registry,
            sandbox=chosen,
            conversations=conversations,
            ids=ids,
            max_rounds=settings.max_rounds,
            exec_timeout=settings.exec_timeout,
            faults=faults,
            max_interpreters=settings.docker_max_containers if chosen.backend == "docker" else None,
        )
        conversations.start_reaper(interval=min(60.0, settings.session_ttl / 2))
        app.state.emulator = AppState(settings, engine, conversations, ids, sandbox_note=note)
        described = chosen.describe()
        log.info(
            "emulator ready: model=%s sandbox=%s tier=%s (%s)",
            settings.model,
            described.get("backend"),
            described.get("isolation_tier"),
            note,
        )
        try:
            yield
        finally:
            await conversations.aclose()
            await chosen.aclose()
            await registry.aclose()

    app = FastAPI(title="Model Studio code interpreter emulator", lifespan=lifespan)

    app.add_middleware(IsolationTierHeader)
    app.include_router(health.router)
    app.include_router(responses.build_router())
    app.include_router(chat.build_router())
    app.include_router(dashscope.build_router())
    app.include_router(admin.build_router())
    return app
