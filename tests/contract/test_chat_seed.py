"""The seed's Chat Completions examples: the Python example run verbatim, the curl example as raw HTTP."""

from __future__ import annotations

import json

import httpx

from emulator.testing import RunningEmulator
from tests.contract.seed_runner import run_seed

R21 = str(123**21)


def test_seed_python_chat_stream_prints_thinking_answer_and_usage(server: RunningEmulator) -> None:
    out = run_seed("chat_stream.py", server.openai_base_url)
    thinking, rest = out.split("=" * 20 + "Proses thinking" + "=" * 20)[1].split(
        "=" * 20 + "Tanggapan lengkap" + "=" * 20
    )
    answer, usage = rest.split("\nPenggunaan:\n")
    assert thinking.strip() and R21 in thinking  # reasoning after the execution integrates the result
    assert "123**21" not in answer  # the code is not returned on this surface
    assert R21 in answer
    assert usage.startswith("CompletionUsage(completion_tokens=")
    assert "reasoning_tokens=" in usage and "prompt_tokens_details=None" in usage


CURL_BODY = {
    "model": "qwen3-max-2026-01-23",
    "messages": [{"role": "user", "content": "Berapa 123 pangkat 21?"}],
    "enable_code_interpreter": True,
    "enable_thinking": True,
    "stream": True,
}


def test_seed_curl_chat_stream_exact_lines(server: RunningEmulator) -> None:
    response = httpx.post(
        f"{server.base_url}/compatible-mode/v1/chat/completions",
        headers={"Authorization": "Bearer sk-anything", "Content-Type": "application/json"},
        content=json.dumps(CURL_BODY),
        timeout=60,
    )
    assert response.status_code == 200
    lines = response.text.split("\n")
    # `data: {json}` lines separated by a blank line; no `event:` or `id:` lines; `data: [DONE]` last
    assert all(line == "" or line.startswith("data: ") for line in lines)
    data = [line[len("data: ") :] for line in lines if line]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    first = chunks[0]
    assert list(first) == ["choices", "object", "usage", "created", "system_fingerprint", "model", "id"]
    assert first["choices"] == [
        {
            "delta": {"content": None, "role": "assistant", "reasoning_content": ""},
            "index": 0,
            "logprobs": None,
            "finish_reason": None,
        }
    ]
    assert first["object"] == "chat.completion.chunk" and first["usage"] is None
    assert first["system_fingerprint"] is None and first["model"] == "qwen3-max-2026-01-23"
    assert first["id"].startswith("chatcmpl-") and len(first["id"]) == len("chatcmpl-") + 36
    assert {chunk["id"] for chunk in chunks} == {first["id"]}
    assert {chunk["created"] for chunk in chunks} == {first["created"]}
    reasoning = [c for c in chunks[1:] if c["choices"][0]["delta"]["content"] is None]
    answer = [c for c in chunks[1:] if c["choices"][0]["delta"]["content"] is not None]
    assert chunks[1:] == reasoning + answer  # reasoning first, then the answer
    assert all(set(c["choices"][0]["delta"]) == {"content", "reasoning_content"} for c in chunks[1:])
    assert all(c["choices"][0]["delta"]["reasoning_content"] is None for c in answer)
    assert R21 in "".join(c["choices"][0]["delta"]["content"] for c in answer)
    assert answer[-1]["choices"][0]["finish_reason"] == "stop"
    assert answer[-1]["choices"][0]["delta"] == {"content": "", "reasoning_content": None}
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
