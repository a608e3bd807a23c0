"""`gitopsc publish --env E [--branch B] [--push REMOTE] [--allow-dirty]`: commit one
environment's compiled output to its hydrated branch, only when it changed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rich.console import Console

from compiler import pipeline
from compiler.commands import version
from compiler.errors import UsageError
from compiler.review import publish as hydrate

# The repo path the Applications name when `argocd.branch` is not set: the same as
# `gitopsc compile` without --out, so the branch holds exactly `rendered/<env>/`.
_REPO_PATH = "rendered"


def run(
    root: Path,
    env: str,
    branch: str | None,
    remote: str | None,
    allow_dirty: bool,
    console: Console,
) -> int:
    repo = hydrate.open_repository(root)
    source = hydrate.source_of(repo)
    dirty = hydrate.dirty_inputs(repo, root)
    if dirty and not allow_dirty:
        shown = ", ".join(dirty[:5]) + (f" and {len(dirty) - 5} more" if len(dirty) > 5 else "")
        raise UsageError(
            f"the catalog has uncommitted changes: {shown}",
            f"commit them first, so that the published output matches Source-Commit "
            f"{source.commit[:12]}; or pass --allow-dirty (the commit is then marked "
            "Source-Dirty)",
        )
    resolved = pipeline.run(root, [env])
    branch = _branch(branch, resolved.catalog.environments[env].argocd.branch, env)
    hydrate.check_branch_name(repo, branch)
    hydrate.check_not_checked_out(repo, branch)
    hydrate.check_identity(repo)
    files = hydrate.branch_files(pipeline.render_bytes(resolved, _REPO_PATH), env)
    source = replace(source, dirty=dirty)
    done = hydrate.publish(repo, env, branch, files, source, version(), remote)
    if done.changed:
        console.print(
            f"published {env} to {branch}: {done.commit[:12]} ({done.files} files) "
            f"from {source.commit[:12]}"
            + (f", with uncommitted changes to {len(dirty)} file(s)" if dirty else ""),
            highlight=False,
        )
    else:
        console.print(
            f"{branch} is unchanged: {done.commit[:12]} already holds this output "
            f"({done.files} files); nothing committed",
            highlight=False,
        )
    if remote is not None:
        state = "pushed to" if done.pushed else "already up to date on"
        console.print(f"{branch} {state} {remote}", highlight=False)
    return 0


def _branch(given: str | None, configured: str | None, env: str) -> str:
    """`--branch`, or the environment's `argocd.branch`; they must agree when both are
    set, or the published Applications would point at another branch."""
    if given is None and configured is None:
        raise UsageError(
            f"no branch to publish {env} to",
            f"pass --branch, or set argocd.branch in environments/{env}/environment.yaml",
        )
    if given is not None and configured is not None and given != configured:
        raise UsageError(
            f"--branch {given} is not the hydrated branch of {env} ({configured})",
            f"its Applications read from {configured}: publish there, or change argocd.branch",
        )
    return str(given if given is not None else configured)
