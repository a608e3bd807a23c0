"""The rendered NetworkPolicies allow every path the catalog declares (each connection
of catalog/reachability.py: a dependency on the ports it uses, a call back, the ingress
controller, the managed database, the internet, replicas, the named egress and ingress
rules; and DNS), and no path from a customer's pods to another customer's, the
platform's or a system namespace's pods that nothing declares.

The renderer derives each allow-rule from the same connections, but what a cluster
enforces is the union of every policy after patches and extra resources: a patch that
renames a port or drops a peer silently breaks a service on its first request, and an
extra policy admitting another customer's namespace, with that customer opening its
egress, joins two tenants. Both are only visible when the policies are evaluated as the
network plugin does (check/netpol.py), on the rendered objects of each cluster. The
pods are those of the workloads rendered (each instance's Deployment, StatefulSet,
DaemonSet, Job or CronJob, and ReplicaSets or Pods from extra resources), plus the
add-ons its policies name (the ingress controller, cluster DNS, a pod of each platform
namespace);
a policy the API server would refuse is reported on its own. An address
range is tried at one address in it (a public one for the internet). A closed path
points at the patch or extra resource that narrowed it, else the line that declares it,
and an open one at the policy that opens it. ipBlocks over the pod ranges are
`namespace-network-policy`'s.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

from compiler.catalog import (
    INTERNET,
    PLATFORM_NAMESPACE,
    Addresses,
    Environment,
    Instance,
    Pods,
    ingress_controller,
)
from compiler.check import netpol, result_cache
from compiler.check.builtins.base import (
    Builtin,
    EnvironmentInput,
    about,
    as_list,
    as_mapping,
    producer,
)
from compiler.check.findings import Finding
from compiler.check.netpol import (
    NAME_LABEL,
    PROTOCOLS,
    Cluster,
    External,
    InvalidPolicy,
    Pod,
    Verdict,
    label_selector,
)
from compiler.check.subjects import enabled_at
from compiler.errors import Location
from compiler.render import CUSTOMER_LABEL, OutputFile

# what gitopsc renders for an instance (catalog/workloads.py), and every kind whose pods
# policies select, an extra resource's included
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
POD_KINDS = (*WORKLOADS, "ReplicaSet", "Pod")
DNS = ("kube-system", "coredns")


def workload_pod(data: Mapping[str, Any]) -> Pod:
    """A workload's pods as policies see them: namespace, pod template labels (a
    CronJob's in its job template) and named container ports (what a policy's
    `port: http` resolves against).
    Read through as_mapping: a patch may have broken any field."""
    metadata = as_mapping(data.get("metadata"))
    spec = as_mapping(data.get("spec"))
    if data.get("kind") == "CronJob":
        spec = as_mapping(as_mapping(spec.get("jobTemplate")).get("spec"))
    template = data if data.get("kind") == "Pod" else as_mapping(spec.get("template"))
    labels = as_mapping(as_mapping(template.get("metadata")).get("labels"))
    ports = {
        port["name"]: (port["containerPort"], port.get("protocol") or "TCP")
        for container in map(
            as_mapping, as_list(as_mapping(template.get("spec")).get("containers"))
        )
        for port in map(as_mapping, as_list(container.get("ports")))
        if isinstance(port.get("name"), str)
        and type(port.get("containerPort")) is int
        and 1 <= port["containerPort"] <= 65535
        and (port.get("protocol") or "TCP") in PROTOCOLS
    }
    return Pod(
        str(metadata.get("name")),
        str(metadata.get("namespace")),
        {k: v for k, v in labels.items() if isinstance(v, str)},
        None,
        ports,
    )


def addon_pods(ingress_namespace: str, env: Environment | None = None) -> list[Pod]:
    """What every cluster runs that gitopsc's policies name but does not render, labelled
    as the stock manifests label it: the ingress controller and cluster DNS, and a pod
    of each platform namespace the environment declares, with the labels it narrows to
    (else the namespace's name as `app.kubernetes.io/name`)."""
    platform = [
        Pod(
            name,
            name,
            dict(declared.pods) or {"app.kubernetes.io/name": name},
            None,
            {},
        )
        for name, declared in sorted((env.platform_namespaces if env else {}).items())
    ]
    return [
        *platform,
        Pod(
            "controller",
            ingress_namespace,
            {"app.kubernetes.io/name": "ingress-nginx"},
            None,
            {"http": (80, "TCP"), "https": (443, "TCP")},
        ),
        Pod(
            DNS[1],
            DNS[0],
            {"k8s-app": "kube-dns"},
            None,
            {"dns": (53, "UDP"), "dns-tcp": (53, "TCP")},
        ),
    ]


@dataclass
class Inventory:
    """One cluster's objects as the evaluator needs them: policies by `namespace/name`,
    namespaces with their labels, pods by `namespace/name` (one per workload)."""

    policies: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    namespaces: dict[str, Mapping[str, str]] = field(default_factory=dict)
    pods: dict[str, Pod] = field(default_factory=dict)


def inventory(
    objects: Iterable[Any], ingress_namespace: str = "ingress-nginx", env: Environment | None = None
) -> Inventory:
    """The policies, namespaces and pods of one cluster's rendered objects, with the
    add-on pods (addon_pods) and their namespaces."""
    found = Inventory()
    for pod in addon_pods(ingress_namespace, env):
        found.pods[str(pod)] = pod
        found.namespaces[pod.namespace] = {}
    for data in objects:
        if not isinstance(data, dict):
            continue
        kind, metadata = data.get("kind"), as_mapping(data.get("metadata"))
        ref = f"{metadata.get('namespace')}/{metadata.get('name')}"
        if kind == "NetworkPolicy":
            found.policies[ref] = data
        elif kind == "Namespace" and isinstance(metadata.get("name"), str):
            labels = as_mapping(metadata.get("labels"))
            found.namespaces[metadata["name"]] = {
                k: v for k, v in labels.items() if isinstance(v, str)
            }
        elif kind in POD_KINDS:
            found.pods[ref] = workload_pod(data)
    return found


def cluster_of(
    policies: Mapping[str, Mapping[str, Any]], namespaces: Mapping[str, Mapping[str, str]]
) -> tuple[Cluster, dict[str, Mapping[str, Any]]]:
    """The evaluator over the policies the API server would accept, and those policies: one
    it refuses never reaches the cluster (the check reports it, `_refused`), so it opens
    and closes nothing here."""
    valid = dict(policies)
    try:
        return Cluster(valid.values(), namespaces), valid
    except (InvalidPolicy, AttributeError, TypeError, ValueError):
        for ref, policy in policies.items():
            try:
                Cluster([policy])
            except (InvalidPolicy, AttributeError, TypeError, ValueError):
                del valid[ref]
        return Cluster(valid.values(), namespaces), valid


@dataclass(frozen=True)
class _Path:
    source: str  # pod keys, namespace/name
    destination: str
    port: int
    protocol: str
    what: str
    declared_at: Callable[[], Location]  # where the catalog declares it, found when needed
    sides: tuple[Instance | None, Instance | None]  # whose egress, whose ingress
    port_name: str = ""
    names: tuple[str, str] = ("", "")  # what each end is, for people
    policies: tuple[str | None, str | None] = (None, None)  # the policy of each side


@dataclass(frozen=True)
class NetworkPath:
    """One path to or from an instance as the rendered policies decide it, for `gitopsc
    explain --network`: computed here, with the check's own evaluation, so that what the
    command shows is what the check judges. `direction` is `in` or `out` from the
    instance's side; `peer` an instance id, `ingress controller`, `cluster DNS` or, for
    a pod gitopsc does not trace to one instance, `namespace/name`. `declared_at` is the
    catalog line that declares the path (None: undeclared); `narrowed_at` the patch or
    extra resource that may have closed it (only for a closed path)."""

    cluster: str
    direction: str
    peer: str
    port: int
    protocol: str
    port_name: str
    declared: bool
    declared_at: Location | None
    narrowed_at: Location | None
    verdict: Verdict

    @property
    def rules(self) -> tuple[str, ...]:
        """The rules that admit the path, egress side first (empty: nothing isolates)."""
        return tuple(
            str(r) for r in (*self.verdict.egress.admitted_by, *self.verdict.ingress.admitted_by)
        )


@dataclass
class _Evaluated:
    """One cluster's declared paths with their verdicts and the open, undeclared paths
    across tenants: what the check reports and what `instance_paths` shows."""

    declared: list[tuple[_Path, Verdict]]
    opened: dict[tuple[str, str], list[tuple[int, str, Verdict]]]
    refused: list[str]
    by_ref: dict[tuple[Any, str], OutputFile]
    tenants: dict[str, str]


def _by_cluster(run: EnvironmentInput) -> dict[str, list[OutputFile]]:
    by_cluster: dict[str, list[OutputFile]] = {}
    for file in run.files:
        parts = file.path.split("/")
        if len(parts) >= 4 and parts[1] == "kubernetes" and isinstance(file.data, dict):
            by_cluster.setdefault(parts[2], []).append(file)
    return dict(sorted(by_cluster.items()))


def check(run: EnvironmentInput) -> Iterator[Finding]:
    for cluster, files in _by_cluster(run).items():
        found = _evaluate(run, _controller_namespace(run, cluster), cluster, files, remember=True)
        if found is None:
            continue  # the result cache knows this cluster's policies leave nothing to report
        for path, verdict in found.declared:
            if not verdict.allowed:
                yield _closed(run, cluster, path, verdict, found.refused)
        for (source, destination), open_ports in sorted(found.opened.items()):
            yield _open(run, cluster, source, destination, open_ports, found.by_ref, found.tenants)
        for ref in found.refused:
            yield _refused(run, cluster, ref, found.by_ref)


def _refused(
    run: EnvironmentInput, cluster: str, ref: str, by_ref: Mapping[tuple[Any, str], OutputFile]
) -> Finding:
    """A NetworkPolicy the API server refuses: the sync fails, and until it does every
    path the policy was meant to open stays closed (or, replacing an older version, the
    older rules stay)."""
    file = by_ref[("NetworkPolicy", ref)]
    try:
        Cluster([file.data])
        reason = "it is malformed"
    except (InvalidPolicy, AttributeError, TypeError, ValueError) as error:
        reason = str(error)
    instance = run.owner(file)
    namespace = ref.split("/")[0]
    customer = run.catalog.customers.get(namespace)
    if instance is not None:
        at, subject = producer(run, instance, file), about(instance)
    else:
        at = run.catalog.source(
            "customer" if customer else "environment", customer.name if customer else run.env
        ).locate()
        subject = {"environment": run.env, **({"customer": customer.name} if customer else {})}
    return BUILTIN.finding(
        f"NetworkPolicy {ref} on cluster {cluster} would be refused by the API server "
        f"({reason}): ArgoCD cannot sync it, and the paths it opens stay closed",
        at,
        key=f"{cluster}/{ref}/refused",
        rendered=file.path,
        remediation="fix or remove the patch or extra resource that makes the policy invalid "
        "(an except outside its cidr, a peer without selectors, endPort on a named port)",
        **subject,
    )


def _controller_namespace(run: EnvironmentInput, cluster: str) -> str:
    """Where `cluster`'s ingress controller runs (its own, OpenShift's router, or the
    environment's): the namespace of its add-on pod."""
    env = run.catalog.environments[run.env]
    model = next((c for c in env.clusters if c.name == cluster), None)
    return ingress_controller(env, model).namespace if model else env.ingress_controller.namespace


def instance_paths(run: EnvironmentInput, instance: Instance) -> list[NetworkPath]:
    """Every declared path to and from `instance` (its dependencies, its dependents, the
    ingress controller, DNS) with the verdict of the rendered policies, then every open,
    undeclared path to or from it that the check reports; on each cluster it runs on.
    Empty for an instance without pods (a VM service)."""
    paths: list[NetworkPath] = []
    mine = f"{instance.namespace}/{instance.service}"
    for cluster, files in _by_cluster(run).items():
        ingress_namespace = _controller_namespace(run, cluster)
        if cluster not in instance.clusters:
            continue
        found = _evaluate(run, ingress_namespace, cluster, files)
        for path, verdict in found.declared:
            out = path.sides[0] is not None and path.sides[0].id == instance.id
            if not out and not (path.sides[1] is not None and path.sides[1].id == instance.id):
                continue
            peer = path.names[1] if out else path.names[0]
            paths.append(
                NetworkPath(
                    cluster=cluster,
                    direction="out" if out else "in",
                    peer=peer,
                    port=path.port,
                    protocol=path.protocol,
                    port_name=path.port_name,
                    declared=True,
                    declared_at=path.declared_at(),
                    narrowed_at=None if verdict.allowed else _narrowing(path, verdict),
                    verdict=verdict,
                )
            )
        for (source, destination), open_ports in sorted(found.opened.items()):
            if mine not in (source, destination):
                continue
            other_pod = destination if source == mine else source
            file = next(
                (found.by_ref[(k, other_pod)] for k in WORKLOADS if (k, other_pod) in found.by_ref),
                None,
            )
            owner = run.owner(file) if file else None
            for port, protocol, verdict in open_ports:
                paths.append(
                    NetworkPath(
                        cluster=cluster,
                        direction="out" if source == mine else "in",
                        peer=owner.id if owner else other_pod,
                        port=port,
                        protocol=protocol,
                        port_name="",
                        declared=False,
                        declared_at=None,
                        narrowed_at=None,
                        verdict=verdict,
                    )
                )
    return paths


@overload
def _evaluate(
    run: EnvironmentInput, ingress_namespace: str, cluster: str, files: list[OutputFile]
) -> _Evaluated: ...


@overload
def _evaluate(
    run: EnvironmentInput,
    ingress_namespace: str,
    cluster: str,
    files: list[OutputFile],
    remember: bool,
) -> _Evaluated | None: ...


def _evaluate(
    run: EnvironmentInput,
    ingress_namespace: str,
    cluster: str,
    files: list[OutputFile],
    remember: bool = False,
) -> _Evaluated | None:
    """One cluster's declared paths judged, and its open paths across tenants found.

    With `remember`, None when the result cache holds that this very evaluation found
    nothing (`_clean_key`); a result that finds nothing is kept. Only "nothing" is
    kept: a finding's place in the catalog and its subject depend on this run's catalog,
    so a cluster with something to report is evaluated every time."""
    env = run.catalog.environments[run.env]
    found = inventory((f.data for f in files), ingress_namespace, env)
    by_ref = {
        (
            f.data.get("kind"),
            f"{as_mapping(f.data.get('metadata')).get('namespace')}/"
            f"{as_mapping(f.data.get('metadata')).get('name')}",
        ): f
        for f in files
    }
    endpoints: dict[str, Pod | External] = dict(found.pods)
    verdicts: dict[tuple[str, str, int, str], Verdict] = {}

    def allowed(source: str, destination: str, port: int, protocol: str) -> Verdict:
        key = (source, destination, port, protocol)
        if key not in verdicts:
            verdicts[key] = net.allowed(endpoints[source], endpoints[destination], port, protocol)
        return verdicts[key]

    paths = list(_declared(run, env, cluster, found.pods, by_ref, endpoints))
    tenants = _tenants(run, found.namespaces)
    key = _clean_key(cluster, found, endpoints, paths, tenants) if remember else None
    if key is not None and result_cache.read("reachability", key) is True:
        return None
    net, valid = cluster_of(found.policies, found.namespaces)
    refused = sorted(set(found.policies) - set(valid))
    found.policies = valid
    evaluated = [
        (path, allowed(path.source, path.destination, path.port, path.protocol)) for path in paths
    ]
    declared = {(p.source, p.destination, p.port, p.protocol) for p in paths}
    candidates: dict[tuple[str, str], set[tuple[int, str]]] = {}
    for source, destination, ports in _candidates(net, found, tenants):
        candidates.setdefault((source, destination), set()).update(ports)
    opened: dict[tuple[str, str], list[tuple[int, str, Verdict]]] = {}
    for (source, destination), ports in candidates.items():
        for port, protocol in sorted(ports):
            if (source, destination, port, protocol) in declared or (
                destination == "/".join(DNS) and port == 53
            ):
                continue  # DNS is declared for every pod, not only an instance's workload
            verdict = allowed(source, destination, port, protocol)
            if verdict.allowed:
                opened.setdefault((source, destination), []).append((port, protocol, verdict))
    clean = not opened and not refused and all(verdict.allowed for _, verdict in evaluated)
    if key is not None and clean:
        result_cache.write("reachability", key, True)
    return _Evaluated(evaluated, opened, refused, by_ref, tenants)


def _clean_key(
    cluster: str,
    found: Inventory,
    endpoints: Mapping[str, Pod | External],
    paths: list[_Path],
    tenants: Mapping[str, str],
) -> str | None:
    """The key of "nothing to report" for one cluster: everything the verdicts and the
    search for open paths read, and nothing else. The policies as rendered (which of
    them the API server refuses is decided from them), the namespaces' labels, every
    endpoint (pods with their labels and named ports, replicas, addresses), each
    declared path's ends and port, each namespace's tenant; and this code. A change that
    leaves all of these as they were (a customer's display name, an annotation, an
    image) keeps the key; None where the data is not plain (no caching)."""
    digest = result_cache.data_digest(
        cluster,
        sorted(found.policies.items()),
        sorted(found.namespaces.items()),
        sorted((key, *_endpoint(end)) for key, end in endpoints.items()),
        [(p.source, p.destination, p.port, p.protocol) for p in paths],
        sorted(tenants.items()),
    )
    if digest is None:
        return None
    return result_cache.content_key("reachability", [digest, _code()])


def _endpoint(end: Pod | External) -> tuple[Any, ...]:
    """An endpoint as plain data: its kind and every field (mappings as dicts)."""
    values = (getattr(end, name) for name in _FIELDS[type(end)])
    return (type(end).__name__, *(dict(v) if isinstance(v, Mapping) else v for v in values))


_FIELDS = {kind: [f.name for f in dataclasses.fields(kind)] for kind in (Pod, External)}


@functools.cache
def _code() -> bytes:
    """This check's code and the evaluator's: a change to either misses."""
    return b"".join(
        Path(module.__file__ or "").read_bytes() for module in (sys.modules[__name__], netpol)
    )


# a port to try where a connection admits every port (the internet)
ANY_PORT = (443, "TCP")
# addresses to stand for a range when its own first address is excepted (the internet
# without the private ranges): public resolvers, in both families
_STAND_INS = tuple(map(ipaddress.ip_address, ("1.1.1.1", "8.8.8.8", "2606:4700:4700::1111")))


def representatives(end: Addresses) -> list[str]:
    """One address per range of `end` that the range's rule must admit: its first
    usable address, else (excepted) a public stand-in inside it; for the whole address
    space (the internet, clients anywhere) a public stand-in first."""
    found = []
    excepted = [ipaddress.ip_network(c) for c in end.excepted]
    for cidr in end.cidrs:
        network = ipaddress.ip_network(cidr)
        first = network.network_address + (1 if network.num_addresses > 2 else 0)
        tried = (*_STAND_INS, first) if network.prefixlen == 0 else (first, *_STAND_INS)
        for address in tried:
            if address in network and not any(
                address.version == e.version and address in e for e in excepted
            ):
                found.append(str(address))
                break
    return found


def _replica(key: str, endpoints: dict[str, Pod | External]) -> str:
    """A second pod of the workload `key` (same labels and ports, another name): what a
    replica reaches, where the pod itself would be loopback, which no policy blocks."""
    pod = endpoints[key]
    assert isinstance(pod, Pod)
    replica = f"{key}#replica"
    endpoints[replica] = dataclasses.replace(pod, name=f"{pod.name}-replica")
    return replica


def _declared(
    run: EnvironmentInput,
    env: Environment,
    cluster: str,
    pods: Mapping[str, Pod],
    by_ref: Mapping[tuple[Any, str], OutputFile],
    endpoints: dict[str, Pod | External],
) -> Iterator[_Path]:
    """The paths the catalog declares on this cluster (catalog/reachability.py: the same
    connections the renderer turned into rules), between the pods of the workload each
    instance renders, the add-on pods and addresses outside the cluster; plus DNS for
    every instance's pods. Each port of a connection is a path (a range: both ends)."""
    catalog = run.catalog

    owned_pods = _own_workloads(run, cluster, pods, by_ref)

    def pod_of(instance: Instance) -> str | None:
        return owned_pods.get(instance.id)

    def keys(end: Pods | Addresses) -> list[str]:
        if isinstance(end, Addresses):
            addresses = representatives(end)
            endpoints.update({a: External(a) for a in addresses})
            return addresses
        if end.instance is not None:
            key = pod_of(end.instance)
            return [key] if key else []
        wanted = dict(end.labels)
        return [
            key
            for key in by_namespace.get(end.namespace, ())
            if all(pods[key].labels.get(k) == v for k, v in wanted.items())
        ][:1]

    def owner(end: Pods | Addresses) -> Instance | None:
        return end.instance if isinstance(end, Pods) else None

    by_namespace: dict[str, list[str]] = {}
    for key in sorted(pods):
        by_namespace.setdefault(pods[key].namespace, []).append(key)
    for connection in run.connections:
        if connection.cluster not in (None, cluster):
            continue
        sources, destinations = keys(connection.source), keys(connection.destination)
        if connection.source == connection.destination:  # replicas reaching each other:
            destinations = [_replica(key, endpoints) for key in destinations]  # not loopback
        if not sources or not destinations:
            continue  # not on this cluster, or no workload of its own to judge
        at = functools.partial(connection.location, catalog)
        sides = (owner(connection.source), owner(connection.destination))
        policy_names = tuple(
            f"{side.service}-{purpose}" if side is not None and purpose else None
            for side, purpose in zip(sides, connection.purposes, strict=True)
        )

        def name(end: Pods | Addresses, key: str) -> str:
            """What the end is, with the address tried for a range (not the internet's
            stand-in): a pool of several hosts has one path per host."""
            if isinstance(end, Addresses) and end.cidrs != (INTERNET,):
                return f"{end.what} ({key})"
            return end.what

        for port in connection.ports or (None,):
            numbers = (
                [ANY_PORT]
                if port is None
                else [(n, port.protocol) for n in {port.number, port.end or port.number}]
            )
            for number, protocol in sorted(numbers):
                label = port.name if port is not None and port.name else f"{protocol}/{number}"
                what = f"{connection.what} ({'any port' if port is None else label})"
                for source in sources:
                    for destination in destinations:
                        yield _Path(
                            source,
                            destination,
                            number,
                            protocol,
                            what,
                            at,
                            sides,
                            "any port" if port is None else port.name,
                            (
                                name(connection.source, source),
                                name(connection.destination, destination),
                            ),
                            policy_names,
                        )
    for instance in run.instances:
        source = pod_of(instance)
        if source is None:
            continue
        for protocol in ("UDP", "TCP"):
            what = f"{instance.id} resolves names (DNS)"
            at = functools.partial(enabled_at, catalog, instance)
            yield _Path(
                source,
                "/".join(DNS),
                53,
                protocol,
                what,
                at,
                (instance, None),
                "dns",
                (instance.id, "cluster DNS"),
            )


def _own_workloads(
    run: EnvironmentInput,
    cluster: str,
    pods: Mapping[str, Pod],
    by_ref: Mapping[tuple[Any, str], OutputFile],
) -> dict[str, str]:
    """Each instance's own workload on this cluster, as its pods' key: a workload in its
    namespace named after the service (a plain Job: with the digest of its content,
    render/hooks.py) and rendered for it alone."""
    found: dict[str, str] = {}
    for (kind, key), file in by_ref.items():
        instance = run.owner(file)
        if kind not in WORKLOADS or instance is None or key not in pods:
            continue
        namespace, _, name = key.partition("/")
        suffix = name.removeprefix(instance.service)
        if (
            namespace == instance.namespace
            and cluster in instance.clusters
            and name.startswith(instance.service)
            and (suffix == "" or (kind == "Job" and _JOB_DIGEST.fullmatch(suffix)))
        ):
            found.setdefault(instance.id, key)
    return found


_JOB_DIGEST = re.compile(r"-[0-9a-f]{10}")


def _closed(
    run: EnvironmentInput, cluster: str, path: _Path, verdict: Verdict, refused: list[str]
) -> Finding:
    """A declared path the policies close, located at the patch or extra resource of the
    closed side that touches its NetworkPolicy or workload, else at the declaring line;
    a policy of either side's namespace that the API server refuses is named, as it may
    be the rule that was meant to open the path."""
    ends = {path.source.split("/")[0], path.destination.split("/")[0]}
    ignored = [ref for ref in refused if ref.split("/")[0] in ends]
    note = f"; ignored, as the API server refuses them: {', '.join(ignored)}" if ignored else ""
    closed = _closed_sides(path, verdict)
    at = _narrowing(path, verdict) or path.declared_at()
    subject = next(iter(closed), None) or path.sides[0] or path.sides[1]
    return BUILTIN.finding(
        f"{path.what} on cluster {cluster}, but the NetworkPolicies close it: "
        f"{verdict.reason}{note}",
        at,
        key=f"{cluster}/{path.source}->{path.destination}/{path.protocol}/{path.port}",
        **about(subject),
    )


def _closed_sides(path: _Path, verdict: Verdict) -> list[Instance]:
    """The instances whose side (egress of the source, ingress of the destination) closes
    the path."""
    return [
        instance
        for instance, side in zip(path.sides, (verdict.egress, verdict.ingress), strict=True)
        if instance is not None and not side.allowed
    ]


def _narrowing(path: _Path, verdict: Verdict) -> Location | None:
    """The patch or extra resource of a closing side that may have closed the path."""
    policies = {
        side.id: policy
        for side, policy in zip(path.sides, path.policies, strict=True)
        if side is not None
    }
    return next(
        (
            loc
            for i in _closed_sides(path, verdict)
            if (loc := _narrowed_at(i, policies.get(i.id))) is not None
        ),
        None,
    )


def _narrowed_at(instance: Instance, policy: str | None = None) -> Location | None:
    """What can narrow a path on the instance's side: the patch aimed at the policy that
    carries its rule, else the first extra NetworkPolicy, else the first patch on a
    NetworkPolicy or a workload (its labels and ports are what policies select)."""
    for index, patch in enumerate(instance.settings.patches or []):
        if policy and patch.target.kind == "NetworkPolicy" and patch.target.name == policy:
            return instance.origin(("patches", index)).location
    for index, raw in enumerate(instance.settings.extra_resources or []):
        if isinstance(raw, dict) and raw.get("kind") == "NetworkPolicy":
            return instance.origin(("extra_resources", index)).location
    for index, patch in enumerate(instance.settings.patches or []):
        if patch.target.kind in ("NetworkPolicy", *WORKLOADS):
            return instance.origin(("patches", index)).location
    return None


def _tenants(run: EnvironmentInput, namespaces: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """Who owns each namespace: a customer (its Namespace carries the customer label),
    the platform, or the cluster itself (any other namespace: kube-system, the ingress
    controller's, ArgoCD's)."""
    tenants = {}
    for name, labels in namespaces.items():
        customer = labels.get(CUSTOMER_LABEL)
        if customer in run.catalog.customers and name != PLATFORM_NAMESPACE:
            tenants[name] = f"customer {customer}"
        else:
            tenants[name] = "platform" if name == PLATFORM_NAMESPACE else f"system {name}"
    return tenants


def _crosses(tenants: Mapping[str, str], source: Pod, destination: Pod) -> bool:
    """From a customer's pod to a pod that is not that customer's."""
    mine = tenants.get(source.namespace, "")
    return mine.startswith("customer ") and tenants.get(destination.namespace) != mine


def _candidates(
    net: Cluster, found: Inventory, tenants: Mapping[str, str]
) -> Iterator[tuple[str, str, set[tuple[int, str]]]]:
    """The pairs of pods across a tenant boundary that some rule could admit, with the
    ports to try: each rule's peers resolved to pods by namespace lookup (a scan only
    for selectors that do not name namespaces), never every pair of pods. Plus the pairs
    no policy isolates on either side."""
    by_namespace: dict[str, list[str]] = {}
    for key, pod in found.pods.items():
        by_namespace.setdefault(pod.namespace, []).append(key)
    namespaces = {name: {**labels, NAME_LABEL: name} for name, labels in found.namespaces.items()}

    def ports(destination: str, rule: Mapping[str, Any]) -> set[tuple[int, str]]:
        named = set(found.pods[destination].ports.values())
        for entry in map(as_mapping, as_list(rule.get("ports"))):
            if isinstance(entry.get("port"), int):
                named.add((entry["port"], entry.get("protocol") or "TCP"))
        return named

    for policy in found.policies.values():
        namespace = as_mapping(policy.get("metadata")).get("namespace")
        spec = as_mapping(policy.get("spec"))
        try:
            selects = label_selector(as_mapping(spec.get("podSelector")))
        except InvalidPolicy:
            continue
        subjects = [k for k in by_namespace.get(namespace, ()) if selects(found.pods[k].labels)]
        for direction, peers_key in (("ingress", "from"), ("egress", "to")):
            for rule in map(as_mapping, as_list(spec.get(direction))):
                for peer in _peer_pods(
                    rule.get(peers_key), namespace, namespaces, by_namespace, found
                ):
                    for subject in subjects:
                        source, destination = (
                            (peer, subject) if direction == "ingress" else (subject, peer)
                        )
                        if _crosses(tenants, found.pods[source], found.pods[destination]):
                            yield source, destination, ports(destination, rule)
    open_out = [k for k, p in found.pods.items() if not net.isolated_by(p, "egress")]
    open_in = [k for k, p in found.pods.items() if not net.isolated_by(p, "ingress")]
    for source in open_out:
        for destination in open_in:
            if _crosses(tenants, found.pods[source], found.pods[destination]):
                yield source, destination, ports(destination, {})


def _peer_pods(
    peers: Any,
    namespace: str,
    namespaces: Mapping[str, Mapping[str, str]],
    by_namespace: Mapping[str, list[str]],
    found: Inventory,
) -> Iterator[str]:
    """The pods a rule's `from`/`to` can admit (no peers: every pod). ipBlocks match no
    pod here: the pods have no addresses."""
    for peer in map(as_mapping, as_list(peers) or [{"namespaceSelector": {}}]):
        if "ipBlock" in peer:
            continue
        try:
            pods = label_selector(as_mapping(peer.get("podSelector")))
            selector = peer.get("namespaceSelector")
            if selector is None:
                names: Iterable[str] = [namespace]
            else:
                names = _named(as_mapping(selector))
                if names is None:
                    matches = label_selector(as_mapping(selector))
                    names = [n for n, labels in namespaces.items() if matches(labels)]
        except InvalidPolicy:
            continue
        for name in names:
            yield from (k for k in by_namespace.get(name, ()) if pods(found.pods[k].labels))


def _named(selector: Mapping[str, Any]) -> set[str] | None:
    """The namespaces a selector names by `kubernetes.io/metadata.name` (matchLabels or
    `In`), or None when it selects by anything else and needs a scan."""
    labels = as_mapping(selector.get("matchLabels"))
    expressions = list(map(as_mapping, as_list(selector.get("matchExpressions"))))
    if set(labels) - {NAME_LABEL} or not (labels or expressions):
        return None
    names: set[str] | None = {labels[NAME_LABEL]} if labels else None
    for expression in expressions:
        if expression.get("key") != NAME_LABEL or expression.get("operator") != "In":
            return None
        values = {str(v) for v in as_list(expression.get("values"))}
        names = values if names is None else names & values
    return names


def _open(
    run: EnvironmentInput,
    cluster: str,
    source: str,
    destination: str,
    open_ports: list[tuple[int, str, Verdict]],
    by_ref: Mapping[tuple[Any, str], OutputFile],
    tenants: Mapping[str, str],
) -> Finding:
    """An undeclared path across tenants, located at the policy that opens it: the
    destination's admitting policy first (it chose to let the traffic in), else the
    source's, else (nothing isolates either side) the source customer's file."""
    rules = sorted(
        {str(r) for _, _, v in open_ports for r in (*v.ingress.admitted_by, *v.egress.admitted_by)}
    )
    first = open_ports[0][2]
    opener = next(iter((*first.ingress.admitted_by, *first.egress.admitted_by)), None)
    file = by_ref.get(("NetworkPolicy", opener.policy)) if opener else None
    instance = run.owner(file) if file else None
    customer = tenants[source.split("/")[0]].removeprefix("customer ")
    if instance is not None:
        at, subject = producer(run, instance, file), about(instance)
    else:
        owner = tenants.get(file.data["metadata"]["namespace"], "") if file else ""
        name = owner.removeprefix("customer ") if owner.startswith("customer ") else customer
        at, subject = run.catalog.source("customer", name).locate(), {"customer": name}
        subject["environment"] = run.env
    ports = ", ".join(f"{protocol}/{port}" for port, protocol, _ in open_ports)
    opened_by = ", ".join(rules) or "no policy isolating either side"
    return BUILTIN.finding(
        f"{source} -> {destination} ({ports}) on cluster {cluster} crosses from "
        f"{tenants[source.split('/')[0]]} to {tenants[destination.split('/')[0]]}, and nothing "
        f"in the catalog declares it; opened by {opened_by}",
        at,
        key=f"{cluster}/{source}->{destination}",
        rendered=file.path if file else None,
        **subject,
    )


BUILTIN = Builtin(
    "network-reachability",
    "The NetworkPolicies allow what the catalog declares, and no path across tenants",
    "critical",
    "open a declared path in the catalog (depends_on, ingress), not by patching its "
    "NetworkPolicy; remove the patch or extra resource that admits another tenant's pods",
    "environment",
    check,
    __doc__,
)
