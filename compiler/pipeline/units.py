"""A recompile renders only the customers whose inputs changed: the rest of their files
are kept as the last compile into the folder left them.

A customer's own files on a cluster (its service folders under
`<env>/kubernetes/<cluster>/<customer>/`, its Applications and AppProject under
`<env>/argocd/<cluster>/`) are a *unit*. What a unit holds is made from the customer's
own catalog file and from inputs no customer owns (services, plans, teams,
environments; fresh.py `unit_keys`), never from another customer's file: a layer
reaches only its own customer's instances, and everything customers share (the
namespaces' own objects, environment-scoped services and their NetworkPolicies, tfvars,
inventory, the platform's project, the index) is rendered on every compile.

So after a compile, each unit's key is recorded with the files it is (after packing,
output/layout.py) and its objects' identities (render `identities`). A unit is kept
when its key is unchanged and each of its files is on disk as that compile left it
(`LastCompile.known`, the same evidence a kept file needs, fresh.py), its entry in the
environment's index included. Its objects still count in the checks that compare
objects across folders (two objects with one name, node ports). If a file of a kept
unit is rendered after all, the reasoning above failed for it, and the environment is
rendered whole instead (output/writer.py `KeptRendered`).

Units are recorded per environment beside the compile's record (fresh.py), signed the
same way, and tied to it by a generation: units recorded by a compile whose record was
not written (killed first) are never used.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler.catalog import customer_of_id
from compiler.check import result_cache
from compiler.render import Identity, OutputFile, identities

_KIND = "compile-units"

Unit = tuple[str, str]  # (cluster, customer)


@dataclass(frozen=True)
class Reuse:
    """What an environment's render leaves out: the units it skips, their files (path
    -> (content mark, index entry)) and their objects."""

    skip: frozenset[Unit] = frozenset()
    kept: dict[str, tuple[str, Mapping[str, Any]]] = field(default_factory=dict)
    reserved: list[Identity] = field(default_factory=list)
    units: dict[str, Any] = field(default_factory=dict)  # their records, to record again


def unit_of(path: str, instances: Sequence[str]) -> Unit | None:
    """The unit whose file `path` is (the output of one customer's instances, in the
    customer's service folders or among the cluster's ArgoCD objects), else None."""
    parts = path.split("/")
    customers = {customer_of_id(i) for i in instances}
    if len(parts) < 5 or len(customers) != 1:
        return None
    customer = customers.pop()
    if customer is None:
        return None
    if parts[1] == "kubernetes" and len(parts) >= 6 and parts[3] == customer:
        return parts[2], customer
    if parts[1] == "argocd" and (
        parts[3] == "apps" or (parts[3] == "customers" and parts[4] == customer)
    ):
        return parts[2], customer
    return None


def reuse(
    out: Path,
    env: str,
    generation: str | None,
    keys: Mapping[str, str],
    known: Mapping[str, Sequence[str]],
) -> Reuse:
    """The units of `env` the last compile recorded that can be kept (module docstring);
    nothing if its record, or the environment's index on disk, cannot be vouched for."""
    record = result_cache.read(_KIND, _key(out, env)) if generation else None
    index_mark = known.get(f"{env}/index.json")
    if not isinstance(record, dict) or record.get("generation") != generation or not index_mark:
        return Reuse()
    try:
        data = (out / env / "index.json").read_bytes()
        if hashlib.sha256(data).hexdigest() != index_mark[1]:
            return Reuse()
        entries = json.loads(data)["files"]
        skip: set[Unit] = set()
        kept: dict[str, tuple[str, Mapping[str, Any]]] = {}
        reserved: list[Identity] = []
        units: dict[str, Any] = {}
        for name, unit in record["units"].items():
            cluster, customer = name.split("/")
            paths = unit["paths"]
            if unit["key"] != keys.get(customer) or not all(
                _vouched(path, env, known, entries) for path in paths
            ):
                continue
            skip.add((cluster, customer))
            units[name] = unit
            kept.update((path, (known[path][0], entries[path[len(env) + 1 :]])) for path in paths)
            reserved += [(*identity[:6], tuple(identity[6])) for identity in unit["objects"]]
        return Reuse(frozenset(skip), kept, reserved, units)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return Reuse()  # a record this code did not write: nothing kept


def _vouched(path: str, env: str, known: Mapping[str, Sequence[str]], entries: Any) -> bool:
    mark = known.get(path)
    entry = entries.get(path[len(env) + 1 :])
    return bool(mark and mark[0]) and isinstance(entry, dict) and entry.get("sha256") == mark[1]


def learn(
    env: str,
    keys: Mapping[str, str],
    owners: Mapping[str, Sequence[str]],
    files: Iterable[OutputFile],
    kept: Reuse,
) -> dict[str, Any]:
    """The units of a compiled environment, to record: those rendered, from the files
    written (`owners`: path -> instances, after packing) and the objects rendered
    (`files`, before); those kept, as recorded before."""
    units: dict[str, Any] = dict(kept.units)
    for path, instances in owners.items():
        unit = unit_of(path, instances)
        if unit is not None and unit[1] in keys:
            entry = units.setdefault(
                f"{unit[0]}/{unit[1]}", {"key": keys[unit[1]], "paths": [], "objects": []}
            )
            entry["paths"].append(path)
    for file in files:
        unit = unit_of(file.path, file.instances)
        if unit is not None and f"{unit[0]}/{unit[1]}" in units:
            for identity in identities([file]):
                units[f"{unit[0]}/{unit[1]}"]["objects"].append([*identity[:6], list(identity[6])])
    return units


def record(out: Path, env: str, generation: str, units: Mapping[str, Any]) -> None:
    """Keep `env`'s units for the compile whose record will say `generation`."""
    result_cache.write(_KIND, _key(out, env), {"generation": generation, "units": units})


def _key(out: Path, env: str) -> str:
    return hashlib.sha256(f"{out.resolve()}\0{env}".encode()).hexdigest()
