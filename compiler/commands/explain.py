"""`gitopsc explain ID [--path P | --network]`: each resolved value of an instance and
where it came from, or who may reach it and whom it may reach by its rendered policies."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from compiler import pipeline
from compiler.catalog import Instance, YamlPath, shown_placeholders
from compiler.check import EnvironmentInput, NetworkPath, instance_paths
from compiler.errors import UsageError, did_you_mean


def run(
    root: Path,
    instance_id: str,
    path: str | None,
    format_: str,
    console: Console,
    network: bool = False,
) -> int:
    if network and path:
        raise UsageError("--path and --network do not combine", "use one or the other")
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
    if network:
        return _network(resolved, instance, format_, console)
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
    if format_ == "json":
        print(json.dumps({"instance": instance.id, "values": rows}, indent=2))
        return 0
    table = Table(title=f"{instance.id}  ({', '.join(instance.clusters) or 'vm'})")
    table.add_column("path", overflow="fold")
    table.add_column("value", overflow="fold")
    table.add_column("layer")
    # the file:line stays whole; a long template after it (an SLI's PromQL) folds,
    # rather than squeezing the other columns to nothing
    lines = [len(row["file"] or "") for row in rows]
    table.add_column("from", overflow="fold", min_width=max(lines, default=0))
    for row in rows:
        origin = row["file"] or ""
        if row["template"]:
            origin += f"  ({row['template']})"
        path = row["path"] + (f"  (for {row['domain']})" if row["domain"] else "")
        table.add_row(path, json.dumps(row["value"]), row["layer"], origin)
    console.print(table)
    return 0


def _network(
    resolved: pipeline.Resolved, instance: Instance, format_: str, console: Console
) -> int:
    """Render the instance's environment in memory and show its paths as the
    network-reachability check evaluates them (one computation for both)."""
    files = pipeline.render(resolved)[instance.environment]
    instances = [i for i in resolved.instances.values() if i.environment == instance.environment]
    run = EnvironmentInput(
        resolved.catalog, instance.environment, instances, files, datetime.date.today()
    )
    rows = [network_row(p) for p in instance_paths(run, instance)]
    if format_ == "json":
        print(json.dumps({"instance": instance.id, "paths": rows}, indent=2))
        return 0
    table = Table(title=f"{instance.id}  network ({', '.join(instance.clusters) or 'vm'})")
    clusters = len(instance.clusters) > 1  # a column only when it tells rows apart
    for column in (("cluster",) if clusters else ()) + (
        "dir",
        "peer",
        "port",
        "state",
        "declared at",
        "admitted by",
    ):
        table.add_column(column, overflow="fold")
    for row in rows:
        port = f"{row['port_name'] or ''} {row['port']}/{row['protocol']}".strip()
        state = "open" if row["open"] else "[red]CLOSED[/red]"
        if not row["declared"]:
            state = "[yellow]open, undeclared[/yellow]"
        declared = row["declared_at"] or ""
        if row["narrowed_at"]:
            declared += f"\n(narrowed at {row['narrowed_at']})"
        table.add_row(
            *((row["cluster"],) if clusters else ()),
            row["direction"],
            row["peer"],
            port,
            state,
            declared,
            "\n".join(row["admitted_by"]) or ("-" if row["open"] else row["reason"]),
        )
    if not rows:
        console.print(f"{instance.id} has no pods on a cluster: no network paths")
        return 0
    console.print(table)
    return 0


def network_row(path: NetworkPath) -> dict[str, Any]:
    """One path as `--format json` shows it (documented in docs/cli.md)."""
    return {
        "cluster": path.cluster,
        "direction": path.direction,
        "peer": path.peer,
        "port": path.port,
        "protocol": path.protocol,
        "port_name": path.port_name or None,
        "open": path.verdict.allowed,
        "declared": path.declared,
        "declared_at": str(path.declared_at) if path.declared_at else None,
        "narrowed_at": str(path.narrowed_at) if path.narrowed_at else None,
        "admitted_by": list(path.rules),
        "reason": path.verdict.reason,
    }


def explain(instance: Instance) -> list[dict[str, Any]]:
    """One row per resolved leaf (built-in defaults included), in document order; a
    record or ingress declared `for_each: domains` once per domain, with its `domain`."""
    resolved = instance.settings.model_dump(mode="json", exclude_none=True)
    rows: list[dict[str, Any]] = []
    done: set[YamlPath] = set()
    for path, value in _leaves(resolved, ()):
        root = next((r for r in instance.per_domain if path[: len(r)] == r), None)
        if root is None:
            rows.append(_row(instance, path, value, None))
        elif root not in done:  # at its first leaf, the record or ingress for every domain
            done.add(root)
            for domain, copy in instance.per_domain[root]:
                leaves = _leaves(copy.model_dump(mode="json", exclude_none=True), root)
                rows += [_row(instance, leaf, item, domain) for leaf, item in leaves]
    return rows


def _row(instance: Instance, path: YamlPath, value: Any, domain: str | None) -> dict[str, Any]:
    origin = instance.origin(path)
    return {
        "path": ".".join(str(part) for part in path),
        "value": shown_placeholders(value),
        "layer": origin.layer,
        "file": str(origin.location) if origin.location else None,
        "template": origin.template,
        "domain": domain,
    }


def _leaves(node: Any, path: YamlPath) -> list[tuple[YamlPath, Any]]:
    if isinstance(node, dict) and node:
        return [leaf for key, value in node.items() for leaf in _leaves(value, (*path, key))]
    if isinstance(node, list) and node:
        return [leaf for index, value in enumerate(node) for leaf in _leaves(value, (*path, index))]
    return [(path, node)]


def _under(dotted: str, prefix: tuple[str, ...]) -> bool:
    return tuple(dotted.split("."))[: len(prefix)] == prefix
