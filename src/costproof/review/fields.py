"""Free-text field checks shared by the review records: no secrets, no prompts or responses, bounded length."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from costproof.model.errors import InputError
from costproof.model.sanitize import compile_patterns, looks_secret

MAX_TEXT = 500
MAX_SHORT = 200
# Markers of a chat transcript or an API payload: a review record describes what was checked, never what was said.
_PROMPT = re.compile(
    r"(?im)(^\s*(system|assistant|user|human|developer|tool)\s*:)"
    r"|(\"role\"\s*:\s*\"(system|user|assistant|developer|tool)\")"
    r"|(<\|im_(start|end)\|>)|(\[/?INST\])|(<</?SYS>>)"
    r"|(\"(messages|choices|prompt|completion)\"\s*:\s*[\[{\"])"
)


def check_text(field: str, value: str | None, *, pattern: re.Pattern[str] | None = None,
               max_len: int = MAX_TEXT, required: bool = False) -> str:
    """The value stripped, or InputError naming the field (the value itself is never echoed)."""
    text = (value or "").strip()
    if required and not text:
        raise InputError("is required and may not be empty", field=field)
    if not text:
        return ""
    if looks_secret(text, pattern or compile_patterns()):
        raise InputError("looks like a secret (an API key, token or password); record where it is kept, "
                         "never the value", field=field)
    if _PROMPT.search(text):
        raise InputError("looks like a prompt, a response or an API payload (role markers or message "
                         "fields); review records hold what was checked, never what was said", field=field)
    if len(text) > max_len:
        raise InputError(f"is {len(text)} characters; at most {max_len} (long free text looks like a prompt "
                         "or a response; link to it instead)", field=field)
    if any(ord(c) < 32 and c not in "\t\n" for c in text):
        raise InputError("contains control characters", field=field)
    return text


def check_url(field: str, value: str | None, *, pattern: re.Pattern[str] | None = None,
              required: bool = False) -> str:
    """An http(s) URL without credentials in it."""
    text = check_text(field, value, pattern=pattern, max_len=MAX_SHORT * 5, required=required)
    if not text:
        return ""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError("must be an http(s) URL", field=field)
    if parts.username or parts.password:
        raise InputError("must not carry user:password@ credentials", field=field)
    return text
