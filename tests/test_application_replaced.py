"""A change that hands running objects from one Application to another says so
(issue 15: what ArgoCD really does with renamed Applications): against real git
repositories, through `gitopsc diff --base` and `gitopsc check --affected-base`."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import git
import pytest

from compiler.check.builtins import application_replaced
from compiler.pipeline import load_catalog, render, resolve_catalog
from tests.conftest import commit_example, copy_example, run_cli


@pytest.fixture
def repo(tmp_path: Path) -> git.Repo:
    return commit_example(copy_example(tmp_path / "repo"))


def _root(repo: git.Repo) -> Path:
    return Path(repo.working_tree_dir)


def _edit(root: Path, relative: str, old: str, new: str) -> None:
    path = root / relative
    text = path.read_text()
    assert old in text, (relative, old)
    path.write_text(text.replace(old, new, 1))


def _diff(repo: git.Repo, *args: str) -> str:
    result = run_cli("diff", "--root", str(_root(repo)), "--base", "main", *args)
    assert result.exit_code == 0 and result.exception is None, result.stderr
    return result.stdout


def test_a_topology_switch_says_every_running_application_is_replaced(repo: git.Repo):
    """prod declared to run one ArgoCD per cluster: every Application loses its cluster
    prefix, and the old ones (with the resources finalizer) would take their objects
    with them; the diff says so above the objects, and prod's check fails."""
    _edit(
        _root(repo),
        "environments/prod/environment.yaml",
        "argocd:\n",
        "argocd:\n  instance: cluster\n",
    )
    found = json.loads(_diff(repo, "-f", "json"))
    replaced = [f for f in found["change_findings"] if f["id"] == "application-replaced"]
    assert {f["customer"] for f in replaced} >= {"acme", "initech", "helvetia-bank", None}
    assert found["data_loss"] == []  # nothing destroyed: Namespaces and claims stay
    acme = next(f for f in replaced if f["customer"] == "acme")
    assert "from 6 Application(s)" in acme["message"]  # its mas too (issue 18)
    assert "(prod-fra1-acme -> acme, " in acme["message"] and " and 3 more)" in acme["message"]
    assert acme["severity"] == "high" and acme["outcome"] == "fail"
    text = _diff(repo)
    assert text.splitlines()[2] == "THIS CHANGE RECREATES RUNNING OBJECTS"
    assert "THIS CHANGE DESTROYS PERSISTENT DATA" not in text
    out = _root(repo) / "findings.json"
    result = run_cli(
        "check", "--root", str(_root(repo)), "--env", "prod", "--affected-base", "main",
        "--date", "2026-11-23", "-f", "json", "-o", str(out),
    )  # fmt: skip
    assert result.exit_code == 1, result.stderr
    ids = {f["id"] for f in json.loads(out.read_text())["findings"] if f["outcome"] == "fail"}
    assert ids == {"application-replaced"}


def test_what_stays_with_its_application_is_no_replacement(repo: git.Repo):
    """A customer removed takes its objects with its Applications on purpose (that is
    persistent-data-loss's to report); a service added to a customer takes nothing
    from another Application."""
    root = _root(repo)
    (root / "catalog/customers/initech.yaml").unlink()
    found = json.loads(_diff(repo, "-f", "json"))
    assert [f for f in found["change_findings"] if f["id"] == "application-replaced"] == []
    assert found["data_loss"]  # the removal destroys its data: said by the other check


def test_the_protected_objects_are_not_counted(example: Path):
    """What an Application deploys is followed through its kustomizations (dev's
    `namespaces` Application: every namespace folder); the Namespaces in it carry
    Prune=false,Delete=false, stay when it goes, and are not counted among what a
    replacement deletes; the quotas and default-deny policies are. Sync hooks are not
    counted either: ArgoCD never prunes them."""
    resolved = resolve_catalog(load_catalog(example), ["dev"])
    deployed = application_replaced._deployed(render(resolved)["dev"])
    _, objects = deployed[("dev", "dev-fra1", "argocd/dev-fra1-namespaces")]
    kinds = {identity[2] for identity in objects}
    assert "Namespace" not in kinds
    assert {"ResourceQuota", "NetworkPolicy"} <= kinds
    _, acme = deployed[("dev", "dev-fra1", "argocd/dev-fra1-acme")]  # per customer: its services
    assert {("dev-fra1", "apps", "StatefulSet", "acme", "postgres")} <= acme
    # the hook folder's objects are sync hooks: made and deleted per sync, never pruned
    assert not any(i[2] == "Job" for i in acme)


def test_a_waiver_for_the_migration_lets_it_through(repo: git.Repo):
    root = _root(repo)
    _edit(root, "environments/prod/environment.yaml", "argocd:\n", "argocd:\n  instance: cluster\n")
    expires = datetime.date.today() + datetime.timedelta(days=14)  # diff judges as of today
    (root / "policies/waivers.yaml").write_text(
        "waivers:\n  - policy: application-replaced\n    environment: prod\n"
        "    reason: finalizers removed from the old Applications first (OPS-2001)\n"
        f"    owner: chat-platform\n    expires: {expires.isoformat()}\n"
    )
    found = json.loads(_diff(repo, "-f", "json"))
    replaced = [f for f in found["change_findings"] if f["id"] == "application-replaced"]
    assert replaced and all(f["outcome"] == "waived" for f in replaced)


def test_moving_the_applications_to_another_argocd_namespace_is_a_handover(repo: git.Repo):
    """ArgoCD knows an Application by namespace and name: the same names in another
    namespace are new Applications, and the old ones go with their objects."""
    _edit(
        _root(repo),
        "environments/prod/environment.yaml",
        "argocd:\n",
        "argocd:\n  namespace: gitops\n",
    )
    found = json.loads(_diff(repo, "-f", "json"))
    acme = next(f for f in found["change_findings"] if f["customer"] == "acme")
    assert "argocd/prod-fra1-acme -> gitops/prod-fra1-acme" in acme["message"]


def test_a_hook_moved_to_another_service_is_no_handover(repo: git.Repo):
    """Hooks are made and deleted per sync, never pruned: moving synapse-migrate's
    hook from synapse to postgres deletes nothing that runs."""
    _edit(
        _root(repo), "catalog/services/synapse-migrate.yaml",
        "service: synapse", "service: postgres",
    )  # fmt: skip
    found = json.loads(_diff(repo, "-f", "json"))
    assert [f for f in found["change_findings"] if f["id"] == "application-replaced"] == []


def test_a_root_app_that_does_not_prune_deletes_no_application(tmp_path: Path):
    """With `argocd.prune: false` the root app leaves an Application that left the
    output (and its objects) in place: no finding for those."""
    root = copy_example(tmp_path / "repo")
    _edit(root, "environments/prod/environment.yaml", "  prune: true", "  prune: false")
    repo = commit_example(root)
    _edit(root, "environments/prod/environment.yaml", "argocd:\n", "argocd:\n  instance: cluster\n")
    found = json.loads(_diff(repo, "-f", "json"))
    assert [f for f in found["change_findings"] if f["id"] == "application-replaced"] == []
