"""No data lost without saying so (issue 15, item 2).

What holds data is rendered to outlive a sync (Namespaces and claims with ArgoCD's
`Prune=false,Delete=false`, StatefulSets retaining their claims), a patch cannot take
that away, and a change that removes or moves a customer's data says so in `diff` and
`check` as `persistent-data-loss`: against real git repositories in temp folders."""

from __future__ import annotations

import json
from pathlib import Path

import git
import pytest

from compiler.pipeline import load_catalog, render, resolve_catalog
from tests.conftest import commit_example, copy_example, rendered_objects, run_cli

KEEP = "Prune=false,Delete=false"
SYNC_OPTIONS = "argocd.argoproj.io/sync-options"
RETAIN = {"whenDeleted": "Retain", "whenScaled": "Retain"}


@pytest.fixture
def repo(tmp_path: Path) -> git.Repo:
    """The example catalog committed on `main` in a fresh repository."""
    return commit_example(copy_example(tmp_path / "repo"))


def _root(repo: git.Repo) -> Path:
    return Path(repo.working_tree_dir)


def _edit(root: Path, relative: str, old: str, new: str) -> None:
    path = root / relative
    text = path.read_text()
    assert old in text, (relative, old)
    path.write_text(text.replace(old, new, 1))


def _losses(repo: git.Repo, *args: str) -> list[dict]:
    result = run_cli("diff", "--root", str(_root(repo)), "--base", "main", "-f", "json", *args)
    assert result.exit_code == 0 and result.exception is None, result.stderr
    return json.loads(result.stdout)["data_loss"]


def _check(repo: git.Repo, env: str) -> tuple[int, list[dict]]:
    out = _root(repo) / "findings.json"
    result = run_cli(
        "check", "--root", str(_root(repo)), "--env", env, "--affected-base", "main",
        "--date", "2026-11-23", "-f", "json", "-o", str(out),
    )  # fmt: skip
    assert result.exit_code in (0, 1) and result.exception is None, result.stderr
    findings = json.loads(out.read_text())["findings"]
    return result.exit_code, [f for f in findings if f["id"] == "persistent-data-loss"]


# ---------------------------------------------------------------- what is rendered

# an extra claim on acme's postgres in prod, with a sync option of its own that stays
EXTRA_CLAIM = """    services:
      postgres:
        extra_resources:
          - apiVersion: v1
            kind: PersistentVolumeClaim
            metadata:
              name: exports
              annotations: {argocd.argoproj.io/sync-options: ServerSideApply=true}
            spec:
              accessModes: [ReadWriteOnce]
              resources: {requests: {storage: 5Gi}}
"""


def _add_claim(root: Path, claim: str = EXTRA_CLAIM, patch: str = "") -> Path:
    customer = root / "catalog/customers/acme.yaml"
    text = customer.read_text()
    prod = text.index("  prod:\n")
    old = "    services:\n      postgres:\n"
    at = text.index(old, prod)
    customer.write_text(text[:at] + claim + patch + text[at + len(old) :])
    return customer


def test_namespaces_claims_and_statefulsets_keep_their_data(example: Path):
    _add_claim(example)
    resolved = resolve_catalog(load_catalog(example))
    files = [file for env_files in render(resolved).values() for file in env_files]
    by_kind: dict[str, list[dict]] = {}
    for file in files:
        if isinstance(file.data, dict) and "/kubernetes/" in file.path:
            by_kind.setdefault(file.data.get("kind"), []).append(file.data)
    assert len(by_kind["Namespace"]) >= 9  # every namespace, customers' and the platform's
    for namespace in by_kind["Namespace"]:
        assert namespace["metadata"]["annotations"][SYNC_OPTIONS] == KEEP
    (claim,) = by_kind["PersistentVolumeClaim"]
    assert claim["metadata"]["annotations"][SYNC_OPTIONS] == "ServerSideApply=true," + KEEP
    assert by_kind["StatefulSet"]
    for statefulset in by_kind["StatefulSet"]:
        assert statefulset["spec"]["persistentVolumeClaimRetentionPolicy"] == RETAIN


def test_the_committed_output_carries_the_protection():
    """The golden output: what ArgoCD reads in the example repository."""
    objects = rendered_objects(Path(__file__).resolve().parents[1] / "rendered").values()
    namespaces = [o for o in objects if o["kind"] == "Namespace"]
    statefulsets = [o for o in objects if o["kind"] == "StatefulSet"]
    assert namespaces and statefulsets
    for namespace in namespaces:
        assert namespace["metadata"]["annotations"][SYNC_OPTIONS] == KEEP
    for statefulset in statefulsets:
        assert statefulset["spec"]["persistentVolumeClaimRetentionPolicy"] == RETAIN


def test_the_claim_passes_kubernetes_validate_and_the_checks(example: Path):
    _add_claim(example)
    out = example / "findings.json"
    result = run_cli(
        "check", "--root", str(example), "--env", "prod", "--date", "2026-11-23",
        "-f", "json", "-o", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr + out.read_text()
    findings = json.loads(out.read_text())["findings"]
    assert [f for f in findings if f["outcome"] in ("fail", "warn")] == []


@pytest.mark.parametrize(
    ("claim", "patch", "at"),
    [
        # a patch that strips the claim's annotation
        (EXTRA_CLAIM, "        patches:\n          - target: {kind: PersistentVolumeClaim}\n"
         "            merge_patch: {metadata: {annotations: null}}\n", "- target"),
        # one that turns pruning back on
        (EXTRA_CLAIM, "        patches:\n          - target: {kind: PersistentVolumeClaim}\n"
         "            merge_patch: {metadata: {annotations: "
         "{argocd.argoproj.io/sync-options: Prune=true}}}\n", "- target"),
        # one that makes the StatefulSet delete its claims
        (EXTRA_CLAIM, "        patches:\n          - target: {kind: StatefulSet}\n"
         "            json_patch: [{op: replace, path: /spec/persistentVolumeClaimRetentionPolicy"
         "/whenDeleted, value: Delete}]\n", "- target"),
        # one that removes the policy
        (EXTRA_CLAIM, "        patches:\n          - target: {kind: StatefulSet}\n"
         "            json_patch: [{op: remove,"
         " path: /spec/persistentVolumeClaimRetentionPolicy}]\n",
         "- target"),
        # an extra claim that asks to be deleted with its Application
        (EXTRA_CLAIM.replace("ServerSideApply=true", "Delete=confirm"), "", "- apiVersion"),
        # one that ArgoCD would sync by deleting and creating it again (empty)
        (EXTRA_CLAIM.replace("ServerSideApply=true", "Replace=true,Force=true"), "",
         "- apiVersion"),
        (EXTRA_CLAIM.replace("ServerSideApply=true", " Force=true"), "", "- apiVersion"),
    ],
)  # fmt: skip
def test_what_weakens_the_protection_is_refused_at_its_line(
    example: Path, claim: str, patch: str, at: str
):
    customer = _add_claim(example, claim, patch)
    result = run_cli("compile", "--root", str(example))
    assert result.exit_code == 2 and result.exception is None, result.stderr
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and "must keep its data" in errors[0], result.stderr
    file, line = errors[0].split(":")[:2]
    assert file == "catalog/customers/acme.yaml"
    assert at in customer.read_text().splitlines()[int(line) - 1]
    assert not (example / "rendered").exists()


# ---------------------------------------------------------------- what a change says


def test_a_customer_removal_destroys_its_data_in_diff_and_check(repo: git.Repo):
    (_root(repo) / "catalog/customers/acme.yaml").unlink()
    losses = _losses(repo)
    assert [(f["environment"], f["severity"]) for f in losses] == [
        ("prod", "critical"),
        ("staging", "medium"),
        ("dev", "medium"),
    ]
    prod = losses[0]
    assert prod["message"].startswith("destroys persistent data of acme in prod: ")
    assert "StatefulSet postgres volume data (20Gi) on prod-fra1" in prod["message"]
    assert "bucket acme-synapse-media" in prod["message"]
    assert prod["location"].startswith("catalog/customers/acme.yaml:1:")
    assert prod["outcome"] == "fail" and prod["customer"] == "acme"
    text = run_cli("diff", "--root", str(_root(repo)), "--base", "main").stdout
    assert text.splitlines()[2] == "THIS CHANGE DESTROYS PERSISTENT DATA"  # before any object
    markdown = run_cli("diff", "--root", str(_root(repo)), "--base", "main", "-f", "markdown")
    assert "#### ⚠ This change destroys persistent data" in markdown.stdout
    assert markdown.stdout.index("destroys persistent data of acme in prod") < (
        markdown.stdout.index("| environment |")
    )
    code, found = _check(repo, "prod")
    assert code == 1
    assert [(f["severity"], f["outcome"], f["file"]) for f in found] == [
        ("critical", "fail", "catalog/customers/acme.yaml")
    ]
    code, found = _check(repo, "dev")  # reported, not failing, outside prod
    assert [(f["severity"], f["outcome"]) for f in found] == [("medium", "warn")]
    assert code == 0


def _move_acme_to_ch(root: Path) -> None:
    """acme's data moves to Switzerland, its mail relays too (validation refuses a Swiss
    customer on the EU host pools): its relay VM none in staging, the Swiss pool in
    prod; its homeserver's mail through Swiss relays everywhere (dev gets one)."""
    acme = "catalog/customers/acme.yaml"
    _edit(root, acme, "residency: eu", "residency: ch")
    _edit(root, acme, "      postfix-relay:\n", "")
    relay = "      postfix-relay:\n        vm: {host_pool: mail-relays-ch}\n"
    _edit(root, acme, "      postfix-relay:\n", relay)
    egress = "    network: {egress: {smtp: {host_pool: mail-relays-ch}}}\n"
    _edit(root, acme, "services:\n  synapse:\n", "services:\n  synapse:\n" + egress)
    dev = "environments/dev/environment.yaml"
    _edit(
        root, dev, "  mail-relays-us: [587]\n", "  mail-relays-us: [587]\n  mail-relays-ch: [587]\n"
    )
    swiss = (
        "    - {name: relay1.zrh1.dev.mail.example.net, address: 10.10.3.11, region: zrh1,"
        " residency: ch}\n"
    )
    _edit(root, dev, "host_pools:\n", "host_pools:\n  mail-relays-ch:\n" + swiss)


def test_a_residency_move_destroys_the_old_clusters_data(repo: git.Repo):
    root = _root(repo)
    _move_acme_to_ch(root)
    losses = _losses(repo, "--env", "prod")
    (prod,) = losses
    assert "StatefulSet postgres volume data (20Gi) on prod-fra1" in prod["message"]
    # prod-zrh1 is UpCloud's: the Swiss residency moves the buckets to another provider too
    assert (
        "moves from residency eu, provider aws to residency ch, provider upcloud: replaced"
        in prod["message"]
    )
    lines = (root / "catalog/customers/acme.yaml").read_text().splitlines()
    line = int(prod["location"].split(":")[1])
    assert lines[line - 1] == "residency: ch"
    code, found = _check(repo, "prod")
    assert code == 1 and [f["line"] for f in found] == [line]


def test_a_pin_to_another_cluster_is_located_at_the_pin(repo: git.Repo):
    """Both staging clusters hold acme's residency; the pin moves it from the first
    (a pin outside its residency would be a validation error, test_residency.py)."""
    root = _root(repo)
    _edit(
        root, "catalog/customers/acme.yaml", "  staging:\n", "  staging:\n    cluster: stg-ocp1\n"
    )
    (staging,) = _losses(repo, "--env", "staging")
    assert "on stg-fra1" in staging["message"]
    lines = (root / "catalog/customers/acme.yaml").read_text().splitlines()
    assert lines[int(staging["location"].split(":")[1]) - 1] == "    cluster: stg-ocp1"


def test_leaving_an_environment_or_dropping_a_service_destroys_its_data(repo: git.Repo):
    root = _root(repo)
    path = root / "catalog/customers/acme.yaml"
    text = path.read_text()
    dev = text[text.index("  dev:\n") : text.index("  staging:\n")]
    path.write_text(text.replace(dev, ""))
    (loss,) = _losses(repo)
    assert loss["environment"] == "dev" and loss["severity"] == "medium"
    assert path.read_text().splitlines()[int(loss["location"].split(":")[1]) - 1] == (
        "environments:"
    )


def test_dropping_one_service_names_that_service(repo: git.Repo):
    root = _root(repo)
    path = root / "catalog/customers/datco.yaml"
    path.write_text(
        "name: datco\nplan: business\nresidency: eu\ndomains: [datco.example]\n"
        "environments:\n  prod:\n    services:\n      postgres:\n      mta-sts:\n"
    )
    repo.git.add(A=True)
    repo.git.commit("-m", "datco")
    path.write_text(path.read_text().replace("      postgres:\n", ""))
    (loss,) = _losses(repo)  # datco's postgres in prod: its volume and WAL bucket
    assert (loss["customer"], loss["service"], loss["environment"]) == ("datco", "postgres", "prod")
    assert loss["message"] == (
        "destroys persistent data of datco in prod: StatefulSet postgres volume data (20Gi) on "
        "prod-fra1, bucket datco-postgres-pg-wal"
    )
    lines = path.read_text().splitlines()
    assert lines[int(loss["location"].split(":")[1]) - 1] == "    services:"


@pytest.mark.parametrize(
    "change",
    [
        ("catalog/customers/acme.yaml", "        replicas: 3", "        replicas: 4"),
        ("catalog/customers/acme.yaml", "status: active", "status: suspended"),
        (
            "catalog/customers/acme.yaml",
            "status: active",
            "status: offboarding\noffboard_after: 2027-01-31",
        ),
        ("catalog/customers/acme.yaml", "display_name: ", "display_name: New "),
    ],
    ids=["replicas", "suspended", "offboarding", "display-name"],
)
def test_a_change_that_keeps_the_data_says_nothing(repo: git.Repo, change: tuple[str, str, str]):
    _edit(_root(repo), *change)
    assert _losses(repo) == []


def test_a_new_customer_destroys_nothing(repo: git.Repo):
    root = _root(repo)
    text = (root / "catalog/customers/acme.yaml").read_text()
    text = text.replace("name: acme", "name: newco", 1).replace("acme.example", "newco.example")
    (root / "catalog/customers/newco.yaml").write_text(text)
    assert _losses(repo) == []
    code, found = _check(repo, "prod")
    assert found == [] and code == 0


def test_a_suspended_customer_keeps_its_volume(repo: git.Repo):
    """What suspended renders: the StatefulSet at zero replicas, its claims kept."""
    _edit(_root(repo), "catalog/customers/acme.yaml", "status: active", "status: suspended")
    result = run_cli("diff", "--root", str(_root(repo)), "--base", "main", "-f", "json")
    changes = {c["path"]: c for c in json.loads(result.stdout)["changes"]}
    statefulset = changes[
        "prod/kubernetes/prod-fra1/acme/postgres/manifests.yaml#statefulset-postgres"
    ]
    assert statefulset["change"] == "changed" and "+  replicas: 0" in statefulset["diff"]
    assert "volumeClaimTemplates" not in statefulset["diff"]


def _waive(root: Path, expires: str) -> None:
    (root / "policies/waivers.yaml").write_text(
        "waivers:\n"
        "  - {policy: persistent-data-loss, environment: prod, customer: acme,"
        " reason: contract ended and export delivered (ticket OPS-1234),"
        f" owner: chat-platform, expires: {expires}}}\n"
    )


def test_a_waiver_with_owner_and_expiry_silences_it(repo: git.Repo):
    root = _root(repo)
    (root / "catalog/customers/acme.yaml").unlink()
    _waive(root, "2099-01-31")
    (prod, *_) = _losses(repo)
    assert prod["outcome"] == "waived" and "owner chat-platform" in prod["waiver"]
    assert "expires 2099-01-31" in prod["waiver"]
    text = run_cli("diff", "--root", str(root), "--base", "main").stdout
    assert "WAIVED critical" in text
    code, found = _check(repo, "prod")
    assert code == 0 and [f["outcome"] for f in found] == ["waived"]


def test_an_expired_waiver_does_not(repo: git.Repo):
    root = _root(repo)
    (root / "catalog/customers/acme.yaml").unlink()
    _waive(root, "2026-01-31")
    (prod, *_) = _losses(repo)
    assert prod["outcome"] == "fail" and prod["waiver"] is None
    out = root / "findings.json"
    result = run_cli(
        "check", "--root", str(root), "--env", "prod", "--affected-base", "main",
        "--date", "2026-11-23", "-f", "json", "-o", str(out),
    )  # fmt: skip
    assert result.exit_code == 1
    outcomes = {(f["id"], f["outcome"]) for f in json.loads(out.read_text())["findings"]}
    assert {("persistent-data-loss", "fail"), ("waiver-expired", "fail")} <= outcomes


def test_check_without_a_base_judges_no_change(repo: git.Repo):
    """Without --affected-base there is nothing to compare with: the tree alone loses nothing."""
    (_root(repo) / "catalog/customers/acme.yaml").unlink()
    out = _root(repo) / "findings.json"
    result = run_cli(
        "check", "--root", str(_root(repo)), "--env", "dev", "--date", "2026-11-23",
        "-f", "json", "-o", str(out),
    )  # fmt: skip
    assert result.exit_code in (0, 1), result.stderr
    ids = {f["id"] for f in json.loads(out.read_text())["findings"]}
    assert "persistent-data-loss" not in ids


def test_the_offboarding_waiver_is_not_called_unused_after_the_merge(repo: git.Repo):
    """On the default branch `check` runs without a base: the waiver that covered the
    removal in the merge request has nothing to cover there, and is not noise."""
    root = _root(repo)
    (root / "catalog/customers/acme.yaml").unlink()
    _waive(root, "2099-01-31")
    repo.git.add(A=True)
    repo.git.commit("-m", "offboard acme")
    out = root / "findings.json"
    result = run_cli(
        "check", "--root", str(root), "--env", "prod", "--date", "2026-11-23",
        "-f", "json", "-o", str(out),
    )  # fmt: skip
    assert result.exit_code in (0, 1), result.stderr
    ids = {f["id"] for f in json.loads(out.read_text())["findings"]}
    assert "waiver-unused" not in ids and "persistent-data-loss" not in ids
    (root / "policies/waivers.yaml").write_text(
        (root / "policies/waivers.yaml").read_text().replace("persistent-data-loss", "probes-set")
    )
    result = run_cli(
        "check", "--root", str(root), "--env", "prod", "--date", "2026-11-23",
        "-f", "json", "-o", str(out),
    )  # fmt: skip
    ids = {f["id"] for f in json.loads(out.read_text())["findings"]}
    assert "waiver-unused" in ids  # other waivers are judged as before


def test_a_tier_lowered_in_the_same_change_keeps_the_gate(repo: git.Repo):
    """Removing a customer and moving prod to `tier: staging` in one change: the finding
    stays critical (prod on the base side), so the prod job still fails."""
    root = _root(repo)
    (root / "catalog/customers/initech.yaml").unlink()
    _edit(root, "environments/prod/environment.yaml", "tier: prod", "tier: staging")
    code, found = _check(repo, "prod")
    assert [(f["severity"], f["outcome"]) for f in found] == [("critical", "fail")]
    assert code == 1


def test_a_database_of_another_engine_is_a_new_database(repo: git.Repo):
    """The engine decides the resource (a module dispatching on it moves the key to
    another resource type): changing it replaces the database and its data."""
    root = _root(repo)
    _edit(
        root,
        "environments/prod/environment.yaml",
        "databases:\n",
        "databases:\n  mysql:\n    networks:\n      fra1: [10.30.9.0/24]\n"
        "      zrh1: [10.40.9.0/24]\n",
    )
    customer = root / "catalog/customers/helvetia-bank.yaml"
    text = customer.read_text()
    prod = text.index("  prod:\n")
    at = text.index("      mas:\n", prod) + len("      mas:\n")
    customer.write_text(
        text[:at]
        + "        infrastructure: {database: {engine: mysql, version: '8.0'}}\n"
        + text[at:]
    )
    (loss,) = [f for f in _losses(repo) if f["environment"] == "prod"]
    assert "database helvetia-bank-mas-db (moves from" in loss["message"]
    assert "engine postgres to" in loss["message"] and "engine mysql: replaced" in loss["message"]
    assert loss["severity"] == "critical"


def test_naming_a_provider_that_was_implied_moves_nothing(tmp_path: Path):
    """An environment that wrote no provider (null) and now names one describes where its
    databases and buckets already are: no finding."""
    root = copy_example(tmp_path / "repo")
    _edit(root, "environments/dev/environment.yaml", "provider: aws", "")
    repo = commit_example(root)
    _edit(root, "environments/dev/environment.yaml", "\ntier: dev", "\nprovider: aws\ntier: dev")
    assert [f for f in _losses(repo) if f["environment"] == "dev"] == []
