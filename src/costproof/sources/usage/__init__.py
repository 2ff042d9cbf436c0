"""Usage adapters by format name, with auto-detection by sniffing the file's head."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from costproof.model.errors import InputError
from costproof.sources.usage import (
    focus,
    litellm_spend,
    newapi_log,
    openai_jsonl,
    otel_genai,
    usage_csv,
)

FORMATS: dict[str, ModuleType] = {
    newapi_log.NAME: newapi_log,
    openai_jsonl.NAME: openai_jsonl,
    otel_genai.NAME: otel_genai,
    litellm_spend.NAME: litellm_spend,
    focus.NAME: focus,
    usage_csv.NAME: usage_csv,
}


def detect(path: Path, label: str) -> str:
    head = Path(path).read_bytes()[:65536]
    hits = [name for name, mod in FORMATS.items() if mod.sniff(head, str(path))]
    if len(hits) == 1:
        return hits[0]
    tried = ", ".join(FORMATS)
    if not hits:
        raise InputError(f"could not recognise the usage format (tried: {tried}); pass --format", file=label)
    raise InputError(f"ambiguous usage format, could be {', '.join(hits)}; pass --format", file=label)


def get(name: str) -> ModuleType:
    try:
        return FORMATS[name]
    except KeyError:
        raise InputError(f"unknown usage format {name!r}; known: {', '.join(FORMATS)}") from None
