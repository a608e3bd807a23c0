"""A customer's data stays in its residency, refused by `validate` (issue 16, item 4):
before, a customer that no cluster of an environment holds passed validation, and
`compile` wrote it to the environment's first cluster, in another region."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path}: {old!r} not found"
    path.write_text(text.replace(old, new, 1))


def _line(path: Path, text: str) -> int:
    """The 1-based line of the first line that starts with `text` (after indentation)."""
    lines = path.read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if line.strip().startswith(text))


def _validate(root: Path) -> str:
    result = run_cli("validate", "--root", str(root))
    assert result.exception is None
    assert result.exit_code == 2, result.stdout
    return result.stdout + result.stderr


def test_no_cluster_of_the_environment_holds_the_residency(example: Path):
    """acme moves to the US: dev and staging hold 'us', prod (eu, ch) does not. The
    placement in prod is the mistake, so the error is at acme's `prod:` entry, and the
    compile that used to write acme to prod-fra1 (the EU) writes nothing."""
    acme = example / "catalog/customers/acme.yaml"
    _edit(acme, "residency: eu", "residency: us")
    _edit(acme, "      postfix-relay:\n", "")  # staging's mail relays are in the EU
    _edit(acme, "      postfix-relay:\n", "")  # and prod's
    out = _validate(example)
    assert f"catalog/customers/acme.yaml:{_line(acme, 'prod:')}:" in out
    assert "no cluster of environment 'prod' holds the customer's residency 'us'" in out
    assert "prod-fra1 holds eu; prod-zrh1 holds ch" in out
    assert f"residency at catalog/customers/acme.yaml:{_line(acme, 'residency:')}" in out
    assert out.count("error:") == 1  # dev and staging hold it
    assert run_cli("compile", "--root", str(example)).exit_code == 2
    assert not (example / "rendered").exists()


def test_a_residency_no_environment_holds_is_an_error_at_the_residency_line(example: Path):
    acme = example / "catalog/customers/acme.yaml"
    _edit(acme, "residency: eu", "residency: cj")
    out = _validate(example)
    assert f"catalog/customers/acme.yaml:{_line(acme, 'residency:')}:" in out
    assert "no cluster or host of any environment holds residency 'cj'" in out
    assert "ch" in out.split("hint:")[1]
    assert out.count("error:") == 1  # not again per environment


def test_a_pin_on_a_cluster_of_another_residency_is_an_error_at_the_pin(example: Path):
    bank = example / "catalog/customers/helvetia-bank.yaml"
    _edit(bank, "cluster: prod-zrh1", "cluster: prod-fra1")
    out = _validate(example)
    assert f"catalog/customers/helvetia-bank.yaml:{_line(bank, 'cluster: prod-fra1')}:" in out
    assert "cluster 'prod-fra1' (region fra1) holds eu, not the customer's residency 'ch'" in out
    assert "pin a cluster that holds it (prod-zrh1)" in out


def test_a_host_pool_of_another_residency_is_an_error_at_the_layer_that_chose_it(example: Path):
    """alpenverein's relay loses its Swiss pool and falls back to the service's EU pool."""
    _edit(
        example / "catalog/customers/alpenverein.yaml",
        "        vm: {host_pool: mail-relays-ch}\n",
        "",
    )
    relay = example / "catalog/services/postfix-relay.yaml"
    out = _validate(example)
    assert f"catalog/services/postfix-relay.yaml:{_line(relay, 'host_pool:')}:" in out
    assert "host pool 'mail-relays' has hosts outside the customer's residency 'ch'" in out
    assert "relay1.fra1.mail.example.net (eu), relay2.fra1.mail.example.net (eu)" in out
    assert "prod/alpenverein/postfix-relay" in out


def test_a_customers_own_host_of_another_residency_is_an_error_at_its_residency(example: Path):
    bank = example / "catalog/customers/helvetia-bank.yaml"
    _edit(
        bank,
        "    cluster: prod-zrh1\n",
        "    cluster: prod-zrh1\n    hosts:\n"
        "      - {name: mx.helvetia-bank.example, address: 192.0.2.10, region: fra1,"
        " residency: eu}\n",
    )
    out = _validate(example)
    assert f"catalog/customers/helvetia-bank.yaml:{_line(bank, '- {name: mx.helvetia')}:" in out
    assert "host mx.helvetia-bank.example is in residency 'eu', not the customer's 'ch'" in out


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_the_example_places_every_customer_in_its_residency(env: str):
    from compiler import pipeline
    from tests.conftest import REPO

    resolved = pipeline.run(REPO, [env])
    clusters = {c.name: c for c in resolved.catalog.environments[env].clusters}
    for instance in resolved.instances.values():
        if instance.customer is None:
            continue
        residency = resolved.catalog.customers[instance.customer].residency
        assert all(residency in clusters[c].residency for c in instance.clusters), instance.id
        assert all(h.residency == residency for h in instance.hosts), instance.id


def test_a_customers_mail_through_relays_of_another_residency_is_refused_at_the_pool(
    example: Path,
):
    """The review's breach: helvetia-bank (ch) sends prod mail through `mail-relays`,
    whose hosts are in Frankfurt. Where an instance runs was checked; where its egress
    sends the data was not. Now the rule's `host_pool:` is the error."""
    bank = example / "catalog/customers/helvetia-bank.yaml"
    text = bank.read_text()
    old = "egress: {smtp: {host_pool: mail-relays-ch}}"
    at = text.index(old, text.index("  prod:\n"))
    bank.write_text(text[:at] + "egress: {smtp: {host_pool: mail-relays}}" + text[at + len(old) :])
    line = text[:at].count("\n") + 1
    out = _validate(example)
    assert f"catalog/customers/helvetia-bank.yaml:{line}:" in out, out
    assert "host pool mail-relays has hosts outside the customer's residency 'ch'" in out
    assert "relay1.fra1.mail.example.net (eu)" in out
    assert out.count("error:") == 1


def test_named_hosts_of_another_residency_are_refused_like_a_pool(example: Path):
    """The same rule for a peer named by its hosts, and for ingress: data flows both ways."""
    bank = example / "catalog/customers/helvetia-bank.yaml"
    text = bank.read_text()
    prod = text.index("  prod:\n")
    old = "egress: {smtp: {host_pool: mail-relays-ch}}"
    at = text.index(old, prod)
    new = (
        "egress: {smtp: {host_pool: mail-relays-ch}}\n"
        "          ingress: {relay: {hosts: [relay2.fra1.mail.example.net], ports: [http]}}"
    )
    bank.write_text(text[:at] + new + text[at + len(old) :])
    out = _validate(example)
    assert "hosts relay2.fra1.mail.example.net has hosts outside the customer's residency" in out
    assert out.count("error:") == 1


def test_the_example_sends_each_customers_mail_through_its_own_residency(example: Path):
    """dev's and staging's relays are in the EU; the US and Swiss customers there name
    pools of their own (environments/*/environment.yaml), so the example validates."""
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 0, result.stderr
    for env, customer, pool in (
        ("dev", "globex", "mail-relays-us"),
        ("staging", "alpenverein", "mail-relays-ch"),
        ("staging", "helvetia-bank", "mail-relays-ch"),
    ):
        explained = run_cli("explain", f"{env}/{customer}/synapse", "--root", str(example))
        assert explained.exit_code == 0, explained.stderr
        assert pool in explained.stdout, (env, customer)
