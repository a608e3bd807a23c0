"""The base revision of `diff`, `affected` and `check --affected-base` (issue 12, point 4):
a revision git cannot give as a commit, and a base whose catalog holds symbolic links,
are clear errors or work as in the working tree; never a traceback. Real repositories."""

from __future__ import annotations

import json
from pathlib import Path

import git
import pytest

from tests.conftest import commit_example, copy_example, run_cli

ZETA = "name: zeta\nplan: starter\nresidency: eu\ndomains: [zeta.example]\n"
LINK = "catalog/customers/zeta.yaml"


@pytest.fixture
def repo(tmp_path: Path) -> git.Repo:
    """The example catalog committed on `main` in a fresh repository."""
    return commit_example(copy_example(tmp_path / "repo"))


def _root(repo: git.Repo) -> Path:
    return Path(repo.working_tree_dir)


def _commit_link(repo: git.Repo, target: str) -> str:
    """Commit LINK -> `target` on a branch `links`; the working tree goes back to main
    without the link. Returns what `validate` says about the link in the working tree."""
    link = _root(repo) / LINK
    link.symlink_to(target)
    said = run_cli("validate", "--root", str(_root(repo)))
    repo.git.checkout("-b", "links")
    repo.git.add(LINK)
    repo.index.commit("a linked customer")
    repo.git.checkout("main")
    assert not link.is_symlink()
    return said.stdout + said.stderr


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("HEAD:../..", "unknown base revision 'HEAD:../..'"),  # was KeyError
        ("HEAD@{99999}", "unknown base revision 'HEAD@{99999}'"),  # was IndexError
        ("@{-1}", "unknown base revision '@{-1}'"),  # no branch before: was IndexError
        ("HEAD:nothing-here", "unknown base revision 'HEAD:nothing-here'"),  # was KeyError
        ("HEAD:catalog", "base revision 'HEAD:catalog' is a folder, not a commit"),
        ("HEAD^{tree}", "base revision 'HEAD^{tree}' is a folder, not a commit"),
        ("HEAD:catalog/plans.yaml", "'HEAD:catalog/plans.yaml' is a file, not a commit"),
    ],
)
def test_a_revision_git_cannot_give_as_a_commit_is_a_clear_error(repo: git.Repo, ref, message):
    root = str(_root(repo))
    for args in (("diff", "--base", ref), ("affected", "--base", ref)):
        result = run_cli(*args, "--root", root)
        assert result.exit_code == 2 and result.exception is None, result.stderr
        assert "Traceback" not in result.stderr
        error, hint = result.stderr.splitlines()[:2]
        assert error == f"error: {message}" or message in error, result.stderr
        assert hint.startswith("  hint: give a branch, tag or commit"), result.stderr


def test_check_affected_base_says_the_same(repo: git.Repo):
    result = run_cli("check", "--root", str(_root(repo)), "--affected-base", "HEAD@{99999}")
    assert result.exit_code == 2 and result.exception is None, result.stderr
    assert "unknown base revision 'HEAD@{99999}'" in result.stderr


@pytest.mark.parametrize("where", ["absolute", "relative"])
def test_a_link_out_of_the_repository_in_the_base_is_refused_as_in_the_working_tree(
    repo: git.Repo, tmp_path: Path, where: str
):
    """tarfile's data filter used to refuse the archive with a traceback; now the link
    is extracted as git holds it and the loader refuses it at its file, with the very
    error `validate` gives for the same link in the working tree."""
    outside = tmp_path / "outside.yaml"
    outside.write_text(ZETA)
    target = str(outside) if where == "absolute" else "../../../outside.yaml"  # from repo/
    in_working_tree = _commit_link(repo, target)
    located = f"{LINK}:1:1: error: file is not part of the catalog layout"
    assert located in in_working_tree
    for verb in ("diff", "affected"):
        result = run_cli(verb, "--root", str(_root(repo)), "--base", "links")
        assert result.exit_code == 2 and result.exception is None, result.stderr
        assert "Traceback" not in result.stderr
        assert "the catalog at base revision links" in result.stderr
        assert f"  {located}" in result.stderr.splitlines()


def test_a_link_inside_the_repository_works_in_the_base_as_in_the_working_tree(repo: git.Repo):
    """A link to a file outside catalog/, environments/ and policies/ but inside the
    repository: the working tree follows it, and so does the base (its target is fetched
    from the commit too)."""
    acme = (_root(repo) / "catalog/customers/acme.yaml").read_text()
    shared = _root(repo) / "shared/zeta.yaml"
    shared.parent.mkdir()
    shared.write_text(acme.replace("name: acme", "name: zeta", 1).replace("acme.", "zeta."))
    repo.git.add("shared")
    repo.index.commit("a shared customer file")
    assert "catalog valid" in _commit_link(repo, "../../shared/zeta.yaml")
    result = run_cli("affected", "--root", str(_root(repo)), "--base", "links", "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["customers"] == ["zeta"]  # in the base, not here
    result = run_cli("diff", "--root", str(_root(repo)), "--base", "links")
    assert result.exit_code == 0 and result.exception is None, result.stderr


def test_a_link_to_a_folder_of_the_repository_works_in_the_base(repo: git.Repo):
    """`catalog/customers` itself a link to a folder outside the parts that are read."""
    root = _root(repo)
    (root / "catalog/customers").rename(root / "customers")
    (root / "catalog/customers").symlink_to("../customers")
    assert "catalog valid" in run_cli("validate", "--root", str(root)).stdout
    repo.git.add(A=True)
    repo.index.commit("customers moved behind a link")
    (root / "customers/acme.yaml").write_text(
        (root / "customers/acme.yaml").read_text().replace("display_name: ", "display_name: X ")
    )
    result = run_cli("affected", "--root", str(root), "--base", "main", "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["customers"] == ["acme"]
