"""Approval records and the period lock: an approved period refuses writes until it is reopened."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from costproof.model.errors import InputError
from costproof.workspace import Workspace, dumps


class PeriodLocked(InputError):
    """A write touching an approved period (CLI exit 2, nothing stored)."""


def period_of(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m")


def events(ws: Workspace, period: str | None = None) -> list[dict[str, Any]]:
    where, params = ("WHERE period = ?", [period]) if period else ("", [])
    return ws.rows(f"SELECT * FROM period_events {where} ORDER BY seq", params)


def latest_event(ws: Workspace, period: str) -> dict[str, Any] | None:
    return ws.one("SELECT * FROM period_events WHERE period = ? ORDER BY seq DESC LIMIT 1", [period])


def is_locked(ws: Workspace, period: str) -> bool:
    ev = latest_event(ws, period)
    return bool(ev and ev["event"] == "approved")


def locked_periods(ws: Workspace) -> list[str]:
    rows = ws.rows("""SELECT period FROM period_events
                      QUALIFY row_number() OVER (PARTITION BY period ORDER BY seq DESC) = 1
                      AND event = 'approved' ORDER BY period""")
    return [r["period"] for r in rows]


def ensure_unlocked(ws: Workspace, periods: Iterable[str], action: str) -> None:
    """Refuse `action` when any of `periods` is approved; the message says who approved and how to reopen."""
    locked = sorted(set(periods) & set(locked_periods(ws)))
    if not locked:
        return
    ev = latest_event(ws, locked[0])
    assert ev is not None
    when = ev["recorded_at"].astimezone(UTC).isoformat().replace("+00:00", "Z")
    raise PeriodLocked(
        f"period {', '.join(locked)} is approved and locked (approved by {ev['actor']} at {when}, run "
        f"{ev['run_id']}); {action} refused, nothing stored. To change it: costproof reopen --period "
        f"{locked[0]} --reason R --operator NAME"
    )


def record(ws: Workspace, *, period: str, event: str, actor: str, reason: str | None, run_id: str | None,
           manifest_sha256: str | None, checklist: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
    checklist_json = dumps(checklist) if checklist is not None else None
    checklist_sha = hashlib.sha256(checklist_json.encode()).hexdigest() if checklist_json else None
    with ws.transaction() as con:
        seq = ws.next_seq("period_events")
        con.execute("INSERT INTO period_events VALUES (?,?,?,?,?,?,?,?,?,?)",
                    [seq, period, event, actor, reason, run_id, manifest_sha256, checklist_json, checklist_sha, now])
    row = ws.one("SELECT * FROM period_events WHERE seq = ?", [seq])
    assert row is not None
    return as_dict(row)


def as_dict(row: dict[str, Any]) -> dict[str, Any]:
    out = {
        "seq": row["seq"],
        "period": row["period"],
        "event": row["event"],
        "recorded_at": row["recorded_at"].astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "run_id": row["run_id"],
        "manifest_sha256": row["manifest_sha256"],
    }
    if row["event"] == "approved":
        out["reviewer"] = row["actor"]
        out["checklist_sha256"] = row["checklist_sha256"]
        out["checklist"] = json.loads(row["checklist"]) if row["checklist"] else None
    else:
        out["operator"] = row["actor"]
        out["reason"] = row["reason"]
    return out
