"""newapi_lines over many small windows: bytearrays reused only when nothing views them, rows as the row path's."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from tests.sources.equivalence import assert_same, both

from costproof.sources.usage import newapi_lines, newapi_log

T0 = 1780272000


def _file(path: Path, n: int, seed: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    items = []
    for i in range(n):
        item: dict[str, object] = {
            "id": i,
            "created_at": T0 + i,
            "type": rng.choice([2, 2, 2, 5, 6, 9]),
            "token_name": rng.choice(["key-a", "key-b", " spaced "]),
            "model_name": rng.choice(["gpt-4o", "o4-mini"]),
            "quota": rng.randint(0, 9000),
            "prompt_tokens": rng.randint(50, 4000) if rng.random() > 0.01 else "x",
            "completion_tokens": rng.randint(0, 900),
            "use_time": rng.randint(0, 9),
            "is_stream": rng.random() < 0.5,
            "group": "default",
            "other": json.dumps({"cache_tokens": rng.choice([0, 10]), "model_ratio": 1.25}),
            "content": "y" * rng.randint(0, 400),  # lines of unlike lengths: windows cut at unlike places
        }
        items.append(item)
    path.write_text("[" + "\n,".join(json.dumps(r) for r in items) + "\n]\n", "utf-8")
    return items


@pytest.mark.parametrize("window", [1 << 12, 1 << 14])
def test_small_windows_bulk_equals_row_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, window: int) -> None:
    monkeypatch.setattr(newapi_lines, "_WINDOW", window)
    path = tmp_path / "log.json"
    _file(path, 3000, window)
    bulk, rows = both(newapi_log, path, 250)
    assert_same(bulk, rows)
    assert len(rows[1]) > 10


def test_blocks_kept_keep_their_items(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Blocks held while later windows are read (their bytes still viewed) read as blocks taken one at a time."""
    monkeypatch.setattr(newapi_lines, "_WINDOW", 1 << 13)
    path = tmp_path / "log.json"
    items = _file(path, 1500, 1)
    streamed = []
    for block in newapi_lines.blocks(path):  # each block let go before the next: windows' bytearrays reused
        streamed.append((block.table, [block.item_at(i) for i in range(block.table.num_rows)]))
    kept = list(newapi_lines.blocks(path))  # every block held: no bytearray may be reused under them
    assert len(kept) == len(streamed) > 20
    got = []
    for block, (table, values) in zip(kept, streamed, strict=True):
        assert block.table.equals(table)
        got += [block.item_at(i) for i in range(block.table.num_rows)]
        assert [block.item_at(i) for i in range(block.table.num_rows)] == values
    assert got == items
