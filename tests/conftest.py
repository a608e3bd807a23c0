"""Shared test helpers: a copy of the example repository, and the CLI run in-process."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from compiler.cli import app

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_PARTS = ("catalog", "environments", "policies")


def copy_example(target: Path) -> Path:
    """Copy the example catalog (the fixture every test starts from) to `target`."""
    for part in EXAMPLE_PARTS:
        if (REPO / part).exists():
            shutil.copytree(REPO / part, target / part)
    return target


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A writable copy of the example repository in a temporary folder."""
    return copy_example(tmp_path / "repo")


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None


def run_cli(*args: str) -> CliResult:
    """Run `gitopsc ARGS` in-process; a traceback would show up as `exception`."""
    result = CliRunner().invoke(app, list(args), catch_exceptions=True)
    unexpected = result.exception if not isinstance(result.exception, SystemExit) else None
    return CliResult(result.exit_code, result.stdout, result.stderr, unexpected)
