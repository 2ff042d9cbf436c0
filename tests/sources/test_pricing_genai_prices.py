"""genai-prices adapter: frozen catalog capture, tiers, dated prices, never auto-detected."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from costproof.model.errors import InputError
from costproof.sources import pricing
from costproof.sources.pricing import genai_prices


def doc(*models: dict) -> bytes:
    return json.dumps(
        {
            "catalog_format": genai_prices.CATALOG_FORMAT,
            "package": "genai-prices",
            "package_version": genai_prices.PINNED_VERSION,
            "selection": "test",
            "providers": [{"id": "acme", "name": "Acme", "pricing_urls": [], "models": list(models)}],
        }
    ).encode()


def block(start: str | None = None, tod: str | None = None, **prices: object) -> dict:
    return {"start_date": start, "time_of_day": tod, "prices": prices}


def test_pinned_version_is_installed_and_recorded() -> None:
    parsed = genai_prices.parse([], "genai-prices:openai")
    assert parsed.meta["package_version"] == genai_prices.PINNED_VERSION == "0.2.3"
    assert parsed.meta["crosscheck_only"] == "true"
    assert parsed.meta["providers"] == "openai"
    assert not any("not the pinned" in w for w in parsed.warnings)


def test_capture_is_canonical_bytes() -> None:
    assert genai_prices.capture("genai-prices:anthropic") == genai_prices.capture("genai-prices:anthropic")


def test_known_openai_prices() -> None:
    rules = genai_prices.parse([], "genai-prices:openai").rules
    mini = {r.meter: r for r in rules if r.model == "gpt-4o-mini"}
    assert mini["input_tokens"].unit_price == Decimal("0.15")
    assert mini["output_tokens"].unit_price == Decimal("0.6")
    assert mini["cached_input_tokens"].unit_price == Decimal("0.075")
    assert {r.per_quantity for r in mini.values()} == {1_000_000}
    assert "reasoning_tokens" not in mini
    assert mini["input_tokens"].notes == "provider openai"


def test_whole_catalog_keeps_first_party_price_for_shared_ids() -> None:
    parsed = genai_prices.parse([], "genai-prices")
    opus = [r for r in parsed.rules if r.model == "claude-opus-4-6"]
    assert opus and all(r.notes.startswith("provider anthropic") for r in opus)
    keys = [(r.model, r.meter, r.tier_min, r.effective_from) for r in parsed.rules]
    assert len(keys) == len(set(keys))


def test_tier_starts_above_the_catalog_threshold() -> None:
    tiered = {"base": "3", "tiers": [{"start": 200000, "price": "6"}]}
    rules = genai_prices.parse([doc({"id": "m", "prices": [block(input_mtok=tiered)]})], "x").rules
    assert [(r.tier_min, r.unit_price) for r in rules] == [(0, Decimal(3)), (200001, Decimal(6))]
    assert "input tokens > 200,000" in rules[1].notes


def test_dated_prices_become_half_open_windows() -> None:
    model = {
        "id": "m",
        "prices": [
            block(input_mtok="10"),
            block("2025-06-10", input_mtok="2"),
            block("2026-01-01", input_mtok="1.5"),
        ],
    }
    rules = genai_prices.parse([doc(model)], "x").rules
    d = lambda y, m, day: datetime(y, m, day, tzinfo=UTC)  # noqa: E731
    assert [(r.unit_price, r.effective_from, r.effective_to) for r in rules] == [
        (Decimal(10), None, d(2025, 6, 10)),
        (Decimal(2), d(2025, 6, 10), d(2026, 1, 1)),
        (Decimal("1.5"), d(2026, 1, 1), None),
    ]


def test_out_of_order_dates_follow_last_active_wins() -> None:
    # The catalog's rule: the last listed block whose start has passed is in force.
    model = {
        "id": "m",
        "prices": [block(input_mtok="1"), block("2026-03-01", input_mtok="3"), block("2026-01-01", input_mtok="2")],
    }
    rules = genai_prices.parse([doc(model)], "x").rules
    assert [(r.unit_price, r.effective_from and r.effective_from.month) for r in rules] == [
        (Decimal(1), None),
        (Decimal(2), 1),
    ]


def test_time_of_day_models_and_unmapped_keys_are_reported_not_guessed() -> None:
    parsed = genai_prices.parse(
        [
            doc(
                {
                    "id": "peak",
                    "prices": [block(input_mtok="1"), block(None, "00:30:00+00:00/16:30:00+00:00", input_mtok="2")],
                },
                {"id": "ok", "prices": [block(input_mtok="1", web_searches_kcount="10")]},
            )
        ],
        "x",
    )
    assert [r.model for r in parsed.rules] == ["ok"]
    assert any("acme:peak" in w and "time-of-day" in w for w in parsed.warnings)
    assert any("web_searches_kcount (1)" in w for w in parsed.warnings)


def test_reasoning_rule_only_when_the_catalog_states_one() -> None:
    rules = genai_prices.parse(
        [doc({"id": "r", "prices": [block(output_mtok="8", output_reasoning_mtok="12")]})], "x"
    ).rules
    assert {r.meter: r.unit_price for r in rules} == {
        "output_tokens": Decimal(8),
        "reasoning_tokens": Decimal(12),
    }


def test_never_sniffed_and_sources() -> None:
    head = genai_prices.capture("genai-prices:openai")[:65536]
    assert not genai_prices.sniff(head, "genai-prices")
    assert pricing.detect(b"model,meter,unit_price,per_quantity,currency\n", "x.csv") == "price-csv"
    assert genai_prices.is_source("genai-prices") and genai_prices.is_source("genai-prices:openai")
    assert not genai_prices.is_source("genai-prices.json")


@pytest.mark.parametrize(
    ("source", "words"),
    [("genai-prices:nosuch", "unknown genai-prices provider"), ("prices.json", "a genai-prices source")],
)
def test_capture_errors(source: str, words: str) -> None:
    with pytest.raises(InputError, match=words):
        genai_prices.capture(source)


def test_a_user_file_is_not_a_catalog() -> None:
    with pytest.raises(InputError, match="not a genai-prices catalog") as info:
        genai_prices.parse([b'{"data": []}'], "mine.json")
    assert info.value.file == "mine.json" and info.value.field == "catalog_format"


def test_registered_as_a_builtin_source() -> None:
    assert pricing.BUILTIN_SOURCES == ("genai-prices",)
    assert pricing.get("genai-prices").source_bytes("genai-prices:openai") == genai_prices.capture(
        "genai-prices:openai"
    )
    # What the capture service stores re-parses to the same rules it parsed from the package.
    stored = genai_prices.source_bytes("genai-prices:openai")
    assert genai_prices.parse([stored], "x").rules == genai_prices.parse([], "genai-prices:openai").rules
