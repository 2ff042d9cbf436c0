"""CometAPI public model list (`GET /api/models`): per-1M-token and per-request/second prices."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from costproof.model.errors import InputError
from costproof.model.pricing import PriceRule, PricingParse
from costproof.sources.pricing.common import load_json, price

NAME = "cometapi-models"
VERSION = "cometapi-models/1"
# pricing key -> (meter, per_quantity in the unit the currency string names)
TOKEN_KEYS = {
    "input": "input_tokens",
    "output": "output_tokens",
    "cached_input": "cached_input_tokens",
    "cache_read": "cached_input_tokens",
    "cache_write": "cache_write_tokens",
    "audio_input": "audio_input_tokens",
    "audio_output": "audio_output_tokens",
}
FLAT_KEYS = {
    "per_request": ("requests", 1),
    "per_second": ("seconds", 1),
    "per_image": ("images", 1),
}
_UNIT = re.compile(r"^\s*([A-Za-z]{3})\s*/\s*(1?\s*(M|K|k)?)\s*tokens?\s*$", re.I)


def sniff(head: bytes, name: str) -> bool:
    text = head[:16384].decode("utf-8", "replace")
    return (
        '"pricing"' in text
        and '"data"' in text
        and ("Tokens" in text or "tokens" in text)
        and "model_ratio" not in text
    )


def page_info(data: bytes) -> tuple[int, int, int] | None:
    """(page, page_size, total) when the document is one page of a paginated listing."""
    try:
        doc = load_json(data, "page")
    except InputError:
        return None
    if not isinstance(doc, dict) or "total" not in doc:
        return None
    try:
        return (
            int(doc.get("page") or 1),
            int(doc.get("page_size") or len(doc.get("data") or [])),
            int(doc["total"]),
        )
    except (TypeError, ValueError):
        return None


def parse(pages: list[bytes], label: str) -> PricingParse:
    out = PricingParse(format=NAME, parser_version=VERSION)
    seen: set[str] = set()
    for page_no, data in enumerate(pages, start=1):
        doc = load_json(data, label)
        items = doc.get("data") if isinstance(doc, dict) else doc
        if not isinstance(items, list):
            raise InputError("expected {data: [...]} with one entry per model", file=label, field="data")
        for index, item in enumerate(items):
            ref = f"page {page_no} data[{index}]" if len(pages) > 1 else f"data[{index}]"
            _model(item, ref, label, out, seen)
    if not out.rules:
        raise InputError("no priced models found", file=label, field="data")
    return out


def _model(item: Any, ref: str, label: str, out: PricingParse, seen: set[str]) -> None:
    if not isinstance(item, dict):
        raise InputError("expected an object", file=label, record=ref)
    model = str(item.get("id") or item.get("model") or "").strip()
    if not model:
        raise InputError("model has no id", file=label, record=ref, field="id")
    pricing = item.get("pricing")
    if pricing is None:
        out.warnings.append(f"{ref}: {model} has no pricing block; skipped")
        return
    if not isinstance(pricing, dict):
        raise InputError("expected an object", file=label, record=ref, field="pricing")
    if model in seen:
        out.warnings.append(f"{ref}: {model} listed twice; first entry kept")
        return
    seen.add(model)
    currency, per_quantity = _unit(pricing.get("currency"), label, ref)
    for key, meter in TOKEN_KEYS.items():
        value = price(pricing.get(key), label=label, record=ref, field=f"pricing.{key}")
        if value is None or (value == 0 and key not in ("input", "output")):
            continue
        out.rules.append(
            PriceRule(
                model=model,
                meter=meter,
                unit_price=value,
                per_quantity=per_quantity,
                currency=currency,
                source_ref=f"{ref}.pricing.{key}",
            )
        )
    for key, (meter, qty) in FLAT_KEYS.items():
        value = price(pricing.get(key), label=label, record=ref, field=f"pricing.{key}")
        if value is None or value == 0:
            continue
        out.rules.append(
            PriceRule(
                model=model,
                meter=meter,
                unit_price=value,
                per_quantity=qty,
                currency=currency,
                source_ref=f"{ref}.pricing.{key}",
            )
        )


def _unit(text: Any, label: str, ref: str) -> tuple[str, int]:
    if text is None:
        raise InputError(
            "no currency/unit string (expected e.g. 'USD / M Tokens')",
            file=label,
            record=ref,
            field="pricing.currency",
        )
    m = _UNIT.match(str(text))
    if not m:
        raise InputError(
            f"unreadable unit {str(text)[:40]!r} (expected e.g. 'USD / M Tokens')",
            file=label,
            record=ref,
            field="pricing.currency",
        )
    scale = (m.group(3) or "").upper()
    per = {"M": 1_000_000, "K": 1_000, "": 1}[scale]
    return m.group(1).upper(), per


__all__ = ["Decimal", "NAME", "parse", "page_info", "sniff"]
