"""Workspace settings in costproof.toml, with defaults for everything."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

TEMPLATE = """\
# costproof workspace settings. Every key is optional; defaults shown.
[reconcile]
# a statement line within this amount of the currency is matched
tolerance = "0.01"
# rounding rule: none, or GRAIN-MODE-PLACES (row-half-up-0.01, line-half-even-0.01, day-half-up-0.01)
rounding = "none"
# environments whose usage is imported and counted but excluded from expected cost
exclude_environments = ["test"]
# a failed attempt followed within this many seconds by a row of the same key, model and
# is_stream is the same request (a retry)
retry_window_s = 60

[sanitize]
# extra regular expressions treated as secrets (hashed in key names, rejected in review logs)
secret_patterns = []
"""


@dataclass(frozen=True)
class Settings:
    tolerance: Decimal = Decimal("0.01")
    rounding: str = "none"
    exclude_environments: tuple[str, ...] = ("test",)
    retry_window_s: int = 60
    secret_patterns: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def load(cls, path: Path) -> Settings:
        if not path.exists():
            return cls()
        try:
            doc = tomllib.loads(path.read_text("utf-8"))
        except tomllib.TOMLDecodeError as exc:
            from costproof.model.errors import InputError

            raise InputError(f"invalid TOML: {exc}", file=str(path)) from None
        rec = doc.get("reconcile", {})
        san = doc.get("sanitize", {})
        return cls(
            tolerance=Decimal(str(rec.get("tolerance", "0.01"))),
            rounding=str(rec.get("rounding", "none")),
            exclude_environments=tuple(rec.get("exclude_environments", ["test"])),
            retry_window_s=int(rec.get("retry_window_s", 60)),
            secret_patterns=tuple(san.get("secret_patterns", [])),
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "tolerance": str(self.tolerance),
            "rounding": self.rounding,
            "exclude_environments": list(self.exclude_environments),
            "retry_window_s": self.retry_window_s,
            "secret_patterns": len(self.secret_patterns),
        }
