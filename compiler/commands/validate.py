"""`gitopsc validate [--env E]... [--format text|json]`: load, validate and resolve; say
what was checked.

`--format json` is for editors and bots: the same problems, as data on standard output
(the text form writes them to standard error for people), with the same exit code.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from compiler import pipeline
from compiler.errors import CatalogInvalid, Problem


def run(root: Path, environments: list[str] | None, format_: str, console: Console) -> int:
    if format_ == "json":
        try:
            pipeline.run(root, environments)
        except CatalogInvalid as invalid:
            console.out(_json(invalid.problems), highlight=False)
            return 2
        console.out(_json([]), highlight=False)
        return 0
    resolved = pipeline.run(root, environments)
    catalog = resolved.catalog
    console.print(
        f"catalog valid: {len(catalog.services)} services, {len(catalog.customers)} customers, "
        f"{len(resolved.environments)} environment(s) ({', '.join(resolved.environments)}), "
        f"{len(resolved.instances)} instances",
        highlight=False,
    )
    return 0


def _json(problems: Sequence[Problem]) -> str:
    """`{"valid": bool, "problems": [{file, line, column, message, hint}]}`, sorted as
    the text form is (by file, line, column); `hint` is "" when there is none."""
    rows: list[dict[str, Any]] = [
        {
            "file": p.location.file,
            "line": p.location.line,
            "column": p.location.column,
            "message": p.message,
            "hint": p.hint,
        }
        for p in problems
    ]
    return json.dumps({"valid": not rows, "problems": rows}, indent=2)
