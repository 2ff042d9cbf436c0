"""openai_merge's slices give the tables a filter and a sort would."""

from __future__ import annotations

import random

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from costproof.sources.usage import openai_merge


def _table(keys: list[int]) -> pa.Table:
    return pa.table({"k": pa.array(keys, pa.int64()), "v": pa.array([f"v{k}" for k in keys], pa.string())})


@pytest.mark.parametrize("seed", range(12))
def test_drop_rows_is_filter(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.choice([0, 1, 5, 300, 1000])
    table = _table(list(range(n)))
    rate = rng.choice([0.0, 0.005, 0.05, 0.5, 1.0])
    keep = [rng.random() >= rate for _ in range(n)]
    for edge in (0, n - 1):
        if n and rng.random() < 0.5:
            keep[edge] = False
    mask = pa.chunked_array([pa.array(keep[: n // 2], pa.bool_()), pa.array(keep[n // 2 :], pa.bool_())])
    for given in (mask, mask.combine_chunks()):
        assert openai_merge.drop_rows(table, given).equals(table.filter(given))


@pytest.mark.parametrize("seed", range(12))
def test_merge_sorted_is_sort(seed: int) -> None:
    rng = random.Random(seed)
    keys = rng.sample(range(5000), rng.choice([0, 1, 10, 600, 1200]))
    few = sorted(rng.sample(keys, min(len(keys), rng.choice([0, 1, 3, 50, 400]))))
    few = sorted(set(few) | ({0, 4999} & set(keys)) if rng.random() < 0.5 else set(few))
    big = sorted(set(keys) - set(few))
    merged = openai_merge.merge_sorted(_table(big), _table(few), "k")
    whole = pa.concat_tables([_table(big), _table(few)])
    assert merged.equals(whole.take(pc.sort_indices(whole.column("k"))))
