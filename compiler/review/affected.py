"""What a change touches: from two catalogs to the instances whose output can differ.

    changed entities   compare base and head entity by entity (the validated models,
                       so moving a line or editing a comment changes nothing)
    scope              the instances each change can reach: a customer reaches its
                       instances, a service every instance of it, of its dependencies
                       and of its dependents (their NetworkPolicies), of the service it
                       runs a sync hook for and of the hooks that run for it (one
                       Application, one kustomization), a plan the customers on it, a
                       team the services it owns, an environment everything in it
    affected           the instances of the scope, resolved on both sides, that differ
                       (or exist on one side only); all instances of a changed
                       customer or plan (they share its namespace objects)

Only the scope is resolved: a one-customer change in a catalog of 30,000 instances
resolves that customer's instances (and the environment-scoped ones), not all of them.
Changes to `policies/` change no output but every check result; they are reported and
make `check --affected-base` check everything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from compiler.catalog import Catalog, Instance, resolve
from compiler.errors import Problem
from compiler.render import sync_waves


@dataclass(frozen=True)
class Scope:
    """The instances a set of entity changes can reach, and why."""

    environments: frozenset[str] = frozenset()  # every instance in these
    services: frozenset[str] = frozenset()  # every instance of these
    customers: frozenset[str] = frozenset()  # every instance of these
    reasons: tuple[str, ...] = ()

    def reaches(self, instance: Instance) -> bool:
        return (
            instance.environment in self.environments
            or instance.service in self.services
            or instance.customer in self.customers
        )

    def customer_only(self, catalog: Catalog) -> bool:
        """Whether every instance reached belongs to a scoped customer or is
        environment-scoped: then a catalog of those customers alone resolves them."""
        return not self.environments and all(
            catalog.services[s].scope == "environment"
            for s in self.services
            if s in catalog.services
        )

    @property
    def empty(self) -> bool:
        return not (self.environments or self.services or self.customers)


@dataclass(frozen=True)
class Affected:
    """The result of `gitopsc affected`: what changed, what it reaches, and why."""

    base: str
    environments: tuple[str, ...]
    customers: tuple[str, ...]
    services: tuple[str, ...]
    instances: tuple[str, ...]  # ids, on either side
    reasons: tuple[str, ...]
    policies_changed: bool

    def to_data(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "environments": list(self.environments),
            "customers": list(self.customers),
            "services": list(self.services),
            "instances": list(self.instances),
            "policies_changed": self.policies_changed,
            "reasons": list(self.reasons),
        }


def scope_of(base: Catalog, head: Catalog) -> Scope:
    """Every entity that differs between the two catalogs, mapped to what it reaches."""
    environments: set[str] = set()
    services: set[str] = set()
    customers: set[str] = set()
    reasons: list[str] = []
    for kind, name, how in _changed(base, head):
        reasons.append(f"{kind} {name} {how}")
        if kind == "environment":
            environments.add(name)
        elif kind == "service":
            services.add(name)
            # the NetworkPolicies on both ends of its connections: its dependencies admit
            # it on the ports it uses (and call it back), its dependents reach its
            # serving ports (catalog/reachability.py)
            if _reach_changed(name, base, head):
                services |= _neighbours(name, base, head)
        elif kind == "customer":
            customers.add(name)
            services |= _shared_dependencies(name, base, head)
        elif kind == "plan":
            customers |= {
                c.name for catalog in (base, head) for c in catalog.customers.values()
                if c.plan == name
            }  # fmt: skip
        elif kind == "team":
            services |= {
                s.name for catalog in (base, head) for s in catalog.services.values()
                if s.owner == name
            }  # fmt: skip
    for name in sorted(set(base.terraform) | set(head.terraform)):
        if base.terraform.get(name) != head.terraform.get(name):  # its tfvars are held to it
            reasons.append(f"environment {name} terraform/variables.tf changed")
            environments.add(name)
    if services:  # a sync wave is a service's depth in the dependency graph
        old_waves, new_waves = sync_waves(base), sync_waves(head)
        services |= {n for n in old_waves.keys() & new_waves.keys() if old_waves[n] != new_waves[n]}
        # a hook's folder is a resource of its service's folder: both render together
        pairs = _hook_pairs(base) | _hook_pairs(head)
        services |= {t for h, t in pairs if h in services} | {h for h, t in pairs if t in services}
    return Scope(frozenset(environments), frozenset(services), frozenset(customers), tuple(reasons))


# what a service's neighbours' NetworkPolicies are made of: its dependencies, its
# ports and serving ports, its network rules, its runtime (pods or hosts)
_REACH_FIELDS = ("depends_on", "runtime", "scope", "environments")
_REACH_SETTINGS = ("ports", "network", "ingress")


def _reach_changed(service: str, base: Catalog, head: Catalog) -> bool:
    """Whether a change to `service` can move the rules of its neighbours' policies."""
    if service not in base.services or service not in head.services:
        return True
    old, new = base.services[service], head.services[service]
    if any(getattr(old, f) != getattr(new, f) for f in _REACH_FIELDS):
        return True
    layers = [(old.defaults, new.defaults)] + [
        (old.plans.get(plan) or {}, new.plans.get(plan) or {})
        for plan in set(old.plans) | set(new.plans)
    ]
    return any(a.get(key) != b.get(key) for a, b in layers for key in _REACH_SETTINGS)


def _neighbours(service: str, *catalogs: Catalog) -> set[str]:
    """The services `service` depends on, and those that depend on it, on either side."""
    found: set[str] = set()
    for catalog in catalogs:
        if service in catalog.services:
            found |= set(catalog.services[service].depends_on)
        found |= {s.name for s in catalog.services.values() if service in s.depends_on}
    return found


def _hook_pairs(catalog: Catalog) -> set[tuple[str, str]]:
    """(hook service, the service it runs for) for every `job.hook.service` any layer of
    the catalog writes: more than resolve would keep (a layer of a service that is no
    Job), never less."""
    pairs: set[tuple[str, str]] = set()

    def add(service: str, layer: Any) -> None:
        job = layer.get("job") if isinstance(layer, dict) else None
        hook = job.get("hook") if isinstance(job, dict) else None
        target = hook.get("service") if isinstance(hook, dict) else None
        if isinstance(target, str):
            pairs.add((service, target))

    for name, service in catalog.services.items():
        for layer in (service.defaults, *service.plans.values()):
            add(name, layer)
    for env in catalog.environments.values():
        for name in catalog.services:
            add(name, env.defaults)
        for name, layer in env.services.items():
            add(name, layer)
    for customer in catalog.customers.values():
        for name, layer in customer.services.items():
            add(name, layer)
        for placement in customer.environments.values():
            for name, layer in placement.services.items():
                add(name, layer)
    return pairs


def _shared_dependencies(customer: str, *catalogs: Catalog) -> set[str]:
    """Environment-scoped Kubernetes services the customer's services depend on: their
    NetworkPolicies admit the customer's pods."""
    found = set()
    for catalog in catalogs:
        if customer not in catalog.customers:
            continue
        for placement in catalog.customers[customer].environments.values():
            for service in placement.services:
                for dep in catalog.services[service].depends_on:
                    target = catalog.services[dep]
                    if target.scope == "environment" and target.runtime == "kubernetes":
                        found.add(dep)
    return found


_KINDS = (
    ("environment", "environments"),
    ("service", "services"),
    ("customer", "customers"),
    ("plan", "plans"),
    ("team", "teams"),
)


def _changed(base: Catalog, head: Catalog) -> list[tuple[str, str, str]]:
    """(kind, name, added|removed|changed) of every entity that differs."""
    changed = []
    for kind, attribute in _KINDS:
        old, new = getattr(base, attribute), getattr(head, attribute)
        for name in sorted(set(old) | set(new)):
            if old.get(name) != new.get(name):
                how = "added" if name not in old else "removed" if name not in new else "changed"
                changed.append((kind, name, how))
    return changed


def resolve_scope(catalog: Catalog, scope: Scope) -> tuple[dict[str, Instance], list[Problem]]:
    """The instances of `catalog` that `scope` reaches. A scope of customers alone
    resolves a catalog cut down to them (an instance depends on its customer, service,
    plan and environment, never on another customer; environment-scoped ones on no
    customer); a wider one resolves all."""
    if scope.empty:
        return {}, []
    if scope.customer_only(catalog):
        kept = {n: c for n, c in catalog.customers.items() if n in scope.customers}
        catalog = replace(catalog, customers=MappingProxyType(kept))
    instances, problems = resolve(catalog)
    return {i: inst for i, inst in instances.items() if scope.reaches(inst)}, problems


def differing(base: Mapping[str, Instance], head: Mapping[str, Instance]) -> list[str]:
    """Instance ids whose resolved result differs, or that exist on one side only."""
    return sorted(
        i for i in set(base) | set(head) if i not in base or i not in head or
        _result(base[i]) != _result(head[i])
    )  # fmt: skip


def _result(instance: Instance) -> tuple[Any, ...]:
    """What rendering reads of an instance (not where each value was written); the
    values hold only the first domain's copy of a record declared for each domain."""
    return (
        instance.values,
        dict(instance.per_domain),
        instance.clusters,
        instance.hosts,
        instance.namespace,
    )


def summarize(
    base_ref: str,
    scope: Scope,
    old: Mapping[str, Instance],
    new: Mapping[str, Instance],
    policies_changed: bool,
) -> Affected:
    both = {**old, **new}
    # a changed customer (or its plan) also reaches what all its instances share: its
    # namespace, quota, limits and AppProject, even where no instance's values change
    shared = {
        i for i, instance in both.items()
        if instance.customer in scope.customers and instance.namespace is not None
    }  # fmt: skip
    # a changed service reaches all its instances (and its dependencies') through what
    # is not in their values: depends_on, ports, runtime
    served = {i for i, instance in both.items() if instance.service in scope.services}
    ids = sorted(set(differing(old, new)) | shared | served)
    environments = {both[i].environment for i in ids} | set(scope.environments)
    return Affected(
        base_ref,
        tuple(sorted(environments)),
        tuple(sorted({c for i in ids if (c := both[i].customer)})),
        tuple(sorted({both[i].service for i in ids})),
        tuple(ids),
        scope.reasons + (("policies/ changed",) if policies_changed else ()),
        policies_changed,
    )


def folder_fingerprint(root: Path, parts: Iterable[str]) -> bytes:
    """The names and bytes of every file under `parts` of `root`, to compare two trees."""
    digest = []
    for part in parts:
        folder = root / part
        if folder.is_dir():
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                digest.append(
                    path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes()
                )
    return b"\0\0".join(digest)
