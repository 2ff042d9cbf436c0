"""Fixtures for the pricing CLI tests: the spine's CLI runner, and a loopback web server with set routes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from tests.spine.conftest import Cli


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    c = Cli(tmp_path / "ws")
    c("init")
    return c


@dataclass
class Route:
    body: bytes
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class Web:
    """A real HTTP server on 127.0.0.1: `routes[path] = Route(...)`; `hits` lists (path, headers)."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: list[tuple[str, dict[str, str]]] = []
        self.base = ""

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture
def web() -> Iterator[Web]:
    state = Web()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            state.hits.append((self.path, dict(self.headers)))
            route = state.routes.get(self.path)
            if route is None:
                route = Route(b"no such page", status=404)
            if route.delay:
                time.sleep(route.delay)
            try:
                self.send_response(route.status)
                for k, v in route.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                self.wfile.write(route.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


CSV_HEADER = ("model,meter,unit_price,per_quantity,currency,effective_from,effective_to,tier_min,multiplier,"
              "source_url,notes\n")


def price_csv(path: Path, prices: dict[str, tuple[str, str]], *, per: str = "1000000", currency: str = "USD") -> Path:
    """A price-csv sheet: model -> (input, output) per `per` tokens."""
    lines = [CSV_HEADER]
    for model, (inp, out) in prices.items():
        lines.append(f"{model},input_tokens,{inp},{per},{currency},,,,,,\n")
        lines.append(f"{model},output_tokens,{out},{per},{currency},,,,,,\n")
    path.write_text("".join(lines), "utf-8")
    return path
