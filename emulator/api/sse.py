"""The one place that writes Server-Sent Events.

Frame styles, one per surface:
- Responses: ``event: <type>\\ndata: <json>\\n\\n`` (the event name equals the payload's ``type``); no ``id:``
  lines and no ``[DONE]`` (the openai SDK ends on ``response.completed``/``response.failed``).
- Chat Completions: ``data: <json>\\n\\n`` chunks and a final ``data: [DONE]\\n\\n``.
- DashScope native: ``id:<n>\\nevent:result\\n:HTTP_STATUS/200\\ndata:<json>\\n\\n`` (no space after the
  colons, as the hosted service sends it); errors after streaming started are ``event:error`` with a
  ``status:<code>`` line, which the dashscope SDK reads for the status code.

``[DONE]`` policy: only the chat surface sends it, and only after a turn that ended normally; after an error
chunk the stream just ends (the openai SDK raises on the error chunk itself).
"""

from __future__ import annotations

import json
from typing import Any

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
SSE_MEDIA_TYPE = "text/event-stream"


def dumps(payload: Any, *, compact: bool = True) -> str:
    """JSON text as the wire wants it: UTF-8 (no ASCII escapes), compact separators."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":") if compact else None)


def named_event(event: str, payload: Any) -> bytes:
    """A Responses-style frame: ``event: <name>`` then ``data: <json>``."""
    return f"event: {event}\ndata: {dumps(payload)}\n\n".encode()


def data_event(payload: Any) -> bytes:
    """A Chat-Completions-style frame: ``data: <json>``."""
    return f"data: {dumps(payload)}\n\n".encode()


DONE = b"data: [DONE]\n\n"


def dashscope_event(seq: int, payload: Any) -> bytes:
    """A DashScope native result frame, byte for byte as the hosted service writes it."""
    return f"id:{seq}\nevent:result\n:HTTP_STATUS/200\ndata:{dumps(payload)}\n\n".encode()


def dashscope_error_event(seq: int, status: int, payload: Any) -> bytes:
    """A DashScope native error frame after streaming started (the SDK reads ``status:`` for the code)."""
    return (
        f"id:{seq}\nevent:error\nstatus:{status}\n:HTTP_STATUS/{status}\ndata:{dumps(payload)}\n\n".encode()
    )
