"""Each customer's share of the files an environment's customers have in common, as
plain data (issue 17).

Most of an environment's files are one customer's (its namespace's folder, its
Applications: a unit, pipeline/units.py), but some are made from every customer's
instances: the tfvars, the inventory and Hiera nodes, the edges' routing tables (and
the edges' connections that follow them), the dashboards, the probes, the platform's
NetworkPolicies (a customer's service that uses a platform service is admitted by
the platform's policy), the platform's project, the namespaces' kustomization and the
realms. render_environment makes those in two steps: what each customer gives them
(its `Share`, this module), then the files from every share. So a recompile that
keeps a customer whole (its key unchanged: its own file and every input no customer
owns; its units on disk as left) need not resolve it at all: its share is taken as
the last compile recorded it (pipeline/units.py), and the files come out the same,
byte for byte, as from a compile that resolved every customer (tested: the
random-edit property test, `diff -r` at 1,000 customers).

A share holds only what the shared files read, in the order they read it. What the
shared files check across customers (two Terraform keys alike, two hosts' settings
that must agree) needs no more: a kept customer's values are the ones the last
compile passed, so a problem involves a rendered customer, and the whole environment
is then rendered again to word it as a full compile does (`KeptRendered`).

A share is plain data (str, int, float, bool, None, tuples, lists, dicts of those), so
that it is stored in marshal's format and never executes anything when read. A
customer whose share holds anything else is never kept (`plain` refuses it).
"""

from __future__ import annotations

import hashlib
import marshal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from compiler.catalog import (
    Addresses,
    Catalog,
    Connection,
    Customer,
    Environment,
    Instance,
    PathPort,
    Pods,
    Routable,
    Unsafe,
    Verbatim,
    probing_cluster,
    routable,
)
from compiler.render import ansible, mail_tls, monitoring, terraform


class Member(NamedTuple):
    """An instance as the per-cluster and per-host lists see it."""

    id: str
    service: str
    namespace: str | None
    clusters: tuple[str, ...]
    hosts: tuple[str, ...]  # the names of its VM hosts
    sources: tuple[str, ...]  # its catalog files (render `sources_of`)


class Probed(NamedTuple):
    """A VM instance's probe objects (render/monitoring.py `probe_objects`) and the
    cluster that probes it."""

    cluster: str
    id: str
    objects: tuple[dict[str, Any], ...]


class Side(NamedTuple):
    """A connection one of the customer's instances declares to or from a platform
    instance (`instance`), which carries a rule for it (render/network.py)."""

    instance: str
    direction: str
    connection: tuple[Any, ...]  # `_plain_connection`


@dataclass(frozen=True)
class Share:
    """What one customer's instances (or the platform's) give an environment's shared
    files; `kept`: taken from the last compile, not made from instances now."""

    members: tuple[Member, ...] = ()
    tfvars: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # table -> key -> entry
    routable: tuple[Routable, ...] = ()
    dashboards: tuple[monitoring.Shown, ...] = ()
    probes: tuple[Probed, ...] = ()
    vms: tuple[ansible.VmEntry, ...] = ()
    tls: tuple[mail_tls.TlsEntry, ...] = ()
    sides: tuple[Side, ...] = ()
    kept: bool = False


def share_of(
    catalog: Catalog,
    env: Environment,
    instances: Sequence[Instance],
    sources: Mapping[str, tuple[str, ...]],
    declared: Mapping[str, Sequence[tuple[str, str, Connection]]],
) -> Share:
    """The share of `instances` (one customer's, or the platform's, in id order);
    `declared`: the sides each instance declares for others (`declared_sides`)."""
    own = {instance.id for instance in instances}
    clusters = {cluster.name: cluster.provider or env.provider for cluster in env.clusters}
    tables: dict[str, dict[str, Any]] = {}
    for instance in instances:
        for table, entries in terraform.entries_of(env, instance, catalog.customers, clusters):
            tables.setdefault(table, {}).update(entries)
    probes = []
    for instance in instances:
        if instance.clusters or not instance.hosts or instance.settings.monitoring is None:
            continue
        probing = probing_cluster(env, instance)
        if probing is None or env.monitoring is None or env.monitoring.blackbox is None:
            continue
        team = catalog.teams.get(catalog.services[instance.service].owner)
        objects = monitoring.probe_objects(instance, env, team)
        probes.append(Probed(probing.name, instance.id, tuple(objects)))
    return Share(
        members=tuple(
            Member(
                i.id,
                i.service,
                i.namespace,
                i.clusters,
                tuple(host.name for host in i.hosts),
                sources[i.id],
            )
            for i in instances
        ),
        tfvars=tables,
        routable=tuple(filter(None, map(routable, instances))),
        dashboards=tuple(filter(None, (monitoring.shown(i) for i in instances))),
        probes=tuple(probes),
        vms=tuple(ansible.vm_entry(env, i) for i in instances if i.hosts),
        tls=tuple(filter(None, (mail_tls.tls_entry(i, catalog.customers) for i in instances))),
        sides=tuple(
            Side(end, direction, _plain_connection(connection))
            for instance in instances
            for end, direction, connection in declared.get(instance.id, ())
            if end not in own
        ),
    )


def declared_sides(
    sides: Mapping[str, Sequence[tuple[str, Connection]]],
) -> dict[str, list[tuple[str, str, Connection]]]:
    """For each instance id, the (side's instance id, direction, connection) of every
    connection it declares whose side is another instance's: what that instance's
    NetworkPolicies take from it (`sides`: render/network.py `sides_by_instance`, each
    instance's in the order its policies take them)."""
    found: dict[str, list[tuple[str, str, Connection]]] = {}
    for end, carried in sides.items():
        for direction, connection in carried:
            declarer = connection.declared_by.id
            if declarer != end:
                found.setdefault(declarer, []).append((end, direction, connection))
    return found


@dataclass(frozen=True)
class _Peer:
    """A kept customer's instance as a rebuilt connection names it: its id and clusters
    (render/network.py `policies` reads no more)."""

    id: str
    clusters: tuple[str, ...] = ()


def _plain_end(end: Pods | Addresses) -> tuple[Any, ...]:
    instance = end.instance
    ref = (instance.id, tuple(instance.clusters)) if instance is not None else None
    if isinstance(end, Pods):
        return ("pods", end.namespace, end.labels, end.what, ref)
    return ("addresses", end.cidrs, end.what, end.excepted, ref)


def _plain_connection(connection: Connection) -> tuple[Any, ...]:
    return (
        _plain_end(connection.source),
        _plain_end(connection.destination),
        tuple((p.number, p.protocol, p.name, p.end) for p in connection.ports),
        connection.purposes,
        connection.what,
        connection.declared_by.id,
        tuple(connection.path),
        connection.cluster,
    )


def connection_of(data: tuple[Any, ...], by_id: Mapping[str, Instance]) -> Connection:
    """A connection from its plain data: its ends' instances are this compile's where
    it has them (the platform's), else stand-ins with their id and clusters."""

    def instance(ref: Any) -> Any:
        if ref is None:
            return None
        return by_id.get(ref[0]) or _Peer(ref[0], tuple(ref[1]))

    def end(plain: tuple[Any, ...]) -> Pods | Addresses:
        if plain[0] == "pods":
            return Pods(plain[1], tuple(map(tuple, plain[2])), plain[3], instance(plain[4]))
        return Addresses(tuple(plain[1]), plain[2], tuple(plain[3]), instance(plain[4]))

    source, destination, ports, purposes, what, declarer, path, cluster = data
    return Connection(
        end(source),
        end(destination),
        tuple(PathPort(*port) for port in ports),
        tuple(purposes),  # type: ignore[arg-type]
        what,
        _Peer(declarer),  # type: ignore[arg-type]
        tuple(path),
        cluster,
    )


class Unstorable(ValueError):
    """A value a share cannot hold as plain data: the customer is never kept."""


def plain(value: Any) -> Any:
    """`value` as the plain types marshal writes exactly (a str or int subclass read
    from YAML as its plain value); raises `Unstorable` for anything else, and for the
    str subclasses the emitter writes differently (emit.py `Unsafe`, `Verbatim`)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or kind is float or value is None:
        return value
    if kind is dict:
        return {plain(k): plain(v) for k, v in value.items()}
    if kind is list:
        return [plain(v) for v in value]
    if kind is tuple:
        return tuple(plain(v) for v in value)
    if isinstance(value, (Unsafe, Verbatim)):
        raise Unstorable(kind.__name__)
    # the value itself, not what a subclass's __str__ says (an Enum's is its name)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return int.__index__(value)
    if isinstance(value, float):
        return float.__float__(value)
    raise Unstorable(kind.__name__)


def to_bytes(share: Share) -> bytes:
    """`share` in marshal's format (`from_bytes` reads it back). Marshal writes only
    exact builtin types; a share holding anything else (a str subclass read from YAML)
    is made plain first (`plain`), or raises `Unstorable`."""
    return _dumped(_data(share), 4)


def share_digest(share: Share, customer: Customer | None) -> str:
    """What `share`, with its customer's catalog entry (None: the platform's share),
    gives the files customers share, as a sha256: equal only if they would render the
    same. The files read a few of the customer's fields directly besides its share (the
    tfvars its plan, residency, status and domains, the realms its single sign-on, the
    edges its residency), so the whole entry counts but for the two only its own
    files show (`display_name`, `contact`). Marshal's version 0: no references, so the
    same data gives the same bytes whatever objects it shares; raises `Unstorable`."""
    digest = hashlib.sha256(_dumped(_data(share), 0))
    if customer is not None:
        facts = customer.model_dump_json(exclude={"display_name", "contact"})
        digest.update(facts.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _dumped(data: tuple[Any, ...], version: int) -> bytes:
    try:
        return marshal.dumps(data, version)
    except ValueError:
        return marshal.dumps(plain(data), version)


def _data(share: Share) -> tuple[Any, ...]:
    return (
        tuple(map(tuple, share.members)),
        {table: dict(entries) for table, entries in share.tfvars.items()},
        tuple(map(tuple, share.routable)),
        tuple(map(tuple, share.dashboards)),
        tuple(map(tuple, share.probes)),
        tuple(map(tuple, share.vms)),
        tuple(map(tuple, share.tls)),
        tuple(map(tuple, share.sides)),
    )


def from_bytes(data: bytes) -> Share:
    """The share `to_bytes` wrote; raises (ValueError, TypeError, EOFError) on another
    shape."""
    members, tfvars, routables, dashboards, probes, vms, tls, sides = marshal.loads(data)
    if not isinstance(tfvars, dict):
        raise TypeError("tfvars")
    return Share(
        tuple(Member(*m) for m in members),
        tfvars,
        tuple(Routable(*r) for r in routables),
        tuple(monitoring.Shown(*d) for d in dashboards),
        tuple(Probed(*p) for p in probes),
        tuple(ansible.VmEntry(*v) for v in vms),
        tuple(mail_tls.TlsEntry(*t) for t in tls),
        tuple(Side(*s) for s in sides),
        kept=True,
    )
