"""A reader that stops early (`gitopsc list instances | head -1`) ends the command
quietly with exit code 141, as the shell reports for its own tools killed by SIGPIPE: no
message and no traceback, instead of `error: Broken pipe` and exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.mark.parametrize("output", ["table", "json"])
def test_a_reader_that_stops_early_ends_the_command_quietly_with_141(example: Path, output: str):
    """60 more customers: 1150 instances, 100 KB as a table, 1 MB as JSON, more than a
    pipe holds (64 KiB), so the command is still writing when the pipe is closed. The
    table is written by rich, the JSON by `print`: both end the same way. Run with
    Python's default buffered stdout (PYTHONUNBUFFERED lets a write that the pipe takes
    only part of end without an error, so nothing would hit the closed pipe)."""
    template = (example / "catalog/customers/acme.yaml").read_text()
    for i in range(60):
        text = template.replace("name: acme", f"name: bulk{i}")
        (example / f"catalog/customers/bulk{i}.yaml").write_text(
            text.replace("acme.example", f"bulk{i}.example")
        )
    command = ["list", "instances", "-f", output, "--root", str(example)]
    process = subprocess.Popen(
        [sys.executable, "-m", "compiler.cli", *command],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,  # readline reads the first line only, the rest stays in the pipe
        env={k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"},
    )
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()
    stderr = process.stderr.read()
    assert process.wait() == 141, stderr
    assert first.strip() in (b"1150 instances", b"[")
    assert stderr == b""
