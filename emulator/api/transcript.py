"""Chat-style message lists (Chat Completions, DashScope native) in the loop's terms, and their conversation.

Both surfaces send the whole history with every request. A request runs in a fresh, one-shot conversation
unless the ``x-emulator-session-id`` header names one; then the conversation (its transcript and its
interpreter, so variables survive) outlives the request, and only the messages after the last assistant
message of the request are new to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from fastapi import Request
from pydantic import BaseModel, ConfigDict

from emulator.api.http import SESSION_HEADER, AppState
from emulator.core.errors import InvalidParameter
from emulator.core.session import Conversation
from emulator.models.base import Message


class TextPart(BaseModel):
    """A content part: ``{"type":"text","text":…}`` (chat) or ``{"text":…}`` (native)."""

    model_config = ConfigDict(extra="allow")
    type: str = "text"
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None


def _text_of(content: str | list[TextPart] | None, where: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    texts: list[str] = []
    for part in content:
        if part.type != "text" or part.text is None:
            raise InvalidParameter(
                f"Only text content is supported in `{where}` (got a part of type {part.type!r} "
                "without text).",
                param=where,
            )
        texts.append(part.text)
    return "".join(texts)


def to_messages(messages: Sequence[ChatMessage], *, param: str) -> list[Message]:
    """The loop's messages; ``param`` names the field in errors (``messages``, ``input.messages``)."""
    if not messages:
        raise InvalidParameter(f"`{param}` must contain at least one message.", param=param)
    converted: list[Message] = []
    for index, message in enumerate(messages):
        text = _text_of(message.content, f"{param}.{index}.content")
        if message.role in ("system", "developer"):
            converted.append(Message("system", text))
        elif message.role == "assistant":
            converted.append(Message("assistant", text))
        else:
            # A tool result is input the model reacts to, like a user message (the transcript has no
            # function-calling vocabulary: function tools never run here).
            converted.append(Message("user", text))
    if not any(m.role == "user" and m.content.strip() for m in converted):
        raise InvalidParameter(f"`{param}` must contain a non-empty user message.", param=param)
    return converted


def messages_to_add(messages: Sequence[Message], conversation: Conversation) -> list[Message]:
    """What a request adds to ``conversation``: all of it when new, else what follows the last answer."""
    if not conversation.transcript:
        return list(messages)
    last_answer = max((i for i, m in enumerate(messages) if m.role == "assistant"), default=-1)
    return list(messages[last_answer + 1 :])


async def conversation_for(state: AppState, request: Request, fresh_key: str) -> Conversation:
    """The named conversation of the session header, else a one-shot conversation keyed ``fresh_key``."""
    session = request.headers.get(SESSION_HEADER, "").strip()
    if session:
        return await state.conversations.get_or_create(f"session:{session}")
    return await state.conversations.create(fresh_key, persistent=False)


def turn_options(request: Request) -> dict[str, str]:
    """Surface hints for model backends: the ``x-emulator-*`` headers (e.g. ``x-emulator-script``)."""
    return {k.lower(): v for k, v in request.headers.items() if k.lower().startswith("x-emulator-")}
