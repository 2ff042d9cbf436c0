"""newapi_lines.Finder finds what bytearray.find finds, wherever the needle stands in the range."""

from __future__ import annotations

import random
import sys

from costproof.sources.usage import newapi_lines
from costproof.sources.usage.newapi_lines import Finder


def test_finder_is_bytearray_find() -> None:
    assert newapi_lines._MEMMEM is not None or sys.platform == "win32"  # libc's memmem is the one tested
    rng = random.Random(7)
    hits = 0
    for _ in range(300):
        pieces = [b'"data"', b"\\u00", b'"dat', b"\\u0", b"x", b" ", b'"', b"a"]
        data = bytearray(b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 30))))
        finder = Finder(data)
        for needle in (b'"data"', b"\\u00", b"x", b""):
            for _ in range(20):
                start = rng.randint(0, len(data))
                end = rng.randint(0, len(data))
                got = finder.find(needle, start, end)
                assert got == data.find(needle, start, end), (data, needle, start, end)
                hits += got >= 0
    assert hits > 1000
