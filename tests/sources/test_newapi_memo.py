"""newapi_memo.Memo answers as the function itself would, chunk after chunk, and asks it only for new values."""

from __future__ import annotations

import random
import threading

import pyarrow as pa
import pyarrow.compute as pc

from costproof.sources.usage.newapi_memo import Memo


def _compute(asked: list[int]):  # type: ignore[no-untyped-def]
    def compute(values: pa.Array) -> pa.Table:
        asked.append(len(values))
        return pa.table({"upper": pc.utf8_upper(values), "length": pc.utf8_length(values)})

    return compute


def test_memo_answers_as_the_function() -> None:
    rng = random.Random(5)
    memo = Memo(limit=40)
    asked: list[int] = []
    compute = _compute(asked)
    for _ in range(200):
        pool = [None, *(f"v{i}" for i in range(rng.choice([5, 30, 60])))]
        values = pa.array(rng.sample(pool, rng.randint(0, min(len(pool), 45))), pa.string())
        got = memo.get(values, compute)
        assert got.to_pylist() == _compute([])(values).to_pylist()
    assert sum(asked) < 200 * 20  # values met before were not computed again


def test_memo_asks_only_for_values_it_has_not_met() -> None:
    memo = Memo()
    asked: list[int] = []
    compute = _compute(asked)
    memo.get(pa.array(["a", "b", None]), compute)
    memo.get(pa.array(["b", None, "a"]), compute)
    assert asked == [3]
    got = memo.get(pa.array(["c", "a"]), compute)
    assert asked == [3, 1] and got.column("upper").to_pylist() == ["C", "A"]
    got = memo.get(pa.array(["a", "c"], pa.large_string()), compute)  # another type: computed afresh
    assert asked == [3, 1, 2] and got.column("upper").to_pylist() == ["A", "C"]


def test_memo_shared_by_threads_answers_each_as_the_function() -> None:
    memo = Memo(limit=50)
    wrong: list[object] = []

    def parse(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(150):
            values = pa.array(rng.sample([f"v{i}" for i in range(70)], rng.randint(1, 30)), pa.string())
            got = memo.get(values, _compute([]))
            if got.to_pylist() != _compute([])(values).to_pylist():
                wrong.append(values)

    threads = [threading.Thread(target=parse, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not wrong
