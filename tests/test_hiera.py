"""Hiera data for Puppet (issue 18, item 4), checked by the real `puppet lookup`.

Every key of every node file of the example is looked up by Puppet against the rendered
`hiera.yaml`, and must come back as the value the file holds; a key missing from a node
file makes the lookup fail; a catalog value that is a Hiera interpolation comes back as
written. Puppet runs as the node (`--certname <fqdn>`), so `trusted.certname` picks the
node file, as it does on the host; its confdir, codedir and vardir are in tmp_path.

One `puppet lookup` takes about 1.5 s (Ruby and facter starting) and answers one key
(it returns the first of several keys found): the lookups run in parallel threads.
"""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from compiler.render.hiera import literal
from tests.conftest import REPO, copy_example, run_cli, tool


def _compile(root: Path) -> Path:
    result = run_cli("compile", "--root", str(root))
    assert result.exit_code == 0, result.stderr
    return root / "rendered"


def _lookup(puppet: str, scratch: Path, tree: Path, fqdn: str, key: str) -> tuple[int, Any]:
    """`puppet lookup` of `key` as node `fqdn`, against `tree`'s hiera.yaml. A failed
    lookup is tried once more: on a loaded machine, once in 1,900 tests, puppet exited 1
    with nothing on stdout for a key it found every other time; a key that is missing
    fails both times (and the failure shows what puppet said on stderr both times)."""
    first = _lookup_once(puppet, scratch, tree, fqdn, key)
    if first[0] == 0:
        return first
    second = _lookup_once(puppet, scratch, tree, fqdn, key)
    if second[0] == 0:
        return second
    return second[0], f"{first[1]}\n(again:)\n{second[1]}"


def _lookup_once(puppet: str, scratch: Path, tree: Path, fqdn: str, key: str) -> tuple[int, Any]:
    for part in ("conf", "code", "var"):
        (scratch / part).mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [
            puppet,
            "lookup",
            "--confdir",
            str(scratch / "conf"),
            "--codedir",
            str(scratch / "code"),
            "--vardir",
            str(scratch / "var"),
            "--certname",
            fqdn,
            "--hiera_config",
            str(tree / "hiera.yaml"),
            "--render-as",
            "json",
            key,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode == 0:
        return 0, json.loads(done.stdout)
    return done.returncode, f"stdout: {done.stdout!r}; stderr: {done.stderr.strip()!r}"


def _nodes(tree: Path) -> dict[str, dict[str, Any]]:
    return {
        path.name.removesuffix(".yaml"): yaml.safe_load(path.read_text())
        for path in sorted((tree / "hieradata/nodes").glob("*.yaml"))
    }


def _lookups(tree: Path, tmp_path: Path, wanted: list[tuple[str, str]]) -> list[tuple[int, Any]]:
    puppet = tool("puppet")
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(
            pool.map(
                lambda item: _lookup(puppet, tmp_path / f"p{item[0]}", tree, *item[1]),
                enumerate(wanted),
            )
        )


def test_puppet_looks_up_every_key_of_every_node_of_the_example(tmp_path: Path):
    tree = _compile(copy_example(tmp_path / "repo")) / "prod"
    nodes = _nodes(tree)
    # the mail hosts: the relays of both residencies, the spam filters, globex's own
    assert {
        "relay1.fra1.mail.example.net",
        "relay2.fra1.mail.example.net",
        "relay1.zrh1.mail.example.net",
        "spam1.fra1.mail.example.net",
        "spam2.fra1.mail.example.net",
        "mx1.globex.example",
    } <= set(nodes)
    wanted = [(fqdn, key) for fqdn, data in nodes.items() for key in data]
    assert len(wanted) >= 6 * len(nodes)  # classes, 4 host facts, one class' instances
    answers = _lookups(tree, tmp_path, wanted)
    for (fqdn, key), (code, value) in zip(wanted, answers, strict=True):
        assert code == 0, f"puppet lookup {key} for {fqdn} failed: {value}"
        assert value == nodes[fqdn][key], (fqdn, key)
    relay = nodes["relay1.fra1.mail.example.net"]
    assert relay["classes"] == ["profile::postfix_relay"]
    # each customer's data under its own key, with secret references, never values
    assert relay["profile::postfix_relay::instances"]["acme"]["secrets"]["SASL_PASSWORD"] == {
        "store": "vault-prod",
        "key": "prod/acme/postfix",
        "property": "sasl_password",
    }
    # a Swiss relay holds no customer of the EU relays
    swiss = nodes["relay1.zrh1.mail.example.net"]["profile::postfix_relay::instances"]
    assert not set(swiss) & set(relay["profile::postfix_relay::instances"])


def test_a_key_missing_from_a_node_file_fails_the_lookup(tmp_path: Path):
    tree = _compile(copy_example(tmp_path / "repo")) / "prod"
    node = tree / "hieradata/nodes/spam1.fra1.mail.example.net.yaml"
    data = yaml.safe_load(node.read_text())
    del data["profile::rspamd::instances"]
    node.write_text(yaml.safe_dump(data))
    (missing, _), (other, value), (elsewhere, _) = _lookups(
        tree,
        tmp_path,
        [
            ("spam1.fra1.mail.example.net", "profile::rspamd::instances"),
            ("spam2.fra1.mail.example.net", "profile::rspamd::instances"),
            # a node that never had the key: the other node's data does not leak to it
            ("relay1.fra1.mail.example.net", "profile::rspamd::instances"),
        ],
    )
    assert missing == 1 and elsewhere == 1
    assert other == 0 and set(value) == {"_environment"}


def test_catalog_values_are_data_not_hiera_interpolations(tmp_path: Path):
    """The hostile case hiera-value-is-a-lookup-of-another-customer, through Puppet: its
    value and key come back as mallory wrote them, not as acme's data."""
    root = copy_example(tmp_path / "repo")
    case = REPO / "tests/fixtures/hostile/hiera-value-is-a-lookup-of-another-customer"
    mallory = (case / "catalog/customers/mallory.yaml").read_text()
    (root / "catalog/customers/mallory.yaml").write_text(mallory)
    tree = _compile(root) / "prod"
    hosts = [
        fqdn
        for fqdn, data in _nodes(tree).items()
        if "mallory" in data.get("profile::postfix_relay::instances", {})
    ]
    assert hosts
    ((code, value),) = _lookups(tree, tmp_path, [(hosts[0], "profile::postfix_relay::instances")])
    assert code == 0, value
    assert value["mallory"]["postfix_relay_domain"] == (
        "%{lookup('profile::postfix_relay::instances')}"
    )
    assert value["mallory"]["%{alias('profile::postfix_relay::instances')}"] == "stolen"


def test_literal_escapes_every_interpolation_and_nothing_else():
    assert literal({"a%{b": ["%{x}", "50%", 3]}) == {
        "a%{literal('%')}{b": ["%{literal('%')}{x}", "50%", 3]
    }


def test_the_default_is_the_inventory_only(tmp_path: Path):
    out = _compile(copy_example(tmp_path / "repo"))
    for env in ("dev", "staging"):
        assert (out / env / "ansible/inventory.yml").exists()
        assert not (out / env / "hiera.yaml").exists()
        assert not (out / env / "hieradata").exists()
    assert (out / "prod/ansible/inventory.yml").exists()


def _set_host_data(root: Path, env: str, value: str, drop_awx: bool) -> Path:
    path = root / f"environments/{env}/environment.yaml"
    data = yaml.safe_load(path.read_text())
    data.setdefault("output", {})["host_data"] = yaml.safe_load(value)
    if drop_awx:
        data.pop("awx", None)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_hiera_only_drops_the_inventory(tmp_path: Path):
    root = copy_example(tmp_path / "repo")
    _set_host_data(root, "staging", "[hiera]", drop_awx=True)
    out = _compile(root)
    assert not (out / "staging/ansible/inventory.yml").exists()
    assert (out / "staging/hiera.yaml").exists()
    assert list((out / "staging/hieradata/nodes").glob("*.yaml"))


def test_awx_without_the_inventory_is_refused_at_its_line(tmp_path: Path):
    root = copy_example(tmp_path / "repo")
    _set_host_data(root, "prod", "[hiera]", drop_awx=False)
    result = run_cli("validate", "--root", str(root))
    assert result.exit_code == 2 and result.exception is None
    assert "environments/prod/environment.yaml:" in result.stderr
    assert "awx reads the Ansible inventory" in result.stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [("[hiera, hiera]", "host_data names each kind of host data once"), ("[puppet]", "puppet")],
)
def test_bad_host_data_is_refused_at_its_line(tmp_path: Path, value: str, message: str):
    root = copy_example(tmp_path / "repo")
    path = root / "environments/dev/environment.yaml"
    text = path.read_text()
    path.write_text(text + f"output:\n  host_data: {value}\n")
    line = len(text.splitlines()) + 2
    result = run_cli("validate", "--root", str(root))
    assert result.exit_code == 2 and result.exception is None
    located = [
        row for row in result.stderr.splitlines() if "environments/dev/environment.yaml:" in row
    ]
    assert any(message in row for row in located), result.stderr
    assert any(f":{line}:" in row or f":{line - 1}:" in row for row in located), result.stderr


def test_a_host_that_takes_hiera_data_gets_its_edge_and_tls_variables_too(tmp_path: Path):
    """What the inventory gives a host from several instances at once (an edge's whole
    configuration and routes, a relay's certificate and Postfix TLS settings) is in its
    Hiera node file too, as `gitopsc::<name>`: an environment that asks for Hiera data
    only would otherwise leave its edges without a configuration."""
    out = _compile(copy_example(tmp_path / "repo"))
    inventory = yaml.safe_load((out / "prod/ansible/inventory.yml").read_text())
    hosts: dict[str, Any] = inventory["all"]["hosts"]
    shared = {
        name: {k: v for k, v in variables.items() if k in _FROM_SEVERAL}
        for name, variables in hosts.items()
    }
    assert any("gitopsc_files" in v for v in shared.values())  # an edge
    assert any("gitopsc_tls" in v for v in shared.values())  # a relay
    for name, variables in shared.items():
        node = out / f"prod/hieradata/nodes/{name}.yaml"
        if not variables or not node.exists():
            continue
        data = yaml.safe_load(node.read_text())
        for key, value in variables.items():
            assert data[f"gitopsc::{key.removeprefix('gitopsc_')}"] == literal(value), (name, key)


_FROM_SEVERAL = ("gitopsc_files", "gitopsc_edge_routes", "gitopsc_tls", "gitopsc_postfix")
