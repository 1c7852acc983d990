"""Percentiles and the per-row figures."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values; NaN for none."""
    if not sorted_values:
        return math.nan
    rank = max(0, min(len(sorted_values) - 1, math.ceil(fraction * len(sorted_values)) - 1))
    return sorted_values[rank]


@dataclass
class RowResult:
    name: str
    title: str
    duration: float
    ok: int = 0
    throughput: float = 0.0  # OK calls per second inside the window
    p50_ms: float = math.nan
    p95_ms: float = math.nan
    p99_ms: float = math.nan
    codes: dict[str, int] = field(default_factory=dict)
    ratio_a: float = math.nan
    ratio_b: float = math.nan
    ceiling_b: str = ""
    cpu: dict[str, float] = field(default_factory=dict)
    limit: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, name: str, title: str, duration: float, latencies: list[float], codes: Counter[str]) -> RowResult:
        ordered = sorted(latencies)
        return cls(
            name=name,
            title=title,
            duration=duration,
            ok=len(ordered),
            throughput=len(ordered) / duration if duration > 0 else 0.0,
            p50_ms=percentile(ordered, 0.50) * 1000,
            p95_ms=percentile(ordered, 0.95) * 1000,
            p99_ms=percentile(ordered, 0.99) * 1000,
            codes=dict(codes),
        )

    def as_json(self) -> dict[str, Any]:
        def clean(value: Any) -> Any:
            if isinstance(value, float):
                return None if math.isnan(value) else round(value, 3)
            if isinstance(value, dict):
                return {key: clean(item) for key, item in value.items()}
            return value

        return {key: clean(value) for key, value in self.__dict__.items()}
