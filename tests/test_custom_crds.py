"""The repository's CRDs in policies/crds/ validate its custom resources (issue 16,
item 6): a Probe (a ServiceMonitor was the example before issue 18 shipped its schema;
the Probe's is shipped since VM services are probed) with the prometheus-operator's
published CRD beside the policies: a misspelt field is a `crd-schema` finding and a
correct one passes."""

from __future__ import annotations

import datetime
import shutil
from pathlib import Path

from compiler import pipeline
from tests.conftest import reference, run_cli

MONITORS = (
    "        extra_resources:\n"
    "          - apiVersion: monitoring.coreos.com/v1\n"
    "            kind: Probe\n"
    "            metadata: {name: synapse-right}\n"
    "            spec:\n"
    "              interval: 30s\n"
    "              targets: {staticConfig: {static: [matrix.acme.example]}}\n"
    "          - apiVersion: monitoring.coreos.com/v1\n"
    "            kind: Probe\n"
    "            metadata: {name: synapse-wrong}\n"
    "            spec:\n"
    "              intervall: 30s\n"
    "              targets: {staticConfig: {static: [matrix.acme.example]}}\n"
)


def _with_monitors(root: Path) -> None:
    acme = root / "catalog/customers/acme.yaml"
    text = acme.read_text()
    old = "      synapse:\n        replicas: 3\n"
    assert old in text
    acme.write_text(text.replace(old, old + MONITORS, 1))


def _schema_findings(root: Path) -> dict[str, list[str]]:
    """crd-schema and crd-unknown findings of prod, by rendered file name (checkov off:
    the schema pass does not depend on it, and it costs seconds)."""
    config = root / "policies/config.yaml"
    config.write_text(
        config.read_text().replace("checkov: {enabled: true", "checkov: {enabled: false")
    )
    checked = pipeline.check(root, ["prod"], datetime.date(2026, 11, 23))
    found: dict[str, list[str]] = {}
    for finding in checked.findings:
        if finding.id in ("crd-schema", "crd-unknown"):
            # `.../manifests.yaml#<kind>-<name>`: the object's name as a file of its own
            name = finding.rendered.rsplit("/", 1)[-1].removeprefix("manifests.yaml#") + ".yaml"
            found.setdefault(name, []).append(f"{finding.id}: {finding.message}")
    return found


def test_a_repository_crd_validates_probes_that_were_unknown(example: Path):
    _with_monitors(example)
    before = _schema_findings(example)
    # since gitopsc renders Probes (VM services' monitoring), it ships their schema too
    assert list(before) == ["probe-synapse-wrong.yaml"], before
    assert before["probe-synapse-wrong.yaml"][0].startswith("crd-schema:")

    (example / "policies/crds").mkdir()
    shutil.copy(
        reference("crds/monitoring.coreos.com_probes.yaml"),
        example / "policies/crds/monitoring.coreos.com_probes.yaml",
    )
    after = _schema_findings(example)
    assert list(after) == ["probe-synapse-wrong.yaml"], after
    (message,) = after["probe-synapse-wrong.yaml"]
    assert message.startswith("crd-schema: ")
    assert "/spec" in message and "'intervall'" in message


def _catalog_only(root: Path) -> str:
    result = run_cli("check", "--catalog-only", "--root", str(root))
    assert result.exception is None
    assert result.exit_code == 2, result.stdout
    return result.stderr


def _crd_text() -> str:
    return reference("crds/monitoring.coreos.com_servicemonitors.yaml").read_text()


def test_a_bad_crd_file_is_a_located_error(example: Path):
    crds = example / "policies/crds"
    crds.mkdir()
    text = _crd_text()
    # two documents in one file, as kubectl takes them: the second one is broken
    lines = text.count("\n")
    broken = text.replace("    served: true\n", "    served: yes please\n")
    (crds / "monitors.yaml").write_text(text + broken)
    served = lines + broken.splitlines().index("    served: yes please") + 1
    (crds / "named.yaml").write_text(
        text.replace("name: servicemonitors.monitoring.coreos.com", "name: monitors.example")
    )
    (crds / "notes.txt").write_text("not a CRD")
    err = _catalog_only(example)
    assert f"policies/crds/monitors.yaml:{served}:" in err and "served" in err
    assert "policies/crds/named.yaml:" in err and "'servicemonitors.monitoring.coreos.com'" in err
    assert "policies/crds/notes.txt" in err and "not a CRD file" in err


def test_a_crd_whose_schema_is_not_valid_is_located_at_the_schema(example: Path):
    crds = example / "policies/crds"
    crds.mkdir()
    text = _crd_text().replace(
        "                    interval:\n",
        "                    interval:\n                      minLength: many\n",
        1,
    )
    (crds / "monitors.yaml").write_text(text)
    line = text.splitlines().index("                      minLength: many") + 1
    err = _catalog_only(example)
    assert f"policies/crds/monitors.yaml:{line}:" in err, err
    assert "openAPIV3Schema of version v1 is not a valid schema" in err


def test_a_crd_schema_with_a_ref_is_refused_and_never_followed(example: Path):
    """`$ref` (to a URL, a local file or a definition) is refused by the API server in a
    CRD, and followed it would be the one way a repository file makes `check` read
    another file or fetch a URL: a located error before any object is validated (the
    review's case crashed `check` with a traceback, exit 1)."""
    crds = example / "policies/crds"
    crds.mkdir()
    for target in ("file:///etc/passwd", "http://169.254.169.254/latest/meta-data/"):
        text = _crd_text().replace(
            "                    interval:\n",
            f"                    interval:\n                      $ref: '{target}'\n",
            1,
        )
        (crds / "monitors.yaml").write_text(text)
        line = next(n for n, row in enumerate(text.splitlines(), 1) if "$ref" in row)
        err = _catalog_only(example)
        assert f"policies/crds/monitors.yaml:{line}:" in err, err
        assert "uses $ref, which a CRD may not" in err
        _with_monitors(example)
        result = run_cli("check", "--root", str(example), "--env", "prod")
        assert result.exit_code == 2 and result.exception is None, result.stderr
        assert "Traceback" not in result.stderr
        (example / "catalog/customers/acme.yaml").write_text(
            (example / "catalog/customers/acme.yaml").read_text().replace(MONITORS, "", 1)
        )


def test_the_same_kind_twice_is_an_error(example: Path):
    crds = example / "policies/crds"
    crds.mkdir()
    (crds / "a.yaml").write_text(_crd_text())
    (crds / "b.yaml").write_text(_crd_text())
    err = _catalog_only(example)
    assert "policies/crds/b.yaml:" in err
    assert "monitoring.coreos.com/v1 ServiceMonitor is defined twice" in err
    assert "first defined at policies/crds/a.yaml:" in err


def test_every_published_crd_of_the_reference_set_loads(tmp_path: Path):
    """Real CRDs as kubectl takes them (prometheus-operator, Keycloak, OpenShift, Argo CD's
    1.4 MB ApplicationSet, External Secrets with a version not served) all load."""
    from compiler.check.custom_crds import load_crds

    folder = tmp_path / "crds"
    folder.mkdir()
    for name in (
        "crds/monitoring.coreos.com_prometheusrules.yaml",
        "crds/k8s.keycloak.org_keycloaks.yaml",
        "crds/external-secrets.io_externalsecrets.yaml",
        "crds/security.openshift.io_securitycontextconstraints.yaml",
        "argocd/crds/applicationset-crd.yaml",
    ):
        shutil.copy(reference(name), folder)
    schemas, problems = load_crds(tmp_path, "crds")
    assert problems == []
    assert sorted(schemas) == [
        ("argoproj.io/v1alpha1", "ApplicationSet"),
        ("external-secrets.io/v1", "ExternalSecret"),  # v1beta1 is not served
        ("k8s.keycloak.org/v2alpha1", "Keycloak"),
        ("monitoring.coreos.com/v1", "PrometheusRule"),
        ("security.openshift.io/v1", "SecurityContextConstraints"),
    ]


def test_a_go_pattern_is_made_pythons_or_dropped():
    """The PrometheusRule CRD says `^(?i)(abort|warn)?$`: Go's RE2 takes a flag there,
    Python's `re` only at the front."""
    import jsonschema

    from compiler.check.custom_crds import strict_schema

    moved = strict_schema({"type": "string", "pattern": "^(?i)(abort|warn)?$"})
    assert moved == {"type": "string", "pattern": "(?i)^(abort|warn)?$"}
    jsonschema.validate("WARN", moved)
    assert not jsonschema.Draft202012Validator(moved).is_valid("retry")
    assert strict_schema({"type": "string", "pattern": r"^\p{L}+$"}) == {"type": "string"}


def _minimal_crd(group: str, kind: str, plural: str) -> str:
    return f"""apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: {plural}.{group}}}
spec:
  group: {group}
  scope: Namespaced
  names: {{kind: {kind}, plural: {plural}}}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties: {{spec: {{type: object, properties: {{size: {{type: integer}}}}}}}}
"""


def test_a_crd_cannot_replace_a_kubernetes_api(tmp_path: Path):
    """A CRD for networking.k8s.io/v1 NetworkPolicy would swap kubernetes-validate's
    schema for a looser one; Gateway API's HTTPRoute (a CRD in a k8s.io group) and a
    Deployment of another group are custom resources."""
    from compiler.check.custom_crds import load_crds

    folder = tmp_path / "crds"
    folder.mkdir()
    (folder / "a.yaml").write_text(
        _minimal_crd("networking.k8s.io", "NetworkPolicy", "networkpolicies")
    )
    (folder / "b.yaml").write_text(
        _minimal_crd("gateway.networking.k8s.io", "HTTPRoute", "httproutes")
    )
    (folder / "c.yaml").write_text(_minimal_crd("apps.example.com", "Deployment", "deployments"))
    schemas, problems = load_crds(tmp_path, "crds")
    assert [(str(p.location), p.message) for p in problems] == [
        (
            "crds/a.yaml:7:11",  # spec.names.kind
            "networking.k8s.io/v1 NetworkPolicy is a Kubernetes API, not a custom resource",
        )
    ]
    assert sorted(schemas) == [
        ("apps.example.com/v1", "Deployment"),
        ("gateway.networking.k8s.io/v1", "HTTPRoute"),
    ]
    # strict: a field the CRD does not declare is refused
    import jsonschema

    schema = schemas[("gateway.networking.k8s.io/v1", "HTTPRoute")]
    assert jsonschema.Draft202012Validator(schema).is_valid({"spec": {"size": 3}})
    assert not jsonschema.Draft202012Validator(schema).is_valid({"spec": {"sise": 3}})
