"""Fixtures for the review tests: the demo workspace built once, copied per test, driven through the CLI."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from costproof.cli import app
from costproof.service import demo

AS_OF = "2026-07-02T09:00:00Z"
PERIOD = "2026-06"


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
        return json.loads(self(*args, "--json", code=code).stdout)


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("review-template") / "ws"
    demo.build(root, now=datetime(2026, 7, 2, 9, tzinfo=UTC))
    return root


@pytest.fixture
def cli(demo_template: Path, tmp_path: Path) -> Cli:
    root = tmp_path / "ws"
    shutil.copytree(demo_template, root)
    return Cli(root)
