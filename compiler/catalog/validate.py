"""Stage 2, validate: loaded documents in, an immutable `Catalog` out, or every problem.

Each file is checked against its model (types, unknown keys, names), each settings layer
inside it against `Settings` as a *partial* layer (keys may be missing and `null`
removes), names are checked for duplicates across files, every reference between
entities must resolve, hosts and domains must each have one owner (tenancy.py), and
so must each name in an ArgoCD (argo_names.py).
Problems from all files are collected before anything stops, and an entity whose file
is broken still counts as existing, so one typo does not cascade into a page of
"unknown service" errors elsewhere.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel

from compiler.catalog import (
    argo_names,
    awx,
    edges,
    identity,
    model_errors,
    reachability,
    residency,
    tenancy,
    terraform,
    versions,
    workloads,
)
from compiler.catalog.layout import Catalog, CatalogFile, EntityKind, Source
from compiler.catalog.loader import Document, YamlPath
from compiler.catalog.models import (
    Customer,
    Environment,
    Plan,
    PlanList,
    Service,
    Settings,
    Team,
    TeamList,
    reserved_because,
)
from compiler.errors import Location, Problem, did_you_mean

_MODELS: dict[str, type[BaseModel]] = {
    "service": Service,
    "customer": Customer,
    "environment": Environment,
    "plans": PlanList,
    "teams": TeamList,
}


def build_catalog(
    files: list[tuple[CatalogFile, Document]], unreadable: list[CatalogFile] = ()
) -> tuple[Catalog, list[Problem]]:
    """Validate every document and assemble the catalog from the ones that are valid.

    `unreadable` are the files that did not even load: their entities still count as
    existing (by file name; any name at all for a broken plans or teams list).
    """
    problems: list[Problem] = []
    entities: dict[EntityKind, dict[str, Any]] = {k: {} for k in _KINDS}
    sources: dict[tuple[EntityKind, str], Source] = {}
    broken: dict[EntityKind, set[str]] = {k: set() for k in _KINDS}
    for file in unreadable:
        if file.kind in _LISTS:
            broken[_LISTS[file.kind][0]].add(ANY_NAME)
        else:
            broken[file.kind].add(file.name)  # type: ignore[index]
    for file, document in files:
        for kind, prefix, entity, errors in _entities(file, document):
            problems += errors
            name = entity.name if entity is not None else _raw_name(document, prefix)
            if entity is None:
                if isinstance(name, str):
                    broken[kind].add(name)
                continue
            if name in entities[kind]:
                first = sources[(kind, name)].locate("name")
                problems.append(
                    Problem(
                        document.locate((*prefix, "name")),
                        f"duplicate {kind} name '{name}'",
                        f"first defined at {first}",
                    )
                )
                continue
            if file.kind not in _LISTS and name != file.name:
                problems.append(
                    Problem(
                        document.locate(("name",)),
                        f"{kind} '{name}' is in a file named for '{file.name}'",
                        f"rename the file after the {kind}, or set name: {file.name}",
                    )
                )
            entities[kind][name] = entity
            sources[(kind, name)] = Source(document, prefix)
            problems += _layer_problems(kind, entity, Source(document, prefix))
    catalog = Catalog(
        services=MappingProxyType(entities["service"]),
        customers=MappingProxyType(entities["customer"]),
        environments=MappingProxyType(entities["environment"]),
        plans=MappingProxyType(entities["plan"]),
        teams=MappingProxyType(entities["team"]),
        sources=MappingProxyType(sources),
    )
    problems += check_references(catalog, broken)
    problems += workloads.service_problems(catalog)  # a DaemonSet is environment-wide
    problems += reachability.environment_problems(catalog)
    problems += terraform.provider_problems(catalog)
    problems += awx.awx_problems(catalog)  # what one AWX would hold for two environments
    problems += residency.catalog_problems(catalog)  # a customer's data stays in its residency
    problems += versions.cluster_problems(catalog)  # a Kubernetes version with schemas
    problems += argo_names.catalog_problems(catalog)  # one object per name in each ArgoCD
    # edges route Kubernetes ingress hosts
    problems += edges.catalog_problems(catalog, frozenset(broken.get("service", ())))
    problems += identity.catalog_problems(catalog)  # realms and their clients stay the tenant's
    return catalog, problems + tenancy.catalog_problems(catalog)  # the tenant boundary


ANY_NAME = "*"  # in `broken`: the whole list file is unreadable, so any name may exist
_KINDS: tuple[EntityKind, ...] = ("service", "customer", "environment", "plan", "team")
_LISTS: dict[str, tuple[EntityKind, type[BaseModel]]] = {
    "plans": ("plan", Plan),
    "teams": ("team", Team),
}


def _entities(
    file: CatalogFile, document: Document
) -> Iterator[tuple[EntityKind, YamlPath, Any, list[Problem]]]:
    """The entities a document holds, each validated: (kind, path, object or None, problems).

    A list file (plans, teams) is checked as a whole for its shape, then item by item, so
    one bad plan neither hides the others nor makes their names unknown.
    """
    if file.kind not in _LISTS:
        entity, problems = model_errors.validate(_MODELS[file.kind], document.data, document)
        yield file.kind, (), entity, problems
        return
    kind, item_model = _LISTS[file.kind]
    data = document.data
    items = data.get(file.kind) if isinstance(data, dict) else None
    shape_problems = model_errors.validate(
        _MODELS[file.kind], data, document, keep=lambda error: len(error["loc"]) < 2
    )[1]
    yield kind, (), None, shape_problems
    for index, item in enumerate(items if isinstance(items, list) else []):
        entity, problems = model_errors.validate(item_model, item, document, (file.kind, index))
        yield kind, (file.kind, index), entity, problems


def _raw_name(document: Document, prefix: YamlPath) -> Any:
    value: Any = document.data
    for segment in prefix:
        try:
            value = value[segment]
        except (KeyError, IndexError, TypeError):
            return None
    return value.get("name") if isinstance(value, dict) else None


def entity_layers(kind: EntityKind, entity: Any) -> Iterator[tuple[YamlPath, dict[str, Any]]]:
    """Every settings layer an entity defines, with its path inside the entity."""
    if kind == "service":
        yield ("defaults",), entity.defaults
        for plan, layer in entity.plans.items():
            yield ("plans", plan), layer
    elif kind == "environment":
        yield ("defaults",), entity.defaults
        for service, layer in entity.services.items():
            yield ("services", service), layer
    elif kind == "customer":
        for service, layer in entity.services.items():
            yield ("services", service), layer
        for env, placement in entity.environments.items():
            for service, layer in placement.services.items():
                if layer is not None:
                    yield ("environments", env, "services", service), layer


def _is_partial_error(error: dict[str, Any]) -> bool:
    """Errors a partial layer may have: a key left to another layer, a removal, or a
    value that holds a `${...}` reference (checked once the reference is resolved)."""
    value = error.get("input", 0)
    missing = error["type"] in ("missing", "missing_key")  # missing_key: a PTR's `address`
    return missing or value is None or (isinstance(value, str) and "${" in value)


def _layer_problems(kind: EntityKind, entity: Any, source: Source) -> list[Problem]:
    problems: list[Problem] = []
    for path, layer in entity_layers(kind, entity):
        problems += model_errors.validate(
            Settings,
            layer,
            source.document,
            source.prefix + path,
            keep=lambda error: not _is_partial_error(error),
        )[1]
    return problems


# ---------------------------------------------------------------- cross-references


def check_references(catalog: Catalog, broken: dict[EntityKind, set[str]]) -> list[Problem]:
    """Every name that one entity uses for another must exist, and enablement must be whole."""
    known = {
        kind: set(names) | broken[kind]
        for kind, names in (
            ("service", catalog.services),
            ("customer", catalog.customers),
            ("environment", catalog.environments),
            ("plan", catalog.plans),
            ("team", catalog.teams),
        )
    }
    problems: list[Problem] = []

    def refer(
        kind: EntityKind, name: str, location: Location | Callable[[], Location], what: str
    ) -> None:
        """`location` may be a function that finds it: looked up only for a problem (a
        customer's file names 30 services at 1,000 customers: 30,000 lookups a load)."""
        if name not in known[kind] and ANY_NAME not in known[kind]:
            if callable(location):
                location = location()
            hint = did_you_mean(name, known[kind])
            if kind == "service" and name in Settings.model_fields:  # dedented out of a layer
                hint = (
                    f"'{name}' is a key of a service's settings, not a service: indent it "
                    "under the service above it"
                )
            problems.append(Problem(location, f"{what} names unknown {kind} '{name}'", hint))

    for name, service in catalog.services.items():
        src = catalog.source("service", name)
        refer("team", service.owner, src.locate("owner"), f"service '{name}' owner")
        for index, dep in enumerate(service.depends_on):
            refer("service", dep, src.locate("depends_on", index), f"service '{name}' depends_on")
            dependency = catalog.services.get(dep)
            if dependency and service.scope == "environment" and dependency.scope == "customer":
                problems.append(
                    Problem(
                        src.locate("depends_on", index),
                        f"environment-scoped service '{name}' depends on customer-scoped '{dep}'",
                        "an environment-wide service cannot need one instance per customer",
                    )
                )
        for index, env in enumerate(service.environments or []):
            refer(
                "environment",
                env,
                src.locate("environments", index),
                f"service '{name}' environments",
            )
        for plan in service.plans:
            refer("plan", plan, src.locate("plans", plan), f"service '{name}' plans")
    problems += _dependency_cycles(catalog)

    clusters: dict[str, Location] = {}
    branches: dict[tuple[str, str], str] = {}
    trackings: dict[str, tuple[str, str]] = {}  # shared ArgoCD's namespace -> env, method
    for name, env in catalog.environments.items():
        src = catalog.source("environment", name)
        if env.argocd.instance == "shared":  # one argocd-cm: one tracking method
            first, method = trackings.setdefault(env.argocd.namespace, (name, env.argocd.tracking))
            if method != env.argocd.tracking:
                problems.append(
                    Problem(
                        src.locate("argocd", "tracking"),
                        f"environment '{first}' shares this ArgoCD (namespace "
                        f"{env.argocd.namespace}) with tracking '{method}', not "
                        f"'{env.argocd.tracking}'",
                        "one ArgoCD has one resource tracking method (argocd-cm): give "
                        "every environment it reads the same argocd.tracking",
                    )
                )
        if env.argocd.branch is not None:  # one hydrated branch holds one environment
            first = branches.setdefault((_repository(env.argocd.repo_url), env.argocd.branch), name)
            if first != name:
                problems.append(
                    Problem(
                        src.locate("argocd", "branch"),
                        f"environment '{first}' is already published to branch "
                        f"'{env.argocd.branch}'",
                        "give each environment its own argocd.branch: publish writes the "
                        "environment's folder as the branch's root, and ArgoCD and AWX "
                        "read only one environment there",
                    )
                )
        for service in env.services:
            refer(
                "service",
                service,
                src.locate("services", service),
                f"environment '{name}' services",
            )
        for index, cluster in enumerate(env.clusters):
            where = src.locate("clusters", index, "name")
            if cluster.name in clusters:
                problems.append(
                    Problem(
                        where,
                        f"duplicate cluster name '{cluster.name}'",
                        f"first defined at {clusters[cluster.name]}",
                    )
                )
            clusters.setdefault(cluster.name, where)

    for name, env in catalog.environments.items():  # the catalog is not on a hydrated branch
        other = branches.get((_repository(env.argocd.repo_url), env.argocd.revision))
        if other is not None:
            problems.append(
                Problem(
                    catalog.source("environment", name).locate("argocd", "revision"),
                    f"revision '{env.argocd.revision}' is environment '{other}'s hydrated "
                    "branch, which holds rendered files only",
                    "read the catalog's branch (main), or give the environment its own "
                    "argocd.branch",
                )
            )

    for name, customer in catalog.customers.items():
        problems += _customer_references(catalog, name, customer, refer)
    return problems


def _customer_references(
    catalog: Catalog, name: str, customer: Customer, refer: Any
) -> list[Problem]:
    problems: list[Problem] = []
    src = catalog.source("customer", name)
    reserved = reserved_because(name, catalog.environments)
    if reserved is not None:
        problems.append(
            Problem(
                src.locate("name"),
                f"customer name '{name}' is reserved: it is {reserved}",
                "a customer's name is its namespace; choose another name",
            )
        )
    refer("plan", customer.plan, src.locate("plan"), f"customer '{name}' plan")
    if customer.status == "offboarding" and customer.offboard_after is None:
        problems.append(
            Problem(
                src.locate("status"),
                f"offboarding customer '{name}' needs 'offboard_after' (a date)",
                "add offboard_after: YYYY-MM-DD, the day after which it leaves production",
            )
        )
    for service_name in customer.services:
        refer(
            "service",
            service_name,
            src.locate("services", service_name),
            f"customer '{name}' services",
        )
    for env_name, placement in customer.environments.items():
        refer(
            "environment",
            env_name,
            src.locate("environments", env_name),
            f"customer '{name}' environments",
        )
        env = catalog.environments.get(env_name)
        if env and placement.cluster and placement.cluster not in {c.name for c in env.clusters}:
            problems.append(
                Problem(
                    src.locate("environments", env_name, "cluster"),
                    f"environment '{env_name}' has no cluster '{placement.cluster}'",
                    did_you_mean(placement.cluster, [c.name for c in env.clusters]),
                )
            )
        for service_name in placement.services:
            where = functools.partial(
                src.locate, "environments", env_name, "services", service_name
            )
            refer(
                "service",
                service_name,
                where,
                f"customer '{name}' environments.{env_name}.services",
            )
            service = catalog.services.get(service_name)
            if service is None or env is None:
                continue
            if service.scope == "environment":
                problems.append(
                    Problem(
                        where(),
                        f"'{service_name}' is environment-scoped: customers cannot enable it",
                        "it runs once per environment for everyone",
                    )
                )
            elif service.environments is not None and env_name not in service.environments:
                problems.append(
                    Problem(
                        where(),
                        f"service '{service_name}' does not run in environment '{env_name}'",
                        f"it runs in: {', '.join(service.environments)}",
                    )
                )
            problems += _missing_dependencies(catalog, customer, env_name, service_name, where)
    return problems


def _missing_dependencies(
    catalog: Catalog,
    customer: Customer,
    env_name: str,
    service_name: str,
    where: Callable[[], Location],
) -> list[Problem]:
    """A customer enabling a service must enable (or have available) what it depends on."""
    problems = []
    enabled = customer.environments[env_name].services
    for dep in catalog.services[service_name].depends_on:
        dependency = catalog.services.get(dep)
        if dependency is None:
            continue
        if dependency.scope == "customer" and dep not in enabled:
            problems.append(
                Problem(
                    where(),
                    f"customer '{customer.name}' enables '{service_name}' in '{env_name}' "
                    f"but not its dependency '{dep}'",
                    f"add '{dep}' under environments.{env_name}.services",
                )
            )
        elif (
            dependency.scope == "environment"
            and dependency.environments is not None
            and env_name not in dependency.environments
        ):
            problems.append(
                Problem(
                    where(),
                    f"'{service_name}' depends on '{dep}', which does not run in '{env_name}'",
                )
            )
    return problems


def _dependency_cycles(catalog: Catalog) -> list[Problem]:
    """Each dependency cycle once, reported at the first service of the cycle in name order."""
    problems: list[Problem] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    stack: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        stack.append(name)
        for dep in catalog.services[name].depends_on:
            if dep not in catalog.services:
                continue
            if state.get(dep) == 1:
                members = stack[stack.index(dep) :]
                first = members.index(min(members))
                cycle = [*members[first:], *members[:first], members[first]]
                src = catalog.source("service", cycle[0])
                problems.append(
                    Problem(src.locate("depends_on"), "dependency cycle: " + " -> ".join(cycle))
                )
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[name] = 2

    for name in sorted(catalog.services):
        if name not in state:
            visit(name)
    return problems


def _repository(url: str) -> str:
    """One repository however its URL is written: host in lower case, without a final
    `/` or `.git` (GitLab serves it under both)."""
    scheme, _, rest = url.partition("://")
    host, _, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}/{path.rstrip('/').removesuffix('.git')}"
