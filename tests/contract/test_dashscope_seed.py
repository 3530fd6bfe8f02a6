"""The seed's DashScope examples: the Python SDK examples run verbatim, the curl example as raw HTTP.

The SDK scripts are unchanged (their base-URL line is a comment); they reach the emulator through
``DASHSCOPE_HTTP_BASE_URL``, which the dashscope SDK reads at import time.
"""

from __future__ import annotations

import ast
import json
import re

import httpx

from emulator.testing import RunningEmulator
from tests.contract.seed_runner import run_seed as run_seed_script

R21 = str(123**21)
R23 = str(123**23)
FRAME = re.compile(r"id:(\d+)\nevent:result\n:HTTP_STATUS/200\ndata:(\{.*\})")


def run_seed(script: str, server: RunningEmulator) -> str:
    # the dashscope SDK reads DASHSCOPE_HTTP_BASE_URL at import: the seed scripts stay unchanged
    url = server.dashscope_base_url
    return run_seed_script(script, url, DASHSCOPE_HTTP_BASE_URL=url)


def test_seed_python_stream_prints_outputs_with_tool_info_and_the_answer(server: RunningEmulator) -> None:
    outputs = [json.loads(line) for line in run_seed("dashscope_stream.py", server).splitlines() if line]
    assert all(o["choices"][0]["message"]["role"] == "assistant" for o in outputs)
    assert [o["choices"][0]["finish_reason"] for o in outputs] == ["null"] * (len(outputs) - 1) + ["stop"]
    answer = "".join(o["choices"][0]["message"]["content"] for o in outputs)
    assert R21 in answer
    reasoning = "".join(o["choices"][0]["message"]["reasoning_content"] for o in outputs)
    assert reasoning.strip()
    first_tool = next(i for i, o in enumerate(outputs) if "tool_info" in o)
    assert outputs[first_tool]["tool_info"] == [
        {"code_interpreter": {"code": "123**21"}, "type": "code_interpreter"}
    ]
    assert all(o["tool_info"] == outputs[first_tool]["tool_info"] for o in outputs[first_tool:])
    # reasoning goes on after the execution (the second inference reads the result)
    assert any(o["choices"][0]["message"]["reasoning_content"] for o in outputs[first_tool + 1 :])
    assert outputs[-1]["choices"][0]["message"]["content"] == ""


def test_seed_two_step_example_prints_two_tools_and_count_two(server: RunningEmulator) -> None:
    out = run_seed("dashscope_two_step.py", server)
    sections = [line for line in out.splitlines() if line.startswith("=" * 20)]
    assert sections == [
        "=" * 20 + "Reasoning Process" + "=" * 20,
        "=" * 20 + "Tool Information" + "=" * 20,
        "=" * 20 + "Reasoning Process" + "=" * 20,
        "=" * 20 + "Tool Information" + "=" * 20,
        "=" * 20 + "Tool Information" + "=" * 20,
        "=" * 20 + "Reasoning Process" + "=" * 20,
        "=" * 20 + "Full Reply" + "=" * 20,
        "=" * 20 + "Code Interpreter Runs" + "=" * 20,
    ]
    blocks = out.split("=" * 20 + "Tool Information" + "=" * 20 + "\n")
    tools = [ast.literal_eval(block.splitlines()[0]) for block in blocks[1:]]
    assert tools[0] == [{"code_interpreter": {"code": "123**23"}, "type": "code_interpreter"}]
    assert tools[1][1] == {
        "code_interpreter": {"code": ""},
        "type": "code_interpreter",
    }  # announced empty first
    assert tools[2][0] == tools[0][0] and R23 in tools[2][1]["code_interpreter"]["code"]
    reply = out.split("Full Reply")[1].split("Code Interpreter Runs")[0]
    assert R23 in reply and str(int(R23) / 5) in reply
    assert out.rstrip().endswith("{'code_interpreter': {'count': 2}}")


CURL_BODY = {
    "model": "qwen3-max-2026-01-23",
    "input": {"messages": [{"role": "user", "content": "Berapa 123 pangkat 21?"}]},
    "parameters": {"enable_code_interpreter": True, "enable_thinking": True, "result_format": "message"},
}


def test_seed_curl_native_stream_exact_frames(server: RunningEmulator) -> None:
    response = httpx.post(
        f"{server.base_url}/api/v1/services/aigc/text-generation/generation",
        headers={
            "Authorization": "Bearer sk-anything",
            "Content-Type": "application/json",
            "X-DashScope-SSE": "enable",
        },
        content=json.dumps(CURL_BODY),
        timeout=60,
    )
    assert response.status_code == 200
    assert response.text.endswith("\n\n")
    blocks = response.text[: -len("\n\n")].split("\n\n")
    frames = []
    for position, block in enumerate(blocks, start=1):
        match = FRAME.fullmatch(block)
        assert match, block
        assert int(match[1]) == position
        assert json.dumps(json.loads(match[2]), ensure_ascii=False, separators=(",", ":")) == match[2]
        frames.append(json.loads(match[2]))
    first = frames[0]
    assert list(first) == ["output", "usage", "request_id"]
    assert list(first["output"]["choices"][0]) == ["message", "finish_reason"]
    assert list(first["output"]["choices"][0]["message"]) == ["content", "reasoning_content", "role"]
    assert list(first["usage"]) == ["total_tokens", "output_tokens", "input_tokens", "output_tokens_details"]
    assert first["output"]["choices"][0]["message"]["content"] == ""
    tool_frames = [f for f in frames if "tool_info" in f["output"]]
    assert tool_frames[0]["output"]["tool_info"] == [
        {"code_interpreter": {"code": "123**21"}, "type": "code_interpreter"}
    ]
    assert list(tool_frames[0]["usage"])[-1] == "plugins"
    last = frames[-1]
    assert last["output"]["choices"][0] == {
        "message": {"content": "", "reasoning_content": "", "role": "assistant"},
        "finish_reason": "stop",
    }
    assert last["usage"]["plugins"] == {"code_interpreter": {"count": 1}}
    assert last["usage"]["input_tokens"] > first["usage"]["input_tokens"]
    assert R21 in "".join(f["output"]["choices"][0]["message"]["content"] for f in frames)
    assert len({f["request_id"] for f in frames}) == 1
