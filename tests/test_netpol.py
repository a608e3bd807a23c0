"""The NetworkPolicy evaluator (compiler/check/netpol.py) against the semantics the
Kubernetes documentation states, case by case (tests/fixtures/netpol/cases.yaml: the
docs' examples and the policy recipes, each query with its verdict and both sides), and
against gitopsc's own committed output: the paths a tenant's services need are open, and
nothing crosses tenants."""

from __future__ import annotations

import pytest
import yaml

from compiler.check.builtins.network_reachability import inventory
from compiler.check.netpol import Cluster, External, InvalidPolicy, Pod, Rule, Side
from tests.conftest import REPO

WORLD = yaml.safe_load((REPO / "tests/fixtures/netpol/cases.yaml").read_text())
PODS = {
    name: Pod(
        name,
        raw["namespace"],
        raw.get("labels") or {},
        raw.get("ip"),
        {port: tuple(value) for port, value in (raw.get("ports") or {}).items()},
    )
    for name, raw in WORLD["pods"].items()
}


def endpoint(name: str) -> Pod | External:
    """A pod of the fixture's world by name, else an external IP."""
    return PODS.get(str(name)) or External(str(name))


def network_policy(name: str, namespace: str, spec: dict) -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def summary(side: Side) -> str | list[str]:
    """A side as the fixture writes it: the admitting rules, or `closed by ...`, or `open`."""
    if side.admitted_by:
        return [str(rule) for rule in side.admitted_by]
    if side.isolated_by:
        return "closed by " + ", ".join(side.isolated_by)
    return "open"


def expected(value: str | list[str]) -> str | list[str]:
    one_rule = isinstance(value, str) and value != "open" and not value.startswith("closed by ")
    return [value] if one_rule else value


def case_id(scenario: dict, query: dict) -> str:
    traffic = f"{query['from']}->{query['to']} {query.get('protocol', 'TCP')}/{query['port']}"
    return f"{scenario['name']}: {traffic}"


CASES = [
    pytest.param(scenario, query, id=case_id(scenario, query))
    for scenario in WORLD["scenarios"]
    for query in scenario["queries"]
]


@pytest.mark.parametrize(("scenario", "query"), CASES)
def test_the_documented_semantics(scenario, query):
    policies = [network_policy(p["name"], p["namespace"], p["spec"]) for p in scenario["policies"]]
    cluster = Cluster(policies, WORLD["namespaces"])
    source, destination = endpoint(query["from"]), endpoint(query["to"])
    verdict = cluster.allowed(source, destination, query["port"], query.get("protocol", "TCP"))
    assert verdict.allowed is query["allowed"], verdict.reason
    assert verdict.loopback is query.get("loopback", False), verdict.reason
    assert summary(verdict.egress) == expected(query["egress"]), verdict.reason
    assert summary(verdict.ingress) == expected(query["ingress"]), verdict.reason


def test_the_table_is_large_enough_to_mean_something():
    assert len(CASES) >= 40
    assert any(not q["allowed"] for _, q in (c.values for c in CASES))


def test_the_reason_names_the_closed_side_and_the_opening_rule():
    deny = network_policy("deny", "default", {"podSelector": {}, "policyTypes": ["Ingress"]})
    allow = network_policy(
        "allow-frontend",
        "default",
        {
            "podSelector": {},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "frontend"}}}]}],
        },
    )
    cluster = Cluster([deny, allow])
    denied = cluster.allowed(PODS["client"], PODS["web"], 80)
    assert denied.reason == (
        "denied: default/client -> default/web TCP/80; egress from default/client: not isolated; "
        "ingress to default/web: isolated by default/deny, default/allow-frontend; "
        "no rule admits it"
    )
    opened = cluster.allowed(PODS["frontend"], PODS["web"], 80)
    assert opened.ingress.admitted_by == (Rule("default/allow-frontend", "ingress", 0),)
    assert "admitted by default/allow-frontend ingress[0]" in opened.reason


INVALID = [
    ({"ingress": [{"from": [{}]}]}, "spec.ingress[0].from[0]: must specify a peer"),
    (
        {"ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]}]},
        "ipBlock may not be combined with a selector",
    ),
    (
        {"ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.1.0.0/24"]}}]}]},
        "is not a strict subset of 10.0.0.0/16",
    ),
    ({"ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0/16"}}]}]}, "ipBlock: "),
    ({"egress": [{"ports": [{"port": "http", "endPort": 90}]}]}, "endPort: needs a numeric port"),
    ({"egress": [{"ports": [{"port": 90, "endPort": 80}]}]}, "endPort: needs a numeric port"),
    ({"egress": [{"ports": [{"port": "8080"}]}]}, "'8080' is no port name; write a number"),
    ({"egress": [{"ports": [{"port": 70000}]}]}, "is not from 1 to 65535"),
    ({"egress": [{"ports": [{"port": 80, "protocol": "ICMP"}]}]}, "'ICMP' is not TCP, UDP or SCTP"),
    ({"policyTypes": ["Ingres"]}, "spec.policyTypes: only Ingress and Egress"),
    (
        {"podSelector": {"matchExpressions": [{"key": "a", "operator": "Is", "values": ["b"]}]}},
        "matchExpressions[0]: operator 'Is'",
    ),
    (
        {"podSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}},
        "In and NotIn take values",
    ),
    ({"podSelector": {"matchLabels": {"enabled": True}}}, "label values are strings"),
]


@pytest.mark.parametrize(("spec", "message"), INVALID, ids=[m for _, m in INVALID])
def test_a_policy_the_api_server_refuses_is_refused(spec, message):
    with pytest.raises(InvalidPolicy, match="default/broken: ") as raised:
        Cluster([network_policy("broken", "default", {"podSelector": {}, **spec})])
    assert message in str(raised.value)


def test_only_network_policies_and_only_sane_queries():
    with pytest.raises(InvalidPolicy, match=r"not a networking\.k8s\.io/v1 NetworkPolicy"):
        Cluster([{**network_policy("x", "default", {}), "kind": "Service"}])
    with pytest.raises(InvalidPolicy, match=r"metadata\.name and metadata\.namespace"):
        Cluster([network_policy("x", "", {})])
    cluster = Cluster([])
    with pytest.raises(ValueError, match="port must be a number"):
        cluster.allowed(PODS["client"], PODS["web"], 0)
    with pytest.raises(ValueError, match="protocol must be one of"):
        cluster.allowed(PODS["client"], PODS["web"], 80, "tcp")


# gitopsc's own output: the committed rendered/ tree, one cluster at a time


def rendered_cluster(environment: str, cluster: str) -> tuple[Cluster, dict[str, Pod]]:
    """The cluster's policies, namespaces and pods as the network-reachability check
    builds them (one pod per Deployment or StatefulSet, plus the ingress controller and
    cluster DNS, which the policies name but gitopsc does not render)."""
    root = REPO / "rendered" / environment / "kubernetes" / cluster
    objects = [
        item
        for path in sorted(root.rglob("*.yaml"))
        for item in yaml.safe_load_all(path.read_text())
    ]
    found = inventory(objects)
    assert found.policies and len(found.pods) > 2, f"nothing rendered under {root}"
    return Cluster(found.policies.values(), found.namespaces), found.pods


def port_of(pod: Pod, name: str) -> int:
    number, protocol = pod.ports[name]
    assert protocol == "TCP"
    return number


def admitting(side: Side) -> set[str]:
    return {rule.policy for rule in side.admitted_by}


TENANT_PAIRS = [
    ("prod", "prod-fra1", "acme", "initech"),
    ("dev", "dev-fra1", "acme", "globex"),
    ("staging", "stg-fra1", "acme", "helvetia-bank"),
    ("prod", "prod-zrh1", "helvetia-bank", "alpenverein"),
]


@pytest.mark.parametrize(("environment", "cluster", "tenant", "other"), TENANT_PAIRS)
def test_rendered_tenant_paths_are_open_within_and_closed_across(
    environment, cluster, tenant, other
):
    net, pods = rendered_cluster(environment, cluster)
    web, synapse = pods[f"{tenant}/element-web"], pods[f"{tenant}/synapse"]
    postgres = pods[f"{tenant}/postgres"]

    verdict = net.allowed(web, synapse, port_of(synapse, "http"))
    assert verdict.allowed, verdict.reason
    assert admitting(verdict.egress) == {f"{tenant}/element-web-to-synapse"}
    assert admitting(verdict.ingress) == {f"{tenant}/synapse-from-element-web"}
    # a dependent reaches its dependency's serving port, not all of its ports
    verdict = net.allowed(web, synapse, port_of(synapse, "metrics"))
    assert not verdict.allowed and not verdict.ingress.admitted_by, verdict.reason

    verdict = net.allowed(synapse, postgres, port_of(postgres, "postgres"))
    assert verdict.allowed, verdict.reason
    assert admitting(verdict.egress) == {f"{tenant}/synapse-to-postgres"}
    assert admitting(verdict.ingress) == {f"{tenant}/postgres-from-synapse"}

    # the browser client talks to synapse only, never to its database
    verdict = net.allowed(web, postgres, port_of(postgres, "postgres"))
    assert not verdict.allowed and not verdict.egress.admitted_by, verdict.reason
    assert not verdict.ingress.admitted_by, verdict.reason

    # another tenant's synapse: closed on both sides
    theirs = pods[f"{other}/synapse"]
    for source, destination in ((web, theirs), (pods[f"{other}/element-web"], synapse)):
        verdict = net.allowed(source, destination, port_of(destination, "http"))
        assert not verdict.allowed, verdict.reason
        assert verdict.egress.isolated_by and not verdict.egress.admitted_by, verdict.reason
        assert verdict.ingress.isolated_by and not verdict.ingress.admitted_by, verdict.reason
    verdict = net.allowed(synapse, pods[f"{other}/postgres"], port_of(postgres, "postgres"))
    assert not verdict.allowed, verdict.reason


def test_rendered_acme_around_the_edges():
    net, pods = rendered_cluster("prod", "prod-fra1")
    synapse, postgres = pods["acme/synapse"], pods["acme/postgres"]
    controller, dns = pods["ingress-nginx/controller"], pods["kube-system/coredns"]
    assert port_of(synapse, "http") == 8008 and port_of(postgres, "postgres") == 5432

    verdict = net.allowed(controller, synapse, 8008)
    assert verdict.allowed and admitting(verdict.ingress) == {
        "acme/synapse-from-ingress-controller"
    }
    assert not net.allowed(controller, synapse, 9000).allowed  # metrics: Prometheus only
    assert not net.allowed(controller, postgres, 5432).allowed

    verdict = net.allowed(synapse, dns, 53, "UDP")
    assert verdict.allowed and admitting(verdict.egress) == {"acme/allow-dns"}
    assert not net.allowed(synapse, dns, 5353, "UDP").allowed

    # federation goes out to public addresses, not into private ranges
    verdict = net.allowed(synapse, External("203.0.113.9"), 8448)
    assert verdict.allowed and admitting(verdict.egress) == {"acme/synapse-to-internet"}
    assert not net.allowed(synapse, External("10.1.2.3"), 443).allowed
    # except to the mail relays the environment declares, on the submission port only
    verdict = net.allowed(synapse, External("10.30.1.11"), 587)
    assert verdict.allowed and admitting(verdict.egress) == {"acme/synapse-egress-smtp"}
    assert not net.allowed(synapse, External("10.30.1.11"), 25).allowed
    # postgres itself may not call out at all (default-deny, allow-dns only)
    assert not net.allowed(postgres, External("203.0.113.9"), 443).allowed
    # and nothing outside the cluster reaches synapse except through the controller
    assert not net.allowed(External("203.0.113.9"), synapse, 8008).allowed
