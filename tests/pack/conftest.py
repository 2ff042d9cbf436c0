"""Fixtures for source-pack tests: real demo workspaces in tmp dirs, built once per session."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from costproof.pack.collect import collect
from costproof.pack.export import build_files, write
from costproof.service import demo
from costproof.workspace import Workspace

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "probe"))

BUILT_AT = datetime(2026, 7, 1, 8, 0, 0, tzinfo=UTC)
PACKED_AT = datetime(2026, 7, 2, 9, 15, 0, tzinfo=UTC)
PERIOD = "2026-06"


def pack_files(root: Path, *, at: datetime = PACKED_AT) -> dict[str, bytes]:
    with Workspace.open(root) as ws:
        return build_files(collect(ws, PERIOD), generated_at=at)


@pytest.fixture(scope="session")
def demo_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo") / "ws"
    demo.build(root, now=BUILT_AT)
    return root


@pytest.fixture(scope="session")
def demo_files(demo_ws: Path) -> dict[str, bytes]:
    return pack_files(demo_ws)


@pytest.fixture(scope="session")
def demo_pack(demo_files: dict[str, bytes], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write(demo_files, tmp_path_factory.mktemp("pack") / "pack")
