"""newapi-log saved API pages, one `{"data": {"items": [...]}}` page per line, read with pyarrow's JSON reader."""

from __future__ import annotations

import io
import json
import os
import queue
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from costproof.model.errors import InputError
from costproof.sources.usage import vector
from costproof.sources.usage.base import _doc_items, _JsonStream
from costproof.sources.usage.newapi_bulk import FIELDS, Unvouched
from costproof.sources.usage.newapi_lines import SCHEMA, Block

# The file is read in windows of whole lines. Page lines pyarrow can vouch for are parsed together against a
# nested schema (page -> data -> items -> the fields the row path reads) and their items flattened; records are
# numbered across pages as the row path numbers them. pyarrow agrees with the row path's decoder on every page it
# accepts, except where the text checks (_suspects) say otherwise; such lines, lines pyarrow refuses and lines that
# are not one `{...}` are read by the row path's own document reader (base._doc_items), so their items are exactly
# the row path's and all of them take the row path. A page the row path would not read as items (success false,
# no data.items, a saved page among the items, a document spread over lines, bytes that are not UTF-8) ends the
# bulk read with Unvouched once every record before it was yielded; the caller reads on with the row path.

ITEM = pa.struct(list(SCHEMA))
# `success` is typed so that only true, false or null passes (the row path stops at `success: false`)
PAGE = pa.schema([("success", pa.bool_()),
                  ("data", pa.struct([("success", pa.bool_()), ("items", pa.list_(ITEM))]))])
_OPTIONS = pajson.ParseOptions(explicit_schema=PAGE, unexpected_field_behavior="ignore", newlines_in_values=False)
_BLOCK = 1 << 22  # pyarrow's block; a longer page line raises the block to its length
# bytes per window (~80k items, one chunk); a line longer than that is not one page per line. Under glibc's 32 MB
# ceiling for serving large blocks by mmap: a freed window's memory is reused, not faulted in afresh.
_WINDOW = 30 << 20
_SPLIT_MIN = 4
_PATHS = (("data",), ("data", "items"))  # where the row path finds items in a page (newapi_log._stream)
_BLANK = b" \t\r"
_DECODER = json.JSONDecoder(parse_float=Decimal)


def _line_docs(text: bytes) -> tuple[list[Any], bool]:
    """The items the row path reads from one line (every document on it), and whether it reads the whole line so:
    False where it raises, meets a saved page among the items (it expands those) or the text is not UTF-8."""
    try:
        stream = _JsonStream(io.StringIO(text.decode("utf-8")), "")
    except UnicodeDecodeError:
        return [], False
    items: list[Any] = []
    try:
        while stream.peek():
            for item in _doc_items(stream, "", _PATHS, 0):
                if isinstance(item, dict) and "data" in item:
                    return items, False
                items.append(item)
    except (InputError, RecursionError):
        return items, False
    return items, True


def _page_items(text: bytes, count: int) -> list[Any]:
    """The items of a page pyarrow read, as the row path reads them. pyarrow refuses repeated data/items keys and
    anything but objects and arrays there, the checks keep out what Python's decoder refuses: the page is plain
    JSON, which the row path's reader reads as json.loads does (its C decoder is several times faster)."""
    try:
        items = _DECODER.decode(text.decode("utf-8"))["data"]["items"]
    except (ValueError, KeyError, TypeError, RecursionError):
        items = None
    if not isinstance(items, list) or len(items) != count:  # never expected
        raise Unvouched("a page the row path reads otherwise")
    return items


def _read(data: pa.Buffer | bytes, block: int) -> pa.Table | None:
    options = pajson.ReadOptions(use_threads=True, block_size=block)
    try:
        return pajson.read_json(pa.BufferReader(data), read_options=options, parse_options=_OPTIONS)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _read_lines(texts: list[bytes], at: list[int], block: int) -> tuple[list[pa.Table], list[int], list[int]]:
    """Parse the lines at indices `at`: (tables, indices parsed in table order, indices that failed)."""
    return vector.narrowed(at, lambda part: _read(b"\n".join(texts[i] for i in part), block), _SPLIT_MIN)


def _windows(path: Path, start: int) -> Iterator[tuple[np.ndarray, np.ndarray, bytearray]]:
    """(buffer, line ends, the bytearray under the buffer) from byte `start`: whole lines only (the file's last
    line may lack its newline)."""
    size = os.path.getsize(path)
    rest = b""
    with open(path, "rb") as handle:
        handle.seek(start)
        pos = start
        while True:
            want = max(0, min(_WINDOW, size - pos))
            raw = bytearray(len(rest) + want)
            raw[:len(rest)] = rest
            got = handle.readinto(memoryview(raw)[len(rest):]) if want else 0
            pos += got
            length = len(rest) + got
            if not length:
                return
            ends = []  # pages are long lines: memchr finds their ends faster than a pass over every byte
            at = raw.find(b"\n", 0, length)
            while at >= 0:
                ends.append(at)
                at = raw.find(b"\n", at + 1, length)
            buf = np.frombuffer(raw, np.uint8)[:length]
            if pos >= size or got < want:
                if not ends or ends[-1] != length - 1:
                    ends.append(length)
                yield buf, np.array(ends, np.int64), raw
                return
            if not ends:
                raise Unvouched("a line longer than the read window")
            rest = bytes(raw[ends[-1] + 1:length])
            yield buf[:ends[-1] + 1], np.array(ends, np.int64), raw


# `data"` ends every "data" string, an escaped "data" holds one of these escapes (RE2 finds both at memchr
# speed; a pattern starting with `"`, as frequent as it is in JSON, would be several times slower)
_DATA = 'data"'
_ESCAPED = r"\\u00(?:6[14]|74)"


def _suspects(buf: np.ndarray, starts: np.ndarray, cut: np.ndarray, stop: int) -> np.ndarray:
    """Lines (of the first `stop`) whose pages pyarrow may read otherwise than the row path: `data` besides the
    page's own key, or an escaped letter of it (pyarrow ignores the items' keys it is not asked for, the row path
    expands an item with `data`), `Inf` or `-NaN` outside a string (pyarrow accepts them, Python's decoder does
    not)."""
    end = int(cut[stop - 1])
    offsets = pa.py_buffer(np.append(starts[:stop], end).astype(np.int64))
    lines = pa.Array.from_buffers(pa.large_binary(), stop, [None, offsets, pa.py_buffer(buf)])
    found = pc.count_substring_regex(lines, _DATA).to_numpy() > 1
    found |= pc.match_substring_regex(lines, _ESCAPED).to_numpy(zero_copy_only=False)
    spelled = vector.nan_inf(lines)
    if spelled is not None:
        found |= spelled.to_numpy(zero_copy_only=False)
    return found


def _flatten(lists: pa.ChunkedArray, pages: int) -> list[pa.ChunkedArray]:
    """The items of the first `pages` pages, one column per item field (a null item: nulls in every field)."""
    pieces = []
    for chunk in lists.chunks:  # chunk by chunk: concatenating them first would copy every string
        if pages <= 0:
            break
        part = chunk.slice(0, pages)
        pages -= len(part)
        pieces.append(part.flatten().flatten())
    if not pieces:
        return []
    return [pa.chunked_array([p[j] for p in pieces], t) for j, t in enumerate(SCHEMA.types)]


def _numpy(column: pa.ChunkedArray) -> np.ndarray:
    return column.combine_chunks().to_numpy(zero_copy_only=False)


def _false(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.fill_null(pc.equal(column, pa.scalar(False)), pa.scalar(False))


class _Pages:
    """Item i of a window's output as the row path reads it: from the line's items read in Python, or its page
    line read so on demand."""

    def __init__(self, texts: dict[int, bytes], read: dict[int, list[Any]], lines: np.ndarray,
                 offsets: np.ndarray, counts: np.ndarray) -> None:
        self.texts, self.read, self.lines, self.offsets, self.counts = texts, read, lines, offsets, counts
        self.last: tuple[int, list[Any]] = (-1, [])

    def __call__(self, i: int) -> Any:
        k = int(np.searchsorted(self.offsets, i, side="right")) - 1
        line = int(self.lines[k])
        items = self.read.get(line)
        if items is None:
            if self.last[0] != line:  # one page kept: the SQL refuses records in page order
                self.last = (line, _page_items(self.texts[line], int(self.counts[k])))
            items = self.last[1]
        return items[i - int(self.offsets[k])]


class _Texts(dict):  # type: ignore[type-arg]
    """Line texts of a window, cut from its buffer on first use."""

    def __init__(self, buf: np.ndarray, starts: np.ndarray, cut: np.ndarray) -> None:
        super().__init__()
        self.buf, self.starts, self.cut = buf, starts, cut

    def __missing__(self, line: int) -> bytes:
        return self.buf[self.starts[line]:self.cut[line]].tobytes()


def _window(buf: np.ndarray, ends: np.ndarray, whole: bytearray, number: int) -> tuple[Block | None, bool]:
    """The window's records numbered after `number` (None when there are none), and whether the bulk read stops
    after them."""
    n = len(ends)
    starts = np.empty(n, np.int64)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    cut = ends.astype(np.int64)
    top = len(buf) - 1
    cr = (cut > starts) & (buf[np.clip(cut - 1, 0, top)] == 13)
    cut[cr] -= 1
    length = cut - starts
    s0 = np.where(length >= 2, buf[np.minimum(starts, top)], 0)
    e1 = np.where(length >= 2, buf[np.clip(cut - 1, 0, top)], 0)
    page = (s0 == 123) & (e1 == 125)
    texts = _Texts(buf, starts, cut)
    stop = n  # the first line the bulk read cannot vouch for
    first, end = int(starts[0]), int(cut[-1])
    try:  # the row path reads the file as UTF-8 text
        offsets = pa.py_buffer(np.array([0, end - first], np.int64))
        pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(buf).slice(first, end - first)]
                              ).cast(pa.large_string())
    except pa.ArrowInvalid:
        for i in range(n):
            try:
                texts[i].decode("utf-8")
            except UnicodeDecodeError:
                stop = i
                break
    python: set[int] = set()  # lines read in Python
    for i in np.flatnonzero(~page[:stop]).tolist():
        text = texts[i]
        core = text.strip(_BLANK)
        seg = buf[starts[i]:cut[i]]
        if not core:
            seg[:] = 32
        elif core[:1] == b"{" and core[-1:] == b"}":  # a page with blanks around it (JSON whitespace)
            page[i] = True
        else:
            python.add(i)
    if stop:
        python.update(np.flatnonzero(_suspects(buf, starts, cut, stop) & page[:stop]).tolist())
    texts.update((i, texts[i]) for i in python)  # kept before their bytes are blanked
    for i in python:
        buf[starts[i]:cut[i]] = 32
        page[i] = False
    at = np.flatnonzero(page[:stop])
    block = max(_BLOCK, int(length[at].max()) + 2) if len(at) else _BLOCK
    table = None
    if len(at):
        table = _read(pa.py_buffer(buf).slice(first, int(cut[stop - 1]) - first), block)
        if table is not None and table.num_rows != len(at):
            table = None
        parsed = at
    if table is None and len(at):
        tables, done, failed = _read_lines(texts, at.tolist(), block)
        table = pa.concat_tables(tables) if tables else PAGE.empty_table()
        parsed = np.array(done, np.int64)
        python.update(failed)
    counts = np.zeros(n, np.int64)
    fields: list[pa.ChunkedArray] = []
    if table is not None and table.num_rows:
        data = table.column("data")
        lists = pc.struct_field(data, "items")
        bad = pc.or_(pc.or_(_false(table.column("success")), _false(pc.struct_field(data, "success"))),
                     pc.or_(pc.is_null(data), pc.is_null(lists)))
        wrong = np.flatnonzero(_numpy(bad))
        if len(wrong):
            stop = min(stop, int(parsed[wrong[0]]))
    read: dict[int, list[Any]] = {}
    for i in sorted(python):
        if i >= stop:
            break
        values, whole_line = _line_docs(texts[i])
        if not whole_line:
            stop = i
            break
        read[i] = values
        counts[i] = len(values)
    if table is not None and table.num_rows:
        keep = parsed < stop
        counts[parsed[keep]] = _numpy(pc.list_value_length(lists))[keep]
        fields = _flatten(lists, int(keep.sum()))
    lines = np.flatnonzero(counts[:stop])
    total = int(counts[:stop].sum())
    if not total:
        return None, stop < n
    rn = pa.array(np.arange(number + 1, number + 1 + total, dtype=np.int64))
    offsets = np.concatenate([[0], np.cumsum(counts[lines])[:-1]]).astype(np.int64)
    if not read:
        cols = {f"f_{name}": fields[j] for j, name in enumerate(FIELDS)}
    else:  # pyarrow's items in their places, items read in Python all null (the row path reads them)
        where = np.full(total, -1, np.int64)
        done = 0
        for line, off in zip(lines.tolist(), offsets.tolist(), strict=True):
            if line not in read:
                c = int(counts[line])
                where[off:off + c] = np.arange(done, done + c)
                done += c
        idx = pa.array(where, mask=where < 0)
        cols = {}
        for j, (name, kind) in enumerate(zip(FIELDS, SCHEMA.types, strict=True)):
            cols[f"f_{name}"] = pc.take(fields[j], idx) if fields else pa.nulls(total, kind)
    return Block(pa.table({"rn": rn, **cols}), _Pages(texts, read, lines, offsets, counts[lines]), stop < n), stop < n


def blocks(path: Path) -> Iterator[Block]:
    """The pages' records, a window at a time; raises Unvouched (after yielding every record before it) where the
    file leaves the one-page-per-line layout the bulk reader vouches for.

    The next window is read and parsed in a thread while the caller types this one: pyarrow's parse releases
    the GIL, so it runs beside the caller's DuckDB and Python work."""
    if not _PREFETCH:
        yield from _blocks(path)
        return
    ready: queue.Queue[Any] = queue.Queue(maxsize=1)
    halt = threading.Event()

    def put(item: Any) -> bool:
        while not halt.is_set():
            try:
                ready.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for block in _blocks(path):
                if not put(block):
                    return
            put(_END)
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread, in order
            put(exc)

    worker = threading.Thread(target=produce, name="newapi-pages", daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        halt.set()
        worker.join()


_END = object()
_PREFETCH = True


def _blocks(path: Path) -> Iterator[Block]:
    with open(path, "rb") as handle:
        head = handle.read(3)
    number = 0
    for buf, ends, whole in _windows(path, 3 if head == b"\xef\xbb\xbf" else 0):
        block, stop = _window(buf, ends, whole, number)
        if block is not None:
            number += block.table.num_rows
            yield block
        if stop:
            raise Unvouched("a page the bulk reader does not read")
