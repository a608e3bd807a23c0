"""The tenant boundary's own rules (compiler/catalog/tenancy.py, the reserved customer
names of compiler/catalog/models/customer.py), beside the hostile corpus
(tests/fixtures/hostile/secret-*, host-*, ingress-*, domain-*, customer-named-*): the
edges of name and prefix comparison, and the settings an environment may choose."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.catalog.models import SecretStore, reserved_because
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


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("default", "the default namespace of Kubernetes"),
        ("kube-system", "a Kubernetes system namespace (kube-*)"),
        ("kube-anything-new", "a Kubernetes system namespace (kube-*)"),
        ("openshift-monitoring", "an OpenShift system namespace (openshift-*)"),
        ("platform", "the namespace of the environment-wide services"),
        ("velero", "a namespace platforms run an operator in"),
        ("kubex", None),  # a prefix ends at its '-'
        ("nginx-users", None),
        ("cert-manager-fans", None),  # operator namespaces are whole names
    ],
)
def test_built_in_reserved_names(name: str, why: str | None):
    assert reserved_because(name, {}) == why


@pytest.mark.parametrize(
    ("path", "old", "new", "message"),
    [
        (
            "environments/staging/environment.yaml",
            "host_pools:\n",
            "ingress_controller: {namespace: acme}\nhost_pools:\n",
            "the namespace of the ingress controller in environment staging",
        ),
        (
            "environments/dev/environment.yaml",
            "  revision: main\n",
            "  revision: main\n  namespace: acme\n",
            "the namespace of ArgoCD in environment dev",
        ),
        (
            "environments/prod/environment.yaml",
            "host_pools:\n",
            "reserved_namespaces: [billing, ac*]\nhost_pools:\n",
            "one of the reserved_namespaces ('ac*') in environment prod",
        ),
    ],
    ids=["ingress-controller", "argocd", "reserved-namespaces"],
)
def test_a_namespace_an_environment_keeps_is_no_customer_name(
    example: Path, path: str, old: str, new: str, message: str
):
    """An environment that moves its ingress controller or ArgoCD, or reserves a
    namespace, makes an existing customer of that name an error at its `name:`."""
    _edit(example / path, old, new)
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2
    assert (
        f"catalog/customers/acme.yaml:2:1: error: customer name 'acme' is reserved: it is {message}"
    ) in result.stderr, result.stderr


def test_the_repository_host_is_the_platforms_in_every_url_form(example: Path):
    """`git@host:path` names its host without a scheme; it is the platform's all the same."""
    _edit(
        example / "environments/dev/environment.yaml",
        "  repo_url: https://gitlab.example.net/platform/gitops.git\n",
        "  repo_url: git@git.globex.example:platform/gitops.git\n",
    )
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2
    assert (
        "catalog/customers/globex.yaml:10:11: error: domain 'globex.example' of customer "
        "'globex' is or contains the ArgoCD repository host 'git.globex.example' of "
        "environment dev"
    ) in result.stderr, result.stderr
