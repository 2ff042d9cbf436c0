"""Rate-card diff and cross-check: normalized units, loud flags, model matching, determinism."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costproof.model.pricing import PriceRule
from costproof.reconcile.pricecompare import base_model_id, crosscheck, diff, match_models


def rule(model: str, meter: str, price: str, per: int = 1_000_000, **kw: Any) -> PriceRule:
    kw.setdefault("currency", "USD")
    return PriceRule(model=model, meter=meter, unit_price=Decimal(price), per_quantity=per, **kw)


def walk(value: Any) -> None:
    """Output is plain JSON: no float and no Decimal anywhere."""
    assert not isinstance(value, float | Decimal), value
    if isinstance(value, dict):
        for k, v in value.items():
            assert isinstance(k, str)
            walk(v)
    elif isinstance(value, list):
        for v in value:
            walk(v)


def by_meter(result: dict) -> dict[tuple[str, str], dict]:
    return {(r["model"], r["meter"]): r for r in result["rules"]}


def test_diff_per_model_and_meter() -> None:
    old = [rule("a", "input_tokens", "2.50"), rule("a", "output_tokens", "10"), rule("gone", "images", "0.04", 1)]
    new = [rule("a", "input_tokens", "2.00"), rule("a", "output_tokens", "10.00"), rule("new", "requests", "0.01", 1)]
    out = diff(old, new)
    walk(out)
    rows = by_meter(out)
    assert rows[("a", "input_tokens")] | {"flags": []} == {
        "model": "a",
        "meter": "input_tokens",
        "tier_min": 0,
        "group": None,
        "old_price": "2.5",
        "new_price": "2",
        "old_unit": "USD per 1M input_tokens",
        "new_unit": "USD per 1M input_tokens",
        "change_pct": "-20.00",
        "flags": [],
        "status": "changed",
    }
    assert rows[("a", "output_tokens")]["status"] == "unchanged"
    assert rows[("a", "output_tokens")]["change_pct"] == "0.00"
    assert rows[("gone", "images")]["status"] == "removed"
    assert rows[("new", "requests")]["status"] == "added"
    assert out["models_added"] == ["new"] and out["models_removed"] == ["gone"]
    assert out["summary"] | {} == {
        "models_a": 2,
        "models_b": 2,
        "added": 1,
        "removed": 1,
        "changed": 1,
        "unchanged": 1,
        "flagged": 0,
    }


@pytest.mark.parametrize(
    ("old", "new", "flags", "pct"),
    [
        (rule("m", "input_tokens", "0.002", 1000), rule("m", "input_tokens", "2"), ["UNIT_CHANGED"], "0.00"),
        (
            rule("m", "input_tokens", "2"),
            rule("m", "input_tokens", "2", 1000),
            ["UNIT_CHANGED", "SUSPECTED_UNIT_ERROR"],
            "99900.00",
        ),
        (rule("m", "input_tokens", "2"), rule("m", "input_tokens", "2", currency="EUR"), ["CURRENCY_CHANGED"], None),
        (
            rule("m", "output_tokens", "10"),
            rule("m", "output_tokens", "10", multiplier=Decimal("0.8")),
            ["MULTIPLIER_CHANGED"],
            "-20.00",
        ),
        (rule("m", "images", "0", 1), rule("m", "images", "0.04", 1), ["FROM_ZERO"], None),
        (rule("m", "requests", "3", 1), rule("m", "requests", "1", 1), [], "-66.67"),
    ],
)
def test_diff_flags_unit_and_currency_changes_loudly(old, new, flags, pct) -> None:  # type: ignore[no-untyped-def]
    out = diff([old], [new])
    (row,) = out["rules"]
    assert row["flags"] == flags
    assert row["change_pct"] == pct
    assert [f["flag"] for f in out["flags"]] == flags
    assert all(f["message"] for f in out["flags"])


def test_diff_at_a_timestamp_uses_half_open_windows() -> None:
    june = datetime(2026, 6, 1, tzinfo=UTC)
    rules = [
        rule("m", "input_tokens", "2.5", effective_to=june),
        rule("m", "input_tokens", "2.0", effective_from=june),
    ]
    just_before = datetime(2026, 5, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert by_meter(diff(rules, rules, at=just_before))[("m", "input_tokens")]["old_price"] == "2.5"
    assert by_meter(diff(rules, rules, at=june))[("m", "input_tokens")]["old_price"] == "2"
    # Without a timestamp the latest-dated rule is compared.
    assert by_meter(diff(rules, []))[("m", "input_tokens")]["old_price"] == "2"


@pytest.mark.parametrize(
    ("a", "b", "how"),
    [
        ("gpt-4o", "gpt-4o", "exact"),
        ("GPT-4o", "gpt-4o", "case-insensitive"),
        ("openai/gpt-4o-mini", "gpt-4o-mini", "normalized"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini", "normalized"),
        ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet", "normalized"),
        ("claude-3-5-sonnet@20241022", "claude-3-5-sonnet", "normalized"),
        ("gpt-4-0613", "gpt-4", "normalized"),
    ],
)
def test_model_matching_stages(a: str, b: str, how: str) -> None:
    mapping, warnings = match_models([a], [b, "unrelated"], {})
    assert mapping == {a: (b, how)} and warnings == []


def test_alias_wins_and_ambiguity_is_reported() -> None:
    mapping, warnings = match_models(["gpt-4o", "x"], ["gpt-4o", "gpt-4o-2024-05-13"], {"gpt-4o": "gpt-4o-2024-05-13"})
    assert mapping == {"gpt-4o": ("gpt-4o-2024-05-13", "alias")}
    mapping, warnings = match_models(["openai/o3"], ["o3-2025-04-16", "o3"], {})
    assert mapping == {}
    assert warnings and "could be any of o3, o3-2025-04-16" in warnings[0]


def test_base_model_id_keeps_version_numbers() -> None:
    assert base_model_id("claude-3-5-sonnet") == "claude-3-5-sonnet"
    assert base_model_id("gemini-1.5-pro-002") == "gemini-1.5-pro-002"
    assert base_model_id("anthropic/claude-sonnet-4-20250514") == "claude-sonnet-4"


def test_crosscheck_findings_are_source_bucket_for_finops() -> None:
    a = [
        rule("gpt-4o", "input_tokens", "2.50"),
        rule("gpt-4o", "output_tokens", "0.01", 1000),  # 10 per 1M, written per 1K
        rule("openai/gpt-4o-mini", "input_tokens", "0.12"),
        rule("only-a", "images", "0.04", 1),
    ]
    b = [
        rule("gpt-4o", "input_tokens", "2.50"),
        rule("gpt-4o", "output_tokens", "10"),
        rule("gpt-4o", "cached_input_tokens", "1.25"),
        rule("gpt-4o-mini", "input_tokens", "0.15"),
        rule("only-b", "requests", "1", 1),
    ]
    out = crosscheck(a, b)
    walk(out)
    assert [(m["model_a"], m["model_b"], m["mapping"], m["agree"]) for m in out["matched"]] == [
        ("gpt-4o", "gpt-4o", "exact", True),
        ("openai/gpt-4o-mini", "gpt-4o-mini", "normalized", False),
    ]
    assert out["matched"][0]["only_in_b"] == ["cached_input_tokens"]
    (finding,) = out["disagreements"]
    assert finding["bucket"] == "source" and finding["owner"] == "FinOps"
    assert (finding["price_a"], finding["price_b"], finding["relative_difference"]) == ("0.12", "0.15", "0.2")
    assert finding["kind"] == "price_mismatch" and finding["mapping"] == "normalized"
    assert out["only_in_a"] == ["only-a"] and out["only_in_b"] == ["only-b"]


@pytest.mark.parametrize(
    ("pa", "pb", "tolerance", "disagree"),
    [
        ("100", "101", "0.01", False),  # 1/101 is within 1 %
        ("100", "102", "0.01", True),
        ("100", "102", "0.02", False),
        ("0", "0", "0", False),
        ("0", "0.01", "0.5", True),
    ],
)
def test_crosscheck_relative_tolerance(pa: str, pb: str, tolerance: str, disagree: bool) -> None:
    out = crosscheck([rule("m", "input_tokens", pa)], [rule("m", "input_tokens", pb)], tolerance=Decimal(tolerance))
    assert bool(out["disagreements"]) is disagree


def test_crosscheck_currency_mismatch_is_a_finding() -> None:
    out = crosscheck([rule("m", "input_tokens", "2")], [rule("m", "input_tokens", "2", currency="EUR")])
    assert out["disagreements"][0]["kind"] == "currency_mismatch"


def test_crosscheck_refuses_float_tolerance() -> None:
    with pytest.raises(TypeError):
        crosscheck([], [], tolerance=0.01)  # type: ignore[arg-type]


meters = st.sampled_from(["input_tokens", "output_tokens", "cached_input_tokens", "images", "requests"])
cards = st.lists(
    st.tuples(
        st.sampled_from(["gpt-4o", "GPT-4o", "openai/gpt-4o", "o3-2025-04-16", "o3", "m1", "m2"]),
        meters,
        st.decimals(min_value=0, max_value=1000, places=4, allow_nan=False),
        st.sampled_from([1, 1000, 1_000_000]),
    ),
    max_size=12,
)


def build(entries: list) -> list[PriceRule]:
    return [rule(m, meter, str(p), per) for m, meter, p, per in entries]


@settings(max_examples=100, deadline=None)
@given(cards, cards, st.randoms(use_true_random=False))
def test_same_input_same_output_whatever_the_order(a: list, b: list, rnd: random.Random) -> None:
    ra, rb = build(a), build(b)
    first = (diff(ra, rb), crosscheck(ra, rb))
    rnd.shuffle(ra)
    rnd.shuffle(rb)
    again = (diff(ra, rb), crosscheck(ra, rb))
    assert json.dumps(first, sort_keys=True) == json.dumps(again, sort_keys=True)
    walk(first)


@settings(max_examples=100, deadline=None)
@given(cards)
def test_a_card_agrees_with_itself(a: list) -> None:
    ra = build(a)
    d = diff(ra, ra)
    assert {r["status"] for r in d["rules"]} <= {"unchanged"}
    c = crosscheck(ra, ra)
    assert c["disagreements"] == [] and c["only_in_a"] == [] and c["only_in_b"] == []
