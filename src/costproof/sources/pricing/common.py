"""Helpers shared by pricing adapters: Decimal-safe JSON and price reading."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from costproof.model.errors import InputError
from costproof.model.money import dec


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
    return out
