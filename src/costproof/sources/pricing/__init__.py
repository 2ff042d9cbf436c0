"""Pricing adapters by format name, with auto-detection."""

from __future__ import annotations

from types import ModuleType

from costproof.sources import registry
from costproof.sources.pricing import (
    cometapi_models,
    genai_prices,
    html_table,
    newapi_pricing,
    price_csv,
)

FORMATS: dict[str, ModuleType] = {
    cometapi_models.NAME: cometapi_models,
    newapi_pricing.NAME: newapi_pricing,
    html_table.NAME: html_table,
    price_csv.NAME: price_csv,
    # Listed for --format and capture SOURCE `genai-prices[:provider,...]`; its sniff() is
    # always False, so a user's file is never taken for the third-party catalog.
    genai_prices.NAME: genai_prices,
}

# Capture SOURCEs that name a catalog shipped inside a package rather than a file or URL,
# written `NAME` or `NAME:selector` (e.g. `genai-prices:openai,anthropic`). The adapter's
# `source_bytes(source)` gives the canonical bytes to store as evidence.
BUILTIN_SOURCES: tuple[str, ...] = (genai_prices.NAME,)


def detect(head: bytes, label: str) -> str:
    return registry.sniff(FORMATS, head, label, label, "pricing")


def get(name: str) -> ModuleType:
    return registry.lookup(FORMATS, name, "pricing")
