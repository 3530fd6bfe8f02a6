"""One scripted turn, three surfaces: reasoning, code, outputs, answer and usage must agree.

The model is a scripted double (two executions, the second failing, then an answer); everything else is the
real emulator, read through the real SDKs: openai (Responses stream and Chat Completions stream) and
dashscope (native stream).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import dashscope
import pytest
from dashscope import Generation
from openai import OpenAI

from emulator.config import Settings
from emulator.models.registry import ModelRegistry
from emulator.testing import RunningEmulator, run_emulator
from tests.fakes.doubles import MemorySandbox, ScriptedStep, StepScriptModel

PROMPT = "Compute 2**10, then divide 1 by 0, and tell me what happened."
SCRIPT = [
    ScriptedStep(reasoning=["The user wants ", "2**10 first."], code="2**10"),
    ScriptedStep(reasoning=["It is 1024. ", "Now 1/0."], code="1/0"),
    ScriptedStep(
        reasoning=["The division ", "failed."], text=["2**10 is 1024; ", "1/0 raised ZeroDivisionError."]
    ),
]
ANSWER = "2**10 is 1024; 1/0 raised ZeroDivisionError."
REASONING = "The user wants 2**10 first.It is 1024. Now 1/0.The division failed."


@dataclass
class Seen:
    """What one surface showed of the turn."""

    reasoning: str
    codes: list[str] | None  # None: the surface does not return code
    answer: str
    usage: tuple[int, int, int, int]  # input, output, reasoning, executions


@pytest.fixture(scope="module")
def server() -> Iterator[RunningEmulator]:
    model = StepScriptModel(SCRIPT, names=("qwen3-max",))
    with run_emulator(Settings(), sandbox=MemorySandbox(), models=ModelRegistry([model])) as running:
        yield running


def via_responses(server: RunningEmulator) -> tuple[Seen, list[str]]:
    client = OpenAI(base_url=server.apps_base_url, api_key="sk-anything", max_retries=0)
    with client.responses.stream(
        model="qwen3-max",
        input=PROMPT,
        tools=[{"type": "code_interpreter"}],
        extra_body={"enable_thinking": True},
    ) as stream:
        final = stream.get_final_response()
    reasoning = "".join(
        part.text for item in final.output if item.type == "reasoning" for part in item.summary
    )
    calls = [item for item in final.output if item.type == "code_interpreter_call"]
    logs = [call.outputs[0].logs for call in calls if call.outputs and call.outputs[0].type == "logs"]
    usage = final.usage
    assert usage is not None
    executions = (usage.model_extra or {})["x_tools"]["code_interpreter"]["count"]
    seen = Seen(
        reasoning,
        [call.code or "" for call in calls],
        final.output_text,
        (usage.input_tokens, usage.output_tokens, usage.output_tokens_details.reasoning_tokens, executions),
    )
    return seen, logs


def via_chat(server: RunningEmulator) -> Seen:
    client = OpenAI(base_url=server.openai_base_url, api_key="sk-anything", max_retries=0)
    chunks = list(
        client.chat.completions.create(
            model="qwen3-max",
            messages=[{"role": "user", "content": PROMPT}],
            extra_body={"enable_thinking": True, "enable_code_interpreter": True},
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    deltas = [chunk.choices[0].delta for chunk in chunks if chunk.choices]
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens_details is not None
    return Seen(
        "".join((d.model_extra or {}).get("reasoning_content") or "" for d in deltas),
        None,
        "".join(d.content or "" for d in deltas),
        # chat has no execution count; the native and Responses counts are compared with each other
        (usage.prompt_tokens, usage.completion_tokens, usage.completion_tokens_details.reasoning_tokens, 2),
    )


def via_native(server: RunningEmulator) -> Seen:
    dashscope.base_http_api_url = server.dashscope_base_url
    chunks = list(
        Generation.call(
            api_key="sk-anything",
            model="qwen3-max",
            messages=[{"role": "user", "content": PROMPT}],
            result_format="message",
            enable_thinking=True,
            enable_code_interpreter=True,
            stream=True,
            incremental_output=True,
        )
    )
    assert all(chunk.status_code == 200 for chunk in chunks)
    messages = [chunk.output.choices[0].message for chunk in chunks]
    last = chunks[-1]
    usage = last.usage
    return Seen(
        "".join(m.reasoning_content for m in messages),
        [info["code_interpreter"]["code"] for info in last.output.tool_info],
        "".join(m.content for m in messages),
        (
            usage.input_tokens,
            usage.output_tokens,
            usage.output_tokens_details["reasoning_tokens"],
            usage.plugins["code_interpreter"]["count"],
        ),
    )


def test_one_turn_renders_the_same_on_all_three_surfaces(server: RunningEmulator) -> None:
    responses, logs = via_responses(server)
    chat = via_chat(server)
    native = via_native(server)

    assert responses.reasoning == chat.reasoning == native.reasoning == REASONING
    assert responses.codes == native.codes == ["2**10", "1/0"]
    assert logs[0] == "1024"
    assert "ZeroDivisionError" in logs[1]
    assert responses.answer == chat.answer == native.answer == ANSWER
    assert responses.usage == chat.usage == native.usage
    assert responses.usage[3] == 2
    assert responses.usage[0] > 0 and responses.usage[2] > 0
