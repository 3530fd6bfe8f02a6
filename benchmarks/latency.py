"""Latency summaries shared by the benchmarks (run as scripts: ``python benchmarks/<name>.py``)."""

from __future__ import annotations

import statistics


def summary(samples_ms: list[float]) -> dict[str, float]:
    """n, p50, p99, min and max of samples in milliseconds (nearest-rank p99)."""
    ordered = sorted(samples_ms)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered), 3),
        "p99_ms": round(pct(99), 3),
        "min_ms": round(ordered[0], 3),
        "max_ms": round(ordered[-1], 3),
    }
