"""In a customer namespace, no NetworkPolicy lets pods send traffic anywhere the catalog
does not declare: every egress rule, after patches and extra resources, is covered by
the rules gitopsc derives from the declared connections (catalog/reachability.py).

`network-reachability` evaluates the policies between the pods it can model; this one
reads the rules themselves, so it also sees what no modelled pod shows: egress to a
platform namespace without a known pod (argocd, the monitoring stack on a named port),
to a platform network or host beyond what the environment grants (`accepts`), to the
rest of kube-system than DNS, or from pods of a Job or CronJob. A customer declares
reachability in the catalog (`network:`), where the environment's grants hold; a patch
or extra NetworkPolicy may narrow what is derived, never widen it. Each rule is split
into atoms (the pods it selects, one peer, one port) and each atom must lie within a
derived one: the same pod selector (or a narrower one), the same peer (a narrower
selector, or an ipBlock inside a derived block and outside its excepts) and the same
port (or one inside a derived range; a rule without ports only where the derived one
has none).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator, Mapping
from typing import Any

from compiler.check.builtins.base import (
    Builtin,
    EnvironmentInput,
    about,
    as_list,
    as_mapping,
    producer,
)
from compiler.check.findings import Finding
from compiler.render import derived_network_policies

_Atom = tuple[Any, Any, Any]  # pods selected, peer, port: canonical forms


def check(run: EnvironmentInput) -> Iterator[Finding]:
    catalog = run.catalog
    env = catalog.environments[run.env]
    touched = {
        i.namespace
        for i in run.instances
        if i.customer is not None and _may_widen(i.settings.patches, i.settings.extra_resources)
    }
    if not touched:
        return  # derived policies alone: nothing beyond the declared model to find
    by_cluster: dict[str, list[Any]] = {}
    for file in run.files:
        parts = file.path.split("/")
        data = file.data
        if (
            len(parts) >= 4
            and parts[1] == "kubernetes"
            and isinstance(data, dict)
            and data.get("kind") == "NetworkPolicy"
            and as_mapping(data.get("metadata")).get("namespace") in touched
        ):
            by_cluster.setdefault(parts[2], []).append(file)
    for cluster, files in sorted(by_cluster.items()):
        derived = derived_network_policies(catalog, env, run.instances, run.connections, cluster)
        allowed: dict[str, list[_Atom]] = {}
        for namespace in touched:
            allowed[namespace] = [
                atom for policy in derived.get(namespace, []) for atom in _atoms(policy)
            ]
        for file in files:
            namespace = file.data["metadata"]["namespace"]
            labels = _namespace_customer(run, namespace)
            if labels is None:
                continue
            beyond = [atom for atom in _atoms(file.data) if not _covered(atom, allowed[namespace])]
            if not beyond:
                continue
            instance = run.owner(file)
            at = (
                producer(run, instance, file)
                if instance
                else catalog.source("customer", labels).locate()
            )
            name = as_mapping(file.data.get("metadata")).get("name")
            shown = "; ".join(_describe(atom) for atom in beyond[:5])
            more = f" and {len(beyond) - 5} more" if len(beyond) > 5 else ""
            subject = about(instance) if instance else {"environment": run.env, "customer": labels}
            yield BUILTIN.finding(
                f"NetworkPolicy {namespace}/{name} on cluster {cluster} lets pods send beyond "
                f"what the catalog declares: {shown}{more}",
                at,
                key=f"{cluster}/{namespace}/{name}",
                rendered=file.path,
                **subject,
            )


def _may_widen(patches: Any, extras: Any) -> bool:
    """Only a patch on a NetworkPolicy or an extra NetworkPolicy can add egress."""
    return any(p.target.kind == "NetworkPolicy" for p in patches or []) or any(
        isinstance(raw, dict) and raw.get("kind") == "NetworkPolicy" for raw in extras or []
    )


def _namespace_customer(run: EnvironmentInput, namespace: str) -> str | None:
    customer = run.catalog.customers.get(namespace)
    return customer.name if customer is not None else None


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _atoms(policy: Mapping[str, Any]) -> Iterator[_Atom]:
    """(pods, peer, port) for every egress peer and port of a policy that isolates
    egress; a rule without `to` is the peer `*`, one without ports the port `*`."""
    spec = as_mapping(policy.get("spec"))
    types = as_list(spec.get("policyTypes"))
    if "Egress" not in types and not (not types and spec.get("egress")):
        return
    pods = as_mapping(spec.get("podSelector"))
    for rule in map(as_mapping, as_list(spec.get("egress"))):
        peers = as_list(rule.get("to")) or ["*"]
        ports = as_list(rule.get("ports")) or ["*"]
        for peer in peers:
            for port in ports:
                yield pods, peer, port


def _covered(atom: _Atom, allowed: list[_Atom]) -> bool:
    pods, peer, port = atom
    return any(
        _narrower_selector(pods, a_pods)
        and _peer_within(peer, a_peer)
        and _port_within(port, a_port)
        for a_pods, a_peer, a_port in allowed
    )


def _narrower_selector(selector: Any, derived: Any) -> bool:
    """`selector` selects no pod that `derived` does not: the same, or matchLabels that
    add to the derived ones with the same expressions."""
    if _canonical(selector) == _canonical(derived):
        return True
    if not isinstance(selector, dict) or not isinstance(derived, dict):
        return False
    mine, theirs = as_mapping(selector.get("matchLabels")), as_mapping(derived.get("matchLabels"))
    same_expressions = _canonical(selector.get("matchExpressions") or []) == _canonical(
        derived.get("matchExpressions") or []
    )
    return same_expressions and all(mine.get(k) == v for k, v in theirs.items())


def _peer_within(peer: Any, derived: Any) -> bool:
    if peer == "*" or derived == "*":
        return peer == derived
    peer, derived = as_mapping(peer), as_mapping(derived)
    if "ipBlock" in peer or "ipBlock" in derived:
        return (
            "ipBlock" in peer
            and "ipBlock" in derived
            and _block_within(as_mapping(peer["ipBlock"]), as_mapping(derived["ipBlock"]))
        )
    if _canonical(peer.get("namespaceSelector")) != _canonical(derived.get("namespaceSelector")):
        return False
    return _narrower_selector(peer.get("podSelector", {}), derived.get("podSelector", {}))


def _block_within(block: Mapping[str, Any], derived: Mapping[str, Any]) -> bool:
    """Every address of `block` (minus its excepts) is in `derived` (minus its excepts)."""
    try:
        mine = ipaddress.ip_network(str(block.get("cidr")), strict=False)
        outer = ipaddress.ip_network(str(derived.get("cidr")), strict=False)
        mine_out = [
            ipaddress.ip_network(str(c), strict=False) for c in as_list(block.get("except"))
        ]
        theirs_out = [
            ipaddress.ip_network(str(c), strict=False) for c in as_list(derived.get("except"))
        ]
    except ValueError:
        return False
    if mine.version != outer.version or not mine.subnet_of(outer):  # type: ignore[arg-type]
        return False
    # each range the derived block leaves out is left out of this one too, or outside it
    return all(
        not out.overlaps(mine)  # type: ignore[arg-type]
        or any(
            e.version == out.version and out.subnet_of(e)  # type: ignore[arg-type]
            for e in mine_out
        )
        for out in theirs_out
    )


def _port_within(port: Any, derived: Any) -> bool:
    if derived == "*":
        return True
    if port == "*":
        return False
    port, derived = as_mapping(port), as_mapping(derived)
    if (port.get("protocol") or "TCP") != (derived.get("protocol") or "TCP"):
        return False
    mine, theirs = port.get("port"), derived.get("port")
    if theirs is None:
        return True  # every port of the protocol
    if isinstance(theirs, str) or isinstance(mine, str):
        return mine == theirs and port.get("endPort") is None
    if not isinstance(mine, int):
        return False
    end, derived_end = port.get("endPort") or mine, derived.get("endPort") or theirs
    return isinstance(end, int) and theirs <= mine and end <= derived_end


def _describe(atom: _Atom) -> str:
    _, peer, port = atom
    if peer == "*":
        where = "every destination"
    elif "ipBlock" in as_mapping(peer):
        where = f"ipBlock {as_mapping(peer['ipBlock']).get('cidr')}"
    else:
        namespace = as_mapping(as_mapping(peer).get("namespaceSelector")).get("matchLabels")
        where = f"pods {_canonical(as_mapping(peer).get('podSelector', {}))}" + (
            f" in namespaces {_canonical(namespace)}" if namespace else ""
        )
    if port == "*":
        return f"{where}, every port"
    port = as_mapping(port)
    end = f"-{port['endPort']}" if port.get("endPort") else ""
    return f"{where}, {port.get('protocol') or 'TCP'}/{port.get('port', 'every port')}{end}"


BUILTIN = Builtin(
    "declared-egress",
    "NetworkPolicy egress in customer namespaces stays within what the catalog declares",
    "critical",
    "declare the connection in the catalog (network.dependencies, network.egress with a "
    "port the environment accepts), not by patching a NetworkPolicy or adding one",
    "environment",
    check,
    __doc__,
)
