"""newapi-log identity keys built in Arrow: the record time as isoformat() writes it, and the key text."""

from __future__ import annotations

import functools
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_DAY = 86400
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_MAX_SECONDS = 99999999999  # the latest time the bulk SQL reads (read_time's seconds)
_SEP = "\x1f"
_SPAN = 4096  # days between a chunk's first and last time below which every day between gets its text


@functools.cache
def _clock() -> pa.Array:
    """'THH:MM:SS+00:00' for each second of a day (written as bytes: 86400 f-strings cost ~0.1 s an import)."""
    s = np.arange(_DAY)
    text = np.frombuffer(b"T00:00:00+00:00" * _DAY, np.uint8).reshape(_DAY, 15).copy()
    for col, digit in (
        (1, s // 36000),
        (2, s // 3600 % 10),
        (4, s // 600 % 6),
        (5, s // 60 % 10),
        (7, s % 60 // 10),
        (8, s % 10),
    ):
        text[:, col] += digit.astype(np.uint8)
    offsets = np.arange(0, 15 * (_DAY + 1), 15, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), _DAY, [None, pa.py_buffer(offsets), pa.py_buffer(text)])


def at_texts(occurred: pa.ChunkedArray | pa.Array) -> pa.Array:
    """occurred.isoformat() per row (UTC, whole seconds): the day's text once per distinct day, the clock's from a
    table. Null where the time is null, not a whole second or outside 0..99999999999 seconds (no bulk record has
    such a time; a null text makes the bulk SQL hand the row on)."""
    if isinstance(occurred, pa.ChunkedArray):
        occurred = occurred.combine_chunks()
    micros = pc.fill_null(pc.cast(occurred, pa.int64()), 0).to_numpy()
    valid = occurred.is_valid().to_numpy(zero_copy_only=False)
    seconds, rest = np.divmod(micros, 1_000_000)
    valid &= (rest == 0) & (seconds >= 0) & (seconds <= _MAX_SECONDS)
    seconds = np.where(valid, seconds, 0)
    days, clock = np.divmod(seconds, _DAY)
    first = int(days.min()) if len(days) else 0
    if len(days) and int(days.max()) - first < _SPAN:  # a log covers some days: index them, no sort
        distinct, where = np.arange(first, int(days.max()) + 1), days - first
    else:
        distinct, where = np.unique(days, return_inverse=True)
    day_texts = pa.array([date.fromordinal(_EPOCH_ORDINAL + int(d)).isoformat() for d in distinct], pa.string())
    day = day_texts.take(pa.array(where, mask=~valid))  # null where not valid: the joined text is null there
    return pc.binary_join_element_wise(day, _clock().take(pa.array(clock)), "")


def keys(values: pa.Table, at_text: pa.Array) -> pa.Array:
    """The identity key of each row of value_sql's table with token_safe (newapi_log.identity_key's text).

    Null where a part the key needs is null (type, time); the bulk SQL hands such rows to the row path.
    """

    def number(name: str, default: str | None) -> pa.ChunkedArray:
        text = pc.cast(values.column(name), pa.string())
        return text if default is None else pc.fill_null(text, default)

    return pc.binary_join_element_wise(
        "newapi-log",
        pc.fill_null(values.column("request_id"), ""),
        at_text,
        values.column("token_safe"),
        values.column("model"),
        number("type_v", None),
        number("quota_v", "0"),
        number("prompt_tokens_v", "0"),
        number("completion_tokens_v", "0"),
        number("use_time_v", ""),
        _SEP,
    )
