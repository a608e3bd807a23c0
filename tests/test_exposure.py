"""Exposure on OpenShift (issue 14, items 1 and 4): an instance's ingress is a Route on
an OpenShift cluster, admitted from the router's namespace, and the Route passes the
strict schema derived from the published CRD."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from compiler import pipeline
from compiler.check.custom_crds import strict_schema
from compiler.check.schemas import CRDS
from tests.conftest import reference, run_cli


def _without_nulls(node):
    if isinstance(node, dict):
        return {k: _without_nulls(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [_without_nulls(x) for x in node]
    return node


def _route_crd_schema() -> dict:
    crd = yaml.safe_load(reference("crds/route.openshift.io_routes.yaml").read_text())
    (v1,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return v1["schema"]["openAPIV3Schema"]


def test_the_route_schema_is_the_published_crd_made_strict():
    shipped = json.loads((CRDS / "route.openshift.io_v1_route.json").read_text())
    # the conversion policies/crds/ uses too (check/custom_crds.py): one converter
    assert shipped == strict_schema(_route_crd_schema())


def _staging(example: Path) -> dict[str, dict]:
    resolved = pipeline.run(example, ["staging"])
    return {f.path: f.data for f in pipeline.render(resolved)["staging"]}


def test_an_openshift_cluster_gets_routes_and_admits_its_router(example: Path):
    files = _staging(example)
    ocp = "staging/kubernetes/stg-ocp1/alpenverein/synapse/"
    plain = "staging/kubernetes/stg-fra1/acme/synapse/"
    kinds = {p.rsplit("/", 1)[1].split("-")[0] for p in files if p.startswith(ocp)}
    assert "route" in kinds and not {"ingress", "certificate"} & kinds
    assert {"ingress", "certificate"} <= {
        p.rsplit("/", 1)[1].split("-")[0] for p in files if p.startswith(plain)
    }
    route = files[ocp + "route-synapse.yaml"]
    assert route["spec"]["host"] == "matrix.alpenverein-zh.example"
    assert route["spec"]["to"] == {"kind": "Service", "name": "synapse", "weight": 100}
    assert route["spec"]["tls"]["termination"] == "edge"
    # the published CRD's own schema (its `anyOf: null`, which the API server ignores,
    # left out) and the strict one both accept it
    jsonschema.validate(route, _without_nulls(_route_crd_schema()))
    jsonschema.validate(route, json.loads((CRDS / "route.openshift.io_v1_route.json").read_text()))
    # the router, not ingress-nginx, is admitted on the OpenShift cluster
    (peer,) = files[ocp + "networkpolicy-synapse-from-ingress-controller.yaml"]["spec"]["ingress"][
        0
    ]["from"]
    assert (
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        == "openshift-ingress"
    )
    (peer,) = files[plain + "networkpolicy-synapse-from-ingress-controller.yaml"]["spec"][
        "ingress"
    ][0]["from"]
    assert (
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "ingress-nginx"
    )


def test_an_environment_wide_service_is_admitted_by_each_clusters_controller(example: Path):
    files = _staging(example)
    names = {}
    for cluster in ("stg-fra1", "stg-ocp1"):
        policy = files[
            f"staging/kubernetes/{cluster}/platform/sygnal/networkpolicy-sygnal-from-ingress-controller.yaml"
        ]
        (peer,) = policy["spec"]["ingress"][0]["from"]
        names[cluster] = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
    assert names == {"stg-fra1": "ingress-nginx", "stg-ocp1": "openshift-ingress"}


def test_a_route_with_a_misspelt_field_fails_the_strict_schema():
    schema = json.loads((CRDS / "route.openshift.io_v1_route.json").read_text())
    route = {
        "apiVersion": "route.openshift.io/v1",
        "kind": "Route",
        "metadata": {"name": "x"},
        "spec": {
            "to": {"kind": "Service", "name": "x", "weight": 100},
            "tls": {"termnation": "edge"},
        },
    }
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(route))
    assert errors and "termnation" in str(errors[0].message)


# ----------------------------------------------------------------- exposure by port


def _run(root: Path, env: str):
    import datetime

    from compiler.check import EnvironmentInput

    resolved = pipeline.run(root, [env])
    files = pipeline.render(resolved)[env]
    return EnvironmentInput(
        resolved.catalog, env, list(resolved.instances.values()), files, datetime.date.today()
    )


def test_turn_is_exposed_over_udp_through_a_load_balancer(example: Path):
    """The example's coturn: one LoadBalancer Service with its UDP and TLS ports, the
    environment's annotations, the client's address kept; the policy admits clients
    anywhere on those ports and nothing from inside the cluster."""
    from compiler.check.builtins import network_reachability as reach
    from compiler.check.netpol import External

    run = _run(example, "prod")
    files = {f.path: f.data for f in run.files}
    # one load balancer per protocol: many clouds' take one protocol per Service
    udp = files["prod/kubernetes/prod-fra1/platform/coturn/service-coturn-loadbalancer-udp.yaml"]
    tcp = files["prod/kubernetes/prod-fra1/platform/coturn/service-coturn-loadbalancer-tcp.yaml"]
    for service in (udp, tcp):
        assert service["spec"]["type"] == "LoadBalancer"
        assert service["spec"]["externalTrafficPolicy"] == "Local"
        assert service["metadata"]["annotations"] == {
            "service.beta.kubernetes.io/aws-load-balancer-type": "nlb"
        }
    assert [(p["name"], p["port"], p["protocol"]) for p in udp["spec"]["ports"]] == [
        ("turn", 3478, "UDP")
    ]
    assert [(p["name"], p["port"], p["protocol"]) for p in tcp["spec"]["ports"]] == [
        ("turn-tcp", 3478, "TCP")
    ]
    cluster_ip = files["prod/kubernetes/prod-fra1/platform/coturn/service-coturn.yaml"]
    assert cluster_ip["spec"]["type"] == "ClusterIP"
    found = reach.inventory(
        (f.data for f in run.files if "/prod-fra1/" in f.path),
        "ingress-nginx",
        run.catalog.environments["prod"],
    )
    net, _ = reach.cluster_of(found.policies, found.namespaces)
    turn = found.pods["platform/coturn"]
    assert net.allowed(External("198.51.100.20"), turn, 3478, "UDP").allowed
    assert net.allowed(External("198.51.100.20"), turn, 3478, "TCP").allowed
    assert not net.allowed(External("198.51.100.20"), turn, 9641, "TCP").allowed
    assert not net.allowed(External("10.1.2.3"), turn, 3478, "UDP").allowed
    assert not [f for f in reach.check(run)]


def _expose(example: Path, text: str) -> None:
    path = example / "catalog/services/coturn.yaml"
    old = (
        "  expose:  # reached by call clients anywhere, through the cloud's load balancers\n"
        "    turn: {type: LoadBalancer}\n    turn-tcp: {type: LoadBalancer}\n"
    )
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, text))


def test_a_node_port_from_a_named_network(example: Path):
    _expose(
        example,
        "  expose:\n    turn-tcp: {type: NodePort, node_port: 30349, clients: corp-vpn}\n",
    )
    run = _run(example, "prod")
    files = {f.path: f.data for f in run.files}
    service = files["prod/kubernetes/prod-fra1/platform/coturn/service-coturn-nodeport.yaml"]
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["ports"] == [
        {
            "name": "turn-tcp",
            "port": 3478,
            "targetPort": "turn-tcp",
            "protocol": "TCP",
            "nodePort": 30349,
        }
    ]
    policy = files["prod/kubernetes/prod-fra1/platform/coturn/networkpolicy-coturn-exposed.yaml"]
    assert policy["spec"]["ingress"][0]["from"] == [{"ipBlock": {"cidr": "10.8.0.0/16"}}]


def test_two_services_on_one_node_port_is_an_error(example: Path):
    _expose(example, "  expose:\n    turn-tcp: {type: NodePort, node_port: 30349}\n")
    sygnal = example / "catalog/services/sygnal.yaml"
    sygnal.write_text(
        sygnal.read_text().replace(
            "  ingress:\n", "  expose:\n    http: {type: NodePort, node_port: 30349}\n  ingress:\n"
        )
    )
    result = run_cli("compile", "--root", str(example), "--out", str(example / "out"))
    assert result.exit_code == 2 and result.exception is None, result.stderr
    assert "node port 30349 of" in result.stderr and "is already" in result.stderr


def test_a_customer_cannot_expose_a_port(example: Path):
    acme = example / "catalog/customers/acme.yaml"
    acme.write_text(
        acme.read_text().replace(
            "      synapse:\n        replicas: 3\n",
            "      synapse:\n        replicas: 3\n        expose: {http: {type: LoadBalancer}}\n",
        )
    )
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2, result.stderr
    assert "port 'http' is exposed outside the cluster by a customer's layer" in result.stderr
    assert re.search(r"^catalog/customers/acme.yaml:\d+:\d+: error", result.stderr, re.M)


def test_a_patch_widening_an_exposed_service_is_out_of_scope(example: Path):
    """tenant-scope lets a LoadBalancer Service be only what `expose` declares: a patch
    adding the metrics port to it, or turning a ClusterIP Service into one, is found."""
    from compiler.check.builtins import tenant_scope

    sygnal = example / "catalog/services/sygnal.yaml"
    sygnal.write_text(
        sygnal.read_text()
        + "  patches:\n"
        + "    - target: {kind: Service, name: sygnal}\n"
        + "      merge_patch: {spec: {type: LoadBalancer}}\n"
    )
    coturn = example / "catalog/services/coturn.yaml"
    coturn.write_text(
        coturn.read_text()
        + "  patches:\n"
        + "    - target: {kind: Service, name: coturn-loadbalancer-tcp}\n"
        + "      json_patch: [{op: add, path: /spec/ports/-, value:"
        + " {name: metrics, port: 9641, targetPort: metrics, protocol: TCP}}]\n"
    )
    found = {f.message.split(":")[0] for f in tenant_scope.check(_run(example, "dev"))}
    assert found == {
        "dev/kubernetes/dev-fra1/platform/sygnal/service-sygnal.yaml",
        "dev/kubernetes/dev-fra1/platform/coturn/service-coturn-loadbalancer-tcp.yaml",
    }


def test_review_fixes_for_exposure_and_routes(example: Path):
    """expose on a VM service is refused; per-cluster values may not move NetworkPolicy
    inputs (coturn's exposure naming the region); a customer named like a cluster's own
    ingress controller namespace is refused."""
    relay = example / "catalog/services/postfix-relay.yaml"
    relay.write_text(
        relay.read_text().replace(
            "  secrets:\n", "  expose: {smtp: {type: NodePort}}\n  secrets:\n", 1
        )
    )
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2, result.stderr
    assert "'postfix-relay' runs on VMs: its hosts are reached at their addresses" in result.stderr


def test_a_per_cluster_network_value_is_refused(example: Path):
    env = example / "environments/prod/environment.yaml"
    env.write_text(
        env.read_text().replace(
            "  corp-vpn: [10.8.0.0/16]",
            "  corp-vpn: [10.8.0.0/16]\n  vpn-fra1: [10.9.0.0/16]\n  vpn-zrh1: [10.10.0.0/16]",
        )
    )
    coturn = example / "catalog/services/coturn.yaml"
    coturn.write_text(
        coturn.read_text().replace(
            "    turn-tcp: {type: LoadBalancer}\n",
            '    turn-tcp: {type: LoadBalancer, clients: "vpn-${instance.region}"}\n',
        )
    )
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2, result.stderr
    assert "expose is one per environment" in result.stderr


# ------------------------------------------- the port a Service publishes (issue 18)


def test_an_exposed_port_is_published_on_its_own_service_port(example: Path):
    """`expose.<port>.port` maps the load balancer's port to the container's: coturn's
    TURN over TCP on 443 (clients behind firewalls that pass only 443), the pod still
    listening on 3478. The Service publishes 443 with the named targetPort; the
    NetworkPolicy admits the pod's 3478, which is what it sees behind the Service;
    tenant-scope accepts the Service as what `expose` declares, and the reachability
    check finds every declared path open."""
    from compiler.check.builtins import network_reachability as reach
    from compiler.check.builtins import tenant_scope
    from compiler.check.netpol import External

    _expose(
        example,
        "  expose:\n    turn: {type: LoadBalancer}\n"
        "    turn-tcp: {type: LoadBalancer, port: 443}\n",
    )
    run = _run(example, "prod")
    files = {f.path: f.data for f in run.files}
    folder = "prod/kubernetes/prod-fra1/platform/coturn/"
    tcp = files[folder + "service-coturn-loadbalancer-tcp.yaml"]
    assert tcp["spec"]["ports"] == [
        {"name": "turn-tcp", "port": 443, "targetPort": "turn-tcp", "protocol": "TCP"}
    ]
    udp = files[folder + "service-coturn-loadbalancer-udp.yaml"]  # not mapped: as declared
    assert [(p["port"], p["targetPort"]) for p in udp["spec"]["ports"]] == [(3478, "turn")]
    policy = files[folder + "networkpolicy-coturn-exposed.yaml"]
    assert {"protocol": "TCP", "port": "turn-tcp"} in policy["spec"]["ingress"][0]["ports"]
    found = reach.inventory(
        (f.data for f in run.files if "/prod-fra1/" in f.path),
        "ingress-nginx",
        run.catalog.environments["prod"],
    )
    net, _ = reach.cluster_of(found.policies, found.namespaces)
    turn = found.pods["platform/coturn"]
    assert net.allowed(External("198.51.100.20"), turn, 3478, "TCP").allowed  # the pod's port
    assert not [f for f in reach.check(run)]
    assert not [f for f in tenant_scope.check(run)]
    # the same Service publishing a port `expose` does not map is out of scope
    coturn = example / "catalog/services/coturn.yaml"
    coturn.write_text(
        coturn.read_text()
        + "  patches:\n"
        + "    - target: {kind: Service, name: coturn-loadbalancer-tcp}\n"
        + "      json_patch: [{op: replace, path: /spec/ports/0/port, value: 3478}]\n"
    )
    found_scope = {f.message.split(":")[0] for f in tenant_scope.check(_run(example, "prod"))}
    assert folder + "service-coturn-loadbalancer-tcp.yaml" in found_scope


@pytest.mark.parametrize(
    ("expose", "line", "message"),
    [
        (
            "    turn-tcp: {type: LoadBalancer, port: 443}\n"
            "    metrics: {type: LoadBalancer, port: 443}\n",
            15,
            "exposed ports 'metrics' and 'turn-tcp' would both be published on TCP port 443 "
            "of the LoadBalancer Service",
        ),
        (  # a mapped port onto another's own number
            "    turn-tcp: {type: LoadBalancer}\n    metrics: {type: LoadBalancer, port: 3478}\n",
            16,
            "exposed ports 'turn-tcp' and 'metrics' would both be published on TCP port 3478",
        ),
        ("    turn-tcp: {type: LoadBalancer, port: 0}\n", 15, "greater than or equal to 1"),
        ("    turn-tcp: {type: LoadBalancer, port: 65536}\n", 15, "less than or equal to 65535"),
    ],
    ids=["two-on-443", "onto-anothers-number", "zero", "past-65535"],
)
def test_a_bad_service_port_is_an_error_at_its_line(
    example: Path, expose: str, line: int, message: str
):
    _expose(example, "  expose:\n" + expose)
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2 and result.exception is None, result.stderr
    assert "Traceback" not in result.stderr
    located = [
        e
        for e in result.stderr.splitlines()
        if e.startswith(f"catalog/services/coturn.yaml:{line}:")
    ]
    assert any(message in e for e in located), result.stderr


def test_one_port_number_on_two_services_is_no_conflict(example: Path):
    """Each type and protocol is a Service of its own: TURN over UDP and over TCP may
    both be published on 443 (two load balancers), as a UDP and a TCP listener share a
    number."""
    _expose(
        example,
        "  expose:\n    turn: {type: LoadBalancer, port: 443}\n"
        "    turn-tcp: {type: LoadBalancer, port: 443}\n",
    )
    assert run_cli("validate", "--root", str(example)).exit_code == 0
