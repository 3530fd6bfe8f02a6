"""The builtin model's lexicon and scanner: words and symbols of three languages as arithmetic tokens.

``scan`` normalizes the text (NFKC, lower case, ``12³`` -> ``12^3``) and reads, longest phrase first, numbers,
operators ("divided by", "dibagi", "除以", ``÷``), functions ("square root of", "akar", "的平方根"),
imperatives with their connectors ("divide A by B", "bagi A dengan B"), references to the previous result
("the result", "hasilnya", "结果") and noise (everything else). The parser lives in ``builtin_planner.py``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Literal

from emulator.models.builtin_expr import BinaryOp, Function

Language = Literal["en", "id", "zh"]

TokenKind = Literal["num", "prev", "op", "func", "verb", "conn", "lparen", "rparen", "noise"]


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    value: str = ""  # number literal, operator, function name, verb or connector word
    worded: bool = False  # an operator spelled as words ("divided by"), not a symbol
    prefix: bool = False  # a function written before its operand ("sqrt of 144")
    postfix: bool = False  # a function written after it ("144 squared", "144的平方根")


@dataclass(frozen=True, slots=True)
class Verb:
    """An imperative ("divide A by B"): operator, connectors that may follow A, those that swap A and B."""

    op: BinaryOp
    conns: frozenset[str]
    swap: frozenset[str] = field(default_factory=frozenset)


def _op(op: str) -> Token:
    return Token("op", op, worded=True)


def _fn(name: Function | Literal["square", "cube"], *, prefix: bool = False, postfix: bool = False) -> Token:
    return Token("func", name, prefix=prefix, postfix=postfix)


PREV = Token("prev")
PCT_OF = "pct_of"  # "15% of 80": 15 / 100 * 80

VERBS: dict[str, Verb] = {
    "divide": Verb("/", frozenset({"by"})),
    "multiply": Verb("*", frozenset({"by", "with"})),
    "add": Verb("+", frozenset({"to", "and"}), swap=frozenset({"to"})),
    "subtract": Verb("-", frozenset({"from"}), swap=frozenset({"from"})),
    "sum": Verb("+", frozenset({"and"})),
    "product": Verb("*", frozenset({"and"})),
    "difference": Verb("-", frozenset({"and"})),
    "quotient": Verb("/", frozenset({"and"})),
    "bagi": Verb("/", frozenset({"dengan"})),
    "kalikan": Verb("*", frozenset({"dengan"})),
    "tambahkan": Verb("+", frozenset({"dengan", "ke", "pada"}), swap=frozenset({"ke", "pada"})),
    "jumlahkan": Verb("+", frozenset({"dan", "dengan"})),
    "kurangi": Verb("-", frozenset({"dengan"})),
    "kurangkan": Verb("-", frozenset({"dengan", "dari"}), swap=frozenset({"dari"})),
    "pangkatkan": Verb("**", frozenset({"dengan"})),
}

_NUMBER_WORDS = {
    **dict.fromkeys(["zero", "nol"], "0"),
    **dict.fromkeys(["one", "satu"], "1"),
    **dict.fromkeys(["two", "dua"], "2"),
    **dict.fromkeys(["three", "tiga"], "3"),
    **dict.fromkeys(["four", "empat"], "4"),
    **dict.fromkeys(["five", "lima"], "5"),
    **dict.fromkeys(["six", "enam"], "6"),
    **dict.fromkeys(["seven", "tujuh"], "7"),
    **dict.fromkeys(["eight", "delapan"], "8"),
    **dict.fromkeys(["nine", "sembilan"], "9"),
    **dict.fromkeys(["ten", "sepuluh"], "10"),
}

#: words and phrases (lower case, after NFKC) -> token; ``None`` marks a filler that is skipped
_PHRASES: dict[str, Token | None] = {
    # English
    "plus": _op("+"), "minus": _op("-"), "times": _op("*"), "multiplied by": _op("*"),
    "divided by": _op("/"), "over": _op("/"), "mod": _op("%"), "modulo": _op("%"),
    "percent of": _op(PCT_OF), "power": _op("**"), "to the power of": _op("**"), "to the power": _op("**"),
    "raised to the power of": _op("**"), "raised to the power": _op("**"), "raised to": _op("**"),
    "squared": _fn("square", postfix=True), "cubed": _fn("cube", postfix=True),
    "square": _fn("square", prefix=True), "cube": _fn("cube", prefix=True),
    "square root": _fn("sqrt", prefix=True), "sqrt": _fn("sqrt", prefix=True),
    "factorial": _fn("factorial", prefix=True, postfix=True),
    "result": PREV, "previous result": PREV, "last result": PREV, "it": PREV, "that": PREV,
    "sum of": Token("verb", "sum"), "product of": Token("verb", "product"),
    "difference between": Token("verb", "difference"), "difference of": Token("verb", "difference"),
    "quotient of": Token("verb", "quotient"),
    "the": None, "a": None, "an": None, "raise": None,
    # Indonesian
    "tambah": _op("+"), "ditambah": _op("+"), "ditambah dengan": _op("+"), "kurang": _op("-"),
    "dikurangi": _op("-"), "dikurang": _op("-"), "dikurangi dengan": _op("-"), "kali": _op("*"),
    "dikali": _op("*"), "dikalikan": _op("*"), "dikali dengan": _op("*"), "dikalikan dengan": _op("*"),
    "dibagi": _op("/"), "dibagi dengan": _op("/"), "pangkat": _op("**"), "dipangkatkan": _op("**"),
    "dipangkatkan dengan": _op("**"), "berpangkat": _op("**"), "persen dari": _op(PCT_OF),
    "kuadrat": _fn("square", postfix=True), "kuadratkan": _fn("square", prefix=True),
    "kubik": _fn("cube", postfix=True), "akar": _fn("sqrt", prefix=True),
    "akar kuadrat": _fn("sqrt", prefix=True), "faktorial": _fn("factorial", prefix=True, postfix=True),
    "hasilnya": PREV, "hasil tersebut": PREV, "hasil itu": PREV, "hasil sebelumnya": PREV,
    "hasil di atas": PREV, "bagilah": Token("verb", "bagi"), "kalikanlah": Token("verb", "kalikan"),
    # Chinese
    "加上": _op("+"), "加": _op("+"), "减去": _op("-"), "减": _op("-"), "乘以": _op("*"), "乘": _op("*"),
    "除以": _op("/"), "模": _op("%"), "的平方根": _fn("sqrt", postfix=True),
    "平方根": _fn("sqrt", prefix=True, postfix=True), "开平方": _fn("sqrt", prefix=True),
    "开方": _fn("sqrt", prefix=True), "根号": _fn("sqrt", prefix=True),
    "的平方": _fn("square", postfix=True), "平方": _fn("square", postfix=True),
    "的立方": _fn("cube", postfix=True), "立方": _fn("cube", postfix=True),
    "的阶乘": _fn("factorial", postfix=True), "阶乘": _fn("factorial", prefix=True, postfix=True),
    "结果": PREV, "上一步的结果": PREV, "上面的结果": PREV, "前面的结果": PREV, "这个结果": PREV,
    "该结果": PREV, "它": PREV, "将": None, "把": None, "用": None, "再": None, "的": None,
}  # fmt: skip
for _word in VERBS:
    _PHRASES.setdefault(_word, Token("verb", _word))
for _word in ("by", "to", "from", "and", "with", "of", "dengan", "ke", "dari", "dan", "pada"):
    _PHRASES.setdefault(_word, Token("conn", _word))
for _word, _digits in _NUMBER_WORDS.items():
    _PHRASES[_word] = Token("num", _digits)

_BY_FIRST_CHAR: dict[str, list[str]] = {}
for _phrase in sorted(_PHRASES, key=lambda p: (-len(p), p)):
    _BY_FIRST_CHAR.setdefault(_phrase[0], []).append(_phrase)

_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")
_SUPERSCRIPT_RUN = re.compile(r"[⁰¹²³⁴⁵⁶⁷⁸⁹]+")
_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:e[+-]?\d+)?")
_NUMBER_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+(?!\d)(?:\.\d+)?")  # 1,000,000 (en, zh)
_NUMBER_DECIMAL_COMMA = re.compile(r"\d+,\d+")  # 2,5 (id)
_ZH_POWER = re.compile(r"的 ?(\d+(?:\.\d+)?) ?次[方幂]")  # 123的21次方
_EN_NTH_POWER = re.compile(r"to the (\d+)(?:st|nd|rd|th) power\b")  # 2 to the 10th power
_TIMES_OPERAND = re.compile(r" ?[\d(]")
_PERCENT_OF = re.compile(r"% ?(?:of|dari)\b")
_LATIN_WORD = re.compile(r"[a-z\u00c0-\u024f][a-z0-9\u00c0-\u024f_]*(?:'[a-z]+)?")
_SYMBOLS = {"**": "**", "//": "//", "+": "+", "-": "-", "−": "-", "*": "*", "×": "*", "·": "*", "/": "/"}
_SYMBOLS |= {"÷": "/", "^": "**", "%": "%"}
_OPERAND_END = frozenset({"num", "rparen", "prev"})


def _normalize(text: str) -> str:
    text = _SUPERSCRIPT_RUN.sub(lambda m: "^" + m.group().translate(_SUPERSCRIPTS), text)  # 12³ -> 12^3
    text = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"\s+", " ", text)


def _is_word_char(ch: str) -> bool:
    return (ch.isalnum() and ch.isascii()) or "\u00c0" <= ch <= "\u024f"


def _match_phrase(s: str, p: int) -> tuple[str, Token | None] | None:
    for phrase in _BY_FIRST_CHAR.get(s[p], ()):
        end = p + len(phrase)
        if s.startswith(phrase, p) and not (
            _is_word_char(phrase[-1]) and end < len(s) and _is_word_char(s[end])
        ):
            return phrase, _PHRASES[phrase]
    return None


def scan(text: str, language: Language) -> list[Token]:
    """Tokens of ``text``: numbers, operators, functions, references to the previous result, noise."""
    s = _normalize(text)
    tokens: list[Token] = []
    p = 0
    while p < len(s):
        ch = s[p]
        previous = tokens[-1].kind if tokens else "noise"
        if ch == " ":
            p += 1
            continue
        special = _ZH_POWER.match(s, p) or _EN_NTH_POWER.match(s, p)
        if special:
            tokens += [_op("**"), Token("num", _number_text(special.group(1)))]
            p = special.end()
            continue
        if ch == "%" and (match := _PERCENT_OF.match(s, p)):
            tokens.append(_op(PCT_OF))
            p = match.end()
            continue
        phrase = _match_phrase(s, p)
        if phrase is not None:
            if phrase[1] is not None:
                tokens.append(phrase[1])
            p += len(phrase[0])
            continue
        number = (_NUMBER_DECIMAL_COMMA if language == "id" else _NUMBER_THOUSANDS).match(
            s, p
        ) or _NUMBER.match(s, p)
        if number:
            tokens.append(
                Token("num", _number_text(number.group().replace(",", "." if language == "id" else "")))
            )
            p = number.end()
            continue
        symbol = s[p : p + 2] if s[p : p + 2] in _SYMBOLS else ch if ch in _SYMBOLS else None
        if symbol is not None:
            tokens.append(Token("op", _SYMBOLS[symbol]))
            p += len(symbol)
            continue
        if ch in "()":
            tokens.append(Token("lparen" if ch == "(" else "rparen"))
        elif ch == "!" and previous in _OPERAND_END and s[p + 1 : p + 2] != "=":
            tokens.append(_fn("factorial", postfix=True))
        elif ch == "√":
            tokens.append(_fn("sqrt", prefix=True))
        elif ch == "x" and previous in _OPERAND_END and _TIMES_OPERAND.match(s, p + 1):
            tokens.append(Token("op", "*"))  # 5 x 6, but not 3x + 2
        elif word := _LATIN_WORD.match(s, p):
            tokens.append(Token("noise", word.group()))
            p = word.end()
            continue
        else:
            tokens.append(Token("noise", ch))
        p += 1
    return tokens


def _number_text(text: str) -> str:
    if text.isdigit():
        return text.lstrip("0") or "0"  # 007 is not a Python literal
    return text
