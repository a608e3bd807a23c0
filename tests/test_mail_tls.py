"""TLS for VM services (issue 18, item 5): the relays' certificate data and Postfix's
STARTTLS settings rendered from `vm.tls` are checked by Postfix itself (`postconf -c
<dir> -n` with no warning, `postmap` on the policy table and a lookup in it), the checks
are shown able to fail, and the declaration keeps tenants and residencies apart."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import copy_example, run_cli, tool
from tests.test_edge import inventory

MASTER_CF = Path("/etc/postfix/master.cf")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_example(tmp_path_factory.mktemp("mail") / "repo")
    result = run_cli("compile", "--root", str(root))
    assert result.exit_code == 0, result.stderr
    return root


def postfix_hosts(root: Path) -> dict[str, dict]:
    """(env, host) -> its gitopsc_postfix variables, in every environment."""
    return {
        f"{env}/{host}": entry["gitopsc_postfix"]
        for env in ("dev", "staging", "prod")
        for host, entry in inventory(root, env).items()
        if "gitopsc_postfix" in entry
    }


def postconf(main_cf: str, work: Path) -> subprocess.CompletedProcess[str]:
    """`postconf -c <dir> -n` on a configuration directory holding the rendered lines as
    main.cf (and the package's master.cf, or an empty one: postconf reads both)."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "main.cf").write_text(main_cf)
    (work / "master.cf").write_text(MASTER_CF.read_text() if MASTER_CF.exists() else "")
    return subprocess.run(
        [tool("postconf"), "-c", str(work), "-n"], capture_output=True, text=True, check=False
    )


def postmap(table: str, work: Path, *query: str) -> subprocess.CompletedProcess[str]:
    work.mkdir(parents=True, exist_ok=True)
    (work / "main.cf").write_text("")
    (work / "tls_policy").write_text(table)
    built = subprocess.run(
        [tool("postmap"), "-c", str(work), f"hash:{work}/tls_policy"],
        capture_output=True,
        text=True,
        check=False,
    )
    if not query or built.returncode != 0:
        return built
    return subprocess.run(
        [tool("postmap"), "-c", str(work), "-q", *query, f"hash:{work}/tls_policy"],
        capture_output=True,
        text=True,
        check=False,
    )


def test_postconf_accepts_every_rendered_main_cf(compiled: Path, tmp_path: Path):
    hosts = postfix_hosts(compiled)
    assert "prod/relay1.fra1.mail.example.net" in hosts and "prod/mx1.globex.example" in hosts
    assert sorted(hosts) == [
        "prod/mx1.globex.example",
        "prod/mx2.globex.example",
        "prod/relay1.fra1.mail.example.net",
        "prod/relay1.zrh1.mail.example.net",
        "prod/relay2.fra1.mail.example.net",
        "staging/relay1.staging.mail.example.net",
    ]
    for name, found in hosts.items():
        result = postconf(found["main_cf"], tmp_path / name)
        assert result.returncode == 0 and result.stderr == "", f"{name}: {result.stderr}"
        settings = dict(line.split(" = ", 1) for line in result.stdout.splitlines())
        # what Postfix reads back is what the declaration says
        assert settings["smtpd_tls_security_level"] == "may"
        assert settings["smtp_tls_security_level"] == "dane"
        assert settings["smtp_dns_support_level"] == "dnssec"  # DANE needs DNSSEC answers
        assert settings["smtpd_tls_chain_files"] == (
            "/etc/ssl/gitopsc/postfix-relay/privkey.pem, "
            "/etc/ssl/gitopsc/postfix-relay/fullchain.pem"
        )
        assert settings["smtp_tls_policy_maps"] == (
            "hash:/etc/postfix/gitopsc_tls_policy, socketmap:inet:127.0.0.1:8461:postfix"
        )


def test_postmap_builds_the_policy_table_and_looks_domains_up(compiled: Path, tmp_path: Path):
    hosts = postfix_hosts(compiled)
    for name, found in hosts.items():
        result = postmap(found["tls_policy"], tmp_path / name)
        assert result.returncode == 0 and result.stderr == "", f"{name}: {result.stderr}"
    fra1 = hosts["prod/relay1.fra1.mail.example.net"]["tls_policy"]
    looked_up = postmap(fra1, tmp_path / "lookup", "acme.example")
    assert looked_up.stdout == "encrypt\n", looked_up.stderr
    # helvetia-bank's domains are relayed in Switzerland: not in the EU relays' table
    assert postmap(fra1, tmp_path / "lookup2", "hvb.example").returncode == 1
    zrh1 = hosts["prod/relay1.zrh1.mail.example.net"]["tls_policy"]
    assert postmap(zrh1, tmp_path / "lookup3", "hvb.example").stdout == "encrypt\n"


@pytest.mark.parametrize(
    ("break_it", "expect"),
    [
        (lambda c: c.replace("smtpd_tls_security_level", "smtpd_tls_securty_level"), "unused parameter: smtpd_tls_securty_level"),
        (lambda c: c + "smtp_tls_security_level dane\n", "missing '=' after attribute name"),
    ],
    ids=["misspelt-parameter", "line-without-equals"],
)  # fmt: skip
def test_postconf_catches_a_broken_setting(compiled: Path, tmp_path: Path, break_it, expect):
    main_cf = postfix_hosts(compiled)["prod/relay1.fra1.mail.example.net"]["main_cf"]
    result = postconf(break_it(main_cf), tmp_path)
    assert result.returncode != 0 or result.stderr, result.stdout
    assert expect in result.stderr


def test_postmap_catches_a_broken_table_line(tmp_path: Path):
    result = postmap("acme.example\n", tmp_path)
    assert "expected format: key whitespace value" in result.stderr


def test_certificate_names_come_from_the_declaration(compiled: Path):
    prod = inventory(compiled, "prod")
    shared = prod["relay1.fra1.mail.example.net"]["gitopsc_tls"]["postfix_relay"]
    assert shared == {
        "names": ["mx.chat.example.net"],
        "key_file": "/etc/ssl/gitopsc/postfix-relay/privkey.pem",
        "chain_file": "/etc/ssl/gitopsc/postfix-relay/fullchain.pem",
        "acme_directory": "https://acme-v02.api.letsencrypt.org/directory",
        "challenge": "dns-01",
        "dns_provider": "aws",
    }
    # globex's own hosts carry its own names (its layer), in its domain
    own = prod["mx1.globex.example"]["gitopsc_tls"]["postfix_relay"]
    assert own["names"] == ["mx1.globex.example", "mx2.globex.example"]
    staging = inventory(compiled, "staging")["relay1.staging.mail.example.net"]["gitopsc_tls"]
    assert staging["postfix_relay"]["names"] == ["mx.staging.chat.example.net"]
    # a VM service without vm.tls gets no certificate
    assert "gitopsc_tls" not in prod["spam1.fra1.mail.example.net"]


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_a_customer_cannot_put_another_owners_name_on_its_certificate(tmp_path: Path):
    """The ACME role proves names through the platform's DNS provider: a customer's
    layer naming another tenant's host (or the platform's) is refused at its line."""
    root = copy_example(tmp_path / "repo")
    _edit(
        root / "catalog/customers/globex.yaml",
        "names: [mx1.globex.example, mx2.globex.example]",
        "names: [mx1.globex.example, matrix.acme.example, mx.chat.example.net]",
    )
    result = run_cli("validate", "--root", str(root))
    assert result.exit_code == 2, result.stderr
    assert "catalog/customers/globex.yaml:31:" in result.stderr
    assert "certificate name 'matrix.acme.example' is not in a domain of customer 'globex'" in (
        result.stderr
    )
    assert "certificate name 'mx.chat.example.net' is not in a domain" in result.stderr


def test_instances_on_one_host_must_agree_on_its_settings(tmp_path: Path):
    """acme and umbrella share the EU relays: one main.cf, so acme's layer cannot give
    the host another inbound level; the error is at acme's line."""
    root = copy_example(tmp_path / "repo")
    acme = root / "catalog/customers/acme.yaml"
    head, _, tail = acme.read_text().rpartition("      postfix-relay:\n")  # prod's entry
    acme.write_text(
        f"{head}      postfix-relay:\n        vm: {{tls: {{postfix: {{inbound: encrypt}}}}}}\n{tail}"
    )
    result = run_cli("compile", "--root", str(root))
    assert result.exit_code == 2, result.stderr
    assert "catalog/customers/acme.yaml:36:" in result.stderr
    assert "vm.tls.postfix.inbound of prod/acme/postfix-relay is 'encrypt'" in result.stderr


def test_vm_tls_on_a_kubernetes_service_is_an_error(tmp_path: Path):
    root = copy_example(tmp_path / "repo")
    _edit(
        root / "catalog/services/element-web.yaml",
        "  replicas: 1\n",
        "  replicas: 1\n  vm:\n    tls: {names: [chat.example.net]}\n",
    )
    result = run_cli("validate", "--root", str(root))
    assert result.exit_code == 2, result.stderr
    assert "vm.tls applies to VM services; 'element-web' runs on Kubernetes" in result.stderr
