"""Usage adapters by format name, with auto-detection by sniffing the file's head."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from costproof.sources import registry
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
    return registry.sniff(FORMATS, registry.head(path), str(path), label, "usage")


def get(name: str) -> ModuleType:
    return registry.lookup(FORMATS, name, "usage")
