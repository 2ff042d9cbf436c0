"""What may enter a pack: secrets redacted, free text in identifier fields replaced by a hash."""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal

from costproof.model.sanitize import compile_patterns

# An identifier (model, cost center, line id, label) is a short name. Longer or prose-like values are
# free text that may be a prompt pasted into the wrong column: the pack keeps only their hash.
MAX_IDENT = 64
MAX_IDENT_SPACES = 3
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class Sanitizer:
    """Scrubs every string the pack writes, with the default and the workspace's secret patterns."""

    def __init__(self, extra_patterns: tuple[str, ...] = ()) -> None:
        self.pattern = compile_patterns(extra_patterns)

    def text(self, value: object) -> str:
        """Free text written by costproof or an operator: secrets redacted, control characters dropped."""
        if value is None:
            return ""
        text = _CONTROL.sub(" ", str(value))
        return self.pattern.sub("[REDACTED]", text)

    def ident(self, value: object) -> str:
        """A name: redacted like text, and replaced by its hash when it reads like free text."""
        if value is None:
            return ""
        raw = str(value)
        if len(raw) > MAX_IDENT or raw.count(" ") > MAX_IDENT_SPACES or _CONTROL.search(raw) or "\n" in raw:
            return "text-sha256:" + hashlib.sha256(raw.encode("utf-8")).hexdigest()[:12]
        return self.pattern.sub("[REDACTED]", raw)

    def found(self, data: bytes) -> bool:
        """True when bytes (decoded leniently) contain something that looks like a secret."""
        return self.pattern.search(data.decode("utf-8", "replace")) is not None


def amount(value: Decimal | int | None) -> str:
    """An exact amount for artifact CSVs: full precision, no exponent, at least 6 places."""
    if value is None:
        return ""
    d = Decimal(value)
    text = f"{d:f}"
    if "." not in text:
        text += "."
    whole, frac = text.split(".")
    frac = frac.rstrip("0").ljust(6, "0")
    if d == 0:
        whole = whole.lstrip("-") or "0"
    return f"{whole}.{frac}"
