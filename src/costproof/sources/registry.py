"""Format registries: pick an adapter by name, or by sniffing a file's head."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from costproof.model.errors import InputError

HEAD_BYTES = 65536


def head(path: Path) -> bytes:
    """The first bytes of a file, without reading the rest (exports can be gigabytes)."""
    with open(path, "rb") as fh:
        return fh.read(HEAD_BYTES)


def sniff(formats: dict[str, ModuleType], data: bytes, name: str, label: str, kind: str) -> str:
    hits = [fmt for fmt, mod in formats.items() if mod.sniff(data, name)]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise InputError(f"could not recognise the {kind} format (tried: {', '.join(formats)}); pass --format",
                         file=label)
    raise InputError(f"ambiguous {kind} format, could be {', '.join(hits)}; pass --format", file=label)


def lookup(formats: dict[str, ModuleType], name: str, kind: str) -> ModuleType:
    try:
        return formats[name]
    except KeyError:
        raise InputError(f"unknown {kind} format {name!r}; known: {', '.join(formats)}") from None
