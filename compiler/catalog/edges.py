"""What `edge:` and `vm.tls:` may say, checked on every layer that writes them (issue 18).

An edge routes the ingress hosts of other services to the clusters' ingress controllers
(render/edge.py), so it must be an environment-scoped service, on VMs or Kubernetes (one
configuration per edge host or per cluster, made from every customer's instances; a
customer's own edge would be handed other customers' hosts), and each service it
routes must exist and run on Kubernetes (a service without an ingress gives the edge
no host, and is no error: removing an ingress should not need the edge edited).
`vm.tls` describes the certificate of VM hosts: a Kubernetes service has none (its
ingress has its own, from cert-manager; an edge on Kubernetes passes TLS through and
holds none). Each error is at the line of the layer that wrote the value, with exit
code 2 like any bad input.

A certificate's names are held to the tenant boundary like ingress hosts (tenancy.py):
the ACME role proves them through the platform's DNS provider, so a name in a customer's
instance that is another tenant's would get that customer's relay a certificate for
another's host. A customer's instance names only its own domains; the platform's layers
may add names in the environment's base domain (the shared relays' `mx.<base_domain>`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from compiler.catalog.files import Generated
from compiler.catalog.layout import Catalog, EntityKind
from compiler.catalog.loader import YamlPath
from compiler.catalog.models import Cluster, Customer, Environment, Host, Settings
from compiler.catalog.tenancy import within
from compiler.errors import Problem, did_you_mean

if TYPE_CHECKING:  # the resolver checks edges, so it imports this module
    from compiler.catalog.resolver import Instance


def _layers(catalog: Catalog) -> Iterator[tuple[EntityKind, str, tuple[Any, ...], str | None, Any]]:
    """(kind, entity, path of the layer, service it is for or None for every service,
    the layer) for every settings layer of the catalog."""
    for name, service in sorted(catalog.services.items()):
        yield "service", name, ("defaults",), name, service.defaults
        for plan, layer in sorted(service.plans.items()):
            yield "service", name, ("plans", plan), name, layer
    for name, env in sorted(catalog.environments.items()):
        yield "environment", name, ("defaults",), None, env.defaults
        for service, layer in sorted(env.services.items()):
            yield "environment", name, ("services", service), service, layer
    for name, customer in sorted(catalog.customers.items()):
        for service, layer in sorted(customer.services.items()):
            yield "customer", name, ("services", service), service, layer
        for env_name, placement in sorted(customer.environments.items()):
            for service, layer in sorted(placement.services.items()):
                path = ("environments", env_name, "services", service)
                yield "customer", name, path, service, layer


def catalog_problems(catalog: Catalog, broken: frozenset[str] = frozenset()) -> list[Problem]:
    """`broken`: services whose file did not validate (they still exist: no cascade),
    or "*" when the whole set is unknown."""
    problems: list[Problem] = []
    for kind, name, path, target, layer in _layers(catalog):
        if not isinstance(layer, dict):
            continue
        source = catalog.source(kind, name)
        service = catalog.services.get(target) if target else None
        edge = layer.get("edge")
        if isinstance(edge, dict):
            where = source.locate(*path, "edge")
            if target is None:
                problems.append(
                    Problem(
                        where,
                        "edge in an environment's defaults would make every service an edge",
                        "declare it in the edge service's file or under services.<edge>",
                    )
                )
            elif service is not None and (service.scope != "environment" or kind == "customer"):
                problems.append(
                    Problem(
                        where,
                        f"edge applies to environment-scoped services; '{target}' is "
                        f"{service.scope}-scoped"
                        if kind != "customer"
                        else "edge is the platform's: a customer's layer may not declare one",
                        "an edge routes every customer's hosts: make it a `scope: environment` "
                        "service (on VMs or Kubernetes)"
                        if kind != "customer"
                        else "edges are declared in the edge service's file or the environment's",
                    )
                )
            routes = edge.get("routes")
            for index, route in enumerate(routes if isinstance(routes, list) else []):
                problem = _route_problem(catalog, route, target, broken)
                if problem:
                    message, hint = problem
                    where = source.locate(*path, "edge", "routes", index)
                    problems.append(Problem(where, message, hint))
        vm = layer.get("vm")
        if (
            isinstance(vm, dict)
            and isinstance(vm.get("tls"), dict)
            and service is not None
            and service.runtime != "vm"
        ):
            problems.append(
                Problem(
                    source.locate(*path, "vm", "tls"),
                    f"vm.tls applies to VM services; '{target}' runs on Kubernetes",
                    "its ingress gets a certificate from cert-manager (environment `tls`)",
                )
            )
    return problems


def _route_problem(
    catalog: Catalog, route: Any, edge: str | None, broken: frozenset[str]
) -> tuple[str, str] | None:
    if not isinstance(route, str) or route in broken or "*" in broken:
        return None  # the model reports the type; a broken file its own problems
    routed = catalog.services.get(route)
    if routed is None:
        return f"edge routes unknown service '{route}'", did_you_mean(route, catalog.services)
    if route == edge:
        return f"edge '{route}' routes itself", "name the services whose ingress hosts it routes"
    if routed.runtime != "kubernetes":
        return (
            f"edge routes '{route}', which runs on VMs: an edge routes ingress hosts of "
            "Kubernetes services to their cluster",
            "name a Kubernetes service with an ingress",
        )
    return None


def _residencies(where: Host | Cluster) -> set[str]:
    """The residencies an edge host (one) or an edge's cluster (all it holds) serves."""
    return {where.residency} if isinstance(where, Host) else set(where.residency)


def _cluster_for(env: Environment, instance: Instance, where: Host | Cluster) -> Cluster | None:
    clusters = [c for c in env.clusters if c.name in instance.clusters]
    served = _residencies(where)
    return next(
        (c for c in clusters if isinstance(where, Cluster) and c.name == where.name),
        next(
            (c for c in clusters if c.region == where.region),
            next((c for c in clusters if served & set(c.residency)), None),
        ),
    )


class Routable(NamedTuple):
    """What routing needs of a customer's instance on Kubernetes (`routed`): kept as
    plain data for a customer an incremental compile does not resolve (render/shares.py)."""

    id: str
    service: str
    customer: str
    clusters: tuple[str, ...]
    hosts: tuple[str, ...]  # its ingress hosts, one per domain where declared so


def routable(instance: Instance) -> Routable | None:
    """A customer's instance on Kubernetes as routing sees it; None for any other."""
    if instance.customer is None or not instance.clusters:
        return None
    hosts = tuple(ingress.host for _, ingress in instance.ingresses())
    return Routable(instance.id, instance.service, instance.customer, instance.clusters, hosts)


def routed(
    env: Environment,
    edge: Instance,
    where: Host | Cluster,
    instances: Iterable[Instance | Routable],
    customers: Mapping[str, Customer],
) -> Iterator[tuple[Instance | Routable, Cluster, list[str]]]:
    """The instances one edge host (or an edge on a cluster) routes, in id order, each
    with the cluster it routes it to and its ingress hosts there: a customer's to its own
    cluster when its residency is the edge's, an environment-wide one to this cluster,
    else this region's, else the first cluster of a residency the edge serves (with its
    values on that cluster: they may name it). An instance without an ingress there is
    left out. One function for the two that must agree: the routing table
    (render/edge.py) and the connections the edge's pods open (reachability.py: its
    NetworkPolicy admits the ingress of exactly the clusters the table leads to)."""
    assert edge.settings.edge is not None
    wanted = set(edge.settings.edge.routes)
    by_name = {c.name: c for c in env.clusters}
    # only the routed are sorted: the filter first (24 sorts of 10,000 instances at
    # 1,000 customers took a tenth of a second of a recompile's CPU)
    for instance in sorted(
        (i for i in instances if i.service in wanted and i.clusters), key=lambda i: i.id
    ):
        if instance.customer is not None:
            if customers[instance.customer].residency not in _residencies(where):
                continue  # another residency's edges carry it
            cluster: Cluster | None = by_name[instance.clusters[0]]
        else:
            cluster = _cluster_for(env, instance, where)
        if cluster is None:
            continue
        if isinstance(instance, Routable):
            hosts = list(instance.hosts)
        elif instance.customer is None:
            ingress = instance.on(cluster.name).ingress
            hosts = [ingress.host] if ingress else []
        else:
            hosts = [ingress.host for _, ingress in instance.ingresses()]
        if hosts:
            yield instance, cluster, hosts


# where each program reads its configuration (Debian's packages and the official images)
EDGE_CONFIG_PATH = {"haproxy": "/etc/haproxy/haproxy.cfg", "nginx": "/etc/nginx/nginx.conf"}
# what the files checks call the edge's file, and the fewest bytes it takes (the file of
# a table without a route; tests/test_edge_kubernetes.py holds the renderer to it)
EDGE_CONFIG_WHAT = "the edge's configuration (gitopsc writes it from its routes)"
EDGE_CONFIG_LEAST = 512
# the port names an edge on Kubernetes listens on: TLS passed through, and plain HTTP
EDGE_PORTS = ("https", "http")


def kubernetes_problems(runtime: str, settings: Settings) -> Iterator[tuple[YamlPath, str, str]]:
    """An edge on Kubernetes listens on the ports its service declares as `https` and
    `http` (TCP), so that its configuration, its Service, its NetworkPolicy and `expose:`
    name the same ports; and it resolves no names: the addresses it routes to are IP
    addresses (its NetworkPolicy can admit only addresses, and a pod has no resolver at
    127.0.0.53; render/edge.py host_files holds the clusters to it). Its configuration
    file's path is held by generated_files."""
    edge = settings.edge
    if edge is None or runtime != "kubernetes":
        return
    declared = settings.ports or {}
    for name in EDGE_PORTS:
        port = declared.get(name)
        protocol = getattr(port, "protocol", "TCP")
        if port is None:
            yield (
                ("edge",),
                f"an edge on Kubernetes listens on its TCP ports 'https' and 'http'; "
                f"its service declares no port '{name}'",
                "declare ports: {https: 8443, http: 8080} and expose them on 443 and 80 "
                "(expose: {https: {type: LoadBalancer, port: 443}, ...})",
            )
        elif protocol != "TCP":
            yield (
                ("ports", name),
                f"an edge listens on its port '{name}' over TCP; it is declared {protocol}",
                "remove protocol, or write the port as a number",
            )
    if edge.resolvers is not None:
        yield (
            ("edge", "resolvers"),
            "an edge on Kubernetes resolves no names: the ingress addresses it routes to "
            "must be IP addresses, which its NetworkPolicy admits",
            "remove resolvers, and give the clusters it routes to an IP ingress_address",
        )


def generated_files(runtime: str, settings: Settings) -> dict[str, Generated]:
    """The file an edge on Kubernetes gets among its files at render time (render/edge.py
    kubernetes_settings): its routing table needs every instance, but its path is known
    now, so that files.file_problems holds the catalog's files, writable paths and volume
    away from it, and counts it towards the size limit, when the instance is resolved."""
    edge = settings.edge
    if edge is None or runtime != "kubernetes":
        return {}
    return {EDGE_CONFIG_PATH[edge.software]: Generated(EDGE_CONFIG_WHAT, EDGE_CONFIG_LEAST)}


def certificate_problems(
    env: Environment,
    customer: Customer | None,
    settings: Settings,
    customer_wrote: Callable[[YamlPath], bool],
) -> Iterator[tuple[YamlPath, str, str]]:
    """A customer's instance's certificate names lie in its domains (or, written by the
    platform, in the base domain): (path, message, hint), at the layer that wrote it."""
    tls = settings.vm.tls if settings.vm else None
    if tls is None or customer is None:
        return
    path: YamlPath = ("vm", "tls", "names")
    allowed = list(customer.domains)
    if not customer_wrote(path):
        allowed.append(env.base_domain)
    for index, name in enumerate(tls.names):
        if not any(within(name, domain) for domain in allowed):
            yield (
                (*path, index),
                f"certificate name '{name}' is not in a domain of customer '{customer.name}'",
                f"use {' or '.join(allowed)}, or a subdomain: the ACME role would prove "
                "another owner's name",
            )
