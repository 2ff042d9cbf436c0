"""Vectorized evaluation for the FOCUS adapter: SQL run once per distinct value, picked back for every row.

FOCUS rows repeat their values (units, SKUs, currencies, charge periods, unit prices): what the per-row query
computed from them is computed here over the distinct values (or combinations) and each row's result is taken
by index. The SQL text is unchanged, so the values are DuckDB's own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from costproof.sources.usage.vector import ROW_NUMBER, in_row_order, quote, scan_batches


def bound_names(con: Any, names: list[str]) -> dict[str, str]:
    """The column DuckDB reads for each name. It binds names case-blind and renames a table's later columns
    that differ only in case, so SQL naming `x_project` read an earlier `x_Project`: what SQL read stays so."""
    probe = pa.table([pa.array([i], pa.int64()) for i in range(len(names))], names=names)
    con.register("v", probe)
    try:
        (row,) = con.sql(f"SELECT {', '.join(quote(n) for n in names)} FROM v").fetchall()
    finally:
        con.unregister("v")
    return {name: names[i] for name, i in zip(names, row, strict=True)}


def query(con: Any, table: pa.Table, sql: str) -> pa.Table:
    """sql over the table registered as `v`, its rows numbered (if not yet) and the result in their order."""
    if ROW_NUMBER not in table.schema.names:
        table = table.append_column(ROW_NUMBER, pa.array(np.arange(table.num_rows, dtype=np.int64)))
    con.register("v", scan_batches(table))
    try:
        return in_row_order(con.sql(sql).to_arrow_table())
    finally:
        con.unregister("v")


def sql_per_value(con: Any, columns: dict[str, tuple[pa.DictionaryArray, dict[str, str]]]) -> dict[str, pa.Table]:
    """Each column's SQL over its distinct values, in one query (the values null-padded to one length)."""
    if not columns:
        return {}
    width = max(len(encoded.dictionary) for encoded, _ in columns.values())
    inputs, select = {}, []
    for i, (encoded, exprs) in enumerate(columns.values()):
        values = encoded.dictionary
        inputs[f"v{i}"] = pa.concat_arrays([values, pa.nulls(width - len(values), values.type)])
        select += [f"{sql.replace('{v}', f'v{i}')} AS {quote(f'{i}:{field}')}" for field, sql in exprs.items()]
    result = query(con, pa.table(inputs), f"SELECT {ROW_NUMBER}, {', '.join(select)} FROM v")
    return {
        name: pa.table({field: result[f"{i}:{field}"].slice(0, len(encoded.dictionary)) for field in exprs})
        for i, (name, (encoded, exprs)) in enumerate(columns.items())
    }


def distinct_rows(columns: dict[str, Any]) -> tuple[pa.Table, pa.Array]:
    """The distinct combinations of the columns' values (null is a value) and each row's index into them."""
    index = None
    for column in columns.values():
        encoded = encode(column, "encode")
        if index is not None:
            combined = index.to_numpy().astype(np.int64) * len(encoded.dictionary) + encoded.indices.to_numpy()
            encoded = encode(pa.array(combined))
        index = encoded.indices
    # dictionary_encode numbers values in order of first appearance: where the running maximum grows
    codes = index.to_numpy()
    first = np.flatnonzero(np.diff(np.maximum.accumulate(codes), prepend=-1) > 0)
    return pa.table({name: pc.take(column, pa.array(first)) for name, column in columns.items()}), index


def encode(column: Any, null_encoding: str = "mask") -> pa.DictionaryArray:
    """The column's distinct values and each row's index into them, in one hashing pass; a categorical column
    is read as its values (null included: with "encode", null is a value like any other)."""
    array = one_array(column)
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    return pc.dictionary_encode(array, null_encoding=null_encoding)


def picked(results: pa.Table, index: pa.Array) -> dict[str, Any]:
    """Each row's results (index: its row of `results`, null for none)."""
    out = {}
    for field in results.schema:
        values = results.column(field.name)
        # a result no value has (labels a file never tags) needs no pick
        out[field.name] = (
            pa.nulls(len(index), field.type) if values.null_count == len(values) else pc.take(values, index)
        )
    return out


def coalesced(con: Any, n: int, parts: list[Any]) -> Any:
    """The first non-null of the parts (None: no such column); SQL's coalesce where a part is not text, so
    that its types, and its refusal to mix text with other types, stay DuckDB's."""
    present = [p for p in parts if p is not None]
    if all(p.type == pa.string() for p in present):
        if not present:
            return pa.nulls(n, pa.string())
        return present[0] if len(present) == 1 else pc.coalesce(*present)
    inputs = {f"c{i}": p for i, p in enumerate(parts) if p is not None}
    args = ", ".join(f"c{i}" if p is not None else "NULL" for i, p in enumerate(parts))
    return query(con, pa.table(inputs), f"SELECT {ROW_NUMBER}, coalesce({args}) AS c FROM v")["c"]


def one_array(values: Any) -> pa.Array:
    """One array of a chunked one (a mask must be one)."""
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
