"""Answers of a per-value SQL stage kept across chunks: log rows repeat the same few `other` texts and names."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

# values held at most (per memo); a chunk with more distinct values than this is answered without the memo
LIMIT = 4096


class Memo:
    """compute(values) for a pure function of each value (a row in, a row out, in order): values answered in an
    earlier chunk are taken from here, the others computed (DuckDB's planning alone costs milliseconds a query)."""

    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self.keys: pa.Array | None = None
        self.answers: pa.Table | None = None

    def get(self, values: pa.Array, compute: Callable[[pa.Array], pa.Table]) -> pa.Table:
        """compute(values), its rows in the order of `values` (distinct values, a null among them allowed)."""
        if len(values) > self.limit:
            return compute(values)
        if self.keys is not None and self.keys.type == values.type and self.answers is not None:
            pos = pc.index_in(values, value_set=self.keys)
            if pos.null_count == 0:
                return self.answers.take(pos)
            fresh = values.filter(pc.is_null(pos))
            if len(self.keys) + len(fresh) <= self.limit:
                got = compute(fresh)
                self.keys = pa.concat_arrays([self.keys, fresh])
                self.answers = pa.concat_tables([self.answers, got]).combine_chunks()
                return self.answers.take(pc.index_in(values, value_set=self.keys))
        got = compute(values)  # a first chunk, another type, or a full memo: start afresh with these
        self.keys, self.answers = values, got.combine_chunks()
        return got
