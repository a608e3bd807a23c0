"""A change that removes a customer, moves it (or one of its services) to another
cluster, or drops it from an environment says that it destroys persistent data.

The volumes of a StatefulSet (its claim templates) and the claims a catalog adds stay in
the namespace they were made in; a customer removed or placed on another cluster starts
empty where it goes, and the old claims are only kept because Namespaces and claims are
rendered with `Prune=false,Delete=false` (render/retention.py) until a person deletes
them. The managed databases and buckets whose keys leave `catalog.auto.tfvars.json`, or
whose residency changes, Terraform destroys (or replaces) on its next apply. Nothing in
the rest of the diff says so. Found by comparing the scope of a change rendered at the
base revision and in the working tree (`gitopsc diff --base`, `gitopsc check
--affected-base`); critical in prod tiers, medium elsewhere; a deliberate offboarding
is waived with an owner and an expiry (docs/output.md, "Offboarding").
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from compiler.catalog import Catalog, Instance
from compiler.check.builtins.base import Builtin, as_list, as_mapping
from compiler.check.findings import Finding
from compiler.errors import Location
from compiler.render import OutputFile

TFVARS = "terraform/catalog.auto.tfvars.json"
_TABLES = {"databases": "database", "buckets": "bucket"}
# a change of one replaces the resource (a database of another engine is a new one)
_PLACEMENT = ("residency", "provider", "region", "engine")


@dataclass(frozen=True)
class Sides:
    """A change's scope rendered on both sides: the base revision's catalog, instances
    and files, and the working tree's."""

    base: Catalog
    head: Catalog
    old: Sequence[OutputFile]
    new: Sequence[OutputFile]
    old_instances: Mapping[str, Instance]
    new_instances: Mapping[str, Instance]

    def prod(self, env: str) -> bool:
        """Whether `env` is a prod tier on either side: a change that also lowers
        prod's tier must not lower the gate on what it does there."""
        return any(
            env in catalog.environments and catalog.environments[env].tier == "prod"
            for catalog in (self.base, self.head)
        )


@dataclass(frozen=True)
class _Held:
    """One thing that holds data: where it lives and whose it is."""

    identity: tuple[str, ...]
    environment: str
    customer: str | None
    service: str | None
    what: str
    placement: tuple[Any, ...] = ()


def check(sides: Sides) -> Iterator[Finding]:
    old = _held(sides.old, sides.old_instances)
    new = {held.identity: held for held in _held(sides.new, sides.new_instances)}
    lost: dict[tuple[str, str | None], list[tuple[_Held, str]]] = {}
    for held in old:
        after = new.get(held.identity)
        if after is None:
            how = ""
        elif _moved(held.placement, after.placement):
            how = f" (moves from {_place(held)} to {_place(after)}: replaced)"
        else:
            continue
        lost.setdefault((held.environment, held.customer), []).append((held, how))
    for (env, customer), items in sorted(lost.items(), key=lambda i: (i[0][0], i[0][1] or "")):
        services = {held.service for held, _ in items}
        service = services.pop() if len(services) == 1 else None
        whose = customer or "the platform (environment-wide services)"
        finding = BUILTIN.finding(
            f"destroys persistent data of {whose} in {env}: "
            + ", ".join(held.what + how for held, how in items),
            _responsible(sides, env, customer, service),
            environment=env,
            customer=customer,
            service=service,
            key=customer or "platform",
        )
        yield replace(finding, severity="critical" if sides.prod(env) else "medium")


def _held(files: Sequence[OutputFile], instances: Mapping[str, Instance]) -> list[_Held]:
    found = []
    for file in files:
        parts = file.path.split("/")
        if file.path == f"{parts[0]}/{TFVARS}":
            found += _infrastructure(parts[0], as_mapping(file.data), instances)
        elif len(parts) >= 5 and parts[1] == "kubernetes":
            found += _claims(parts[0], parts[2], parts[3], file, instances)
    return found


def _claims(
    env: str, cluster: str, namespace: str, file: OutputFile, instances: Mapping[str, Instance]
) -> Iterator[_Held]:
    data = as_mapping(file.data)
    kind, name = data.get("kind"), as_mapping(data.get("metadata")).get("name")
    owner = instances.get(file.instances[0]) if len(file.instances) == 1 else None
    customer = owner.customer if owner else None
    service = owner.service if owner else None
    if kind == "StatefulSet":
        for template in as_list(as_mapping(data.get("spec")).get("volumeClaimTemplates")):
            claim = as_mapping(as_mapping(template).get("metadata")).get("name")
            size = _size(as_mapping(template).get("spec"))
            yield _Held(
                (env, "claim", cluster, namespace, f"StatefulSet/{name}/{claim}"),
                env,
                customer,
                service,
                f"StatefulSet {name} volume {claim}{size} on {cluster}",
            )
    elif kind == "PersistentVolumeClaim":
        yield _Held(
            (env, "claim", cluster, namespace, f"PersistentVolumeClaim/{name}"),
            env,
            customer,
            service,
            f"PersistentVolumeClaim {name}{_size(data.get('spec'))} on {cluster}",
        )


def _size(spec: Any) -> str:
    storage = as_mapping(as_mapping(as_mapping(spec).get("resources")).get("requests")).get(
        "storage"
    )
    return f" ({storage})" if storage else ""


def _infrastructure(
    env: str, tfvars: Mapping[str, Any], instances: Mapping[str, Instance]
) -> Iterator[_Held]:
    for table, label in _TABLES.items():
        for key, value in sorted(as_mapping(tfvars.get(table)).items()):
            entry = as_mapping(value)
            customer = entry.get("customer")
            yield _Held(
                (env, table, key),
                env,
                customer,
                _service_of(key, customer, env, instances),
                f"{label} {key}",
                tuple(entry.get(field) for field in _PLACEMENT),
            )


def _service_of(
    key: str, customer: str | None, env: str, instances: Mapping[str, Instance]
) -> str | None:
    """The service whose Terraform key this is (`<owner>-<service>-<name>`): the longest
    service name of the owner's instances that the key starts with."""
    owner = customer or "platform"
    names = [
        i.service
        for i in instances.values()
        if i.environment == env and i.customer == customer
        and key.startswith(f"{owner}-{i.service}-")
    ]  # fmt: skip
    return max(names, key=len) if names else None


def _moved(before: tuple[Any, ...], after: tuple[Any, ...]) -> bool:
    """A placement field that changes from one value to another. One that was not
    written (null: an environment that named no provider) and now is, or the reverse,
    names what was implied: the resource stays where it is."""
    return any(
        old is not None and new is not None and old != new
        for old, new in zip(before, after, strict=True)
    )


def _place(held: _Held) -> str:
    return ", ".join(
        f"{field} {value}"
        for field, value in zip(_PLACEMENT, held.placement, strict=True)
        if value is not None
    )


def _responsible(sides: Sides, env: str, customer: str | None, service: str | None) -> Location:
    """The catalog line that made the data go: the removed customer's file; the changed
    residency or cluster pin; the environment or service the customer no longer lists;
    else the customer's (or, for the platform, the service's or environment's) file."""
    if customer is None:
        for catalog in (sides.head, sides.base):
            if service is not None and ("service", service) in catalog.sources:
                return Location(catalog.source("service", service).file)
        catalog = sides.head if env in sides.head.environments else sides.base
        return Location(catalog.source("environment", env).file)
    before, after = sides.base.customers.get(customer), sides.head.customers.get(customer)
    if after is None or before is None:
        return Location(sides.base.source("customer", customer).file)
    source = sides.head.source("customer", customer)
    if before.residency != after.residency:
        return source.locate("residency")
    was, now = before.environments.get(env), after.environments.get(env)
    if now is None:
        return source.locate("environments")
    if was is not None and was.cluster != now.cluster:
        return source.locate("environments", env, "cluster")
    if service is not None and service not in now.services:
        return source.locate("environments", env, "services")
    return Location(source.file)


BUILTIN = Builtin(
    "persistent-data-loss",
    "A change says when it destroys persistent data",
    "critical",
    "if the customer's data is to go (its export done, the retention period over), waive "
    "the finding for this change with an owner and an expiry; otherwise restore the "
    "customer, its environment, service or placement",
    "base",
    check,
    __doc__,
)
