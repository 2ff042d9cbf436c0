"""newapi_bulk.Numbers on chunks whose keys are mostly all distinct (kept without a copy) numbers as Occurrences."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from costproof.sources.usage import newapi_bulk
from costproof.sources.usage.base import Occurrences


@pytest.mark.parametrize("limit", [5, 64, 500, 100_000])
def test_distinct_chunks_number_as_occurrences(limit: int) -> None:
    rng = random.Random(limit)
    expected, numbers = Occurrences(limit), newapi_bulk.Numbers(Occurrences(limit))
    fresh = 0
    for _ in range(60):
        n = rng.randint(0, 120)
        if rng.random() < 0.6:  # every key new: a chunk of its own groups
            keys = [f"n{fresh + i}" for i in range(n)]
            fresh += n
        else:  # keys seen before (held, or forgotten at a reset), distinct within the chunk
            keys = [f"n{k}" for k in rng.sample(range(max(fresh, 1)), min(n, max(fresh, 1)))]
        # the keys as a slice of a longer array, as run_chunk hands them over
        padded = pa.array(["x", *keys, "y"], pa.string()).slice(1, len(keys))
        ids = pa.array([newapi_bulk.hashlib_id(k, 1) for k in ["x", *keys, "y"]], pa.string()).slice(1, len(keys))
        got = numbers.number(padded, ids).tolist()
        assert got == [expected.next_key(k) for k in keys]
    numbers.sync()
    assert numbers.seen.seen == expected.seen
