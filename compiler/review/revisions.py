"""Another revision of the repository, read from git's objects only.

`diff`, `affected` and `check --affected-base` compare the working tree with a base
revision. The base is exported with `git archive` (one process, whatever the number of
files) into a temporary folder and loaded from there like any repository: the working
tree, the index and HEAD of the checkout are never touched, so it is safe in a
developer's dirty checkout and in a CI job alike.

The errors people hit in CI are caught here and told how to fix: a base revision that
a shallow clone does not have, a folder that is not in a git repository.
"""

from __future__ import annotations

import io
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import git

from compiler.errors import UsageError

PARTS = ("catalog", "environments", "policies")  # what a compile reads


def open_repository(root: Path, needed_for: str) -> git.Repo:
    """The repository with a checkout around `root`; `needed_for` says, in the error,
    why git is needed at all."""
    try:
        repo = git.Repo(root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise UsageError(f"{root} is not in a git repository", needed_for) from None
    if repo.bare or repo.working_tree_dir is None:
        raise UsageError(f"{root} is in a bare git repository", "run in a clone with a checkout")
    return repo


def resolve_revision(repo: git.Repo, ref: str) -> git.Commit:
    """The commit `ref` names, or a UsageError that says why it cannot be found."""
    if not ref or ref.startswith("-"):  # never let a revision read as a git option
        raise UsageError(f"'{ref}' is not a revision", "give a branch, tag or commit")
    try:
        commit = repo.commit(ref)
        commit.tree  # noqa: B018  (a shallow clone names parents it does not have)
        return commit
    except (git.BadName, ValueError, git.GitCommandError):
        pass
    if Path(repo.git_dir, "shallow").exists():
        raise UsageError(
            f"base revision '{ref}' is not in this clone: the clone is shallow",
            "fetch the history it needs: `git fetch --unshallow` or "
            f"`git fetch origin {ref}`; in GitLab CI set `GIT_DEPTH: 0` on the job (or "
            "`git fetch origin $CI_MERGE_REQUEST_TARGET_BRANCH_NAME` before running)",
        )
    raise UsageError(
        f"unknown base revision '{ref}'",
        "give a branch, tag or commit of this repository (`git fetch` if it is remote)",
    )


@contextmanager
def revision_tree(root: Path, ref: str) -> Iterator[tuple[Path, str]]:
    """A temporary folder holding the catalog, environments and policies of `ref`, and
    the commit's full hash. `root` may be a folder inside the repository."""
    repo = open_repository(
        root, "comparing with a base revision needs the repository's history; run in a clone"
    )
    commit = resolve_revision(repo, ref)
    prefix = Path(root).resolve().relative_to(Path(repo.working_tree_dir).resolve())
    tree = commit.tree if str(prefix) == "." else _subtree(commit, prefix.as_posix(), ref)
    present = [part for part in PARTS if any(item.name == part for item in tree.trees)]
    with tempfile.TemporaryDirectory(prefix="gitopsc-base-") as folder:
        if present:
            archive = io.BytesIO()
            treeish = commit.hexsha if tree is commit.tree else f"{commit.hexsha}:{prefix}"
            repo.archive(archive, treeish=treeish, format="tar", path=present)
            archive.seek(0)
            with tarfile.open(fileobj=archive) as tar:
                tar.extractall(folder, filter="data")  # no links out, no absolute paths
        yield Path(folder), commit.hexsha


def _subtree(commit: git.Commit, prefix: str, ref: str) -> git.Tree:
    try:
        return commit.tree / prefix
    except KeyError:
        raise UsageError(f"base revision '{ref}' has no folder {prefix}") from None
