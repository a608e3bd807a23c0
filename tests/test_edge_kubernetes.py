"""An edge on Kubernetes (issue 18, item 2): an environment-scoped `kubernetes` service
with `edge:` gets, on each cluster it runs on, the HAProxy or Nginx configuration made
from the same routing table as the VM edges, in its files' ConfigMap, mounted read-only
at the program's path. The file passes `haproxy -c` / `nginx -t`, routes the customers
of the cluster's residencies to their own cluster, follows the catalog (a customer added
appears, and the pods roll), and a broken line makes the tool fail. Bad declarations
are errors at their line (exit 2)."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from compiler import pipeline
from compiler.catalog.edges import EDGE_CONFIG_PATH
from compiler.render import edge
from tests.conftest import REPO, copy_example, run_cli, tool
from tests.test_edge import STREAM_MODULE, _clean, _edit, haproxy_check
from tests.test_edge import nginx_check as _host_nginx_check

EDGE_FILE = "catalog/services/kube-edge.yaml"
PROD = "environments/prod/environment.yaml"
DIGEST = "sha256:1a3c5e7b9d2f4a6c8e0b1d3f5a7c9e2b4d6f8a0c2e4b6d8f0a1c3e5b7d9f2a4c"
SERVICE = f"""\
name: kube-edge
description: The edge in front of the clusters, on Kubernetes.
owner: chat-platform
runtime: kubernetes
scope: environment
environments: [prod]
defaults:
  image: docker.io/library/haproxy:3.0.5@{DIGEST}
  replicas: 2
  ports:
    https: 8443
    http: 8080
  expose:
    https: {{type: LoadBalancer}}
    http: {{type: LoadBalancer}}
  resources:
    requests: {{cpu: 100m, memory: 128Mi}}
    limits: {{cpu: 500m, memory: 256Mi}}
  probes:
    liveness: {{type: tcp, port: https}}
    readiness: {{type: tcp, port: https}}
  network:
    egress:
      ingress:  # the clusters' ingress load balancers, which the routes lead to
        network: ingress-lbs
        ports: [443, 80]
  edge:
    software: haproxy
    routes: [synapse, element-web, mas, mta-sts]
"""


def with_kubernetes_edge(root: Path, software: str = "haproxy") -> Path:
    """The example with a Kubernetes edge in prod, and the network of the clusters'
    ingress load balancers it reaches (declared and accepted like any shared peer)."""
    (root / EDGE_FILE).write_text(SERVICE.replace("software: haproxy", f"software: {software}"))
    _edit(
        root / PROD,
        "networks:\n  corp-vpn:",
        "networks:\n  ingress-lbs: [10.30.0.100/32, 10.40.0.100/32]\n  corp-vpn:",
    )
    _edit(root / PROD, "  keycloak: [443]  #", "  ingress-lbs: [443, 80]\n  keycloak: [443]  #")
    return root


def manifests(root: Path, cluster: str) -> dict[str, dict[str, Any]]:
    """kind/name -> object of the edge's folder on `cluster`."""
    path = root / f"rendered/prod/kubernetes/{cluster}/platform/kube-edge/manifests.yaml"
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in yaml.safe_load_all(path.read_text())}


def config(root: Path, cluster: str, name: str = "haproxy.cfg") -> str:
    return manifests(root, cluster)["ConfigMap/kube-edge-files"]["data"][name]


def nginx_check(content: str, work: Path) -> subprocess.CompletedProcess[str]:
    """`nginx -t` on the file as the pod loads it: its pid is the file's own (/tmp), so
    only the error log of the start goes to the temporary folder."""
    _host_nginx_check("events {}\n", work / "probe")  # skips or fails as test_edge does
    assert Path(STREAM_MODULE).exists()
    work.mkdir(parents=True, exist_ok=True)
    path = work / "nginx.conf"
    path.write_text(content)
    command = [tool("nginx"), "-t", "-c", str(path), "-p", f"{work}/", "-e", str(work / "e.log")]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_haproxy_accepts_the_example_dev_edge(tmp_path: Path):
    """The example's own edge on Kubernetes (dev's `cluster-edge`), as rendered in the
    repository: the file passes `haproxy -c`, and one broken line makes it fail."""
    folder = REPO / "rendered/dev/kubernetes/dev-fra1/platform/cluster-edge"
    objects = {
        f"{d['kind']}/{d['metadata']['name']}": d
        for d in yaml.safe_load_all((folder / "manifests.yaml").read_text())
    }
    text = objects["ConfigMap/cluster-edge-files"]["data"]["haproxy.cfg"]
    assert "use_backend https_dev_fra1 if { req_ssl_sni -i matrix.acme.example }" in text
    assert "server ingress 10.10.0.100:443 check" in text
    result = haproxy_check(text, tmp_path / "ok")
    assert _clean(result), result.stdout + result.stderr
    broken = text.replace("    mode tcp\n", "    mode tcpp\n", 1)
    assert broken != text
    assert haproxy_check(broken, tmp_path / "broken").returncode != 0


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = with_kubernetes_edge(copy_example(tmp_path_factory.mktemp("kedge") / "repo"))
    result = run_cli("compile", "--root", str(root))
    assert result.exit_code == 0, result.stderr
    return root


@pytest.mark.parametrize("cluster", ["prod-fra1", "prod-zrh1"])
def test_haproxy_accepts_each_clusters_edge_configuration(
    compiled: Path, tmp_path: Path, cluster: str
):
    text = config(compiled, cluster)
    assert text.startswith(f"# Generated by gitopsc for {cluster} (prod/kube-edge)")
    result = haproxy_check(text, tmp_path)
    assert _clean(result), result.stdout + result.stderr
    # in a pod: the declared ports, logs to stdout, no user to switch to
    assert "    bind :8443\n" in text and "    bind :8080\n" in text
    assert "log stdout" in text and "/dev/log" not in text and "user haproxy" not in text


def test_the_file_is_mounted_read_only_where_haproxy_reads_it(compiled: Path):
    objects = manifests(compiled, "prod-fra1")
    pod = objects["Deployment/kube-edge"]["spec"]["template"]
    mounts = pod["spec"]["containers"][0]["volumeMounts"]
    mount = next(m for m in mounts if m["mountPath"] == EDGE_CONFIG_PATH["haproxy"])
    assert mount == {
        "name": "files",
        "mountPath": "/etc/haproxy/haproxy.cfg",
        "subPath": "haproxy.cfg",
        "readOnly": True,
    }
    # the Service the example's `expose:` makes sends the load balancer to those ports
    balancer = objects["Service/kube-edge-loadbalancer"]["spec"]
    assert {(p["port"], p["targetPort"]) for p in balancer["ports"]} == {
        (8443, "https"),
        (8080, "http"),
    }


def test_each_cluster_routes_the_customers_of_its_residency(compiled: Path):
    fra1, zrh1 = config(compiled, "prod-fra1"), config(compiled, "prod-zrh1")
    assert "use_backend https_prod_fra1 if { req_ssl_sni -i matrix.acme.example }" in fra1
    assert "matrix.acme.example" not in zrh1  # an EU customer's host: fra1's edge only
    assert "use_backend https_prod_zrh1 if { req_ssl_sni -i matrix.helvetia-bank.example }" in zrh1
    assert "helvetia-bank" not in fra1  # a Swiss customer's connections pass Swiss edges only
    assert "server ingress 10.30.0.100:443 check" in fra1 and "10.40.0.100" not in fra1
    assert "server ingress 10.40.0.100:443 check" in zrh1 and "10.30.0.100" not in zrh1


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("    maxconn 20000\n", "    maxconn 20000\n    bogus-keyword on\n"),
        ("backend https_prod_fra1\n", "backend https_prod_fra2\n"),
    ],
    ids=["unknown-keyword", "missing-backend"],
)
def test_haproxy_catches_a_broken_line(compiled: Path, tmp_path: Path, old: str, new: str):
    text = config(compiled, "prod-fra1")
    assert old in text
    result = haproxy_check(text.replace(old, new, 1), tmp_path)
    assert result.returncode != 0, result.stdout


@pytest.fixture(scope="module")
def compiled_nginx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = with_kubernetes_edge(copy_example(tmp_path_factory.mktemp("kedge-nginx") / "repo"))
    _edit(
        root / EDGE_FILE,
        "  image: docker.io/library/haproxy:3.0.5",
        "  image: docker.io/library/nginx:1.27.3",
    )
    (root / EDGE_FILE).write_text((root / EDGE_FILE).read_text().replace("haproxy", "nginx"))
    result = run_cli("compile", "--root", str(root))
    assert result.exit_code == 0, result.stderr
    return root


@pytest.mark.parametrize("cluster", ["prod-fra1", "prod-zrh1"])
def test_nginx_accepts_each_clusters_edge_configuration(
    compiled_nginx: Path, tmp_path: Path, cluster: str
):
    text = config(compiled_nginx, cluster, "nginx.conf")
    result = nginx_check(text, tmp_path)
    assert _clean(result), result.stdout + result.stderr
    assert "        listen 8443;\n" in text and "        listen 8080 default_server;\n" in text
    # a pod writes only /tmp: the pid and the http module's temporary files go there
    assert "pid /tmp/nginx.pid;" in text and "    proxy_temp_path /tmp/proxy;" in text
    assert "syslog" not in text
    pod = manifests(compiled_nginx, cluster)["Deployment/kube-edge"]["spec"]["template"]
    mounts = pod["spec"]["containers"][0]["volumeMounts"]
    assert any(m["mountPath"] == "/etc/nginx/nginx.conf" and m["readOnly"] for m in mounts)


def test_nginx_catches_a_broken_line(compiled_nginx: Path, tmp_path: Path):
    text = config(compiled_nginx, "prod-fra1", "nginx.conf")
    broken = text.replace("pid /tmp/nginx.pid;", "pid /tmp/nginx.pid", 1)
    assert broken != text
    assert nginx_check(broken, tmp_path).returncode != 0


def test_a_customer_added_appears_in_its_clusters_edge_and_rolls_the_pods(tmp_path: Path):
    root = with_kubernetes_edge(copy_example(tmp_path / "repo"))
    assert run_cli("compile", "--root", str(root)).exit_code == 0
    before = manifests(root, "prod-fra1")["Deployment/kube-edge"]["spec"]["template"]
    zrh1_before = config(root, "prod-zrh1")
    (root / "catalog/customers/hooli.yaml").write_text(
        "name: hooli\nplan: business\nresidency: eu\ncontact: ops@hooli.example\n"
        "domains: [hooli.example]\nenvironments:\n  prod:\n    services:\n"
        "      postgres:\n      synapse:\n      element-web:\n"
    )
    result = run_cli("compile", "--root", str(root))
    assert result.exit_code == 0, result.stderr
    text = config(root, "prod-fra1")
    assert "use_backend https_prod_fra1 if { req_ssl_sni -i matrix.hooli.example }" in text
    assert "use_backend http_prod_fra1 if { hdr(host),field(1,:) -i chat.hooli.example }" in text
    assert _clean(haproxy_check(text, tmp_path / "check"))
    assert config(root, "prod-zrh1") == zrh1_before  # another residency's edge: untouched
    after = manifests(root, "prod-fra1")["Deployment/kube-edge"]["spec"]["template"]
    hash_key = "gitopsc.dev/files-hash"
    assert after["metadata"]["annotations"][hash_key] != before["metadata"]["annotations"][hash_key]
    # the new customer's file is among the edge's sources: a review shows why it changed
    header = (
        (root / "rendered/prod/kubernetes/prod-fra1/platform/kube-edge/manifests.yaml")
        .read_text()
        .splitlines()[0]
    )
    assert "catalog/customers/hooli.yaml" in header
    assert run_cli("compile", "--check", "--root", str(root)).exit_code == 0


def test_policies_pass_on_the_kubernetes_edge(compiled: Path):
    """gitopsc's builtins and checkov find nothing to waive in the edge's objects."""
    result = run_cli("check", "--root", str(compiled))
    assert result.exit_code == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        ("    https: 8443\n", "", 26, "its service declares no port 'https'"),
        ("    http: 8080\n", "    http: {port: 8080, protocol: UDP}\n", 12, "it is declared UDP"),
        (
            "  edge:\n",
            "  files:\n    /etc/haproxy/haproxy.cfg: {content: 'global'}\n  edge:\n",
            28,
            "is the edge's configuration, which gitopsc writes",
        ),
        (
            "scope: environment",
            "scope: customer",
            27,
            "edge applies to environment-scoped services",
        ),
    ],
    ids=["no-https-port", "udp-port", "own-config-file", "customer-scoped"],
)
def test_a_bad_kubernetes_edge_is_an_error_at_its_line(
    tmp_path: Path, old: str, new: str, line: int, message: str
):
    root = with_kubernetes_edge(copy_example(tmp_path / "repo"))
    _edit(root / EDGE_FILE, old, new)
    result = run_cli("compile", "--root", str(root))
    assert result.exception is None and "Traceback" not in result.stderr
    assert result.exit_code == 2, result.stderr
    located = [e for e in result.stderr.splitlines() if f"{EDGE_FILE}:{line}:" in e]
    assert any(message in e for e in located), result.stderr
    assert not (root / "rendered").exists()


@pytest.mark.parametrize("host", ["x.example\n    bind :22", "x.example;", "a b.example"])
def test_the_kubernetes_path_goes_through_the_line_guard(compiled: Path, host: str):
    """Defence in depth: a routed host that is not a plain DNS name (validation bypassed
    here, as no catalog value can hold one) is refused by the renderer on the
    Kubernetes path too, rather than adding a line to the pod's configuration."""
    resolved = pipeline.run(compiled, ["prod"])
    instances = [i for i in resolved.instances.values() if i.environment == "prod"]
    env = resolved.catalog.environments["prod"]
    kube_edge = next(i for i in instances if i.service == "kube-edge")
    target = next(i for i in instances if i.id == "prod/acme/synapse")
    assert target.settings.ingress is not None
    ingress = target.settings.ingress.model_copy(update={"host": host})
    hostile = dataclasses.replace(
        target, settings=target.settings.model_copy(update={"ingress": ingress})
    )
    others = [hostile if i.id == target.id else i for i in instances]
    cluster = next(c for c in env.clusters if c.name == "prod-fra1")
    customers = resolved.catalog.customers
    edge.kubernetes_settings(env, kube_edge, cluster, instances, customers)  # as compiled
    with pytest.raises(ValueError, match="not a plain DNS name"):
        edge.kubernetes_settings(env, kube_edge, cluster, others, customers)


def test_a_configuration_past_the_files_limit_is_an_error_at_the_edge(compiled: Path):
    """A table too large for a ConfigMap is refused at compile time, at the edge's line,
    rather than rendered into an object the API server would refuse at sync."""
    resolved = pipeline.run(compiled, ["prod"])
    instances = [i for i in resolved.instances.values() if i.environment == "prod"]
    env = resolved.catalog.environments["prod"]
    kube_edge = next(i for i in instances if i.service == "kube-edge")
    cluster = next(c for c in env.clusters if c.name == "prod-fra1")
    customers = resolved.catalog.customers
    settings = edge.kubernetes_settings(env, kube_edge, cluster, instances, customers)
    as_compiled = dataclasses.replace(kube_edge, settings=settings)
    assert edge.size_problems(as_compiled, cluster, EDGE_FILE) == []
    # the same edge with 300 KiB of routes (as a few thousand hosts would make)
    big = settings.files[EDGE_CONFIG_PATH["haproxy"]].model_copy(update={"content": "#" * 300_000})
    oversized = dataclasses.replace(
        kube_edge,
        settings=settings.model_copy(update={"files": {EDGE_CONFIG_PATH["haproxy"]: big}}),
    )
    [problem] = edge.size_problems(oversized, cluster, EDGE_FILE)
    assert str(problem.location).startswith(f"{EDGE_FILE}:27")
    assert "makes its files 293 KiB, more than the 256 KiB allowed" in problem.message
