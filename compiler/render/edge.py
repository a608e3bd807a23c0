"""Edges fed from the catalog (issue 18, item 2): the routing table of each edge host
(or of an edge on each cluster), and the HAProxy or Nginx configuration file made from
it, written in full.

An edge is an environment-scoped service with `edge: {software, routes}`, on VMs or on
Kubernetes (below). Each of its hosts routes the ingress hosts of the routed services'
instances to the ingress controller of the cluster each instance runs on, at the
address the cluster declares (`clusters[].ingress_address`: its ingress load balancer's
internal address, while the public name customers' records point at,
`ingress.<cluster>.<base_domain>`, names the edges of its region; a cluster without
one that a routed instance runs on is an error):

- **per residency**: a host routes only the instances of customers of its own residency
  (an environment-wide instance: to the cluster of the host's region, else the first
  cluster holding the host's residency), so a Swiss customer's connections pass only
  Swiss edges, as its data stays on Swiss clusters;
- **TLS passes through**: port 443 is routed by the SNI name of the client's hello
  (HAProxy `req_ssl_sni`, Nginx `ssl_preread`) without terminating TLS, so the edge
  holds no customer's private key and the certificate stays the one cert-manager issues
  in the cluster for the Ingress; port 80 is routed by the Host header, so that
  cert-manager's HTTP-01 challenges and the ingress's redirects to https reach the
  cluster. A host in no route is refused (HAProxy: no backend; Nginx: 421 / closed).

**On Kubernetes** (an environment-scoped `runtime: kubernetes` service with `edge:`), the
same table and the same renderer make one file per cluster the edge runs on, put into
the instance's files (the `<service>-files` ConfigMap, mounted read-only at the
program's usual path; `kubernetes_settings`). A cluster's edge routes like a host of
the cluster's region and residencies: the instances of customers whose residency the
cluster holds, and an environment-wide instance to the cluster of its own region. In a
container the file differs only where a container needs it to (`Listen`): it listens
on the ports the service declares as `https` and `http` (its Service, NetworkPolicy and
`expose:` name the same ones; a pod that drops every capability binds 443 only where
the container runtime allows unprivileged low ports, so 8443 and 8080 are the usual
choice, published on 443 and 80 by `expose.<port>.port`), logs to standard output and
error, changes no user, keeps Nginx's pid and temporary files in /tmp, the writable
directory every pod has, and names no resolver: it routes to IP addresses only
(host_files), which its NetworkPolicy admits (catalog/reachability.py derives it from
the same table, edges.routed).

The file is rendered whole, not as variables for a template in a role: what the tests
check with `haproxy -c` and `nginx -t` is then byte for byte what the host loads, and
the Ansible role writes it with the same check as its `validate` (docs/ci.md). A
routed host is a validated DNS name, and is checked again here (`_line_safe`): no value
of the catalog can hold a space, `;`, `{`, `#` or a line break that would add a line.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from compiler.catalog import (
    EDGE_CONFIG_PATH,
    FILES_MAX_BYTES,
    Cluster,
    ConfigFile,
    Customer,
    Environment,
    Host,
    Instance,
    Routable,
    Settings,
    port_spec,
    rendered_files,
    routed,
)
from compiler.errors import Location, Problem
from compiler.render.ansible import variable_key

# the check the Ansible role runs on the new file before it replaces the old one
VALIDATE = {"haproxy": "haproxy -c -f %s", "nginx": "nginx -t -c %s"}
# Nginx's stream module (SNI routing), a package of its own on Debian: libnginx-mod-stream
STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
# a Debian host's stub resolver (systemd-resolved), where a VM edge's names are resolved
HOST_RESOLVER = "127.0.0.53"
HTTPS_PORT = 443
HTTP_PORT = 80
_SAFE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_SAFE_IP = re.compile(r"[0-9a-f.:]+\Z")
# Nginx's http temporary directories: under the package's /var/lib/nginx by default
_TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


@dataclass(frozen=True, slots=True)
class Listen:
    """How the file differs between a VM host and a container: the ports it listens on,
    and whether it runs as a daemon of the host (syslog, a user to switch to, the
    package's pid and temporary paths) or in a pod (standard output, /tmp)."""

    https: int = HTTPS_PORT
    http: int = HTTP_PORT
    container: bool = False


ON_HOST = Listen()


@dataclass(frozen=True, slots=True, order=True)
class Route:
    """One line of the routing table: an ingress host, and the cluster it goes to."""

    host: str
    cluster: str
    address: str
    instance: str


def _is_ip(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def _host_port(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _line_safe(value: str, what: str) -> str:
    """A value that goes on a line of a proxy's configuration: refused unless it is a
    plain DNS name or IP address (validated before; this guards the file itself)."""
    if not (_SAFE.match(value) or _SAFE_IP.match(value)) or len(value) > 253:
        raise ValueError(f"{what} {value!r} is not a plain DNS name or address")
    return value


def routes(
    env: Environment,
    edge: Instance,
    where: Host | Cluster,
    instances: Iterable[Instance | Routable],
    customers: Mapping[str, Customer],
) -> list[Route]:
    """The routing table of one edge host, or of an edge on a cluster, sorted by host
    name (which instance goes to which cluster: edges.routed)."""
    table: dict[str, Route] = {}
    for instance, cluster, hosts in routed(env, edge, where, instances, customers):
        if cluster.ingress_address is None:
            continue  # host_files reports a cluster without an address
        address = _line_safe(cluster.ingress_address, "ingress address")
        for host in hosts:
            name = _line_safe(host, "ingress host")
            table.setdefault(name, Route(name, cluster.name, address, instance.id))
    return [table[name] for name in sorted(table)]


def _backend(cluster: str, port: int) -> str:
    return f"{'https' if port == HTTPS_PORT else 'http'}_{cluster.replace('-', '_')}"


def haproxy_config(
    env: Environment,
    edge: Instance,
    host: Host | Cluster,
    table: list[Route],
    listen: Listen = ON_HOST,
) -> str:
    """haproxy.cfg for one edge host (or an edge on a cluster): SNI routing on 443,
    Host routing on 80 (in a pod: 8443 and 8080)."""
    resolvers = _resolvers(edge, listen)
    clusters = sorted({(r.cluster, r.address) for r in table})
    lines = [
        f"# Generated by gitopsc for {host.name} ({edge.id}); do not edit.",
        "# Routes the ingress hosts of the catalog's instances to their cluster's ingress.",
        "global",
        *(
            ["    log stdout format raw local0", "    maxconn 20000"]
            if listen.container  # no syslog in a pod, and the image's user already
            else [
                "    log /dev/log local0",
                "    maxconn 20000",
                "    user haproxy",
                "    group haproxy",
            ]
        ),
        "",
        "defaults",
        "    log global",
        "    option dontlognull",
        "    timeout connect 5s",
        "    timeout client 60s",
        "    timeout server 60s",
        "",
        *(
            [
                "resolvers gitopsc",
                *(
                    f"    nameserver dns{n} {_bracket(_line_safe(ip, 'resolver'))}:53"
                    for n, ip in enumerate(resolvers, 1)
                ),
                "    hold valid 10s",
                "",
            ]
            if any(not _is_ip(address) for _, address in clusters)
            else []
        ),
        "frontend https",
        f"    bind :{listen.https}",
        "    mode tcp",
        "    option tcplog",
        "    tcp-request inspect-delay 5s",
        "    tcp-request content accept if { req_ssl_hello_type 1 }",
        *(
            f"    use_backend {_backend(r.cluster, HTTPS_PORT)} if {{ req_ssl_sni -i {r.host} }}"
            for r in table
        ),
        "",
        "frontend http",
        f"    bind :{listen.http}",
        "    mode http",
        "    option httplog",
        *(
            f"    use_backend {_backend(r.cluster, HTTP_PORT)} "
            f"if {{ hdr(host),field(1,:) -i {r.host} }}"
            for r in table
        ),
    ]
    for cluster, address in clusters:
        for port, mode in ((HTTPS_PORT, "tcp"), (HTTP_PORT, "http")):
            # a name is resolved at run time (a load balancer's addresses change), the
            # server down until it is: `haproxy -c` needs no DNS, and a start no answer
            resolve = "" if _is_ip(address) else " resolvers gitopsc init-addr none"
            lines += [
                "",
                f"backend {_backend(cluster, port)}",
                f"    mode {mode}",
                f"    server ingress {_host_port(address, port)}{resolve} check",
            ]
    return "\n".join(lines) + "\n"


def _resolvers(edge: Instance, listen: Listen) -> list[str]:
    """The DNS servers a name among the ingress addresses is resolved with: the edge's
    `resolvers`, else a host's stub resolver. A pod has none at 127.0.0.53, and an edge
    on Kubernetes routes to IP addresses only (host_files), so it gets none."""
    assert edge.settings.edge is not None
    declared = edge.settings.edge.resolvers
    if declared is not None:
        return declared
    return [] if listen.container else [HOST_RESOLVER]


def _bracket(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


def nginx_config(
    env: Environment,
    edge: Instance,
    host: Host | Cluster,
    table: list[Route],
    listen: Listen = ON_HOST,
) -> str:
    """nginx.conf for one edge host or an edge on a cluster (stream module for SNI on
    443, http for 80; in a pod: 8443 and 8080)."""
    names = any(not _is_ip(r.address) for r in table)
    resolvers = _resolvers(edge, listen) if names else []
    # only where a name needs one, as HAProxy's `resolvers` section: an address needs none
    resolver = (
        [
            f"    resolver {' '.join(_bracket(_line_safe(ip, 'resolver')) for ip in resolvers)}"
            " valid=10s;"
        ]
        if resolvers
        else []
    )
    lines = [
        f"# Generated by gitopsc for {host.name} ({edge.id}); do not edit.",
        "# Routes the ingress hosts of the catalog's instances to their cluster's ingress.",
        f"load_module {STREAM_MODULE};",
        *(
            # a pod writes only /tmp (and logs to the container's output)
            ["pid /tmp/nginx.pid;", "error_log stderr;"] if listen.container else []
        ),
        "worker_processes auto;",
        "events {",
        "    worker_connections 4096;",
        "}",
        "stream {",
        *resolver,
        "    map $ssl_preread_server_name $gitopsc_upstream {",
        '        default "";',
        *(f"        {r.host} {_host_port(r.address, HTTPS_PORT)};" for r in table),
        "    }",
        "    server {",
        f"        listen {listen.https};",
        "        ssl_preread on;",
        "        proxy_pass $gitopsc_upstream;",
        "    }",
        "}",
        "http {",
        *resolver,
        *(
            [
                "    access_log /dev/stdout;",
                *(f"    {kind}_temp_path /tmp/{kind};" for kind in _TEMP_PATHS),
            ]
            if listen.container
            else ["    access_log syslog:server=unix:/dev/log;"]
        ),
        "    map $host $gitopsc_upstream {",
        '        default "";',
        *(f"        {r.host} {_host_port(r.address, HTTP_PORT)};" for r in table),
        "    }",
        "    server {",
        f"        listen {listen.http} default_server;",
        "        location / {",
        '            if ($gitopsc_upstream = "") {',
        "                return 421;",
        "            }",
        "            proxy_pass http://$gitopsc_upstream;",
        "            proxy_set_header Host $host;",
        "        }",
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def host_files(
    env: Environment,
    instances: Iterable[Instance],
    customers: Mapping[str, Customer],
    locate_cluster: Callable[..., Location],
    kept: Sequence[Routable] = (),
) -> tuple[dict[str, dict[str, dict[str, object]]], list[Problem]]:
    """host name -> {`gitopsc_files`: path -> file, `gitopsc_edge_routes`: the table}
    for every host of every edge instance of the environment; and a problem at each
    cluster that a routed instance runs on and that names no `ingress_address` (no
    default: the public name `ingress.<cluster>.<base_domain>` is the edges' own once
    they stand in front, and would send an edge back to itself), and at each cluster an
    edge on Kubernetes routes to whose `ingress_address` is a name: the pod's egress is
    a NetworkPolicy, which admits addresses, not names, and a pod has no stub resolver
    (`locate_cluster(index, *path)`: the line of `clusters[index]`, or of a field in it).
    `kept`: the instances of the customers an incremental compile does not resolve, as
    routing sees them (render/shares.py)."""
    instances = list(instances)
    routing = [*instances, *kept]
    found: dict[str, dict[str, dict[str, object]]] = {}
    # on Kubernetes too (kubernetes_settings makes their files): the same addresses
    edges = [i for i in instances if i.settings.edge is not None and (i.hosts or i.clusters)]
    services = {s for edge in edges for s in edge.settings.edge.routes}  # type: ignore[union-attr]
    needed = {c for i in routing if i.service in services for c in i.clusters}
    problems = [
        Problem(
            locate_cluster(index),
            f"cluster '{cluster.name}' has no ingress_address, and edge "
            f"'{edges[0].service}' routes hosts of instances on it",
            "set clusters[].ingress_address to the address of the cluster's ingress load "
            "balancer that the edges reach",
        )
        for index, cluster in enumerate(env.clusters)
        if cluster.name in needed and cluster.ingress_address is None
    ]
    by_name = {c.name: c for c in env.clusters}
    named: dict[str, str] = {}  # cluster -> the Kubernetes edge that routes to its name
    for kube in (e for e in edges if e.clusters):
        for name in kube.clusters:
            for _, target, _ in routed(env, kube, by_name[name], routing, customers):
                address = target.ingress_address
                if address is not None and not _is_ip(address):
                    named.setdefault(target.name, kube.service)
    problems += [
        Problem(
            locate_cluster(index, "ingress_address"),
            f"cluster '{cluster.name}' has the ingress_address '{cluster.ingress_address}', "
            f"a name, and edge '{named[cluster.name]}' on Kubernetes routes to it: an edge "
            "on Kubernetes routes to IP addresses",
            "give the cluster's ingress load balancer a fixed internal IP address and set "
            "it here (the edge's NetworkPolicy admits it; a pod has no stub resolver)",
        )
        for index, cluster in enumerate(env.clusters)
        if cluster.name in named
    ]
    for edge in edges:
        declared = edge.settings.edge
        assert declared is not None
        render = haproxy_config if declared.software == "haproxy" else nginx_config
        for host in edge.hosts:
            table = routes(env, edge, host, routing, customers)
            entry = found.setdefault(host.name, {})
            entry.setdefault("gitopsc_files", {})[EDGE_CONFIG_PATH[declared.software]] = {
                "content": render(env, edge, host, table),
                "validate": VALIDATE[declared.software],
                "service": edge.service,
            }
            entry.setdefault("gitopsc_edge_routes", {})[variable_key(edge.service)] = [
                {"host": r.host, "cluster": r.cluster, "address": r.address} for r in table
            ]
    return found, problems


def kubernetes_settings(
    env: Environment,
    edge: Instance,
    cluster: Cluster,
    instances: Iterable[Instance | Routable],
    customers: Mapping[str, Customer],
) -> Settings:
    """The settings of an edge on Kubernetes on `cluster`, its configuration file among
    its files: the ConfigMap of files mounts it read-only at the program's usual path,
    and a new routing table gives the pods a new files digest, so they roll (a file
    mounted by subPath does not follow its ConfigMap). A file the catalog wrote at the
    same path is replaced: the edge's configuration is gitopsc's, not the catalog's."""
    declared = edge.settings.edge
    assert declared is not None
    render = haproxy_config if declared.software == "haproxy" else nginx_config
    table = routes(env, edge, cluster, instances, customers)
    declared_ports = edge.settings.ports or {}  # both there (edges.kubernetes_problems)
    listen = Listen(
        port_spec(declared_ports["https"]).port, port_spec(declared_ports["http"]).port, True
    )
    content = render(env, edge, cluster, table, listen)
    files = {
        **(edge.settings.files or {}),
        EDGE_CONFIG_PATH[declared.software]: ConfigFile(content=content),
    }
    return edge.settings.model_copy(update={"files": files})


def size_problems(edge: Instance, cluster: Cluster, fallback: str) -> list[Problem]:
    """An edge on Kubernetes whose files, with the configuration made from its table,
    pass the limit of an instance's files (files.MAX_BYTES; a ConfigMap holds at most
    1 MiB): at its `edge`, from `compile`, since the table is known only once every
    instance is resolved. The resolve stage checks the files the catalog writes."""
    total = sum(len(f.text.encode()) for f in rendered_files(edge.settings, edge.service))
    if total <= FILES_MAX_BYTES:
        return []
    where = edge.origin(("edge",)).location or Location(fallback)
    return [
        Problem(
            where,
            f"the configuration of edge '{edge.service}' on cluster '{cluster.name}' makes "
            f"its files {-(-total // 1024)} KiB, more than the "
            f"{FILES_MAX_BYTES // 1024} KiB allowed",
            "route fewer services through it (a ConfigMap holds at most 1 MiB), or run the "
            "edge on VMs, where the file goes into the inventory",
        )
    ]
