"""`pricing review` freezes a snapshot; a frozen snapshot's rules never change; `show` gives provenance."""

from __future__ import annotations

from pathlib import Path

from tests.pricing_cli.conftest import price_csv
from tests.spine.conftest import AS_OF, Cli


def test_review_records_reviewer_and_freezes(cli: Cli, tmp_path: Path) -> None:
    sheet = price_csv(tmp_path / "sheet.csv", {"gpt-4o": ("2.50", "10.00")})
    snap = cli.json("pricing", "capture", str(sheet), "--operator", "alice")
    assert snap["frozen"] is False and snap["reviewer"] is None and snap["reviewed_at"] is None
    reviewed = cli.json("pricing", "review", snap["snapshot_id"], "--reviewer", "bob")
    assert (reviewed["reviewer"], reviewed["reviewed_at"], reviewed["frozen"]) == ("bob", AS_OF, True)
    shown = cli.json("pricing", "show", snap["snapshot_id"])
    assert (shown["operator"], shown["reviewer"], shown["reviewed_at"], shown["frozen"]) == ("alice", "bob", AS_OF,
                                                                                            True)
    human = cli("pricing", "show", snap["snapshot_id"]).stdout
    assert "bob at 2026-07-02T09:00:00Z (frozen)" in human and "alice" in human
    listed = cli.json("pricing", "list")["snapshots"]
    assert (listed[0]["reviewer"], listed[0]["frozen"]) == ("bob", True)
    assert "bob (frozen)" in cli("pricing", "list").stdout
    # the same reviewer again is a no-op; someone else cannot overwrite the review
    again = cli.json("pricing", "review", snap["snapshot_id"], "--reviewer", "bob")
    assert again["already_reviewed"] is True and again["reviewed_at"] == AS_OF
    r = cli("pricing", "review", snap["snapshot_id"], "--reviewer", "carol", code=2)
    assert "frozen" in r.output
    assert cli.json("pricing", "show", snap["snapshot_id"])["reviewer"] == "bob"


def test_review_needs_a_known_snapshot_and_a_name(cli: Cli, tmp_path: Path) -> None:
    cli("pricing", "review", "snap-000000000000", "--reviewer", "bob", code=2)
    snap = cli.json("pricing", "capture", str(price_csv(tmp_path / "s.csv", {"m": ("1", "2")})))
    cli("pricing", "review", snap["snapshot_id"], "--reviewer", "  ", code=2)
    cli("pricing", "review", snap["snapshot_id"], code=2)  # --reviewer is required
    assert cli.json("pricing", "show", snap["snapshot_id"])["frozen"] is False


def test_frozen_snapshot_never_changes_and_a_recapture_of_new_bytes_is_a_new_snapshot(cli: Cli,
                                                                                     tmp_path: Path) -> None:
    sheet = price_csv(tmp_path / "sheet.csv", {"gpt-4o": ("2.50", "10.00"), "gpt-4o-mini": ("0.15", "0.60")})
    first = cli.json("pricing", "capture", str(sheet))
    cli("pricing", "review", first["snapshot_id"], "--reviewer", "bob")
    before = cli.json("pricing", "show", first["snapshot_id"])
    # identical bytes: the same, still frozen, snapshot
    same = cli.json("pricing", "capture", str(sheet))
    assert same["snapshot_id"] == first["snapshot_id"] and same["already_captured"] is True
    assert same["frozen"] is True and same["reviewer"] == "bob"
    # changed bytes at the same path: a new, unreviewed snapshot; the frozen one is untouched
    price_csv(sheet, {"gpt-4o": ("2.00", "8.00"), "gpt-4o-mini": ("0.15", "0.60")})
    changed = cli.json("pricing", "capture", str(sheet))
    assert changed["snapshot_id"] != first["snapshot_id"]
    assert changed["frozen"] is False and changed["reviewer"] is None
    assert changed["evidence"] != before["evidence"]
    assert cli.json("pricing", "show", first["snapshot_id"]) == before
    assert [s["snapshot_id"] for s in cli.json("pricing", "list")["snapshots"]] == [first["snapshot_id"],
                                                                                    changed["snapshot_id"]]
