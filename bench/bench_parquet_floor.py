"""What FOCUS Parquet costs before costproof does anything: DuckDB alone reading the file, hashing every row's text
(the record id's input) and writing it back, next to the full import. Shows how far 1M rows/s is from reach."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_import import _child, generate  # type: ignore[import-not-found]  # noqa: E402


def _timed(con: duckdb.DuckDBPyConnection, sql: str) -> float:
    start = time.perf_counter()
    con.execute(sql)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, help="keep (and reuse) the generated file here")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    folder = args.dir or Path(tempfile.mkdtemp(prefix="costproof-floor-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"focus-parquet-{args.rows}.parquet"
    if not path.exists():
        generate("focus-parquet", args.rows, path)
    names = pq.read_schema(path).names
    text = ", ".join(f'coalesce(CAST("{n}" AS VARCHAR), \'\')' for n in names)
    out = folder / "floor-out.parquet"
    con = duckdb.connect()
    steps = {
        "read + write (zstd)": f"COPY (SELECT * FROM read_parquet('{path}')) TO '{out}' (COMPRESSION zstd)",
        "read + sha256 of every column's text": f"SELECT count(DISTINCT sha256(concat_ws(chr(31), {text}))) "
                                                f"FROM read_parquet('{path}')",
        "read + sha256 + write (zstd)": f"COPY (SELECT *, left(sha256(concat_ws(chr(31), {text})), 24) AS id "
                                        f"FROM read_parquet('{path}')) TO '{out}' (COMPRESSION zstd)",
    }
    results: dict[str, object] = {"rows": args.rows}
    for name, sql in steps.items():
        seconds = min(_timed(con, sql) for _ in range(3))
        results[name] = {"seconds": round(seconds, 3), "rows_per_s": int(args.rows / seconds)}
        print(f"{name:<40}{seconds:>8.2f} s{int(args.rows / seconds):>12,} rows/s")
    shutil.rmtree(folder / "ws-floor", ignore_errors=True)
    full = _child("import", "focus-parquet", str(path), str(folder / "ws-floor"))
    results["costproof import"] = full
    print(f"{'costproof usage import (end to end)':<40}{full['seconds']:>8.2f} s{full['rows_per_s']:>12,} rows/s")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
