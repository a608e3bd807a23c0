"""Declared reachability, one test per problem of issue 13: the case is declared in a
hosting team's catalog (the example plus Keycloak, a Matrix bridge, TURN on UDP and a
spam scorer reading Kafka on VMs), the rendered NetworkPolicies are evaluated as a
cluster enforces them (check/netpol.py) and the network-reachability check proves the
declared path open; a patch that removes or narrows the rule behind it makes the check
report the path closed at the patch's line; and what is not declared stays closed.
"""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path

import pytest

from compiler import pipeline
from compiler.check import EnvironmentInput
from compiler.check.builtins import network_reachability as reach
from compiler.check.netpol import Cluster, External, Pod
from tests.conftest import add_acme_prod_services, copy_example, run_cli

DIGEST = "@sha256:" + "ab" * 32

SERVICES = {
    # no dependencies, no internet: only its own managed database
    "keycloak": f"""
name: keycloak
description: Keycloak, a customer's single sign-on, on a managed PostgreSQL database.
owner: chat-platform
runtime: kubernetes
scope: customer
defaults:
  image: quay.io/keycloak/keycloak:26.0.5{DIGEST}
  replicas: 2
  ports: {{http: 8080, management: 9000, jgroups: 7800}}
  network:
    replicas: [jgroups]  # the Infinispan cache cluster of its replicas
  ingress: {{host: "sso.${{customer.domain}}", port: http}}
  infrastructure:
    database: {{engine: postgres, version: "16"}}
""",
    # a bridge that uses synapse's http port only, and that synapse calls back
    "hookshot": f"""
name: hookshot
description: Matrix bridge for webhooks; synapse pushes events to its appservice port.
owner: chat-platform
runtime: kubernetes
scope: customer
depends_on: [synapse]
defaults:
  image: docker.io/halfshot/matrix-hookshot:6.0.0{DIGEST}
  ports: {{appservice: 9993, webhooks: 9000}}
  network:
    dependencies:
      synapse: {{ports: [http], calls_back: [appservice]}}
""",
    # TURN: UDP from clients anywhere
    "coturn": f"""
name: coturn
description: TURN relay for calls, reached by clients over UDP.
owner: chat-platform
runtime: kubernetes
scope: customer
defaults:
  image: docker.io/coturn/coturn:4.6.2{DIGEST}
  ports:
    turn: {{port: 3478, protocol: UDP}}
    turns: 5349
  network:
    ingress:
      clients: {{network: clients, ports: [turn, turns]}}
""",
    # environment-wide, on Kubernetes, reading Kafka that a VM host pool runs
    "spam-scorer": f"""
name: spam-scorer
description: Scores mail for spam from the relays' Kafka topic.
owner: mail-ops
runtime: kubernetes
scope: environment
environments: [prod]
defaults:
  image: registry.example.net/mail/spam-scorer:1.4.0{DIGEST}
  ports: {{http: 8080}}
  network:
    egress:
      kafka: {{host_pool: kafka, ports: [9092]}}
""",
}
KAFKA = """\
  kafka:
    - {name: kafka1.fra1.mail.example.net, address: 10.30.5.11, region: fra1, residency: eu}
    - {name: kafka2.fra1.mail.example.net, address: 10.30.5.12, region: fra1, residency: eu}
"""


@pytest.fixture(scope="module")
def hosting(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example catalog with the services above, enabled for acme in prod."""
    return _hosting(tmp_path_factory.mktemp("hosting") / "repo")


def _hosting(target: Path) -> Path:
    root = copy_example(target)
    for name, text in SERVICES.items():
        (root / f"catalog/services/{name}.yaml").write_text(text.lstrip())
    env = root / "environments/prod/environment.yaml"
    text = env.read_text()
    network = "  corp-vpn: [10.8.0.0/16]  # operators' VPN\n"
    pools_end = text.index("\n", text.index("    - {name: spam2.fra1")) + 1
    assert network in text and text[pools_end:].startswith("networks:\n")
    text = text[:pools_end] + KAFKA + text[pools_end:]
    text = text.replace(network, network + "  clients: [0.0.0.0/0]  # calls\n")
    grant = "  mail-relays-ch: [587]\n"
    assert grant in text
    env.write_text(text.replace(grant, grant + "  kafka: [9092]\n"))
    customer = root / "catalog/customers/acme.yaml"
    text = customer.read_text()
    assert "      postfix-relay:\n" in text
    customer.write_text(
        add_acme_prod_services(text, "      keycloak:\n      hookshot:\n      coturn:\n")
    )
    return root


def _resolved(root: Path) -> pipeline.Resolved:
    return pipeline.run(root, ["prod"])


def _run(root: Path) -> EnvironmentInput:
    resolved = _resolved(root)
    files = pipeline.render(resolved)["prod"]
    return EnvironmentInput(
        resolved.catalog, "prod", list(resolved.instances.values()), files, datetime.date.today()
    )


def _cluster(run: EnvironmentInput, cluster: str) -> tuple[Cluster, dict[str, Pod]]:
    """The cluster's rendered policies as the network plugin sees them, and its pods."""
    files = [f for f in run.files if f.path.startswith(f"prod/kubernetes/{cluster}/")]
    env = run.catalog.environments["prod"]
    found = reach.inventory((f.data for f in files), "ingress-nginx", env)
    net, _ = reach.cluster_of(found.policies, found.namespaces)
    return net, found.pods


def _findings(run: EnvironmentInput) -> list:
    return list(reach.check(run))


@pytest.fixture(scope="module")
def hosting_run(hosting: Path) -> EnvironmentInput:
    return _run(hosting)


@pytest.fixture(scope="module")
def fra1(hosting_run: EnvironmentInput) -> tuple[Cluster, dict[str, Pod]]:
    return _cluster(hosting_run, "prod-fra1")


def test_the_hosting_catalog_passes_the_check(hosting_run: EnvironmentInput):
    """Every declared path below is open on the rendered policies, and nothing across
    tenants is open that the catalog does not declare."""
    assert _findings(hosting_run) == []


def test_an_instance_reaches_its_managed_database_on_its_cluster_only(
    hosting_run: EnvironmentInput, fra1: tuple[Cluster, dict[str, Pod]]
):
    """Problem 1: the managed database's private range is reachable on its port, from
    the instance that declares it, and not from one that does not."""
    net, pods = fra1
    keycloak = pods["acme/keycloak"]
    assert net.allowed(keycloak, External("10.30.8.25"), 5432).allowed
    assert not net.allowed(keycloak, External("10.30.8.25"), 22).allowed
    assert not net.allowed(keycloak, External("10.40.8.25"), 5432).allowed  # zrh1's range
    assert not net.allowed(pods["acme/element-web"], External("10.30.8.25"), 5432).allowed
    zrh1, zpods = _cluster(hosting_run, "prod-zrh1")
    assert zrh1.allowed(zpods["helvetia-bank/mas"], External("10.40.8.7"), 5432).allowed


def test_a_service_without_dependencies_or_internet_reaches_its_database_only(
    fra1: tuple[Cluster, dict[str, Pod]],
):
    """Problem 2: Keycloak has no dependencies and no internet_egress, yet reaches its
    own database (and DNS); the internet stays closed."""
    net, pods = fra1
    keycloak = pods["acme/keycloak"]
    assert net.allowed(keycloak, External("10.30.8.1"), 5432).allowed
    assert net.allowed(keycloak, pods["kube-system/coredns"], 53, "UDP").allowed
    assert not net.allowed(keycloak, External("1.1.1.1"), 443).allowed


def test_a_kubernetes_service_reaches_the_kafka_hosts_of_a_vm_pool(
    fra1: tuple[Cluster, dict[str, Pod]],
):
    """Problem 3: the spam scorer reaches each Kafka host on 9092, nothing else there,
    and no other host."""
    net, pods = fra1
    scorer = pods["platform/spam-scorer"]
    for host in ("10.30.5.11", "10.30.5.12"):
        assert net.allowed(scorer, External(host), 9092).allowed
        assert not net.allowed(scorer, External(host), 22).allowed
    assert not net.allowed(scorer, External("10.30.5.13"), 9092).allowed
    assert not net.allowed(pods["acme/synapse"], External("10.30.5.11"), 9092).allowed


def test_monitoring_scrapes_the_metrics_port_only(fra1: tuple[Cluster, dict[str, Pod]]):
    """Problem 4: Prometheus in the monitoring namespace scrapes synapse's `metrics`,
    not its `http`; another pod of that namespace scrapes nothing."""
    net, pods = fra1
    prometheus, synapse = pods["monitoring/monitoring"], pods["acme/synapse"]
    assert prometheus.labels == {"app.kubernetes.io/name": "prometheus"}
    assert net.allowed(prometheus, synapse, 9000).allowed
    assert not net.allowed(prometheus, synapse, 8008).allowed
    other = Pod("grafana", "monitoring", {"app.kubernetes.io/name": "grafana"})
    assert not net.allowed(other, synapse, 9000).allowed


def test_udp_is_declared_rendered_and_open(
    hosting_run: EnvironmentInput, fra1: tuple[Cluster, dict[str, Pod]]
):
    """Problem 5: a UDP port reaches the Service, the container and the policy; clients
    anywhere reach TURN on UDP/3478 (not TCP/3478), but a private address, which could
    be another tenant's pod, does not."""
    net, pods = fra1
    coturn = pods["acme/coturn"]
    assert coturn.ports["turn"] == (3478, "UDP")
    assert net.allowed(External("203.0.113.9"), coturn, 3478, "UDP").allowed
    assert net.allowed(External("203.0.113.9"), coturn, 5349, "TCP").allowed
    assert not net.allowed(External("203.0.113.9"), coturn, 3478, "TCP").allowed
    assert not net.allowed(External("10.1.2.3"), coturn, 3478, "UDP").allowed
    (service,) = [
        f.data
        for f in hosting_run.files
        if f.path == "prod/kubernetes/prod-fra1/acme/coturn/service-coturn.yaml"
    ]
    assert {"name": "turn", "port": 3478, "targetPort": "turn", "protocol": "UDP"} in service[
        "spec"
    ]["ports"]


def test_dependents_reach_only_the_ports_they_use(fra1: tuple[Cluster, dict[str, Pod]]):
    """Problem 6a: element-web and the bridge reach synapse's `http`, not `metrics`."""
    net, pods = fra1
    synapse = pods["acme/synapse"]
    for dependent in ("acme/element-web", "acme/hookshot"):
        assert net.allowed(pods[dependent], synapse, 8008).allowed
        assert not net.allowed(pods[dependent], synapse, 9000).allowed


def test_a_dependency_calls_back_its_dependent(fra1: tuple[Cluster, dict[str, Pod]]):
    """Problem 6b: synapse pushes to the bridge's `appservice` port, not `webhooks`;
    element-web, which declares no call back, is not called."""
    net, pods = fra1
    synapse, bridge = pods["acme/synapse"], pods["acme/hookshot"]
    assert net.allowed(synapse, bridge, 9993).allowed
    assert not net.allowed(synapse, bridge, 9000).allowed
    assert not net.allowed(synapse, pods["acme/element-web"], 8080).allowed


def test_replicas_reach_each_other_on_the_declared_ports_only(
    fra1: tuple[Cluster, dict[str, Pod]],
):
    """Keycloak's replicas form a cache cluster on `jgroups`; default-deny would close it,
    `network.replicas` opens it, and only it."""
    net, pods = fra1
    one = pods["acme/keycloak"]
    other = Pod("keycloak-1", one.namespace, dict(one.labels), None, dict(one.ports))
    assert net.allowed(one, other, 7800).allowed
    assert not net.allowed(one, other, 8080).allowed
    assert not net.allowed(pods["acme/synapse"], one, 7800).allowed


def test_one_policy_per_purpose(hosting_run: EnvironmentInput):
    """Each rule sits in a policy named for its purpose, with one policy type."""
    names = {
        f.data["metadata"]["name"]: f.data
        for f in hosting_run.files
        if f.path.startswith("prod/kubernetes/prod-fra1/acme/")
        and f.data.get("kind") == "NetworkPolicy"
    }
    expected = {
        "default-deny",
        "allow-dns",
        "synapse-to-postgres",
        "synapse-from-element-web",
        "synapse-from-hookshot",
        "synapse-to-hookshot",
        "synapse-from-ingress-controller",
        "synapse-to-internet",
        "synapse-egress-smtp",
        "synapse-from-monitoring",
        "hookshot-to-synapse",
        "hookshot-from-synapse",
        "keycloak-to-database",
        "keycloak-to-replicas",
        "keycloak-from-replicas",
        "keycloak-from-ingress-controller",
        "coturn-ingress-clients",
        "postgres-from-synapse",
    }
    assert expected <= set(names)
    for name in expected - {"default-deny"}:
        assert len(names[name]["spec"]["policyTypes"]) == 1, name


# ------------------------------------------------- a narrowed rule is a closed path

NARROWINGS = [
    (
        "replicas",
        "keycloak",
        "keycloak-from-replicas",
        "remove",
        "/spec/ingress/0",
        "the replicas of prod/acme/keycloak",
    ),
    # (problem, instance of acme, policy, JSON patch, text the closed path names)
    ("database", "keycloak", "keycloak-to-database", "remove", "/spec/egress/0", "database"),
    (
        "no-deps database",
        "keycloak",
        "keycloak-to-database",
        "replace",
        "/spec/egress/0/ports/0/port",
        "database",
    ),
    (
        "monitoring",
        "synapse",
        "synapse-from-monitoring",
        "remove",
        "/spec/ingress/0",
        "Prometheus in monitoring scrapes",
    ),
    (
        "udp",
        "coturn",
        "coturn-ingress-clients",
        "replace",
        "/spec/ingress/0/ports/0/protocol",
        "network clients",
    ),
    (
        "dependency port",
        "element-web",
        "element-web-to-synapse",
        "replace",
        "/spec/egress/0/ports/0/port",
        "uses prod/acme/synapse",
    ),
    ("call back", "hookshot", "hookshot-from-synapse", "remove", "/spec/ingress/0", "calls back"),
]


@pytest.mark.parametrize(
    ("service", "policy", "op", "path", "names"),
    [n[1:] for n in NARROWINGS],
    ids=[n[0] for n in NARROWINGS],
)
def test_a_patch_that_narrows_a_declared_path_is_reported_at_the_patch(
    tmp_path: Path, service: str, policy: str, op: str, path: str, names: str
):
    """Per problem: acme's prod override patches the policy behind the declared path
    (drops the rule, or changes its port or protocol); the check reports that path
    closed, and locates it at the patch, not at the line that declares the path."""
    root = _hosting(tmp_path / "repo")
    customer = root / "catalog/customers/acme.yaml"
    value = {  # a wrong port, or TCP for a UDP port: the rule stays, the path closes
        "/spec/egress/0/ports/0/port": "5433" if policy.endswith("database") else "metrics",
        "/spec/ingress/0/ports/0/protocol": "TCP",
    }
    patch = (
        f"{{op: {op}, path: {path}" + (f", value: {value[path]}" if op == "replace" else "") + "}"
    )
    lines = customer.read_text().split("\n")
    prod = lines.index("  prod:")
    at = next(i for i in range(prod, len(lines)) if lines[i] == f"      {service}:")
    patch_lines = [
        "        patches:",
        f"          - target: {{kind: NetworkPolicy, name: {policy}}}",
        f"            json_patch: [{patch}]",
    ]
    if service == "synapse":  # acme's prod synapse already has an override
        at = next(i for i in range(at, len(lines)) if lines[i] == "        replicas: 3")
    lines[at + 1 : at + 1] = patch_lines
    customer.write_text("\n".join(lines))
    findings = _findings(_run(root))
    closed = [f for f in findings if "the NetworkPolicies close it" in f.message]
    assert closed, [f.message for f in findings]
    assert all(names in f.message for f in closed), [f.message for f in closed]
    patch_line = lines.index(patch_lines[1]) + 1
    assert {(f.location.file, f.location.line) for f in closed} == {
        ("catalog/customers/acme.yaml", patch_line)
    }


def test_an_extra_policy_opening_an_undeclared_cross_tenant_path_is_reported(tmp_path: Path):
    """A customer's extra policy admitting another customer's pods to its scrape port,
    with that customer's egress opened by a patch, joins two tenants: reported at the
    extra policy, although each side only touched its own namespace."""
    root = _hosting(tmp_path / "repo")
    acme = root / "catalog/customers/acme.yaml"
    acme.write_text(
        acme.read_text().replace(
            "      synapse:\n        replicas: 3\n",
            "      synapse:\n        replicas: 3\n"
            "        extra_resources:\n"
            "          - apiVersion: networking.k8s.io/v1\n"
            "            kind: NetworkPolicy\n"
            "            metadata: {name: from-initech}\n"
            "            spec:\n"
            "              podSelector: {}\n"
            "              ingress:\n"
            "                - from: [{namespaceSelector: {matchLabels: "
            "{kubernetes.io/metadata.name: initech}}}]\n",
        )
    )
    initech = root / "catalog/customers/initech.yaml"
    text = initech.read_text()
    assert re.search(r"  prod:\n(.*\n)*?      synapse:\n", text)
    initech.write_text(
        re.sub(
            r"(  prod:\n(?:.*\n)*?      synapse:\n)",
            r"\1        patches:\n"
            r"          - target: {kind: NetworkPolicy, name: synapse-to-internet}\n"
            r"            json_patch: [{op: remove, path: /spec/egress/0/to}]\n",
            text,
            count=1,
        )
    )
    findings = _findings(_run(root))
    opened = [f for f in findings if "crosses from customer initech to customer acme" in f.message]
    assert opened, [f.message for f in findings]
    assert "acme/from-initech ingress[0]" in opened[0].message
    assert opened[0].location.file == "catalog/customers/acme.yaml"


# ------------------------------------------------- what cannot be declared is an error

ERRORS = [
    # (what, file, old text, new text, message)
    (
        "unknown platform namespace",
        "catalog/services/coturn.yaml",
        "scrape: {namespace: monitoring,",
        "scrape: {namespace: monitorng,",
        "declares no platform namespace 'monitorng'",
    ),
    (
        "unknown host pool",
        "catalog/services/synapse.yaml",
        "        host_pool: mail-relays\n",
        "        host_pool: kafka\n",
        "declares no host pool 'kafka'",
    ),
    (
        "a port the service does not have",
        "catalog/services/coturn.yaml",
        "ports: [metrics]}",
        "ports: [prometheus]}",
        "port 'prometheus' is not a port of this service",
    ),
    (
        "a platform namespace on a port it does not accept",
        "catalog/services/synapse.yaml",
        "    egress:\n      smtp:",
        "    egress:\n      loki: {namespace: monitoring, ports: [3100]}\n      smtp:",
        "platform namespace 'monitoring' does not accept TCP/3100 from services",
    ),
    (
        "a serving port the service does not have",
        "catalog/services/synapse.yaml",
        "    internet_egress: true",
        "    serves: [admin]\n    internet_egress: true",
        "serving port 'admin' is not a declared port",
    ),
    (
        "a NetworkPolicy rule on a VM service",
        "catalog/services/postfix-relay.yaml",
        "  secrets:\n",
        "  network:\n    ingress: {submission: {network: corp-vpn, ports: [smtp]}}\n  secrets:\n",
        "network.ingress applies to Kubernetes services; 'postfix-relay' runs on VMs",
    ),
    (
        "two peers in one rule",
        "catalog/services/synapse.yaml",
        "        host_pool: mail-relays\n",
        "        host_pool: mail-relays\n        network: corp-vpn\n",
        "a rule names one peer, not host_pool and network",
    ),
]


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [e[1:] for e in ERRORS],
    ids=[e[0] for e in ERRORS],
)
def test_an_undeclarable_path_is_a_located_error(
    example: Path, file: str, old: str, new: str, message: str
):
    path = example / file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2 and result.exception is None, result.stderr
    assert message in result.stderr
    assert re.search(rf"^{re.escape(file)}:\d+:\d+: error: ", result.stderr, re.M)


def test_dependency_errors_name_the_line(example: Path):
    """Ports of a dependency it does not have, a dependency that is not one, and a
    dependency with several ports and no serving port: each at its line."""
    web = example / "catalog/services/element-web.yaml"
    web.write_text(
        web.read_text().replace(
            "  ingress:\n",
            "  network:\n"
            "    dependencies:\n"
            "      synapse: {ports: [admin]}\n"
            "      postgres: {ports: [postgres]}\n"
            "  ingress:\n",
        )
    )
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2, result.stderr
    assert "port 'admin' is not a port of 'synapse'" in result.stderr
    assert "'postgres' is not a dependency of 'element-web'" in result.stderr
    lines = web.read_text().split("\n")
    for needle, text in (("admin", "synapse: {ports: [admin]}"), ("postgres'", "postgres: {")):
        line = next(i for i, t in enumerate(lines, 1) if text in t)
        assert re.search(rf"element-web.yaml:{line}:\d+: error: .*{needle}", result.stderr)


def test_no_serving_port_asks_which_ports_are_used(example: Path):
    """Without an ingress, synapse has two ports and no serving port: a dependent that
    does not say which it uses is an error, never all ports."""
    synapse = example / "catalog/services/synapse.yaml"
    block = "  ingress:\n    host: matrix.${customer.domain}\n    port: http\n"
    assert block in synapse.read_text()
    synapse.write_text(synapse.read_text().replace(block, ""))
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2, result.stderr
    assert "which has ports http, metrics and no serving port" in result.stderr
    assert "network.dependencies.synapse.ports" in result.stderr
    assert re.search(r"catalog/services/element-web.yaml:7:\d+: error", result.stderr)


def test_a_database_without_a_network_for_its_cluster_is_an_error(example: Path):
    env = example / "environments/prod/environment.yaml"
    text = env.read_text()
    assert "      zrh1: [10.40.8.0/24]\n" in text
    env.write_text(text.replace("      zrh1: [10.40.8.0/24]\n", ""))
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2, result.stderr
    assert (
        "declares no postgres database network for cluster 'prod-zrh1' or its region 'zrh1'"
        in result.stderr
    )
    assert re.search(r"catalog/services/mas.yaml:\d+:\d+: error", result.stderr)


def test_a_customer_cannot_name_another_customers_host(example: Path):
    """A customer's rule may name the pools' hosts and its own, not another customer's."""
    acme = example / "catalog/customers/acme.yaml"
    acme.write_text(
        acme.read_text().replace(
            "      synapse:\n        replicas: 3\n",
            "      synapse:\n        replicas: 3\n"
            "        network:\n"
            "          egress:\n"
            "            mx: {hosts: [mx1.globex.example], ports: [25]}\n",
        )
    )
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2, result.stderr
    assert "'mx1.globex.example' is not a host of the host pools of 'prod'" in result.stderr


ENVIRONMENT_ERRORS = [
    # (what, old text in prod's environment.yaml, new text, message)
    (
        "a whole private range",
        "corp-vpn: [10.8.0.0/16]",
        "corp-vpn: [10.0.0.0/8]",
        "'corp-vpn' covers 10.0.0.0/8, a whole private range",
    ),
    (
        "a whole private range in halves",
        "corp-vpn: [10.8.0.0/16]",
        "corp-vpn: [10.0.0.0/9, 10.128.0.0/9]",
        "'corp-vpn' covers 10.0.0.0/8, a whole private range",
    ),
    (
        "the cloud metadata endpoint",
        "corp-vpn: [10.8.0.0/16]",
        "corp-vpn: [169.254.169.254/32]",
        "reaches 169.254.0.0/16, the link-local range",
    ),
    (
        "a cluster's pod network",
        "corp-vpn: [10.8.0.0/16]",
        "corp-vpn: [10.128.0.0/12]",
        "overlaps 10.130.0.0/16, an internal network of cluster 'prod-fra1'",
    ),
    (
        "a database range inside the nodes",
        "fra1: [10.30.8.0/24]",
        "fra1: [10.140.8.0/24]",
        "overlaps 10.140.0.0/16, an internal network of cluster 'prod-zrh1'",
    ),
    (
        "a private range beside another block",
        "corp-vpn: [10.8.0.0/16]",
        "corp-vpn: [10.0.0.0/8, 11.0.0.0/8]",
        "'corp-vpn' covers 10.0.0.0/8, a whole private range",
    ),
    (
        "the world beside a private range",
        "corp-vpn: [10.8.0.0/16]",
        "corp-vpn: [0.0.0.0/0, 192.168.0.0/16]",
        "'corp-vpn' covers 192.168.0.0/16, a whole private range",
    ),
    (
        "a database range that is a private range",
        "fra1: [10.30.8.0/24]",
        "fra1: [172.16.0.0/12]",
        "the postgres database range of 'fra1' covers 172.16.0.0/12",
    ),
    (
        "a grant for nothing",
        "  mail-relays-ch: [587]",
        "  mail-relays-ch: [587]\n  mail-relay: [25]",
        "accepts names 'mail-relay', which is no host pool, network or platform namespace",
    ),
    (
        "a database range keyed by neither cluster nor region",
        "fra1: [10.30.8.0/24]",
        "fra2: [10.30.8.0/24]",
        "'fra2' is neither a cluster nor a region of environment 'prod'",
    ),
    (
        "one name for a pool and a network",
        "corp-vpn: [10.8.0.0/16]",
        "corp-vpn: [10.8.0.0/16]\n  spam-filters: [10.9.0.0/16]",
        "'spam-filters' names both a host_pools entry and a networks entry",
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [e[1:] for e in ENVIRONMENT_ERRORS],
    ids=[e[0] for e in ENVIRONMENT_ERRORS],
)
def test_what_the_environment_declares_stays_out_of_the_cluster(
    example: Path, old: str, new: str, message: str
):
    env = example / "environments/prod/environment.yaml"
    text = env.read_text()
    assert old in text
    env.write_text(text.replace(old, new, 1))
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2 and result.exception is None, result.stderr
    assert message in result.stderr
    assert re.search(r"^environments/prod/environment.yaml:\d+:\d+: error: ", result.stderr, re.M)


def test_a_customer_host_inside_the_cluster_is_an_error(example: Path):
    """A customer listing a node's address as its own host would get a rule to it past
    every check: its hosts may not lie in a cluster's internal networks."""
    globex = example / "catalog/customers/globex.yaml"
    text = globex.read_text()
    assert "address: 192.0.2.25" in text
    env = example / "environments/prod/environment.yaml"
    assert "internal_networks: [10.130.0.0/16]" in env.read_text()
    globex.write_text(text.replace("address: 192.0.2.25", "address: 10.130.3.4"))
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2, result.stderr
    assert "host 'mx1.globex.example' (10.130.3.4/32) overlaps 10.130.0.0/16" in result.stderr
    assert re.search(r"^catalog/customers/globex.yaml:\d+:\d+: error", result.stderr, re.M)


def test_a_platform_namespace_is_reached_on_the_ports_it_accepts(example: Path):
    """Pushing logs to Loki in the monitoring namespace: open on the port the
    environment accepts there, and (as every declared path) checked on the policies."""
    for env in ("dev", "staging", "prod"):
        path = example / f"environments/{env}/environment.yaml"
        text = path.read_text()
        anchor = "  mail-relays: [587]"
        assert anchor in text
        path.write_text(text.replace(anchor, "  monitoring: [3100]\n" + anchor))
    synapse = example / "catalog/services/synapse.yaml"
    synapse.write_text(
        synapse.read_text().replace(
            "    egress:\n      smtp:",
            "    egress:\n      loki: {namespace: monitoring, ports: [3100]}\n      smtp:",
        )
    )
    result = run_cli(
        "explain", "prod/acme/synapse", "--network", "-f", "json", "--root", str(example)
    )
    assert result.exit_code == 0, result.stderr
    paths = json.loads(result.stdout)["paths"]
    (loki,) = [p for p in paths if p["peer"] == "namespace monitoring" and p["port"] == 3100]
    assert loki["direction"] == "out" and loki["open"] and loki["declared"]
    assert loki["admitted_by"] == ["acme/synapse-egress-loki egress[0]"]


def test_a_shared_service_admits_only_the_dependents_on_its_cluster(example: Path):
    """sygnal runs on both prod clusters; each copy of its policy names the namespaces
    of the dependents on that cluster, not the other cluster's customers."""
    synapse = example / "catalog/services/synapse.yaml"
    synapse.write_text(
        synapse.read_text().replace("depends_on: [postgres]", "depends_on: [postgres, sygnal]")
    )
    resolved = _resolved(example)
    files = {f.path: f.data for f in pipeline.render(resolved)["prod"]}
    by_cluster = {}
    for cluster in ("prod-fra1", "prod-zrh1"):
        policy = files[
            f"prod/kubernetes/{cluster}/platform/sygnal/networkpolicy-sygnal-from-synapse.yaml"
        ]
        by_cluster[cluster] = {
            peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
            for rule in policy["spec"]["ingress"]
            for peer in rule["from"]
        }
    placed = {
        cluster: {
            i.namespace
            for i in resolved.instances.values()
            if i.service == "synapse" and i.environment == "prod" and cluster in i.clusters
        }
        for cluster in by_cluster
    }
    assert by_cluster == placed
    assert placed["prod-zrh1"] == {"alpenverein", "helvetia-bank"}


def test_a_vm_dependent_without_an_ip_address_is_an_error(example: Path):
    """A relay host given by name cannot be admitted by a NetworkPolicy: a VM service
    that depends on a Kubernetes service there is an error, not a closed path."""
    relay = example / "catalog/services/postfix-relay.yaml"
    relay.write_text(
        relay.read_text().replace("depends_on: [rspamd]", "depends_on: [rspamd, sygnal]")
    )
    env = example / "environments/prod/environment.yaml"
    text = env.read_text()
    assert "address: 10.30.1.11," in text
    env.write_text(text.replace("address: 10.30.1.11,", "address: relay1.fra1.mail.example.net,"))
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2, result.stderr
    assert (
        "host 'relay1.fra1.mail.example.net' of prod/acme/postfix-relay has the address "
        "'relay1.fra1.mail.example.net', which a NetworkPolicy cannot name" in result.stderr
    )
    assert re.search(r"catalog/services/postfix-relay.yaml:7:\d+: error", result.stderr)


def test_two_instances_rendering_one_object_is_an_error(example: Path, tmp_path: Path):
    """Two instance folders with one ConfigMap name in one namespace: two ArgoCD
    Applications would fight over it. Refused, nothing written."""
    acme = example / "catalog/customers/acme.yaml"
    extra = (
        "        extra_resources:\n"
        "          - {apiVersion: v1, kind: ConfigMap, metadata: {name: shared}, data: {a: b}}\n"
    )
    text = acme.read_text()
    text = text.replace(
        "      synapse:\n        replicas: 3\n", "      synapse:\n        replicas: 3\n" + extra
    )
    text = text.replace(
        "  prod:\n    services:\n      postgres:\n",
        "  prod:\n    services:\n      postgres:\n" + extra,
    )
    acme.write_text(text)
    out = tmp_path / "out"
    result = run_cli("compile", "--root", str(example), "--out", str(out))
    assert result.exit_code == 2 and result.exception is None, result.stderr
    assert "are both ConfigMap acme/shared on cluster prod-fra1" in result.stderr
    lines = acme.read_text().split("\n")
    extras = [i for i, line in enumerate(lines, 1) if "name: shared" in line]
    assert re.search(
        rf"^catalog/customers/acme.yaml:({'|'.join(map(str, extras))}):", result.stderr, re.M
    )
    assert not out.exists() or not any(out.rglob("*.yaml"))


def test_network_values_merge_by_layer_and_explain_their_origin(example: Path):
    """A Swiss customer's layer redirects the platform's smtp rule to the Swiss relays
    and keeps its port: each leaf explains the layer and line it came from."""
    result = run_cli("explain", "prod/helvetia-bank/synapse", "-f", "json", "--root", str(example))
    assert result.exit_code == 0, result.stderr
    rows = {r["path"]: r for r in json.loads(result.stdout)["values"]}
    pool, port = rows["network.egress.smtp.host_pool"], rows["network.egress.smtp.ports.0"]
    assert (pool["value"], pool["layer"]) == ("mail-relays-ch", "customer environment override")
    assert pool["file"].startswith("catalog/customers/helvetia-bank.yaml:")
    assert (port["value"], port["layer"]) == (587, "service defaults")
    assert port["file"].startswith("catalog/services/synapse.yaml:")
    paths = json.loads(
        run_cli(
            "explain",
            "prod/helvetia-bank/synapse",
            "--network",
            "-f",
            "json",
            "--root",
            str(example),
        ).stdout
    )["paths"]
    smtp = [p for p in paths if p["peer"].startswith("host pool ")]
    assert [p["peer"] for p in smtp] == ["host pool mail-relays-ch (10.40.1.11)"]
    assert smtp[0]["open"]
    assert smtp[0]["declared_at"].startswith("catalog/customers/helvetia-bank.yaml:")


def test_a_customer_host_inside_the_platforms_ranges_is_an_error(example: Path):
    """A customer naming an address of the managed databases' range as its own host
    would reach it with no grant: its hosts may not lie in the platform's ranges."""
    globex = example / "catalog/customers/globex.yaml"
    text = globex.read_text()
    globex.write_text(text.replace("address: 192.0.2.25", "address: 10.30.8.5"))
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2, result.stderr
    assert (
        "host 'mx1.globex.example' of customer 'globex' is inside the postgres database "
        "range of 'fra1' (10.30.8.0/24), the platform's" in result.stderr
    )


def test_each_ip_block_excepts_only_what_lies_inside_it(example: Path):
    """Clients anywhere, in both address families: the IPv4 block excepts the private
    ranges, the IPv6 block excepts nothing of IPv4 (the API server refuses an except
    outside its cidr), and the path from a public address is open."""
    env = example / "environments/prod/environment.yaml"
    text = env.read_text()
    env.write_text(
        text.replace(
            "  corp-vpn: [10.8.0.0/16]",
            '  corp-vpn: [10.8.0.0/16]\n  clients: [0.0.0.0/0, "2000::/3"]',
        )
    )
    synapse = example / "catalog/services/synapse.yaml"
    synapse.write_text(
        synapse.read_text().replace(
            "  network:\n    internet_egress: true",
            "  network:\n    ingress:\n      clients: {network: clients, ports: [http]}\n"
            "    internet_egress: true",
        )
    )
    run = _run(example)
    (policy,) = [
        f.data
        for f in run.files
        if f.path.endswith("prod-fra1/acme/synapse/networkpolicy-synapse-ingress-clients.yaml")
    ]
    blocks = [peer["ipBlock"] for peer in policy["spec"]["ingress"][0]["from"]]
    assert blocks == [
        {
            "cidr": "0.0.0.0/0",
            "except": [
                "10.0.0.0/8",
                "172.16.0.0/12",
                "192.168.0.0/16",
                "100.64.0.0/10",
                "169.254.0.0/16",
            ],
        },
        {"cidr": "2000::/3"},
    ]
    net, pods = _cluster(run, "prod-fra1")
    assert net.allowed(External("2001:db8::1"), pods["acme/synapse"], 8008).allowed
    assert not net.allowed(External("10.5.5.5"), pods["acme/synapse"], 8008).allowed
    assert _findings(run) == []


def _bridge_to_the_relays(example: Path) -> Path:
    """A Kubernetes bridge that submits mail to the customer's relay (a VM service on
    the platform's pool), enabled for acme in prod."""
    (example / "catalog/services/bridge.yaml").write_text(
        SERVICES["hookshot"]
        .replace("name: hookshot", "name: bridge")
        .replace("depends_on: [synapse]", "depends_on: [postfix-relay]")
        .replace(
            "      synapse: {ports: [http], calls_back: [appservice]}",
            "      postfix-relay: {ports: [submission]}",
        )
        .lstrip()
    )
    relay = example / "catalog/services/postfix-relay.yaml"
    relay.write_text(
        relay.read_text().replace("defaults:\n", "defaults:\n  ports: {submission: 587}\n")
    )
    acme = example / "catalog/customers/acme.yaml"
    acme.write_text(add_acme_prod_services(acme.read_text(), "      bridge:\n"))
    return acme


def test_pods_reach_a_vm_dependency_on_a_platform_pool_only_on_what_it_grants(example: Path):
    """The bridge reaches acme's relay hosts on 587, granted to the pool; a customer
    layer that moves its relay onto the spam filters, or adds ports, is refused."""
    acme = _bridge_to_the_relays(example)
    run = _run(example)
    net, pods = _cluster(run, "prod-fra1")
    assert net.allowed(pods["acme/bridge"], External("10.30.1.11"), 587).allowed
    assert not net.allowed(pods["acme/bridge"], External("10.30.1.11"), 22).allowed
    text = acme.read_text()
    bridge = "      bridge:\n"
    relay = text.rindex("      postfix-relay:\n") + len("      postfix-relay:\n")  # prod's
    assert text.count(bridge) == 1
    acme.write_text(
        text[:relay]
        + "        ports: {ssh: 22}\n"
        + text[relay:].replace(
            bridge,
            bridge
            + "        network: {dependencies: {postfix-relay: {ports: [submission, ssh]}}}\n",
        )
    )
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2, result.stderr
    assert "host pool 'mail-relays' (of " in result.stderr
    assert "does not accept TCP/22 (ssh) from services" in result.stderr


def test_a_customer_uses_a_shared_service_on_its_serving_ports_only(example: Path):
    """The platform's sygnal serves http; acme's layer cannot make it admit acme on
    another of its ports."""
    synapse = example / "catalog/services/synapse.yaml"
    synapse.write_text(
        synapse.read_text().replace("depends_on: [postgres]", "depends_on: [postgres, sygnal]")
    )
    sygnal = example / "catalog/services/sygnal.yaml"
    sygnal.write_text(
        sygnal.read_text().replace("    http: 5000\n", "    http: 5000\n    admin: 5001\n")
    )
    acme = example / "catalog/customers/acme.yaml"
    acme.write_text(
        acme.read_text().replace(
            "      synapse:\n        replicas: 3\n",
            "      synapse:\n        replicas: 3\n"
            "        network: {dependencies: {sygnal: {ports: [admin, http]}}}\n",
        )
    )
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2, result.stderr
    assert "port 'admin' is not a serving port of the shared service 'sygnal'" in result.stderr
    assert re.search(r"^catalog/customers/acme.yaml:\d+:\d+: error", result.stderr, re.M)


def test_an_empty_host_pool_is_an_error_not_every_address(example: Path):
    """An empty pool would render `to: []`, which Kubernetes reads as every address."""
    env = example / "environments/prod/environment.yaml"
    text = env.read_text()
    env.write_text(text.replace("host_pools:\n", "host_pools:\n  spare: []\n", 1))
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2, result.stderr
    assert "host_pools.spare: List should have at least 1 item" in result.stderr


def test_the_internet_leaves_out_the_platforms_public_hosts(example: Path):
    """With the spam filters on public addresses, internet_egress would reach them on
    every port, past their grant: the internet rule excepts them."""
    env = example / "environments/prod/environment.yaml"
    text = env.read_text()
    assert "address: 10.30.1.21," in text
    env.write_text(
        text.replace("address: 10.30.1.21,", "address: 203.0.113.21,").replace(
            "address: 10.30.1.22,", "address: 203.0.113.22,"
        )
    )
    run = _run(example)
    net, pods = _cluster(run, "prod-fra1")
    synapse = pods["acme/synapse"]
    assert net.allowed(synapse, External("198.51.100.7"), 443).allowed  # the internet
    assert not net.allowed(synapse, External("203.0.113.21"), 443).allowed
    assert not net.allowed(synapse, External("203.0.113.22"), 11332).allowed


def test_translated_ipv6_ranges_are_not_networks(example: Path):
    env = example / "environments/prod/environment.yaml"
    env.write_text(
        env.read_text().replace("corp-vpn: [10.8.0.0/16]", 'corp-vpn: ["::ffff:a08:0/112"]')
    )
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2, result.stderr
    assert "IPv6 addresses that reach IPv4 ones" in result.stderr


def test_a_customer_host_inside_a_public_platform_network_is_an_error(example: Path):
    env = example / "environments/prod/environment.yaml"
    env.write_text(
        env.read_text().replace(
            "  corp-vpn: [10.8.0.0/16]", "  corp-vpn: [10.8.0.0/16]\n  partner: [192.0.2.0/24]"
        )
    )
    result = run_cli("validate", "--root", str(example))  # globex's mx1 is 192.0.2.25
    assert result.exit_code == 2, result.stderr
    assert (
        "host 'mx1.globex.example' of customer 'globex' is inside network 'partner' "
        "(192.0.2.0/24), the platform's" in result.stderr
    )


def test_ipv6_clients_anywhere_except_the_inside_forms(example: Path):
    """`::/0` is allowed as a network; its ipBlock leaves out the unique-local,
    link-local, IPv4-mapped and NAT64 ranges, as 0.0.0.0/0 leaves out the private ones."""
    env = example / "environments/prod/environment.yaml"
    env.write_text(
        env.read_text().replace(
            "  corp-vpn: [10.8.0.0/16]", '  corp-vpn: [10.8.0.0/16]\n  clients: ["::/0"]'
        )
    )
    synapse = example / "catalog/services/synapse.yaml"
    synapse.write_text(
        synapse.read_text().replace(
            "  network:\n    internet_egress: true",
            "  network:\n    ingress:\n      clients: {network: clients, ports: [http]}\n"
            "    internet_egress: true",
        )
    )
    run = _run(example)
    (policy,) = [
        f.data
        for f in run.files
        if f.path.endswith("prod-fra1/acme/synapse/networkpolicy-synapse-ingress-clients.yaml")
    ]
    assert policy["spec"]["ingress"][0]["from"] == [
        {
            "ipBlock": {
                "cidr": "::/0",
                "except": ["fc00::/7", "fe80::/10", "::ffff:0:0/96", "64:ff9b::/96"],
            }
        }
    ]
    net, pods = _cluster(run, "prod-fra1")
    assert net.allowed(External("2001:db8::1"), pods["acme/synapse"], 8008).allowed
    assert not net.allowed(External("::ffff:10.1.2.3"), pods["acme/synapse"], 8008).allowed
    assert _findings(run) == []
