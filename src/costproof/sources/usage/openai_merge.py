"""openai-jsonl bulk tables cut and interleaved by slices: a few dropped or inserted rows copy no column."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# past this many rows to drop or insert, one filter / sort copies less than the slices would cost
_FEW = 256


def drop_rows(table: pa.Table, keep: pa.Array | pa.ChunkedArray) -> pa.Table:
    """table.filter(keep) (keep without nulls), as slices between the dropped rows when they are few."""
    flags = keep.to_numpy() if isinstance(keep, pa.ChunkedArray) else keep.to_numpy(zero_copy_only=False)
    dropped = np.flatnonzero(~flags.astype(bool, copy=False))
    if not len(dropped):
        return table
    if len(dropped) > _FEW:
        return table.filter(keep)
    starts = np.r_[0, dropped + 1]
    ends = np.r_[dropped, table.num_rows]
    pieces = [table.slice(int(a), int(b - a)) for a, b in zip(starts, ends, strict=True) if b > a]
    return pa.concat_tables(pieces) if pieces else table.slice(0, 0)


def merge_sorted(big: pa.Table, few: pa.Table, key: str) -> pa.Table:
    """The rows of two tables, each sorted by `key` (distinct values across both), in `key` order: `few` inserted
    between slices of `big` when it is small, else one stable sort."""
    if not few.num_rows:
        return big
    if few.num_rows > _FEW:
        table = pa.concat_tables([big, few])
        return table.take(pc.sort_indices(table.column(key)))
    at = np.searchsorted(big.column(key).to_numpy(), few.column(key).to_numpy())
    pieces = []
    start = 0
    for j, pos in enumerate(at.tolist()):
        if pos > start:
            pieces.append(big.slice(start, pos - start))
            start = pos
        pieces.append(few.slice(j, 1))
    if start < big.num_rows:
        pieces.append(big.slice(start))
    return pa.concat_tables(pieces)
