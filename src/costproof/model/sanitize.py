"""Secrets never reach the workspace: detect key-like strings, hash key names, scrub text."""

from __future__ import annotations

import hashlib
import re

SECRET_PATTERNS: tuple[str, ...] = (
    r"sk-[A-Za-z0-9_\-]{6,}",
    r"(?i:bearer)\s+[A-Za-z0-9._\-~+/=]{6,}",
    r"\b(?i:api[_-]?key|token|secret|password)\s*[:=]\s*\S{6,}",
    r"\bAKIA[0-9A-Z]{16}\b",
    r"\bgh[pousr]_[A-Za-z0-9]{20,}\b",
    r"\beyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{5,}",
)
_DEFAULT = re.compile("|".join(f"(?:{p})" for p in SECRET_PATTERNS))


def compile_patterns(extra: tuple[str, ...] | list[str] = ()) -> re.Pattern[str]:
    if not extra:
        return _DEFAULT
    return re.compile("|".join(f"(?:{p})" for p in (*SECRET_PATTERNS, *extra)))


def looks_secret(text: str | None, pattern: re.Pattern[str] = _DEFAULT) -> bool:
    return bool(text) and pattern.search(text) is not None  # type: ignore[arg-type]


def key_hash(text: str) -> str:
    return "keyhash:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def safe_name(text: str | None, pattern: re.Pattern[str] = _DEFAULT) -> str | None:
    """A key name as stored: kept when it is a plain name, hashed when it looks like a key."""
    if text is None or text == "":
        return text
    return key_hash(text) if looks_secret(text, pattern) else text


def redact(text: str, pattern: re.Pattern[str] = _DEFAULT) -> str:
    return pattern.sub("[REDACTED]", text)
