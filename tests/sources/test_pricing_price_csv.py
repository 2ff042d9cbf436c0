"""price-csv adapter: documented columns, dates, tiers, multipliers, errors by line and column."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costproof.model.errors import InputError
from costproof.model.meters import METERS
from costproof.model.pricing import PricingParse
from costproof.sources.pricing import price_csv

HEADER = (
    "model,meter,unit_price,per_quantity,currency,effective_from,effective_to,tier_min,multiplier,source_url,notes\n"
)


def parse(text: str, label: str = "prices.csv") -> PricingParse:
    return price_csv.parse([text.encode()], label)


def test_minimal_sheet_with_only_required_columns() -> None:
    rules = parse("model,meter,unit_price,per_quantity,currency\ngpt-4o,input_tokens,2.5,1M,usd\n").rules
    assert len(rules) == 1
    r = rules[0]
    assert (r.model, r.meter, r.unit_price, r.per_quantity, r.currency) == (
        "gpt-4o",
        "input_tokens",
        Decimal("2.5"),
        1_000_000,
        "USD",
    )
    assert (r.tier_min, r.multiplier, r.effective_from, r.effective_to) == (0, Decimal(1), None, None)
    assert r.source_ref == "line 2"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-06-01", datetime(2026, 6, 1, tzinfo=UTC)),
        ("2026-06-01T00:00:00Z", datetime(2026, 6, 1, tzinfo=UTC)),
        ("2026-06-01T08:00:00+08:00", datetime(2026, 6, 1, tzinfo=UTC)),
        ("2026-05-31T20:00:00-04:00", datetime(2026, 6, 1, tzinfo=UTC)),
    ],
)
def test_effective_from_is_aware_utc(text: str, expected: datetime) -> None:
    rule = parse(HEADER + f"m,output_tokens,1,1000000,USD,{text},,,,,\n").rules[0]
    assert rule.effective_from == expected
    assert rule.effective_from.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_tiers_multiplier_and_source_url() -> None:
    text = HEADER + (
        "g,input_tokens,1.25,1000000,USD,,,0,,,base\n"
        "g,input_tokens,2.50,1000000,USD,,,200001,,,long context\n"
        "g,output_tokens,10,1000000,USD,,,,0.8,https://x.example/contract,discount\n"
    )
    rules = parse(text).rules
    assert [r.tier_min for r in rules] == [0, 200001, 0]
    assert rules[2].multiplier == Decimal("0.8")
    assert rules[2].multiplier_source == "price-csv line 4"
    assert rules[2].notes == "discount (source https://x.example/contract)"
    assert rules[2].price_per_unit() * 1_000_000 == Decimal("8")


def test_comments_and_blank_lines_keep_physical_line_numbers() -> None:
    text = "# sheet v3\n\n" + HEADER + "# note\nm,input_tokens,1,1000,USD,,,,,,\n\nm,images,x,1,USD,,,,,,\n"
    with pytest.raises(InputError) as info:
        parse(text)
    assert info.value.record == "line 7"
    assert info.value.field == "unit_price"


def test_dated_windows_may_abut_but_not_overlap() -> None:
    ok = HEADER + (
        "m,input_tokens,2.5,1000000,USD,2026-01-01,2026-06-01,,,,\nm,input_tokens,2.0,1000000,USD,2026-06-01,,,,,\n"
    )
    assert len(parse(ok).rules) == 2
    clash = HEADER + (
        "m,input_tokens,2.5,1000000,USD,2026-01-01,2026-06-02,,,,\nm,input_tokens,2.0,1000000,USD,2026-06-01,,,,,\n"
    )
    with pytest.raises(InputError, match="overlapping period on line 2") as info:
        parse(clash)
    assert info.value.record == "line 3"


@pytest.mark.parametrize(
    ("line", "field", "words"),
    [
        ("m,input_tokens,,1000,USD", "unit_price", "required value is empty"),
        ("m,input_tokens,abc,1000,USD", "unit_price", "not a number"),
        ('m,input_tokens,"2,50",1000,USD', "unit_price", "has a comma"),
        ("m,input_tokens,-1,1000,USD", "unit_price", "negative"),
        ("m,input_tokens,NaN,1000,USD", "unit_price", "not a finite number"),
        ("m,thinking_tokens,1,1000,USD", "meter", "unknown meter"),
        ("m,input_tokens,1,0,USD", "per_quantity", "must be positive"),
        ("m,input_tokens,1,2.5,USD", "per_quantity", "not a whole number"),
        ("m,input_tokens,1,1000,US Dollar", "currency", "ISO 4217"),
        ("m,input_tokens,1,1000,USD,2026-06-01T00:00:00", "effective_from", "no UTC offset"),
        ("m,input_tokens,1,1000,USD,June 1st", "effective_from", "not an ISO 8601"),
        ("m,input_tokens,1,1000,USD,2026-06-01,2026-05-01", "effective_to", "after effective_from"),
        ("m,input_tokens,1,1000,USD,,,-5", "tier_min", "zero or more"),
        ("m,input_tokens,1,1000,USD,,,,0", "multiplier", "must be positive"),
        (",input_tokens,1,1000,USD", "model", "required value is empty"),
    ],
)
def test_errors_name_file_line_and_column(line: str, field: str, words: str) -> None:
    with pytest.raises(InputError) as info:
        parse(HEADER + "ok,input_tokens,1,1000,USD\n" + line + "\n", "sheet.csv")
    err = info.value
    assert (err.file, err.record, err.field) == ("sheet.csv", "line 3", field)
    assert words in str(err)
    assert str(err).startswith("sheet.csv, record line 3, field")


def test_missing_required_column_is_named() -> None:
    with pytest.raises(InputError, match="missing required column") as info:
        parse("model,meter,unit_price,currency\nm,input_tokens,1,USD\n")
    assert info.value.field == "per_quantity"


def test_unknown_columns_are_kept_as_a_warning_and_extra_cells_refused() -> None:
    parsed = parse("model,meter,unit_price,per_quantity,currency,region\nm,images,1,1,USD,eu\n")
    assert parsed.warnings == ["line 1: unknown column(s) ignored: region"]
    with pytest.raises(InputError, match="6 cells") as info:
        parse("model,meter,unit_price,per_quantity,currency\nm,images,1,1,USD,eu\n")
    assert info.value.record == "line 2"


def test_bom_and_crlf() -> None:
    text = "\ufeffmodel,meter,unit_price,per_quantity,currency\r\nm,requests,0.01,1,usd\r\n"
    assert parse(text).rules[0].currency == "USD"


def test_sniff() -> None:
    assert price_csv.sniff(HEADER.encode(), "x.csv")
    assert price_csv.sniff(b"\xef\xbb\xbf# c\nModel,Meter,Unit_Price,Per_Quantity,Currency\n", "x")
    assert not price_csv.sniff(b"period,amount,currency\n", "ledger.csv")


decimals = st.decimals(min_value=Decimal(0), max_value=Decimal("1e9"), places=12, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(decimals, st.sampled_from(METERS), st.sampled_from([1, 1000, 1_000_000]), decimals),
        min_size=1,
        max_size=10,
    )
)
def test_prices_round_trip_exactly(entries: list) -> None:
    lines = [
        f"model-{i},{meter},{price},{per},USD,,,,{mult if mult > 0 else ''},,"
        for i, (price, meter, per, mult) in enumerate(entries)
    ]
    parsed = parse(HEADER + "\n".join(lines) + "\n")
    assert len(parsed.rules) == len(entries)
    for rule, (price, meter, per, mult) in zip(parsed.rules, entries, strict=True):
        assert type(rule.unit_price) is Decimal and type(rule.multiplier) is Decimal
        assert rule.unit_price == price and str(rule.unit_price) == str(price)
        assert rule.multiplier == (mult if mult > 0 else Decimal(1))
        assert (rule.meter, rule.per_quantity) == (meter, per)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("0.000000000000000001", True),
        ("1.500000000000000000000", True),
        ("0.0000000000000000001", False),
        ("1e25", False),
    ],
)
def test_prices_the_store_cannot_hold_exactly_are_refused(value: str, ok: bool) -> None:
    text = HEADER + f"m,input_tokens,{value},1000000,USD\n"
    if ok:
        assert parse(text).rules[0].unit_price == Decimal(value)
    else:
        with pytest.raises(InputError, match="stor") as info:
            parse(text)
        assert (info.value.record, info.value.field) == ("line 2", "unit_price")
