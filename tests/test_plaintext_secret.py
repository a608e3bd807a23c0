"""`plaintext-secret` measured on labelled corpora (tests/fixtures/secrets/: our own, and
the adversarial one of the issue 16 review), and findings scoped so that a waiver for one
customer, service, environment, file or finding covers exactly that one's findings. The
corpora's precision and recall are printed in the terminal summary of every pytest run
(tests/conftest.py)."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from compiler import pipeline
from compiler.check.builtins.base import about_file
from compiler.check.builtins.plaintext_secret import scan
from compiler.render import render_environment
from tests.conftest import REPO, SECRET_CORPUS_SCORE, copy_example

CORPUS = REPO / "tests/fixtures/secrets/corpus.yaml"
ADVERSARIAL = REPO / "tests/fixtures/secrets/adversarial.yaml"
DATE = datetime.date(2026, 11, 23)


def _cases(*files: Path) -> list[dict[str, Any]]:
    """The cases of `files` (both corpora by default); a missing file fails loudly."""
    return [
        case
        for file in files or (CORPUS, ADVERSARIAL)
        for case in YAML(typ="safe").load(file.read_text())["cases"]
    ]


def test_corpus_precision_and_recall_are_100_percent(request: pytest.FixtureRequest):
    cases = _cases()
    found = [(case, bool(list(scan(case["data"])))) for case in cases]
    true_pos = sum(1 for case, hit in found if hit and case["secret"])
    false_pos = [case for case, hit in found if hit and not case["secret"]]
    missed = [case for case, hit in found if not hit and case["secret"]]
    precision = true_pos / (true_pos + len(false_pos)) if true_pos + len(false_pos) else 0.0
    recall = true_pos / (true_pos + len(missed)) if true_pos + len(missed) else 0.0
    score = (
        f"plaintext-secret on {len(cases)} labelled values "
        f"({sum(c['secret'] for c in cases)} secrets): "
        f"precision {precision:.1%}, recall {recall:.1%}"
    )
    request.config.stash[SECRET_CORPUS_SCORE] = score
    assert precision == 1.0 and recall == 1.0, (
        f"{score}\nfalse alarms: {[(c['why'], c['data']) for c in false_pos]}"
        f"\nmissed: {[(c['why'], c['data']) for c in missed]}"
    )


def test_corpus_is_balanced_and_holds_the_issue_cases():
    cases = _cases(CORPUS)
    secrets = [c for c in cases if c["secret"]]
    assert len(cases) >= 60 and len(secrets) >= 30 and len(cases) - len(secrets) >= 30
    text = CORPUS.read_text()
    for value in (
        "orbital-dynamics.example",
        "matrix01.nordsee-klinikum.example",
        "synapse-pg-primary.stadtwerke-nord.svc",
        "postfix_smtpd_sasl_auth_enable",
        "OAUTH_ISSUER",
        "KC_SPI_AUTHENTICATOR_",
        "DB_PWD: hunter2",
        "https://admin:hunter2@db",
        "-----BEGIN PRIVATE KEY-----",
        "{name: DB_PASSWORD, value: hunter2}",
        "admin:hunter2@db.internal",
    ):
        assert value in text, f"the corpus lacks the issue's case {value!r}"
    whys = " ".join(str(c["why"]) for c in cases if not c["secret"])
    for kind in ("host", "URL", "UUID", "digest", "base64", "feature flag"):
        assert kind in whys, f"the corpus has no look-alike of kind {kind!r}"


def _findings(root: Path) -> list:
    config = root / "policies/config.yaml"
    text = config.read_text()
    assert "checkov: {enabled: true" in text, "the example's config.yaml changed its checkov line"
    config.write_text(text.replace("checkov: {enabled: true", "checkov: {enabled: false"))
    return pipeline.check(root, None, DATE).findings


def _add(root: Path, relative: str, old: str, new: str) -> None:
    path = root / relative
    text = path.read_text()
    assert old in text, f"{relative}: {old!r} not found"
    path.write_text(text.replace(old, new, 1))


def test_secret_findings_carry_environment_customer_and_service(tmp_path: Path):
    """Each layer's line belongs to whom the layer is written for: a customer's
    service override (layer 5), its per-environment override (layer 6), an
    environment's service override (layer 4), a service's defaults."""
    root = copy_example(tmp_path / "repo")
    _add(root, "catalog/customers/acme.yaml", "100M\n", "100M\n      DB_PWD: hunter2\n")
    _add(
        root,
        "catalog/customers/acme.yaml",
        "        replicas: 3\n",
        "        replicas: 3\n        config: {DB_PWD: hunter3}\n",
    )
    _add(
        root,
        "environments/prod/environment.yaml",
        "rspamd_workers: 8\n",
        "rspamd_workers: 8\n        controller_password: hunter4\n",
    )
    _add(
        root,
        "catalog/services/element-web.yaml",
        "  config:\n",
        "  config:\n    admin_password: hunter5\n",
    )
    found = {
        f.location.line if f.location else None: (f.environment, f.customer, f.service)
        for f in _findings(root)
        if f.id == "plaintext-secret"
    }
    assert sorted(found.values(), key=str) == sorted(
        [
            (None, "acme", "synapse"),
            ("prod", "acme", "synapse"),
            ("prod", None, "rspamd"),
            (None, None, "element-web"),
        ],
        key=str,
    ), found


def test_a_scoped_waiver_covers_exactly_its_findings(tmp_path: Path):
    """The same pasted password in two customers' prod synapse: a waiver for acme's synapse in
    prod waives acme's and no other; it is used, so not reported unused."""
    root = copy_example(tmp_path / "repo")
    _add(
        root,
        "catalog/customers/acme.yaml",
        "        replicas: 3\n",
        "        replicas: 3\n        config: {DB_PWD: hunter2}\n",
    )
    prod = "  prod:\n    services:\n      postgres:\n      synapse:\n"
    _add(root, "catalog/customers/initech.yaml", prod, prod + "        config: {DB_PWD: hunter2}\n")
    (root / "policies/waivers.yaml").write_text(
        "waivers:\n"
        "  - policy: plaintext-secret\n    environment: prod\n    customer: acme\n"
        "    service: synapse\n    reason: rotated, being moved to the store\n"
        "    owner: chat-platform\n    expires: 2026-12-31\n"
    )
    findings = _findings(root)
    secrets = {f.customer: f.outcome for f in findings if f.id == "plaintext-secret"}
    assert secrets == {"acme": "waived", "initech": "fail"}, secrets
    assert not [f for f in findings if f.id == "waiver-unused"]


def test_a_namespace_shared_file_carries_its_customer():
    """Findings about a customer namespace's shared objects (its default-deny policy, a
    Secret a patch would add there) carry the customer, so a customer's waiver fits."""
    resolved = pipeline.run(REPO, ["prod"])
    catalog = resolved.catalog
    instances = [i for i in resolved.instances.values() if i.environment == "prod"]
    by_id = {i.id: i for i in instances}
    files, _ = render_environment(catalog, catalog.environments["prod"], instances, "rendered")
    shared = [
        f
        for f in files
        if len(f.instances) > 1 and {by_id[i].customer for i in f.instances} == {"acme"}
    ]
    assert shared, "the example has no shared file of acme's namespace"
    for file in shared:
        subject = about_file("prod", file, by_id)
        assert subject["customer"] == "acme" and "instance" not in subject, (file.path, subject)
    mixed = next(f for f in files if len({by_id[i].customer for i in f.instances}) > 1)
    assert "customer" not in about_file("prod", mixed, by_id), mixed.path


def test_each_secret_finding_is_in_exactly_one_shard(tmp_path: Path):
    """A secret in acme's prod layer is reported by the prod shard (`check --env prod`)
    and not by `--catalog-only`; one in acme's all-environment layer the other way round:
    CI's shards together report each once."""
    root = copy_example(tmp_path / "repo")
    _add(root, "catalog/customers/acme.yaml", "100M\n", "100M\n      DB_PWD: hunter2\n")
    _add(
        root,
        "catalog/customers/acme.yaml",
        "        replicas: 3\n",
        "        replicas: 3\n        config: {DB_PWD: hunter3}\n",
    )
    _findings(root)  # turns checkov off in the copy
    prod = pipeline.check(root, ["prod"], DATE).findings
    catalog_only = pipeline.check_catalog_only(root, DATE).findings

    def lines(findings: list) -> list[tuple[str | None, int]]:
        return [(f.environment, f.location.line) for f in findings if f.id == "plaintext-secret"]

    assert lines(prod) == [("prod", 35)], lines(prod)
    assert lines(catalog_only) == [(None, 13)], lines(catalog_only)
