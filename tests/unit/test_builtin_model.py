"""The builtin model's planner, driven step by step with hand-built transcripts.

A tiny in-process stand-in for the sandbox (``_run_cell``: exec the cell, repr its last expression, like
Jupyter) plays the executions, so the answers carry real values.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from emulator.models.base import (
    Message,
    Model,
    StepCode,
    StepContext,
    StepOutput,
    StepReasoning,
    StepText,
    ToolExchange,
    TranscriptEntry,
)
from emulator.models.builtin import BuiltinModel, split_deltas
from emulator.sandbox.base import ExecError, ExecResult

MODEL = "qwen3-max-2026-01-23"
SEED_123_21 = "77269364466549865653073473388030061522211723"
SEED_123_23 = "1169008215014432917465348578887506800769541157267"
SEED_TWO_STEP = (
    "Run the code interpreter twice. First, calculate the value of 123 to the power of 23. "
    "Second, divide the result by 5."
)


# --- helpers ------------------------------------------------------------------------------------------------


def _run_cell(code: str, namespace: dict[str, Any]) -> ExecResult:
    """Run ``code`` like a Jupyter cell: stdout captured, the last expression's repr as the result."""
    tree = ast.parse(code)
    last = tree.body[-1] if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    body = tree.body[:-1] if last is not None else tree.body
    stdout = io.StringIO()
    value: Any = None
    with contextlib.redirect_stdout(stdout):
        try:
            exec(compile(ast.Module(body=body, type_ignores=[]), "<cell>", "exec"), namespace)
            if last is not None:
                value = eval(compile(ast.Expression(last.value), "<cell>", "eval"), namespace)
        except ArithmeticError as exc:  # the errors these tests provoke
            return ExecResult(stdout=stdout.getvalue(), error=ExecError(type(exc).__name__, str(exc)))
    return ExecResult(stdout=stdout.getvalue(), result=None if value is None else repr(value))


def _ctx(
    transcript: Sequence[TranscriptEntry],
    *,
    thinking: bool = True,
    code_interpreter: bool = True,
    round_index: int | None = None,
    max_rounds: int = 5,
) -> StepContext:
    if round_index is None:  # the loop's count: executions since the last user message
        round_index = 0
        for entry in reversed(transcript):
            if isinstance(entry, Message) and entry.role == "user":
                break
            round_index += isinstance(entry, ToolExchange)
    return StepContext(
        model=MODEL,
        transcript=list(transcript),
        thinking=thinking,
        code_interpreter=code_interpreter,
        round_index=round_index,
        max_rounds=max_rounds,
    )


async def _step(ctx: StepContext, model: BuiltinModel | None = None) -> list[StepOutput]:
    model = model or BuiltinModel([MODEL])
    return [output async for output in model.step(ctx)]


def _reasoning(outputs: Sequence[StepOutput]) -> str:
    return "".join(o.text for o in outputs if isinstance(o, StepReasoning))


def _answer(outputs: Sequence[StepOutput]) -> str:
    return "".join(o.text for o in outputs if isinstance(o, StepText))


def _codes(outputs: Sequence[StepOutput]) -> list[str]:
    return [o.code for o in outputs if isinstance(o, StepCode)]


@dataclass
class Conversation:
    steps: list[list[StepOutput]] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    results: list[ExecResult] = field(default_factory=list)

    @property
    def answer(self) -> str:
        return _answer(self.steps[-1])


async def _converse(prompt: str, history: Sequence[TranscriptEntry] = (), **ctx_options: Any) -> Conversation:
    """Drive the model like the loop does until it answers, running its code with ``_run_cell``."""
    transcript: list[TranscriptEntry] = [*history, Message("user", prompt)]
    namespace: dict[str, Any] = {}
    conversation = Conversation()
    for index in range(10):
        outputs = await _step(_ctx(transcript, **ctx_options))
        conversation.steps.append(outputs)
        codes = _codes(outputs)
        if not codes:
            return conversation
        result = _run_cell(codes[0], namespace)
        conversation.codes.append(codes[0])
        conversation.results.append(result)
        transcript.append(ToolExchange(f"call_{index}", codes[0], result, _reasoning(outputs)))
    raise AssertionError("the model never answered")


# --- what it runs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "code"),
    [
        ("Berapa 123 pangkat 21?", "123**21"),
        ("Berapa 12 pangkat 3?", "12**3"),
        ("12 to the power of 3", "12**3"),
        ("123的21次方是多少？", "123**21"),
        ("计算 2 的 10 次方", "2**10"),
        ("What is 2 to the power of 10?", "2**10"),
        ("what's 17 * 23 + 4?", "17 * 23 + 4"),
        ("Hitung 7 pangkat 5", "7**5"),
        ("berapa hasil 15 dibagi 4", "15 / 4"),
        ("(3+4)*5", "(3 + 4) * 5"),
        ("2^10", "2**10"),
        ("12³", "12**3"),
        ("2 to the 10th power", "2**10"),
        ("sqrt of 144", "import math\nmath.sqrt(144)"),
        ("akar 144", "import math\nmath.sqrt(144)"),
        ("144的平方根", "import math\nmath.sqrt(144)"),
        ("10 divided by 4", "10 / 4"),
        ("5 times 6", "5 * 6"),
        ("5 x 6", "5 * 6"),
        ("factorial of 10", "import math\nmath.factorial(10)"),
        ("10!", "import math\nmath.factorial(10)"),
        ("What is 15% of 80?", "15 / 100 * 80"),
        ("What is 100 mod 7?", "100 % 7"),
        ("lima kali enam", "5 * 6"),
        ("Berapa 2,5 kali 4?", "2.5 * 4"),
        ("subtract 3 from 10", "10 - 3"),
        ("(-2)^2", "(-2)**2"),
        ("7 squared", "7**2"),
    ],
)
async def test_prompt_proposes_code(prompt: str, code: str) -> None:
    outputs = await _step(_ctx([Message("user", prompt)]))

    assert _codes(outputs) == [code]
    assert isinstance(outputs[-1], StepCode)
    assert not any(isinstance(o, StepText) for o in outputs)


@pytest.mark.parametrize(
    ("prompt", "result"),
    [
        ("Berapa 123 pangkat 21?", SEED_123_21),
        ("Berapa 12 pangkat 3?", "1728"),
        ("what's 17 * 23 + 4?", "395"),
        ("berapa hasil 15 dibagi 4", "3.75"),
        ("(3+4)*5", "35"),
        ("2^10", "1024"),
        ("akar 144", "12.0"),
        ("factorial of 10", "3628800"),
    ],
)
async def test_answer_quotes_the_exact_execution_result(prompt: str, result: str) -> None:
    conversation = await _converse(prompt)

    assert [r.result for r in conversation.results] == [result]
    assert result in conversation.answer
    assert result in _reasoning(conversation.steps[-1])  # the integration step quotes it too


async def test_seed_indonesian_prompt_is_answered_in_indonesian() -> None:
    conversation = await _converse("Berapa 123 pangkat 21?")

    assert conversation.codes == ["123**21"]
    assert conversation.answer == f"123 pangkat 21 adalah: {SEED_123_21}"
    assert _reasoning(conversation.steps[0]).startswith("Pengguna menanyakan 123 pangkat 21.")
    assert "Kode berhasil dijalankan" in _reasoning(conversation.steps[1])


async def test_english_prompt_is_answered_in_english() -> None:
    conversation = await _converse("12 to the power of 3")

    assert conversation.answer == "12 to the power of 3 is **1728**."
    assert _reasoning(conversation.steps[0]).startswith("The user is asking for 12 to the power of 3.")


async def test_chinese_prompt_is_answered_in_chinese() -> None:
    conversation = await _converse("123的21次方是多少？")

    assert conversation.answer == f"123的21次方等于 **{SEED_123_21}**。"
    assert _reasoning(conversation.steps[0]).startswith("用户想知道123的21次方。")


# --- multi-step ------------------------------------------------------------------------------------------


async def test_two_step_prompt_runs_two_executions_the_second_using_the_first_result() -> None:
    user = Message("user", SEED_TWO_STEP)
    first = await _step(_ctx([user]))
    assert _codes(first) == ["123**23"]
    assert "2 calculations" in _reasoning(first)

    exchange = ToolExchange("call_1", "123**23", ExecResult(result=SEED_123_23))
    second = await _step(_ctx([user, exchange]))
    assert _codes(second) == [f"{SEED_123_23} / 5"]
    assert f"returned: {SEED_123_23}" in _reasoning(second)

    final = ToolExchange("call_2", f"{SEED_123_23} / 5", ExecResult(result="2.338016430028866e+47"))
    answer = await _step(_ctx([user, exchange, final]))
    assert _codes(answer) == []
    assert _answer(answer) == (
        f"Result of the first run: 123 to the power of 23 = {SEED_123_23}\n"
        "Result of the second run: The above result divided by 5 = 2.338016430028866e+47"
    )
    assert "2.338016430028866e+47" in _reasoning(answer)


async def test_second_step_code_is_built_from_the_first_exchange_result() -> None:
    user = Message("user", SEED_TWO_STEP)
    exchange = ToolExchange("call_1", "123**23", ExecResult(result="-40"))

    second = await _step(_ctx([user, exchange]))

    assert _codes(second) == ["(-40) / 5"]


async def test_two_step_flow_with_real_values() -> None:
    conversation = await _converse(SEED_TWO_STEP)

    assert conversation.codes == ["123**23", f"{SEED_123_23} / 5"]
    assert [r.result for r in conversation.results] == [SEED_123_23, "2.338016430028866e+47"]


@pytest.mark.parametrize(
    ("prompt", "codes", "answer"),
    [
        (
            "Pertama, hitung 123 pangkat 23. Kedua, bagi hasilnya dengan 5.",
            ["123**23", f"{SEED_123_23} / 5"],
            f"Hasil eksekusi pertama: 123 pangkat 23 = {SEED_123_23}\n"
            "Hasil eksekusi kedua: Hasil di atas dibagi 5 = 2.338016430028866e+47",
        ),
        (
            "首先，计算123的23次方。然后，将结果除以5。",
            ["123**23", f"{SEED_123_23} / 5"],
            f"第一次运行的结果：123的23次方 = {SEED_123_23}\n"
            "第二次运行的结果：上面的结果除以5 = 2.338016430028866e+47",
        ),
        (
            "首先计算2的10次方，其次除以4，最后加上1",
            ["2**10", "1024 / 4", "256.0 + 1"],
            "第一次运行的结果：2的10次方 = 1024\n第二次运行的结果：上面的结果除以4 = 256.0\n"
            "第三次运行的结果：上面的结果加1 = 257.0",
        ),
        (
            "First, compute 5 times 6. Then add 4 to the result. Third, take the square root of it.",
            ["5 * 6", "30 + 4", "import math\nmath.sqrt(34)"],
            "Result of the first run: 5 times 6 = 30\n"
            "Result of the second run: The above result plus 4 = 34\n"
            "Result of the third run: The square root of the above result = 5.830951894845301",
        ),
    ],
)
async def test_multi_step_phrasing_in_three_languages(prompt: str, codes: list[str], answer: str) -> None:
    conversation = await _converse(prompt)

    assert conversation.codes == codes
    assert conversation.answer == answer


@pytest.mark.parametrize(
    ("prompt", "codes"),
    [
        ("Pertama hitung 5 kali 6, lalu kalikan dengan 3", ["5 * 6", "30 * 3"]),
        ("First 2+2, then square it", ["2 + 2", "4**2"]),
        ("先算 16 加 9，然后开平方", ["16 + 9", "import math\nmath.sqrt(25)"]),
        ("First calculate 10 minus 4, then multiply by 7, finally subtract 2", ["10 - 4", "6 * 7", "42 - 2"]),
    ],
)
async def test_a_step_without_left_operand_continues_from_the_previous_result(
    prompt: str, codes: list[str]
) -> None:
    conversation = await _converse(prompt)

    assert conversation.codes == codes


async def test_a_result_that_is_not_a_number_is_not_carried_over() -> None:
    user = Message("user", SEED_TWO_STEP)
    exchange = ToolExchange("call_1", "123**23", ExecResult(result="'hello'"))

    outputs = await _step(_ctx([user, exchange]))

    assert _codes(outputs) == []
    assert _answer(outputs).endswith(
        "The previous result ('hello') is not a plain number, so I could not use it in the next step."
    )


async def test_the_result_of_an_earlier_turn_can_start_a_new_one() -> None:
    history: list[TranscriptEntry] = [
        Message("user", "2^10"),
        ToolExchange("call_1", "2**10", ExecResult(result="1024")),
        Message("assistant", "2 to the power of 10 is **1024**."),
    ]

    conversation = await _converse("now divide it by 4", history)

    assert conversation.codes == ["1024 / 4"]
    assert conversation.answer == "The previous result divided by 4 is **256.0**."


async def test_round_limit_stops_the_plan_and_says_so() -> None:
    user = Message("user", "First 2+2, then times 3, then times 4")
    exchange = ToolExchange("call_1", "2 + 2", ExecResult(result="4"))

    outputs = await _step(_ctx([user, exchange], max_rounds=1))

    assert _codes(outputs) == []
    assert _answer(outputs).startswith("Result of the first run: 2 plus 2 = 4\n\n")
    assert "remaining 2 step(s) were not run" in _answer(outputs)


# --- fenced code blocks ------------------------------------------------------------------------------------

BLOCK_1 = "values = [3, 1, 2]\n\n# sort, then show\nfor v in sorted(values):\n    print(v)"
BLOCK_2 = "total = sum(values)  # 6\ntotal * 7"


async def test_fenced_blocks_run_verbatim_one_execution_each_in_order() -> None:
    prompt = f"Run this:\n```python\n{BLOCK_1}\n```\nthen this one:\n```py\n{BLOCK_2}\n```\nThanks!"

    conversation = await _converse(prompt)

    assert conversation.codes == [BLOCK_1, BLOCK_2]
    assert [r.stdout for r in conversation.results] == ["1\n2\n3\n", ""]
    assert conversation.answer == "Output of run 1:\n\n```\n1\n2\n3\n```\n\nOutput of run 2:\n\n```\n42\n```"
    assert "Its output: 1\n2\n3" in _reasoning(conversation.steps[1])


async def test_single_block_answer_in_indonesian() -> None:
    conversation = await _converse("Tolong jalankan kode ini:\n```python\nprint('halo')\n```")

    assert conversation.codes == ["print('halo')"]
    assert conversation.answer == "Kode berhasil dijalankan. Output:\n\n```\nhalo\n```"


async def test_text_arithmetic_is_ignored_when_blocks_are_present() -> None:
    outputs = await _step(_ctx([Message("user", "What is 2+2? Run:\n```python\nprint(3)\n```")]))

    assert _codes(outputs) == ["print(3)"]


# --- errors -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "answer"),
    [
        ("what is 10 / 0?", "Running `10 / 0` failed with ZeroDivisionError: division by zero."),
        ("Berapa 10 dibagi 0?", "Menjalankan `10 / 0` gagal dengan ZeroDivisionError: division by zero."),
        ("10除以0是多少？", "运行 `10 / 0` 失败：ZeroDivisionError: division by zero。"),
    ],
)
async def test_execution_error_is_reported_in_the_users_language(prompt: str, answer: str) -> None:
    conversation = await _converse(prompt)

    assert conversation.codes == ["10 / 0"]
    assert conversation.results[0].error == ExecError("ZeroDivisionError", "division by zero")
    assert conversation.answer == answer


async def test_error_in_the_first_of_two_steps_stops_without_retrying() -> None:
    user = Message("user", "First divide 1 by 0. Second, multiply the result by 3.")
    failed = ToolExchange(
        "call_1", "1 / 0", ExecResult(error=ExecError("ZeroDivisionError", "division by zero"))
    )

    outputs = await _step(_ctx([user, failed]))

    assert _codes(outputs) == []
    assert _answer(outputs) == (
        "The first run failed with ZeroDivisionError: division by zero.\n\n"
        "I stopped there, so the remaining steps were not run."
    )


async def test_interpreter_restart_is_reported() -> None:
    user = Message("user", "```python\nwhile True: pass\n```")
    reset = ToolExchange("call_1", "while True: pass", ExecResult(reset=True))

    outputs = await _step(_ctx([user, reset]))

    assert _codes(outputs) == []
    assert "The code interpreter was restarted while running the code" in _answer(outputs)


# --- no code ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "phrase"),
    [
        ("Tell me a joke", "I couldn't find a calculation or code to run"),
        ("Tolong ceritakan lelucon", "Saya tidak menemukan perhitungan atau kode"),
        ("写一首诗", "我没有在你的消息中找到可以计算的算式"),
    ],
)
async def test_unknown_request_is_answered_without_code(prompt: str, phrase: str) -> None:
    outputs = await _step(_ctx([Message("user", prompt)]))

    assert _codes(outputs) == []
    assert _answer(outputs).startswith(phrase)
    assert "```python" in _answer(outputs)  # says it can run fenced blocks
    assert _reasoning(outputs)


async def test_thinking_off_emits_no_reasoning() -> None:
    conversation = await _converse("Berapa 123 pangkat 21?", thinking=False)

    assert conversation.steps[0] == [StepCode("123**21")]
    assert all(isinstance(o, StepText) for o in conversation.steps[1])
    assert conversation.answer == f"123 pangkat 21 adalah: {SEED_123_21}"


async def test_code_interpreter_off_computes_arithmetic_without_code() -> None:
    outputs = await _step(_ctx([Message("user", SEED_TWO_STEP)], code_interpreter=False))

    assert _codes(outputs) == []
    assert f"{SEED_123_23} / 5 = 2.338016430028866e+47" in _reasoning(outputs)
    assert _answer(outputs) == (
        f"Result of step 1: 123 to the power of 23 = {SEED_123_23}\n"
        "Result of step 2: The above result divided by 5 = 2.338016430028866e+47"
    )


@pytest.mark.parametrize(
    ("prompt", "answer"),
    [
        ("Berapa 12 pangkat 3?", "12 pangkat 3 adalah: 1728"),
        ("10 / 0", "10 divided by 0 can't be computed: ZeroDivisionError: division by zero."),
        ("2^100000", "2 to the power of 100000 is too large to compute without the code interpreter."),
        ("```python\nprint(1)\n```", "The code interpreter is not enabled for this request, so I can't run"),
    ],
)
async def test_code_interpreter_off_answers(prompt: str, answer: str) -> None:
    outputs = await _step(_ctx([Message("user", prompt)], code_interpreter=False))

    assert _codes(outputs) == []
    assert _answer(outputs).startswith(answer)


@pytest.mark.parametrize(
    "prompt",
    ["3x + 2 = 11, solve for x", "Run the code interpreter twice.", "qwen3-max is cool", "```bash\nls\n```"],
)
async def test_text_that_only_looks_like_math_runs_nothing(prompt: str) -> None:
    outputs = await _step(_ctx([Message("user", prompt)]))

    assert _codes(outputs) == []


@pytest.mark.parametrize(
    "prompt",
    [
        "(" * 3000 + "1" + ")" * 3000,
        "-" * 5000 + "5",
        "2**" * 2000 + "2",
        "1+" * 5000 + "1",
        "sqrt " * 2000 + "4",
    ],
)
async def test_pathological_input_is_planned_without_crashing(prompt: str) -> None:
    for code_interpreter in (True, False):
        outputs = await _step(_ctx([Message("user", prompt)], code_interpreter=code_interpreter))

        assert outputs
        assert all(len(code) < 1000 for code in _codes(outputs))


# --- streaming, determinism, protocol ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "prompt", ["Berapa 123 pangkat 21?", SEED_TWO_STEP, "123的21次方是多少？", "Tell me a joke"]
)
async def test_same_transcript_same_output(prompt: str) -> None:
    first = await _converse(prompt)
    second = await _converse(prompt)

    assert first.steps == second.steps


async def test_reasoning_arrives_in_several_small_deltas() -> None:
    outputs = await _step(_ctx([Message("user", "Berapa 123 pangkat 21?")]))
    deltas = [o.text for o in outputs if isinstance(o, StepReasoning)]

    assert len(deltas) >= 5
    assert all(0 < len(delta) <= 40 for delta in deltas)
    assert "".join(deltas).startswith("Pengguna menanyakan 123 pangkat 21.")


@pytest.mark.parametrize(
    "text",
    [
        f"123 pangkat 21 adalah: {SEED_123_21}",
        "用户想知道123的21次方。这是一个数学计算。\n\n我来写代码。",
        "  leading and trailing  \n",
        "Output:\n\n```\n1\n2\n```",
    ],
)
def test_split_deltas_loses_nothing(text: str) -> None:
    deltas = split_deltas(text)

    assert "".join(deltas) == text
    assert len(deltas) > 1 or len(text) < 12


def test_long_numbers_stream_in_six_digit_pieces() -> None:
    deltas = split_deltas(SEED_123_21)

    assert deltas == ["772693644665498656", "530734733880300615", "22211723"]


async def test_delta_delay_pauses_between_deltas(monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: list[float] = []

    async def record(delay: float) -> None:
        pauses.append(delay)

    monkeypatch.setattr(asyncio, "sleep", record)
    outputs = await _step(_ctx([Message("user", "2^10")]), BuiltinModel([MODEL], delta_delay=0.25))

    assert pauses == [0.25] * (len(outputs) - 1)


async def test_model_protocol_and_names() -> None:
    async with BuiltinModel(["qwen3-max", MODEL]) as model:
        assert isinstance(model, Model)
        assert model.name == "builtin"
        assert model.serves(MODEL)
        assert model.serves("qwen3-max")
        assert not model.serves("gpt-4o")
