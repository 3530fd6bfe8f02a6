"""Chat-style message lists in the loop's terms (Chat Completions and DashScope native share them)."""

from __future__ import annotations

import pytest

from emulator.api.transcript import ChatMessage, messages_to_add, to_messages
from emulator.core.errors import InvalidParameter
from emulator.core.session import Conversation
from emulator.models.base import Message


def parse(*messages: dict) -> list[ChatMessage]:
    return [ChatMessage.model_validate(m) for m in messages]


def test_roles_and_text_parts_map_to_the_transcript() -> None:
    converted = to_messages(
        parse(
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": "Use Python."},
            {
                "role": "user",
                "content": [{"type": "text", "text": "Berapa "}, {"type": "text", "text": "12**3?"}],
            },
            {"role": "assistant", "content": None},
            {"role": "tool", "content": "1728"},
            {"role": "user", "content": [{"text": "native part"}]},
        ),
        param="messages",
    )
    assert converted == [
        Message("system", "Be brief."),
        Message("system", "Use Python."),
        Message("user", "Berapa 12**3?"),
        Message("assistant", ""),
        Message("user", "1728"),
        Message("user", "native part"),
    ]


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        ([], "`input.messages` must contain at least one message."),
        ([{"role": "system", "content": "x"}], "`input.messages` must contain a non-empty user message."),
        ([{"role": "user", "content": "  "}], "`input.messages` must contain a non-empty user message."),
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x"}}]}],
            "Only text content is supported in `input.messages.0.content` (got a part of type 'image_url' "
            "without text).",
        ),
    ],
)
def test_unusable_message_lists_are_invalid_parameters(messages: list[dict], message: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        to_messages(parse(*messages), param="input.messages")
    assert caught.value.message == message


def test_a_named_conversation_only_gets_what_follows_the_last_answer() -> None:
    history = [Message("user", "a"), Message("assistant", "b"), Message("user", "c")]
    fresh = Conversation(key="k")
    assert messages_to_add(history, fresh) == history
    ongoing = Conversation(key="k", transcript=[Message("user", "a"), Message("assistant", "b")])
    assert messages_to_add(history, ongoing) == [Message("user", "c")]
    assert messages_to_add([Message("user", "d")], ongoing) == [Message("user", "d")]
