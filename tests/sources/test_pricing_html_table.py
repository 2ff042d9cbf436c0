"""html-table adapter: unit detection, table shapes, clear errors, exact Decimal prices."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costproof.model.errors import InputError
from costproof.sources.pricing import html_table


def parse(html: str, label: str = "page.html"):  # type: ignore[no-untyped-def]
    return html_table.parse([html.encode()], label)


def rows(html: str) -> list[tuple[str, str, str, int, str]]:
    return [(r.model, r.meter, str(r.unit_price), r.per_quantity, r.currency) for r in parse(html).rules]


def table(header: str, *body: str, caption: str = "") -> str:
    cap = f"<caption>{caption}</caption>" if caption else ""
    trs = "".join(f"<tr>{b}</tr>" for b in body)
    return f"<html><body><table>{cap}<thead><tr>{header}</tr></thead><tbody>{trs}</tbody></table>"


@pytest.mark.parametrize(
    ("header", "cell", "expected"),
    [
        ("<th>Input ($ / 1M tokens)</th>", "<td>$0.15</td>", ("input_tokens", "0.15", 1000000, "USD")),
        ("<th>Input (USD per 1K tokens)</th>", "<td>0.003</td>", ("input_tokens", "0.003", 1000, "USD")),
        ("<th>Prompt</th>", "<td>$2.50 / 1M tokens</td>", ("input_tokens", "2.50", 1000000, "USD")),
        ("<th>Completion</th>", "<td>EUR 0.01 per 1,000 tokens</td>", ("output_tokens", "0.01", 1000, "EUR")),
        ("<th>Output</th>", "<td>$10.00*/MTok</td>", ("output_tokens", "10.00", 1000000, "USD")),
        ("<th>Cached input</th>", "<td>$1.25 per million tokens</td>", ("cached_input_tokens", "1.25", 1000000, "USD")),
        ("<th>Cache write</th>", "<td>$3.75 / 1M tokens</td>", ("cache_write_tokens", "3.75", 1000000, "USD")),
        ("<th>Audio input</th>", "<td>$40 / 1M tokens</td>", ("audio_input_tokens", "40", 1000000, "USD")),
        ("<th>Reasoning</th>", "<td>$4.40 / 1M tokens</td>", ("reasoning_tokens", "4.40", 1000000, "USD")),
        ("<th>Price per image</th>", "<td>$0.040</td>", ("images", "0.040", 1, "USD")),
        ("<th>Per request</th>", "<td>$0.01</td>", ("requests", "0.01", 1, "USD")),
        ("<th>Price</th>", "<td>$0.10 / second</td>", ("seconds", "0.10", 1, "USD")),
        ("<th>Price</th>", "<td>$1,200.50 per 1K requests</td>", ("requests", "1200.50", 1000, "USD")),
        ("<th>Input (¥ / 1M tokens)</th>", "<td>7.2</td>", ("input_tokens", "7.2", 1000000, "CNY")),
        (
            "<th>Input</th>",
            "<td><span>$</span><b>0.15</b> <small>/ 1M tokens</small></td>",
            ("input_tokens", "0.15", 1000000, "USD"),
        ),
    ],
)
def test_unit_and_meter_from_header_or_cell(header: str, cell: str, expected: tuple) -> None:
    got = rows(table(f"<th>Model</th>{header}", f"<td>m1</td>{cell}"))
    assert got == [("m1", *expected)]


def test_unit_from_caption_and_row_unit_column() -> None:
    html = table(
        "<th>Model</th><th>Input</th><th>Output</th><th>Unit</th>",
        "<td>a</td><td>$1</td><td>$2</td><td>per 1K tokens</td>",
        "<td>b</td><td>$3</td><td>$4</td><td></td>",
        caption="All prices in USD per 1M tokens",
    )
    assert rows(html) == [
        ("a", "input_tokens", "1", 1000, "USD"),
        ("a", "output_tokens", "2", 1000, "USD"),
        ("b", "input_tokens", "3", 1000000, "USD"),
        ("b", "output_tokens", "4", 1000000, "USD"),
    ]


def test_model_id_in_code_wins_over_display_name_and_footnotes_are_dropped() -> None:
    html = table(
        "<th>Model<sup>1</sup></th><th>Input ($/1M tokens)</th>",
        '<td>GPT-4o mini <code>gpt-4o-mini</code> <span class="badge">New</span></td><td>$0.15†</td>',
        '<td data-model="o3">OpenAI o3</td><td>$2</td>',
    )
    assert [r[0] for r in rows(html)] == ["gpt-4o-mini", "o3"]


def test_batch_and_context_columns_are_not_prices() -> None:
    html = table(
        "<th>Model</th><th>Context window</th><th>Input ($/1M tokens)</th><th>Batch input ($/1M tokens)</th>",
        "<td>m</td><td>128K tokens</td><td>$2</td><td>$1</td>",
    )
    assert rows(html) == [("m", "input_tokens", "2", 1000000, "USD")]


def test_rowspan_and_colspan_keep_columns_aligned() -> None:
    html = (
        "<table><tr><th rowspan=2>Model</th><th colspan=2>Price ($ / 1M tokens)</th></tr>"
        "<tr><th>Input</th><th>Output</th></tr>"
        "<tr><td>a</td><td>$1</td><td>$2</td></tr>"
        "<tr><td colspan=3>Legacy models</td></tr>"
        "<tr><td>b</td><td>$3</td><td>$4</td></tr></table>"
    )
    assert rows(html) == [
        ("a", "input_tokens", "1", 1000000, "USD"),
        ("a", "output_tokens", "2", 1000000, "USD"),
        ("b", "input_tokens", "3", 1000000, "USD"),
        ("b", "output_tokens", "4", 1000000, "USD"),
    ]


def test_reasoning_is_never_invented() -> None:
    html = table("<th>Model</th><th>Output (incl. reasoning, $ / 1M tokens)</th>", "<td>o3</td><td>$8</td>")
    assert [r[1] for r in rows(html)] == ["output_tokens"]


@pytest.mark.parametrize(
    ("html", "record", "field", "words"),
    [
        (
            table("<th>Model</th><th>Input</th>", "<td>m</td><td>$0.15</td>"),
            "table 1 row 2",
            "Input",
            "cannot tell the unit",
        ),
        (
            table("<th>Model</th><th>Input (per 1M tokens)</th>", "<td>m</td><td>0.15</td>"),
            "table 1 row 2",
            "Input (per 1M tokens)",
            "cannot tell the currency",
        ),
        (
            table(
                "<th>Model</th><th>Input ($/1M tokens)</th>",
                "<td>m</td><td>$1</td>",
                "<td>n</td><td>about 2 dollars</td>",
            ),
            "table 1 row 3",
            "Input ($/1M tokens)",
            "before the number",
        ),
        (
            table("<th>Model</th><th>Input ($/1M tokens)</th>", "<td>m</td><td>$2.50 / $5.00</td>"),
            "table 1 row 2",
            "Input ($/1M tokens)",
            "not a unit",
        ),
        (
            table("<th>Model</th><th>Input</th>", "<td>m</td><td>$2 per image</td>"),
            "table 1 row 2",
            "Input",
            "does not fit",
        ),
        (
            table("<th>Model</th><th>Price</th>", "<td>m</td><td>$2 / 1M tokens</td>"),
            "table 1 row 2",
            "Price",
            "does not say input or output",
        ),
        (
            table("<th>Model</th><th>Input ($/1M tokens)</th>", "<td></td><td>$2</td>"),
            "table 1 row 2",
            "Model",
            "no model name",
        ),
        (
            "<table><tr><th>A</th></tr></table>" + table("<th>Plan</th><th>Price</th>", "<td>x</td><td>$1</td>"),
            None,
            "",
            "no pricing table found",
        ),
    ],
)
def test_errors_name_table_row_and_column(html: str, record: str | None, field: str, words: str) -> None:
    with pytest.raises(InputError) as info:
        parse(html, "prices.html")
    err = info.value
    assert err.file == "prices.html"
    assert err.record == record
    assert err.field == field
    assert words in str(err)
    assert "prices.html" in str(err)


def test_second_table_is_counted_in_errors() -> None:
    html = table("<th>Model</th><th>Input ($/1M tokens)</th>", "<td>a</td><td>$1</td>") + table(
        "<th>Model</th><th>Output</th>", "<td>b</td><td>$1</td>"
    )
    with pytest.raises(InputError, match="table 2 row 2"):
        parse(html)


def test_sniff() -> None:
    assert html_table.sniff(b"<!DOCTYPE html><html><table>", "x.html")
    assert not html_table.sniff(b'{"data": []}', "x.json")
    assert not html_table.sniff(b"model,meter,unit_price\n", "x.csv")


prices = st.decimals(min_value=Decimal("0"), max_value=Decimal("100000"), places=6, allow_nan=False).map(
    lambda d: d.normalize() if d != d.to_integral_value() else d.quantize(Decimal(1))
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(prices, prices), min_size=1, max_size=8),
    st.sampled_from([("$ / 1M tokens", 1_000_000), ("USD per 1K tokens", 1_000)]),
    st.booleans(),
)
def test_prices_round_trip_exactly(pairs: list, unit: tuple[str, int], thousands: bool) -> None:
    def show(d: Decimal) -> str:
        return f"${d:,f}" if thousands else f"${d:f}"

    body = [f"<td><code>model-{i}</code></td><td>{show(a)}</td><td>{show(b)}</td>" for i, (a, b) in enumerate(pairs)]
    html = table(f"<th>Model</th><th>Input ({unit[0]})</th><th>Output ({unit[0]})</th>", *body)
    parsed = parse(html)
    expected = []
    for i, (a, b) in enumerate(pairs):
        expected += [(f"model-{i}", "input_tokens", a), (f"model-{i}", "output_tokens", b)]
    assert [(r.model, r.meter, r.unit_price) for r in parsed.rules] == expected
    for rule in parsed.rules:
        assert type(rule.unit_price) is Decimal and rule.per_quantity == unit[1]
