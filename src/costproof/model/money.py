"""Decimal money helpers: parse without float, format as stable strings."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation

D = Decimal
QUOTA_PER_USD = Decimal(500000)  # new-api / one-api: 500,000 quota = 1 USD
RATIO_USD_PER_M = Decimal(2)  # new-api: model_ratio 1 = 2 USD per 1M input tokens
AMOUNT_PLACES = Decimal("0.000001")  # JSON amounts are printed to 6 places, e.g. "12.345000"


def dec(value: object) -> Decimal:
    """Parse a number into Decimal; floats go through repr so no binary noise leaks in."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise ValueError("boolean is not a number")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("not a finite number")
        return Decimal(repr(value))
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        if not text:
            raise ValueError("empty number")
        try:
            result = Decimal(text)
        except InvalidOperation as exc:
            raise ValueError(f"not a number: {value!r}") from exc
        if not result.is_finite():
            raise ValueError(f"not a finite number: {value!r}")
        return result
    raise ValueError(f"not a number: {type(value).__name__}")


def to_str(value: Decimal | None, places: Decimal = AMOUNT_PLACES) -> str | None:
    """Stable string for JSON: fixed places, half-even, never exponent notation."""
    if value is None:
        return None
    q = Decimal(value).quantize(places, rounding=ROUND_HALF_EVEN)
    if q == 0:
        q = abs(q)
    return f"{q:f}"


def round_money(value: Decimal, places: str, mode: str) -> Decimal:
    return value.quantize(Decimal(places), rounding=ROUND_HALF_UP if mode == "half-up" else ROUND_HALF_EVEN)
