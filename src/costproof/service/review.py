"""Review use cases: resolve, checklist (with escalations and billing exposure), attest, approve, reopen."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from costproof.model.errors import InputError
from costproof.model.money import dec, to_str
from costproof.model.review import ATTESTABLE, Escalation, Facts, item_ref
from costproof.model.sanitize import compile_patterns
from costproof.reconcile import checklist as checklist_mod
from costproof.reconcile import escalations as escalation_rules
from costproof.review import attest, dispositions, lock
from costproof.review.fields import MAX_SHORT, check_text
from costproof.service.common import period_bounds
from costproof.service.review_facts import gather
from costproof.service.run import latest_run
from costproof.workspace import Workspace

_ESC_PERIOD = re.compile(r"^esc-(\d{4}-\d{2})-")


class NotApproved(Exception):
    """`approve` refused because the checklist fails (CLI exit 1); carries the checklist."""

    def __init__(self, checklist: dict[str, Any]) -> None:
        self.checklist = checklist
        failing = [f"{i['n']}. {i['title']}" for i in checklist["items"] if not i["passed"]]
        super().__init__(f"{checklist['period']} cannot be approved; failing: {'; '.join(failing)}")


# ------------------------------------------------------------------------------------------- checklist
def escalation_status(f: Facts, e: Escalation) -> tuple[str, dict[str, Any] | None]:
    """open, or the disposition that closed it (on the escalation itself, or on its variance's figures)."""
    d = f.dispositions.get(e.id)
    if d is not None:
        return d["disposition"], d
    if e.variance_id:
        v = next((v for v in f.variances if v["variance_id"] == e.variance_id), None)
        d = checklist_mod.closing(f, v) if v else None
        if d is not None:
            return d["disposition"], d
    return "open", None


def checklist(ws: Workspace, period: str, *, now: datetime) -> dict[str, Any]:
    """The 13 items, escalations with their status, billing exposure lines and the period state."""
    period_bounds(period)
    f = gather(ws, period, now=now)
    fired = escalation_rules.evaluate(f)
    statuses = [(e, *escalation_status(f, e)) for e in fired]
    items = checklist_mod.evaluate(f, [(e, s) for e, s, _ in statuses])
    escalations = [_escalation_dict(e, s, d) for e, s, d in statuses]
    event = lock.latest_event(ws, period)
    paused = any(e["pauses"] and e["status"] == "open" for e in escalations)
    state = "approved" if event and event["event"] == "approved" else "paused" if paused else "open"
    return {
        "period": period,
        "passed": all(i["passed"] for i in items),
        "state": state,
        "run_id": f.run["run_id"] if f.run else None,
        "manifest_sha256": f.run["manifest_sha256"] if f.run else None,
        "items": items,
        "escalations": escalations,
        "billing": _billing(f),
        "adjustments": _adjustments(f),
        "settings": ws.settings.review.as_dict(),
        "approval": lock.as_dict(event) if event and event["event"] == "approved" else None,
    }


def _escalation_dict(e: Escalation, status: str, d: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": e.id, "rule": e.rule, "owner": e.owner, "item": e.item, "subject": e.subject,
                           "detail": e.detail, "evidence": list(e.evidence), "pauses": e.pauses, "status": status,
                           "blocks_approval": status == "open"}
    if e.variance_id:
        out["variance_id"] = e.variance_id
    if d is not None:
        out["disposition"] = dispositions.as_dict(d)
    return out


def _billing(f: Facts) -> dict[str, Any]:
    """Each class's priced exposure as its own line, and expected cost after the recorded policy."""
    lines, adjustment = [], {}
    for b in f.billing:
        for cur in sorted(set(b["exposure"]) | set(b["in_expected"])):
            excluded_part = b["exposure"].get(cur, Decimal(0)) - b["in_expected"].get(cur, Decimal(0))
            # the run prices what the engine prices; the policy moves a class in or out of expected, on its own line
            delta = excluded_part if b["policy"] == "billable" else -b["in_expected"].get(cur, Decimal(0))
            adjustment[cur] = adjustment.get(cur, Decimal(0)) + delta
        lines.append({
            "class": b["class"], "policy": b["policy"], "rows": b["rows"], "timed_out": b["timed_out"],
            "unpriced_rows": b["unpriced_rows"],
            "exposure": {c: to_str(v) for c, v in sorted(b["exposure"].items())},
            "in_run_expected": {c: to_str(v) for c, v in sorted(b["in_expected"].items())},
            "treatment": {"excluded": "not billable: kept out of expected",
                          "billable": "billable: added to expected as a policy line",
                          "unverified": "unverified: kept out of expected, exposure shown, escalated above "
                                        "the threshold"}[b["policy"]],
        })
    raw = {c: Decimal(v) for c, v in (f.run["manifest"].get("expected", {}) if f.run else {}).items()}
    after = {c: raw.get(c, Decimal(0)) + adjustment.get(c, Decimal(0)) for c in sorted(set(raw) | set(adjustment))}
    return {"lines": lines, "expected_raw": {c: to_str(v) for c, v in sorted(raw.items())},
            "policy_adjustment": {c: to_str(v) for c, v in sorted(adjustment.items())},
            "expected_after_policy": {c: to_str(v) for c, v in after.items()}}


def _adjustments(f: Facts) -> list[dict[str, Any]]:
    out = []
    for v in f.variances:
        d = checklist_mod.closing(f, v) if not v["matched"] else None
        if d is None or d["disposition"] != "corrected" or d["amount"] is None:
            continue
        adjusted = dispositions.adjusted_difference(Decimal(v["difference"]), d)
        out.append({"variance_id": v["variance_id"], "line_id": v["line_id"], "leg": d["leg"],
                    "amount": to_str(d["amount"]), "currency": d["currency"],
                    "raw_difference": to_str(v["difference"]),
                    "adjusted_difference": to_str(adjusted) if adjusted is not None else None,
                    "owner": d["owner"], "disposition_id": d["disposition_id"]})
    return out


# --------------------------------------------------------------------------------------------- resolve
def resolve(ws: Workspace, target: str, *, disposition: str, owner: str, reason: str, evidence: list[str],
            amount: str | None, leg: str | None, now: datetime) -> dict[str, Any]:
    """Close a variance (by its id) or an escalation (esc-…) with a disposition; history is kept."""
    target = target.strip()
    value = None
    if amount is not None:
        try:
            value = dec(amount)
        except ValueError:
            raise InputError("not a decimal amount", field="--amount") from None
    m = _ESC_PERIOD.match(target)
    if m:
        period = m.group(1)
        lock.ensure_unlocked(ws, [period], f"a disposition on {target}")
        current = {e["id"]: e for e in checklist(ws, period, now=now)["escalations"]}
        if target not in current:
            raise InputError(f"no current escalation {target!r} (see `costproof checklist --period {period}`)")
        row = dispositions.record(ws, target=target, target_kind="escalation", period=period,
                                  run_id=_run_id(ws, period), disposition=disposition, owner=owner, reason=reason,
                                  evidence=evidence, amount=value, leg=leg, currency=None, difference_at=None, now=now)
        return {**row, "escalation": current[target]}
    v = _variance(ws, target)
    lock.ensure_unlocked(ws, [v["period"]], f"a disposition on {target}")
    if v["matched"]:
        raise InputError(f"{target} is within tolerance (matched); there is nothing to resolve")
    row = dispositions.record(ws, target=target, target_kind="variance", period=v["period"], run_id=v["run_id"],
                              disposition=disposition, owner=owner, reason=reason, evidence=evidence, amount=value,
                              leg=leg, currency=v["currency"], difference_at=v["difference"], now=now)
    adjusted = dispositions.adjusted_difference(v["difference"], ws.one(
        "SELECT * FROM dispositions WHERE disposition_id = ?", [row["id"]]))
    out = {**row, "variance": {"line_id": v["line_id"], "expected": to_str(v["expected"]),
                               "actual": to_str(v["actual"]), "difference": to_str(v["difference"]),
                               "currency": v["currency"]}}
    if adjusted is not None:
        out["adjusted_difference"] = to_str(adjusted)
        out["closes_gap"] = abs(adjusted) <= ws.settings.tolerance
    return out


def _run_id(ws: Workspace, period: str) -> str | None:
    run = latest_run(ws, period)
    return run["run_id"] if run else None


def _variance(ws: Workspace, variance_id: str) -> dict[str, Any]:
    any_row = ws.one("SELECT period FROM variances WHERE variance_id = ? LIMIT 1", [variance_id])
    if any_row is None:
        raise InputError(f"no variance or escalation {variance_id!r} (see `costproof variances --period P` and "
                         "`costproof checklist --period P`)")
    run = latest_run(ws, any_row["period"])
    row = ws.one("SELECT * FROM variances WHERE run_id = ? AND variance_id = ?", [run["run_id"] if run else "",
                                                                                  variance_id])
    if row is None:
        raise InputError(f"{variance_id} is not in the latest run of {any_row['period']}; nothing to resolve")
    return row


def history(ws: Workspace, target: str) -> list[dict[str, Any]]:
    return dispositions.history(ws, target=target)


# -------------------------------------------------------------------------------------- attest, approve
def attest_item(ws: Workspace, period: str, item: str, *, operator: str, evidence: str, note: str | None,
                now: datetime) -> dict[str, Any]:
    """Attest what the workspace cannot show for an attestable item; covers the item's failing subjects now."""
    period_bounds(period)
    try:
        _, ident, _ = item_ref(item)
    except ValueError as exc:
        raise InputError(str(exc), field="ITEM") from None
    if ident not in ATTESTABLE:
        raise InputError(f"item {ident} is computed from the workspace and cannot be attested; attestable: "
                         f"{', '.join(ATTESTABLE)}", field="ITEM")
    lock.ensure_unlocked(ws, [period], f"an attestation for item {ident}")
    current = next(i for i in checklist(ws, period, now=now)["items"] if i["id"] == ident)
    if not current["failing"]:
        raise InputError(f"item {ident} has nothing to attest for {period} (it passes on the workspace's own "
                         "evidence, or it has no run yet)", field="ITEM")
    ref = dispositions.evidence_ref(ws, evidence, now=now) if not evidence.startswith(("http://", "https://")) \
        else evidence
    return attest.add(ws, period=period, item=ident, operator=operator, evidence=ref, note=note,
                      covers=current["failing"], now=now)


def approve(ws: Workspace, period: str, *, reviewer: str, now: datetime) -> dict[str, Any]:
    """Write the approval record and lock the period, only when every checklist item passes."""
    period_bounds(period)
    reviewer = check_text("--reviewer", reviewer, pattern=compile_patterns(ws.settings.secret_patterns),
                          max_len=MAX_SHORT, required=True)
    if lock.is_locked(ws, period):
        ev = lock.latest_event(ws, period)
        raise InputError(f"{period} is already approved (by {ev['actor'] if ev else '?'}, run "
                         f"{ev['run_id'] if ev else '?'}); reopen it first to approve again")
    cl = checklist(ws, period, now=now)
    if not cl["passed"] or cl["run_id"] is None:
        raise NotApproved(cl)
    return lock.record(ws, period=period, event="approved", actor=reviewer, reason=None, run_id=cl["run_id"],
                       manifest_sha256=cl["manifest_sha256"], checklist=cl, now=now)


def reopen(ws: Workspace, period: str, *, reason: str, operator: str, now: datetime) -> dict[str, Any]:
    """Unlock an approved period; the reopening is recorded next to the approval it undoes."""
    period_bounds(period)
    pattern = compile_patterns(ws.settings.secret_patterns)
    reason = check_text("--reason", reason, pattern=pattern, required=True)
    operator = check_text("--operator", operator, pattern=pattern, max_len=MAX_SHORT, required=True)
    ev = lock.latest_event(ws, period)
    if not ev or ev["event"] != "approved":
        raise InputError(f"{period} is not approved; there is nothing to reopen")
    return lock.record(ws, period=period, event="reopened", actor=operator, reason=reason, run_id=ev["run_id"],
                       manifest_sha256=ev["manifest_sha256"], checklist=None, now=now)


def approval_for(ws: Workspace, period: str) -> dict[str, Any] | None:
    """The approval record in force for a period (for the source pack), or None."""
    ev = lock.latest_event(ws, period)
    return lock.as_dict(ev) if ev and ev["event"] == "approved" else None


def period_history(ws: Workspace, period: str) -> list[dict[str, Any]]:
    return [lock.as_dict(e) for e in lock.events(ws, period)]
