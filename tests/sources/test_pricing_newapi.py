"""newapi-pricing adapter: quota types, ratios as recorded multipliers, group ratios apart."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from costproof.model.errors import InputError
from costproof.model.pricing import PricingParse
from costproof.sources.pricing import newapi_pricing


def parse(items: list[dict], group_ratio: dict | None = None) -> PricingParse:
    body = {"success": True, "data": items, "group_ratio": group_ratio or {}}
    return newapi_pricing.parse([json.dumps(body).encode()], "pricing.json")


def per_m(parsed: PricingParse) -> dict[str, Decimal]:
    return {r.meter: r.price_per_unit() * 1_000_000 for r in parsed.rules}


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"model_ratio": 1}, {"input_tokens": "2", "output_tokens": "2"}),
        ({"model_ratio": 0.075, "completion_ratio": 4}, {"input_tokens": "0.15", "output_tokens": "0.6"}),
        (
            {"model_ratio": 1.5, "completion_ratio": 5, "cache_ratio": 0.1, "create_cache_ratio": 1.25},
            {"input_tokens": "3", "output_tokens": "15", "cached_input_tokens": "0.3", "cache_write_tokens": "3.75"},
        ),
        ({"quota_type": "0", "model_ratio": "2.5"}, {"input_tokens": "5", "output_tokens": "5"}),
    ],
)
def test_quota_type_0_ratios(item: dict, expected: dict[str, str]) -> None:
    parsed = parse([{"model_name": "m", "quota_type": 0, **item}])
    assert per_m(parsed) == {k: Decimal(v) for k, v in expected.items()}
    assert "reasoning_tokens" not in per_m(parsed)


def test_ratios_are_recorded_with_their_source() -> None:
    rules = parse([{"model_name": "m", "model_ratio": 1, "completion_ratio": 3, "cache_ratio": 0.5}]).rules
    by = {r.meter: r for r in rules}
    assert by["output_tokens"].multiplier == Decimal(3)
    assert by["output_tokens"].multiplier_source == "data[0].completion_ratio"
    assert by["cached_input_tokens"].multiplier_source == "data[0].cache_ratio"
    assert by["input_tokens"].unit_price == Decimal(2) and by["input_tokens"].per_quantity == 1_000_000


def test_quota_type_1_is_a_fixed_price_per_call() -> None:
    parsed = parse([{"model_name": "mj", "quota_type": 1, "model_price": 0.1, "model_ratio": 0}])
    (rule,) = parsed.rules
    assert (rule.meter, rule.unit_price, rule.per_quantity, rule.currency) == ("requests", Decimal("0.1"), 1, "USD")


def test_group_ratios_stay_apart_from_rules() -> None:
    parsed = parse([{"model_name": "m", "model_ratio": 1}], {"default": 1, "vip": 0.8})
    assert parsed.group_ratios == {"default": Decimal(1), "vip": Decimal("0.8")}
    assert all(r.multiplier == 1 and r.group is None for r in parsed.rules)
    assert type(parsed.group_ratios["vip"]) is Decimal


def test_unrepresented_ratios_are_warned() -> None:
    parsed = parse([{"model_name": "a", "model_ratio": 1, "audio_ratio": 16}])
    assert parsed.warnings == ["data[0]: a audio_ratio 16 is not represented as a price rule"]


@pytest.mark.parametrize(
    ("items", "groups", "record", "field", "words"),
    [
        ([{"model_name": "m", "quota_type": 2, "model_ratio": 1}], None, "data[0]", "quota_type", "unknown quota_type"),
        ([{"model_name": "m", "quota_type": 1}], None, "data[0]", "model_price", "missing price"),
        ([{"model_name": "m"}], None, "data[0]", "model_ratio", "missing price"),
        ([{"model_name": "m", "model_ratio": -1}], None, "data[0]", "model_ratio", "negative"),
        ([{"model_ratio": 1}], None, "data[0]", "model_name", "no model_name"),
        ([{"model_name": "m", "model_ratio": 1}], {"vip": "x"}, "group_ratio", "vip", "not a number"),
    ],
)
def test_errors_name_record_and_field(items, groups, record, field, words) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError) as info:
        parse(items, groups)
    assert (info.value.file, info.value.record, info.value.field) == ("pricing.json", record, field)
    assert words in str(info.value)
