"""Whether a model thinks when the request does not say (``enable_thinking`` absent).

The hosted qwen3-max models default to thinking off (the seed's examples always send
``enable_thinking: true``); the hybrid qwen3.5 family defaults to on.
"""

from __future__ import annotations


def thinking_default(model: str) -> bool:
    return model.startswith("qwen3.5")
