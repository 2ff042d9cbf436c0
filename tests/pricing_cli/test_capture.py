"""Capture through the CLI: the built-in genai-prices catalog, classification, and HTTP on loopback."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
from tests.pricing_cli.conftest import Route, Web, price_csv
from tests.spine.conftest import JUNE_1, Cli, log_row, models_doc, write_json

from costproof.sources.pricing import genai_prices

DATA = Path(__file__).parent.parent / "data" / "pricing"


def _evidence(cli: Cli, sha: str) -> bytes:
    hits = [p for p in Path(cli.workspace, "evidence").rglob("*") if p.is_file() and sha in p.name]
    assert len(hits) == 1, hits
    return hits[0].read_bytes()


# ---------------------------------------------------------------- genai-prices as a built-in source
@pytest.mark.parametrize("source", ["genai-prices:openai", "genai-prices:openai,anthropic"])
def test_builtin_catalog_needs_no_format_and_stores_its_frozen_bytes(cli: Cli, source: str) -> None:
    snap = cli.json("pricing", "capture", source, "--operator", "alice")
    assert snap["format"] == "genai-prices" and snap["source_kind"] == "builtin" and snap["source"] == source
    assert snap["crosscheck_only"] is True and snap["meta"]["crosscheck_only"] == "true"
    assert snap["meta"]["pinned_version"] == genai_prices.PINNED_VERSION
    assert snap["classification"] == "public-doc" and snap["models"] > 10
    frozen = genai_prices.source_bytes(source)
    [sha] = snap["evidence"]
    assert sha == hashlib.sha256(frozen).hexdigest() and _evidence(cli, sha) == frozen
    # the same catalog with an explicit --format is the same snapshot
    again = cli.json("pricing", "capture", source, "--format", "genai-prices")
    assert again["snapshot_id"] == snap["snapshot_id"] and again["already_captured"] is True
    listed = cli.json("pricing", "list")["snapshots"]
    assert [(s["snapshot_id"], s["crosscheck_only"]) for s in listed] == [(snap["snapshot_id"], True)]


def test_builtin_catalog_refuses_another_format_and_unknown_provider(cli: Cli) -> None:
    r = cli("pricing", "capture", "genai-prices:openai", "--format", "price-csv", code=2)
    assert "--format genai-prices" in r.output
    cli("pricing", "capture", "genai-prices:no-such-provider", code=2)
    assert cli.json("pricing", "list")["snapshots"] == []


def test_run_never_uses_a_crosscheck_only_snapshot_unless_forced(cli: Cli, tmp_path: Path) -> None:
    rows = [log_row(i, JUNE_1 + 3600 * i, model="gpt-4o-mini") for i in range(1, 6)]
    cli("usage", "import", str(write_json(tmp_path / "log.json", rows)), "--format", "newapi-log")
    xc = cli.json("pricing", "capture", "genai-prices:openai", "--effective-from", "2026-05-01")
    plain = cli.json("run", "--period", "2026-06", code=None)
    assert plain["snapshot_ids"] == [] and plain["rows_priced"] == 0
    forced = cli.json("run", "--period", "2026-06", "--snapshot", xc["snapshot_id"], code=None)
    assert forced["snapshot_ids"] == [xc["snapshot_id"]] and forced["rows_priced"] == 5
    # with a primary source present, the run prices from it and still ignores the catalog
    write_json(tmp_path / "models.json", models_doc({"gpt-4o-mini": ("0.15", "0.60")}))
    primary = cli.json("pricing", "capture", str(tmp_path / "models.json"), "--effective-from", "2026-05-01")
    mixed = cli.json("run", "--period", "2026-06", code=None)
    assert mixed["snapshot_ids"] == [primary["snapshot_id"]] and mixed["rows_priced"] == 5


# ---------------------------------------------------------------- classification
@pytest.mark.parametrize(("given", "expected"), [
    (None, "internal-evidence"),  # a local file, by default
    ("public-doc", "public-doc"),
    ("internal-evidence", "internal-evidence"),
])
def test_classification_is_recorded_and_listed(cli: Cli, tmp_path: Path, given: str | None, expected: str) -> None:
    sheet = price_csv(tmp_path / "contract.csv", {"gpt-4o": ("2.00", "8.00")})
    extra = ["--classification", given] if given else []
    snap = cli.json("pricing", "capture", str(sheet), *extra)
    assert snap["classification"] == expected
    assert [s["classification"] for s in cli.json("pricing", "list")["snapshots"]] == [expected]
    assert expected in cli("pricing", "list").stdout
    assert expected in cli("pricing", "show", snap["snapshot_id"]).stdout


def test_classification_of_a_url_defaults_to_public_and_a_bad_one_is_refused(cli: Cli, web: Web,
                                                                              tmp_path: Path) -> None:
    web.routes["/api/models"] = Route(json.dumps(models_doc({"gpt-4o": ("2.50", "10.00")})).encode(),
                                      headers={"Content-Type": "application/json"})
    assert cli.json("pricing", "capture", web.url("/api/models"))["classification"] == "public-doc"
    sheet = price_csv(tmp_path / "x.csv", {"gpt-4o": ("2.00", "8.00")})
    r = cli("pricing", "capture", str(sheet), "--classification", "secret", code=2)
    assert "public-doc or internal-evidence" in r.output
    assert len(cli.json("pricing", "list")["snapshots"]) == 1


# ---------------------------------------------------------------- HTTP on loopback
def test_url_capture_records_the_headers_that_matter(cli: Cli, web: Web) -> None:
    body = json.dumps(models_doc({"gpt-4o": ("2.50", "10.00")})).encode()
    web.routes["/api/models"] = Route(body, headers={
        "Content-Type": "application/json", "ETag": '"v7"', "Last-Modified": "Tue, 30 Jun 2026 08:00:00 GMT",
        "Set-Cookie": "session=abc", "X-Internal-Trace": "t-1"})
    snap = cli.json("pricing", "capture", web.url("/api/models"))
    [page] = snap["headers"]
    assert page["status"] == 200 and page["url"] == web.url("/api/models")
    assert page["headers"]["etag"] == '"v7"' and page["headers"]["content-type"] == "application/json"
    assert page["headers"]["last-modified"] == "Tue, 30 Jun 2026 08:00:00 GMT" and "date" in page["headers"]
    assert not {"set-cookie", "x-internal-trace"} & set(page["headers"])
    assert _evidence(cli, snap["evidence"][0]) == body


@pytest.mark.parametrize("status", [301, 401, 403, 404, 429, 500, 503])
def test_url_capture_refuses_every_non_2xx(cli: Cli, web: Web, status: int) -> None:
    headers = {"Location": web.url("/gone")} if status == 301 else {}
    web.routes["/api/models"] = Route(b'{"data": []}', status=status, headers=headers)
    r = cli("pricing", "capture", web.url("/api/models"), code=2)
    assert "HTTP 404" in r.output if status == 301 else f"HTTP {status}" in r.output
    assert "not price evidence" in r.output
    assert cli.json("pricing", "list")["snapshots"] == []
    assert not [p for p in Path(cli.workspace, "evidence").rglob("*") if p.is_file()]


def test_url_capture_follows_a_redirect_and_every_page(cli: Cli, web: Web) -> None:
    models = [(f"model-{n}", (f"{n}.5", f"{n * 2}")) for n in range(1, 6)]
    web.routes["/old"] = Route(b"", status=302, headers={"Location": "/api/models"})
    for page in (1, 2, 3):
        doc = models_doc(dict(models[(page - 1) * 2: page * 2]), page=page, page_size=2, total=5)
        path = "/api/models" if page == 1 else f"/api/models?page={page}&page_size=2"
        web.routes[path] = Route(json.dumps(doc).encode(), headers={"Content-Type": "application/json"})
    snap = cli.json("pricing", "capture", web.url("/old"), "--format", "cometapi-models")
    assert snap["models"] == 5 and len(snap["evidence"]) == 3
    assert [h["url"] for h in snap["headers"]] == [web.url("/api/models"), web.url("/api/models?page=2&page_size=2"),
                                                   web.url("/api/models?page=3&page_size=2")]
    assert [p for p, _ in web.hits] == ["/old", "/api/models", "/api/models?page=2&page_size=2",
                                        "/api/models?page=3&page_size=2"]


def test_url_capture_times_out_cleanly(cli: Cli, web: Web) -> None:
    web.routes["/slow"] = Route(json.dumps(models_doc({"gpt-4o": ("2.50", "10.00")})).encode(), delay=3)
    started = time.monotonic()
    r = cli("pricing", "capture", web.url("/slow"), "--timeout", "0.3", code=2)
    assert time.monotonic() - started < 2.5
    assert "0.3 s" in r.output and "--timeout" in r.output and "nothing stored" in r.output
    assert cli.json("pricing", "list")["snapshots"] == []


def test_timeout_must_be_positive(cli: Cli, web: Web) -> None:
    cli("pricing", "capture", web.url("/x"), "--timeout", "0", code=2)


def test_html_pricing_page_by_url(cli: Cli, web: Web) -> None:
    page = (DATA / "html-table-header-units.html").read_bytes()
    web.routes["/pricing"] = Route(page, headers={"Content-Type": "text/html; charset=utf-8"})
    snap = cli.json("pricing", "capture", web.url("/pricing"), "--format", "html-table", "--operator", "alice")
    assert snap["format"] == "html-table" and snap["source_kind"] == "url" and snap["http_status"] == 200
    assert snap["headers"][0]["headers"]["content-type"] == "text/html; charset=utf-8"
    assert len(snap["evidence"]) == 1 and _evidence(cli, snap["evidence"][0]) == page
    assert [p for p, _ in web.hits] == ["/pricing"]  # an HTML page is never paginated by guess
    shown = cli.json("pricing", "show", snap["snapshot_id"])
    golden = json.loads((DATA / "html-table-header-units.golden.json").read_text("utf-8"))
    assert len(shown["rules"]) == len(golden["rules"])
    by_key = {(r["model"], r["meter"]): r["unit_price"] for r in shown["rules"]}
    assert by_key[("gpt-4o", "input_tokens")] == "2.5" and by_key[("gpt-4o-mini", "output_tokens")] == "0.6"


def test_html_page_with_an_unreadable_unit_is_refused_with_its_place(cli: Cli, web: Web) -> None:
    web.routes["/pricing"] = Route(b"<table><tr><th>Model</th><th>Input</th></tr>"
                                   b"<tr><td>gpt-4o</td><td>$2.50</td></tr></table>",
                                   headers={"Content-Type": "text/html"})
    r = cli("pricing", "capture", web.url("/pricing"), "--format", "html-table", code=2)
    assert "table 1" in r.output and "Input" in r.output
    assert cli.json("pricing", "list")["snapshots"] == []


def test_key_env_is_sent_but_never_recorded_even_in_errors(cli: Cli, web: Web, tmp_path: Path) -> None:
    key = "sk-live-ABCDEFGHIJKLMNOPQRSTUVWX1234"
    web.routes["/api/models"] = Route(json.dumps(models_doc({"gpt-4o": ("2.50", "10.00")})).encode())
    web.routes["/denied"] = Route(b"bad key " + key.encode(), status=401)
    cli.runner = type(cli.runner)(env={"PRICE_KEY": key})
    snap = cli.json("pricing", "capture", web.url("/api/models"), "--key-env", "PRICE_KEY")
    denied = cli("pricing", "capture", web.url("/denied"), "--key-env", "PRICE_KEY", code=2)
    assert [h.get("Authorization") for _, h in web.hits] == [f"Bearer {key}"] * 2
    assert key not in denied.output and key not in json.dumps(snap)
    for f in Path(cli.workspace).rglob("*"):
        if f.is_file():
            assert key.encode() not in f.read_bytes(), f
    # without --key-env nothing is sent
    cli("pricing", "capture", web.url("/api/models"), "--label", "anon")
    assert web.hits[-1][1].get("Authorization") is None
    cli("pricing", "capture", web.url("/api/models"), "--key-env", "NOT_SET_ANYWHERE", code=2)
