"""Publish: one environment's compiled output committed to a hydrated branch.

Input: the environment's files as bytes (`<env>/...`, from the pipeline, never read from
`rendered/`) and the git repository that holds the catalog. Output: at most one new
commit on `refs/heads/<branch>` whose tree is exactly what `gitopsc compile` writes to
`rendered/<env>/`, with that folder as the root; its message names the source commit
in trailers. Nothing else changes.

How the working tree is left alone: blobs and trees are hashed in memory and only the
missing ones are written to the object store; the commit is made with `commit-tree`
and the branch moved with `update-ref OLD NEW`, a compare-and-swap, so two publishes at
once cannot lose a commit. The index, HEAD and the files on disk are never written, and
`status` runs without its optional index refresh. A branch checked out anywhere is
refused, since moving it would make that checkout look changed.

Idempotent: the same output gives the same tree id, and a tree equal to the branch
tip's makes no commit. gitopsc only ever commits to a branch that does not exist yet or
whose tip it made for the same environment (trailer `Gitopsc-Environment`), so a
mistyped `--branch main` cannot replace the catalog's own branch.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import git
from gitdb.base import IStream

from compiler.errors import UsageError
from compiler.review import revisions

ZERO = "0" * 40
_NO_PROMPT = {"GIT_TERMINAL_PROMPT": "0"}  # CI has no one to type a password
_TRAILER = re.compile(r"([A-Za-z0-9][A-Za-z0-9-]*): (.*)")
_INPUTS = ("catalog", "environments")  # what the compiled bytes are made from
_YAML = (".yaml", ".yml")

GitObjects = dict[str, tuple[str, bytes]]  # hex id -> (type, content)


@dataclass(frozen=True)
class Source:
    """The commit the output was compiled from; `branch` is None on a detached HEAD."""

    commit: str
    branch: str | None
    dirty: tuple[str, ...] = ()


@dataclass(frozen=True)
class Published:
    """What a publish did: `commit` is the branch tip afterwards, `changed` whether it is
    a new commit, `pushed` whether the remote got it."""

    commit: str
    changed: bool
    files: int
    pushed: bool = False


# ---------------------------------------------------------------- pure: tree and message


def branch_files(files: Mapping[str, bytes], env: str) -> dict[str, bytes]:
    """The files of `env` with `<env>/` cut off: the branch root is `rendered/<env>/`."""
    prefix = f"{env}/"
    strays = sorted(path for path in files if not path.startswith(prefix))
    if strays:
        raise ValueError(f"files outside environment {env}: {strays[:3]}")
    return {path.removeprefix(prefix): data for path, data in files.items()}


def hash_tree(files: Mapping[str, bytes]) -> tuple[str, GitObjects]:
    """The id of the git tree holding `files` (path -> bytes, mode 100644), and every
    blob and tree object of it, computed in memory exactly as git would (entries sorted
    by name, a folder compared as `name/`)."""
    root: dict[str, object] = {}
    for path, data in files.items():
        *folders, name = path.split("/")
        for part in (*folders, name):
            if part in ("", ".", "..") or part.lower() == ".git" or "\0" in part:
                raise ValueError(f"not a plain relative path: {path!r}")
        node = root
        for folder in folders:
            node = node.setdefault(folder, {})  # type: ignore[assignment]
            if not isinstance(node, dict):
                raise ValueError(f"{path} is below a file")
        if name in node:
            raise ValueError(f"{path} is a file and a folder")
        node[name] = data
    objects: GitObjects = {}

    def store(kind: str, content: bytes) -> bytes:
        digest = hashlib.sha1(f"{kind} {len(content)}\0".encode() + content, usedforsecurity=False)
        objects[digest.hexdigest()] = (kind, content)
        return digest.digest()

    def tree(node: dict[str, object]) -> bytes:
        entries = []
        for name, value in node.items():
            raw = name.encode()
            if isinstance(value, dict):
                entries.append((raw + b"/", b"40000 " + raw + b"\0" + tree(value)))
            else:
                assert isinstance(value, bytes)
                entries.append((raw, b"100644 " + raw + b"\0" + store("blob", value)))
        return store("tree", b"".join(entry for _, entry in sorted(entries)))

    return tree(root).hex(), objects


def commit_message(env: str, source: Source, files: int, version: str) -> str:
    """Subject, a line for people, and trailers for tools (`git interpret-trailers`)."""
    short = source.commit[:12]
    subject = f"gitopsc: publish {env} from {short}"
    where = f" on {source.branch}" if source.branch else ""
    body = f"The compiled output of environment {env} ({files} files), from {short}{where}."
    trailers = [f"Source-Commit: {source.commit}"]
    if source.branch:
        trailers.append(f"Source-Branch: {source.branch}")
    if source.dirty:
        subject += " (uncommitted changes)"
        body += (
            "\nCompiled with uncommitted changes to the catalog (--allow-dirty): "
            "the files may not match Source-Commit."
        )
        trailers.append("Source-Dirty: true")
    trailers += [f"Gitopsc-Environment: {env}", f"Gitopsc-Version: {version}"]
    return f"{subject}\n\n{body}\n\n" + "\n".join(trailers) + "\n"


def trailers(message: str) -> dict[str, str]:
    """The `Key: value` lines of the message's last paragraph (empty if it has others)."""
    paragraphs = [p for p in message.strip().split("\n\n") if p.strip()]
    if len(paragraphs) < 2:
        return {}
    found = {}
    for line in paragraphs[-1].splitlines():
        match = _TRAILER.fullmatch(line.strip())
        if match is None:
            return {}
        found[match[1]] = match[2]
    return found


# ---------------------------------------------------------------- deciding


def publish(
    repo: git.Repo,
    env: str,
    branch: str,
    files: Mapping[str, bytes],
    source: Source,
    version: str,
    remote: str | None = None,
) -> Published:
    """Commit `files` (the branch's whole tree) on `branch` unless its tip holds them.

    With `remote`, the branch as the remote has it is the base (a CI runner's clone has
    no local branch, or an old one): the new commit builds on it, the local branch is
    set to the result (an older local tip stays in the reflog), and the push is a
    fast-forward. Without it, the local branch is the base.
    """
    base = remote_tip(repo, remote, branch) if remote else None
    local = branch_tip(repo, branch)
    for tip in dict.fromkeys(t for t in (base, local) if t is not None):
        check_owned(repo, tip, env, branch)
    parent = base if base is not None else local
    tree, objects = hash_tree(files)
    if parent is not None and tree_of(repo, parent) == tree:
        new, changed = parent, False
    else:
        store_objects(repo, objects, parent)
        message = commit_message(env, source, len(files), version)
        new, changed = commit_tree(repo, tree, parent, message), True
    if new != local:
        move_branch(repo, branch, new, local, f"gitopsc publish {env} from {source.commit[:12]}")
    pushed = remote is not None and new != base
    if pushed:
        push(repo, str(remote), branch)
    return Published(new, changed, len(files), pushed)


# ---------------------------------------------------------------- reading the repository


def open_repository(root: Path) -> git.Repo:
    """The git repository around the catalog, which the branch is published in."""
    repo = revisions.open_repository(
        root, "publish commits the output to a branch of the repository that holds the catalog"
    )
    status, format_, _ = _git(repo, "config", "--get", "extensions.objectFormat")
    if status == 0 and format_.strip().lower() != "sha1":
        raise UsageError(f"git object format {format_.strip()} is not supported; only sha1")
    return repo


def source_of(repo: git.Repo) -> Source:
    """HEAD's commit and branch. A detached HEAD (GitLab CI checks out the commit) is fine:
    the trailer needs the commit, and the branch name is only informative."""
    status, commit, _ = _git(repo, "rev-parse", "--verify", "-q", "HEAD^{commit}")
    if status != 0:
        raise UsageError(
            "the repository has no commit yet",
            "commit the catalog first: the published commit names the commit it came from",
        )
    status, branch, _ = _git(repo, "symbolic-ref", "-q", "--short", "HEAD")
    return Source(commit.strip(), branch.strip() if status == 0 else None)


def dirty_inputs(repo: git.Repo, root: Path) -> tuple[str, ...]:
    """Catalog files (YAML under catalog/ and environments/) that differ from HEAD:
    changed, staged, deleted, untracked or even ignored ones, since the compile reads
    them all. Other files do not change a byte of the output. `--no-optional-locks`
    keeps status from rewriting the index."""
    top = Path(str(repo.working_tree_dir)).resolve()
    try:
        base = PurePosixPath(root.resolve().relative_to(top).as_posix())
    except ValueError:
        raise UsageError(f"{root} is not inside the working tree {top}") from None
    specs = [f":(top,literal){base / name}" for name in _INPUTS]
    output = _checked(
        repo,
        "--no-optional-locks",
        "status",
        "--porcelain=v1",
        "-z",
        "--untracked-files=all",
        "--ignored=matching",
        "--",
        *specs,
    )
    fields = output.split("\0")
    paths = []
    index = 0
    while index < len(fields):
        entry = fields[index]
        index += 1
        if len(entry) < 4:
            continue
        paths.append(entry[3:])
        if entry[0] in "RC":  # a rename or copy: the source path follows
            paths.append(fields[index])
            index += 1
    return tuple(sorted({p for p in paths if p.lower().endswith(_YAML)}))


def check_branch_name(repo: git.Repo, branch: str) -> None:
    """A name `git branch` would accept, given without `refs/heads/`."""
    hint = "give a branch name such as rendered/prod (see `git check-ref-format`)"
    if branch.startswith(("-", "refs/")) or branch == "HEAD":
        raise UsageError(f"'{branch}' is not a valid branch name", hint)
    if _git(repo, "check-ref-format", f"refs/heads/{branch}")[0] != 0:
        raise UsageError(f"'{branch}' is not a valid branch name", hint)


def check_not_checked_out(repo: git.Repo, branch: str) -> None:
    """Moving a checked-out branch would leave its checkout behind, looking changed."""
    listing = _checked(repo, "worktree", "list", "--porcelain")
    for block in listing.split("\n\n"):
        lines = block.splitlines()
        if f"branch refs/heads/{branch}" in lines:
            where = lines[0].removeprefix("worktree ")
            raise UsageError(
                f"branch {branch} is checked out in {where}",
                "the hydrated branch holds only rendered files; publish to a branch that "
                "no working tree has checked out",
            )


def check_identity(repo: git.Repo) -> None:
    """Fail before compiling when git cannot name the committer (usual on CI runners)."""
    for ident in ("GIT_AUTHOR_IDENT", "GIT_COMMITTER_IDENT"):
        status, _, error = _git(repo, "var", ident)
        if status != 0:
            raise UsageError(
                f"git cannot tell who commits: {_reason(error)}",
                "set user.name and user.email (git config), or GIT_AUTHOR_NAME, "
                "GIT_AUTHOR_EMAIL, GIT_COMMITTER_NAME and GIT_COMMITTER_EMAIL",
            )


def branch_tip(repo: git.Repo, branch: str) -> str | None:
    status, tip, _ = _git(repo, "rev-parse", "--verify", "-q", f"refs/heads/{branch}^{{commit}}")
    return tip.strip() if status == 0 else None


def remote_tip(repo: git.Repo, remote: str, branch: str) -> str | None:
    """The branch's commit on `remote` (a remote's name or a URL), fetched if it is not
    here yet; None when the remote has no such branch."""
    ref = f"refs/heads/{branch}"
    status, listing, error = _git(repo, "ls-remote", "--exit-code", remote, ref, env=_NO_PROMPT)
    if status == 2:
        return None
    if status != 0:
        raise UsageError(
            f"cannot read remote '{remote}': {_reason(error)}",
            "name a remote of `git remote -v`, or a URL, that this job may read and push to",
        )
    tips = [line.split("\t")[0] for line in listing.splitlines() if line.endswith(f"\t{ref}")]
    if not tips:
        return None
    tip = tips[0]
    if _git(repo, "cat-file", "-e", f"{tip}^{{commit}}")[0] != 0:
        status, _, error = _git(repo, "fetch", "--no-tags", "-q", remote, ref, env=_NO_PROMPT)
        if status != 0 or _git(repo, "cat-file", "-e", f"{tip}^{{commit}}")[0] != 0:
            raise UsageError(
                f"cannot fetch {branch} from '{remote}': {_reason(error) or 'it moved'}",
                "run gitopsc publish again",
            )
    return tip


def check_owned(repo: git.Repo, commit: str, env: str, branch: str) -> None:
    """Only a branch whose tip gitopsc published for this environment may be replaced."""
    message = _checked(repo, "show", "-s", "--format=%B", commit)
    owner = trailers(message).get("Gitopsc-Environment")
    if owner == env:
        return
    what = f"holds environment {owner}" if owner else "was not made by gitopsc publish"
    raise UsageError(
        f"branch {branch} {what} (its tip {commit[:12]}: {message.splitlines()[0]})",
        f"publish {env} to its own branch; gitopsc commits only to a new branch or one it "
        f"published {env} to, and never replaces other work",
    )


def tree_of(repo: git.Repo, commit: str) -> str:
    return _checked(repo, "rev-parse", f"{commit}^{{tree}}").strip()


# ---------------------------------------------------------------- writing objects and refs


def store_objects(repo: git.Repo, objects: GitObjects, parent: str | None) -> int:
    """Write the objects that the parent's tree does not already have; return how many.
    Only what changed since the last publish is written (as loose objects)."""
    present: set[str] = set()
    if parent is not None:
        listing = _checked(repo, "ls-tree", "-r", "-t", "--full-tree", parent)
        present = {line.split("\t")[0].split()[2] for line in listing.splitlines()}
        present.add(tree_of(repo, parent))
    written = 0
    for sha, (kind, content) in objects.items():
        if sha in present:
            continue
        stored = repo.odb.store(IStream(kind, len(content), io.BytesIO(content)))
        if stored.hexsha.decode() != sha:
            raise RuntimeError(f"git stored {kind} {sha} as {stored.hexsha.decode()}")
        written += 1
    return written


def commit_tree(repo: git.Repo, tree: str, parent: str | None, message: str) -> str:
    parents = ["-p", parent] if parent is not None else []
    return _checked(repo, "commit-tree", tree, *parents, "-m", message).strip()


def move_branch(repo: git.Repo, branch: str, new: str, old: str | None, reason: str) -> None:
    """Point the branch at `new` only if it still points at `old` (None: does not exist)."""
    status, _, error = _git(
        repo, "update-ref", "-m", reason, f"refs/heads/{branch}", new, old or ZERO
    )
    if status != 0:
        raise UsageError(
            f"branch {branch} changed while publishing: {_reason(error)}",
            "someone else published at the same time; run gitopsc publish again",
        )


def push(repo: git.Repo, remote: str, branch: str) -> None:
    """A plain push (no force): the remote only accepts it as a fast-forward."""
    ref = f"refs/heads/{branch}"
    status, _, error = _git(repo, "push", "-q", remote, f"{ref}:{ref}", env=_NO_PROMPT)
    if status != 0:
        raise UsageError(
            f"push of {branch} to '{remote}' failed: {_reason(error) or 'rejected'}",
            "if someone published at the same time, run gitopsc publish again: it builds "
            "on the branch as the remote has it",
        )


def _git(repo: git.Repo, *args: str, env: Mapping[str, str] | None = None) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of a git command run in the repository, never raising:
    the callers decide which failures are the user's."""
    status, out, err = repo.git.execute(
        ["git", *args],
        with_extended_output=True,
        with_exceptions=False,
        strip_newline_in_stdout=False,
        env=env,
    )
    return status, str(out), str(err)


def _checked(repo: git.Repo, *args: str) -> str:
    """stdout of a git command that only fails when gitopsc or the repository is broken."""
    return repo.git.execute(["git", *args], strip_newline_in_stdout=False)


def _reason(text: str) -> str:
    """The line of git's stderr that says why: a rejection or fatal line, else the last."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("!", "fatal:", "remote: error:")):
            return line
    return lines[-1] if lines else ""
