"""Fixtures for the spine tests: a CLI runner on tmp workspaces, sample files, a loopback price server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from typer.testing import CliRunner

from costproof.cli import app

AS_OF = "2026-07-02T09:00:00Z"


class Cli:
    def __init__(self, workspace: Path) -> None:
        self.workspace = workspace
        self.runner = CliRunner()

    def __call__(self, *args: str, code: int | None = 0) -> Any:
        result = self.runner.invoke(app, ["--workspace", str(self.workspace), *args],
                                    env={"COSTPROOF_AS_OF": AS_OF, "COLUMNS": "200"})
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        if code is not None:
            assert result.exit_code == code, f"exit {result.exit_code}: {result.output}"
        return result

    def json(self, *args: str, code: int | None = 0) -> Any:
        result = self(*args, "--json", code=code)
        return json.loads(result.stdout)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    c = Cli(tmp_path / "ws")
    c("init")
    return c


def models_doc(models: dict[str, tuple[str, str]], *, page: int = 1, page_size: int = 100,
               total: int | None = None) -> dict[str, Any]:
    return {"success": True, "page": page, "page_size": page_size, "total": total or len(models),
            "data": [{"id": m, "pricing": {"currency": "USD / M Tokens", "input": i, "output": o,
                                           "per_request": 0, "per_second": 0}} for m, (i, o) in models.items()]}


def log_row(n: int, at: int, *, kind: int = 2, token: str = "svc-prod", model: str = "gpt-4o-mini",
            prompt: int = 1000, completion: int = 100, quota: int | None = None, cache: int = 0,
            stream: bool = False, group: str = "default") -> dict[str, Any]:
    other = {"model_ratio": 0.075, "group_ratio": 1, "completion_ratio": 4, "cache_tokens": cache}
    return {"id": n, "created_at": at, "type": kind, "content": "", "token_name": token, "model_name": model,
            "quota": quota if quota is not None else prompt + completion * 4, "prompt_tokens": prompt,
            "completion_tokens": completion, "use_time": 1, "is_stream": stream, "group": group,
            "other": json.dumps(other)}


def write_json(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc), "utf-8")
    return path


JUNE_1 = 1780272000  # 2026-06-01T00:00:00Z


class _Handler(BaseHTTPRequestHandler):
    pages: list[dict[str, Any]] = []
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        type(self).hits.append(self.path + " auth=" + str(self.headers.get("Authorization")))
        if parts.path == "/missing":
            self.send_response(404)
            self.end_headers()
            self.wfile.write(b"not found")
            return
        page = int(parse_qs(parts.query).get("page", ["1"])[0])
        body = json.dumps(type(self).pages[page - 1]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("ETag", f'"page-{page}"')
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def price_server() -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("H", (_Handler,), {"pages": [], "hits": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
