"""The builtin model's planner: from a user message to the executions it will ask for.

Pure functions, no I/O. ``plan_request`` detects the language, takes fenced Python blocks verbatim (one
execution each) or else finds the arithmetic in the text, one execution per expression: ``builtin_scanner``
turns words and symbols into tokens, and the precedence-climbing parser here turns tokens into
``builtin_expr`` trees, skipping whatever is not arithmetic. What is understood is listed in
``emulator/models/builtin.py``'s docstring; keep the two in step.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias, cast

from emulator.models.builtin_expr import (
    BinaryOp,
    BinOp,
    Call,
    Expr,
    Neg,
    Num,
    Prev,
    is_computation,
    operator_count,
)
from emulator.models.builtin_scanner import PCT_OF, PREV, VERBS, Language, Token, Verb, scan


@dataclass(frozen=True, slots=True)
class ExpressionStep:
    """Compute one arithmetic expression (rendered to code when its turn comes)."""

    expr: Expr


@dataclass(frozen=True, slots=True)
class CodeBlockStep:
    """Run one fenced code block of the user message exactly as written."""

    code: str
    number: int  # 1-based position among the message's blocks


PlannedStep: TypeAlias = ExpressionStep | CodeBlockStep


@dataclass(frozen=True, slots=True)
class Plan:
    language: Language
    steps: tuple[PlannedStep, ...]


def plan_request(text: str, *, has_prior_result: bool = False) -> Plan:
    """The executions a user message asks for, in order.

    ``has_prior_result``: an earlier turn left a numeric result, so "the result" in the first step may
    refer to it.
    """
    prose = _FENCE.sub(" ", text)
    language = detect_language(prose)
    blocks = extract_code_blocks(text)
    if blocks:
        return Plan(language, tuple(CodeBlockStep(code, n) for n, code in enumerate(blocks, start=1)))
    exprs = parse_expressions(prose, language, prev_at_start=has_prior_result)
    return Plan(language, tuple(ExpressionStep(expr) for expr in exprs))


# --- language ---

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_INDONESIAN = re.compile(
    r"\b(?:berapa|berapakah|pangkat|dipangkatkan|hitung|hitunglah|hasil|hasilnya|dibagi|bagi|kali|dikali|"
    r"dikalikan|kalikan|akar|kuadrat|tambah|ditambah|tambahkan|kurang|dikurangi|kurangi|faktorial|adalah|"
    r"jalankan|kode|tolong|pertama|kedua|ketiga|lalu|kemudian|dengan|dan|yang|dari|nilai|berikut|"
    r"jumlah|apa|saya|tidak|bisa)\b",
    re.IGNORECASE,
)


def detect_language(text: str) -> Language:
    """Chinese if any CJK character, Indonesian if an Indonesian keyword, else English."""
    if _CJK.search(text):
        return "zh"
    if _INDONESIAN.search(text):
        return "id"
    return "en"


# --- fenced code blocks ---

# the opening fence may follow text on its line ("Run this: ```python"); the closing one starts a line
_FENCE = re.compile(
    r"```[ \t]*(?P<lang>[A-Za-z0-9_+.-]*)[^\n`]*\n(?P<body>.*?)^[ \t]*```(?!`)",
    re.MULTILINE | re.DOTALL,
)
_PYTHON_FENCES = frozenset({"", "python", "py", "python3", "ipython", "ipython3"})


def extract_code_blocks(text: str) -> list[str]:
    """The bodies of the ```` ```python ```` (or ``py``, or untagged) fenced blocks, verbatim, in order."""
    blocks: list[str] = []
    for match in _FENCE.finditer(text):
        if match.group("lang").lower() not in _PYTHON_FENCES:
            continue
        body = match.group("body")
        body = body[:-1] if body.endswith("\n") else body  # the newline before the closing fence
        body = body[:-1] if body.endswith("\r") else body
        if body.strip():
            blocks.append(body)
    return blocks


# --- parsing ---

_ADDITIVE = frozenset({"+", "-"})
_MULTIPLICATIVE = frozenset({"*", "/", "//", "%", PCT_OF})
_MAX_DEPTH = 40
_MAX_OPERATORS = 60
#: only the start of a long message is searched for arithmetic
MAX_PROSE_CHARS = 20_000
_Rule: TypeAlias = Callable[[], "Expr | None"]


def parse_expressions(text: str, language: Language, *, prev_at_start: bool = False) -> list[Expr]:
    """Every arithmetic expression in ``text``, left to right; "the result" refers to the one before."""
    tokens = scan(text[:MAX_PROSE_CHARS], language)
    found: list[Expr] = []
    i = 0
    while i < len(tokens):
        parsed = _parse_at(tokens, i, prev_at_start or bool(found))
        if parsed is None:
            i += 1
            continue
        expr, end = parsed
        if is_computation(expr) and operator_count(expr) <= _MAX_OPERATORS:
            found.append(expr)
        i = max(end, i + 1)  # what was parsed holds no other expression: skip it whole (linear time)
    return found


def _parse_at(tokens: list[Token], i: int, prev_ok: bool) -> tuple[Expr, int] | None:
    token = tokens[i]
    # "然后除以5", "lalu dikali 3": a step that starts with an operator continues from the previous result
    if prev_ok and token.kind == "op" and (token.worded or token.value not in _ADDITIVE):
        parser = _Parser(tokens, i, prev_ok, prev_first=True)
        expr = parser.expression()
        if expr is not None and parser.pos > i:
            return expr, parser.pos
    parser = _Parser(tokens, i, prev_ok)
    expr = parser.expression()
    return (expr, parser.pos) if expr is not None else None


class _Parser:
    """Precedence climbing over tokens; every method restores ``pos`` when it fails (returns ``None``).

    ``prev_first`` reads a virtual "previous result" token just before ``start``.
    """

    def __init__(self, tokens: list[Token], start: int, prev_ok: bool, *, prev_first: bool = False) -> None:
        self.tokens = tokens
        self.virtual = start - 1 if prev_first else None
        self.pos = start - 1 if prev_first else start
        self.prev_ok = prev_ok
        self.depth = 0

    def _peek(self) -> Token | None:
        if self.pos == self.virtual:
            return PREV
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _peek_op(self, ops: frozenset[str]) -> str | None:
        token = self._peek()
        return token.value if token is not None and token.kind == "op" and token.value in ops else None

    def expression(self) -> Expr | None:
        return self._binary_level(_ADDITIVE, self.term)

    def term(self) -> Expr | None:
        return self._binary_level(_MULTIPLICATIVE, self.unary)

    def _binary_level(self, ops: frozenset[str], operand: _Rule) -> Expr | None:
        left = operand()
        while left is not None and (op := self._peek_op(ops)) is not None:
            start = self.pos
            self.pos += 1
            right = operand()
            if right is None:
                self.pos = start  # "5 * 6 / ?": keep 5 * 6
                break
            if op == PCT_OF:
                left = BinOp("*", BinOp("/", left, Num("100")), right)
            else:
                left = BinOp(cast(BinaryOp, op), left, right)
        return left

    def unary(self) -> Expr | None:
        if self._peek_op(_ADDITIVE) is None:
            return self.power()
        start = self.pos
        sign = self._peek()
        self.pos += 1
        self.depth += 1
        operand = self.unary() if self.depth < _MAX_DEPTH else None
        self.depth -= 1
        if operand is None or sign is None:
            self.pos = start
            return None
        return Neg(operand) if sign.value == "-" else operand

    def power(self) -> Expr | None:
        # every recursion (parentheses, exponents, functions, verbs) passes here: bound the nesting
        if self.depth >= _MAX_DEPTH:
            return None
        self.depth += 1
        try:
            return self._power()
        finally:
            self.depth -= 1

    def _power(self) -> Expr | None:
        base = self.postfix()
        if base is not None and self._peek_op(frozenset({"**"})):
            start = self.pos
            self.pos += 1
            exponent = self.unary()  # right-associative: 2**3**2, and 2**-1
            if exponent is None:
                self.pos = start
                return base
            return BinOp("**", base, exponent)
        return base

    def postfix(self) -> Expr | None:
        expr = self.primary()
        while (
            expr is not None
            and (token := self._peek()) is not None
            and token.kind == "func"
            and token.postfix
        ):
            self.pos += 1
            expr = _apply_function(token.value, expr)
        return expr

    def primary(self) -> Expr | None:
        token = self._peek()
        if token is None:
            return None
        start = self.pos
        self.pos += 1
        if token.kind == "num":
            return Num(token.value)
        if token.kind == "prev" and self.prev_ok:
            return Prev()
        if token.kind == "lparen":
            inner = self.expression()
            closing = self._peek()
            if inner is not None and closing is not None and closing.kind == "rparen":
                self.pos += 1
                return inner
        if token.kind == "func":
            expr = self._function(token)
            if expr is not None:
                return expr
        if token.kind == "verb":
            expr = self._verb(VERBS[token.value])
            if expr is not None:
                return expr
        self.pos = start
        return None

    def _function(self, token: Token) -> Expr | None:
        """``sqrt of 144``, ``akar 144``, ``根号144``; no operand means the previous result ("square it")."""
        if token.prefix:
            after = self.pos
            conn = self._peek()
            if conn is not None and conn.kind == "conn" and conn.value in ("of", "dari"):
                self.pos += 1
            operand = self.power()
            if operand is not None:
                return _apply_function(token.value, operand)
            self.pos = after
        return _apply_function(token.value, Prev()) if self.prev_ok else None

    def _verb(self, verb: Verb) -> Expr | None:
        """``divide A by B``, ``add A to B``, ``bagi hasilnya dengan 5``; a missing A is the last result."""
        first = self.expression()
        conn = self._peek()
        if conn is not None and conn.kind == "conn" and conn.value in verb.conns:
            self.pos += 1
            second = self.expression()
            if second is None:
                return None
            if first is None:
                if not self.prev_ok:
                    return None
                first = Prev()
            left, right = (second, first) if conn.value in verb.swap else (first, second)
            return BinOp(verb.op, left, right)
        if first is None or not self.prev_ok:
            return None
        return BinOp(verb.op, Prev(), first)  # "then add 5"


def _apply_function(name: str, operand: Expr) -> Expr:
    if name == "square":
        return BinOp("**", operand, Num("2"))
    if name == "cube":
        return BinOp("**", operand, Num("3"))
    return Call("sqrt" if name == "sqrt" else "factorial", operand)
