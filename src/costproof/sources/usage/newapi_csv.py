"""newapi-log console CSV: cells of plain digits and plain booleans typed in Arrow instead of the text SQL."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_INTS = ("type", "quota", "prompt_tokens", "completion_tokens", "use_time")
# read_bool's reading of each text it takes as it stands (no spaces: str.strip() and DuckDB's trim differ on some)
BOOLS = {
    "true": True,
    "false": False,
    "True": True,
    "False": False,
    "TRUE": True,
    "FALSE": False,
    "1": True,
    "0": False,
    "yes": True,
    "no": False,
}
# 1..18 ASCII digits are an int64 whatever they hold; read_int reads "012" as 12, and so does Arrow's cast
_INT_DIGITS = 18
# read_time reads 9..11 digits as seconds (0..99999999999), as newapi_lines' typed created_at is read
_TIME_DIGITS = (9, 11)
# up to one row in FEW with other cells is read by the row path (~50 us a row) rather than by the text SQL and a
# merge of the two results (~15 ms a 100k-row chunk)
FEW = 256


def _digits(column: pa.ChunkedArray, low: int, high: int) -> pa.ChunkedArray:
    """Per cell: low..high ASCII digits and nothing else (null for a null cell)."""
    length = pc.binary_length(column)
    return pc.and_(pc.ascii_is_decimal(column), pc.and_(pc.greater_equal(length, low), pc.less_equal(length, high)))


def typed(src: pa.Table) -> tuple[pa.Table, np.ndarray]:
    """(src with the integer fields, created_at and is_stream typed as newapi_lines types them, and per row
    whether every one of those cells has that type's reading: blank or as described above).

    A blank cell (or a column the file lacks) becomes null, as a JSON null: the row path reads "" and None alike.
    A row with another cell has a null created_at: the typed SQL hands it to the row path (its other typed cells
    would read as missing).
    """
    n = src.num_rows
    clean = np.ones(n, bool)
    out = src
    for name, (low, high) in {**{f: (1, _INT_DIGITS) for f in _INTS}, "created_at": _TIME_DIGITS}.items():
        col = src.column(f"f_{name}")
        digits = pc.fill_null(_digits(col, low, high), False)
        # a blank integer is a missing one (as a JSON null); created_at is required: the row path says so
        ok = pc.or_(digits, pc.fill_null(pc.equal(col, ""), True)) if name != "created_at" else digits
        clean &= ok.to_numpy(zero_copy_only=False)
        number = pc.cast(pc.if_else(digits, col, pa.scalar(None, pa.string())), pa.int64())
        out = out.set_column(out.schema.get_field_index(f"f_{name}"), f"f_{name}", number)
    col = src.column("f_is_stream")
    words = pa.array(list(BOOLS), pa.string())
    where = pc.index_in(col, value_set=words)
    known = pc.or_(pc.is_valid(where), pc.fill_null(pc.equal(col, ""), True))
    clean &= known.to_numpy(zero_copy_only=False)
    flags = pc.take(pa.array(list(BOOLS.values()), pa.bool_()), where)
    out = out.set_column(out.schema.get_field_index("f_is_stream"), "f_is_stream", flags)
    if not clean.all():
        at = out.schema.get_field_index("f_created_at")
        out = out.set_column(
            at, "f_created_at", pc.if_else(pa.array(clean), out.column(at), pa.scalar(None, pa.int64()))
        )
    return out, clean


def values(src: pa.Table, run: Callable[[str, pa.Table], pa.Table]) -> pa.Table:
    """value_sql's stage over a CSV chunk: rows whose cells `typed` vouches for run the typed SQL (`run(kind,
    table)`). A few other rows go with them to the row path; more take the text SQL, merged back in row order."""
    fast, clean = typed(src)
    rest = np.flatnonzero(~clean)
    if len(rest) * FEW <= len(clean):
        return run("typed", fast)
    if len(rest) == len(clean):
        return run("csv", src)
    at = np.flatnonzero(clean)
    a = run("typed", fast.take(pa.array(at)))
    b = run("csv", src.take(pa.array(rest)))
    if b.schema != a.schema:
        b = b.cast(a.schema)
    place = np.empty(src.num_rows, np.int64)
    place[at] = np.arange(len(at))
    place[rest] = len(at) + np.arange(len(rest))
    return pa.concat_tables([a, b]).take(pa.array(place))
