"""newapi-log JSON arrays laid out one item per line, read with pyarrow's JSON reader.

new-api `/api/log` dumps are `[` then one item per line with `,` at the line starts or ends, then `]`. The raw
bytes are cut into lines with numpy; the separators (and the opening `[`) are overwritten with spaces, so the
buffer becomes newline-delimited JSON that pyarrow parses on all cores against an explicit schema of the fields
the row path reads. The layout is proven, not assumed: every line must hold one whole item (pyarrow parses it as
exactly one object, or json.loads reads it as one value) and exactly one comma must stand between two items, the
closing `]` after the last. Where that does not hold (an item spread over lines, a minified array, a document
after the array, bytes that are not UTF-8) the reader raises Unvouched once every item before it was yielded, and
the caller reads on from there with the general path.

Items pyarrow cannot type (a field of another JSON type, a number outside int64, a repeated field, non-objects)
arrive as Python values (json.loads, parse_float=Decimal, as the row path reads them); an item with a `data` key
(a saved page: the row path expands it) or an escaped key also ends the bulk read.
"""

from __future__ import annotations

import ctypes
import json
import os
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from costproof.sources.usage.newapi_bulk import FIELDS, Unvouched
from costproof.sources.usage.vector import narrowed

_I, _S = pa.int64(), pa.string()
SCHEMA = pa.schema([
    ("created_at", _I), ("type", _I), ("token_name", _S), ("model_name", _S), ("quota", _I),
    ("prompt_tokens", _I), ("completion_tokens", _I), ("use_time", _I), ("is_stream", pa.bool_()),
    ("group", _S), ("other", _S), ("request_id", _S),
])
_OPTIONS = pajson.ParseOptions(explicit_schema=SCHEMA, unexpected_field_behavior="ignore", newlines_in_values=False)
_READ = pajson.ReadOptions(use_threads=True, block_size=1 << 22)
_WINDOW = 1 << 26  # bytes per block; a line longer than that is not the one-item-per-line layout
_SPLIT_MIN = 4
_SLACK = 1 << 16  # bytes a window's bytearray has beyond its first use (the next windows' unread line heads)
_WS = b" \t\r"
_DECODER = json.JSONDecoder(parse_float=Decimal)


def _libc_memmem() -> Any:
    try:
        fn = ctypes.CDLL(None).memmem
    except (OSError, AttributeError, TypeError):  # no C library to ask (Windows): bytearray.find
        return None
    fn.restype = ctypes.c_void_p
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
    return fn


_MEMMEM = _libc_memmem()


class Finder:
    """bytearray.find over one bytearray through libc's memmem: on JSON text Python's search seldom skips (the
    needles' quote and letters are everywhere) and runs ~4x slower. The bytearray must not be resized meanwhile."""

    def __init__(self, data: bytearray) -> None:
        self.data = data
        self._view = (ctypes.c_char * len(data)).from_buffer(data) if _MEMMEM is not None and len(data) else None
        self._base = ctypes.addressof(self._view) if self._view is not None else 0

    def find(self, needle: bytes, start: int, end: int) -> int:
        """data.find(needle, start, end) for 0 <= start and end <= len(data)."""
        if self._view is None or not needle or end - start < len(needle):
            return self.data.find(needle, start, end)
        hit = _MEMMEM(self._base + start, end - start, needle, len(needle))
        return -1 if hit is None else hit - self._base


def _loads(text: bytes) -> tuple[bool, Any]:
    """(True, value) when the text is exactly one JSON value (as the row path's decoder reads it)."""
    try:
        return True, _DECODER.decode(text.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False, None


class _Line:
    """An odd line read in Python: commas before/after its item, whether it closes the array, its item."""

    __slots__ = ("cb", "ca", "cl", "kind", "value")

    def __init__(self, cb: int, ca: int, cl: int, kind: int, value: Any = None) -> None:
        self.cb, self.ca, self.cl, self.kind, self.value = cb, ca, cl, kind, value  # kind: 0 none, 1 object, 2 value


def _odd(line: bytes) -> _Line | None:
    """A line outside the usual `{...}` / `,{...}` / `{...},` / `{...}]` forms; None when it cannot be read alone."""
    text = line.strip(_WS)
    cb = ca = cl = 0
    if text.startswith(b","):
        cb, text = 1, text[1:].lstrip(_WS)
    if text.endswith(b","):
        ca, text = 1, text[:-1].rstrip(_WS)
    if not text:
        return _Line(cb, ca, 0, 0)
    if text == b"]":
        return _Line(cb, 0, 1, 0) if not ca else None
    if text.startswith(b"{"):
        if text.endswith(b"]") and not ca:
            text, cl = text[:-1].rstrip(_WS), 1
        return _Line(cb, ca, cl, 1) if text.endswith(b"}") else None
    ok, value = _loads(text)
    if ok:
        return _Line(cb, ca, 0, 2, value)
    if text.endswith(b"]") and not ca:
        ok, value = _loads(text[:-1])
        if ok:
            return _Line(cb, 0, 1, 2, value)
    return None


def _parse(data: bytes | pa.Buffer) -> pa.Table | None:
    try:
        return pajson.read_json(pa.BufferReader(data), read_options=_READ, parse_options=_OPTIONS)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _parse_lines(lines: list[bytes], at: list[int]) -> tuple[list[pa.Table], list[int], list[int]]:
    """Parse the lines at indices `at`: (tables, indices parsed in table order, indices that failed)."""
    return narrowed(at, lambda part: _parse(b"\n".join(lines[i] for i in part)), _SPLIT_MIN)


def _windows(path: Path, start: int) -> Iterator[tuple[np.ndarray, np.ndarray, bytearray]]:
    """(buffer, line ends, the bytearray under the buffer) from byte `start`: whole lines only (the file's last
    line may lack its newline)."""
    size = os.path.getsize(path)
    rest = np.empty(0, np.uint8)
    mask = np.empty(0, bool)  # reused: a fresh 64 MB array a window costs its page faults every time
    spare: list[bytearray] = []  # the last windows' bytearrays, reused once nothing views them any more
    with open(path, "rb") as handle:
        handle.seek(start)
        pos = start
        while True:
            want = max(0, min(_WINDOW, size - pos))
            need = len(rest) + want
            free = [i for i, b in enumerate(spare) if len(b) >= need and _unviewed(b)]
            raw = spare.pop(free[0]) if free else bytearray(need + _SLACK)  # room for a later window's rest
            buf = np.frombuffer(raw, np.uint8)[:need]
            buf[:len(rest)] = rest
            got = handle.readinto(memoryview(raw)[len(rest):need]) if want else 0
            pos += got
            buf = buf[:len(rest) + got]
            if not len(buf):
                return
            if len(mask) < len(buf):
                mask = np.empty(len(buf), bool)
            nl = np.flatnonzero(np.equal(buf, 10, out=mask[:len(buf)]))
            if pos >= size or got < want:
                yield buf, (nl if len(nl) and nl[-1] == len(buf) - 1 else np.append(nl, len(buf))), raw
                return
            if not len(nl):
                raise Unvouched("a line longer than the read window")
            rest = buf[int(nl[-1]) + 1:].copy()
            yield buf, nl, raw
            del buf
            spare = [*spare[-1:], raw]


def _unviewed(raw: bytearray) -> bool:
    """Whether no array or buffer views the bytearray (a shrink is refused while any does; one byte taken off and
    put back leaves its memory where it is)."""
    if not raw:
        return False
    try:
        last = raw.pop()
    except BufferError:
        return False
    raw.append(last)
    return True


class Block:
    """The items of one window: a table (rn, f_<field> as SCHEMA types them) and each item as the row path
    reads it."""

    __slots__ = ("table", "item_at", "short")

    def __init__(self, table: pa.Table, item_at: Callable[[int], Any], short: bool) -> None:
        self.table = table
        self.item_at = item_at
        self.short = short  # the items end early: the bulk read ends after these


def _classify(buf: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per line: start, end (before a CR), commas before/after the item, closing bracket, item kind (0 none,
    1 object, 2 another value), the first line that cannot be read alone, and the values read in Python."""
    starts = np.empty(len(ends), np.int64)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    cut = ends.astype(np.int64)
    has = cut > starts
    cr = np.zeros(len(ends), bool)
    cr[has] = buf[cut[has] - 1] == 13
    cut[cr] -= 1
    length = cut - starts
    big = length >= 2
    top = len(buf) - 1
    s0 = np.where(big, buf[np.minimum(starts, top)], 0)
    s1 = np.where(big, buf[np.minimum(starts + 1, top)], 0)
    e1 = np.where(big, buf[np.clip(cut - 1, 0, top)], 0)
    e2 = np.where(big, buf[np.clip(cut - 2, 0, top)], 0)
    cb_b = (s0 == 44) & (s1 == 123)
    ca_b = (e1 == 44) & (e2 == 125)
    cl_b = (e1 == 93) & (e2 == 125)
    normal = ((s0 == 123) | cb_b) & ((e1 == 125) | ca_b | cl_b) & (length >= 2 + cb_b + ca_b + cl_b)
    # the separators become spaces: each item line is then one JSON value
    buf[starts[cb_b & normal]] = 32
    buf[cut[(ca_b | cl_b) & normal] - 1] = 32
    cb, ca, cl, it = (x.astype(np.int64) for x in (cb_b, ca_b, cl_b, normal))
    values: dict[int, Any] = {}
    bad_line = len(ends)
    for i in np.flatnonzero(~normal).tolist():
        seg = buf[starts[i]:cut[i]]
        line = _odd(seg.tobytes())
        if line is None:
            bad_line = i
            break
        cb[i], ca[i], cl[i], it[i] = line.cb, line.ca, line.cl, line.kind
        if line.kind == 1:  # blank what lies outside the braces
            raw = seg.tobytes()
            seg[:raw.index(b"{")] = 32
            seg[raw.rindex(b"}") + 1:] = 32
        else:
            seg[:] = 32
            if line.kind == 2:
                values[i] = line.value
    return starts, cut, cb, ca, cl, it, np.int64(bad_line), values  # type: ignore[return-value]


def blocks(path: Path) -> Iterator[Block]:
    """The array's items, a window at a time; raises Unvouched (after yielding every item before it) where the
    file leaves the one-item-per-line layout."""
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
    at = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    while at < len(head) and head[at] in b" \t\r\n":
        at += 1
    if head[at:at + 1] != b"[":
        raise Unvouched("not a JSON array")
    number = 0  # items before the window
    commas = 0  # commas since the last item (or the opening bracket)
    closed = False
    for buf, ends, whole in _windows(path, at + 1):
        starts, cut, cb, ca, cl, it, bad, values = _classify(buf, ends)
        bad_line = int(bad)
        tok = cb + ca + cl + it
        if closed:
            if bad_line < len(ends) or tok.any():
                raise Unvouched("a value after the array")
            continue
        stop = bad_line  # the first line not vouched for
        items = np.flatnonzero(it[:stop] > 0)
        csum = np.cumsum(cb + ca)
        if len(items):  # exactly one comma between two items, none before the first
            gaps = csum[items] - ca[items]
            gaps[1:] -= csum[items[:-1]] - ca[items[:-1]]
            gaps[0] += commas
            want = np.ones(len(items), np.int64)
            if number == 0:
                want[0] = 0
            wrong = np.flatnonzero(gaps != want)
            if len(wrong):
                stop = int(items[wrong[0]])
        shut = np.flatnonzero(cl[:stop] > 0)
        if len(shut):
            c = int(shut[0])
            before = items[items < c]
            if it[c]:
                between = 0
            elif len(before):
                between = int(csum[c] - csum[before[-1]] + ca[before[-1]])
            else:
                between = int(csum[c]) + commas
            if between > (1 if number or len(before) or it[c] else 0):
                stop = c
            else:
                closed = True
                stop = c + 1
        vouched = items[items < stop]
        n = len(vouched)
        if n:
            block = _type(buf, whole, starts, cut, vouched, it, values, number)
            if block is None:
                raise Unvouched("not UTF-8 text")
            if block.table.num_rows:
                yield block
            if block.short:
                raise Unvouched("an item the bulk reader does not read")
        number += n
        if closed:
            if stop < len(ends) and (stop < bad_line and tok[stop:bad_line].any() or bad_line < len(ends)):
                raise Unvouched("a value after the array")
            continue
        if stop < len(ends):
            raise Unvouched("not one item per line")
        if n:
            last = int(vouched[-1])
            commas = int(csum[-1] - csum[last] + ca[last])
        else:
            commas += int(csum[-1])
    if not closed:
        raise Unvouched("the array does not close")


class _Items:
    """Item i of a window as the row path reads it: json.loads of its line, or the value read already."""

    def __init__(self, buf: np.ndarray, starts: np.ndarray, cut: np.ndarray, lines: np.ndarray,
                 values: dict[int, Any]) -> None:
        self.buf, self.starts, self.cut, self.lines, self.values = buf, starts, cut, lines, values

    def text(self, i: int) -> bytes:
        line = int(self.lines[i])
        return self.buf[self.starts[line]:self.cut[line]].tobytes()

    def __call__(self, i: int) -> Any:
        line = int(self.lines[i])
        if line in self.values:
            return self.values[line]
        ok, value = _loads(self.text(i))
        if not ok:  # pyarrow read it as one object: json.loads reads it too
            raise Unvouched("an item json.loads does not read")
        return value


def _type(buf: np.ndarray, whole: bytearray, starts: np.ndarray, cut: np.ndarray, lines: np.ndarray,
          it: np.ndarray, values: dict[int, Any], number: int) -> Block | None:
    """(rn, f_<field>) for the item lines (None when the window is not UTF-8); rows pyarrow could not type are
    all null (the bulk SQL sends them to the row path, which reads item_at(i)). `whole` is the bytearray under
    `buf` (searched in place)."""
    items = _Items(buf, starts, cut, lines, values)
    n = len(lines)
    first, end = int(starts[lines[0]]), int(cut[lines[-1]])
    try:  # the row path reads the file as UTF-8 text: anything else is its error to raise
        offsets = pa.py_buffer(np.array([0, end - first], np.int64))
        text = pa.py_buffer(buf).slice(first, end - first)
        pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, text]).cast(pa.large_string())
    except pa.ArrowInvalid:
        return None
    objects = np.flatnonzero(it[lines] == 1)
    # an item naming `data` (a saved page: the row path expands it), a key pyarrow would read through an escape,
    # or `Inf` / `-NaN` as a value (pyarrow reads them, Python's decoder refuses them): read in Python
    line_starts = starts[lines]
    suspects: set[int] = set()
    finder = Finder(whole)
    for needle in (b'"data"', b"\\u00", b"Inf", b"-NaN"):
        pos = finder.find(needle, first, end)
        while pos >= 0:
            if needle == b"Inf" and whole[pos - 1] not in b":[, \t\r-":  # a word inside a string, say
                pos = finder.find(needle, pos + 1, end)
                continue
            k = int(np.searchsorted(line_starts, pos, side="right")) - 1
            suspects.add(k)
            pos = finder.find(needle, max(int(cut[lines[k]]), pos + 1), end)
    table = None
    parsed_at: np.ndarray | None = None
    if len(objects) == n and not suspects:  # the window's bytes as they are: one parse, no copy
        table = _parse(pa.py_buffer(buf).slice(first, end - first))
        if table is not None and table.num_rows != n:
            table = None
    if table is None:
        texts = [items.text(i) for i in range(n)]
        tables, done, failed = _parse_lines(texts, [int(i) for i in objects.tolist() if int(i) not in suspects])
        table = pa.concat_tables(tables) if tables else SCHEMA.empty_table()
        parsed_at = np.array(done, np.int64)
        for i in sorted({*failed, *(k for k in suspects if it[lines[k]] == 1)}):
            ok, value = _loads(texts[i])
            if not ok:  # not one whole item: the layout is not what it seemed
                n = i
                break
            items.values[int(lines[i])] = value
            if isinstance(value, dict) and "data" in value:
                n = i
                break
    cols: dict[str, Any] = {"rn": pa.array(np.arange(number + 1, number + 1 + n, dtype=np.int64))}
    if parsed_at is None:
        for name in FIELDS:
            cols[f"f_{name}"] = table.column(name)
    else:
        where = np.full(n, -1, np.int64)
        keep = parsed_at[parsed_at < n]
        where[keep] = np.arange(len(keep))
        idx = pa.array(where, mask=where < 0)
        for name in FIELDS:
            cols[f"f_{name}"] = pc.take(table.column(name), idx)
    return Block(pa.table(cols), items, n < len(lines))
