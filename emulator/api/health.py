"""``GET /health``: what serves requests here (sandbox backend and isolation tier, model)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from emulator.api.http import app_state

router = APIRouter()


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    state = app_state(request)
    sandbox = state.engine.sandbox.describe()
    if state.sandbox_note:
        sandbox = {**sandbox, "note": state.sandbox_note}
    return {
        "status": "ok",
        "sandbox": sandbox,
        "model": state.settings.model,
        "conversations": len(state.conversations),
    }
