"""Arithmetic expressions of the builtin model: the tree, its Python code, and a bounded local evaluator.

The planner (``builtin_planner.py``) parses a request into these nodes; the model renders them as the code
it asks the sandbox to run. ``Prev`` stands for the previous execution's result and is rendered as that
result's literal text, so a dependent step really uses what the first one returned (like the hosted model,
which pastes ``1169008215014432917465348578887506800769541157267 / 5`` into its second run).

``evaluate`` only serves requests made with the code interpreter off: it walks the tree (never ``eval``)
with limits on the size of powers, products and factorials.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import Literal, TypeAlias

BinaryOp = Literal["+", "-", "*", "/", "//", "%", "**"]
Function = Literal["sqrt", "factorial"]
Number: TypeAlias = int | float | complex


@dataclass(frozen=True, slots=True)
class Num:
    """A number as a Python literal (``"123"``, ``"2.5"``)."""

    text: str


@dataclass(frozen=True, slots=True)
class Prev:
    """The result of the previous execution."""


@dataclass(frozen=True, slots=True)
class BinOp:
    op: BinaryOp
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Neg:
    operand: Expr


@dataclass(frozen=True, slots=True)
class Call:
    func: Function
    arg: Expr


Expr: TypeAlias = Num | Prev | BinOp | Neg | Call

# Python's precedence: + - < * / // % < unary minus < ** < atoms
_PRECEDENCE: dict[str, int] = {"+": 1, "-": 1, "*": 2, "/": 2, "//": 2, "%": 2, "**": 4}
_UNARY = 3
_ATOM = 5

#: local evaluation refuses results above this size (Python will not print ints over 4300 digits)
MAX_LOCAL_BITS = 13_000
MAX_LOCAL_FACTORIAL = 1_000


class TooLargeToEvaluate(Exception):
    """The local evaluator would produce a number too large to compute or print safely."""


def uses_prev(expr: Expr) -> bool:
    return any(isinstance(node, Prev) for node in _walk(expr))


def is_computation(expr: Expr) -> bool:
    """Whether the expression computes something (an operator or function, not just a number)."""
    return any(isinstance(node, BinOp | Call) for node in _walk(expr))


def operator_count(expr: Expr) -> int:
    return sum(1 for node in _walk(expr) if isinstance(node, BinOp | Call | Neg))


def _walk(expr: Expr) -> list[Expr]:
    nodes: list[Expr] = []
    stack: list[Expr] = [expr]
    while stack:
        node = stack.pop()
        nodes.append(node)
        if isinstance(node, BinOp):
            stack.extend((node.left, node.right))
        elif isinstance(node, Neg):
            stack.append(node.operand)
        elif isinstance(node, Call):
            stack.append(node.arg)
    return nodes


# --- rendering ---


def render_code(expr: Expr, prev: str | None = None) -> str:
    """The Python code that computes ``expr``; ``prev`` is the literal that replaces ``Prev``."""
    prev_text = _prev_operand(prev) if uses_prev(expr) else ""
    body = _render(expr, prev_text=prev_text, func_prefix="math.")
    if any(isinstance(node, Call) for node in _walk(expr)):
        return "import math\n" + body
    return body


def render_formula(expr: Expr, prev_label: str) -> str:
    """A readable one-line formula (``(3 + 4) * 5``, ``sqrt(144)``), ``Prev`` shown as ``prev_label``."""
    return _render(expr, prev_text=prev_label, func_prefix="")


def _prev_operand(prev: str | None) -> str:
    if prev is None:
        raise ValueError("the expression uses the previous result, but there is none")
    try:
        node = ast.parse(prev, mode="eval").body
    except SyntaxError as exc:
        raise ValueError(f"not a Python literal: {prev!r}") from exc
    if isinstance(node, ast.Constant) or (prev.startswith("(") and prev.endswith(")")):
        return prev
    return f"({prev})"  # -5 or 1+2j: keep it one operand (``(-5)**2``)


def _precedence(expr: Expr) -> int:
    if isinstance(expr, BinOp):
        return _PRECEDENCE[expr.op]
    if isinstance(expr, Neg):
        return _UNARY
    return _ATOM


def _render(expr: Expr, *, prev_text: str, func_prefix: str) -> str:
    if isinstance(expr, Num):
        return expr.text
    if isinstance(expr, Prev):
        return prev_text
    if isinstance(expr, Call):
        return f"{func_prefix}{expr.func}({_render(expr.arg, prev_text=prev_text, func_prefix=func_prefix)})"
    if isinstance(expr, Neg):
        inner = _render(expr.operand, prev_text=prev_text, func_prefix=func_prefix)
        return f"-({inner})" if _precedence(expr.operand) < _UNARY else f"-{inner}"
    own = _PRECEDENCE[expr.op]
    left = _render(expr.left, prev_text=prev_text, func_prefix=func_prefix)
    right = _render(expr.right, prev_text=prev_text, func_prefix=func_prefix)
    right_assoc = expr.op == "**"
    if _precedence(expr.left) < own or (right_assoc and _precedence(expr.left) == own):
        left = f"({left})"
    if _precedence(expr.right) < own or (not right_assoc and _precedence(expr.right) == own):
        right = f"({right})"
    # the hosted model writes powers tight (``123**21``) and other operators spaced (``x / 5``)
    return f"{left}**{right}" if right_assoc else f"{left} {expr.op} {right}"


# --- results as literals ---


def number_literal(text: str) -> str | None:
    """``text`` if it is the repr of a finite number (what a later step can paste into its code)."""
    text = text.strip()
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | complex):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return text


# --- local evaluation (code interpreter off) ---


def evaluate(expr: Expr, prev: Number | None = None) -> Number:
    """The value of ``expr``, computed without running code.

    Raises what Python would (``ZeroDivisionError``, ``ValueError``, ``OverflowError``, ``TypeError``) and
    ``TooLargeToEvaluate`` past the size limits.
    """
    if isinstance(expr, Num):
        return _parse_number(expr.text)
    if isinstance(expr, Prev):
        if prev is None:
            raise ValueError("there is no previous result")
        return prev
    if isinstance(expr, Neg):
        return -evaluate(expr.operand, prev)
    if isinstance(expr, Call):
        return _call(expr.func, evaluate(expr.arg, prev))
    return _apply(expr.op, evaluate(expr.left, prev), evaluate(expr.right, prev))


def _parse_number(text: str) -> Number:
    if not text.isdigit():
        return float(text)
    try:
        return int(text)
    except ValueError as exc:  # over Python's limit for int-from-string conversion
        raise TooLargeToEvaluate(text[:20]) from exc


def _bits(value: Number) -> int:
    return abs(value).bit_length() if isinstance(value, int) else 0


def _apply(op: BinaryOp, left: Number, right: Number) -> Number:
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        if _bits(left) + _bits(right) > MAX_LOCAL_BITS:
            raise TooLargeToEvaluate(op)
        return left * right
    if op == "/":
        return left / right
    if isinstance(left, complex) or isinstance(right, complex):
        if op == "**":
            return left**right
        raise TypeError(f"unsupported operand type(s) for {op}: 'complex'")
    if op == "//":
        return left // right
    if op == "%":
        return left % right
    big_int_power = isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1
    if big_int_power and right * math.log2(abs(left)) > MAX_LOCAL_BITS:
        raise TooLargeToEvaluate(op)
    result: Number = left**right
    return result


def _call(func: Function, value: Number) -> Number:
    if func == "sqrt":
        if isinstance(value, complex):
            raise TypeError("must be real number, not complex")
        return math.sqrt(value)
    if isinstance(value, bool) or not isinstance(value, int):
        # Python 3.12 refuses floats here; earlier versions only warn
        raise TypeError(f"'{type(value).__name__}' object cannot be interpreted as an integer")
    if value > MAX_LOCAL_FACTORIAL:
        raise TooLargeToEvaluate(func)
    return math.factorial(value)
