"""Golden rate cards: each pricing format's parse of a sample page, compared to a pinned JSON."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import pytest

from costproof.model.pricing import PriceRule, PricingParse
from costproof.sources import pricing
from costproof.sources.pricing.common import parse_to_dict

DATA = Path(__file__).resolve().parents[1] / "data" / "pricing"
# Set COSTPROOF_UPDATE_GOLDEN=1 to rewrite the golden files after a deliberate change.
UPDATE = os.environ.get("COSTPROOF_UPDATE_GOLDEN") == "1"

CASES = [
    ("cometapi-models", "cometapi-models.json"),
    ("newapi-pricing", "newapi-pricing.json"),
    ("html-table", "html-table-header-units.html"),
    ("html-table", "html-table-row-units.html"),
    ("price-csv", "price-csv-contract.csv"),
    ("genai-prices", "genai-prices:anthropic,deepseek"),
]


def _parse(fmt: str, source: str) -> PricingParse:
    module = pricing.get(fmt)
    if fmt == "genai-prices":
        return module.parse([module.capture(source)], source)
    return module.parse([(DATA / source).read_bytes()], source)


def _golden_path(source: str) -> Path:
    stem = source.replace(":", "-").replace(",", "-").rsplit(".", 1)[0]
    return DATA / f"{stem}.golden.json"


@pytest.mark.parametrize(("fmt", "source"), CASES)
def test_parse_matches_golden(fmt: str, source: str) -> None:
    got = parse_to_dict(_parse(fmt, source))
    path = _golden_path(source)
    text = json.dumps(got, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    if UPDATE or not path.exists():
        path.write_text(text, encoding="utf-8")
        if not UPDATE:
            pytest.fail(f"golden file {path.name} was missing and has been written; re-run")
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize(("fmt", "source"), CASES)
def test_no_float_reaches_a_price(fmt: str, source: str) -> None:
    parsed = _parse(fmt, source)
    assert parsed.rules
    for rule in parsed.rules:
        for name in ("unit_price", "multiplier"):
            value = getattr(rule, name)
            assert type(value) is Decimal, (rule, name)
            assert value.is_finite()
        assert type(rule.per_quantity) is int
        assert type(rule.tier_min) is int
    for ratio in parsed.group_ratios.values():
        assert type(ratio) is Decimal


@pytest.mark.parametrize(("fmt", "source"), [c for c in CASES if c[0] != "genai-prices"])
def test_sample_is_auto_detected_as_its_format(fmt: str, source: str) -> None:
    head = (DATA / source).read_bytes()
    assert pricing.detect(head, source) == fmt


@pytest.mark.parametrize("field", ["unit_price", "multiplier"])
@pytest.mark.parametrize("bad", [0.1, 1, "2.50", None])
def test_price_rule_refuses_anything_but_decimal(field: str, bad: object) -> None:
    kwargs: dict[str, object] = dict(
        model="m", meter="input_tokens", unit_price=Decimal("1"), per_quantity=1, currency="USD"
    )
    kwargs[field] = bad
    with pytest.raises(TypeError, match=field):
        PriceRule(**kwargs)  # type: ignore[arg-type]


def test_parse_is_deterministic() -> None:
    for fmt, source in CASES:
        assert parse_to_dict(_parse(fmt, source)) == parse_to_dict(_parse(fmt, source))
