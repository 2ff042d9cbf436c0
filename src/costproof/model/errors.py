"""Errors as values: a file-level input error and a row-level quarantine record."""

from __future__ import annotations

from dataclasses import dataclass


class InputError(Exception):
    """Input that cannot be read at all (CLI exit 2); names file, record and field."""

    def __init__(
        self, message: str, *, file: str = "", record: int | str | None = None, field: str = ""
    ) -> None:
        self.file = file
        self.record = record
        self.field = field
        self.bare = message
        where = []
        if file:
            where.append(str(file))
        if record is not None:
            where.append(f"record {record}")
        if field:
            where.append(f"field {field!r}")
        super().__init__(f"{': '.join([', '.join(where), message]) if where else message}")


@dataclass(frozen=True, slots=True)
class RowError:
    """One unusable row: kept in quarantine with where it was and why, never its raw text."""

    record: int  # 1-based record number within the file (line for CSV/JSONL)
    field: str
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {"record": self.record, "field": self.field, "reason": self.reason}
