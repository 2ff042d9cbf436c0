"""The import's rows on their way to the period files: the spill, the parts written while the file parses, and
the copy of the rest (see `service.usage` for the import itself)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from costproof.sources.usage.base import USAGE_SCHEMA

WRITE_BATCH = 100_000
ROW_GROUP = 500_000
SPILL_AHEAD = 2
# output files hold at most about this many rows each (a period of a big import has several), written in parallel
PART_ROWS = 500_000
WRITERS = 2
_IMPORT_ID = USAGE_SCHEMA.get_field_index("import_id")
_ATTEMPT = USAGE_SCHEMA.get_field_index("attempt")
_IS_RETRY = USAGE_SCHEMA.get_field_index("is_retry")
_NUMBERED_KINDS = pa.array(["consume", "error"])
_FAILED = pa.array(["4xx", "5xx"])
# the columns the set-based steps read (repeats, periods, retry chains)
_FACTS = ("record_id", "source_record", "occurred_at", "record_kind", "status_class", "api_key_name",
          "model_reported", "is_stream")
# columns with few distinct values are dictionary-encoded in the period files; ids and times would only waste the try
_DICTIONARY = [n for n in USAGE_SCHEMA.names
               if n not in ("record_id", "request_id", "source_record", "occurred_at", "provider_reported_cost")]
# min/max only where a reader filters (periods are cut by time): statistics on every column cost 15% of the write
_STATISTICS = ["occurred_at", "source_record", "record_kind"]



class Spill:
    """The parsed rows of one import, in file order: all columns in an Arrow IPC file (lz4) for the copy, and the
    few columns the set-based steps need in a Parquet file for DuckDB. Rows of parts written while parsing (see
    `Direct`) skip the IPC file; their facts are noted all the same.

    Arrow IPC because every row is written there once and read back once, and IPC has no encoding to do either
    way: the round trip costs about a fifth of Parquet's CPU. DuckDB reads Parquet itself (its scans of Arrow
    datasets have crashed under threads), and a row's position in either file is its position in the other.
    The import id is set when the rows are copied out.
    """

    def __init__(self, folder: Path) -> None:
        self.path = folder / "stage.arrow"
        self.facts = folder / "facts.parquet"
        self.sizes: list[int] = []  # rows per written chunk: parts are cut on these
        self.batches: list[int] = []  # IPC record batches per written chunk
        self.rows = 0
        # months (YYYYMM), first and last time, failed attempts: what `_write` needs of the rows when none is dropped
        self.months: set[int] = set()
        self.bounds: tuple[Any, Any] = (None, None)
        self.failed = 0
        self._writer: ipc.RecordBatchFileWriter | None = None
        self._facts: pq.ParquetWriter | None = None

    def __enter__(self) -> Spill:
        self._writer = ipc.new_file(str(self.path), USAGE_SCHEMA, options=ipc.IpcWriteOptions(compression="lz4"))
        self._facts = pq.ParquetWriter(self.facts, pa.schema([USAGE_SCHEMA.field(n) for n in _FACTS]),
                                       compression="lz4", use_dictionary=False, write_statistics=False)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._writer is not None and self._facts is not None
        self._writer.close()
        self._facts.close()

    def write_table(self, table: pa.Table, rows_too: bool, failed: int) -> None:
        """Note a chunk: its facts and its count of failed attempts (`failed_attempts`, which the import needs
        as the chunk comes) always, its rows unless `rows_too` is false (a part written while parsing)."""
        assert self._writer is not None and self._facts is not None
        batches = table.to_batches() if rows_too else []
        for batch in batches:
            self._writer.write_batch(batch)
        self._facts.write_table(table.select(list(_FACTS)))
        self.sizes.append(table.num_rows)
        self.batches.append(len(batches))
        self.rows += table.num_rows
        self.failed += failed
        self._summarize(table)

    def _summarize(self, table: pa.Table) -> None:
        when = table.column("occurred_at")
        low, high = _span(when)
        self.months.update(_months(when, (low, high))[0])
        if low is not None:
            first, last = self.bounds
            self.bounds = (low if first is None else min(first, low), high if last is None else max(last, high))

    def periods(self) -> list[str]:
        return [f"{m // 100:04d}-{m % 100:02d}" for m in sorted(self.months)]

    def read(self, first_chunk: int, end_chunk: int) -> Iterator[pa.RecordBatch]:
        """The record batches of some written chunks, read with plain file reads (a map would count as memory)."""
        start = sum(self.batches[:first_chunk])
        end = start + sum(self.batches[first_chunk:end_chunk])
        with pa.OSFile(str(self.path)) as fh:
            reader = ipc.open_file(fh)
            for index in range(start, end):
                yield reader.get_batch(index)


class _Batcher:
    """Record batches in, tables of `size` rows out, in order (the last may be shorter), each with the position of
    its first row (counted from `at`)."""

    def __init__(self, size: int, at: int = 0) -> None:
        self.size, self.at = size, at
        self.held: list[pa.RecordBatch] = []
        self.rows = 0

    def push(self, batch: pa.RecordBatch) -> Iterator[tuple[int, pa.Table]]:
        self.held.append(batch)
        self.rows += batch.num_rows
        while self.rows >= self.size:
            table, at = pa.Table.from_batches(self.held), self.at
            rest = table.slice(self.size)
            self.held, self.rows, self.at = rest.to_batches(), rest.num_rows, at + self.size
            yield at, table.slice(0, self.size)

    def rest(self) -> Iterator[tuple[int, pa.Table]]:
        held, at, rows = self.held, self.at, self.rows
        self.held, self.at, self.rows = [], at + rows, 0
        if rows:
            yield at, pa.Table.from_batches(held)


def _parts(sizes: list[int]) -> list[tuple[int, int, int]]:
    """The spill's chunks cut into runs of at least PART_ROWS rows: (first chunk, end chunk, first row) per part.

    One output file per part and period. The cut depends only on the spill (that is, on the file and the
    adapter), never on the machine, so the same file gives the same files everywhere; parts are written in
    parallel.
    """
    parts: list[tuple[int, int, int]] = []
    start = first = rows = 0
    for index, size in enumerate(sizes):
        if rows >= PART_ROWS:
            parts.append((start, index, first))
            start, first, rows = index, first + rows, 0
        rows += size
    if rows:
        parts.append((start, len(sizes), first))
    return parts


def write_parts(stage: Spill, staging: Path, import_id: str, dropped: np.ndarray,
                 retries: tuple[np.ndarray, np.ndarray], written: set[int],
                 earlier: tuple[Path, set[int]] = (Path(), set())) -> None:
    """Write every part not already `written`, in parallel: from the spill, or for the parts in `earlier` from
    the files written while parsing (which the spill does not hold)."""
    folder, direct = earlier
    when = pq.read_table(stage.facts, columns=["occurred_at"]).column(0) if direct else None
    with ThreadPoolExecutor(WRITERS) as pool:
        jobs = []
        for k, part in enumerate(_parts(stage.sizes)):
            if k in written:
                continue
            name = _part_name(import_id, k)
            first_chunk, end_chunk, first_row = part
            rows = (_written_rows(folder, name, when.slice(first_row, sum(stage.sizes[first_chunk:end_chunk])))
                    if k in direct and when is not None else None)
            jobs.append(pool.submit(_write_part, stage, _PartWriter(staging, name, import_id, dropped, retries),
                                    part, rows))
        for done in jobs:
            done.result()


def _written_rows(folder: Path, name: str, when: pa.ChunkedArray) -> Callable[[], Iterator[pa.RecordBatch]]:
    """A part's rows read back from its period files (written while parsing), in spill order, WRITE_BATCH rows at
    a time: rows of one month keep their order in its file, so the months of the part's times (from the facts) say
    how many rows each file gives to a batch and where each goes. Parquet's bytes do not depend on how the rows are
    batched, so the part comes out as from the spill."""

    def read() -> Iterator[pa.RecordBatch]:
        files = sorted(folder.glob(f"period=*/{name}"))  # in month order, as the keys
        streams = [_Rows(pq.ParquetFile(f).iter_batches(batch_size=WRITE_BATCH)) for f in files]
        keys, month = _months(when)
        if month is None:
            yield from streams[0].batches
            return
        labels = month.to_numpy()
        for lo in range(0, len(labels), WRITE_BATCH):
            window = labels[lo:lo + WRITE_BATCH]
            table = pa.concat_tables([s.take(int(np.count_nonzero(window == key))) for s, key in zip(
                streams, keys, strict=True)])
            order = np.argsort(window, kind="stable")  # the table's rows, month by month, as window positions
            back = np.empty(len(order), np.int64)
            back[order] = np.arange(len(order))
            yield from table.take(back).to_batches()

    return read


class _Rows:
    """Rows taken from a stream of record batches, any number at a time, in order."""

    def __init__(self, batches: Iterator[pa.RecordBatch]) -> None:
        self.batches = batches
        self.held: pa.Table | None = None

    def take(self, n: int) -> pa.Table:
        while self.held is None or self.held.num_rows < n:
            more = pa.Table.from_batches([next(self.batches)])
            self.held = more if self.held is None else pa.concat_tables([self.held, more])
        got, self.held = self.held.slice(0, n), self.held.slice(n)
        return got


def _part_name(import_id: str, k: int) -> str:
    return f"{import_id}_{k:04d}.parquet"


def _write_part(stage: Spill, writer: _PartWriter, part: tuple[int, int, int],
                source: Callable[[], Iterator[pa.RecordBatch]] | None = None) -> None:
    """Write one part, its rows read from the spill, or from `source` (see `_written_rows`)."""
    first_chunk, end_chunk, first_row = part
    batcher = _Batcher(WRITE_BATCH, first_row)
    with writer:
        for batch in stage.read(first_chunk, end_chunk) if source is None else source():
            for at, rows in batcher.push(batch):
                writer.write(rows, at)
        for at, rows in batcher.rest():
            writer.write(rows, at)


_NONE = np.empty(0, np.int64)


class _PartWriter:
    """One part's rows, in order, into one Parquet file per period (`period=YYYY-MM/<name>`).

    On the way: rows found to be duplicates are left out, every row gets the import id, and every consume/error
    row its attempt number (1 unless the retry numbering gave a later one). Rows come as tables of WRITE_BATCH
    rows (the last may be shorter), each written as it comes, so the bytes depend only on the rows.
    """

    def __init__(self, staging: Path, name: str, import_id: str, dropped: np.ndarray = _NONE,
                 retries: tuple[np.ndarray, np.ndarray] = (_NONE, _NONE)) -> None:
        self.staging, self.name, self.dropped, self.retries = staging, name, dropped, retries
        self.ids = pa.scalar(import_id, pa.string())
        self.writers: dict[int, pq.ParquetWriter] = {}

    def __enter__(self) -> _PartWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        for writer in self.writers.values():
            writer.close()

    def write(self, rows: pa.Table, lo: int) -> None:
        """One table of rows whose first row is at spill position `lo`."""
        hi = lo + rows.num_rows
        positions, numbers = self.retries
        rows = _attempts(rows, _between(positions, lo, hi) - lo, _between_values(positions, numbers, lo, hi))
        rows = rows.set_column(_IMPORT_ID, USAGE_SCHEMA.field(_IMPORT_ID), pa.repeat(self.ids, rows.num_rows))
        gone = _between(self.dropped, lo, hi) - lo
        if len(gone):
            keep = np.ones(rows.num_rows, bool)
            keep[gone] = False
            rows = rows.filter(pa.array(keep))
        if not rows.num_rows:
            return
        keys, month = _months(rows.column("occurred_at"))
        for key in keys:
            piece = rows if len(keys) == 1 else rows.filter(pc.equal(month, key))
            writer = self.writers.get(key)
            if writer is None:
                folder = self.staging / f"period={key // 100:04d}-{key % 100:02d}"
                folder.mkdir(parents=True, exist_ok=True)
                writer = self.writers[key] = pq.ParquetWriter(folder / self.name, USAGE_SCHEMA, compression="zstd",
                                                              use_dictionary=_DICTIONARY, write_statistics=_STATISTICS)
            writer.write_table(piece, row_group_size=ROW_GROUP)


class Direct:
    """Parts written to their period files while the file parses, as `write_parts` would write them if no row
    were dropped or renumbered.

    Chunks are cut into parts by the rule of `_parts`, so part k here is part k there. A part is written directly
    only if the import id is known when it starts (a file hashed before parsing, every file under
    HASH_AHEAD_BYTES, or a big one once its hash is done); the parts in `parts` were. One thread writes them,
    in order (the parse keeps the other core busy: two writer threads only contended with it); at most
    SPILL_AHEAD tasks wait.
    """

    def __init__(self, staging: Path) -> None:
        self.staging = staging
        self.parts: set[int] = set()
        self.part = -1
        self.rows = 0
        self.first = 0
        self._current: tuple[_PartWriter, _Batcher] | None = None
        self._pool = ThreadPoolExecutor(1)
        self._pending: deque[Future[None]] = deque()

    def __enter__(self) -> Direct:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.finish()
        finally:
            self._pool.shutdown(wait=True)

    def finish(self) -> set[int]:
        """Wait for every part to be written and closed: the parts written."""
        self._close()
        while self._pending:
            self._pending.popleft().result()
        return self.parts

    def add(self, table: pa.Table, import_id: str | None) -> bool:
        """Take a chunk: whether its part is written here (else it is written from the spill)."""
        if self.part < 0 or self.rows >= PART_ROWS:
            self._close()
            self.part, self.first, self.rows = self.part + 1, self.first + self.rows, 0
            if import_id is not None:
                self.staging.mkdir(parents=True, exist_ok=True)
                writer = _PartWriter(self.staging, _part_name(import_id, self.part), import_id)
                self._current = (writer, _Batcher(WRITE_BATCH, self.first))
                self.parts.add(self.part)
        self.rows += table.num_rows
        if self._current is None:
            return False
        self._submit(self._feed, *self._current, table)
        return True

    @staticmethod
    def _feed(writer: _PartWriter, batcher: _Batcher, table: pa.Table) -> None:
        for batch in table.to_batches():
            for at, rows in batcher.push(batch):
                writer.write(rows, at)

    @staticmethod
    def _finish(writer: _PartWriter, batcher: _Batcher) -> None:
        with writer:
            for at, rows in batcher.rest():
                writer.write(rows, at)

    def _close(self) -> None:
        if self._current is not None:
            self._submit(self._finish, *self._current)
            self._current = None

    def _submit(self, fn: Callable[..., None], *args: Any) -> None:
        self._pending.append(self._pool.submit(fn, *args))
        if len(self._pending) > SPILL_AHEAD:
            self._pending.popleft().result()


def failed_attempts(table: pa.Table) -> int:
    """How many rows are failed attempts (what a retry chain starts from)."""
    kind = table.column("record_kind")
    failed = pc.or_kleene(pc.equal(kind, "error"), pc.and_kleene(
        pc.equal(kind, "consume"), pc.is_in(table.column("status_class"), value_set=_FAILED)))
    return pc.sum(pc.cast(pc.fill_null(failed, False), pa.int64())).as_py() or 0


def _span(when: pa.ChunkedArray) -> tuple[Any, Any]:
    """The first and last time (None, None for no time)."""
    bounds = pc.min_max(when)
    return bounds["min"].as_py(), bounds["max"].as_py()


def _months(when: pa.ChunkedArray, span: tuple[Any, Any] | None = None
            ) -> tuple[list[int], pa.ChunkedArray | None]:
    """The months (YYYYMM, UTC) the times fall in, sorted, and each time's month when there are several.

    Rows mostly come a month at a time, so the first and last time (`span`, if the caller has it) usually settle
    it without a pass over every row; the month of a time is read without its time zone (UTC already), at half
    the cost."""
    low, high = span or _span(when)
    if low is None:
        return [], None
    if (low.year, low.month) == (high.year, high.month):
        return [low.year * 100 + low.month], None
    plain = when.cast(pa.timestamp("us"))
    month = pc.add(pc.multiply(pc.year(plain), 100), pc.month(plain))
    return sorted(pc.unique(month).drop_null().to_pylist()), month


def _between(sorted_positions: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return sorted_positions[np.searchsorted(sorted_positions, lo):np.searchsorted(sorted_positions, hi)]


def _between_values(sorted_positions: np.ndarray, values: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return values[np.searchsorted(sorted_positions, lo):np.searchsorted(sorted_positions, hi)]


def _attempts(rows: pa.Table, later: np.ndarray, numbers: np.ndarray) -> pa.Table:
    """Every consume/error row is attempt 1, not a retry, except the later attempts of a retry chain."""
    kind = rows.column("record_kind")
    numbered = pc.fill_null(pc.is_in(kind, value_set=_NUMBERED_KINDS), False)
    attempt = pc.if_else(numbered, pa.scalar(1, pa.int64()), rows.column("attempt"))
    is_retry = pc.if_else(numbered, pa.scalar(False), rows.column("is_retry"))
    if len(later):
        mask = np.zeros(rows.num_rows, bool)
        mask[later] = True
        attempt = pc.replace_with_mask(attempt, pa.array(mask), pa.array(numbers, pa.int64()))
        is_retry = pc.replace_with_mask(is_retry, pa.array(mask), pa.array(np.ones(len(later), bool)))
    rows = rows.set_column(_ATTEMPT, USAGE_SCHEMA.field(_ATTEMPT), attempt)
    return rows.set_column(_IS_RETRY, USAGE_SCHEMA.field(_IS_RETRY), is_retry)
