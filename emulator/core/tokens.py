"""A deterministic, approximate token counter.

Real tokenizers are model-specific and heavy; clients only need counts that are plausible, stable, and add
up. One token per word piece of at most four characters, one per punctuation mark, one per CJK character.
"""

from __future__ import annotations

import re

_PIECE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]|[A-Za-z0-9_]+|[^\sA-Za-z0-9_]")

#: what every inference pays for the system prompt and tool definitions (constant, like the hosted service's)
PROMPT_OVERHEAD_TOKENS = 240


def count_tokens(text: str) -> int:
    """Approximate token count of ``text``; same input, same number."""
    total = 0
    for piece in _PIECE.findall(text):
        total += (len(piece) + 3) // 4 if piece[0].isascii() and piece[0].isalnum() else 1
    return total
