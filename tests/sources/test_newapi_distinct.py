"""newapi_distinct.sanitized gives sanitize_table's table, whether a column repeats few values or many."""

from __future__ import annotations

import random
import re

import pyarrow as pa
import pytest

from costproof.model.sanitize import compile_patterns
from costproof.sources.usage import newapi_distinct
from costproof.sources.usage.base import USAGE_SCHEMA, sanitize_table

SECRETS = ["sk-live0123456789abcdef", "Bearer abcdefgh12345", "token=abcdefghij", "gpt-4o", "key-a", "", None]


@pytest.mark.parametrize("pattern", [compile_patterns(), compile_patterns(["team-[0-9]+"])])
@pytest.mark.parametrize("distinct", [3, 40, 5000])
def test_sanitized_is_sanitize_table(pattern: re.Pattern[str], distinct: int) -> None:
    rng = random.Random(distinct)
    n = 2000
    pool = [*SECRETS, "team-7", "team key", *(f"v{i}" for i in range(distinct))][: max(distinct, 3)]
    cols = {}
    for field in USAGE_SCHEMA:
        if field.type == pa.string():
            cols[field.name] = pa.array([rng.choice(pool) for _ in range(n)], pa.string())
        else:
            cols[field.name] = pa.nulls(n, field.type)
    cols["route_family"] = pa.nulls(n, pa.string())  # a column of nulls only
    table = pa.table(cols, schema=USAGE_SCHEMA)
    table = pa.concat_tables([table.slice(0, 700), table.slice(700)])  # chunked columns
    got = newapi_distinct.sanitized(table, pattern)
    want = sanitize_table(table, pattern)
    assert got.equals(want)
    assert got.column("model_reported").to_pylist() != table.column("model_reported").to_pylist()
