"""sanitize_table hashes exactly the key-like values, value by value, however often a column repeats them."""

from __future__ import annotations

import random
import re

import pyarrow as pa
import pytest

from costproof.model.sanitize import compile_patterns
from costproof.sources.usage.base import TEXT_COLUMNS, USAGE_SCHEMA, key_hash, sanitize_table

SECRETS = ["sk-live0123456789abcdef", "Bearer abcdefgh12345", "token=abcdefghij", "gpt-4o", "key-a", "", None]


def _by_value(table: pa.Table, pattern: re.Pattern[str]) -> dict[str, list[str | None]]:
    """The oracle: every text value judged alone."""
    return {
        name: [key_hash(v) if v is not None and pattern.search(v) else v for v in table.column(name).to_pylist()]
        for name in TEXT_COLUMNS
    }


@pytest.mark.parametrize("pattern", [compile_patterns(), compile_patterns(["team-[0-9]+"])])
@pytest.mark.parametrize("distinct", [3, 40, 5000])
@pytest.mark.parametrize("unique_head", [False, True])
def test_sanitize_table_judges_each_value_alone(pattern: re.Pattern[str], distinct: int, unique_head: bool) -> None:
    rng = random.Random(distinct)
    n = 4000
    pool = [*SECRETS, "team-7", "team key", *(f"v{i}" for i in range(distinct))][: max(distinct, 3)]
    cols = {}
    for field in USAGE_SCHEMA:
        if field.type == pa.string():
            values = [rng.choice(pool) for _ in range(n)]
            if unique_head:  # the first rows all differ, the rest repeat: searched as it stands
                values[:1100] = [f"u{i}" if i % 97 else "sk-abcdefghijklmnop" + str(i) for i in range(1100)]
            cols[field.name] = pa.array(values, pa.string())
        else:
            cols[field.name] = pa.nulls(n, field.type)
    cols["route_family"] = pa.nulls(n, pa.string())  # a column of nulls only
    table = pa.table(cols, schema=USAGE_SCHEMA)
    table = pa.concat_tables([table.slice(0, 700), table.slice(700)])  # chunked columns
    got = sanitize_table(table, pattern)
    assert got.schema == table.schema
    assert {name: got.column(name).to_pylist() for name in TEXT_COLUMNS} == _by_value(table, pattern)
    assert got.column("model_reported").to_pylist() != table.column("model_reported").to_pylist()
    assert got.column("record_id").equals(table.column("record_id"))  # not a text column from the file


def test_a_table_without_secrets_comes_back_unchanged() -> None:
    table = pa.table({"model_reported": ["gpt-4o", "gpt-4o", None] * 500, "api_key_name": ["key-a"] * 1500})
    assert sanitize_table(table) is table
