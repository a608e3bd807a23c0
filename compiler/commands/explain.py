"""`gitopsc explain ID [--path P]`: each resolved value of an instance and where it came from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from compiler import pipeline
from compiler.catalog import Instance, YamlPath
from compiler.errors import UsageError, did_you_mean


def run(root: Path, instance_id: str, path: str | None, output: str, console: Console) -> int:
    parts = instance_id.strip("/").split("/")
    if len(parts) not in (2, 3):
        raise UsageError(
            f"'{instance_id}' is not an instance id",
            "write ENV/CUSTOMER/SERVICE, or ENV/SERVICE for an environment-wide service",
        )
    resolved = pipeline.run(root, [parts[0]])
    instance = resolved.instances.get("/".join(parts))
    if instance is None:
        raise UsageError(
            f"no instance '{instance_id}'", did_you_mean("/".join(parts), resolved.instances)
        )
    rows = explain(instance)
    if path:
        prefix = tuple(path.split("."))
        rows = [row for row in rows if _under(row["path"], prefix)]
        if not rows:
            known = sorted(
                {".".join(row["path"].split(".")[: len(prefix)]) for row in explain(instance)}
            )
            raise UsageError(
                f"instance '{instance.id}' has no value at '{path}'", did_you_mean(path, known)
            )
    if output == "json":
        print(json.dumps({"instance": instance.id, "values": rows}, indent=2))
        return 0
    table = Table(title=f"{instance.id}  ({', '.join(instance.clusters) or 'vm'})")
    table.add_column("path", overflow="fold")
    table.add_column("value", overflow="fold")
    table.add_column("layer")
    table.add_column("from", no_wrap=True)
    for row in rows:
        origin = row["file"] or ""
        if row["template"]:
            origin += f"  ({row['template']})"
        table.add_row(row["path"], json.dumps(row["value"]), row["layer"], origin)
    console.print(table)
    return 0


def explain(instance: Instance) -> list[dict[str, Any]]:
    """One row per resolved leaf (built-in defaults included), in document order."""
    resolved = instance.settings.model_dump(mode="json", exclude_none=True)
    rows = []
    for path, value in _leaves(resolved, ()):
        origin = instance.origin(path)
        rows.append(
            {
                "path": ".".join(str(part) for part in path),
                "value": value,
                "layer": origin.layer,
                "file": str(origin.location) if origin.location else None,
                "template": origin.template,
            }
        )
    return rows


def _leaves(node: Any, path: YamlPath) -> list[tuple[YamlPath, Any]]:
    if isinstance(node, dict) and node:
        return [leaf for key, value in node.items() for leaf in _leaves(value, (*path, key))]
    if isinstance(node, list) and node:
        return [leaf for index, value in enumerate(node) for leaf in _leaves(value, (*path, index))]
    return [(path, node)]


def _under(dotted: str, prefix: tuple[str, ...]) -> bool:
    return tuple(dotted.split("."))[: len(prefix)] == prefix
