"""Whether a model thinks when the request does not say (``enable_thinking`` absent).

The hosted qwen3-max models default to thinking off (the seed's examples always send
``enable_thinking: true``); the hybrid qwen3.5 family defaults to on.
"""

from __future__ import annotations


def thinking_enabled(model: str, requested: bool | None) -> bool:
    """``enable_thinking`` as the request sent it, else the model's default."""
    return requested if requested is not None else model.startswith("qwen3.5")
