"""Variance buckets with their first owners, and rounding rule names."""

from __future__ import annotations

import re
from dataclasses import dataclass

BUCKET_OWNERS: dict[str, str] = {
    "source": "FinOps",
    "usage": "platform",
    "contract": "API integration",
    "timing": "finance operations",
    "rounding": "FinOps",
    "unknown": "incident owner",
}
BUCKETS: tuple[str, ...] = tuple(BUCKET_OWNERS)
DISPOSITIONS = ("accepted", "corrected", "escalated")
GRAIN_KEYS = ("model", "cost_center", "project", "customer", "api_key_name", "environment", "day")

_ROUNDING = re.compile(r"^(none|(row|line|day|cell)-(half-up|half-even)-(0\.0*1))$")


@dataclass(frozen=True, slots=True)
class RoundingRule:
    """`none`, or GRAIN-MODE-PLACES, e.g. `row-half-up-0.01`, `line-half-even-0.001`."""

    name: str
    grain: str  # none | row | line | day | cell
    mode: str  # half-up | half-even | ""
    places: str  # "0.01" or ""

    @classmethod
    def parse(cls, name: str) -> RoundingRule:
        m = _ROUNDING.match(name)
        if not m:
            raise ValueError(
                f"unknown rounding rule {name!r}: use 'none' or GRAIN-MODE-PLACES, e.g. "
                "row-half-up-0.01, line-half-even-0.01, day-half-up-0.001 "
                "(GRAIN: row, line, day, cell; MODE: half-up, half-even)"
            )
        if m.group(1) == "none":
            return cls("none", "none", "", "")
        grain = "line" if m.group(2) == "cell" else m.group(2)
        return cls(name, grain, m.group(3), m.group(4))

    @property
    def scale(self) -> int:
        return len(self.places.split(".")[1]) if self.places else 0
