"""The tenant boundary's own rules (compiler/catalog/tenancy.py), beside the hostile corpus
(tests/fixtures/hostile/secret-*, host-*, ingress-*, domain-*): the edges of name and
prefix comparison, and the settings an environment may choose."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.catalog.models import SecretStore
from compiler.catalog.tenancy import _address_key, within
from tests.conftest import run_cli


@pytest.mark.parametrize(
    ("name", "domain", "inside"),
    [
        ("acme.example", "acme.example", True),
        ("matrix.acme.example", "acme.example", True),
        ("Matrix.ACME.example.", "acme.example", True),
        ("evilacme.example", "acme.example", False),
        ("acme.example.evil", "acme.example", False),
        ("acme.example", "matrix.acme.example", False),
    ],
)
def test_within_compares_whole_labels(name: str, domain: str, inside: bool):
    assert within(name, domain) is inside


def test_one_spelling_per_address():
    assert _address_key("::ffff:192.0.2.25") == _address_key("192.0.2.25")
    assert _address_key("2001:DB8:0:0::1") == _address_key("2001:db8::1")
    assert _address_key("MX1.Globex.Example.") == "mx1.globex.example"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"customer_prefix": "${env.name}/${customer.name}"}, "ending with '/'"),
        ({"customer_prefix": "${env.name}/"}, "must contain '${customer.name}'"),
        ({"customer_prefix": "${env.name}/../${customer.name}/"}, "not a secret key prefix"),
        ({"customer_prefix": "${customer.domain}/${customer.name}/"}, "unknown reference"),
        ({"platform_prefix": "${env.name}/${customer.name}/"}, "unknown reference"),
        ({"platform_prefix": "/platform/"}, "not a secret key prefix"),
    ],
)
def test_an_environment_cannot_choose_a_prefix_that_leaks(settings: dict, message: str):
    with pytest.raises(ValueError, match=message.replace("$", r"\$").replace(".", r"\.")):
        SecretStore.model_validate({"name": "vault", **settings})


def test_defaults_are_the_example_convention():
    store = SecretStore.model_validate({"name": "vault"})
    assert (store.customer_prefix, store.platform_prefix) == (
        "${env.name}/${customer.name}/",
        "${env.name}/platform/",
    )
    assert store.extra_stores == []


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_a_customer_named_like_the_platform_prefix_is_refused(example: Path):
    _edit(
        example / "environments/prod/environment.yaml",
        "  name: vault-prod\n",
        "  name: vault-prod\n  platform_prefix: ${env.name}/initech/shared/\n",
    )
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2
    assert (
        "catalog/customers/initech.yaml:3:1: error: customer 'initech' would read the "
        "platform's secrets in environment 'prod'"
    ) in result.stderr


def test_the_same_owner_may_not_list_a_host_differently(example: Path):
    _edit(
        example / "catalog/customers/globex.yaml",
        "      - {name: mx2",
        "      - {name: mx1.globex.example, address: 192.0.2.99, region: us-east, residency: us}\n"
        "      - {name: mx2",
    )
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2
    assert "globex.yaml:25:10: error: host 'mx1.globex.example' is defined differently at " in (
        result.stderr
    )
