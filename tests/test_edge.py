"""Edges fed from the catalog (issue 18, item 2): the HAProxy and Nginx configurations
gitopsc renders for the edge hosts are checked by the programs themselves (`haproxy -c`,
`nginx -t`), route each customer's hosts to its own cluster through the edges of its own
residency, follow the catalog (a customer added appears), and no catalog value can add a
line to them. Bad edge declarations are errors at their line (exit 2)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from compiler.render.edge import STREAM_MODULE, _line_safe
from tests.conftest import copy_example, run_cli, tool


class _Loader(yaml.SafeLoader):
    """Reads the inventory as Ansible does, `!unsafe` strings as plain strings."""


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def inventory(root: Path, env: str) -> dict[str, Any]:
    text = (root / "rendered" / env / "ansible" / "inventory.yml").read_text()
    return yaml.load(text, Loader=_Loader)["all"]["hosts"]


def edge_files(root: Path, env: str) -> dict[str, tuple[str, str]]:
    """edge host -> (path on the host, content) of its proxy configuration."""
    return {
        host: (path, spec["content"])
        for host, entry in inventory(root, env).items()
        for path, spec in (entry.get("gitopsc_files") or {}).items()
        if path in ("/etc/haproxy/haproxy.cfg", "/etc/nginx/nginx.conf")
    }


def haproxy_check(content: str, work: Path) -> subprocess.CompletedProcess[str]:
    work.mkdir(parents=True, exist_ok=True)
    config = work / "haproxy.cfg"
    config.write_text(content)
    return subprocess.run(
        [tool("haproxy"), "-c", "-f", str(config)], capture_output=True, text=True, check=False
    )


def nginx_check(content: str, work: Path) -> subprocess.CompletedProcess[str]:
    """`nginx -t` on the file as the host loads it; only the pid and error log, which
    the rendered file leaves to the package's defaults, go to the temporary folder."""
    nginx = tool("nginx")
    if not Path(STREAM_MODULE).exists():  # Debian ships it apart from nginx (.ci/run installs it)
        message = f"{STREAM_MODULE} is missing: apt-get install libnginx-mod-stream"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    work.mkdir(parents=True, exist_ok=True)
    config = work / "nginx.conf"
    config.write_text(content)
    command = [nginx, "-t", "-c", str(config), "-p", f"{work}/", "-e", str(work / "e.log")]
    command += ["-g", f"pid {work}/nginx.pid;"]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def _clean(result: subprocess.CompletedProcess[str]) -> bool:
    """Accepted with nothing to say: exit 0 and no warning or alert."""
    output = result.stdout + result.stderr
    return result.returncode == 0 and not any(
        word in output for word in ("[WARNING]", "[ALERT]", "[warn]", "[emerg]")
    )


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_example(tmp_path_factory.mktemp("edge") / "repo")
    result = run_cli("compile", "--root", str(root))
    assert result.exit_code == 0, result.stderr
    return root


def test_haproxy_accepts_every_rendered_prod_edge(compiled: Path, tmp_path: Path):
    files = edge_files(compiled, "prod")
    assert sorted(files) == ["edge1.fra1.example.net", "edge1.zrh1.example.net"]
    for host, (path, content) in files.items():
        assert path == "/etc/haproxy/haproxy.cfg"
        result = haproxy_check(content, tmp_path / host)
        assert _clean(result), f"{host}:\n{result.stdout}{result.stderr}"


def test_nginx_accepts_every_rendered_staging_edge(compiled: Path, tmp_path: Path):
    files = edge_files(compiled, "staging")
    assert sorted(files) == ["edge1.staging.example.net", "edge1.zrh1.staging.example.net"]
    for host, (path, content) in files.items():
        assert path == "/etc/nginx/nginx.conf"  # staging's layer 4 chose nginx
        result = nginx_check(content, tmp_path / host)
        assert _clean(result), f"{host}:\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize(
    ("env", "host", "break_it"),
    [
        # a directive HAProxy does not know, in the frontend
        ("prod", "edge1.fra1.example.net", lambda c: c.replace("    option tcplog", "    optoin tcplog")),
        # a use_backend naming no backend
        ("prod", "edge1.fra1.example.net", lambda c: c.replace("use_backend https_prod_fra1", "use_backend https_nowhere", 1)),
        # a map line without its terminating ';'
        ("staging", "edge1.staging.example.net", lambda c: c.replace(":443;", ":443", 1)),
        # a block left open
        ("staging", "edge1.staging.example.net", lambda c: c.replace("events {", "events {{", 1)),
    ],
    ids=["haproxy-unknown-keyword", "haproxy-missing-backend", "nginx-missing-semicolon", "nginx-open-block"],
)  # fmt: skip
def test_the_tool_catches_a_broken_line(compiled: Path, tmp_path: Path, env, host, break_it):
    """The checks above can fail: one broken line of the rendered file and the program
    refuses it (so a passing check says something)."""
    _, content = edge_files(compiled, env)[host]
    broken = break_it(content)
    assert broken != content
    check = haproxy_check if env == "prod" else nginx_check
    result = check(broken, tmp_path)
    assert result.returncode != 0, result.stdout + result.stderr


def _routes(root: Path, env: str, host: str) -> dict[str, str]:
    """ingress host -> cluster, as the edge host's inventory states its table."""
    table = inventory(root, env)[host]["gitopsc_edge_routes"]["edge_proxy"]
    return {row["host"]: row["cluster"] for row in table}


def test_each_residency_has_its_own_edges(compiled: Path):
    """A Swiss customer's hosts are routed by the Swiss edge to the Swiss cluster and by
    no other edge; an EU customer's by the EU edge only."""
    fra1 = _routes(compiled, "prod", "edge1.fra1.example.net")
    zrh1 = _routes(compiled, "prod", "edge1.zrh1.example.net")
    assert fra1["matrix.acme.example"] == "prod-fra1"
    assert fra1["chat.initech.example"] == "prod-fra1"
    assert zrh1["matrix.helvetia-bank.example"] == "prod-zrh1"
    assert zrh1["matrix.alpenverein-zh.example"] == "prod-zrh1"
    # every domain's copy of an ingress declared for each domain (mta-sts)
    assert {"mta-sts.helvetia-bank.example", "mta-sts.hvb.example"} <= set(zrh1)
    assert not set(fra1) & set(zrh1)
    assert not any("helvetia" in h or "alpenverein" in h for h in fra1)
    # the config sends them to the cluster's declared ingress address, and nowhere else
    _, config = edge_files(compiled, "prod")["edge1.zrh1.example.net"]
    assert (
        "use_backend https_prod_zrh1 if { req_ssl_sni -i matrix.helvetia-bank.example }" in config
    )
    assert "server ingress 10.40.0.100:443 check" in config
    assert "10.30.0.100" not in config


def test_a_customer_added_to_the_catalog_appears_in_the_table(tmp_path: Path):
    root = copy_example(tmp_path / "repo")
    (root / "catalog/customers/hooli.yaml").write_text(
        "name: hooli\nplan: business\nresidency: eu\ncontact: ops@hooli.example\n"
        "domains: [hooli.example]\nenvironments:\n  prod:\n    services:\n"
        "      postgres:\n      synapse:\n      element-web:\n"
    )
    result = run_cli("compile", "--root", str(root))
    assert result.exit_code == 0, result.stderr
    fra1 = _routes(root, "prod", "edge1.fra1.example.net")
    assert fra1["matrix.hooli.example"] == "prod-fra1"
    assert fra1["chat.hooli.example"] == "prod-fra1"
    assert "matrix.hooli.example" not in _routes(root, "prod", "edge1.zrh1.example.net")
    _, config = edge_files(root, "prod")["edge1.fra1.example.net"]
    assert "if { req_ssl_sni -i matrix.hooli.example }" in config
    assert _clean(haproxy_check(config, tmp_path / "check"))
    # the inventory names the new customer's file among its sources: a review shows it
    header = (root / "rendered/prod/ansible/inventory.yml").read_text().splitlines()[0]
    assert "catalog/customers/hooli.yaml" in header
    # and the Nginx edges of staging are untouched by a customer of prod only
    assert "hooli" not in (root / "rendered/staging/ansible/inventory.yml").read_text()


@pytest.mark.parametrize(
    "value",
    ["a b.example", "x.example;", "x.example\n    bind :22", "x.example{", "x.example#", "", "X.EXAMPLE"],
)  # fmt: skip
def test_a_value_that_would_add_a_line_is_refused_by_the_renderer(value: str):
    """Defence in depth: hosts are validated DNS names before they reach the renderer;
    the renderer refuses anything else too."""
    with pytest.raises(ValueError, match="not a plain DNS name"):
        _line_safe(value, "ingress host")


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


EDGE = "catalog/services/edge-proxy.yaml"
PROD = "environments/prod/environment.yaml"


@pytest.mark.parametrize(
    ("file", "old", "new", "line", "message"),
    [
        (EDGE, "routes: [synapse,", "routes: [synapes,", 17, "edge routes unknown service 'synapes'"),
        (EDGE, "routes: [synapse,", "routes: [rspamd, synapse,", 17, "edge routes 'rspamd', which runs on VMs"),
        (EDGE, "    software: haproxy", "    software: envoy", 16, "'envoy' is not one of 'haproxy' or 'nginx'"),
        (EDGE, "    software: haproxy", "    software: haproxy\n    resolver: [10.0.0.53]", 17, "unknown key 'resolver' in defaults.edge"),
        (EDGE, "    software: haproxy", "    software: haproxy\n    resolvers: ['10.0.0.53; deny']", 17, "is not an IP address"),
        (EDGE, "scope: environment", "scope: customer", 15, "edge applies to environment-scoped services"),
        (PROD, "    ingress_address: 10.40.0.100", "    ingress_address: 'ingress zrh1'", 23, "neither an IP address nor a lower-case DNS name"),
    ],
    ids=["unknown-route", "vm-route", "software", "unknown-key", "resolver", "customer-scoped", "bad-address"],
)  # fmt: skip
def test_a_bad_edge_declaration_is_an_error_at_its_line(
    tmp_path: Path, file: str, old: str, new: str, line: int, message: str
):
    root = copy_example(tmp_path / "repo")
    _edit(root / file, old, new)
    result = run_cli("validate", "--root", str(root))
    assert result.exception is None and "Traceback" not in result.stderr
    assert result.exit_code == 2, result.stderr
    located = [entry for entry in result.stderr.splitlines() if f"{file}:{line}:" in entry]
    assert any(message in entry for entry in located), result.stderr
    if message.startswith(("unknown", "edge routes unknown")):
        assert "did you mean" in result.stderr  # the hint names the close spelling


def test_a_customer_cannot_declare_an_edge(tmp_path: Path):
    """An edge is handed every customer's hosts: a customer's layer may not make one."""
    root = copy_example(tmp_path / "repo")
    _edit(
        root / "catalog/customers/acme.yaml",
        "      synapse:\n        replicas: 3\n",
        "      synapse:\n        replicas: 3\n        edge: {software: haproxy, routes: [element-web]}\n",
    )
    result = run_cli("validate", "--root", str(root))
    assert result.exit_code == 2, result.stderr
    assert "catalog/customers/acme.yaml:34:" in result.stderr
    assert "a customer's layer may not declare one" in result.stderr


def test_an_environment_wide_service_goes_to_the_cluster_of_each_edges_region(tmp_path: Path):
    """sygnal runs on both prod clusters: each edge sends its host to its own region's."""
    root = copy_example(tmp_path / "repo")
    _edit(root / EDGE, "routes: [synapse,", "routes: [sygnal, synapse,")
    result = run_cli("compile", "--root", str(root))
    assert result.exit_code == 0, result.stderr
    assert _routes(root, "prod", "edge1.fra1.example.net")["push.chat.example.net"] == "prod-fra1"
    assert _routes(root, "prod", "edge1.zrh1.example.net")["push.chat.example.net"] == "prod-zrh1"
    # staging's clusters are both in fra1: the first, for each residency's edge
    assert (
        _routes(root, "staging", "edge1.zrh1.staging.example.net")["push.staging.chat.example.net"]
        == "stg-fra1"
    )


def test_a_cluster_an_edge_sends_hosts_to_needs_an_address(tmp_path: Path):
    """No default address: compile refuses, at the cluster, with exit 2."""
    root = copy_example(tmp_path / "repo")
    _edit(root / PROD, "    ingress_address: 10.40.0.100\n", "")
    result = run_cli("compile", "--root", str(root))
    assert result.exit_code == 2 and result.exception is None, result.stderr
    assert f"{PROD}:15:" in result.stderr
    assert "cluster 'prod-zrh1' has no ingress_address, and edge 'edge-proxy' routes" in (
        result.stderr
    )
    assert not (root / "rendered").exists()  # nothing written


def test_a_routed_service_without_an_ingress_gives_no_host_and_no_error(tmp_path: Path):
    root = copy_example(tmp_path / "repo")
    _edit(root / EDGE, "routes: [synapse,", "routes: [postgres, synapse,")
    result = run_cli("compile", "--root", str(root))
    assert result.exit_code == 0, result.stderr
    assert not any("postgres" in h for h in _routes(root, "prod", "edge1.fra1.example.net"))


def test_nginx_names_a_resolver_only_where_an_address_is_a_name(compiled: Path, tmp_path: Path):
    """Staging's clusters have names for ingress addresses: its Nginx edges resolve them
    with the host's stub resolver. The same edge before prod's clusters, whose addresses
    are IPs, needs none and names none, as HAProxy's file has no `resolvers` section
    then; `nginx -t` passes both."""
    for host, (_, content) in edge_files(compiled, "staging").items():
        assert content.count("    resolver 127.0.0.53 valid=10s;\n") == 2, host
    root = copy_example(tmp_path / "repo")
    _edit(root / EDGE, "    software: haproxy", "    software: nginx")
    assert run_cli("compile", "--root", str(root)).exit_code == 0
    files = edge_files(root, "prod")
    assert sorted(files) == ["edge1.fra1.example.net", "edge1.zrh1.example.net"]
    for host, (path, content) in files.items():
        assert path == "/etc/nginx/nginx.conf"
        assert "resolver" not in content
        assert re.search(r" 10\.[34]0\.0\.100:443;\n", content), content  # IP upstreams
        result = nginx_check(content, tmp_path / host)
        assert _clean(result), f"{host}:\n{result.stdout}{result.stderr}"
