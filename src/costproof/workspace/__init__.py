"""The workspace folder: DuckDB catalog, evidence store, Parquet usage, settings."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

from costproof.model.errors import InputError
from costproof.workspace.config import TEMPLATE, Settings
from costproof.workspace.evidence import EvidenceStore
from costproof.workspace.schema import LATEST, MIGRATIONS

CATALOG = "catalog.duckdb"
DEFAULT_PATH = "costproof-workspace"


class NotAWorkspace(InputError):
    pass


class Workspace:
    """An open workspace. Use `Workspace.create` or `Workspace.open`; close when done."""

    def __init__(self, root: Path, con: duckdb.DuckDBPyConnection) -> None:
        self.root = root
        self.con = con
        con.execute("SET TimeZone = 'UTC'")
        self.evidence = EvidenceStore(root / "evidence")
        self.settings = Settings.load(root / "costproof.toml")

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def create(cls, root: Path) -> tuple[Workspace, bool]:
        """Create (or open) a workspace; returns (workspace, created)."""
        root = Path(root)
        created = not (root / CATALOG).exists()
        root.mkdir(parents=True, exist_ok=True)
        for sub in ("evidence", "usage", "runs", "statements"):
            (root / sub).mkdir(exist_ok=True)
        if not (root / "costproof.toml").exists():
            (root / "costproof.toml").write_text(TEMPLATE, "utf-8")
        ws = cls(root, duckdb.connect(str(root / CATALOG)))
        ws.migrate()
        if created:
            ident = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
            ws.con.execute("INSERT OR REPLACE INTO meta VALUES ('workspace_id', ?)", [ident])
        return ws, created

    @classmethod
    def open(cls, root: Path) -> Workspace:
        root = Path(root)
        if not (root / CATALOG).exists():
            raise NotAWorkspace(
                f"no costproof workspace at {root} (run `costproof init {root}` first, or pass "
                "--workspace / set COSTPROOF_WORKSPACE)"
            )
        ws = cls(root, duckdb.connect(str(root / CATALOG)))
        ws.migrate()
        return ws

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def migrate(self) -> None:
        con = self.con
        con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
        row = con.execute("SELECT max(version) FROM schema_version").fetchone()
        current = row[0] if row and row[0] is not None else 0
        if current > LATEST:
            raise InputError(
                f"workspace schema version {current} is newer than this costproof ({LATEST}); upgrade"
            )
        for version, sql in MIGRATIONS:
            if version <= current:
                continue
            with self.transaction():
                con.execute(sql)
                con.execute("INSERT INTO schema_version VALUES (?)", [version])

    @property
    def schema_version(self) -> int:
        return int(self.con.execute("SELECT max(version) FROM schema_version").fetchone()[0])

    @property
    def workspace_id(self) -> str:
        row = self.con.execute("SELECT value FROM meta WHERE key='workspace_id'").fetchone()
        return row[0] if row else ""

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    # ------------------------------------------------------------------ helpers
    def rows(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        cur = self.con.execute(sql, params or [])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def one(self, sql: str, params: list[Any] | None = None) -> dict[str, Any] | None:
        rows = self.rows(sql, params)
        return rows[0] if rows else None

    def next_seq(self, table: str, where: str = "", params: list[Any] | None = None) -> int:
        row = self.con.execute(f"SELECT coalesce(max(seq), 0) + 1 FROM {table} {where}", params or []).fetchone()
        return int(row[0])

    def usage_dir(self) -> Path:
        return self.root / "usage"

    def run_dir(self, run_id: str) -> Path:
        return self.root / "runs" / run_id


def resolve_path(option: str | None) -> Path:
    return Path(option or os.environ.get("COSTPROOF_WORKSPACE") or DEFAULT_PATH)


def dumps(value: Any) -> str:
    """Stable JSON for catalog columns: sorted keys, no whitespace variance."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
