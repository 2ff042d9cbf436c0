"""newapi-log output columns checked once per distinct value: log rows repeat a few models, keys, groups, ratios."""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

from costproof.sources.usage.base import TEXT_COLUMNS, sanitize_table

# a column with more distinct values than this share of its rows is searched as it stands (hashing would not pay)
_DISTINCT_SHARE = 0.25


def sanitized(table: pa.Table, pattern: re.Pattern[str]) -> pa.Table:
    """sanitize_table(table, pattern), each column's values searched once each: sanitize_table treats every value
    alone, so it is run on the distinct values and its answers mapped back to the rows."""
    for name in TEXT_COLUMNS:
        index = table.schema.get_field_index(name)
        if index < 0:
            continue
        col = table.column(index)
        if col.null_count == len(col):
            continue
        values = pc.unique(col)
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        if len(values) > _DISTINCT_SHARE * len(col):
            fixed = sanitize_table(pa.table({name: col}), pattern).column(0)
        else:
            safe = sanitize_table(pa.table({name: values}), pattern).column(0)
            if safe.equals(pa.chunked_array([values])):
                continue
            fixed = pc.take(safe, pc.index_in(col, value_set=values))
        table = table.set_column(index, table.field(index), fixed)
    return table
