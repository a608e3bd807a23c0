"""`gitopsc affected --base REF [--output table|json]`: what a change touches.

The environments, customers, services and instances whose compiled output can differ
between REF and the working tree, with the entity changes that reach them. CI reads the
json form to check and diff only what changed.
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from compiler import pipeline


def run(root: Path, base: str, output: str, console: Console) -> int:
    affected = pipeline.compare(root, base).affected
    if output == "json":
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
