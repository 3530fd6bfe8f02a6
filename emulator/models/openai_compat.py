"""A real model behind any OpenAI-compatible ``/chat/completions`` endpoint (vLLM, Ollama, llama.cpp server,
DashScope compatible mode), driven with function calling.

Each step is one streamed chat completion with a single function tool, ``code_interpreter(code)``. Reasoning
comes from ``reasoning_content`` (or ``reasoning``) deltas where the upstream sends them, answer text from
``content``; a tool call ends the step with ``StepCode`` (the loop runs it in our sandbox and the next step
feeds the result back as a ``tool`` message). Usage comes from ``stream_options.include_usage``.

Failures are translated once, here: HTTP statuses by ``error_for_status``, httpx exceptions by
``TRANSPORT_ERRORS`` (complete for every ``httpx.RequestError``; a test keeps it so). A malformed tool call
(arguments that are not JSON, no ``code``, an unknown tool) is reported back to the model once as a tool
error message; a second malformed call fails the turn cleanly.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from emulator.config import Settings
from emulator.core.errors import EmulatorError, ModelFailed, ModelUnavailable, RateLimited, UpstreamTimeout
from emulator.models.base import (
    Message,
    StepCode,
    StepContext,
    StepOutput,
    StepReasoning,
    StepText,
    StepUsage,
    ToolExchange,
)
from emulator.sandbox.base import ExecResult

log = logging.getLogger(__name__)

TOOL_NAME = "code_interpreter"
CODE_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": TOOL_NAME,
        "description": (
            "Run Python code in a persistent, sandboxed interpreter without network access. Variables "
            "survive between calls. Returns stdout, stderr, the value of the last expression, or the "
            "traceback."
        ),
        "parameters": {
            "type": "object",
            "properties": {"code": {"type": "string", "description": "The Python code to run."}},
            "required": ["code"],
        },
    },
}
RETRY_EXAMPLE = '{"code": "print(1 + 1)"}'
SYSTEM_PROMPT = (
    "You can run Python with the code_interpreter tool. Use it for any calculation or data work, then "
    "answer from its output."
)


class UpstreamRejected(ModelFailed):
    """The upstream refused our request (a 4xx other than 408/429): a retry will not help."""

    retryable = False


#: httpx exception -> typed error; looked up along the exception's MRO, so subclasses are covered
TRANSPORT_ERRORS: dict[type[httpx.RequestError], Callable[[str], EmulatorError]] = {
    httpx.TimeoutException: UpstreamTimeout,
    httpx.ConnectError: ModelUnavailable,
    httpx.NetworkError: ModelUnavailable,
    httpx.ProxyError: ModelUnavailable,
    httpx.UnsupportedProtocol: ModelUnavailable,
    httpx.ProtocolError: ModelFailed,
    httpx.DecodingError: ModelFailed,
    httpx.TooManyRedirects: ModelFailed,
    httpx.TransportError: ModelUnavailable,  # any other transport failure
    httpx.RequestError: ModelFailed,  # any other request failure
}


def error_for_transport(exc: httpx.RequestError, url: str) -> EmulatorError:
    for kind in type(exc).__mro__:
        make = TRANSPORT_ERRORS.get(kind)
        if make is not None:
            detail = str(exc) or type(exc).__name__
            if isinstance(exc, httpx.TimeoutException):
                return make(f"The upstream model at {url} did not answer in time ({type(exc).__name__}).")
            if isinstance(exc, httpx.ConnectError):
                return make(f"The upstream model at {url} cannot be reached: {detail}.")
            return make(f"The connection to the upstream model at {url} failed: {detail}.")
    return ModelFailed(f"The upstream model at {url} failed: {exc}.")  # pragma: no cover - map is complete


def error_for_status(status: int, message: str) -> EmulatorError:
    text = f"The upstream model answered {status}: {message}"
    if status == 429:
        return RateLimited(text)
    if status in (408, 504):
        return UpstreamTimeout(text)
    if status in (502, 503):
        return ModelUnavailable(text)
    if status >= 500:
        return ModelFailed(text)
    if status in (401, 403, 404):
        return ModelUnavailable(text)  # the emulator's upstream settings are wrong, not the client's request
    return UpstreamRejected(text)


def _error_message(body: bytes) -> str:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return body.decode("utf-8", "replace").strip()[:500] or "(empty body)"
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error)
    if isinstance(error, str):
        return error
    return json.dumps(payload)[:500]


def tool_message_content(result: ExecResult) -> str:
    """What the model reads back from an execution."""
    parts = []
    if result.reset:
        parts.append("[The interpreter was restarted; earlier variables are gone.]")
    parts.append(result.logs() or "(no output)")
    if result.images:
        parts.append(f"[{len(result.images)} image(s) produced]")
    return "\n".join(parts)


def upstream_messages(ctx: StepContext) -> list[dict[str, Any]]:
    """The transcript in chat-completions terms; executions become tool calls and tool messages."""
    messages: list[dict[str, Any]] = []
    for entry in ctx.transcript:
        if isinstance(entry, Message):
            messages.append({"role": entry.role, "content": entry.content})
        elif isinstance(entry, ToolExchange):
            arguments = json.dumps({"code": entry.code}, ensure_ascii=False)
            call = {
                "id": entry.call_id,
                "type": "function",
                "function": {"name": TOOL_NAME, "arguments": arguments},
            }
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
            messages.append(
                {"role": "tool", "tool_call_id": entry.call_id, "content": tool_message_content(entry.result)}
            )
    if ctx.code_interpreter:
        if messages and messages[0]["role"] == "system":
            messages[0] = {"role": "system", "content": f"{SYSTEM_PROMPT}\n\n{messages[0]['content']}"}
        else:
            messages.insert(0, {"role": "system", "content": SYSTEM_PROMPT})
    return messages


@dataclass
class _ToolCall:
    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass
class _Completion:
    """What one upstream completion ended with (after its text and reasoning were streamed)."""

    tool_calls: list[_ToolCall] = field(default_factory=list)
    usage: StepUsage | None = None


def parse_tool_call(call: _ToolCall) -> tuple[str | None, str]:
    """``(code, "")`` for a usable call, else ``(None, what is wrong)``."""
    if call.name != TOOL_NAME:
        return None, f"unknown tool {call.name!r}; the only tool is {TOOL_NAME!r}"
    try:
        arguments = json.loads(call.arguments or "{}")
    except json.JSONDecodeError as exc:
        return None, f"the arguments are not valid JSON ({exc.msg} at position {exc.pos})"
    code = arguments.get("code") if isinstance(arguments, dict) else None
    if not isinstance(code, str) or not code.strip():
        return None, 'the arguments need a non-empty string field "code"'
    return code, ""


def _report_malformed(call: _ToolCall, problem: str) -> list[dict[str, Any]]:
    """The bad call and a tool error message answering it (what the model reads before its retry)."""
    call_id = call.id or "call_0"
    function = {"name": call.name, "arguments": call.arguments}
    return [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": call_id, "type": "function", "function": function}],
        },
        {
            "role": "tool",
            "tool_call_id": call_id,
            "content": f"Error: {problem}. Call {TOOL_NAME} again with arguments like {RETRY_EXAMPLE}.",
        },
    ]


def _add(a: StepUsage | None, b: StepUsage | None) -> StepUsage | None:
    if a is None or b is None:
        return a or b
    return StepUsage(
        a.input_tokens + b.input_tokens,
        a.output_tokens + b.output_tokens,
        a.reasoning_tokens + b.reasoning_tokens,
    )


class OpenAICompatModel:
    """The ``openai-compatible`` backend (``--model openai-compatible --upstream-url …``)."""

    name = "openai-compatible"

    def __init__(
        self,
        *,
        base_url: str,
        served: Sequence[str] = (),
        model: str | None = None,
        api_key: str | None = None,
        timeout: float = 120.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        base = base_url.rstrip("/")
        self.url = base if base.endswith("/chat/completions") else f"{base}/chat/completions"
        self.upstream_model = model
        self.served = set(served) | ({model} if model else set())
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = client or httpx.AsyncClient(timeout=httpx.Timeout(timeout), headers=headers)
        self._owns_client = client is None

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAICompatModel:
        if not settings.upstream_url:
            raise ValueError("--model openai-compatible needs --upstream-url (EMULATOR_UPSTREAM_URL)")
        return cls(
            base_url=settings.upstream_url,
            served=settings.model_names,
            model=settings.upstream_model,
            api_key=settings.upstream_key,
            timeout=settings.upstream_timeout,
        )

    def serves(self, model: str) -> bool:
        return model in self.served

    async def step(self, ctx: StepContext) -> AsyncIterator[StepOutput]:
        messages = upstream_messages(ctx)
        usage: StepUsage | None = None
        for attempt in range(2):
            completion = _Completion()
            async for item in self._complete(ctx, messages):
                if isinstance(item, _Completion):
                    completion = item
                else:
                    yield item
            usage = _add(usage, completion.usage)
            if not completion.tool_calls or not ctx.code_interpreter:
                break
            call = completion.tool_calls[0]
            code, problem = parse_tool_call(call)
            if code is not None:
                if usage is not None:
                    yield usage
                yield StepCode(code)
                return
            if attempt == 1:
                raise ModelFailed(f"The upstream model made a malformed {TOOL_NAME} call twice: {problem}.")
            log.warning("malformed tool call from upstream (request %s): %s", ctx.request_id, problem)
            # Tell the model once, as the tool's answer to its call, and let it try again.
            messages = [*messages, *_report_malformed(call, problem)]
        if usage is not None:
            yield usage

    async def _complete(
        self, ctx: StepContext, messages: list[dict[str, Any]]
    ) -> AsyncIterator[StepOutput | _Completion]:
        body: dict[str, Any] = {
            "model": self.upstream_model or ctx.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if ctx.code_interpreter:
            body["tools"] = [CODE_TOOL]
        calls: dict[int, _ToolCall] = {}
        usage: StepUsage | None = None
        try:
            async with self._client.stream("POST", self.url, json=body) as response:
                if response.status_code >= 400:
                    raise error_for_status(response.status_code, _error_message(await response.aread()))
                async for line in response.aiter_lines():
                    chunk = _chunk(line)
                    if chunk is None:
                        continue
                    if chunk is _DONE:
                        break
                    if "error" in chunk:
                        message = _error_message(json.dumps(chunk).encode())
                        raise ModelFailed(f"The upstream model failed mid-stream: {message}")
                    if chunk.get("usage"):
                        usage = _usage(chunk["usage"])
                    for out in _deltas(chunk, calls):
                        yield out
        except httpx.RequestError as exc:
            raise error_for_transport(exc, self.url) from exc
        yield _Completion([calls[i] for i in sorted(calls)], usage)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


_DONE: dict[str, Any] = {}


def _chunk(line: str) -> dict[str, Any] | None:
    """One SSE line: a decoded chunk, ``_DONE``, or None for comments, event names and blank lines."""
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if data == "[DONE]":
        return _DONE
    try:
        chunk = json.loads(data)
    except json.JSONDecodeError:
        raise ModelFailed(f"The upstream model sent a malformed stream chunk: {data[:200]!r}") from None
    return chunk if isinstance(chunk, dict) else None


def _usage(raw: dict[str, Any]) -> StepUsage:
    details = raw.get("completion_tokens_details") or {}
    return StepUsage(
        input_tokens=int(raw.get("prompt_tokens") or 0),
        output_tokens=int(raw.get("completion_tokens") or 0),
        reasoning_tokens=int(details.get("reasoning_tokens") or 0),
    )


def _deltas(chunk: dict[str, Any], calls: dict[int, _ToolCall]) -> list[StepOutput]:
    outputs: list[StepOutput] = []
    for choice in chunk.get("choices") or []:
        delta = choice.get("delta") or {}
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if reasoning:
            outputs.append(StepReasoning(reasoning))
        if delta.get("content"):
            outputs.append(StepText(delta["content"]))
        for piece in delta.get("tool_calls") or []:
            call = calls.setdefault(int(piece.get("index") or 0), _ToolCall())
            function = piece.get("function") or {}
            call.id = piece.get("id") or call.id
            call.name = call.name or function.get("name") or ""
            call.arguments += function.get("arguments") or ""
    return outputs
