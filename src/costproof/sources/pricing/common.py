"""Helpers shared by pricing adapters: Decimal-safe JSON, price reading, unit text, rule dicts."""

from __future__ import annotations

import json
import re
from datetime import UTC
from decimal import Decimal
from typing import Any

from costproof.model.errors import InputError
from costproof.model.money import dec
from costproof.model.pricing import PriceRule, PricingParse


def load_json(data: bytes, label: str) -> Any:
    """JSON with every number read as Decimal (no float ever touches a price)."""
    try:
        return json.loads(data.lstrip(b"\xef\xbb\xbf"), parse_float=Decimal, parse_int=Decimal)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise InputError(f"not valid JSON{where}", file=label) from None


def price(value: Any, *, label: str, record: int | str, field: str, allow_none: bool = True) -> Decimal | None:
    if value is None or value == "":
        if allow_none:
            return None
        raise InputError("missing price", file=label, record=record, field=field)
    try:
        out = dec(value)
    except ValueError as exc:
        raise InputError(str(exc), file=label, record=record, field=field) from None
    if out < 0:
        raise InputError(f"negative price {out}", file=label, record=record, field=field)
    return storable(out, label=label, record=record, field=field)


# The catalog stores prices and multipliers as DECIMAL(38, 18): a number with more fractional
# digits (or more than 20 integer digits) would be rounded on the way in, so it is refused here.
MAX_PLACES = 18
MAX_INT_DIGITS = 20


def storable(value: Decimal, *, label: str, record: int | str | None, field: str) -> Decimal:
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_PLACES and value != value.quantize(Decimal(1).scaleb(-MAX_PLACES)):
        raise InputError(
            f"{value} has more than {MAX_PLACES} decimal places and cannot be stored exactly",
            file=label,
            record=record,
            field=field,
        )
    if value != 0 and value.adjusted() >= MAX_INT_DIGITS:
        raise InputError(f"{value} is too large to store exactly", file=label, record=record, field=field)
    return value


# Currency words and symbols seen on pricing pages. A bare "$" is read as USD: every source
# costproof targets prices in US dollars, and an explicit ISO code always wins over a symbol.
CURRENCY_WORDS: dict[str, str] = {
    "$": "USD",
    "us$": "USD",
    "usd": "USD",
    "€": "EUR",
    "eur": "EUR",
    "£": "GBP",
    "gbp": "GBP",
    "¥": "CNY",
    "￥": "CNY",
    "cny": "CNY",
    "rmb": "CNY",
}
_CURRENCY = re.compile(r"(?i)(us\$|\$|€|£|¥|￥|\b(?:usd|eur|gbp|cny|rmb)\b)")

# Quantity words: "1M", "1 M", "MTok", "million", "1,000,000", "1K", "thousand", "100".
_SCALE = re.compile(
    r"(?<![\w.,])(?P<n>\d{1,3}(?:[,\u00a0\u202f ]\d{3})+|\d+)?\s*"
    r"(?P<s>million|mln|mtok|m|thousand|ktok|k)?(?![a-z\d])"
)
_SCALE_WORDS = {"million": 10**6, "mln": 10**6, "mtok": 10**6, "m": 10**6}
_SCALE_WORDS |= {"thousand": 1000, "ktok": 1000, "k": 1000}
_NOUNS: tuple[tuple[str, str], ...] = (
    (r"tokens?|tok\b|mtok|ktok", "tokens"),
    (r"images?|pictures?", "images"),
    (r"requests?|calls?|queries", "requests"),
    (r"seconds?|secs?\b|\bs\b", "seconds"),
)


def read_currency(text: str) -> str | None:
    m = _CURRENCY.search(text)
    return CURRENCY_WORDS[m.group(1).lower()] if m else None


def read_unit(text: str) -> tuple[str, int] | None:
    """('tokens'|'images'|'requests'|'seconds', per_quantity) named in a unit text, or None.

    "$ / 1M tokens" -> ('tokens', 1000000); "per 1K tokens" -> ('tokens', 1000);
    "per image" -> ('images', 1); "/ second" -> ('seconds', 1). A text naming no billable
    noun is not a unit, so "Price" or "Model" return None.
    """
    low = text.lower()
    noun = None
    for pattern, name in _NOUNS:
        if re.search(rf"(?<![a-z])(?:{pattern})(?![a-z])", low):
            noun = name
            break
    if noun is None:
        return None
    per = 1
    for m in _SCALE.finditer(low):
        if m.group("n") or m.group("s"):
            count = int(re.sub(r"\D", "", m.group("n") or "1"))
            per = count * _SCALE_WORDS.get(m.group("s") or "", 1)
            break
    return noun, per


def rule_to_dict(rule: PriceRule) -> dict[str, Any]:
    """A rule as plain JSON-able values: Decimals and datetimes as strings, stable keys."""

    def ts(value: Any) -> str | None:
        return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")

    return {
        "model": rule.model,
        "meter": rule.meter,
        "unit_price": str(rule.unit_price),
        "per_quantity": rule.per_quantity,
        "currency": rule.currency,
        "tier_min": rule.tier_min,
        "multiplier": str(rule.multiplier),
        "multiplier_source": rule.multiplier_source,
        "group": rule.group,
        "effective_from": ts(rule.effective_from),
        "effective_to": ts(rule.effective_to),
        "source_ref": rule.source_ref,
        "notes": rule.notes,
    }


def parse_to_dict(parsed: PricingParse) -> dict[str, Any]:
    """The whole parse as plain values (used for golden files and `pricing show --json`)."""
    return {
        "format": parsed.format,
        "parser_version": parsed.parser_version,
        "rules": [rule_to_dict(r) for r in parsed.rules],
        "group_ratios": {k: str(v) for k, v in sorted(parsed.group_ratios.items())},
        "meta": dict(sorted(parsed.meta.items())),
        "warnings": list(parsed.warnings),
    }
