"""Catalog schema as numbered forward migrations; each applies in its own transaction."""

from __future__ import annotations

MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR);
        CREATE TABLE evidence (
            sha256 VARCHAR PRIMARY KEY, size BIGINT, media_type VARCHAR, first_seen_at TIMESTAMPTZ);
        CREATE TABLE snapshots (
            snapshot_id VARCHAR PRIMARY KEY, seq INTEGER, format VARCHAR, parser_version VARCHAR,
            source VARCHAR, source_kind VARCHAR, label VARCHAR, operator VARCHAR,
            accessed_at TIMESTAMPTZ, effective_from TIMESTAMPTZ, effective_explicit BOOLEAN,
            http_status INTEGER, headers VARCHAR, evidence VARCHAR, sha256 VARCHAR,
            classification VARCHAR, crosscheck_only BOOLEAN, reviewer VARCHAR,
            reviewed_at TIMESTAMPTZ, frozen BOOLEAN, meta VARCHAR, warnings VARCHAR);
        CREATE TABLE price_rules (
            snapshot_id VARCHAR, rule_no INTEGER, model VARCHAR, meter VARCHAR,
            unit_price DECIMAL(38, 18), per_quantity BIGINT, currency VARCHAR, tier_min BIGINT,
            multiplier DECIMAL(38, 18), multiplier_source VARCHAR, grp VARCHAR,
            effective_from TIMESTAMPTZ, effective_to TIMESTAMPTZ, source_ref VARCHAR, notes VARCHAR,
            PRIMARY KEY (snapshot_id, rule_no));
        CREATE TABLE group_ratios (
            snapshot_id VARCHAR, grp VARCHAR, ratio DECIMAL(38, 18), PRIMARY KEY (snapshot_id, grp));
        CREATE TABLE imports (
            import_id VARCHAR PRIMARY KEY, seq INTEGER, kind VARCHAR, format VARCHAR,
            file_name VARCHAR, sha256 VARCHAR, size BIGINT, imported_at TIMESTAMPTZ,
            records BIGINT, rows_stored BIGINT, duplicates BIGINT, quarantined BIGINT,
            min_at TIMESTAMPTZ, max_at TIMESTAMPTZ, periods VARCHAR);
        CREATE TABLE quarantine (
            import_id VARCHAR, file_name VARCHAR, record BIGINT, field VARCHAR, reason VARCHAR);
        CREATE TABLE mapping (
            version INTEGER, alias VARCHAR, source_model_id VARCHAR, pricing_unit VARCHAR,
            effective_from TIMESTAMPTZ, approved_by VARCHAR, added_at TIMESTAMPTZ);
        CREATE TABLE labels (
            version INTEGER, rule_no INTEGER, match_key VARCHAR, pattern VARCHAR,
            cost_center VARCHAR, project VARCHAR, customer VARCHAR, workflow VARCHAR,
            environment VARCHAR, file_sha256 VARCHAR, added_at TIMESTAMPTZ);
        CREATE TABLE statement_lines (
            import_id VARCHAR, statement VARCHAR, file_name VARCHAR, sha256 VARCHAR,
            line_no BIGINT, line_id VARCHAR, period VARCHAR, grain VARCHAR,
            amount DECIMAL(38, 12), currency VARCHAR, quantity DECIMAL(38, 12), unit VARCHAR);
        CREATE TABLE runs (
            run_id VARCHAR PRIMARY KEY, period VARCHAR, seq INTEGER, engine VARCHAR,
            snapshot_ids VARCHAR, rounding VARCHAR, rows_in BIGINT, rows_priced BIGINT,
            rows_excluded BIGINT, rows_quarantined BIGINT, expected VARCHAR, provider VARCHAR,
            manifest VARCHAR, manifest_sha256 VARCHAR, created_at TIMESTAMPTZ);
        CREATE TABLE variances (
            run_id VARCHAR, variance_id VARCHAR, period VARCHAR, statement VARCHAR,
            line_id VARCHAR, grain VARCHAR, expected DECIMAL(38, 12), actual DECIMAL(38, 12),
            difference DECIMAL(38, 12), provider DECIMAL(38, 12), currency VARCHAR,
            matched BOOLEAN, bucket VARCHAR, owner VARCHAR, explanation VARCHAR,
            evidence VARCHAR, details VARCHAR, PRIMARY KEY (run_id, variance_id));
        """,
    ),
    (
        2,
        # review workflow (issue 7): append-only dispositions, attestations, contract checks,
        # review log, and period events (approve / reopen) that make the lock
        """
        CREATE TABLE dispositions (
            seq INTEGER, disposition_id VARCHAR PRIMARY KEY, target VARCHAR, target_kind VARCHAR,
            period VARCHAR, run_id VARCHAR, disposition VARCHAR, owner VARCHAR, reason VARCHAR,
            evidence VARCHAR, amount DECIMAL(38, 12), leg VARCHAR, currency VARCHAR,
            difference_at DECIMAL(38, 12), recorded_at TIMESTAMPTZ);
        CREATE TABLE attestations (
            seq INTEGER, period VARCHAR, item VARCHAR, operator VARCHAR, evidence VARCHAR, note VARCHAR,
            covers VARCHAR, recorded_at TIMESTAMPTZ);
        CREATE TABLE contract_checks (
            seq INTEGER, item VARCHAR, value VARCHAR, source VARCHAR, operator VARCHAR,
            verified_at TIMESTAMPTZ);
        CREATE TABLE review_log (
            seq INTEGER, entry_id VARCHAR, review_date VARCHAR, operator VARCHAR, source_urls_checked VARCHAR,
            ledger_period VARCHAR, request_owner VARCHAR, status_class VARCHAR, evidence_attached VARCHAR,
            follow_up_owner VARCHAR, result VARCHAR, notes VARCHAR, recorded_at TIMESTAMPTZ);
        CREATE TABLE period_events (
            seq INTEGER, period VARCHAR, event VARCHAR, actor VARCHAR, reason VARCHAR, run_id VARCHAR,
            manifest_sha256 VARCHAR, checklist VARCHAR, checklist_sha256 VARCHAR, recorded_at TIMESTAMPTZ);
        """,
    ),
    (
        3,
        # pricing cross-checks (issue 4): every `pricing crosscheck` run with its findings; the latest
        # check of a snapshot pair supersedes earlier ones (service/pricing.py `sources_agree`)
        """
        CREATE TABLE crosschecks (
            crosscheck_id VARCHAR PRIMARY KEY, seq INTEGER, snapshot_a VARCHAR, snapshot_b VARCHAR,
            compared_at TIMESTAMPTZ, tolerance DECIMAL(38, 18), aliases VARCHAR, disagreements INTEGER,
            findings VARCHAR, summary VARCHAR, recorded_at TIMESTAMPTZ);
        """,
    ),
)
LATEST = MIGRATIONS[-1][0]
