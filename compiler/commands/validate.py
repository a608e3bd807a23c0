"""`gitopsc validate`: load, validate and resolve; say what was checked."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from compiler import pipeline


def run(root: Path, environments: list[str] | None, console: Console) -> int:
    resolved = pipeline.run(root, environments)
    catalog = resolved.catalog
    console.print(
        f"catalog valid: {len(catalog.services)} services, {len(catalog.customers)} customers, "
        f"{len(resolved.environments)} environment(s) ({', '.join(resolved.environments)}), "
        f"{len(resolved.instances)} instances",
        highlight=False,
    )
    return 0
