"""Usage adapters together: detection, row conservation, chunking, schema, determinism."""

from __future__ import annotations

from pathlib import Path

import pytest

from costproof.model.errors import InputError
from costproof.sources.usage import FORMATS, detect, get
from costproof.sources.usage.base import USAGE_SCHEMA, ParseContext, collect, iter_json_items

DATA = Path(__file__).resolve().parents[1] / "data" / "usage"
SAMPLES = {
    "openai.jsonl": "openai-jsonl",
    "otel-traces.json": "otel-genai",
    "otel-traces.jsonl": "otel-genai",
    "litellm-spendlogs.csv": "litellm-spend",
    "litellm-spendlogs.json": "litellm-spend",
    "focus-1.2.csv": "focus",
    "focus-1.0.parquet": "focus",
    "usage.csv": "usage-csv",
    "newapi-pages.jsonl": "newapi-log",
    "newapi-pages-array.json": "newapi-log",
    "newapi-console.csv": "newapi-log",
}


def test_every_format_is_registered() -> None:
    assert set(FORMATS) == {"newapi-log", "openai-jsonl", "otel-genai", "litellm-spend", "focus", "usage-csv"}
    for mod in FORMATS.values():
        assert callable(mod.sniff) and callable(mod.parse) and (mod.__doc__ or "").count("\n") == 0


@pytest.mark.parametrize("name, fmt", sorted(SAMPLES.items()))
def test_each_sample_is_detected_as_its_format_only(name: str, fmt: str) -> None:
    assert detect(DATA / name, name) == fmt


@pytest.mark.parametrize("name, fmt", sorted(SAMPLES.items()))
def test_records_are_rows_plus_errors_and_schema_is_normalized(name: str, fmt: str) -> None:
    table, errors, records = collect(get(fmt).parse(DATA / name, ParseContext(name)))
    assert table.schema == USAGE_SCHEMA
    assert records == table.num_rows + len(errors)
    assert table.num_rows > 0
    assert table.column("record_id").null_count == 0
    assert len(set(table.column("record_id").to_pylist())) == table.num_rows
    assert all(r > 0 for r in table.column("source_record").to_pylist())
    for meter in ("input_tokens", "output_tokens", "cached_input_tokens", "requests"):
        assert all(v is None or v >= 0 for v in table.column(meter).to_pylist())


@pytest.mark.parametrize("name, fmt", sorted(SAMPLES.items()))
def test_chunking_gives_the_same_rows_and_determinism(name: str, fmt: str) -> None:
    whole, errors, records = collect(get(fmt).parse(DATA / name, ParseContext(name)))
    chunks = list(get(fmt).parse(DATA / name, ParseContext(name, chunk_rows=2)))
    assert all(c.table.num_rows <= 2 for c in chunks)
    small, small_errors, small_records = collect(chunks)
    assert small.to_pylist() == whole.to_pylist()
    assert (small_errors, small_records) == (errors, records)


def test_unrecognised_file_names_the_formats_tried(tmp_path: Path) -> None:
    f = tmp_path / "notes.txt"
    f.write_text("hello\nworld\n")
    with pytest.raises(InputError, match="tried: newapi-log, openai-jsonl"):
        detect(f, "notes.txt")


def test_streamed_json_reader_handles_pages_and_truncation(tmp_path: Path) -> None:
    f = tmp_path / "p.json"
    f.write_text('{"total": 3, "data": [{"a": 1}, {"a": 2.50}]}\n{"data": [{"a": 3}]}')
    items = list(iter_json_items(f, "p.json", (("data",),)))
    assert [i["a"] for i in items] == [1, 2.5, 3]
    assert str(items[1]["a"]) == "2.50"  # Decimal, never float
    f.write_text('[{"a": 1}, {"a": 2')
    with pytest.raises(InputError, match="record 2"):
        list(iter_json_items(f, "p.json"))
