"""Record a session through the (fake) upstream model, replay it with the scripted backend: with the same seed
the three surfaces put the same bytes on the wire (the sandbox's container id aside: it is the sandbox's own
random name, not an emulator id)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from emulator.config import Settings
from emulator.core.ids import IdFactory
from emulator.models.cassette import load_cassette
from emulator.testing import RunningEmulator, run_emulator
from tests.fakes.upstream import FakeUpstream, completion, run_fake_upstream

R21 = str(123**21)
SEED = 1234
CI_TOOLS = [{"type": "code_interpreter"}]
CONTAINER = re.compile(r'"container_id":"[^"]*"')


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with run_fake_upstream() as fake:
        yield fake


def queue_session(upstream: FakeUpstream) -> None:
    """What the upstream model says in the session: four turns, three of them with one execution."""
    for _ in range(3):
        upstream.queue(
            completion(
                reasoning=["I ", "will ", "compute ", "123**21."],
                tool_args=['{"code": ', '"r = 123**21\\nr"}'],
                usage=(90, 12, 3),
            ),
            completion(
                reasoning=["The result ", "is exact."], content=["123^21 = ", R21, "."], usage=(130, 18, 2)
            ),
        )
    upstream.queue(
        completion(reasoning=["Still ", "defined."], tool_args=['{"code": "r * 2"}'], usage=(150, 9, 2)),
        completion(content=["Doubled."], usage=(170, 3, 0)),
    )


def session(emulator: RunningEmulator, header: str) -> dict[str, bytes]:
    """The same requests in the same order; ``header`` names each turn's cassette (record-as or script)."""
    wire: dict[str, bytes] = {}

    def post(path: str, body: dict, name: str, **headers: str) -> bytes:
        with httpx.stream(
            "POST", f"{emulator.base_url}{path}", json=body, headers={header: name, **headers}, timeout=60
        ) as response:
            assert response.status_code == 200, response.read()
            return response.read()

    ask = "What is 123**21?"
    responses = "/compatible-mode/v1/responses"
    wire["responses"] = post(
        responses,
        {"model": "qwen3-max", "input": ask, "tools": CI_TOOLS, "enable_thinking": True, "stream": True},
        "power-responses",
    )
    first_id = json.loads(wire["responses"].split(b"data: ", 1)[1].split(b"\n", 1)[0])["response"]["id"]
    wire["chat"] = post(
        "/compatible-mode/v1/chat/completions",
        {
            "model": "qwen3-max",
            "messages": [{"role": "user", "content": ask}],
            "stream": True,
            "stream_options": {"include_usage": True},
            "enable_thinking": True,
            "enable_code_interpreter": True,
        },
        "power-chat",
    )
    wire["native"] = post(
        "/api/v1/services/aigc/text-generation/generation",
        {
            "model": "qwen3-max",
            "input": {"messages": [{"role": "user", "content": ask}]},
            "parameters": {
                "enable_code_interpreter": True,
                "enable_thinking": True,
                "result_format": "message",
            },
        },
        "power-native",
        **{"X-DashScope-SSE": "enable"},
    )
    wire["responses-turn-2"] = post(
        responses,
        {
            "model": "qwen3-max",
            "input": "Double it.",
            "previous_response_id": first_id,
            "tools": CI_TOOLS,
            "enable_thinking": True,
        },
        "power-responses",  # the second turn of the same cassette
    )
    return wire


def test_recorded_session_replays_byte_for_byte_on_all_three_surfaces(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    queue_session(upstream)
    recording = Settings(
        sandbox="restricted",
        model="openai-compatible",
        upstream_url=upstream.url,
        record_dir=tmp_path,
        seed=SEED,
    )
    with run_emulator(recording) as emulator:
        recorded = session(emulator, "x-emulator-record-as")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "power-chat.yaml",
        "power-native.yaml",
        "power-responses.yaml",
    ]
    assert len(upstream.requests) == 8

    with run_emulator(Settings(sandbox="restricted", cassette_dir=tmp_path, seed=SEED)) as emulator:
        replayed = session(emulator, "x-emulator-script")
    assert len(upstream.requests) == 8  # the replay never called the upstream

    for surface in ("chat", "native"):
        assert replayed[surface] == recorded[surface], surface
    for surface in ("responses", "responses-turn-2"):
        assert CONTAINER.sub("", replayed[surface].decode()) == CONTAINER.sub("", recorded[surface].decode())
    assert R21.encode() in recorded["native"] and b"response.completed" in recorded["responses"]
    assert b'"logs":"' + str(123**21 * 2).encode() + b'"' in recorded["responses-turn-2"]


def test_recorded_cassette_is_readable_yaml_with_the_models_chunks(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    queue_session(upstream)
    recording = Settings(
        sandbox="restricted", model="openai-compatible", upstream_url=upstream.url, record_dir=tmp_path
    )
    with run_emulator(recording) as emulator:
        session(emulator, "x-emulator-record-as")
    text = (tmp_path / "power-responses.yaml").read_text()
    assert text.startswith(
        "name: power-responses\ndescription: Recorded from qwen3-max\nmodel: qwen3-max\nturns:\n"
    )
    assert "  - prompt: What is 123**21?\n" in text and "  - prompt: Double it.\n" in text
    cassette = load_cassette(tmp_path / "power-responses.yaml")
    first = cassette.step_for(0, 0)
    assert first.reasoning == "I will compute 123**21."  # replaying the string gives the same four deltas
    assert first.code == "r = 123**21\nr"
    assert "        code: |-\n          r = 123**21\n          r\n" in text  # code reads as a block
    assert first.usage is not None and first.usage.input_tokens == 90
    assert cassette.step_for(0, 1).answer == ["123^21 = ", R21, "."]  # chunks a word split would not give
    assert cassette.step_for(1, 0).code == "r * 2"


def test_seeded_id_factory_gives_the_same_sequence_for_the_same_call_order() -> None:
    def draw(factory: IdFactory) -> list[object]:
        return [factory.uuid4(), factory.new("resp"), factory.new("rs"), factory.new("ci"), factory.now()]

    one, two = IdFactory(SEED), IdFactory(SEED)
    assert draw(one) + draw(one) == draw(two) + draw(two)
    assert draw(IdFactory(SEED + 1)) != draw(IdFactory(SEED))
    assert IdFactory(SEED).now() == IdFactory(SEED).now() == 1_760_000_000
