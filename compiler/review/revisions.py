"""Another revision of the repository, read from git's objects only.

`diff`, `affected` and `check --affected-base` compare the working tree with a base
revision. The base is exported with `git archive` (one process, whatever the number of
files) into a temporary folder and loaded from there like any repository: the working
tree, the index and HEAD of the checkout are never touched, so it is safe in a
developer's dirty checkout and in a CI job alike.

The errors people hit in CI are caught here and told how to fix: a base revision that
a shallow clone does not have, a folder that is not in a git repository, a revision that
is not a commit. A symbolic link is extracted as the link git holds, so the loader treats
it exactly as the same link in the working tree (one that leaves the repository is
refused at its file, one that stays inside is followed).
"""

from __future__ import annotations

import io
import posixpath
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

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
    """The commit `ref` names, or a UsageError that says why it cannot be found.

    git itself parses `ref` (`git rev-parse`): GitPython's own parser raises KeyError or
    IndexError on revisions such as `HEAD:../..` or `HEAD@{99999}`, and reading them
    the way git does is what a user expects anyway."""
    if not ref or ref.startswith("-"):  # never let a revision read as a git option
        raise UsageError(f"'{ref}' is not a revision", "give a branch, tag or commit")
    try:
        return repo.commit(_rev_parse(repo, ref + "^{commit}"))
    except git.GitCommandError:
        pass
    try:
        kind = repo.git.cat_file("-t", _rev_parse(repo, ref))
    except git.GitCommandError:
        kind = None
    if kind is not None:
        raise UsageError(
            f"base revision '{ref}' is a {_KINDS.get(kind, kind)}, not a commit",
            "give a branch, tag or commit, without a ':path' or '^{tree}' suffix",
        )
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


_KINDS = {"tree": "folder", "blob": "file"}  # git's words for what `REV:PATH` names


def _rev_parse(repo: git.Repo, ref: str) -> str:
    return repo.git.rev_parse("--verify", "--quiet", ref)  # `ref` never starts with "-"


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
    present = [part for part in PARTS if any(item.name == part for item in tree)]
    treeish = commit.hexsha if tree is commit.tree else f"{commit.hexsha}:{prefix}"
    with tempfile.TemporaryDirectory(prefix="gitopsc-base-") as folder:
        try:
            _extract(repo, treeish, tree, present, Path(folder))
        except (tarfile.TarError, git.GitCommandError) as error:
            reason = error.stderr.strip() if isinstance(error, git.GitCommandError) else error
            raise UsageError(
                f"base revision '{ref}' cannot be read safely: {reason}",
                "compare with a revision whose catalog git can check out",
            ) from None
        yield Path(folder), commit.hexsha


def _extract(repo: git.Repo, treeish: str, tree: git.Tree, paths: list[str], folder: Path) -> None:
    """Write `paths` of `treeish` into `folder`, and what their links lead to.

    A link that stays inside the repository but leads out of catalog/, environments/
    and policies/ (`catalog/customers/acme.yaml -> ../../shared/acme.yaml`) works in
    the working tree, so its target is fetched too, in another round, unless a folder
    already fetched holds it or it holds one (a link to `..` must not fetch the whole
    repository). A link that leaves the repository is kept as it is, for the loader
    to refuse as it refuses it in the working tree."""
    fetched: list[str] = []
    while paths:
        fetched += paths
        archive = io.BytesIO()
        repo.archive(archive, treeish=treeish, format="tar", path=paths)
        archive.seek(0)
        with tarfile.open(fileobj=archive) as tar:
            tar.extractall(folder, filter=_data_or_link)
            links = [m for m in tar.getmembers() if m.issym()]
        targets = {_link_target(link) for link in links} - {None}
        paths = sorted(
            target
            for target in targets
            if _in_tree(tree, target) and not any(_overlap(target, other) for other in fetched)
        )


def _data_or_link(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
    """tarfile's data filter (no absolute names, nothing written outside `dest`, no
    devices), except that a symbolic link keeps the target git holds, even one that leaves
    the tree: refusing it here would fail where the working tree gives a located error.
    Only the link's own place is checked, as if it pointed at its folder."""
    if not member.issym():
        return tarfile.data_filter(member, dest)
    placed = tarfile.data_filter(member.replace(linkname=".", deep=False), dest)
    return placed.replace(linkname=member.linkname, deep=False)


def _link_target(link: tarfile.TarInfo) -> str | None:
    """The repository path a link leads to, or None when it leaves the repository."""
    if posixpath.isabs(link.linkname):
        return None
    target = posixpath.normpath(posixpath.join(posixpath.dirname(link.name), link.linkname))
    return None if target == ".." or target.startswith("../") else target


def _in_tree(tree: git.Tree, path: str) -> bool:
    try:
        tree / path
    except KeyError:
        return False
    return True


def _overlap(one: str, other: str) -> bool:
    a, b = PurePosixPath(one), PurePosixPath(other)
    return a.is_relative_to(b) or b.is_relative_to(a)


def _subtree(commit: git.Commit, prefix: str, ref: str) -> git.Tree:
    try:
        return commit.tree / prefix
    except KeyError:
        raise UsageError(f"base revision '{ref}' has no folder {prefix}") from None
