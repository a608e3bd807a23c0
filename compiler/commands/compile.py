"""`gitopsc compile [--env E] [--out DIR] [--check [--shard K/N]]`: write the output tree,
or gate on drift (one shard's files of it).

A compile holds the output folder's lock from before it reads the catalog until the new
tree is in place: a second compile into the same folder waits, then reads the catalog as
it is by then, so the folder ends with the newer catalog's output, never an older one
written last. Both first finish (or undo) what a killed compile left (`recover`), so
neither reads half an update; `--check` otherwise writes nothing, and takes the lock
only for that.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from compiler import pipeline
from compiler.errors import UsageError
from compiler.output import (
    check_output_folder,
    differences,
    output_lock,
    read_tree,
    recover,
    staging,
    write_tree,
)


def run(
    root: Path,
    environments: list[str] | None,
    out: Path | None,
    check: bool,
    console: Console,
    shard_spec: str | None = None,
) -> int:
    shard = pipeline.parse_shard(shard_spec)
    if shard is not None and not check:
        raise UsageError(
            "--shard only splits the drift gate",
            "use compile --check --shard K/N; a compile writes the whole output",
        )
    out = (out if out is not None else root / "rendered").absolute()
    repo_path = _repo_path(root, out)
    lock = contextlib.nullcontext() if check else output_lock(out, _waiting)
    with lock, _progress() as progress, contextlib.ExitStack() as stack:
        if recover(out):  # a killed compile's update: finished (or undone) before any read
            _note(f"finished an interrupted compile into {out} before reading it")
            if check:  # the files as committed were not the output: never a passing gate
                console.print(
                    f"{out.name}/ held an unfinished compile (a journal or staging folder "
                    "beside it), now finished; run the check again (in CI: such files were "
                    "committed, remove them)",
                    highlight=False,
                )
                return 1
        if not check:
            check_output_folder(out)  # before the catalog is read: refused without work
        inputs = None if check else pipeline.inputs_of(root, repo_path)
        # what a symbolic link points to is not hashed: never "up to date" then
        digest = None if inputs is None or inputs.links else inputs.digest
        last = (
            None
            if inputs is None
            else pipeline.last_compile(out, digest, repo_path, whole=not environments)
        )
        if last is not None and last.unchanged:
            progress.stop()
            console.print(
                f"{out.name}/ is up to date: no input changed since the last compile into it",
                highlight=False,
            )
            return 0
        ahead = None
        if last is not None and last.deferred is not None:  # looked at while loading
            ahead = pipeline.ScansAhead(last.deferred)
            stack.callback(ahead.close)
        step = progress.add_task("load, validate", total=None)
        catalog = pipeline.load_catalog(root)
        chosen = pipeline.select_environments(catalog, environments)
        progress.update(step, total=1, completed=1)
        rendering = progress.add_task("resolve, render", total=len(chosen))
        emitted = None
        if last is not None and inputs is not None:
            # the keys say what the loaded catalog is made of only if no input changed
            # between hashing and loading (an editor's save, a checkout): else nothing
            # is kept, and the record claims no inputs
            if pipeline.inputs_of(root, repo_path).digest != inputs.digest:
                digest, keys = None, pipeline.Keys()
            else:
                keys = pipeline.unit_keys(inputs, catalog, repo_path)
            emitted = pipeline.Emitted(
                last.known,
                out=out,
                generation=last.generation,
                keys=keys,
                root=root,
                deferred=last.deferred,
            )
            if last.deferred is not None:  # the workers list their folders: they stage too
                emitted.stage = stack.enter_context(staging(out))
        parts = pipeline.compile_parts(
            catalog, chosen, repo_path, lambda env: progress.advance(rendering), emitted, ahead
        )
        # the workers run from here: stopped if the parts are not read to the end
        stack.callback(parts.close)
        if check:
            expected = {path: data for part in parts for path, data in part.items()}
        else:
            writing = progress.add_task("write", total=None)
            tree = _Counted(parts)
            placed = write_tree(
                out,
                tree,
                chosen,
                not environments,
                lambda count: progress.advance(writing, count),
                # the workers listed their environments' folders (fresh.py `Deferred`)
                emitted.listed.get if emitted is not None and emitted.deferred else None,
                emitted.stage if emitted is not None else None,
            )
            if emitted is not None and last is not None:
                # a compile of some environments kept the others as they were: their
                # marks still hold, but the record no longer says what a whole compile writes
                kept = {} if not environments else last.known
                start, known = last.start, last.known
                if last.deferred is not None:  # the workers looked at the folder
                    start, known = emitted.start, last.deferred.known(emitted.start)
                pipeline.remember(
                    out,
                    None if environments else digest,
                    repo_path,
                    {**kept, **emitted.learned},
                    start,
                    placed,
                    emitted.pending,
                    known,
                    emitted.as_before,
                    last.deferred,
                )
            else:
                pipeline.forget(out)
    if check:
        return _check(out, chosen, environments, expected, console, shard)
    console.print(
        f"wrote {tree.files} files for {', '.join(chosen)} to {out}",
        highlight=False,
    )
    return 0


class _Counted:
    """The parts passed through, counting their files for the closing line."""

    def __init__(self, parts: Iterator[dict[str, bytes]]):
        self.parts = parts
        self.files = 0

    def __iter__(self) -> Iterator[dict[str, bytes]]:
        for part in self.parts:
            self.files += len(part)
            yield part


def _check(
    out: Path,
    chosen: tuple[str, ...],
    environments: list[str] | None,
    tree: dict[str, bytes],
    console: Console,
    shard: pipeline.Shard | None = None,
) -> int:
    """The drift gate: compare with what is in `out`, write nothing, exit 1 on drift.
    A shard compares only its files (`pipeline.file_shards`): together the shards
    compare every file once."""
    envs = set(chosen)
    if not environments and out.is_dir():
        envs |= {p.name for p in out.iterdir() if p.is_dir()}
    if shard is None:
        present = read_tree(out, sorted(envs))
    else:
        present, owner = _read_shard(out, sorted(envs), tree, shard)
        tree = {path: data for path, data in tree.items() if owner(path) == shard.index}
    drift = differences(tree, present)
    for path, change in drift:
        console.print(f"{change:8} {out.name}/{path}", highlight=False)
    if drift:
        files = sum(1 for path, _ in drift if ": " not in path)  # not the objects in them
        console.print(
            f"{files} file(s) differ from what the catalog compiles to; "
            f"run `gitopsc compile` and commit the result.",
            highlight=False,
        )
        return 1
    part = f" of shard {shard}" if shard is not None else ""
    console.print(f"{out.name}/ is up to date ({len(tree)} files{part}).", highlight=False)
    return 0


def _read_shard(
    out: Path, environments: list[str], tree: dict[str, bytes], shard: pipeline.Shard
) -> tuple[dict[str, bytes], Callable[[str], int]]:
    """The files under `out` of the environments given that belong to `shard`, and
    each path's shard: the indexes first (they say whose each file is), then only the
    shard's files read."""
    indexes = {
        f"{env}/index.json": (out / env / "index.json").read_bytes()
        for env in environments
        if (out / env / "index.json").is_file()
    }
    owner = pipeline.file_shards(shard.count, tree, indexes)
    present: dict[str, bytes] = {}
    for env in environments:
        for path in (out / env).rglob("*") if (out / env).is_dir() else ():
            relative = path.relative_to(out).as_posix()
            if owner(relative) == shard.index and path.is_file():
                present[relative] = path.read_bytes()
    return present, owner


def _note(message: str) -> None:
    """Say on stderr what was done besides the command's own work."""
    Console(stderr=True, soft_wrap=True, emoji=False).print(message, highlight=False, markup=False)


def _waiting(message: str) -> None:
    """Say why nothing happens while another compile holds the output folder."""
    Console(stderr=True, soft_wrap=True, emoji=False).print(
        f"{message} ...", highlight=False, markup=False
    )


def _repo_path(root: Path, out: Path) -> str:
    """Where ArgoCD finds the output in the repository: `out` relative to the root."""
    try:
        return out.relative_to(root.absolute()).as_posix()
    except ValueError:
        return "rendered"


def _progress() -> Progress:
    """A progress bar on stderr, shown only on a terminal (CI logs stay clean)."""
    errors = Console(stderr=True, emoji=False)
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
        disable=not errors.is_terminal,
    )
