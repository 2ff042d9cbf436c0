"""Model mapping (alias -> source model id) and label rules: versioned, append-only."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path
from typing import Any

from costproof.engine.pricing import Alias, LabelRule
from costproof.engine.rates import MAX_TS, MIN_TS
from costproof.model.errors import InputError
from costproof.model.sanitize import looks_secret
from costproof.model.usage import ENVIRONMENTS, LABEL_COLUMNS
from costproof.service.common import iso, parse_when, short_hash
from costproof.service.usage import file_sha256
from costproof.workspace import Workspace

MAPPING_COLUMNS = ("internal_model_alias", "source_model_id", "pricing_unit", "effective_from", "approved_by")


def add(ws: Workspace, alias: str, model: str, *, approved_by: str, effective_from: str | None,
        pricing_unit: str | None, now: datetime) -> dict[str, Any]:
    return add_many(ws, [(alias, model, pricing_unit, effective_from, approved_by)], now=now)[0]


def add_many(ws: Workspace, rows: list[tuple[Any, ...]], *, now: datetime, label: str = "") -> list[dict[str, Any]]:
    clean = []
    for n, (alias, model, unit, eff, approver) in enumerate(rows, start=2):
        where = {"file": label, "record": n} if label else {}
        alias, model, approver = (alias or "").strip(), (model or "").strip(), (approver or "").strip()
        if not alias:
            raise InputError("alias is empty", field="internal_model_alias", **where)
        if not model:
            raise InputError("source model id is empty", field="source_model_id", **where)
        if not approver:
            raise InputError("a mapping needs an approver (--approved-by)", field="approved_by", **where)
        when = parse_when(eff, "effective_from") if eff else MIN_TS
        clean.append((alias, model, (unit or "").strip() or None, when, approver))
    with ws.transaction() as con:
        version = con.execute("SELECT coalesce(max(version), 0) + 1 FROM mapping").fetchone()[0]
        con.executemany("INSERT INTO mapping VALUES (?,?,?,?,?,?,?)",
                        [[version, a, m, u, e, ap, now] for a, m, u, e, ap in clean])
    return [{"version": version, "alias": a, "source_model_id": m, "pricing_unit": u,
             "effective_from": iso(e), "approved_by": ap} for a, m, u, e, ap in clean]


def import_csv(ws: Workspace, path: Path, *, now: datetime) -> list[dict[str, Any]]:
    text = path.read_bytes().decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in MAPPING_COLUMNS if c not in (reader.fieldnames or []) and c != "pricing_unit"]
    if missing:
        raise InputError(f"header lacks column(s) {', '.join(missing)}", file=path.name, record=1)
    rows = [tuple(r.get(c) for c in MAPPING_COLUMNS) for r in reader]
    if not rows:
        raise InputError("no mapping rows", file=path.name)
    return add_many(ws, rows, now=now, label=path.name)


def current(ws: Workspace) -> list[dict[str, Any]]:
    """Mapping rows in force: for each (alias, effective_from) the latest version."""
    rows = ws.rows("""SELECT * FROM mapping QUALIFY row_number() OVER (
                        PARTITION BY alias, effective_from ORDER BY version DESC) = 1
                      ORDER BY alias, effective_from""")
    return [{"alias": r["alias"], "source_model_id": r["source_model_id"], "pricing_unit": r["pricing_unit"],
             "effective_from": iso(r["effective_from"]) if r["effective_from"] != MIN_TS else None,
             "approved_by": r["approved_by"], "version": r["version"]} for r in rows]


def aliases(ws: Workspace) -> tuple[list[Alias], dict[str, Any]]:
    rows = ws.rows("""SELECT * FROM mapping QUALIFY row_number() OVER (
                        PARTITION BY alias, effective_from ORDER BY version DESC) = 1
                      ORDER BY alias, effective_from""")
    out: list[Alias] = []
    for i, r in enumerate(rows):
        nxt = rows[i + 1] if i + 1 < len(rows) and rows[i + 1]["alias"] == r["alias"] else None
        out.append(Alias(r["alias"], r["source_model_id"], r["effective_from"],
                         nxt["effective_from"] if nxt else MAX_TS))
    version = max((r["version"] for r in rows), default=0)
    content = [(a.alias, a.model, iso(a.valid_from)) for a in out]
    return out, {"version": version, "rows": len(out), "sha256": short_hash(content, n=64)}


# ---------------------------------------------------------------- labels
def import_labels(ws: Workspace, path: Path, *, now: datetime) -> dict[str, Any]:
    label = path.name
    text = path.read_bytes().decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise InputError("the file is empty", file=label) from None
    key = {"token_name": "api_key_name", "api_key_name": "api_key_name", "project": "project"}.get(header[0])
    if key is None:
        raise InputError("the first column must be token_name, api_key_name or project", file=label,
                         record=1, field=header[0])
    extra = [h for h in header[1:] if h not in LABEL_COLUMNS]
    if extra:
        raise InputError(f"unknown label column(s) {', '.join(extra)}; known: {', '.join(LABEL_COLUMNS)}",
                         file=label, record=1)
    rules = []
    for row in reader:
        n = reader.line_num
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise InputError(f"expected {len(header)} fields, got {len(row)}", file=label, record=n)
        values = {h: row[i].strip() for i, h in enumerate(header) if i and row[i].strip()}
        if values.get("environment") and values["environment"] not in ENVIRONMENTS:
            raise InputError(f"environment must be one of {', '.join(ENVIRONMENTS)}", file=label, record=n,
                             field="environment")
        pattern = row[0].strip()
        if looks_secret(pattern):
            raise InputError("the match value looks like a key; label rules take key names, not keys",
                             file=label, record=n, field=header[0])
        rules.append((pattern, values))
    sha = file_sha256(path)
    with ws.transaction() as con:
        version = con.execute("SELECT coalesce(max(version), 0) + 1 FROM labels").fetchone()[0]
        con.executemany("INSERT INTO labels VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                        [[version, i, key, p, v.get("cost_center"), v.get("project"), v.get("customer"),
                          v.get("workflow"), v.get("environment"), sha, now] for i, (p, v) in enumerate(rules, 1)])
    return {"version": version, "rules": len(rules), "match_key": key, "sha256": sha}


def label_rules(ws: Workspace) -> tuple[list[LabelRule], dict[str, Any]]:
    rows = ws.rows("SELECT * FROM labels WHERE version = (SELECT max(version) FROM labels) ORDER BY rule_no")
    rules = [LabelRule(r["match_key"], r["pattern"], {c: r[c] for c in LABEL_COLUMNS if r[c]}) for r in rows]
    info = {"version": rows[0]["version"] if rows else 0, "rules": len(rules),
            "sha256": rows[0]["file_sha256"] if rows else None}
    return rules, info


def list_labels(ws: Workspace) -> list[dict[str, Any]]:
    rules, _ = label_rules(ws)
    return [{"match_key": r.match_key, "pattern": r.pattern, **{c: r.values.get(c) for c in LABEL_COLUMNS}}
            for r in rules]
