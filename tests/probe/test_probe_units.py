"""Small pure parts of the probe: classes, URL handling, usage normalization, scrubbing."""

from __future__ import annotations

import hashlib

import pytest

from costproof.probe import hash_response_id
from costproof.probe.probe import (
    _read_events,
    _read_json,
    api_root,
    expected_match,
    latency_class,
    public_url,
    scrub,
)


@pytest.mark.parametrize(
    ("seconds", "label"),
    [(0.0, "<1s"), (0.999, "<1s"), (1.0, "1-5s"), (5.0, "1-5s"), (5.01, ">5s"), (60, ">5s")],
)
def test_latency_class(seconds, label):
    assert latency_class(seconds) == label


@pytest.mark.parametrize(
    ("check", "code", "matched"),
    [
        ("happy", 200, True),
        ("happy", 204, True),
        ("happy", 401, False),
        ("happy", None, False),
        ("stream", 500, False),
        ("models", 200, True),
        ("unauthorized", 401, True),
        ("unauthorized", 403, True),
        ("unauthorized", 200, False),
        ("unauthorized", 400, False),
        ("unknown_model", 404, True),
        ("unknown_model", 400, True),
        ("unknown_model", 422, True),
        ("unknown_model", 401, False),
        ("unknown_model", 429, False),
        ("unknown_model", 200, False),
        ("unknown_model", 503, False),
    ],
)
def test_expected_match(check, code, matched):
    assert expected_match(check, code) is matched


@pytest.mark.parametrize(
    ("given", "root"),
    [
        ("https://api.cometapi.com", "https://api.cometapi.com/v1"),
        ("https://api.cometapi.com/", "https://api.cometapi.com/v1"),
        ("https://api.cometapi.com/v1/", "https://api.cometapi.com/v1"),
        ("http://127.0.0.1:8080/proxy", "http://127.0.0.1:8080/proxy/v1"),
        (" http://[::1]:9/v1 ", "http://[::1]:9/v1"),
    ],
)
def test_api_root(given, root):
    assert api_root(given) == root


def test_public_url_drops_query_and_fragment():
    assert public_url("https://gw.example/v1?api_key=sk-secret123456#x") == "https://gw.example/v1"


def test_hash_response_id():
    digest = hashlib.sha256(b"chatcmpl-1").hexdigest()
    assert hash_response_id("chatcmpl-1") == f"sha256:{digest}"


def test_scrub_exact_then_patterns():
    text = "key plainvalue42 and sk-abcdef123456 and Bearer abc.def.ghi"
    assert scrub(text, ["plainvalue42", ""]) == ("key [REDACTED] and [REDACTED] and [REDACTED]")


def test_read_json_keeps_numbers_only():
    raw = b'{"id": "x1", "usage": {"prompt_tokens": 3, "completion_tokens": true,'
    raw += b' "total_tokens": -1, "prompt_tokens_details": {"cached_tokens": "2"}}}'
    assert _read_json(raw) == ({"input_tokens": 3}, "x1")
    assert _read_json(b"not json") == (None, None)
    assert _read_json(b"[1, 2]") == (None, None)
    assert _read_json(b'{"error": {"message": "nope"}}') == (None, None)


def test_read_events_merges_usage_across_events():
    lines = iter(
        [
            "event: message_start",
            'data: {"type": "message_start", "message": {"id": "msg_1",'
            ' "usage": {"input_tokens": 9, "output_tokens": 1}}}',
            "",
            ": keep-alive comment",
            "data: {not json",
            'data: {"type": "message_delta", "usage": {"output_tokens": 4}}',
            "data: [DONE]",
            'data: {"usage": {"input_tokens": 999}}',
        ]
    )
    assert _read_events(lines) == ({"input_tokens": 9, "output_tokens": 4}, "msg_1")


def test_read_events_chat_chunks_with_null_usage():
    lines = iter(
        [
            'data: {"id": "c1", "choices": [{"delta": {"content": "hi"}}], "usage": null}',
            'data: {"id": "c1", "choices": []}',
            "data: [DONE]",
        ]
    )
    assert _read_events(lines) == (None, "c1")
