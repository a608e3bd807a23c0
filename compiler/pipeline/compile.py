"""`compile`: resolved instances -> each environment's output files -> bytes per path.

    render    Instances      -> OutputFiles per environment          render/
    emit      OutputFiles    -> bytes per path                       output/

Environments are independent, so large catalogs render in one forked worker per
environment. Writing the bytes to the output folder is the command's last step
(output/writer.py), so that a failure anywhere leaves the old output whole.
"""

from __future__ import annotations

import json
import marshal
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from compiler.catalog import Catalog, Kept, customer_of_id, shard_of, sole_customer
from compiler.errors import CatalogInvalid, Problem, UsageError
from compiler.output import Listing, render_tree, stage_part
from compiler.pipeline import interpolated
from compiler.pipeline.fresh import Deferred
from compiler.pipeline.load import (
    Resolved,
    compile_workers,
    resolve_catalog,
    spare_core,
    worker_pool,
    workers,
)
from compiler.pipeline.units import (
    Keys,
    Reuse,
    learn,
    record,
    reuse,
    shared_keeper,
    shared_to_record,
    shares_to_record,
)
from compiler.render import KeptRendered, OutputFile, Share, SharedFiles, render_environment

_T = TypeVar("_T")

REPO_PATH = "rendered"  # where the output lives in the repository (ArgoCD paths)


def render(
    resolved: Resolved,
    repo_path: str = "rendered",
    kept: Reuse | None = None,
    made: dict[str, Share] | None = None,
    shared: SharedFiles | None = None,
) -> dict[str, list[OutputFile]]:
    """The output files of every environment of `resolved`; raise on render problems.
    `kept`: the units an incremental compile keeps instead, and the customers it keeps
    whole (pipeline/units.py; not among the instances); `made` receives the shares of
    the customers rendered (render/shares.py); `shared`: whether the files customers
    share are kept (render `SharedFiles`; one environment only)."""
    files_by_env: dict[str, list[OutputFile]] = {}
    problems: list[Problem] = []
    kept = kept or Reuse()
    for env in resolved.environments:
        instances = [i for i in resolved.instances.values() if i.environment == env]
        files, found = render_environment(
            resolved.catalog,
            resolved.catalog.environments[env],
            instances,
            repo_path,
            frozenset(kept.skip),
            kept.reserved,
            kept.folders,
            resolved.connections.get(env),
            kept.shares,
            made,
            shared,
        )
        files_by_env[env] = files
        problems += found
    if problems:
        raise CatalogInvalid(problems)
    return files_by_env


@dataclass
class Emitted:
    """What a compile's emit stage reuses and learns (output/writer.py `render_tree`):
    `known`, the [content mark, sha256] of each file an earlier compile left untouched
    on disk (those whose mark is unchanged are kept, not serialized again); `learned`,
    filled with every file's, for the next compile."""

    known: Mapping[str, Sequence[str]]
    learned: dict[str, tuple[str, str]] = field(default_factory=dict)
    # the units of customers that did not change are kept, not rendered (units.py):
    out: Path | None = None  # the folder, whose index and units record are read
    generation: str | None = None  # of the units the last compile recorded
    keys: Keys = field(default_factory=Keys)  # of the units and their folders
    root: Path | None = None  # the catalog's, whose interpolated instances are kept
    # the last compile's record, the folder not looked at yet: each worker looks at its
    # environment's files, for `known` and the snapshot `start` (fresh.py `Deferred`)
    deferred: Deferred | None = None
    start: dict[str, list[int]] = field(default_factory=dict)
    # each environment's folder as its worker listed it, for the writer (`write_tree`)
    listed: dict[str, Listing | None] = field(default_factory=dict)
    # the generation this compile's units are recorded under, by the worker that
    # rendered them (not sent back: tens of MB), and that its record names once written
    pending: str = field(default_factory=lambda: secrets.token_hex(16))
    # the staging folder of the writer's update in place (output/writer.py `staging`):
    # a worker that listed its environment's folder writes the files it changes there
    stage: Path | None = None
    # the files whose entries in the next record are the last one's (fresh.py
    # `Deferred.as_before`): their marks and statuses are not in `learned` and `start`
    as_before: list[str] = field(default_factory=list)


_SHARED: tuple[Resolved, str, Emitted | None] | None = None  # what forked workers inherit


_Part = tuple[
    dict[str, bytes | str | None],
    dict[str, tuple[str, str]],
    list[Problem],
    dict[str, list[int]],
    Listing | None,
    list[str],
]
"""One environment's files (None: kept; a name: staged, `Emitted.stage`), their
[mark, sha256], its problems, the statuses of its files before the compile and its
folder's listing (`Emitted.deferred`; else empty and None), and the files whose marks,
statuses and listing are not sent, being the last record's (`Emitted.as_before`)."""


@dataclass
class _Prepared:
    """What an environment's compile knows of the last one before it resolves: the
    folder as it found it (`known` marks, `seen` statuses, its listing) and what it
    keeps (units, and the customers kept whole, with their shares: render/shares.py)."""

    known: Mapping[str, Sequence[str]]
    seen: dict[str, list[int]]
    listing: Listing | None
    kept: Reuse


def _prepare(env: str, emitted: Emitted) -> _Prepared:
    known, seen, listing = emitted.known, {}, None
    if emitted.deferred is not None:
        known, seen, listing = emitted.deferred.scan(env)
    kept = Reuse()
    if emitted.out is not None and emitted.keys.customers:
        kept = reuse(emitted.out, env, emitted.generation, emitted.keys, known)
    return _Prepared(known, seen, listing, kept)


def _render_one(env: str, prepared: _Prepared | None = None) -> _Part:
    """Render and emit one environment of the resolved catalog (`_SHARED`); with a
    previous compile to build on (`prepared`, else looked at here), keep what it can.
    Customers kept whole were not resolved (`_compile_one`): if anything here does
    not hold as reasoned (`KeptRendered`), they are resolved and all is rendered."""
    assert _SHARED is not None
    resolved, repo_path, emitted = _SHARED
    one = Resolved(resolved.catalog, (env,), resolved.instances, resolved.connections)
    try:
        layouts = {env: resolved.catalog.environments[env].output.layout}
        if emitted is None:
            return render_tree(render(one, repo_path), layouts), {}, [], {}, None, []
        if prepared is None:  # every customer was resolved: none is kept whole
            prepared = _prepare(env, emitted)
            prepared.kept.shares.clear()
        known, kept = prepared.known, prepared.kept
        learned: dict[str, tuple[str, str]] = {}
        owners: dict[str, tuple[str, ...]] = {}
        spans: dict[str, tuple[int, int]] = {}
        made: dict[str, Share] = {}
        catalog = resolved.catalog
        shared = SharedFiles(shared_keeper(emitted.keys, env, catalog, kept))
        try:
            files = render(one, repo_path, kept, made, shared)
            if shared.kept and kept.shared is not None:  # not rendered: kept as left
                kept.kept.update(kept.shared.files)
            tree = render_tree(files, layouts, known, learned, kept.kept, owners, spans)
        except KeptRendered:  # what it would keep is not as it reasoned: render all
            if kept.shares:  # the customers kept whole are resolved now
                try:
                    one = _resolved(resolved.catalog, [env], repo_path, emitted, whole=True)
                except CatalogInvalid as invalid:  # worded as one resolve of all words it
                    raise _Unresolved(invalid.problems) from None
            kept = Reuse()
            shared = SharedFiles(shared_keeper(emitted.keys, env, catalog, kept))
            learned.clear()
            owners.clear()
            spans.clear()
            made.clear()
            files = render(one, repo_path, None, made, shared)
            tree = render_tree(files, layouts, known, learned, None, owners, spans)
        part: dict[str, bytes | str | None] = dict(tree)
        if emitted.stage is not None and emitted.out is not None and prepared.listing is not None:
            position = sorted(resolved.catalog.environments).index(env)
            unlike = {  # rendered, with a sha256 other than the one vouched for on disk
                path
                for path, data in tree.items()
                if data is not None and path in known and path in learned
                if known[path][1] != learned[path][1]
            }
            part = stage_part(
                emitted.out, emitted.stage, position, tree, prepared.listing[0], unlike
            )
        if emitted.out is not None:
            index = tree[f"{env}/index.json"]
            assert isinstance(index, bytes)  # always written, never kept
            record(
                emitted.out,
                env,
                emitted.pending,
                learn(env, emitted.keys, owners, files[env], kept, spans, index),
                shares_to_record(emitted.keys, kept, made),
                spans,
                shared_to_record(env, kept, shared, owners, files[env], spans, index),
            )
        seen, listing, same = prepared.seen, prepared.listing, []
        if emitted.deferred is not None and listing is not None:  # this worker looked
            # what the last record says already is not sent back (`Deferred.as_before`)
            same = emitted.deferred.as_before(part, learned, seen)
            skip = set(same)
            learned = {path: mark for path, mark in learned.items() if path not in skip}
            seen = {path: status for path, status in seen.items() if path not in skip}
            listing = (
                {p: regular for p, regular in listing[0].items() if p not in skip},
                listing[1],
            )
        return part, learned, [], seen, listing, same
    except CatalogInvalid as invalid:
        return {}, {}, invalid.problems, {}, None, []


def render_parts(
    resolved: Resolved,
    repo_path: str = "rendered",
    done: Callable[[str], None] | None = None,
    emitted: Emitted | None = None,
) -> Iterator[dict[str, bytes | str | None]]:
    """Each environment's files as bytes, yielded as soon as it is rendered.

    Environments are independent, so each is rendered and emitted in its own worker
    process when the catalog is large (forked: the resolved catalog is inherited, not
    pickled; only bytes come back). Yielding each one as it finishes lets the caller
    write it while the workers render the rest. Which order they come in does not
    change any byte. Raises `CatalogInvalid` after the last one if any had problems, so
    a consumer that writes must treat what it got as unusable until the end.
    `done(env)` is called as each environment finishes (for a progress bar). With
    `emitted`, a file an earlier compile left as it would now be is None (kept), and
    `emitted.learned` receives every file's mark (a recompile; see `Emitted`).
    """
    global _SHARED
    environments = list(resolved.environments)
    count = workers(resolved)
    problems: list[Problem] = []
    _SHARED = (resolved, repo_path, emitted)
    try:
        if count > 1:
            with worker_pool(count) as pool:
                jobs = {pool.submit(_render_one, env): env for env in environments}
                for job in as_completed(jobs):
                    result = _result(job)
                    yield from _finished(jobs[job], result, problems, done, emitted)
        else:
            for env in environments:
                yield from _finished(env, _render_one(env), problems, done, emitted)
    finally:
        _SHARED = None
    if problems:
        raise CatalogInvalid(problems)


def _result(job: Future[_T]) -> _T:
    """A worker's result; a worker that died (the kernel's out-of-memory killer, a
    signal) is an error that says so, not a traceback: nothing has been written."""
    try:
        return job.result()
    except BrokenProcessPool:
        raise UsageError(
            "a worker process died during the compile (killed, out of memory?); "
            "nothing was written",
            "free memory, or compile fewer environments at once (--env)",
        ) from None


def _finished(
    env: str,
    result: _Part,
    problems: list[Problem],
    done: Callable[[str], None] | None,
    emitted: Emitted | None,
) -> Iterator[dict[str, bytes | str | None]]:
    tree, learned, found, seen, listing, same = result
    problems += found
    if emitted is not None:
        emitted.learned.update(learned)
        emitted.start.update(seen)
        emitted.as_before += same
        if emitted.deferred is not None:
            if listing is not None and same:  # those not sent back: regular files
                listing = ({**dict.fromkeys(same, True), **listing[0]}, listing[1])
            emitted.listed[env] = listing
    if done is not None:
        done(env)
    if not found:
        yield tree


_CATALOG: tuple[Catalog, str, Emitted | None] | None = None  # what compile workers inherit


class ScansAhead:
    """The output folder's environments looked at (fresh.py `Deferred.scan`) by forked
    workers while the main process loads and validates the catalog, on the core that
    would otherwise wait (a third of a second of CPU per environment at 1,000
    customers). Only for an output the record says is large (`_AHEAD_FROM` files), on
    a machine with a core to spare (`spare_core`); each environment is one whose index
    the record holds, and a render worker whose environment was not looked at, or whose
    look failed, looks itself. The compile holds the output folder's lock throughout,
    as when its render workers look.

    Each look is handed over as a file in a private temporary folder, which the render
    worker reads: not through the pool's pipe, whose reader in the main process would
    wait for the interpreter lock behind the catalog's validation."""

    def __init__(self, deferred: Deferred):
        self._deferred = deferred
        self._jobs: dict[str, Future[str]] = {}
        self._pool: ProcessPoolExecutor | None = None
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        try:
            folders = sorted(entry.name for entry in os.scandir(deferred.out) if entry.is_dir())
        except OSError:
            return
        environments = [env for env in folders if f"{env}/index.json" in deferred.files]
        if len(deferred.files) < _AHEAD_FROM or not environments or not spare_core():
            return
        _sweep_left_behind()
        global _SCANNING
        try:
            self._folder = tempfile.TemporaryDirectory(
                prefix=f"{_AHEAD_PREFIX}{os.getpid()}-", ignore_cleanup_errors=True
            )
            self._pool = worker_pool(min(len(environments), _AHEAD_WORKERS))
            _SCANNING = (deferred, self._folder.name)
            try:  # forked at the first submit: they inherit _SCANNING
                self._jobs = {env: self._pool.submit(_scan_ahead, env) for env in environments}
            finally:
                _SCANNING = None
        except (OSError, RuntimeError):  # no room, no process: each render worker looks
            self._jobs = {}
            self.close()

    def collect(self) -> None:
        """Wait for the looks, and tell the render workers where they are (`Deferred.
        ahead`). Any look that failed is left to its render worker: the same look."""
        for env, job in self._jobs.items():
            taken = self.taken(job)
            if taken is not None:
                self._deferred.ahead[env] = taken
        self._done()

    def running(self) -> dict[Future[str], str]:
        """The looks still running (look -> its environment); those done are told to the
        render workers as `collect` tells them. `compile_parts` hands each running one's
        file to its environment's render worker as it ends (`taken`), rather than
        starting no worker before the last look ends (the third of three on two cores
        ended a third of a second after the catalog was loaded, at 1,000 customers)."""
        running = {}
        for env, job in self._jobs.items():
            if not job.done():
                running[job] = env
                continue
            taken = self.taken(job)
            if taken is not None:
                self._deferred.ahead[env] = taken
        if not running:
            self._done()
        return running

    def taken(self, job: Future[str]) -> str | None:
        """The file of a look that ended; None if it failed (its render worker looks,
        and says what fails); when it is the last, the looking workers are let go."""
        try:
            return job.result()
        except Exception:
            return None
        finally:
            if all(other.done() for other in self._jobs.values()):
                self._done()

    def _done(self) -> None:
        if self._pool is not None:  # every look is done
            self._pool.shutdown(wait=False)
            self._pool = None

    def close(self) -> None:
        """Stop the looks not started, wait for those running (a third of a second at
        most: none writes into the folder once it is removed), and remove their files
        (after the render workers)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None


def _sweep_left_behind() -> None:
    """Remove the look-ahead folders of compiles that were killed (SIGKILL, a power
    cut): each is named for its process, this user's, and that process is gone."""
    for folder in Path(tempfile.gettempdir()).glob(f"{_AHEAD_PREFIX}*-*"):
        pid = folder.name.removeprefix(_AHEAD_PREFIX).partition("-")[0]
        try:
            if not pid.isdigit() or folder.lstat().st_uid != os.getuid():
                continue
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (OSError, OverflowError):  # alive (another user's), or not to be touched
            continue


_AHEAD_PREFIX = "gitopsc-scan-"
_SCANNING: tuple[Deferred, str] | None = None  # what the look-ahead workers inherit
_AHEAD_FROM = 20_000  # files in the record; below, the look is cheaper than the fork
_AHEAD_WORKERS = 2


def _scan_ahead(env: str) -> str:
    """Look at `env`'s folder; the result's file, in marshal's format."""
    assert _SCANNING is not None
    deferred, folder = _SCANNING
    path = os.path.join(folder, env)
    with open(path, "wb") as result:
        marshal.dump(deferred.look(env), result, 4)
    return path


def compile_parts(
    catalog: Catalog,
    environments: Sequence[str],
    repo_path: str = "rendered",
    done: Callable[[str], None] | None = None,
    emitted: Emitted | None = None,
    ahead: ScansAhead | None = None,
) -> Parts:
    """`render_parts` for a validated catalog not yet resolved: each worker resolves,
    renders and emits one environment, so resolving runs in parallel too and the main
    process never holds every instance (a third of a compile's time and most of its
    memory at 3,000 customers). Instances of one environment never depend on
    another's, and every problem resolve reports is one environment's, so the workers
    find exactly the problems one resolve of all finds; they are then reported as that
    resolve words them (it runs again here, only on failure). A small catalog is
    resolved and rendered in this process, as before.

    The workers start at once, not when the first part is asked for: what the caller
    does before it reads them (the writer's walk of the output folder, a third of a
    second at 1,000 customers) runs beside them. `close()` the parts if they are not
    read to the end. `ahead`: the looks at the environments' folders started while the
    catalog loaded (`ScansAhead`); an environment whose look still runs is started as
    soon as it ends, with its file (the others at once)."""
    global _CATALOG
    count = compile_workers(catalog, environments)
    if count == 1:
        if ahead is not None:
            ahead.collect()
        return Parts(_compiled_here(catalog, environments, repo_path, done, emitted))
    running = ahead.running() if ahead is not None else {}
    _CATALOG = (catalog, repo_path, emitted)
    pool = worker_pool(count)
    try:  # with fork, every worker is forked at the first submit: they inherit _CATALOG
        jobs = {
            pool.submit(_compile_one, env): env
            for env in environments
            if env not in running.values()
        }
        for look in as_completed(running):
            env = running[look]
            jobs[pool.submit(_compile_one, env, ahead.taken(look) if ahead else None)] = env
    except BaseException:
        pool.shutdown(cancel_futures=True)
        raise
    finally:
        _CATALOG = None
    return Parts(_gathered(_pooled(pool, jobs), catalog, environments, done, emitted), pool)


class Parts(Iterator[dict[str, bytes | str | None]]):
    """The parts of a compile (`compile_parts`), and the pool computing them."""

    def __init__(
        self,
        parts: Generator[dict[str, bytes | str | None], None, None],
        pool: ProcessPoolExecutor | None = None,
    ):
        self._parts, self._pool = parts, pool

    def __next__(self) -> dict[str, bytes | str | None]:
        return next(self._parts)

    def close(self) -> None:
        """Stop: environments not started are cancelled; the workers finish the ones they
        are rendering and exit, and are not waited for here (the interpreter waits for
        them when it exits, as it does for any process pool)."""
        self._parts.close()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


def _compiled_here(
    catalog: Catalog,
    environments: Sequence[str],
    repo_path: str,
    done: Callable[[str], None] | None,
    emitted: Emitted | None,
) -> Iterator[dict[str, bytes | str | None]]:
    """`compile_parts` in this process: each environment as a worker does it."""

    def compiled() -> Generator[tuple[str, tuple[_Part, bool]], None, None]:
        global _CATALOG
        for env in environments:
            _CATALOG = (catalog, repo_path, emitted)
            try:
                result = _compile_one(env)
            finally:
                _CATALOG = None
            yield env, result

    yield from _gathered(compiled(), catalog, environments, done, emitted)


def _resolved(
    catalog: Catalog,
    environments: Sequence[str],
    repo_path: str,
    emitted: Emitted | None,
    kept: Mapping[str, Kept] | None = None,
    whole: bool = False,
) -> Resolved:
    """The environments resolved, with the instances kept for the catalog if a record
    is kept at all (interpolated.py); `kept`: the customers not resolved per
    environment (`whole`: none, whatever `kept` says)."""
    if emitted is None:
        return resolve_catalog(catalog, environments)
    return interpolated.resolve_keeping(
        emitted.root, catalog, environments, emitted.keys, repo_path, None if whole else kept
    )


def _gathered(
    results: Generator[tuple[str, tuple[_Part, bool]], None, None],
    catalog: Catalog,
    environments: Sequence[str],
    done: Callable[[str], None] | None,
    emitted: Emitted | None,
) -> Iterator[dict[str, bytes | str | None]]:
    problems: list[Problem] = []
    unresolved: list[Problem] = []
    try:
        for env, (part, failed) in results:
            if failed:
                unresolved += part[2]
            elif not unresolved:
                yield from _finished(env, part, problems, done, emitted)
    finally:  # stopped early: so are the environments not compiled yet
        results.close()
    if unresolved:
        resolve_catalog(catalog, environments)  # raises: the problems as one resolve words them
        raise CatalogInvalid(unresolved)  # if it did not: the workers' own words
    if problems:
        raise CatalogInvalid(problems)


def _pooled(
    pool: ProcessPoolExecutor, jobs: Mapping[Future[tuple[_Part, bool]], str]
) -> Generator[tuple[str, tuple[_Part, bool]], None, None]:
    """The workers' results as they finish; the pool shut down after the last (or when
    stopped early: the environments not started are cancelled, none waited for)."""
    finished = False
    try:
        for job in as_completed(jobs):
            yield jobs[job], _result(job)
        finished = True
    finally:
        pool.shutdown(wait=finished, cancel_futures=not finished)


def _compile_one(env: str, looked: str | None = None) -> tuple[_Part, bool]:
    """Resolve one environment, then render and emit it; True last if resolve failed.
    With a previous compile to build on, the customers it keeps whole are not resolved
    (their shares are kept: render/shares.py). `looked`: the file of a look at the
    environment's folder that ended after this worker was forked (`ScansAhead`)."""
    global _SHARED
    assert _CATALOG is not None
    catalog, repo_path, emitted = _CATALOG
    if looked is not None and emitted is not None and emitted.deferred is not None:
        emitted.deferred.ahead[env] = looked
    prepared = _prepare(env, emitted) if emitted is not None else None
    kept = None
    if prepared is not None and prepared.kept.shares:
        routable = tuple(r for share in prepared.kept.shares.values() for r in share.routable)
        kept = {env: Kept(frozenset(prepared.kept.shares), routable)}
    try:
        resolved = _resolved(catalog, [env], repo_path, emitted, kept)
    except CatalogInvalid as invalid:
        return ({}, {}, invalid.problems, {}, None, []), True
    _SHARED = (resolved, repo_path, emitted)
    try:
        return _render_one(env, prepared), False
    except _Unresolved as unresolved:
        return ({}, {}, unresolved.problems, {}, None, []), True
    finally:
        _SHARED = None


class _Unresolved(Exception):
    """Resolve failed for an environment whose kept customers had to be resolved after
    all (`_render_one`): a resolve problem, to be worded as one resolve of all does."""

    def __init__(self, problems: list[Problem]):
        super().__init__(problems)
        self.problems = problems


def render_bytes(resolved: Resolved, repo_path: str = "rendered") -> dict[str, bytes]:
    """Every output file of `resolved` as bytes, sorted by path (for --check and tests)."""
    tree: dict[str, bytes] = {}
    for part in render_parts(resolved, repo_path):
        for path, data in part.items():
            if data is None:  # nothing is kept without `emitted`
                raise RuntimeError(f"{path}: no bytes rendered")
            tree[path] = data
    return dict(sorted(tree.items()))


def file_shards(count: int, *trees: Mapping[str, bytes]) -> Callable[[str], int]:
    """Each output path's shard of `count` (catalog/shards.py), from the instances its
    environment's index.json lists for it: the first tree that has the path decides
    (the compiled tree, then the one on disk), so a file whose instances changed is
    still one shard's. Files no index lists, and the indexes themselves, are shard 1's."""
    owners: dict[str, int] = {}
    for tree in trees:
        for path, data in tree.items():
            env, _, name = path.partition("/")
            if name != "index.json":
                continue
            for relative, entry in json.loads(data).get("files", {}).items():
                customers = (customer_of_id(i) for i in entry.get("instances", ()))
                owners.setdefault(f"{env}/{relative}", shard_of(sole_customer(customers), count))
    return lambda path: owners.get(path, 1)
