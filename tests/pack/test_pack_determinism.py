"""Same inputs, same bytes: only pack.json's generated_at (and, across workspace folders, workspace_id) differ."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from conftest import BUILT_AT, pack_files

from costproof.pack import schema as S
from costproof.pack.export import zip_bytes
from costproof.service import demo

VARYING = ("generated_at",)


def assert_same(a: dict[str, bytes], b: dict[str, bytes], *, varying: tuple[str, ...] = VARYING) -> None:
    assert sorted(a) == sorted(b)
    for path in sorted(a):
        if path == S.PACK_JSON:
            ja, jb = json.loads(a[path]), json.loads(b[path])
            assert {k: v for k, v in ja.items() if k not in varying} == {k: v for k, v in jb.items()
                                                                          if k not in varying}
        elif path == S.MANIFEST:
            la = [x for x in a[path].decode().splitlines() if not x.endswith("  " + S.PACK_JSON)]
            lb = [x for x in b[path].decode().splitlines() if not x.endswith("  " + S.PACK_JSON)]
            assert la == lb
        else:
            assert a[path] == b[path], path


def test_packing_twice_differs_only_in_generated_at(demo_ws, demo_files):
    again = pack_files(demo_ws, at=datetime(2027, 1, 1, tzinfo=UTC))
    assert_same(demo_files, again)
    assert json.loads(again[S.PACK_JSON])["generated_at"] == "2027-01-01T00:00:00Z"
    assert pack_files(demo_ws) == demo_files  # the same clock gives the same bytes, every one


def test_zip_is_canonical():
    files = {"b.txt": b"two", "a/one.csv": b"1\n", "README.md": b"# x\n"}
    assert zip_bytes(files) == zip_bytes(dict(reversed(list(files.items()))))


def test_two_workspaces_from_the_same_inputs(demo_files, demo_ws, tmp_path):
    other = tmp_path / "elsewhere"
    demo.build(other, now=BUILT_AT)
    # A workspace's id names the folder it was created in; everything else is the same byte for byte.
    assert_same(demo_files, pack_files(other), varying=("generated_at", "workspace_id"))


def test_rebuilding_a_workspace_in_place_gives_the_same_pack(tmp_path):
    root = tmp_path / "ws"
    demo.build(root, now=BUILT_AT)
    first = pack_files(root)
    demo.build(root, now=BUILT_AT)
    assert pack_files(root, at=datetime(2026, 12, 24, tzinfo=UTC)) != first
    assert_same(first, pack_files(root, at=datetime(2026, 12, 24, tzinfo=UTC)))
