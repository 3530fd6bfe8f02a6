"""Cassettes: the typed loader fails loudly; the scripted backend replays steps, turns and pinned outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.core.errors import ModelNotFound
from emulator.models.base import (
    Message,
    StepCode,
    StepContext,
    StepReasoning,
    StepText,
    StepUsage,
    ToolExchange,
)
from emulator.models.cassette import (
    CassetteError,
    CassetteExhausted,
    CassetteLibrary,
    dump_cassette,
    load_cassette,
    parse_cassette,
    parse_cassette_text,
)
from emulator.models.scripted import ScriptedModel, stream_pieces
from emulator.sandbox.base import ExecResult

CASSETTES = Path(__file__).parent.parent / "cassettes"


def ctx(model: str, *transcript: Message | ToolExchange, round_index: int = 0, **options: str) -> StepContext:
    return StepContext(
        model=model,
        transcript=transcript or (Message("user", "go"),),
        thinking=True,
        code_interpreter=True,
        round_index=round_index,
        max_rounds=5,
        options=options,
    )


async def outputs(model: ScriptedModel, context: StepContext) -> list[object]:
    return [out async for out in model.step(context)]


def test_every_shipped_cassette_loads_and_is_named_after_its_file() -> None:
    library = CassetteLibrary()
    names = library.load_dir(CASSETTES)
    assert names == [
        "analysis-two-steps",
        "conversation-two-turns",
        "latency-slow-start",
        "power-single-step",
        "secret-pinned-output",
    ]
    power = library.get("power-single-step")
    assert power is not None
    assert power.summary() == {
        "name": "power-single-step",
        "description": "123**21 computed in one execution",
        "turns": 1,
        "steps": 2,
        "executions": 1,
        "faults": None,
    }


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("steps:\n  - reasoning: hi\n    cod: 1+1\n", "steps.0.cod: Extra inputs are not permitted"),
        ("steps: []\n", "`steps` is empty"),
        ("steps:\n  - answer: a\nturns:\n  - steps:\n      - answer: b\n", "exactly one of them"),
        ("description: nothing to replay\n", "exactly one of them"),
        ("steps:\n  - answer: a\n    output: {stdout: x}\n", "this step has no code"),
        ("steps:\n  - code: 1\n", "steps.0.code: Input should be a valid string"),
        ("steps:\n  - answer: a\n    latency_ms: -5\n", "steps.0.latency_ms"),
        ("faults: explode\nsteps:\n  - answer: a\n", "Invalid fault 'explode'"),
        ("- just\n- a list\n", "a cassette is a mapping"),
        ("steps: [unclosed\n", "not valid YAML/JSON"),
        ("name: bad name!\nsteps:\n  - answer: a\n", "name: Value error, names are letters"),
    ],
)
def test_malformed_cassette_fails_loudly_naming_source_and_field(text: str, problem: str) -> None:
    with pytest.raises(CassetteError) as caught:
        parse_cassette_text(text, name="broken-case", source="broken-case.yaml")
    assert str(caught.value).startswith("broken-case.yaml: ")
    assert problem in str(caught.value)


def test_malformed_file_in_directory_fails_the_whole_load(tmp_path: Path) -> None:
    (tmp_path / "good-one.yaml").write_text("steps:\n  - answer: fine\n")
    (tmp_path / "bad-one.yaml").write_text("steps:\n  - answr: typo\n")
    with pytest.raises(CassetteError, match=r"bad-one\.yaml: steps\.0\.answr"):
        CassetteLibrary().load_dir(tmp_path)
    with pytest.raises(CassetteError, match="does not exist"):
        CassetteLibrary().load_dir(tmp_path / "missing")


def test_json_cassette_loads_like_yaml(tmp_path: Path) -> None:
    path = tmp_path / "json-variant.json"
    path.write_text('{"steps": [{"reasoning": "r", "code": "1+1"}, {"answer": "2"}]}')
    cassette = load_cassette(path)
    assert cassette.name == "json-variant"
    assert cassette.step_for(0, 0).code == "1+1"


def test_dump_round_trips_and_keeps_code_as_a_block() -> None:
    source = (CASSETTES / "analysis-two-steps.yaml").read_text()
    original = load_cassette(CASSETTES / "analysis-two-steps.yaml")
    text = dump_cassette(original)
    written_by_hand = "".join(line for line in source.splitlines(keepends=True) if not line.startswith("#"))
    assert text == "name: analysis-two-steps\n" + written_by_hand  # the dump reads like a hand-written file
    assert parse_cassette_text(text) == original


def test_replay_past_the_last_step_or_turn_raises_cassette_exhausted() -> None:
    two_turns = load_cassette(CASSETTES / "conversation-two-turns.yaml")
    assert two_turns.step_for(1, 1).answer == "Twice x is 42."
    with pytest.raises(CassetteExhausted, match="turn 2 has 2 and the model was asked for step 3"):
        two_turns.step_for(1, 2)
    with pytest.raises(CassetteExhausted, match="it has 2 and this is turn 3"):
        two_turns.step_for(2, 0)
    one_turn = load_cassette(CASSETTES / "power-single-step.yaml")
    assert one_turn.step_for(7, 0) == one_turn.step_for(0, 0)  # a one-turn cassette answers every turn
    assert CassetteExhausted.retryable is False and CassetteExhausted.status == 500


def test_stream_pieces_split_strings_into_words_and_keep_lists() -> None:
    assert stream_pieces("It is  1024.\n") == ["It ", "is  ", "1024.\n"]
    assert stream_pieces(["a", "", "bc"]) == ["a", "bc"]
    assert "".join(stream_pieces("  lead and trail  ")) == "  lead and trail  "


async def test_scripted_model_replays_reasoning_usage_then_code() -> None:
    model = ScriptedModel(CassetteLibrary([load_cassette(CASSETTES / "power-single-step.yaml")]))
    assert model.serves("scripted:power-single-step") and not model.serves("qwen3-max")
    first = await outputs(model, ctx("scripted:power-single-step"))
    assert first == [
        StepReasoning("I "),
        StepReasoning("will "),
        StepReasoning("compute "),
        StepReasoning("123 "),
        StepReasoning("to "),
        StepReasoning("the "),
        StepReasoning("power "),
        StepReasoning("of "),
        StepReasoning("21 "),
        StepReasoning("with "),
        StepReasoning("Python."),
        StepUsage(312, 28, 12),
        StepCode("123**21"),
    ]
    second = await outputs(model, ctx("scripted:power-single-step", round_index=1))
    assert "".join(o.text for o in second if isinstance(o, StepText)) == (
        "123^21 = 77269364466549865653073473388030061522211723."
    )


async def test_header_selects_the_script_for_any_model_name_and_pins_outputs() -> None:
    model = ScriptedModel(CassetteLibrary([load_cassette(CASSETTES / "secret-pinned-output.yaml")]))
    options = {"x-emulator-script": "secret-pinned-output"}
    assert model.claims(options) and not model.claims({})
    first = await outputs(model, ctx("qwen3-max", **options))
    assert first[-1] == StepCode(
        "print(open('/etc/hostname').read())", result=ExecResult(stdout="build-agent-7\n")
    )


async def test_second_user_message_gets_the_second_turn() -> None:
    model = ScriptedModel(CassetteLibrary([load_cassette(CASSETTES / "conversation-two-turns.yaml")]))
    transcript = (
        Message("user", "Remember x = 21."),
        ToolExchange("ci_1", "x = 21", ExecResult()),
        Message("assistant", "Stored x = 21."),
        Message("user", "Double it."),
    )
    first = await outputs(model, ctx("scripted:conversation-two-turns", *transcript))
    assert first[-1] == StepCode("x * 2")


async def test_unknown_script_is_model_not_found_listing_the_loaded_ones() -> None:
    model = ScriptedModel(CassetteLibrary([parse_cassette({"steps": [{"answer": "a"}]}, name="only-one")]))
    with pytest.raises(ModelNotFound, match=r"No cassette named 'nope' is loaded \(loaded: only-one\)"):
        await outputs(model, ctx("scripted:nope"))


async def test_exhausted_replay_raises_from_the_step() -> None:
    model = ScriptedModel(CassetteLibrary([parse_cassette({"steps": [{"code": "1"}]}, name="short-one")]))
    with pytest.raises(CassetteExhausted, match="Cassette 'short-one' ran out of steps"):
        await outputs(model, ctx("scripted:short-one", round_index=1))
