"""Shared output for commands: one JSON document under --json, rich tables otherwise, exit codes."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from costproof.model.errors import InputError
from costproof.model.money import to_str
from costproof.model.sanitize import redact

F = TypeVar("F", bound=Callable[..., Any])
OK, PROBLEMS, BAD_INPUT = 0, 1, 2

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def now() -> datetime:
    """The CLI's clock; the core never reads it. COSTPROOF_AS_OF pins it (demos, reproducible tests)."""
    pinned = os.environ.get("COSTPROOF_AS_OF")
    if pinned:
        return datetime.fromisoformat(pinned.replace("Z", "+00:00")).astimezone(UTC)
    return datetime.now(UTC).replace(microsecond=0)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return to_str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, set | tuple):
        return sorted(value)
    raise TypeError(f"not JSON-able: {type(value).__name__}")


def dumps(data: Any) -> str:
    return json.dumps(data, sort_keys=True, indent=2, default=_default, ensure_ascii=False)


def emit_json(data: Any) -> None:
    sys.stdout.write(dumps(data) + "\n")
    sys.stdout.flush()


def guarded(fn: F) -> F:
    """Turn an InputError into a clear one-line message and exit 2, with nothing stored."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except InputError as exc:
            err_console.print(f"[bold red]error:[/] {redact(str(exc))}", soft_wrap=True)
            raise typer.Exit(BAD_INPUT) from None

    return wrapper  # type: ignore[return-value]


def table(title: str, columns: list[str], rows: list[list[Any]], *, right: tuple[str, ...] = ()) -> None:
    t = Table(title=title, title_justify="left", header_style="bold")
    for col in columns:
        t.add_column(col, justify="right" if col in right else "left", overflow="fold")
    for row in rows:
        t.add_row(*["" if v is None else (to_str(v) if isinstance(v, Decimal) else str(v)) for v in row])
    console.print(t)


def kv(title: str, pairs: list[tuple[str, Any]]) -> None:
    t = Table(title=title, title_justify="left", show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold", no_wrap=True)
    t.add_column(overflow="fold")
    for k, v in pairs:
        t.add_row(k, "" if v is None else (to_str(v) if isinstance(v, Decimal) else str(v)))
    console.print(t)


@contextmanager
def progress_bar(total: int | None, description: str, enabled: bool) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on a terminal; silent under --json or when stdout is not a terminal."""
    if not enabled or not sys.stdout.isatty():
        yield lambda n: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err_console, transient=True) as prog:
        task = prog.add_task(description, total=total)
        yield lambda n: prog.advance(task, n)
