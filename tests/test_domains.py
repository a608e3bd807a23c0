"""Several domains per customer (issue 14, item 5): `${customer.domains}`, records and
ingress hosts declared `for_each: domains`, the record types mail teams need (PTR, TLSA,
CAA), and the tenant boundary over all of them.

Before, `${customer.domain}` (the first domain) was all there was: helvetia-bank's second
domain got no MX, SPF or DMARC record and no MTA-STS host, and nothing said so."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from compiler import pipeline
from compiler.catalog import load_contract, mismatches
from compiler.catalog.interpolate import MAX_INSTANCE, MAX_LENGTH, Each, interpolate_each
from tests.conftest import run_cli

BANK = "catalog/customers/helvetia-bank.yaml"
GLOBEX = "catalog/customers/globex.yaml"
TWO = "domains: [helvetia-bank.example, hvb.example]"
THREE = "domains: [helvetia-bank.example, hvb.example, helvetia-private.example]"
# what every domain of a customer with postfix-relay and mta-sts gets: key -> (name, type)
RECORD_SET = {
    "postfix-relay-mx": ("{d}", "MX"),
    "postfix-relay-spf": ("{d}", "TXT"),
    "postfix-relay-dmarc": ("_dmarc.{d}", "TXT"),
    "mta-sts-policy-host": ("mta-sts.{d}", "CNAME"),
    "mta-sts-policy": ("_mta-sts.{d}", "TXT"),
    "mta-sts-caa": ("{d}", "CAA"),
}


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} in {path}"
    path.write_text(text.replace(old, new))


def _files(root: Path, env: str = "prod") -> dict[str, Any]:
    return {f.path: f.data for f in pipeline.render(pipeline.run(root, [env]))[env]}


def _records(files: dict[str, Any], env: str = "prod") -> dict[str, dict[str, Any]]:
    return files[f"{env}/terraform/catalog.auto.tfvars.json"]["dns_records"]


def _invalid(root: Path, file: str, text: str) -> tuple[int, str]:
    """Validate; the line of `file` that has `text` and the stderr."""
    result = run_cli("validate", "--root", str(root))
    assert result.exit_code == 2 and result.exception is None, result.stderr
    lines = (root / file).read_text().splitlines()
    return next(i + 1 for i, line in enumerate(lines) if text in line), result.stderr


def _located(stderr: str, file: str, line: int, message: str) -> None:
    found = [row for row in stderr.splitlines() if row.startswith(f"{file}:{line}:")]
    assert any(message in row for row in found), f"no '{message}' at {file}:{line}:\n{stderr}"


# ---------------------------------------------------------------- records per domain


def test_a_three_domain_customer_gets_three_complete_record_sets(example: Path):
    _edit(example / BANK, TWO, THREE)
    records = _records(_files(example))
    domains = ["helvetia-bank.example", "hvb.example", "helvetia-private.example"]
    for domain in domains:
        for record, (name, kind) in RECORD_SET.items():
            entry = records[f"helvetia-bank-{record}@{domain}"]
            assert (entry["name"], entry["type"]) == (name.format(d=domain), kind)
        assert records[f"helvetia-bank-postfix-relay-mx@{domain}"]["value"] == (
            "mx.chat.example.net"
        )
        assert records[f"helvetia-bank-postfix-relay-dmarc@{domain}"]["value"] == (
            f"v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@{domain}"
        )
        assert records[f"helvetia-bank-mta-sts-caa@{domain}"]["value"] == (
            '0 issue "letsencrypt.org"'
        )
    per_domain = [key for key in records if key.startswith("helvetia-bank-") and "@" in key]
    assert len(per_domain) == len(domains) * len(RECORD_SET)
    # records declared once stay once, in the first domain
    assert records["helvetia-bank-synapse-matrix"]["name"] == "matrix.helvetia-bank.example"


def test_adding_a_domain_keeps_every_other_record_and_its_key(example: Path):
    """Keys name the domain, not its position: a third domain adds its records and
    changes none of the first two domains' (their Terraform addresses stay); putting the
    domains in another order changes no per-domain record at all."""
    before = _records(_files(example))
    _edit(example / BANK, TWO, THREE)
    after = _records(_files(example))
    assert {key: after[key] for key in before} == before
    added = sorted(set(after) - set(before))
    assert added and all(key.endswith("@helvetia-private.example") for key in added)
    assert len(added) == len(RECORD_SET)
    _edit(
        example / BANK,
        THREE,
        "domains: [helvetia-private.example, hvb.example, helvetia-bank.example]",
    )
    reordered = _records(_files(example))
    assert {k: v for k, v in reordered.items() if "@" in k} == {
        k: v for k, v in after.items() if "@" in k
    }


def test_the_rendered_records_still_match_the_terraform_variable_types(example: Path):
    _edit(example / BANK, TWO, THREE)
    tfvars = _files(example)["prod/terraform/catalog.auto.tfvars.json"]
    contract, _ = load_contract(example, "prod")
    assert contract is not None
    declared = contract.variables
    assert [
        m for name in tfvars for m in mismatches(tfvars[name], declared[name].type, (name,))
    ] == []
    kinds = {entry["type"] for entry in tfvars["dns_records"].values()}
    assert {"PTR", "TLSA", "CAA", "MX", "TXT", "CNAME"} <= kinds


def test_explain_shows_each_domains_copy_of_a_record(example: Path):
    result = run_cli(
        "explain",
        "prod/helvetia-bank/postfix-relay",
        "--path",
        "infrastructure.dns.dmarc.name",
        "-f",
        "json",
        "--root",
        str(example),
    )
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)["values"]
    assert [(row["domain"], row["value"]) for row in rows] == [
        ("helvetia-bank.example", "_dmarc.helvetia-bank.example"),
        ("hvb.example", "_dmarc.hvb.example"),
    ]
    assert {row["template"] for row in rows} == {"_dmarc.${domain}"}
    assert all(row["file"].startswith("catalog/services/postfix-relay.yaml:") for row in rows)


# ---------------------------------------------------------------- ingress per domain


def test_each_per_domain_ingress_host_is_covered_by_its_own_certificate(example: Path):
    files = _files(example)
    folder = "prod/kubernetes/prod-zrh1/helvetia-bank/mta-sts"
    two = {p: d for p, d in files.items() if p.startswith(folder + "/certificate-")}
    _edit(example / BANK, TWO, THREE)
    files = _files(example)
    ingress = files[f"{folder}/ingress-mta-sts.yaml"]["spec"]
    hosts = [rule["host"] for rule in ingress["rules"]]
    assert hosts == [
        "mta-sts.helvetia-bank.example",
        "mta-sts.hvb.example",
        "mta-sts.helvetia-private.example",
    ]
    tls = {entry["secretName"]: entry["hosts"] for entry in ingress["tls"]}
    assert sorted(h for names in tls.values() for h in names) == sorted(hosts)
    certificates = {
        d["spec"]["secretName"]: d["spec"]["dnsNames"]
        for p, d in files.items()
        if p.startswith(folder + "/certificate-")
    }
    assert certificates == tls  # one certificate per host, its secret the TLS entry's
    assert all(len(names) == 1 for names in certificates.values())
    # the certificates of the first two domains are the same objects as before
    assert all(files[path] == data for path, data in two.items())
    # an ingress declared once still has one host and `<service>-tls`
    synapse = files["prod/kubernetes/prod-zrh1/helvetia-bank/synapse/ingress-synapse.yaml"]
    assert synapse["spec"]["tls"] == [
        {"hosts": ["matrix.helvetia-bank.example"], "secretName": "synapse-tls"}
    ]


# ---------------------------------------------------------------- ${customer.domains}


def test_customer_domains_as_a_whole_value_is_the_list(example: Path):
    inventory = _files(example)["prod/ansible/inventory.yml"]
    relay = inventory["all"]["hosts"]["relay1.zrh1.mail.example.net"]["gitopsc_instances"]
    assert relay["postfix_relay"]["helvetia_bank"]["postfix_relay_domains"] == [
        "helvetia-bank.example",
        "hvb.example",
    ]
    assert relay["postfix_relay"]["helvetia_bank"]["postfix_relay_domain"] == (
        "helvetia-bank.example"
    )


def test_customer_domains_inside_text_is_a_located_error(example: Path):
    relay = "catalog/services/postfix-relay.yaml"
    _edit(
        example / relay,
        "      postfix_relay_domains: ${customer.domains}",
        "      postfix_relay_domains: 'relay_domains = ${customer.domains}'",
    )
    line, stderr = _invalid(example, relay, "postfix_relay_domains")
    _located(stderr, relay, line, "'${customer.domains}' is a list: only a value that is exactly")
    assert "use ${customer.domain} (the first domain), or declare" in stderr


def test_customer_domains_where_a_single_value_belongs_is_a_type_error(example: Path):
    synapse = "catalog/services/synapse.yaml"
    _edit(
        example / synapse,
        "    SYNAPSE_SERVER_NAME: ${customer.domain}",
        "    SYNAPSE_SERVER_NAME: ${customer.domains}",
    )
    line, stderr = _invalid(example, synapse, "SYNAPSE_SERVER_NAME")
    _located(stderr, synapse, line, "config.SYNAPSE_SERVER_NAME: expected")


def test_domains_interpolate_per_item_with_one_budget():
    values = {
        "config": {"FIRST": "${customer.domain}", "ALL": "${customer.domains}"},
        "r": {"name": "_dmarc.${domain}", "value": "v=DMARC1; rua=mailto:d@${domain}"},
        "s": {"name": "${values.r.name}"},  # inside another per-item root: same item
    }
    context = {"customer.domain": "a.example", "customer.domains": ("a.example", "b.example")}
    each = Each((("r",), ("s",)), ("a.example", "b.example"))
    result, templates, errors, copies = interpolate_each(values, context, None, each)
    assert errors == []
    assert result["config"] == {"FIRST": "a.example", "ALL": ["a.example", "b.example"]}
    assert result["r"]["name"] == "_dmarc.a.example"  # the values hold the first item's
    assert [c["name"] for c in copies[("r",)]] == ["_dmarc.a.example", "_dmarc.b.example"]
    assert [c["name"] for c in copies[("s",)]] == ["_dmarc.a.example", "_dmarc.b.example"]
    assert templates[("r", "name")] == "_dmarc.${domain}"
    # every item's copy counts toward MAX_INSTANCE: 17 copies of 64 KiB are too many
    big = {"r": {"v": "x" * (MAX_LENGTH - 12) + "${domain}"}}
    items = tuple(f"d{i:02}.example"[:12] for i in range(MAX_INSTANCE // MAX_LENGTH + 1))
    _, _, errors, _ = interpolate_each(big, {}, None, Each((("r",),), items))
    assert [e.message for e in errors] == [
        f"interpolation builds more than {MAX_INSTANCE} characters for this instance"
    ]


# ---------------------------------------------------------------- for_each rules


@pytest.mark.parametrize(
    ("file", "old", "new", "at", "message"),
    [
        pytest.param(
            "catalog/services/synapse.yaml",
            "    SYNAPSE_SERVER_NAME: ${customer.domain}",
            "    SYNAPSE_SERVER_NAME: ${domain}",
            "SYNAPSE_SERVER_NAME",
            "'${domain}' is only known inside a DNS record or ingress declared with "
            "`for_each: domains`",
            id="domain-outside-for-each",
        ),
        pytest.param(
            "catalog/services/postfix-relay.yaml",
            "      postfix_relay_domain: ${customer.domain}",
            "      postfix_relay_domain: ${values.infrastructure.dns.dmarc.name}",
            "postfix_relay_domain",
            "'${values.infrastructure.dns.dmarc.name}' is declared once per domain (for_each)",
            id="reference-into-for-each",
        ),
        pytest.param(
            "catalog/services/postfix-relay.yaml",
            "        name: _dmarc.${domain}",
            "        name: _dmarc.${customer.domain}",
            "name: _dmarc",
            "name '_dmarc.${customer.domain}' of a DNS record declared for each domain "
            "does not name ${domain}",
            id="for-each-without-domain",
        ),
        pytest.param(
            "catalog/services/sygnal.yaml",
            "  ingress:\n    host: push.${env.base_domain}",
            "  ingress:\n    for_each: domains\n    host: push.${domain}",
            "for_each",
            "for_each: domains needs a customer's domains; 'sygnal' serves the whole environment",
            id="for-each-of-an-environment-wide-service",
        ),
        pytest.param(
            "catalog/services/mta-sts.yaml",
            "certificate\n    for_each: domains",
            "certificate\n    for_each: ${values.config.EACH}",
            "for_each: ${values",
            "write `for_each: domains` as is, not built by ${...}",
            id="for-each-built-by-a-reference",
        ),
    ],
)
def test_per_domain_declarations_are_held_to_their_rules(
    example: Path, file: str, old: str, new: str, at: str, message: str
):
    _edit(example / file, old, new)
    if "EACH" in new:
        _edit(
            example / file,
            "    MTA_STS_MODE: enforce",
            "    MTA_STS_MODE: enforce\n    EACH: domains",
        )
    line, stderr = _invalid(example, file, at)
    _located(stderr, file, line, message)


def test_a_domain_listed_twice_is_an_error(example: Path):
    _edit(example / BANK, TWO, "domains: [helvetia-bank.example, hvb.example, hvb.example]")
    line, stderr = _invalid(example, BANK, "domains:")
    _located(stderr, BANK, line, "domain 'hvb.example' is listed twice")


# ---------------------------------------------------------------- record types


TLSA = "3 1 1 8cb0fc6c527506a053f4f14c8464bebbd6dede2738d11468dd953d7d6a3021f1"


@pytest.mark.parametrize(
    ("old", "new", "at", "message"),
    [
        pytest.param(
            TLSA,
            "3 1 1 8cb0fc6c",
            TLSA[:5],
            "TLSA matching type 1 is a SHA-256 digest of 64 hex digits, got 8",
            id="tlsa-short-digest",
        ),
        pytest.param(
            TLSA, "4" + TLSA[1:], "value: 4 1 1", "TLSA usage 4 is not 0-3", id="tlsa-usage"
        ),
        pytest.param(
            TLSA,
            "3 1 1 zz" + TLSA[8:],
            "value: 3 1 1 zz",
            "is not 'usage selector matching-type data'",
            id="tlsa-not-hex",
        ),
        pytest.param(
            "name: _25._tcp.mx1.globex.example",
            "name: mx1.globex.example",
            "dane-mx1:",
            "TLSA record name 'mx1.globex.example' is not '_<port>._<tcp|udp|sctp>.<host>'",
            id="tlsa-name",
        ),
        pytest.param(
            "value: v=spf1 ip4:192.0.2.25 ip4:192.0.2.26 -all",
            "value: v=spf1 ip4:192.0.2.25 ip4:192.0.2.26 -all\n"
            "            caa:\n"
            "              name: globex.example\n"
            "              type: CAA\n"
            "              value: 0 issue letsencrypt.org",
            "value: 0 issue letsencrypt.org",
            "CAA value '0 issue letsencrypt.org' is not 'flags tag \"value\"'",
            id="caa-unquoted",
        ),
        pytest.param(
            "value: v=spf1 ip4:192.0.2.25 ip4:192.0.2.26 -all",
            "value: v=spf1 ip4:192.0.2.25 ip4:192.0.2.26 -all\n"
            "            caa:\n"
            "              name: globex.example\n"
            "              type: CAA\n"
            "              value: '5 issue \"letsencrypt.org\"'",
            "value: '5 issue",
            "CAA flags 5 are not 0 or 128",
            id="caa-flags",
        ),
        pytest.param(
            "value: v=spf1 ip4:192.0.2.25 ip4:192.0.2.26 -all",
            "value: v=spf1 ip4:192.0.2.25 ip4:192.0.2.26 -all\n"
            "            caa:\n"
            "              name: globex.example\n"
            "              type: CAA\n"
            "              value: '0 issue \"lets encrypt\"'",
            "value: '0 issue",
            "CAA issue value 'lets encrypt' is not a CA's domain",
            id="caa-issue-not-a-domain",
        ),
        pytest.param(
            "              address: 192.0.2.25",
            "              address: 192.0.2.256",
            "address: 192.0.2.256",
            "'192.0.2.256' is not an IP address",
            id="ptr-bad-address",
        ),
        pytest.param(
            "value: mx1.globex.example\n            reverse-mx2",
            "value: mx1\n            reverse-mx2",
            "value: mx1$",
            "PTR value 'mx1' is not a fully qualified lower-case host name",
            id="ptr-value-not-a-host-name",
        ),
        pytest.param(
            "              address: 192.0.2.25",
            "              name: mx1.globex.example\n              address: 192.0.2.25",
            "reverse-mx1:",
            "a PTR record is named by its address",
            id="ptr-with-a-name",
        ),
        pytest.param(
            "              address: 192.0.2.25",
            "              for_each: domains\n              address: 192.0.2.25",
            "reverse-mx1:",
            "a PTR record names one address: it cannot be declared for each domain",
            id="ptr-for-each",
        ),
    ],
)
def test_new_record_types_are_validated_at_their_line(
    example: Path, old: str, new: str, at: str, message: str
):
    _edit(example / GLOBEX, old, new)
    lines = (example / GLOBEX).read_text().splitlines()
    pattern = re.compile(re.escape(at.rstrip("$")) + ("$" if at.endswith("$") else ""))
    line = next(i + 1 for i, text in enumerate(lines) if pattern.search(text))
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2 and result.exception is None, result.stderr
    _located(result.stderr, GLOBEX, line, message)


def test_a_ptr_record_renders_its_reverse_name(example: Path):
    records = _records(_files(example))
    assert records["globex-postfix-relay-reverse-mx1"] == {
        "name": "25.2.0.192.in-addr.arpa",
        "type": "PTR",
        "value": "mx1.globex.example",
        "ttl": 300,
        "priority": None,
        "provider": "aws",
    }
    assert records["globex-postfix-relay-dane-mx1"]["name"] == "_25._tcp.mx1.globex.example"


# ---------------------------------------------------------------- PTR ownership


RSPAMD_PTR = """\
  infrastructure:
    dns:
      reverse:
        type: PTR
        address: {address}
        value: spam1.fra1.mail.example.net
"""


def test_the_platform_writes_ptrs_for_its_host_pools_only(example: Path):
    """An environment-wide service names the addresses of the environment's host pools
    (rspamd's spam filters); any other address is someone else's reverse zone."""
    rspamd = example / "catalog/services/rspamd.yaml"
    text = rspamd.read_text()
    rspamd.write_text(text + RSPAMD_PTR.format(address="10.30.1.21"))
    records = _records(_files(example))
    assert records["platform-rspamd-reverse"]["name"] == "21.1.30.10.in-addr.arpa"
    rspamd.write_text(text + RSPAMD_PTR.format(address="192.0.2.25"))  # globex's relay
    line, stderr = _invalid(example, "catalog/services/rspamd.yaml", "address: 192.0.2.25")
    _located(
        stderr,
        "catalog/services/rspamd.yaml",
        line,
        "PTR address '192.0.2.25' is not the address of a host of a host pool of environment",
    )


def test_a_customer_writes_ptrs_for_its_own_hosts_in_that_environment(example: Path):
    """globex's hosts are in prod: the same PTR in dev, where it has none, is refused."""
    _edit(
        example / GLOBEX,
        "  dev:\n    services:\n      postgres:\n      synapse:\n",
        "  dev:\n    services:\n      postgres:\n      synapse:\n"
        "        infrastructure:\n          dns:\n            reverse:\n"
        "              type: PTR\n              address: 192.0.2.25\n"
        "              value: mx1.globex.example\n",
    )
    line, stderr = _invalid(example, GLOBEX, "address: 192.0.2.25")
    _located(
        stderr,
        GLOBEX,
        line,
        "PTR address '192.0.2.25' is not the address of a host of customer 'globex' in 'dev'",
    )
