"""Declared reachability: every connection the catalog says an instance makes or accepts.

One function of the resolved instances of an environment, read by two consumers that
must agree: the renderer turns each connection into NetworkPolicy rules (one policy
per purpose, render/network.py), and the `network-reachability` check evaluates the
rendered policies against the same connections, so a rule the renderer forgot, or a
patch that narrowed it, shows as a declared path that is closed. Problems (a peer the
environment does not declare, a port the peer does not have) are reported by the
resolve stage with the line that declares the connection.

Where connections come from (docs/catalog.md, "Network"):

    depends_on                 to the dependency's ports this service uses
                               (network.dependencies.<dep>.ports, default: the
                               dependency's serving ports, never all of them)
    network.dependencies.<dep>.calls_back
                               from the dependency to this service's ports
    ingress                    from the ingress controller to the ingress port
    infrastructure.database    to the environment's managed-database ranges for the
                               engine, of the instance's cluster or region, on its port
    network.internet_egress    to anything outside the private and link-local ranges
    network.egress.<rule>      to a platform namespace, host pool, hosts or network
    network.ingress.<rule>     from one of those, to this service's named ports
    monitoring.scrape          from Prometheus's pods (the environment's
                               `monitoring.namespace`) to the scraped port, no other
    edge (on Kubernetes)       on each cluster, to the ingress_address of each cluster
                               its routing table leads to, on 443 and 80, and to its
                               own cluster's ingress controller pods (edges.routed)
    monitoring.probe           from the blackbox exporter's pods (`monitoring.blackbox`)
                               on the probing cluster to a VM instance's hosts, on the
                               probed ports

A VM instance's end is its hosts' addresses; two VM instances need no NetworkPolicy
and get no connection.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from compiler.catalog.edges import Routable, routed
from compiler.catalog.layout import Catalog
from compiler.catalog.loader import YamlPath
from compiler.catalog.models import Cluster, Environment, Host, Settings
from compiler.catalog.models.environment import (
    DATABASE_PORTS,
    PRIVATE_RANGES,
    ingress_controller,
)
from compiler.catalog.models.settings import EgressRule, PortRange, RulePeer, port_spec
from compiler.errors import Location, Problem, did_you_mean

if TYPE_CHECKING:  # the resolver reports these problems, so it imports this module
    from compiler.catalog.resolver import Instance

INTERNET = "0.0.0.0/0"


@dataclass(frozen=True)
class Pods:
    """The pods of one namespace that carry `labels`: an instance's workload (`instance`
    set) or a platform component (the ingress controller, a platform namespace)."""

    namespace: str
    labels: tuple[tuple[str, str], ...]
    what: str
    instance: Instance | None = None


@dataclass(frozen=True)
class Addresses:
    """Addresses outside the pods: hosts, networks, managed databases, the internet."""

    cidrs: tuple[str, ...]
    what: str
    excepted: tuple[str, ...] = ()
    instance: Instance | None = None  # a VM instance whose hosts these are


End = Pods | Addresses


@dataclass(frozen=True)
class PathPort:
    """A port of a connection; `name` is the destination instance's port name (what a
    rule renders when the destination is an instance's pods), `end` closes a range."""

    number: int
    protocol: str = "TCP"
    name: str = ""
    end: int | None = None

    def __str__(self) -> str:
        number = f"{self.number}-{self.end}" if self.end else str(self.number)
        return f"{self.protocol}/{number}" + (f" ({self.name})" if self.name else "")


@dataclass(frozen=True)
class Connection:
    """One declared path: `source` may open connections to `destination` on `ports`
    (empty: every port), on `cluster` (None: every cluster the pods run on).

    `purposes` name the NetworkPolicy that carries the rule on each side, (egress of
    the source, ingress of the destination), None where that side has no pods of
    ours. `declared_by` and `path` say who declares it: a path into that instance's
    settings, or `("depends_on", index)` in its service file."""

    source: End
    destination: End
    ports: tuple[PathPort, ...]
    purposes: tuple[str | None, str | None]
    what: str
    declared_by: Instance
    path: YamlPath
    cluster: str | None = None

    def location(self, catalog: Catalog) -> Location:
        """The catalog line that declares the connection."""
        if self.path[:1] == ("depends_on",):
            return catalog.source("service", self.declared_by.service).locate(*self.path)
        origin = self.declared_by.origin(self.path)
        return origin.location or catalog.source("service", self.declared_by.service).locate()


def connections(
    catalog: Catalog,
    env: Environment,
    instances: Sequence[Instance],
    kept: Sequence[Routable] = (),
) -> tuple[list[Connection], list[Problem]]:
    """Every connection the catalog declares among one environment's instances, and the
    problems that keep some from being declared (each at its line, once per line).
    `kept`: the instances on Kubernetes of customers an incremental compile does not
    resolve, as routing sees them (an edge's connections follow its routing table)."""
    found: list[Connection] = []
    failures: dict[tuple[Location, str, str], list[str]] = {}
    by_key = {(i.customer, i.service): i for i in instances}
    internet = Addresses((INTERNET,), "the internet", not_the_internet(catalog, env))
    routes_over = [*instances, *kept] if kept else instances
    for instance in instances:
        for item in _of_instance(catalog, env, instance, by_key, internet, routes_over):
            if isinstance(item, Connection):
                found.append(item)
            else:
                path, message, hint = item
                where = (
                    catalog.source("service", instance.service).locate(*path)
                    if path[:1] == ("depends_on",)
                    else instance.origin(path).location
                    or catalog.source("service", instance.service).locate()
                )
                failures.setdefault((where, message, hint), []).append(instance.id)
    problems = [
        Problem(where, message, _hint(hint, ids))
        for (where, message, hint), ids in failures.items()
    ]
    return found, problems


def _hint(hint: str, ids: list[str]) -> str:
    which = ids[0] if len(ids) == 1 else f"{ids[0]} and {len(ids) - 1} more"
    return f"{hint + '; ' if hint else ''}in instance {which}"


_Failure = tuple[YamlPath, str, str]


def _of_instance(
    catalog: Catalog,
    env: Environment,
    instance: Instance,
    by_key: Mapping[tuple[str | None, str], Instance],
    internet: Addresses,
    instances: Sequence[Instance | Routable],
) -> Iterator[Connection | _Failure]:
    """The connections one instance declares: with its dependencies, then its own
    (`instances`: those an edge may route)."""
    mine = yield from _end(env, instance, ())
    mine = yield from _dependencies(catalog, env, instance, by_key, mine)
    if isinstance(mine, Pods):
        monitoring = instance.settings.monitoring
        if monitoring and monitoring.probe:
            yield (
                ("monitoring", "probe"),
                f"'{instance.service}' runs on Kubernetes: probe is for a VM service's hosts",
                "scrape its pods with monitoring.scrape; remove probe here",
            )
        yield from _own(catalog, env, instance, mine, internet)
        yield from _edge(catalog, env, instance, mine, instances)
    else:  # a VM's own traffic is its hosts' firewall's to allow, not a NetworkPolicy's
        monitoring = instance.settings.monitoring
        if monitoring and monitoring.scrape:
            yield (
                ("monitoring", "scrape"),
                f"'{instance.service}' runs on VMs: a ServiceMonitor or PodMonitor needs pods",
                "probe its hosts from the cluster with monitoring.probe (a blackbox exporter "
                "module and the ports); remove scrape here",
            )
        yield from _probed(env, instance, mine)
        yield from _shared_rules(env, instance)
        if instance.settings.expose:
            yield (
                ("expose",),
                f"'{instance.service}' runs on VMs: its hosts are reached at their addresses",
                "expose is for Kubernetes services; remove it",
            )
        network = instance.settings.network
        for field in ("internet_egress", "egress", "ingress"):
            if network and getattr(network, field):
                yield (
                    ("network", field),
                    f"network.{field} applies to Kubernetes services; '{instance.service}' "
                    "runs on VMs",
                    "a VM's firewall is its playbooks' to configure; remove the rule",
                )


def _dependencies(
    catalog: Catalog,
    env: Environment,
    instance: Instance,
    by_key: Mapping[tuple[str | None, str], Instance],
    mine: End | None,
) -> Generator[Connection | _Failure, None, End | None]:
    """To each dependency on the ports used, and back where it calls back. Returns the
    instance's end (a VM's hosts are checked for addresses where pods need them)."""
    service = catalog.services[instance.service]
    settings = instance.settings
    network = settings.network
    uses = (network.dependencies if network else None) or {}
    for name in sorted(set(uses) - set(service.depends_on)):
        yield (
            ("network", "dependencies", name),
            f"'{name}' is not a dependency of '{instance.service}'",
            f"depends_on: {', '.join(service.depends_on) or 'none'}; "
            "network.dependencies says how a dependency is used",
        )
    for index, dependency in enumerate(service.depends_on):
        target = by_key.get((instance.customer, dependency)) or by_key.get((None, dependency))
        if target is None:
            continue
        theirs = yield from _end(env, target, ("depends_on", index), instance)
        if not instance.clusters:  # a VM: its hosts' addresses, each needed by the pods
            mine = yield from _end(env, instance, ("depends_on", index), target)
        if mine is None or theirs is None:
            continue
        if isinstance(mine, Addresses) and isinstance(theirs, Addresses):
            continue  # VM to VM: no pods, no NetworkPolicy
        use = uses.get(dependency)
        at: YamlPath = (
            ("network", "dependencies", dependency, "ports")
            if use and use.ports
            else ("depends_on", index)
        )
        names = use.ports if use and use.ports else _serving(target.settings)
        if not names:
            yield (
                at,
                f"'{instance.service}' depends on '{dependency}', which has "
                f"{_listed(target.settings)} and no serving port",
                f"say which ports it uses in network.dependencies.{dependency}.ports, or give "
                f"'{dependency}' network.serves",
            )
            continue
        if target.customer is None and instance.customer is not None:
            serving = _serving(target.settings)
            extra = [name for name in names if name not in serving]
            if extra:  # a customer's instance uses what a shared service serves
                yield (
                    at,
                    f"port '{extra[0]}' is not a serving port of the shared service '{dependency}'",
                    f"it serves {', '.join(serving) or 'nothing'} (its network.serves, else "
                    "its ingress port, else its only port)",
                )
                continue
        ports = yield from _named_ports(target.settings, names, at, f"'{dependency}'")
        if isinstance(theirs, Addresses) and not (
            yield from _hosts_granted(env, catalog, target, ports, at)
        ):
            continue
        yield Connection(
            mine,
            theirs,
            ports,
            (
                _side(mine, f"to-{dependency}"),
                _side(theirs, f"from-{instance.service}"),
            ),
            f"{instance.id} uses {target.id}",
            instance,
            at,
        )
        if use and use.calls_back:
            at = ("network", "dependencies", dependency, "calls_back")
            back = yield from _named_ports(settings, use.calls_back, at, "this service")
            yield Connection(
                theirs,
                mine,
                back,
                (
                    _side(theirs, f"to-{instance.service}"),
                    _side(mine, f"from-{dependency}"),
                ),
                f"{target.id} calls back {instance.id}",
                instance,
                at,
            )
    return mine


def _own(
    catalog: Catalog, env: Environment, instance: Instance, mine: Pods, internet: Addresses
) -> Iterator[Connection | _Failure]:
    """What a Kubernetes instance declares for itself: replicas, the ingress controller,
    its managed database, the internet, and its named egress and ingress rules."""
    settings = instance.settings
    network = settings.network
    replicas = network.replicas if network else None
    if replicas:
        at = ("network", "replicas")
        ports = yield from _named_ports(settings, replicas, at, "this service")
        yield Connection(
            mine,
            mine,
            ports,
            ("to-replicas", "from-replicas"),
            f"the replicas of {instance.id} reach each other",
            instance,
            at,
        )
    if settings.ingress:
        ports = yield from _named_ports(settings, [settings.ingress.port], ("ingress",), "")
        by_namespace: dict[str, list[str]] = {}  # a cluster may have its own controller
        for cluster in env.clusters:
            if cluster.name in instance.clusters:
                namespace = ingress_controller(env, cluster).namespace
                by_namespace.setdefault(namespace, []).append(cluster.name)
        for namespace, clusters in sorted(by_namespace.items()):
            yield Connection(
                Pods(namespace, (), "the ingress controller"),
                mine,
                ports,
                (None, "from-ingress-controller"),
                f"the ingress controller serves {instance.id}",
                instance,
                ("ingress",),
                None if len(by_namespace) == 1 else clusters[0],
            )
    yield from _exposed(env, instance, mine, internet)
    yield from _scraped(env, instance, mine)
    database = settings.infrastructure.database if settings.infrastructure else None
    if database is not None:
        yield from _database(env, instance, mine, database.engine)
    if network and network.internet_egress:
        yield Connection(
            mine,
            internet,
            (),
            ("to-internet", None),
            f"{instance.id} reaches the internet",
            instance,
            ("network", "internet_egress"),
        )
    for name, rule in sorted(((network.egress if network else None) or {}).items()):
        at = ("network", "egress", name)
        peer = yield from _peer(catalog, env, instance, rule, at)
        if peer is not None:
            yield Connection(
                mine,
                peer,
                tuple(_range(entry) for entry in rule.ports),
                ("egress-" + name, None),
                f"{instance.id} reaches {peer.what} ({name})",
                instance,
                at,
            )
    for name, rule in sorted(((network.ingress if network else None) or {}).items()):
        at = ("network", "ingress", name)
        peer = yield from _peer(catalog, env, instance, rule, at)
        ports = yield from _named_ports(settings, rule.ports, (*at, "ports"), "this service")
        if peer is not None:
            yield Connection(
                peer,
                mine,
                ports,
                (None, "ingress-" + name),
                f"{peer.what} reaches {instance.id} ({name})",
                instance,
                at,
            )


def _scraped(env: Environment, instance: Instance, mine: Pods) -> Iterator[Connection | _Failure]:
    """Prometheus to the one port `monitoring.scrape` names, from the pods of the
    environment's monitoring namespace: the ServiceMonitor's scrape, and nothing else.
    An environment without `monitoring` renders no monitor, so opens nothing."""
    monitoring = instance.settings.monitoring
    scrape = monitoring.scrape if monitoring else None
    if scrape is None or env.monitoring is None:
        return
    platform = env.platform_namespaces.get(env.monitoring.namespace)
    if platform is None:  # reported once, at the environment's line (environment_problems)
        return
    at = ("monitoring", "scrape", "port")
    ports = yield from _named_ports(instance.settings, [scrape.port], at, "this service")
    namespace = env.monitoring.namespace
    yield Connection(
        Pods(namespace, tuple(sorted(platform.pods.items())), f"Prometheus ({namespace})"),
        mine,
        ports,
        (None, "from-monitoring"),
        f"Prometheus in {namespace} scrapes {instance.id}",
        instance,
        at,
    )


# what an edge opens to an ingress: TLS passed through, and plain HTTP (render/edge.py)
EDGE_TO_INGRESS = (PathPort(80), PathPort(443))


def _edge(
    catalog: Catalog,
    env: Environment,
    instance: Instance,
    mine: Pods,
    instances: Sequence[Instance | Routable],
) -> Iterator[Connection]:
    """An edge on Kubernetes to the ingress its routes lead to, derived from `edge:`
    with the function that makes its routing table (edges.routed), cluster by cluster:
    the `ingress_address` of each cluster the table of this cluster's edge names, on 443
    and 80, and nothing else. To its own cluster's address, also the ingress
    controller's pods on the same ports: kube-proxy (and Cilium) hand a pod's connection
    to a load balancer address of its own cluster straight to the Service's endpoints,
    so the NetworkPolicy sees the controller's pod, not the address. A cluster without
    an address, or with a name, gets no rule (render/edge.py host_files reports it)."""
    if instance.settings.edge is None:
        return
    by_name = {c.name: c for c in env.clusters}
    for name in instance.clusters:
        targets = {
            cluster.name: cidr
            for _, cluster, _ in routed(env, instance, by_name[name], instances, catalog.customers)
            if cluster.ingress_address is not None
            and (cidr := _address_cidr(cluster.ingress_address)) is not None
        }
        if not targets:
            continue
        reached = ", ".join(sorted(targets))
        yield Connection(
            mine,
            Addresses(tuple(sorted(set(targets.values()))), f"the ingress of {reached}"),
            EDGE_TO_INGRESS,
            ("to-ingress", None),
            f"{instance.id} routes to the ingress of {reached}",
            instance,
            ("edge",),
            name,
        )
        if name in targets:
            controller = ingress_controller(env, by_name[name])
            yield Connection(
                mine,
                Pods(controller.namespace, (), f"the ingress controller of {name}"),
                EDGE_TO_INGRESS,
                ("to-ingress", None),
                f"{instance.id} routes to the ingress controller of {name}",
                instance,
                ("edge",),
                name,
            )


def probing_cluster(env: Environment, instance: Instance) -> Cluster | None:
    """The cluster whose blackbox exporter probes a VM instance's hosts: the first of
    the environment's that holds the hosts' residency (the probe's results, the rule's
    series and alerts stay where the customer's data may be), else none."""
    wanted = {host.residency for host in instance.hosts}
    return next((c for c in env.clusters if wanted <= set(c.residency)), None)


def _probed(
    env: Environment, instance: Instance, mine: End | None
) -> Iterator[Connection | _Failure]:
    """The blackbox exporter's pods to the probed ports of a VM instance's hosts (the
    `Probe` render/monitoring.py writes), from the probing cluster only, and nothing
    else. An environment without `monitoring` renders no probe, so opens nothing."""
    monitoring = instance.settings.monitoring
    probe = monitoring.probe if monitoring else None
    rules = monitoring is not None and (monitoring.slos or monitoring.alerts)
    if probe is None and rules and env.monitoring is not None:
        if probing_cluster(env, instance) is None:  # else its rules go nowhere, silently
            assert monitoring is not None
            residencies = sorted({host.residency for host in instance.hosts})
            yield (
                ("monitoring", "slos" if monitoring.slos else "alerts"),
                f"no cluster of environment '{env.name}' holds residency "
                f"{', '.join(residencies)} of {instance.service}'s hosts: its rules would "
                "be evaluated nowhere",
                "give a cluster the hosts' residency (clusters' residency:), or remove the "
                "rules here (slos: null, alerts: null)",
            )
        return
    if probe is None or env.monitoring is None:
        return
    at = ("monitoring", "probe")
    if instance.customer is not None:  # what the platform's exporter sends to hosts
        for field in ("module", "ports", "interval"):
            if instance.origin((*at, field)).layer.startswith("customer"):
                yield (
                    (*at, field),
                    "a customer's file may not set what the platform's blackbox exporter "
                    "probes: the hosts may be shared with other customers (a relay pool)",
                    "the service's file sets module, ports and interval; a customer may "
                    "switch its probe off (probe: null)",
                )
                return
    blackbox = env.monitoring.blackbox
    if blackbox is None:
        yield (
            at,
            f"environment '{env.name}' declares no monitoring.blackbox to probe "
            f"the hosts of '{instance.service}' with",
            "declare the blackbox exporter (url, pods, modules) under the environment's "
            "monitoring, or remove probe here",
        )
        return
    if probe.module not in blackbox.modules:
        yield (
            (*at, "module"),
            f"the blackbox exporter of environment '{env.name}' has no module '{probe.module}'",
            did_you_mean(probe.module, blackbox.modules),
        )
        return
    cluster = probing_cluster(env, instance)
    if cluster is None:
        residencies = sorted({host.residency for host in instance.hosts})
        yield (
            at,
            f"no cluster of environment '{env.name}' holds residency "
            f"{', '.join(residencies)} of {instance.service}'s hosts: nowhere to probe from",
            "probe from a cluster of the hosts' residency (clusters' residency:)",
        )
        return
    if not isinstance(mine, Addresses):
        return  # no host with an IP address: nothing to probe (its hosts are reported)
    namespace = env.monitoring.namespace
    yield Connection(
        Pods(
            namespace,
            tuple(sorted(blackbox.pods.items())),
            f"the blackbox exporter ({namespace})",
        ),
        mine,
        tuple(PathPort(port) for port in probe.ports),
        (None, None),  # the hosts' firewall admits it; the platform's pods are not ours
        f"the blackbox exporter in {namespace} on {cluster.name} probes {instance.id}",
        instance,
        (*at, "ports"),
        cluster.name,
    )


def _shared_rules(env: Environment, instance: Instance) -> Iterator[_Failure]:
    """A VM instance's rules are evaluated in the monitoring namespace, which every
    customer's probes share (the operator's `enforcedNamespaceLabel` holds a rule to its
    namespace, here not to one customer): so their PromQL comes from the service's,
    plan's or environment's file, which select the customer's own series by its label,
    never from a customer's file, which could read another customer's series there."""
    monitoring = instance.settings.monitoring
    if monitoring is None or env.monitoring is None or instance.customer is None:
        return
    paths: list[YamlPath] = [
        ("monitoring", "slos", name, "sli", field)
        for name, slo in sorted((monitoring.slos or {}).items())
        for field in ("errors", "good", "total")
        if getattr(slo.sli, field) is not None
    ]
    paths += [("monitoring", "alerts", name, "expr") for name in sorted(monitoring.alerts or {})]
    for path in paths:
        if instance.origin(path).layer.startswith("customer"):
            yield (
                path,
                f"'{instance.service}' runs on VMs: its rules share the monitoring namespace "
                "with other customers' probes, so a customer's file may not write their PromQL",
                "set the objective, window or an alert's severity here; the service's file "
                "writes the expressions, selecting the customer's own series",
            )


def _exposed(
    env: Environment, instance: Instance, mine: Pods, internet: Addresses
) -> Iterator[Connection | _Failure]:
    """Clients outside the cluster to each exposed port (`expose`): from the network the
    exposure names, or the internet."""
    by_clients: dict[str, list[str]] = {}
    for port, exposure in sorted((instance.settings.expose or {}).items()):
        at = ("expose", port)
        if exposure.clients is not None and exposure.clients not in env.networks:
            yield (
                (*at, "clients"),
                f"environment '{env.name}' declares no network '{exposure.clients}'",
                f"networks: {', '.join(sorted(env.networks)) or 'none'}; leave clients out "
                "for the internet",
            )
            continue
        by_clients.setdefault(exposure.clients or "", []).append(port)
    for clients, names in sorted(by_clients.items()):
        at = ("expose", names[0])
        ports = yield from _named_ports(instance.settings, names, at, "this service")
        peer = _network(clients, env.networks[clients]) if clients else internet
        yield Connection(
            peer,
            mine,
            ports,
            (None, "exposed"),
            f"{peer.what} reaches {instance.id} (exposed)",
            instance,
            at,
        )


def _side(end: End, purpose: str) -> str | None:
    return purpose if isinstance(end, Pods) else None


def _listed(settings: Settings) -> str:
    names = sorted(settings.ports or {})
    return f"ports {', '.join(names)}" if names else "no ports"


def _serving(settings: Settings) -> list[str]:
    """The ports dependents use unless they say otherwise: `network.serves`, else the
    ingress port, else the only port."""
    if settings.network and settings.network.serves:
        return list(settings.network.serves)
    if settings.ingress:
        return [settings.ingress.port]
    ports = sorted(settings.ports or {})
    return ports if len(ports) == 1 else []


def _named_ports(
    settings: Settings, names: Sequence[str], at: YamlPath, whose: str
) -> Generator[_Failure, None, tuple[PathPort, ...]]:
    """The named ports `names` of `settings`, each a `Port` with its name and protocol."""
    declared = settings.ports or {}
    ports = []
    for name in names:
        if name not in declared:
            yield (
                at,
                f"port '{name}' is not a port of {whose or 'this service'}",
                f"ports: {', '.join(sorted(declared)) or 'none'}",
            )
            continue
        spec = port_spec(declared[name])
        ports.append(PathPort(spec.port, spec.protocol, name))
    return tuple(sorted(set(ports), key=lambda p: (p.name, p.number)))


def _range(entry: int | PortRange) -> PathPort:
    if isinstance(entry, int):
        return PathPort(entry)
    return PathPort(entry.port, entry.protocol, "", entry.end_port)


def _hosts_granted(
    env: Environment, catalog: Catalog, target: Instance, ports: Sequence[PathPort], at: YamlPath
) -> Generator[_Failure, None, bool]:
    """Pods reach a VM dependency on a host pool (the platform's machines) only on what
    the environment grants that pool; a customer's own hosts need no grant."""
    customer = catalog.customers.get(target.customer or "")
    if customer is not None and customer.environments[env.name].hosts:
        return True
    pool = target.settings.vm.host_pool if target.settings.vm else None
    if pool is None:
        return True
    what = f"host pool '{pool}' (of {target.id})"
    return (yield from _accepted(env, ports, pool, what, at))


def _accepted(
    env: Environment, rule: RulePeer | Sequence[PathPort], name: str, what: str, at: YamlPath
) -> Generator[_Failure, None, bool]:
    """An egress rule's ports (or a dependency's) lie within what the environment lets
    pods open to the shared peer `name` (`accepts`); an ingress rule admits into the
    service's own pods and needs no grant."""
    port = _ungranted(env, rule, name)
    if port is None:
        return True
    accepted = [_range(entry) for entry in env.accepts.get(name, [])]
    yield (
        (*at, "ports"),
        f"{what} does not accept {port} from services",
        f"it accepts {', '.join(map(str, accepted)) or 'nothing'} "
        f"(accepts.{name} in environment '{env.name}')",
    )
    return False


def _grants(env: Environment, rule: RulePeer | Sequence[PathPort], name: str) -> bool:
    """Whether the environment lets pods open every port of an egress rule (or a list
    of ports) to `name`."""
    return _ungranted(env, rule, name) is None


def _ungranted(env: Environment, rule: RulePeer | Sequence[PathPort], name: str) -> PathPort | None:
    """The first port of an egress rule (or a list of ports) that the environment does
    not let pods open to `name`; None when all are granted (or for an ingress rule)."""
    accepted = [_range(entry) for entry in env.accepts.get(name, [])]
    return next((p for p in _rule_ports(rule) if not any(_within(p, a) for a in accepted)), None)


def _rule_ports(rule: RulePeer | Sequence[PathPort]) -> list[PathPort]:
    if isinstance(rule, EgressRule):
        return [_range(entry) for entry in rule.ports]
    return list(rule) if not isinstance(rule, RulePeer) else []


def _within(port: PathPort, accepted: PathPort) -> bool:
    """`port` (or its range) lies inside what `accepted` admits, on the same protocol."""
    return (
        port.protocol == accepted.protocol
        and accepted.number <= port.number
        and (port.end or port.number) <= (accepted.end or accepted.number)
    )


def _end(
    env: Environment, instance: Instance, at: YamlPath, user: Instance | None = None
) -> Generator[_Failure, None, End | None]:
    """An instance's end of a connection: its pods, or its hosts' addresses (a VM)."""
    if instance.clusters:
        return Pods(
            instance.namespace or "",
            (("app.kubernetes.io/name", instance.service),),
            instance.id,
            instance,
        )
    cidrs = []
    for host in instance.hosts:
        cidr = _host_cidr(host)
        if cidr is None:
            if user is not None and user.clusters:  # only a pod's rule needs the address
                yield (
                    at,
                    f"host '{host.name}' of {instance.id} has the address '{host.address}', "
                    "which a NetworkPolicy cannot name",
                    "give the host's IP address in its host pool",
                )
            continue
        cidrs.append(cidr)
    if not cidrs:
        return None  # no address: no rule at all (an empty ipBlock list is every address)
    return Addresses(tuple(sorted(set(cidrs))), f"the hosts of {instance.id}", (), instance)


def _host_cidr(host: Host) -> str | None:
    """A host's address as a one-address network; an IPv4-mapped IPv6 address as the
    IPv4 address it is, so that it is compared (and reached) as one."""
    return _address_cidr(host.address)


@functools.cache  # a pool's hosts are every VM instance's ends: parsed once, not per use
def _address_cidr(text: str) -> str | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(ipaddress.ip_network(address))


def _database(
    env: Environment, instance: Instance, mine: Pods, engine: str
) -> Iterator[Connection | _Failure]:
    at: YamlPath = ("infrastructure", "database")
    declared = env.databases.get(engine)  # type: ignore[call-overload]
    if declared is None:
        yield (
            at,
            f"environment '{env.name}' declares no network for managed {engine} databases",
            f"add databases.{engine}.networks (by cluster or region) to environment.yaml",
        )
        return
    regions = {c.name: c.region for c in env.clusters}
    port = PathPort(declared.port or DATABASE_PORTS[engine])
    for cluster in instance.clusters:
        cidrs = declared.networks.get(cluster) or declared.networks.get(regions[cluster])
        if cidrs is None:
            yield (
                at,
                f"environment '{env.name}' declares no {engine} database network for cluster "
                f"'{cluster}' or its region '{regions[cluster]}'",
                f"databases.{engine}.networks has {', '.join(sorted(declared.networks))}",
            )
            continue
        yield Connection(
            mine,
            Addresses(tuple(cidrs), f"the managed {engine} databases of {cluster}"),
            (port,),
            ("to-database", None),
            f"{instance.id} uses its managed {engine} database",
            instance,
            at,
            cluster,
        )


def _peer(
    catalog: Catalog, env: Environment, instance: Instance, rule: RulePeer, at: YamlPath
) -> Generator[_Failure, None, End | None]:
    """The end a rule names, if the environment (or the customer) declares it."""
    chosen = rule.peer()
    if chosen is None:
        yield (
            at,
            "the rule names no peer",
            "give one of namespace, host_pool, hosts or network",
        )
        return None
    kind, name = chosen
    if kind != "hosts":  # a namespace, network or pool the environment declares, granted
        assert isinstance(name, str)
        table, what = {
            "namespace": (env.platform_namespaces, "platform namespace"),
            "network": (env.networks, "network"),
            "host_pool": (env.host_pools, "host pool"),
        }[kind]
        declared = table.get(name)  # type: ignore[attr-defined]
        if declared is None:
            yield (
                (*at, kind),
                f"environment '{env.name}' declares no {what} '{name}'",
                f"{what}s: {', '.join(sorted(table)) or 'none'}",
            )
            return None
        if not (yield from _accepted(env, rule, name, f"{what} '{name}'", at)):
            return None
    if kind == "namespace":
        return Pods(name, tuple(sorted(declared.pods.items())), f"namespace {name}")
    if kind == "network":
        return _network(name, declared)
    if kind == "host_pool":
        hosts, what = list(declared), f"host pool {name}"
    else:
        pools: dict[str, list[tuple[str, Host]]] = {}
        for pool, listed in sorted(env.host_pools.items()):
            for host in listed:
                pools.setdefault(host.name, []).append((pool, host))
        own = (
            {h.name: h for h in catalog.customers[instance.customer].environments[env.name].hosts}
            if instance.customer is not None
            else {}
        )
        hosts, what = [], f"hosts {', '.join(name)}"
        for host_name in name:
            if host_name in own:
                hosts.append(own[host_name])  # the customer's own machine
                continue
            if host_name not in pools:
                yield (
                    (*at, "hosts"),
                    f"'{host_name}' is not a host of the host pools of '{env.name}'"
                    + (f" or of customer '{instance.customer}'" if instance.customer else ""),
                    "name a host listed in host_pools (or the customer's own hosts)",
                )
                return None
            # a host listed in several pools may be reached on what any of them grants
            granted = [(p, h) for p, h in pools[host_name] if _grants(env, rule, p)]
            pool_name, host = (granted or pools[host_name])[0]
            where = f"host '{host_name}' (host pool '{pool_name}')"
            if not (yield from _accepted(env, rule, pool_name, where, at)):
                return None
            hosts.append(host)
    customer = catalog.customers.get(instance.customer) if instance.customer else None
    outside = [h for h in hosts if customer is not None and h.residency != customer.residency]
    if customer is not None and outside:  # the data would leave the customer's residency
        names = ", ".join(f"{h.name} ({h.residency})" for h in outside)
        yield (
            (*at, kind),
            f"{what} has hosts outside the customer's residency '{customer.residency}': {names}",
            f"the customer's data stays in '{customer.residency}': name a pool or hosts there",
        )
        return None
    cidrs = []
    for host in hosts:
        cidr = _host_cidr(host)
        if cidr is None:
            yield (
                (*at, kind),
                f"host '{host.name}' has the address '{host.address}', which a NetworkPolicy "
                "cannot name",
                "give the host's IP address in its host pool",
            )
            return None
        cidrs.append(cidr)
    return Addresses(tuple(sorted(set(cidrs))), what)


def _network(name: str, cidrs: Sequence[str]) -> Addresses:
    """A named network as an end: its ranges, with the private ranges inside a wide one
    left out."""
    return Addresses(tuple(cidrs), f"network {name}", _private_within(cidrs))


def _private_within(cidrs: Sequence[str]) -> tuple[str, ...]:
    """The private ranges strictly inside a wide network (`0.0.0.0/0` for clients
    anywhere): excepted from its ipBlock, as for the internet, so that naming the world
    never names the pods and nodes inside the cluster. Each ipBlock gets those inside it
    (render/network.py); a block that is no wider than a private range it covers is an
    error instead (`_whole_private`)."""
    networks = [ipaddress.ip_network(c) for c in cidrs]
    return tuple(
        private
        for private in (*PRIVATE_RANGES, *_PRIVATE_V6)
        if any(_strictly_inside(ipaddress.ip_network(private), n) for n in networks)
    )


# the IPv6 forms of inside: unique-local, link-local, IPv4-mapped and NAT64 addresses
_PRIVATE_V6 = ("fc00::/7", "fe80::/10", "::ffff:0:0/96", "64:ff9b::/96")


def _strictly_inside(inner: Any, outer: Any) -> bool:
    return inner.version == outer.version and inner != outer and inner.subnet_of(outer)


def not_the_internet(catalog: Catalog, env: Environment) -> tuple[str, ...]:
    """What `internet_egress` leaves out: the private ranges, the clusters' internal
    networks outside them (pods on non-RFC1918 ranges), and the platform's own public
    ranges (networks, managed databases, pool hosts), which pods reach only where the
    environment grants it (`accepts`), never as "the internet"."""
    found = [ipaddress.ip_network(p) for p in PRIVATE_RANGES]
    named = [ipaddress.ip_network(c) for c in _platform_cidrs(env)]
    named += [ipaddress.ip_network(c) for cl in env.clusters for c in cl.internal_networks]
    for network in named:
        if network.version == 4 and not any(network.subnet_of(f) for f in found):  # type: ignore[arg-type]
            found.append(network)
    return tuple(str(n) for n in found)


def _platform_cidrs(env: Environment) -> list[str]:
    """The platform's named ranges: networks (but a wide one, such as clients anywhere),
    managed-database ranges and pool hosts with an IP address."""
    cidrs = [c for cidrs in env.networks.values() if not _private_within(cidrs) for c in cidrs]
    cidrs += [c for db in env.databases.values() for cs in db.networks.values() for c in cs]
    cidrs += [c for hosts in env.host_pools.values() for h in hosts if (c := _host_cidr(h))]
    return sorted(set(cidrs))


def declared_networks(catalog: Catalog, env: Environment) -> list[Any]:
    """Every address range inside the private ranges that the environment's catalog
    names for NetworkPolicies: its networks, managed-database ranges and hosts (pools
    and customers' own). An ipBlock inside the private ranges is declared if it lies
    within one of these; a wide network (`0.0.0.0/0`) declares none of the inside."""
    found: set[Any] = set()
    for cidrs in env.networks.values():
        found.update(ipaddress.ip_network(c) for c in cidrs)
    for database in env.databases.values():
        for cidrs in database.networks.values():
            found.update(ipaddress.ip_network(c) for c in cidrs)
    hosts = [h for pool in env.host_pools.values() for h in pool]
    for customer in catalog.customers.values():
        placement = customer.environments.get(env.name)
        hosts += placement.hosts if placement else []
    for host in hosts:
        cidr = _host_cidr(host)
        if cidr is not None:
            found.add(ipaddress.ip_network(cidr))
    private = [ipaddress.ip_network(p) for p in PRIVATE_RANGES]
    inside = [n for n in found if any(n.version == p.version and n.subnet_of(p) for p in private)]
    return sorted(inside, key=lambda n: (n.version, n))


# never a peer of a NetworkPolicy rule: link-local addresses, where the nodes' own
# services are (the cloud metadata endpoint at 169.254.169.254 hands out node credentials)
_NEVER = tuple(map(ipaddress.ip_network, ("169.254.0.0/16", "fe80::/10")))
_PRIVATE = tuple(map(ipaddress.ip_network, (*PRIVATE_RANGES, "fc00::/7")))


def environment_problems(catalog: Catalog) -> list[Problem]:
    """What an environment declares for NetworkPolicies must be unambiguous and stay out
    of the cluster: `accepts` names a host pool, network or platform namespace (one
    name, one peer); `databases` ranges are keyed by a cluster or region; and no range
    the catalog names (networks, database ranges, hosts with an IP address, customers'
    included) covers a whole private range, overlaps a cluster's `internal_networks`
    or reaches the link-local range, other than through the private ranges a wide
    network leaves out (`0.0.0.0/0` for clients anywhere)."""
    problems: list[Problem] = []
    for env_name, env in sorted(catalog.environments.items()):
        source = catalog.source("environment", env_name)
        kinds: dict[str, list[str]] = {}
        for kind, names in (
            ("host_pools", env.host_pools),
            ("networks", env.networks),
            ("platform_namespaces", env.platform_namespaces),
        ):
            for name in names:
                kinds.setdefault(name, []).append(kind)
        for name, found in sorted(kinds.items()):
            if len(found) > 1:
                problems.append(
                    Problem(
                        source.locate(found[1], name),
                        f"'{name}' names both a {found[0]} entry and a {found[1]} entry",
                        "give each host pool, network and platform namespace its own name",
                    )
                )
        for field in ("namespace", "dashboards_namespace"):
            named = getattr(env.monitoring, field) if env.monitoring else None
            if named is not None and named not in env.platform_namespaces:
                problems.append(
                    Problem(
                        source.locate("monitoring", field),
                        f"monitoring.{field} '{named}' is no platform namespace of "
                        f"environment '{env_name}'",
                        "declare it under platform_namespaces (Prometheus's pods for the "
                        f"scrape); known: {', '.join(sorted(env.platform_namespaces)) or 'none'}",
                    )
                )
        for name in sorted(set(env.accepts) - set(kinds)):
            problems.append(
                Problem(
                    source.locate("accepts", name),
                    f"accepts names '{name}', which is no host pool, network or platform "
                    f"namespace of environment '{env_name}'",
                    f"known: {', '.join(sorted(kinds)) or 'none'}",
                )
            )
        places = {c.name for c in env.clusters} | {c.region for c in env.clusters}
        for engine, database in sorted(env.databases.items()):
            for key in sorted(set(database.networks) - places):
                problems.append(
                    Problem(
                        source.locate("databases", engine, "networks", key),
                        f"'{key}' is neither a cluster nor a region of environment '{env_name}'",
                        f"clusters and regions: {', '.join(sorted(places))}",
                    )
                )
        internal = [
            (cluster.name, ipaddress.ip_network(cidr))
            for cluster in env.clusters
            for cidr in cluster.internal_networks
        ]
        ranges: list[tuple[Location, str, Any, tuple[str, ...]]] = []
        for name, cidrs in sorted(env.networks.items()):
            excepted = _private_within(cidrs)  # as rendered: a wide network leaves them out
            ranges += [
                (
                    source.locate("networks", name, i),
                    f"network '{name}'",
                    ipaddress.ip_network(c),
                    excepted,
                )
                for i, c in enumerate(cidrs)
            ]
            problems += _whole_private(source.locate("networks", name), f"'{name}'", cidrs)
        for engine, database in sorted(env.databases.items()):
            for key, cidrs in sorted(database.networks.items()):
                ranges += [
                    (
                        source.locate("databases", engine, "networks", key, i),
                        f"the {engine} database range of '{key}'",
                        ipaddress.ip_network(c),
                        (),
                    )
                    for i, c in enumerate(cidrs)
                ]
                problems += _whole_private(
                    source.locate("databases", engine, "networks", key),
                    f"the {engine} database range of '{key}'",
                    cidrs,
                )
        for pool, hosts in sorted(env.host_pools.items()):
            for i, host in enumerate(hosts):
                if (cidr := _host_cidr(host)) is not None:
                    at = source.locate("host_pools", pool, i, "address")
                    what = f"host '{host.name}' of host pool '{pool}'"
                    ranges.append((at, what, ipaddress.ip_network(cidr), ()))
        # the platform's own ranges: a customer's host inside one would be a way to
        # the platform's machines that no grant (`accepts`) holds
        platform = [(what, network) for _, what, network, excepted in ranges if not excepted]
        for customer_name, customer in sorted(catalog.customers.items()):
            placement = customer.environments.get(env_name)
            for i, host in enumerate(placement.hosts if placement else []):
                if (cidr := _host_cidr(host)) is None:
                    continue
                at = catalog.source("customer", customer_name).locate(
                    "environments", env_name, "hosts", i, "address"
                )
                address = ipaddress.ip_network(cidr)
                ranges.append((at, f"host '{host.name}'", address, ()))
                for what, network in platform:
                    if address.version == network.version and address.subnet_of(network):
                        problems.append(
                            Problem(
                                at,
                                f"host '{host.name}' of customer '{customer_name}' is inside "
                                f"{what} ({network}), the platform's",
                                "a customer's hosts are its own machines; a rule to the "
                                "platform's ranges needs the environment's grant (accepts)",
                            )
                        )
        for at, what, network, excepted in ranges:
            left_out = [ipaddress.ip_network(e) for e in excepted]

            def reaches(inside: Any, network: Any = network, left_out: Any = left_out) -> bool:
                return (
                    inside.version == network.version
                    and network.overlaps(inside)
                    and not any(
                        inside.version == e.version and inside.subnet_of(e) for e in left_out
                    )
                )

            for never in _NEVER:
                if reaches(never):
                    problems.append(
                        Problem(
                            at,
                            f"{what} ({network}) reaches {never}, the link-local range where "
                            "the nodes' own services are (the cloud metadata endpoint)",
                            "a NetworkPolicy must never name these; give the range meant",
                        )
                    )
            for cluster, inside in internal:
                if reaches(inside):
                    problems.append(
                        Problem(
                            at,
                            f"{what} ({network}) overlaps {inside}, an internal network of "
                            f"cluster '{cluster}' (its pods, services or nodes)",
                            "a rule naming it would reach other tenants' pods or the nodes",
                        )
                    )
    return problems


def _whole_private(at: Location, name: str, cidrs: Sequence[str]) -> list[Problem]:
    """A network that covers a whole private range without being wider than it (the
    range itself, also beside the world, or its halves, or it merged with a neighbour)
    names every pod and node in it: no block of it excepts the range. One block wider
    than it (the world) excepts it (`_private_within`)."""
    blocks = [ipaddress.ip_network(c) for c in cidrs]
    merged = list(ipaddress.collapse_addresses(b for b in blocks if b.version == 4))
    problems = []
    for cidr in PRIVATE_RANGES:
        private = ipaddress.ip_network(cidr)
        covered = any(private.subnet_of(m) for m in merged)  # type: ignore[arg-type]
        alone = private in blocks or not any(_strictly_inside(private, b) for b in blocks)
        if covered and alone:
            problems.append(
                Problem(
                    at,
                    f"{name} covers {private}, a whole private range, where the cluster's "
                    "pods and nodes live",
                    "name the subnet of the hosts meant (e.g. 10.8.0.0/16)",
                )
            )
    return problems
