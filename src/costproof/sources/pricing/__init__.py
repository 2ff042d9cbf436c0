"""Pricing adapters by format name, with auto-detection."""

from __future__ import annotations

from types import ModuleType

from costproof.model.errors import InputError
from costproof.sources.pricing import cometapi_models, newapi_pricing

FORMATS: dict[str, ModuleType] = {
    cometapi_models.NAME: cometapi_models,
    newapi_pricing.NAME: newapi_pricing,
}


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
