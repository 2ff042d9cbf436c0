"""Changing any single byte of any file of a pack is detected by `pack verify`."""

from __future__ import annotations

import random

import pytest

from costproof.pack import schema as S
from costproof.pack.export import write
from costproof.pack.verify import verify


def positions(data: bytes, rng: random.Random, *, structural: bool) -> list[int]:
    """First, middle, last and random bytes; for the index files also every separator and line end."""
    size = len(data)
    spots = {0, size // 2, size - 1, *(rng.randrange(size) for _ in range(4))}
    if structural:
        spots |= {i for i, b in enumerate(data) if b in b"\n \":{},"}
        spots |= set(range(0, min(size, 70)))
    return sorted(spots)


def test_flipping_one_byte_of_any_file_is_detected(demo_pack):
    rng = random.Random(8)
    files = sorted(p for p in demo_pack.rglob("*") if p.is_file())
    assert len(files) > 15
    for path in files:
        original = path.read_bytes()
        rel = path.relative_to(demo_pack).as_posix()
        small = rel in (S.MANIFEST, S.PACK_JSON)
        try:
            for pos in positions(original, rng, structural=small):
                for mask in (0x01,):
                    data = bytearray(original)
                    data[pos] ^= mask
                    path.write_bytes(bytes(data))
                    res = verify(demo_pack)
                    assert not res["ok"], f"{rel}: byte {pos} ^ {mask:#x} went unnoticed"
        finally:
            path.write_bytes(original)
    assert verify(demo_pack)["ok"]


@pytest.mark.parametrize("seed", [1, 2])
def test_flipping_bytes_of_a_zip_is_detected(demo_files, tmp_path, seed):
    z = write(demo_files, tmp_path / "pack.zip")
    original = z.read_bytes()
    rng = random.Random(seed)
    # Headers, the central directory and the end record as well as compressed data.
    spots = {0, 5, 10, 14, 26, len(original) - 1, len(original) - 10, len(original) - 22,
             *(rng.randrange(len(original)) for _ in range(25))}
    for pos in sorted(spots):
        data = bytearray(original)
        data[pos] ^= 0x01
        z.write_bytes(bytes(data))
        try:
            res = verify(z)
        except Exception as exc:  # an unreadable zip must still be a reported problem, not a crash
            pytest.fail(f"byte {pos}: verify raised {exc!r}")
        assert not res["ok"], f"zip byte {pos} went unnoticed"


def test_an_added_or_removed_file_is_detected(demo_pack, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(demo_pack, copy)
    (copy / "public" / "extra.txt").write_text("not listed")
    problems = verify(copy)["problems"]
    assert {"file": "public/extra.txt", "check": "checksum", "message": "not listed in MANIFEST.sha256"} in problems
    (copy / "public" / "extra.txt").unlink()
    (copy / S.WHAT_NOT_TO_ASSERT).unlink()
    assert any(p["file"] == S.WHAT_NOT_TO_ASSERT for p in verify(copy)["problems"])
