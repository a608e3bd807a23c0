"""`gitopsc affected --base REF [--env E]... [--format table|json]`: what a change touches.

The environments, customers, services and instances whose compiled output can differ
between REF and the working tree, with the entity changes that reach them. CI reads the
json form to check and diff only what changed; `--env` keeps what the change reaches in
those environments (as `diff --env` does), for a job that owns one environment.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from compiler import pipeline
from compiler.review import Affected


def run(
    root: Path, base: str, environments: list[str] | None, format_: str, console: Console
) -> int:
    comparison = pipeline.compare(root, base)
    affected = comparison.affected
    if environments:
        affected = only(affected, pipeline.select_environments(comparison.head, environments))
    if format_ == "json":
        console.out(json.dumps(affected.to_data(), indent=2), highlight=False)
        return 0
    console.print(f"compared with {affected.base}", markup=False)
    for reason in affected.reasons or ("nothing in the catalog changed",):
        console.print(f"  {reason}", markup=False)
    for label, names in (
        ("environments", affected.environments),
        ("customers", affected.customers),
        ("services", affected.services),
    ):
        console.print(f"{label}: {', '.join(names) or '-'}", markup=False)
    console.print(f"instances: {len(affected.instances)}", markup=False)
    for instance in affected.instances:
        console.print(f"  {instance}", markup=False)
    return 0


def only(affected: Affected, environments: Sequence[str]) -> Affected:
    """What the change reaches in `environments`: their instances, and the customers and
    services of those instances (as `summarize` derives them for all). The reasons stay
    whole: they say what changed, wherever it lands."""
    ids = tuple(i for i in affected.instances if i.split("/")[0] in environments)
    parts = [i.split("/") for i in ids]
    return replace(
        affected,
        environments=tuple(e for e in affected.environments if e in environments),
        customers=tuple(sorted({p[1] for p in parts if len(p) == 3})),
        services=tuple(sorted({p[-1] for p in parts})),
        instances=ids,
    )
