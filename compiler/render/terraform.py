"""Render the Terraform variables of one environment: instances in, one tfvars dict out.

The environment's root module (environments/<env>/terraform/variables.tf) declares
`customers`, `dns_records`, `databases` and `buckets`; this module fills them. Keys are
stable ids built from names (`<customer>-<service>-<record>`), so a Terraform `for_each`
over them keeps resource addresses when unrelated entries come and go. A record declared
`for_each: domains` is one entry per domain, keyed `<customer>-<service>-<record>@<domain>`:
by the domain, not its position, so a domain added or removed leaves the others' keys.
A PTR record's `name` is the reverse name of its address (`25.2.0.192.in-addr.arpa`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from compiler.catalog import Customer, Environment, Instance, YamlPath
from compiler.errors import Location, Problem


def _key(instance: Instance, name: str) -> str:
    owner = instance.customer or "platform"
    return f"{owner}-{instance.service}-{name}"


def key_collisions(instances: Iterable[Instance], fallback: str) -> list[Problem]:
    """Two things of one environment under one Terraform key (`<owner>-<service>-<name>`
    is ambiguous when names hold '-': acme's `synapse-migrate` record `foo` and its
    `synapse` record `migrate-foo`): the later would silently replace the first in the
    tfvars, so neither may pass."""
    seen: dict[tuple[str, str], tuple[Instance, YamlPath]] = {}
    problems = []
    for instance in instances:
        infra = instance.settings.infrastructure
        if infra is None:
            continue
        keyed: list[tuple[str, str, YamlPath]] = [
            ("dns_records", _key(instance, entry.key), entry.path)
            for entry in instance.dns_records()
        ]
        if infra.database:
            keyed.append(("databases", _key(instance, "db"), ("infrastructure", "database")))
        keyed += [
            ("buckets", _key(instance, name), ("infrastructure", "buckets", name))
            for name in sorted(infra.buckets or {})
        ]
        for table, key, path in keyed:
            first = seen.setdefault((table, key), (instance, path))
            if first[0] is not instance or first[1] != path:
                where = instance.origin(path).location or Location(fallback)
                problems.append(
                    Problem(
                        where,
                        f"{table} key '{key}' is also {first[0].id}'s "
                        f"({'.'.join(map(str, first[1]))}): one would replace the other",
                        "rename the record, bucket or service so the keys differ",
                    )
                )
    return problems


def tfvars(
    env: Environment, instances: Iterable[Instance], customers: Mapping[str, Customer]
) -> dict[str, Any]:
    """The contents of catalog.auto.tfvars.json for `env`."""
    active: set[str] = set()
    dns: dict[str, Any] = {}
    databases: dict[str, Any] = {}
    buckets: dict[str, Any] = {}
    for instance in instances:
        if instance.customer:
            active.add(instance.customer)
        infra = instance.settings.infrastructure
        if infra is None:
            continue
        for entry in instance.dns_records():
            record = entry.record
            dns[_key(instance, entry.key)] = {
                "name": record.owner,
                "type": record.type,
                "value": record.value,
                "ttl": record.ttl,
                "priority": record.priority,
            }
        if infra.database:
            database = infra.database
            databases[_key(instance, "db")] = {
                "engine": database.engine,
                "version": database.version,
                "size": database.size,
                "storage_gb": database.storage_gb,
                "high_availability": database.high_availability,
                "customer": instance.customer,
                "residency": _residency(instance, customers),
            }
        for name, bucket in sorted((infra.buckets or {}).items()):
            buckets[_key(instance, name)] = {
                "versioning": bucket.versioning,
                "retention_days": bucket.retention_days,
                "customer": instance.customer,
                "residency": _residency(instance, customers),
            }
    return {
        "environment": env.name,
        "customers": {
            name: {
                "plan": customers[name].plan,
                "residency": customers[name].residency,
                "status": customers[name].status,
                "domains": list(customers[name].domains),
            }
            for name in sorted(active)
        },
        "dns_records": dict(sorted(dns.items())),
        "databases": dict(sorted(databases.items())),
        "buckets": dict(sorted(buckets.items())),
    }


def _residency(instance: Instance, customers: Mapping[str, Customer]) -> str | None:
    return customers[instance.customer].residency if instance.customer else None
