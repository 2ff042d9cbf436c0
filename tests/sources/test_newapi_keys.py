"""newapi_keys: the time's text is isoformat()'s, and the key is newapi_log.identity_key's."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from costproof.sources.usage import newapi_keys, newapi_log

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("spread", [86400 * 3, 86400 * 5000, 99999999999])
def test_at_texts_are_isoformat(spread: int) -> None:
    rng = random.Random(spread)
    start = rng.randint(0, 99999999999 - spread)
    seconds = [start + rng.randint(0, spread) for _ in range(3000)]
    seconds += [0, 86399, 86400, 951782400, 99999999999, 4102444799]  # epoch, day edges, a leap day, the last
    times: list[datetime | None] = [EPOCH + timedelta(seconds=s) for s in seconds]
    odd = [
        None,
        EPOCH + timedelta(seconds=5, microseconds=1),
        EPOCH - timedelta(seconds=1),
        EPOCH + timedelta(seconds=100000000000),
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ]
    times += odd
    got = newapi_keys.at_texts(
        pa.chunked_array(
            [pa.array(times[:10], pa.timestamp("us", tz="UTC")), pa.array(times[10:], pa.timestamp("us", tz="UTC"))]
        )
    )
    want = [t.isoformat() for t in times[: -len(odd)]] + [None] * len(odd)  # no bulk record has those times
    assert got.to_pylist() == want


def test_at_texts_of_nothing() -> None:
    assert newapi_keys.at_texts(pa.array([], pa.timestamp("us", tz="UTC"))).to_pylist() == []


def test_keys_are_identity_keys() -> None:
    rng = random.Random(3)
    rows = []
    for _ in range(500):
        rows.append(
            {
                "request_id": rng.choice([None, "", "req-1", "r\u00e9q"]),
                "occurred": EPOCH + timedelta(seconds=rng.randint(0, 4102444799)),
                "token_safe": rng.choice(["", "key-a", "keyhash:0123456789abcdef"]),
                "model": rng.choice(["", "gpt-4o", "模型"]),
                "type_v": rng.choice([1, 2, 5, 6]),
                "quota_v": rng.choice([None, 0, -500, 2**62]),
                "prompt_tokens_v": rng.choice([None, 0, 17]),
                "completion_tokens_v": rng.choice([None, 3]),
                "use_time_v": rng.choice([None, 0, 12]),
            }
        )
    table = pa.Table.from_pylist(
        rows,
        schema=pa.schema(
            [
                ("request_id", pa.string()),
                ("occurred", pa.timestamp("us", tz="UTC")),
                ("token_safe", pa.string()),
                ("model", pa.string()),
                *(
                    (n, pa.int64())
                    for n in ("type_v", "quota_v", "prompt_tokens_v", "completion_tokens_v", "use_time_v")
                ),
            ]
        ),
    )
    got = newapi_keys.keys(table, newapi_keys.at_texts(table.column("occurred"))).to_pylist()
    want = [
        newapi_log.identity_key(
            (
                r["request_id"] or "",
                r["occurred"].isoformat(),
                r["token_safe"],
                r["model"],
                r["type_v"],
                r["quota_v"] or 0,
                r["prompt_tokens_v"] or 0,
                r["completion_tokens_v"] or 0,
                r["use_time_v"],
            )
        )
        for r in rows
    ]
    assert got == want


def test_every_second_of_the_day_has_its_text() -> None:
    want = [f"T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+00:00" for s in range(86400)]
    assert newapi_keys._clock().to_pylist() == want
