"""The admin API under ``/_emulator/``: load, list and delete cassettes; set and clear global faults.

Protected by the API key when one is configured (same Bearer check as the surfaces); errors use the
compatible-mode error shape. Admin calls never draw from the seeded ``IdFactory``, so loading a cassette
does not shift the pinned ids of the responses that follow (recordings and replays stay byte-identical).

- ``GET /_emulator/scripts``: the loaded cassettes (name, description, turns, steps, executions, faults)
- ``POST /_emulator/scripts[?name=…]``: load one cassette: a JSON body, or YAML with
  ``Content-Type: application/yaml``; replaces a cassette of the same name
- ``GET /_emulator/scripts/{name}``, ``DELETE /_emulator/scripts/{name}``
- ``GET /_emulator/faults``: global faults and the fault kinds
- ``POST /_emulator/faults`` ``{"spec": "error=503", "times": 1, "model": null}``: a global fault
- ``DELETE /_emulator/faults/{id}``, ``DELETE /_emulator/faults`` (all)
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from emulator.api.http import app_state, check_api_key, parse_model, read_json
from emulator.api.openai_errors import openai_error_response
from emulator.core.errors import EmulatorError, InvalidParameter, RequestTooLarge, ResourceNotFound
from emulator.models.cassette import (
    CassetteError,
    CassetteLibrary,
    parse_cassette,
    parse_cassette_text,
)
from emulator.models.faults import FAULT_KINDS, FaultInjector

PREFIX = "/_emulator"


@dataclass
class AdminState:
    """What the admin routes change: the scripted backend's cassettes and the global faults."""

    library: CassetteLibrary
    faults: FaultInjector


class FaultRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    spec: str = Field(min_length=1)
    times: int | None = Field(default=None, ge=1)  # absent: until removed
    model: str | None = None  # absent: every model


def _admin(request: Request) -> AdminState:
    state: AdminState = request.app.state.admin
    return state


def _guard(request: Request) -> None:
    check_api_key(request, app_state(request).settings)


def _error(exc: EmulatorError) -> JSONResponse:
    return openai_error_response(exc, request_id=str(uuid.uuid4()))


async def _read_yaml(request: Request) -> str:
    limit = app_state(request).settings.max_request_bytes
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise RequestTooLarge(f"The request body is larger than the limit of {limit} bytes.")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidParameter("The cassette is not UTF-8 text.") from None


async def list_scripts(request: Request) -> Response:
    try:
        _guard(request)
    except EmulatorError as exc:
        return _error(exc)
    data = [cassette.summary() for cassette in _admin(request).library.all()]
    return JSONResponse({"object": "list", "data": data})


async def load_script(request: Request) -> Response:
    try:
        _guard(request)
        name = request.query_params.get("name")
        source = f"cassette {name or '(request body)'}"
        try:
            if "yaml" in request.headers.get("content-type", ""):
                cassette = parse_cassette_text(await _read_yaml(request), name=name, source=source)
            else:
                raw: Any = await read_json(request, app_state(request).settings)
                cassette = parse_cassette(raw, name=name, source=source)
        except CassetteError as exc:
            raise InvalidParameter(f"Malformed cassette: {exc}", param="cassette") from None
        _admin(request).library.add(cassette)
    except EmulatorError as exc:
        return _error(exc)
    return JSONResponse(cassette.summary(), status_code=201)


async def get_script(request: Request, name: str) -> Response:
    try:
        _guard(request)
        cassette = _admin(request).library.get(name)
        if cassette is None:
            raise ResourceNotFound(f"No cassette named '{name}' is loaded.", param="name")
    except EmulatorError as exc:
        return _error(exc)
    return JSONResponse(cassette.model_dump(mode="json", exclude_defaults=True))


async def delete_script(request: Request, name: str) -> Response:
    try:
        _guard(request)
        if not _admin(request).library.remove(name):
            raise ResourceNotFound(f"No cassette named '{name}' is loaded.", param="name")
    except EmulatorError as exc:
        return _error(exc)
    return JSONResponse({"name": name, "deleted": True})


async def list_faults(request: Request) -> Response:
    try:
        _guard(request)
    except EmulatorError as exc:
        return _error(exc)
    faults = [fault.describe() for fault in _admin(request).faults.list()]
    return JSONResponse({"object": "list", "data": faults, "kinds": FAULT_KINDS})


async def add_fault(request: Request) -> Response:
    try:
        _guard(request)
        body = parse_model(FaultRequest, await read_json(request, app_state(request).settings))
        fault = _admin(request).faults.add(body.spec, times=body.times, model=body.model)
    except EmulatorError as exc:
        return _error(exc)
    return JSONResponse(fault.describe(), status_code=201)


async def delete_fault(request: Request, fault_id: str) -> Response:
    try:
        _guard(request)
        if not _admin(request).faults.remove(fault_id):
            raise ResourceNotFound(f"No global fault with id '{fault_id}'.", param="fault_id")
    except EmulatorError as exc:
        return _error(exc)
    return JSONResponse({"id": fault_id, "deleted": True})


async def clear_faults(request: Request) -> Response:
    try:
        _guard(request)
    except EmulatorError as exc:
        return _error(exc)
    _admin(request).faults.clear()
    return JSONResponse({"deleted": True})


def build_router() -> APIRouter:
    router = APIRouter()
    router.add_api_route(f"{PREFIX}/scripts", list_scripts, methods=["GET"])
    router.add_api_route(f"{PREFIX}/scripts", load_script, methods=["POST"])
    router.add_api_route(f"{PREFIX}/scripts/{{name}}", get_script, methods=["GET"])
    router.add_api_route(f"{PREFIX}/scripts/{{name}}", delete_script, methods=["DELETE"])
    router.add_api_route(f"{PREFIX}/faults", list_faults, methods=["GET"])
    router.add_api_route(f"{PREFIX}/faults", add_fault, methods=["POST"])
    router.add_api_route(f"{PREFIX}/faults", clear_faults, methods=["DELETE"])
    router.add_api_route(f"{PREFIX}/faults/{{fault_id}}", delete_fault, methods=["DELETE"])
    return router
