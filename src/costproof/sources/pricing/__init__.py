"""Pricing adapters by format name, with auto-detection."""

from __future__ import annotations

from types import ModuleType

from costproof.model.errors import InputError
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
    hits = [name for name, mod in FORMATS.items() if mod.sniff(head, label)]
    if len(hits) == 1:
        return hits[0]
    tried = ", ".join(FORMATS)
    if not hits:
        raise InputError(f"could not recognise the pricing format (tried: {tried}); pass --format", file=label)
    raise InputError(f"ambiguous pricing format, could be {', '.join(hits)}; pass --format", file=label)


def get(name: str) -> ModuleType:
    try:
        return FORMATS[name]
    except KeyError:
        raise InputError(f"unknown pricing format {name!r}; known: {', '.join(FORMATS)}") from None
