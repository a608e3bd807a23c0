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
    lines = (example / "catalog/customers/globex.yaml").read_text().splitlines()
    second = next(n for n, line in enumerate(lines, 1) if "192.0.2.99" in line)
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2
    assert (
        f"globex.yaml:{second}:10: error: host 'mx1.globex.example' is defined differently at "
        in result.stderr
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


def _catalog_with(tmp_path: Path, customer: str) -> list[str]:
    """The validation problems of the example with one more customer file (its YAML)."""
    from compiler.errors import CatalogInvalid
    from compiler.pipeline.load import load_catalog
    from tests.conftest import copy_example

    root = copy_example(tmp_path / "repo")
    name = customer.split("name: ", 1)[1].split("\n", 1)[0]
    head = "display_name: X\nplan: starter\nresidency: eu\nstatus: active\ncontact: a@b.example\n"
    (root / "catalog/customers" / f"{name}.yaml").write_text(customer.replace("\n", f"\n{head}", 1))
    try:
        load_catalog(root)
    except CatalogInvalid as invalid:
        return [problem.message for problem in invalid.problems]
    return []


@pytest.mark.parametrize(
    ("name", "domain", "refused"),
    [
        ("mallory", "mallory.chat.example.net", None),
        ("mallory", "matrix.mallory.chat.example.net", None),
        ("mallory", "mallory.dev.chat.example.net", None),  # the innermost base domain
        ("mallory", "mallory.example", None),
        ("mallory", "prod-fra1.chat.example.net", "not in the customer's delegated zone"),
        ("mallory", "ingress.prod-fra1.chat.example.net", "not in the customer's delegated zone"),
        ("mallory", "mx.staging.chat.example.net", "not in the customer's delegated zone"),
        ("mallory", "mallory.staging.example.net.chat.example.net", "delegated zone"),
        ("mx", "mx.chat.example.net", "is a name the platform uses"),
        ("push", "push.dev.chat.example.net", "is a name the platform uses"),  # sygnal's host
        ("prod-fra1", "prod-fra1.chat.example.net", "is a name the platform uses"),  # cluster
        ("stg-fra1", "a.stg-fra1.chat.example.net", "is a name the platform uses"),
        ("ingress", "ingress.chat.example.net", None),  # holds none of the platform's names
    ],
)
def test_inside_a_base_domain_only_the_delegated_zone(tmp_path, name, domain, refused):
    messages = _catalog_with(tmp_path, f"name: {name}\ndomains: [{domain}]\n")
    if refused is None:
        assert messages == []
    else:
        assert any(refused in m and f"domain '{domain}'" in m for m in messages), messages


def test_platform_labels_are_read_from_the_platform_files():
    from compiler.catalog.tenancy import _platform_labels
    from compiler.pipeline.load import load_catalog

    catalog = load_catalog(Path(__file__).resolve().parents[1])
    labels = _platform_labels(catalog, ["chat.example.net", "dev.chat.example.net"])
    # mx. and _spf. (postfix-relay), push. (sygnal), the clusters (every CNAME's value),
    # and the nested base domains of dev and staging
    assert {"mx", "_spf", "push", "prod-fra1", "prod-zrh1", "dev"} <= labels["chat.example.net"]
    assert (
        "ingress" not in labels["chat.example.net"] and "acme" not in labels["dev.chat.example.net"]
    )


@pytest.mark.parametrize(
    ("address", "customer", "refused"),
    [
        ("203.0.113.10", True, None),
        ("2001:db8::10", True, None),
        ("10.30.1.11", False, None),
        ("relay1.fra1.mail.example.net", False, None),
        ("mx1.mallory.example", True, "is not an IP address"),
        ("10.30.1.11:22", True, "is not an IP address"),
        ("10.30.1.11:22", False, "neither an IP address nor"),
        ("010.030.001.012", False, "neither an IP address nor"),
        ("0x0a1e010b", False, "neither an IP address nor"),
        ("167772161", False, "neither an IP address nor"),
        ("relay1", False, "neither an IP address nor"),
        ("[10.30.1.11]", False, "neither an IP address nor"),
        ("127.0.0.1", True, "loopback"),
        ("127.8.8.8", False, "loopback"),
        ("::1", True, "loopback"),
        ("::ffff:127.0.0.1", True, "loopback"),
        ("169.254.169.254", True, "link-local"),
        ("fe80::1", True, "link-local"),
        ("fe80::1%eth0", True, "zone index"),
        ("0.0.0.0", True, "unspecified"),
        ("::", False, "unspecified"),
        ("224.0.0.1", True, "multicast"),
        ("ff02::1", True, "multicast"),
        ("localhost", False, "the AWX node itself"),
        ("LocalHost.", True, "the AWX node itself"),
        ("db.localhost", False, "the AWX node itself"),
    ],
)
def test_host_address_shape(address: str, customer: bool, refused: str | None):
    from compiler.catalog.tenancy import _address_problem

    problem = _address_problem(address, customer=customer)
    assert (problem is None) if refused is None else (problem and refused in problem[0])


def test_an_address_that_is_another_owners_host_name(tmp_path):
    """Names and addresses share one space: the pool's name in another spelling, and
    a pool's address, are both the pool's (the name checked before the address shape)."""
    pool = (
        "address 'Relay2.Fra1.Mail.Example.Net.' of host 'mx1.m.example' is already the name "
        "of host 'relay2.fra1.mail.example.net' of host pool 'mail-relays'"
    )
    messages = _catalog_with(
        tmp_path,
        "name: mallory\ndomains: [mallory.example]\nenvironments:\n  prod:\n    hosts:\n"
        "      - {name: mx1.m.example, address: Relay2.Fra1.Mail.Example.Net., "
        "region: fra1, residency: eu}\n"
        "      - {name: mx2.m.example, address: 10.30.1.21, region: fra1, residency: eu}\n",
    )
    assert any(m.startswith(pool) for m in messages), messages
    assert any("'10.30.1.21'" in m and "spam1.fra1.mail.example.net" in m for m in messages)


def test_a_domain_of_another_customer_is_refused_at_the_second_claim(example: Path):
    """Two customers listing one domain would get each other's ingress, certificates and
    DNS records: refused by validation (issue 16, item 4), at the second claim in name
    order, naming the first; reported once, though acme also lists a subdomain of it
    (the rule for a domain around another customer's does not repeat it)."""
    _edit(
        example / "catalog/customers/acme.yaml",
        "domains: [acme.example]",
        "domains: [acme.example, mail.globex.example, globex.example]",
    )
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2 and result.exception is None
    assert (
        "catalog/customers/globex.yaml:10:11: error: domain 'globex.example' of customer "
        "'globex' already belongs to customer 'acme'\n"
        "  hint: claimed first at catalog/customers/acme.yaml:8:46"
    ) in result.stderr
    assert [line for line in result.stderr.splitlines() if "error:" in line] == [
        line for line in result.stderr.splitlines() if "globex.yaml:10:11: error:" in line
    ], result.stderr
    assert "1 problem(s) found." in result.stderr


@pytest.mark.parametrize(
    ("spelling", "column"),
    [("GLOBEX.example", 25), ("globex.example.", 25), ("xn--glbex-kua.example", None)],
)
def test_a_domain_has_one_spelling(example: Path, spelling: str, column: int | None):
    """A customer's `domains` are lower-case ASCII without a trailing dot (the model), so
    another customer's domain cannot be claimed in another spelling past the rule above:
    upper case and a trailing dot are refused at the line; an internationalised domain
    is written only as its `xn--` form, so its Unicode spelling (`glöbex.example`) cannot
    stand beside it, and the `xn--` form of a name that is not the other's is another
    domain (no false alarm)."""
    _edit(
        example / "catalog/customers/acme.yaml",
        "domains: [acme.example]",
        f"domains: [acme.example, {spelling}]",
    )
    result = run_cli("validate", "--root", str(example))
    if column is None:
        assert result.exit_code == 0, result.stderr
        return
    assert result.exit_code == 2 and result.exception is None
    assert (
        f"catalog/customers/acme.yaml:8:{column}: error: domains[1]: '{spelling}' is not a "
        "valid lower-case DNS name"
    ) in result.stderr


def test_unicode_spelling_of_a_domain_is_refused(example: Path):
    _edit(
        example / "catalog/customers/acme.yaml",
        "domains: [acme.example]",
        "domains: [acme.example, glöbex.example]",
    )
    _edit(
        example / "catalog/customers/globex.yaml",
        "domains: [globex.example]",
        "domains: [globex.example, xn--glbex-kua.example]",
    )
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2
    assert (
        "catalog/customers/acme.yaml:8:25: error: domains[1]: 'glöbex.example' is not a valid "
        "lower-case DNS name"
    ) in result.stderr


def test_one_customer_may_list_a_domain_and_its_subdomains(example: Path):
    """One owner: a domain and a subdomain of it in one customer's list pass."""
    _edit(
        example / "catalog/customers/acme.yaml",
        "domains: [acme.example]",
        "domains: [acme.example, chat.acme.example]",
    )
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 0, result.stderr
