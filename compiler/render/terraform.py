"""Render the Terraform variables of one environment: instances in, one tfvars dict out;
and hold them to the root module's contract (its variables.tf, read by the catalog).

The environment's root module (environments/<env>/terraform/variables.tf) declares
`environment`, `clusters`, `customers`, `dns_records`, `databases` and `buckets`; this
module fills them. Every cluster, database, bucket and DNS record carries the
`provider` that creates it (`aws`, `upcloud`), so one root module can dispatch per
provider: a database or bucket is created by its engine's or the environment's
`buckets` provider if one is named, else by the provider of the cluster its instance
runs on (the cluster's own, else the environment's); DNS records by the environment's
`dns` provider, else its `provider` (a zone holds every cluster's names). Keys are
stable ids built from names (`<customer>-<service>-<record>`), so a Terraform `for_each`
over them keeps resource addresses when unrelated entries come and go. A record declared
`for_each: domains` is one entry per domain, keyed `<customer>-<service>-<record>@<domain>`:
by the domain, not its position, so a domain added or removed leaves the others' keys.
A PTR record's `name` is the reverse name of its address (`25.2.0.192.in-addr.arpa`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from compiler.catalog import (
    Catalog,
    Contract,
    Customer,
    Environment,
    Instance,
    YamlPath,
    mismatches,
    spelled,
)
from compiler.errors import Location, Problem


def _key(instance: Instance, name: str) -> str:
    owner = instance.customer or "platform"
    return f"{owner}-{instance.service}-{name}"


def _entries(instance: Instance) -> list[tuple[str, str, YamlPath]]:
    """(variable, key, catalog path) of each tfvars entry the instance makes."""
    infra = instance.settings.infrastructure
    if infra is None:
        return []
    keyed: list[tuple[str, str, YamlPath]] = [
        ("dns_records", _key(instance, entry.key), entry.path) for entry in instance.dns_records()
    ]
    if infra.database:
        keyed.append(("databases", _key(instance, "db"), ("infrastructure", "database")))
    keyed += [
        ("buckets", _key(instance, name), ("infrastructure", "buckets", name))
        for name in sorted(infra.buckets or {})
    ]
    return keyed


def key_collisions(instances: Iterable[Instance], fallback: str) -> list[Problem]:
    """Two things of one environment under one Terraform key (`<owner>-<service>-<name>`
    is ambiguous when names hold '-': acme's `synapse-migrate` record `foo` and its
    `synapse` record `migrate-foo`): the later would silently replace the first in the
    tfvars, so neither may pass."""
    seen: dict[tuple[str, str], tuple[Instance, YamlPath]] = {}
    problems = []
    for instance in instances:
        for table, key, path in _entries(instance):
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
    clusters = providers(env)
    tables: dict[str, dict[str, Any]] = {}
    active: set[str] = set()
    for instance in instances:
        if instance.customer:
            active.add(instance.customer)
        for table, entries in entries_of(env, instance, customers, clusters):
            tables.setdefault(table, {}).update(entries)
    return tfvars_of(env, customers, active, tables)


def providers(env: Environment) -> dict[str, str | None]:
    """Each cluster's provider: its own, else the environment's."""
    return {cluster.name: cluster.provider or env.provider for cluster in env.clusters}


def entries_of(
    env: Environment,
    instance: Instance,
    customers: Mapping[str, Customer],
    clusters: Mapping[str, str | None],
) -> list[tuple[str, dict[str, Any]]]:
    """(variable, key -> entry) of what one instance puts in the tfvars (`clusters`:
    `providers`): its part of `tfvars`, kept for a customer a recompile keeps
    (render/shares.py)."""
    infra = instance.settings.infrastructure
    if infra is None:
        return []
    dns_provider = env.dns.provider if env.dns is not None else env.provider
    dns: dict[str, Any] = {}
    for entry in instance.dns_records():
        record = entry.record
        dns[_key(instance, entry.key)] = {
            "name": record.owner,
            "type": record.type,
            "value": record.value,
            "ttl": record.ttl,
            "priority": record.priority,
            "provider": dns_provider,
        }
    found = [("dns_records", dns)]
    if infra.database:
        database = infra.database
        found.append(
            (
                "databases",
                {
                    _key(instance, "db"): {
                        "engine": database.engine,
                        "version": database.version,
                        "size": database.size,
                        "storage_gb": database.storage_gb,
                        "high_availability": database.high_availability,
                        "customer": instance.customer,
                        "residency": _residency(instance, customers),
                        "provider": _provider(
                            env, instance, clusters, env.databases.get(database.engine)
                        ),
                    }
                },
            )
        )
    found.append(
        (
            "buckets",
            {
                _key(instance, name): {
                    "versioning": bucket.versioning,
                    "retention_days": bucket.retention_days,
                    "customer": instance.customer,
                    "residency": _residency(instance, customers),
                    "provider": _provider(env, instance, clusters, env.buckets),
                }
                for name, bucket in sorted((infra.buckets or {}).items())
            },
        )
    )
    return found


def tfvars_of(
    env: Environment,
    customers: Mapping[str, Customer],
    active: Iterable[str],
    tables: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """The tfvars from every instance's entries (`entries_of`, merged per variable) and
    the customers with an instance in the environment (`active`)."""
    clusters = providers(env)
    return {
        "environment": env.name,
        "clusters": {
            cluster.name: {
                "region": cluster.region,
                "residency": list(cluster.residency),
                "provider": clusters[cluster.name],
            }
            for cluster in sorted(env.clusters, key=lambda c: c.name)
        },
        "customers": {
            name: {
                "plan": customers[name].plan,
                "residency": customers[name].residency,
                "status": customers[name].status,
                "domains": list(customers[name].domains),
            }
            for name in sorted(active)
        },
        "dns_records": dict(sorted(tables.get("dns_records", {}).items())),
        "databases": dict(sorted(tables.get("databases", {}).items())),
        "buckets": dict(sorted(tables.get("buckets", {}).items())),
    }


def _residency(instance: Instance, customers: Mapping[str, Customer]) -> str | None:
    return customers[instance.customer].residency if instance.customer else None


def _provider(
    env: Environment, instance: Instance, clusters: Mapping[str, str | None], choice: Any
) -> str | None:
    """A database's or bucket's provider: the one named for its kind (`choice`: the
    engine's entry in `databases`, or `buckets`), else its instance's cluster's; an
    instance on several clusters of different providers, or on hosts only, takes the
    environment's."""
    if choice is not None and choice.provider is not None:
        return str(choice.provider)
    on = {clusters[name] for name in instance.clusters if name in clusters}
    return on.pop() if len(on) == 1 else env.provider


def origins(
    catalog: Catalog, env: Environment, instances: Iterable[Instance]
) -> Mapping[tuple[str, ...], Location | tuple[Instance, YamlPath]]:
    """Where each tfvars entry was written: (variable,) or (variable, key) -> its
    location, or the instance and catalog path that made it (an attribute's own line
    is looked up only for the entries a problem names). Found on first use: only a
    problem's wording needs it, and it costs a pass over every instance's records."""
    chosen = list(instances)
    return _Lazy(lambda: _origins(catalog, env, chosen))


class _Lazy(Mapping[tuple[str, ...], "Location | tuple[Instance, YamlPath]"]):
    def __init__(self, compute: Callable[[], dict[tuple[str, ...], Any]]):
        self._compute = compute
        self._found: dict[tuple[str, ...], Any] | None = None

    def _data(self) -> dict[tuple[str, ...], Any]:
        if self._found is None:
            self._found = self._compute()
        return self._found

    def __getitem__(self, key: tuple[str, ...]) -> Any:
        return self._data()[key]

    def __iter__(self) -> Iterator[tuple[str, ...]]:
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())


def _origins(
    catalog: Catalog, env: Environment, instances: Iterable[Instance]
) -> dict[tuple[str, ...], Location | tuple[Instance, YamlPath]]:
    source = catalog.source("environment", env.name)
    found: dict[tuple[str, ...], Location | tuple[Instance, YamlPath]] = {
        ("environment",): source.locate("name")
    }
    for index, cluster in enumerate(env.clusters):
        found[("clusters", cluster.name)] = source.locate("clusters", index)
    for instance in instances:
        owner = ("customers", instance.customer or "")
        if instance.customer is not None and owner not in found:
            found[owner] = catalog.source("customer", instance.customer).locate()
        for table, key, path in _entries(instance):
            found.setdefault((table, key), (instance, path))
    return found


def _made_at(
    made_at: Mapping[tuple[str, ...], Location | tuple[Instance, YamlPath]],
    path: tuple[str | int, ...],
    fallback: Location,
) -> Location:
    """The catalog line that made the tfvars value at `path`: the attribute's own line
    where a layer wrote it, else its entry's, else the variable's."""
    made = made_at.get(tuple(map(str, path[:2])), made_at.get((str(path[0]),)))
    if made is None:
        return fallback
    if isinstance(made, Location):
        return made
    instance, base = made
    attribute = path[2:3]
    if attribute and isinstance(attribute[0], str):
        where = instance.origin((*base, attribute[0])).location
        if where is not None:
            return where
    return instance.origin(base).location or fallback


def contract_problems(
    catalog: Catalog,
    env: Environment,
    contract: Contract | None,
    data: Mapping[str, Any],
    made_at: Mapping[tuple[str, ...], Location | tuple[Instance, YamlPath]],
) -> list[Problem]:
    """The tfvars `data` against the root module's declared variables (issue 15): every
    key declared, every required variable set (by the tfvars or, if listed in
    `terraform.operator_variables`, by the operator), every value of its declared type.
    No contract (no variables.tf): nothing to hold the tfvars to.

    Located at the variable in variables.tf (its line, or the line of the attribute
    whose type the value breaks), naming the value's path and the catalog line that
    made it. One problem per place in the type: a type change that 900 databases break
    is one error with a count, not 900."""
    if contract is None:
        return []
    source = catalog.source("environment", env.name)
    declared = contract.variables
    problems = [
        Problem(
            contract.at(1),
            f"gitopsc writes tfvars key '{key}' (from {_made_at(made_at, (key,), source.locate())}"
            f"), but {contract.file} declares no variable '{key}'",
            f'declare it: variable "{key}" {{ type = ... }} (docs/output.md lists what '
            "gitopsc writes)",
        )
        for key in data
        if key not in declared
    ]
    operator = env.terraform.operator_variables
    for index, name in enumerate(operator):
        why = (
            f"is not declared in {contract.file}"
            if name not in declared
            else "is written by gitopsc's tfvars"
            if name in data
            else ""
        )
        if why:
            problems.append(
                Problem(
                    source.locate("terraform", "operator_variables", index),
                    f"operator variable '{name}' {why}",
                    "list only the root module's required variables that the operator sets",
                )
            )
    for name, variable in declared.items():
        if name not in data:
            if variable.required and name not in operator:
                problems.append(
                    Problem(
                        contract.at(variable.line),
                        f"variable '{name}' is required (no default), and gitopsc's tfvars "
                        "do not set it",
                        "give it a default, or list it under terraform.operator_variables "
                        f"in {source.file} if the operator sets it (TF_VAR_{name})",
                    )
                )
            continue
        value = data[name]
        if value is None and not variable.nullable:
            problems.append(
                Problem(contract.at(variable.line), f"variable '{name}' is not nullable")
            )
        groups: dict[tuple[int, str], list[Any]] = {}
        for mismatch in mismatches(value, variable.type, (name,)):
            last = mismatch.path[-1] if len(mismatch.path) > 1 else ""
            groups.setdefault((mismatch.line, f"{last}:{mismatch.reason}"), []).append(mismatch)
        for (line, _), found in sorted(groups.items()):
            first = found[0]
            where = _made_at(made_at, first.path, source.locate())
            more = f" (and {len(found) - 1} more like it)" if len(found) > 1 else ""
            problems.append(
                Problem(
                    contract.at(line),
                    f"variable '{name}': {spelled(first.path)} {first.message}{more}; "
                    f"the value comes from {where}",
                    "change variables.tf and the catalog together: gitopsc writes what the "
                    "catalog declares, in the shape docs/output.md describes",
                )
            )
    return problems
