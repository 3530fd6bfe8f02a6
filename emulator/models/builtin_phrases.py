"""What the builtin model says, in its user's language: pure functions from facts to text.

The sentences themselves are in ``builtin_phrasebook.py``.

Modelled on the hosted model's outputs in the seed docs: the reasoning names the task, the code it will
run and, after a run, quotes the result; the answer quotes the result exactly ("123 pangkat 21 adalah:
77269364466549865653073473388030061522211723", "Result of the first run: … = …").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from emulator.models.builtin_expr import BinOp, Call, Expr, Neg, Num, Prev, render_formula
from emulator.models.builtin_phrasebook import TEMPLATES
from emulator.models.builtin_scanner import Language

_LANG_INDEX: dict[Language, int] = {"en": 0, "id": 1, "zh": 2}

_OPERATOR_WORDS: dict[str, tuple[str, str, str]] = {
    "+": ("{a} plus {b}", "{a} ditambah {b}", "{a}加{b}"),
    "-": ("{a} minus {b}", "{a} dikurangi {b}", "{a}减{b}"),
    "*": ("{a} times {b}", "{a} dikali {b}", "{a}乘以{b}"),
    "/": ("{a} divided by {b}", "{a} dibagi {b}", "{a}除以{b}"),
    "//": ("{a} floor-divided by {b}", "{a} dibagi bulat {b}", "{a}整除{b}"),
    "%": ("{a} modulo {b}", "{a} modulo {b}", "{a}除以{b}的余数"),
    "**": ("{a} to the power of {b}", "{a} pangkat {b}", "{a}的{b}次方"),
    "sqrt": ("the square root of {a}", "akar kuadrat dari {a}", "{a}的平方根"),
    "factorial": ("the factorial of {a}", "faktorial dari {a}", "{a}的阶乘"),
}
_EN_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")
_ID_ORDINALS = ("pertama", "kedua", "ketiga", "keempat", "kelima", "keenam", "ketujuh", "kedelapan")
_ZH_NUMERALS = "一二三四五六七八九十"

PrevContext = Literal["plan", "now", "answer"]


@dataclass(frozen=True, slots=True)
class RunReport:
    """One successful execution, as the answer reports it."""

    number: int  # 1-based run index in the turn
    output: str  # the result (expressions) or the logs (code blocks), exactly as the sandbox gave them
    desc: str | None = None  # what an expression step computed; None for code blocks
    images: int = 0
    truncated: bool = False


def _t(key: str, lang: Language, **values: object) -> str:
    return TEMPLATES[key][_LANG_INDEX[lang]].format(**values)


def capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def ordinal(n: int, lang: Language) -> str:
    """``first`` / ``pertama`` / ``第一`` (Chinese templates add the measure word)."""
    if lang == "en":
        if n <= len(_EN_ORDINALS):
            return _EN_ORDINALS[n - 1]
        suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
        return f"{n}{suffix}"
    if lang == "id":
        return _ID_ORDINALS[n - 1] if n <= len(_ID_ORDINALS) else f"ke-{n}"
    return f"第{_ZH_NUMERALS[n - 1]}" if n <= len(_ZH_NUMERALS) else f"第{n}"


def prev_label(lang: Language, context: PrevContext, step: int = 0) -> str:
    """How the previous result is named: in the plan ("the result of step 1"), now, or in the answer."""
    if context == "plan" and step > 0:
        return _t("prev_plan", lang, k=step)
    return _t("prev_answer" if context == "answer" else "prev_now", lang)


def describe(expr: Expr, lang: Language, prev: str) -> str:
    """``123 pangkat 21``, ``the above result divided by 5``; a formula when it is not one operation."""
    i = _LANG_INDEX[lang]
    if isinstance(expr, BinOp) and _is_operand(expr.left) and _is_operand(expr.right):
        words = _OPERATOR_WORDS[expr.op][i]
        return words.format(a=render_formula(expr.left, prev), b=render_formula(expr.right, prev))
    if isinstance(expr, Call) and _is_operand(expr.arg):
        return _OPERATOR_WORDS[expr.func][i].format(a=render_formula(expr.arg, prev))
    return render_formula(expr, prev)


def _is_operand(expr: Expr) -> bool:
    return isinstance(expr, Num | Prev) or (isinstance(expr, Neg) and isinstance(expr.operand, Num))


# --- steps that run code ---


def reason_first_expression(lang: Language, desc: str, code: str) -> str:
    return _t("reason_first", lang, desc=desc, code=code)


def reason_plan(lang: Language, descs: Sequence[str], code: str) -> str:
    items = "\n".join(_t("plan_item", lang, k=k, desc=desc) for k, desc in enumerate(descs, start=1))
    return _t("reason_plan", lang, n=len(descs), items=items, code=code)


def reason_next_expression(
    lang: Language, number: int, previous: str, desc: str, code: str, *, uses_prev: bool
) -> str:
    head = _t(
        "reason_next",
        lang,
        prev_ord=ordinal(number - 1, lang),
        prev=previous,
        ord=ordinal(number, lang),
        desc=desc,
    )
    return head + _t("reason_next_uses_prev" if uses_prev else "reason_next_independent", lang, code=code)


def reason_first_block(lang: Language, total: int) -> str:
    return _t("reason_blocks", lang, n=total) if total > 1 else _t("reason_block_single", lang)


def reason_next_block(lang: Language, number: int, previous_output: str) -> str:
    summary = _t("output_is", lang, out=previous_output) if previous_output else _t("no_output", lang)
    return _t("reason_block_next", lang, prev=number - 1, k=number, summary=summary)


# --- answers ---


def reason_results(lang: Language, reports: Sequence[RunReport]) -> str:
    if all(report.desc is not None for report in reports):
        if len(reports) == 1:
            report = reports[0]
            digits = report.output.lstrip("-")
            big = _t("big_number", lang, d=len(digits)) if digits.isdigit() and len(digits) > 15 else ""
            return _t("reason_done_single", lang, r=report.output, desc=report.desc, big=big)
        items = "\n".join(
            _t("reason_done_item", lang, k=r.number, Desc=capitalize(r.desc or ""), desc=r.desc, r=r.output)
            for r in reports
        )
        return _t("reason_done_many", lang, n=len(reports), items=items)
    if len(reports) == 1:
        output = reports[0].output
        summary = _t("output_is", lang, out=output) if output else _t("no_output", lang)
        return _t("reason_done_block", lang, summary=summary)
    return _t("reason_done_blocks", lang, n=len(reports))


def answer_results(
    lang: Language, reports: Sequence[RunReport], *, total: int | None = None, runs: bool = True
) -> str:
    """The answer quoting every result.

    ``total``: how many runs the turn planned (a single one is answered in one sentence); ``runs=False``
    labels the results as steps (computed without the code interpreter).
    """
    single = len(reports) == 1 and (total is None or total == 1)
    if single and reports[0].desc is not None:
        report = reports[0]
        return _t(
            "answer_single", lang, Desc=capitalize(report.desc or ""), desc=report.desc, r=report.output
        )
    parts: list[str] = []
    for report in reports:
        if report.desc is None:
            parts.append(_block_answer(lang, report, single=single))
            continue
        key, label = ("answer_item", ordinal(report.number, lang)) if runs else ("answer_step", "")
        desc = report.desc
        parts.append(
            _t(key, lang, ord=label, k=report.number, Desc=capitalize(desc), desc=desc, r=report.output)
        )
    separator = "\n" if all(report.desc is not None for report in reports) else "\n\n"
    return separator.join(parts)


def _block_answer(lang: Language, report: RunReport, *, single: bool) -> str:
    if single:
        text = (
            _t("answer_block", lang, out=report.output) if report.output else _t("answer_block_empty", lang)
        )
    else:
        key = "answer_block_n" if report.output else "answer_block_n_empty"
        text = _t(key, lang, k=report.number, out=report.output)
    if report.images:
        text += "\n\n" + _t("images", lang, n=report.images)
    if report.truncated:
        text += "\n\n" + _t("truncated", lang)
    return text


def failure(lang: Language, number: int, total: int, *, code: str | None, err: str, reset: bool) -> str:
    """One sentence on what failed (an error in the code, or a restarted interpreter)."""
    if reset:
        text = _t("reset_nth", lang, ord=ordinal(number, lang)) if total > 1 else _t("reset_single", lang)
        return text + (_t("reset_error", lang, err=err) if err else "")
    if total > 1:
        return _t("failed_nth", lang, ord=ordinal(number, lang), err=err)
    return _t("failed_code", lang, code=code, err=err) if code else _t("failed_single", lang, err=err)


def reason_failure(lang: Language, what: str) -> str:
    return _t("reason_failed", lang, what=what)


def stopped(lang: Language) -> str:
    return _t("stopped", lang)


def round_limit(lang: Language, max_rounds: int, left: int) -> str:
    return _t("round_limit", lang, max=max_rounds, left=left)


def unchainable(lang: Language, result: str) -> str:
    return _t("unchainable", lang, r=result)


def reason_unknown(lang: Language) -> str:
    return _t("reason_unknown", lang)


def answer_unknown(lang: Language) -> str:
    return _t("answer_unknown", lang)


# --- code interpreter off ---


def reason_local(lang: Language, lines: Sequence[str]) -> str:
    return _t("reason_local", lang, items="\n".join(lines))


def local_failed(lang: Language, desc: str, err: str) -> str:
    return _t("local_failed", lang, Desc=capitalize(desc), desc=desc, err=err)


def local_too_large(lang: Language, desc: str) -> str:
    return _t("local_too_large", lang, Desc=capitalize(desc), desc=desc)


def reason_code_needs_interpreter(lang: Language) -> str:
    return _t("reason_code_needs_interpreter", lang)


def answer_code_needs_interpreter(lang: Language) -> str:
    return _t("answer_code_needs_interpreter", lang)
