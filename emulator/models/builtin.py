"""The builtin model: an offline, deterministic planner that turns a request into code, runs it, answers.

It is stateless. Each step reads the transcript (the last user message and the executions since it), plans
the executions the message asks for, and either proposes the next one (reasoning, then one ``StepCode``) or,
when all have run, integrates the results (reasoning quoting them, then the answer). Same transcript, same
output, byte for byte. Reasoning and answers stream in small deltas (a few words, or a few CJK characters).

What it understands
-------------------
- Language: Chinese if the message has CJK characters, else Indonesian if it has an Indonesian keyword
  (berapa, pangkat, hitung, hasil, dibagi, kali, akar, …), else English. Reasoning and answer use it.
- Fenced code blocks (```` ```python ````, ```` ```py ````, ```` ```python3 ````, or untagged): each block
  runs verbatim as one execution, in order; several blocks, several executions. The opening fence may
  follow text on its line; the closing fence starts a line. When a message has blocks, only the blocks run
  (the prose around them is not parsed for arithmetic); blocks tagged with another language are ignored.
- Otherwise, arithmetic in the text (its first 20,000 characters), one execution per expression, left to
  right; a bare number is not a calculation, and words around the arithmetic are skipped:
  - numbers: ``123``, ``2.5``, ``1e3``, ``1,000`` (English/Chinese thousands), ``2,5`` (Indonesian
    decimal), number words zero–ten / nol–sepuluh (Chinese numerals are not understood, digits are);
  - ``+ - * / // % ** ^ × ÷ √ !`` and parentheses (``^`` means power: ``2^10`` runs ``2**10``),
    superscripts (``12³``), ``x`` between two numbers (``5 x 6``); full-width forms are normalized;
  - English: plus, minus, times, multiplied by, divided by, over, mod/modulo, to the power (of), raised to
    (the power of), to the Nth power, squared, cubed, square (of), cube (of), square root (of), sqrt,
    factorial (of) / ``10!`` / 10 factorial, X percent of Y / ``X% of Y``, sum/product/difference/quotient
    of A and B, divide A by B, multiply A by B, add A to B, subtract A from B;
  - Indonesian: tambah/ditambah, kurang/dikurangi, kali/dikali(kan), dibagi (dengan), pangkat/dipangkatkan,
    kuadrat, kubik, akar (kuadrat) (dari), faktorial (dari), X persen dari Y, bagi A dengan B, kalikan A
    dengan B, tambahkan A ke B, kurangi A dengan B, kurangkan A dari B, pangkatkan A dengan B, kuadratkan A;
  - Chinese: 加(上), 减(去), 乘(以), 除以, 模, X的Y次方/次幂, 的平方, 的立方, 的平方根/平方根,
    开平方/开方/根号, 的阶乘/阶乘.
- Multi-step requests: every expression after the first may use the previous one's result — "the result",
  "it", "that" / "hasilnya", "hasil tersebut", "hasil sebelumnya" / "结果", "上一步的结果", "它" — or start
  with an operator and no left operand ("然后除以5", "then divide by 5", "lalu kalikan dengan 3", "then
  square it"). Ordinal and sequencing words ("First … Second … Third", "Pertama … Kedua",
  "首先…然后/其次…最后") just separate the steps. The dependent step's code contains the previous
  result's literal text, as the hosted model writes it
  (``1169008215014432917465348578887506800769541157267 / 5``); a result that is not a plain number (text,
  ``nan``, truncated) cannot be carried over, and the answer says so. The last numeric result of an
  earlier turn can be "the result" of the first step ("now divide it by 4").
- The answer quotes each execution's exact result (its ``result``, or its stdout when there is none; a code
  block's full logs). After an error or an interpreter restart it says what failed (error name and
  message) and stops: no retries. When the round limit stops it early, it says how many steps did not run.
- A message with no arithmetic and no code block gets a plain answer, without code, listing the above.

Thinking off: no reasoning is emitted, only the code step or the answer. Code interpreter off: expressions
are computed without running code, by walking the parsed tree (never ``eval``; powers, products and
factorials are size-limited, and a result too large is declined), and answered with the same wording; code
blocks are declined with a hint to enable the code interpreter.
"""

from __future__ import annotations

import ast
import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from types import TracebackType

from emulator.models import builtin_phrases as say
from emulator.models.base import (
    Message,
    StepCode,
    StepContext,
    StepOutput,
    StepReasoning,
    StepText,
    ToolExchange,
    TranscriptEntry,
    current_turn,
)
from emulator.models.builtin_expr import (
    Number,
    TooLargeToEvaluate,
    evaluate,
    number_literal,
    render_code,
    render_formula,
    uses_prev,
)
from emulator.models.builtin_phrases import RunReport
from emulator.models.builtin_planner import CodeBlockStep, ExpressionStep, Plan, plan_request
from emulator.sandbox.base import ExecResult


@dataclass(frozen=True, slots=True)
class StepDecision:
    """What one step says: reasoning, then either code to run or the answer."""

    reasoning: str
    code: str | None = None
    answer: str = ""


class BuiltinModel:
    """The default backend: answers for every name in ``model_names`` with ``decide``'s steps."""

    name = "builtin"

    def __init__(self, model_names: Sequence[str], *, delta_delay: float = 0.0) -> None:
        self.model_names = tuple(model_names)
        self.delta_delay = delta_delay

    def serves(self, model: str) -> bool:
        return model in self.model_names

    async def step(self, ctx: StepContext) -> AsyncIterator[StepOutput]:
        decision = decide(ctx)
        outputs: list[StepOutput] = []
        if ctx.thinking:
            outputs += [StepReasoning(delta) for delta in split_deltas(decision.reasoning)]
        if decision.code is not None:
            outputs.append(StepCode(decision.code))
        else:
            outputs += [StepText(delta) for delta in split_deltas(decision.answer)]
        for index, output in enumerate(outputs):
            if index and self.delta_delay > 0:
                await asyncio.sleep(self.delta_delay)
            yield output

    async def aclose(self) -> None:
        """Nothing to release: the model holds no resources."""

    async def __aenter__(self) -> BuiltinModel:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


def decide(ctx: StepContext) -> StepDecision:
    """The next step for this transcript (pure: same context, same decision)."""
    text, exchanges = current_turn(ctx.transcript)
    prior = _prior_result(ctx.transcript)
    plan = plan_request(text, has_prior_result=prior is not None)
    for index, exchange in enumerate(exchanges):
        if exchange.result.error is not None or exchange.result.reset:
            return _failure(plan, exchanges, index)
    if not plan.steps and not exchanges:
        return StepDecision(say.reason_unknown(plan.language), answer=say.answer_unknown(plan.language))
    if len(exchanges) < len(plan.steps):
        if ctx.code_interpreter and ctx.round_index < ctx.max_rounds:
            return _next_run(plan, exchanges, prior)
        if not exchanges and not ctx.code_interpreter:
            return _without_interpreter(plan, prior)
        if ctx.round_index >= ctx.max_rounds:
            left = len(plan.steps) - len(exchanges)
            return _report(plan, exchanges, note=say.round_limit(plan.language, ctx.max_rounds, left))
    return _report(plan, exchanges)


# --- proposing the next execution ---


def _next_run(plan: Plan, exchanges: Sequence[ToolExchange], prior: str | None) -> StepDecision:
    lang = plan.language
    number = len(exchanges) + 1
    step = plan.steps[number - 1]
    if isinstance(step, CodeBlockStep):
        if number == 1:
            return StepDecision(say.reason_first_block(lang, len(plan.steps)), code=step.code)
        previous_output = exchanges[-1].result.logs()
        return StepDecision(say.reason_next_block(lang, number, previous_output), code=step.code)
    previous = _literal(exchanges[-1].result) if exchanges else prior
    if uses_prev(step.expr) and previous is None:
        shown = _result_text(exchanges[-1].result) if exchanges else ""
        return _report(plan, exchanges, note=say.unchainable(lang, shown))
    code = render_code(step.expr, previous)
    hint = code.splitlines()[-1]  # "math.sqrt(144)", not the import
    desc = say.describe(step.expr, lang, say.prev_label(lang, "now"))
    if number > 1:
        previous_text = _result_text(exchanges[-1].result)
        reasoning = say.reason_next_expression(
            lang, number, previous_text, desc, hint, uses_prev=uses_prev(step.expr)
        )
    elif len(plan.steps) == 1:
        reasoning = say.reason_first_expression(lang, desc, hint)
    else:
        descs = [
            say.describe(s.expr, lang, say.prev_label(lang, "plan", k))
            if isinstance(s, ExpressionStep)
            else ""
            for k, s in enumerate(plan.steps)
        ]
        reasoning = say.reason_plan(lang, descs, hint)
    return StepDecision(reasoning, code=code)


# --- answering ---


def _report(plan: Plan, exchanges: Sequence[ToolExchange], *, note: str = "") -> StepDecision:
    lang = plan.language
    reports = [_run_report(plan, number, exchange) for number, exchange in enumerate(exchanges, start=1)]
    if not reports:
        text = note or say.answer_unknown(lang)
        return StepDecision(note or say.reason_unknown(lang), answer=text)
    total = max(len(plan.steps), len(exchanges))
    reasoning = say.reason_results(lang, reports)
    answer = say.answer_results(lang, reports, total=total)
    if note:
        reasoning, answer = f"{reasoning}\n\n{note}", f"{answer}\n\n{note}"
    return StepDecision(reasoning, answer=answer)


def _failure(plan: Plan, exchanges: Sequence[ToolExchange], index: int) -> StepDecision:
    lang = plan.language
    failed = exchanges[index]
    result = failed.result
    total = max(len(plan.steps), len(exchanges))
    err = ""
    if result.error is not None:
        err = f"{result.error.name}: {result.error.message}" if result.error.message else result.error.name
    step = plan.steps[index] if index < len(plan.steps) else None
    code = f"`{failed.code.splitlines()[-1]}`" if isinstance(step, ExpressionStep) and failed.code else None
    what = say.failure(lang, index + 1, total, code=code, err=err, reset=result.reset)
    parts = []
    if index:
        earlier = [_run_report(plan, n, exchange) for n, exchange in enumerate(exchanges[:index], start=1)]
        parts.append(say.answer_results(lang, earlier, total=total))
    parts.append(what)
    if total > index + 1:
        parts.append(say.stopped(lang))
    return StepDecision(say.reason_failure(lang, what), answer="\n\n".join(parts))


def _run_report(plan: Plan, number: int, exchange: ToolExchange) -> RunReport:
    result = exchange.result
    step = plan.steps[number - 1] if number <= len(plan.steps) else None
    output = _result_text(result)
    if isinstance(step, ExpressionStep) and output:
        label = say.prev_label(plan.language, "answer" if number > 1 else "now")
        return RunReport(number, output, desc=say.describe(step.expr, plan.language, label))
    return RunReport(number, result.logs(), images=len(result.images), truncated=result.truncated)


def _without_interpreter(plan: Plan, prior: str | None) -> StepDecision:
    """Compute expressions directly (the tree, not ``eval``); decline code blocks."""
    lang = plan.language
    if any(isinstance(step, CodeBlockStep) for step in plan.steps):
        return StepDecision(
            say.reason_code_needs_interpreter(lang), answer=say.answer_code_needs_interpreter(lang)
        )
    previous: Number | None = ast.literal_eval(prior) if prior is not None else None
    reports: list[RunReport] = []
    lines: list[str] = []
    problem = ""
    for number, step in enumerate(plan.steps, start=1):
        assert isinstance(step, ExpressionStep)
        desc = say.describe(step.expr, lang, say.prev_label(lang, "answer" if number > 1 else "now"))
        try:
            value = evaluate(step.expr, previous)
            text = repr(value)
        except TooLargeToEvaluate:
            problem = say.local_too_large(lang, desc)
            break
        except (ArithmeticError, ValueError, TypeError) as exc:
            problem = say.local_failed(lang, desc, f"{type(exc).__name__}: {exc}")
            break
        formula = render_formula(step.expr, repr(previous))
        lines.append(f"{formula} = {text}")
        reports.append(RunReport(number, text, desc=desc))
        previous = value
    answer_parts = [say.answer_results(lang, reports, total=len(plan.steps), runs=False)] if reports else []
    if problem:
        lines.append(problem)
        answer_parts.append(problem)
    return StepDecision(say.reason_local(lang, lines), answer="\n\n".join(answer_parts))


# --- transcript helpers ---


def _result_text(result: ExecResult) -> str:
    """What a calculation returned: the final expression's value, else what it printed."""
    return result.result if result.result is not None else result.stdout.rstrip("\n")


def _literal(result: ExecResult) -> str | None:
    """The result as a number literal a later step can paste into its code (None if it is not one)."""
    if not result.ok or result.reset or result.truncated:
        return None
    return number_literal(_result_text(result))


def _prior_result(transcript: Sequence[TranscriptEntry]) -> str | None:
    """The literal result of the last execution before the current user message, if numeric."""
    seen_user = False
    for entry in reversed(transcript):
        if isinstance(entry, Message):
            seen_user = seen_user or entry.role == "user"
        elif seen_user:
            return _literal(entry.result)
    return None


# --- streaming ---

_CJK_CHAR = "\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_PIECE = re.compile(rf"\s*(?:[{_CJK_CHAR}]|[^\s{_CJK_CHAR}]+)|\s+")
_CJK_PIECE = re.compile(rf"\s*[{_CJK_CHAR}]")
_DELTA_WEIGHT = 6  # a delta is about three words or six CJK characters
_LONG_PIECE = 12  # longer words (big numbers) are cut into pieces of six, like the hosted stream


def split_deltas(text: str) -> list[str]:
    """``text`` cut into small stream deltas; ``"".join(split_deltas(t)) == t``."""
    deltas: list[str] = []
    current, weight = "", 0
    for piece in _PIECE.findall(text):
        for part in _cut_long(piece):
            current += part
            weight += 1 if _CJK_PIECE.fullmatch(part) else 2
            if weight >= _DELTA_WEIGHT:
                deltas.append(current)
                current, weight = "", 0
    if current:
        deltas.append(current)
    return deltas


def _cut_long(piece: str) -> list[str]:
    word = piece.lstrip()
    if len(word) <= _LONG_PIECE:
        return [piece]
    parts = [word[i : i + 6] for i in range(0, len(word), 6)]
    parts[0] = piece[: len(piece) - len(word)] + parts[0]
    return parts
