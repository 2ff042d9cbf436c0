"""End-to-end probes against a real gateway on loopback: what is recorded for each check."""

from __future__ import annotations

import json
import re

import pytest
from probe_fake_gateway import FIXED_NOW, RESPONSE_IDS, VALID_KEY, closed_port_url, fixed_now

from costproof.probe import (
    CHECKS,
    REVIEW_LOG_FIELDS,
    SCHEMA,
    ProbeReport,
    hash_response_id,
    run_probe,
)

PROBE_FIELDS = {
    "id",
    "timestamp",
    "check",
    "route_family",
    "status_code",
    "status_class",
    "expected_class",
    "matched",
    "passed",
    "request_owner",
    "usage_seen",
    "response_id_hash",
    "tokens",
    "latency_class",
    "error_class",
}


def probe(url: str, **kwargs: object) -> ProbeReport:
    options: dict[str, object] = {
        "api_key": VALID_KEY,
        "model": "gpt-4o-mini",
        "owner": "platform-team",
        "now": fixed_now,
        "trust_env": False,
        "timeout": 5.0,
    }
    options.update(kwargs)
    return run_probe(url, **options)  # type: ignore[arg-type]


def by_check(report: ProbeReport) -> dict[str, dict]:
    return {p["check"]: p for p in report.as_dict()["probes"]}


def test_happy_path_records_2xx_and_usage(gateway):
    report = probe(gateway.url)
    happy = by_check(report)["happy"]
    assert happy == {
        "id": happy["id"],
        "timestamp": "2026-06-15T09:30:00Z",
        "check": "happy",
        "route_family": "chat.completions",
        "status_code": 200,
        "status_class": "2xx",
        "expected_class": "2xx",
        "matched": True,
        "passed": True,
        "request_owner": "platform-team",
        "usage_seen": True,
        "response_id_hash": hash_response_id(RESPONSE_IDS["chat.completions"]),
        "tokens": {
            "cached_tokens": 0,
            "input_tokens": 12,
            "output_tokens": 1,
            "reasoning_tokens": 0,
            "total_tokens": 13,
        },
        "latency_class": "<1s",
        "error_class": None,
    }
    assert re.fullmatch(r"probe-[0-9a-f]{24}", happy["id"])
    assert report.ok and report.exit_code == 0 and report.problems == []


def test_report_shape_and_order(gateway):
    data = probe(gateway.url).as_dict()
    assert list(data) == sorted(data)
    assert data["schema"] == SCHEMA
    assert data["base_url"] == f"{gateway.url}/v1"
    assert [p["check"] for p in data["probes"]] == list(CHECKS)
    for record in data["probes"]:
        assert set(record) == PROBE_FIELDS
        assert list(record) == sorted(record)
    assert len({p["id"] for p in data["probes"]}) == len(CHECKS)


def test_models_listing_is_its_own_route_family(gateway):
    models = by_check(probe(gateway.url))["models"]
    assert (models["route_family"], models["status_code"], models["matched"]) == (
        "models",
        200,
        True,
    )
    assert models["usage_seen"] is False and models["passed"] is True


def test_bad_key_is_401_and_expected(gateway):
    unauthorized = by_check(probe(gateway.url))["unauthorized"]
    assert unauthorized["status_code"] == 401
    assert unauthorized["status_class"] == "4xx"
    assert unauthorized["expected_class"] == "401/403"
    assert unauthorized["matched"] and unauthorized["passed"]
    assert unauthorized["usage_seen"] is False and unauthorized["tokens"] == {}


@pytest.mark.parametrize(
    ("route", "code"), [("chat.completions", 404), ("responses", 400), ("messages", 404)]
)
def test_unknown_model_is_4xx_and_expected(gateway, route, code):
    unknown = by_check(probe(gateway.url, route=route))["unknown_model"]
    assert (unknown["status_code"], unknown["status_class"]) == (code, "4xx")
    assert unknown["expected_class"] == "4xx"
    assert unknown["matched"] and unknown["passed"]


@pytest.mark.parametrize(
    ("route", "model", "tokens"),
    [
        (
            "responses",
            "gpt-4o-mini",
            {
                "cached_tokens": 3,
                "input_tokens": 11,
                "output_tokens": 16,
                "reasoning_tokens": 2,
                "total_tokens": 27,
            },
        ),
        (
            "messages",
            "claude-3-5-haiku",
            {"cached_tokens": 4, "input_tokens": 14, "output_tokens": 5},
        ),
    ],
)
def test_other_routes_record_usage(gateway, route, model, tokens):
    report = probe(gateway.url, route=route, model=model)
    checks = by_check(report)
    assert checks["happy"]["route_family"] == route
    assert checks["happy"]["tokens"] == tokens
    assert checks["happy"]["response_id_hash"] == hash_response_id(RESPONSE_IDS[route])
    assert checks["stream"]["usage_seen"] is True
    assert report.ok, report.problems


@pytest.mark.parametrize("route", ["chat.completions", "responses", "messages"])
def test_stream_usage_chunk_detected(gateway, route):
    stream = by_check(probe(gateway.url, route=route))["stream"]
    assert stream["status_code"] == 200 and stream["usage_seen"] is True
    assert stream["response_id_hash"] == hash_response_id(RESPONSE_IDS[route])


@pytest.mark.parametrize("route", ["chat.completions", "responses", "messages"])
def test_stream_without_usage_chunk_is_a_problem(make_gateway, route):
    server = make_gateway(stream_usage=False)
    report = probe(server.url, route=route)
    stream = by_check(report)["stream"]
    assert stream["matched"] is True and stream["usage_seen"] is False
    assert stream["passed"] is False and stream["tokens"] == {}
    assert report.problems == ["stream: no usage block in a successful response"]
    assert report.exit_code == 1


def test_requests_are_low_risk(make_gateway):
    server = make_gateway()
    probe(server.url)
    seen = server.app.state.seen
    assert [s["family"] for s in seen] == ["models"] + ["chat.completions"] * 4
    posts = seen[1:]
    assert all(s["max_tokens"] is not None and s["max_tokens"] <= 5 for s in posts)
    assert [s["key_valid"] for s in seen] == [True, True, True, False, True]
    assert [s["model"] for s in posts] == [
        "gpt-4o-mini",
        "gpt-4o-mini",
        "gpt-4o-mini",
        "costproof-probe-no-such-model",
    ]
    assert posts[1]["stream"] is True
    assert posts[1]["stream_options"] == {"include_usage": True}


def test_messages_route_sends_anthropic_key_header(make_gateway):
    server = make_gateway()
    probe(server.url, route="messages", model="claude-3-5-haiku", list_models=False, stream=False)
    seen = server.app.state.seen
    assert [s["family"] for s in seen] == ["messages"] * 3
    assert all(s["x_api_key"] for s in seen)


def test_optional_checks_can_be_left_out(gateway):
    report = probe(gateway.url, list_models=False, stream=False)
    assert [p.check for p in report.probes] == ["happy", "unauthorized", "unknown_model"]


def test_gateway_down_records_connect_error():
    report = probe(closed_port_url())
    assert report.exit_code == 1 and not report.ok
    for record in report.as_dict()["probes"]:
        assert record["error_class"] == "connect"
        assert record["status_code"] is None and record["status_class"] == "none"
        assert record["matched"] is False and record["usage_seen"] is False
    assert report.problems[0] == "models: connect error, no complete response"


def test_slow_gateway_records_timeout(make_gateway):
    server = make_gateway(delay=1.0)
    report = probe(server.url, timeout=0.2, list_models=False, stream=False)
    assert [p.error_class for p in report.probes] == ["timeout"] * 3
    assert report.exit_code == 1


def test_wrong_key_makes_happy_path_fail(gateway):
    report = probe(gateway.url, api_key="sk-not-the-right-key-000000")
    checks = by_check(report)
    assert checks["happy"]["status_code"] == 401 and checks["happy"]["matched"] is False
    assert "happy: expected 2xx, got 401" in report.problems
    # An unknown-model probe answered 401 does not show the model was rejected.
    assert checks["unknown_model"]["matched"] is False


def test_same_inputs_same_bytes(gateway):
    first, second = probe(gateway.url).to_json(), probe(gateway.url).to_json()
    assert first == second
    assert json.loads(first)["probes"][0]["timestamp"] == "2026-06-15T09:30:00Z"


def test_ids_depend_on_time_and_check(gateway):
    from datetime import timedelta

    later = probe(gateway.url, now=lambda: FIXED_NOW + timedelta(seconds=1))
    earlier = probe(gateway.url)
    assert {p.id for p in later.probes}.isdisjoint({p.id for p in earlier.probes})


def test_review_log_records(make_gateway):
    server = make_gateway(stream_usage=False)
    report = probe(server.url)
    records = report.review_log(operator="alice")
    assert len(records) == len(CHECKS)
    for record in records:
        assert tuple(record) == REVIEW_LOG_FIELDS
        assert all(isinstance(v, str) for v in record.values())
        assert record["review_date"] == "2026-06-15"
        assert record["ledger_period"] == "2026-06"
        assert record["operator"] == "alice"
        assert record["request_owner"] == "platform-team"
    happy, stream = records[1], records[2]
    assert happy["source_urls_checked"] == f"{server.url}/v1/chat/completions"
    assert records[0]["source_urls_checked"] == f"{server.url}/v1/models"
    assert happy["result"] == "pass" and happy["follow_up_owner"] == ""
    assert happy["status_class"] == "2xx"
    assert happy["evidence_attached"] == (
        f"probe:{report.probes[1].id}; "
        f"response_id:{hash_response_id(RESPONSE_IDS['chat.completions'])}"
    )
    assert "usage block seen" in happy["notes"] and "input_tokens=12" in happy["notes"]
    assert stream["result"] == "fail" and stream["follow_up_owner"] == "API integration"
    assert "usage block not seen" in stream["notes"]
    custom = report.review_log(ledger_period="2026-05", follow_up_owner="bob")
    assert custom[2]["ledger_period"] == "2026-05" and custom[2]["follow_up_owner"] == "bob"
    assert custom[0]["operator"] == "platform-team"
