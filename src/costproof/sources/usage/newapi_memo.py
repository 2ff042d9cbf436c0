"""Answers of a per-value SQL stage kept across chunks: log rows repeat the same few `other` texts and names."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

# values held at most (per memo); a chunk with more distinct values than this is answered without the memo
LIMIT = 4096


class Memo:
    """compute(values) for a pure function of each value (a row in, a row out, in order): values answered in an
    earlier chunk are taken from here, the others computed (DuckDB's planning alone costs milliseconds a query).

    The values held and their answers are one tuple, read once and replaced whole: parses on several threads may
    share a memo (one may recompute what another added meanwhile, never read a half-updated one)."""

    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self.held: tuple[pa.Array, pa.Table] | None = None

    def get(self, values: pa.Array, compute: Callable[[pa.Array], pa.Table]) -> pa.Table:
        """compute(values), its rows in the order of `values` (distinct values, a null among them allowed)."""
        if len(values) > self.limit:
            return compute(values)
        held = self.held
        if held is not None and held[0].type == values.type:
            keys, answers = held
            pos = pc.index_in(values, value_set=keys)
            if pos.null_count == 0:
                return answers.take(pos)
            fresh = values.filter(pc.is_null(pos))
            if len(keys) + len(fresh) <= self.limit:
                keys = pa.concat_arrays([keys, fresh])
                answers = pa.concat_tables([answers, compute(fresh)]).combine_chunks()
                self.held = (keys, answers)
                return answers.take(pc.index_in(values, value_set=keys))
        got = compute(values)  # a first chunk, another type, or a full memo: start afresh with these
        self.held = (values, got.combine_chunks())
        return got
