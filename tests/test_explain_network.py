"""`gitopsc explain --network`: the paths of one instance as its rendered NetworkPolicies
decide them, from the same evaluation as the network-reachability check."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli


def _paths(example: Path) -> list[dict]:
    result = run_cli(
        "explain", "prod/acme/synapse", "--network", "-f", "json", "--root", str(example)
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["instance"] == "prod/acme/synapse"
    return data["paths"]


def _one(paths: list[dict], direction: str, peer: str, port_name: str) -> dict:
    (row,) = [
        p
        for p in paths
        if (p["direction"], p["peer"], p["port_name"]) == (direction, peer, port_name)
    ]
    return row


def test_declared_paths_are_open_and_admitted(example: Path):
    paths = _paths(example)
    web = _one(paths, "in", "prod/acme/element-web", "http")
    assert web["open"] and web["declared"] and web["port"] == 8008
    assert web["admitted_by"] == [
        "acme/element-web-to-synapse egress[0]",
        "acme/synapse-from-element-web ingress[0]",
    ]
    assert web["declared_at"].startswith("catalog/services/element-web.yaml:7:")
    postgres = _one(paths, "out", "prod/acme/postgres", "postgres")
    assert postgres["open"] and postgres["admitted_by"] == [
        "acme/synapse-to-postgres egress[0]",
        "acme/postgres-from-synapse ingress[0]",
    ]
    assert _one(paths, "in", "the ingress controller", "http")["open"]
    dns = [p for p in paths if p["peer"] == "cluster DNS"]
    assert {p["protocol"] for p in dns} == {"UDP", "TCP"} and all(p["open"] for p in dns)
    assert all(p["declared"] for p in paths)


def test_a_patch_that_drops_the_rule_closes_the_path(example: Path):
    customer = example / "catalog/customers/acme.yaml"
    text = customer.read_text()
    assert "        replicas: 3\n" in text
    customer.write_text(
        text.replace(
            "        replicas: 3\n",
            "        replicas: 3\n"
            "        patches:\n"
            "          - target: {kind: NetworkPolicy, name: synapse-from-element-web}\n"
            "            json_patch: [{op: remove, path: /spec/ingress/0}]\n",
        )
    )
    paths = _paths(example)
    web = _one(paths, "in", "prod/acme/element-web", "http")
    assert not web["open"] and web["declared"]
    assert web["declared_at"].startswith("catalog/services/element-web.yaml:7:")
    assert web["narrowed_at"].startswith("catalog/customers/acme.yaml:35:")
    assert "acme/synapse-from-element-web ingress[0]" not in web["admitted_by"]
    assert _one(paths, "out", "prod/acme/postgres", "postgres")["open"]
    table = run_cli("explain", "prod/acme/synapse", "--network", "--root", str(example))
    assert table.exit_code == 0 and "CLOSED" in table.stdout


def test_an_undeclared_open_path_is_flagged(example: Path):
    """An extra policy that opens synapse's egress to every namespace reaches the ingress
    controller (not isolated) on ports nothing declares: flagged, at no catalog line."""
    customer = example / "catalog/customers/acme.yaml"
    customer.write_text(
        customer.read_text().replace(
            "        replicas: 3\n",
            "        replicas: 3\n"
            "        extra_resources:\n"
            "          - apiVersion: networking.k8s.io/v1\n"
            "            kind: NetworkPolicy\n"
            "            metadata: {name: allow-out}\n"
            "            spec:\n"
            "              podSelector: {matchLabels: {app.kubernetes.io/name: synapse}}\n"
            "              policyTypes: [Egress]\n"
            "              egress: [{to: [{namespaceSelector: {}}]}]\n",
        )
    )
    undeclared = [p for p in _paths(example) if not p["declared"]]
    assert undeclared
    assert {p["peer"] for p in undeclared} == {"ingress-nginx/controller"}
    assert all(p["open"] and p["direction"] == "out" for p in undeclared)
    assert all(p["declared_at"] is None for p in undeclared)
    assert all("acme/allow-out egress[0]" in p["admitted_by"] for p in undeclared)


def test_network_unknown_instance_and_path_are_usage_errors(example: Path):
    result = run_cli("explain", "prod/acme/synaps", "--network", "--root", str(example))
    assert result.exit_code == 2 and "did you mean 'prod/acme/synapse'" in result.stderr
    result = run_cli(
        "explain", "prod/acme/synapse", "--network", "--path", "ports", "--root", str(example)
    )
    assert result.exit_code == 2 and "do not combine" in result.stderr


def test_vm_and_environment_scoped_instances(example: Path):
    result = run_cli("explain", "prod/acme/postfix-relay", "--network", "--root", str(example))
    assert result.exit_code == 0 and "no network paths" in result.stdout
    result = run_cli("explain", "prod/sygnal", "--network", "-f", "json", "--root", str(example))
    paths = json.loads(result.stdout)["paths"]
    assert {p["cluster"] for p in paths} == {"prod-fra1", "prod-zrh1"}
    assert all(p["open"] for p in paths)
