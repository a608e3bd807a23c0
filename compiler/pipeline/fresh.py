"""A compile with nothing to do does nothing: the output folder is left as it is when
neither an input nor the output changed since the last whole compile into it.

A whole compile of 1,000 customers takes a minute, and a recompile of an unchanged
catalog cost as much, and touched every file (a new hard link each, so git re-read all
of them on its next `git status`). What a compile writes is a function of its inputs:
the files under `catalog/` and `environments/`, the compiler's own code (its source, so
that an edited checkout counts, not only a released version), the Python and YAML
library versions, and where the output sits in the repository (ArgoCD's paths). Their
digest is kept, after a whole compile, with a snapshot of the output folder as it was
left: every file's path, size, modification and change times and inode. The next compile with the
same digest, finding every file as the snapshot says (none added, removed, replaced or
edited by hand), has nothing to write.

After a change, the record still saves work: it holds each file's content mark (a
digest of what its bytes are made from, output/writer.py `content_mark`) and sha256. A
file whose mark is unchanged and which is on disk as the last compile left it (same
size, modification and change time and inode) is not serialized again, read or
compared: the writer keeps it. Marks are used only by the code that made them (the
compiler's source digest, Python and ruamel.yaml versions and the repository path are
recorded beside them). What still runs after any change is load, validate, resolve and
render of the whole catalog; the emit stage, which cost as much as those together,
serializes only what changed.

The record vouches only for bytes the compile saw or made (`remember`): a file edited
while the compile ran is left out of it, and files changed within a second of its
snapshot are read again before they are trusted (git's racy-clean rule).

The record is kept outside the output folder, in the cache folder (result_cache.py),
since the output is committed and must be the same bytes on every machine; it is signed
with the user's cache key, so a record someone else wrote can only cost a compile. It is
written after the new tree is in place: a run killed before that leaves the older
record, whose snapshot no longer matches, and the next run compiles. Without a cache
folder (CI sets `GITOPSC_CACHE_DIR: ""`) every compile compiles.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import marshal
import os
import platform
import stat
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path

from compiler.catalog import Catalog
from compiler.check import result_cache
from compiler.output import MARKER, MARKER_BYTES, Listing
from compiler.pipeline.units import Keys, keys_of

_INPUTS = ("catalog", "environments")
_KIND = "compile"


@dataclass(frozen=True)
class Inputs:
    """What a compile's bytes depend on: `digest` of it all (module docstring), and
    each input file's own sha256 (for `unit_keys`)."""

    digest: str
    files: dict[str, str]
    links: bool = False  # some input is a symbolic link: what it points to is not hashed


def inputs_of(root: Path, repo_path: str) -> Inputs:
    """The inputs of a compile of `root` into `repo_path` (module docstring)."""
    digest = hashlib.sha256()
    _add(digest, _setting(repo_path).encode())
    files: dict[str, str] = {}
    links = False
    for relative, content, link in _files(root):
        _add(digest, relative.encode())
        _add(digest, content)
        files[relative] = hashlib.sha256(content).hexdigest()
        links = links or link
    return Inputs(digest.hexdigest(), files, links)


def inputs_digest(root: Path, repo_path: str) -> str:
    """The digest of everything a compile's bytes depend on (module docstring)."""
    return inputs_of(root, repo_path).digest


def unit_keys(inputs: Inputs, catalog: Catalog, repo_path: str) -> Keys:
    """The keys of the catalog's units and service folders (pipeline/units.py), from
    the input files read for `inputs`; none when an input is a symbolic link (the
    loader reads the file it points to, whose changes its link's digest does not show:
    nothing is kept, every customer is rendered)."""
    if inputs.links:
        return Keys()
    return keys_of(inputs.files, catalog, _setting(repo_path))


def stable_keys(root: Path, catalog: Catalog, repo_path: str, before: Inputs | None) -> Keys:
    """`unit_keys` of `catalog`, loaded from `root` after `before` was hashed, if no input
    changed in between (an editor's save, a checkout): else none, so nothing is kept
    on the strength of keys that may not say what was loaded."""
    if before is None or inputs_of(root, repo_path).digest != before.digest:
        return Keys()
    return unit_keys(before, catalog, repo_path)


@dataclass(frozen=True)
class LastCompile:
    """What the last compile into a folder left, as far as the folder still shows it."""

    unchanged: bool  # same inputs, every file as it was left: nothing to do
    known: dict[str, list[str]]  # path -> [content mark, sha256], file as it was left
    start: dict[str, list[int]] | None  # the folder's snapshot now, before this compile
    generation: str | None = None  # of the units recorded with it (pipeline/units.py)
    # the record, with the folder not looked at yet: each environment's render worker
    # looks at its own (`Deferred`), and `known` and `start` above are empty
    deferred: Deferred | None = None


Looked = tuple[list[str], list[str], dict[str, list[int]], Listing | None]
"""An environment's folder told against the record (`Deferred.look`): the files whose
status is the record's, those of them whose mark is not vouched for (none, or racy and
changed), the other files with their statuses, and the folder's listing."""


@dataclass(frozen=True)
class Deferred:
    """The last compile's record, for a whole compile whose inputs changed: such a
    compile has work to do whatever the folder holds, so the folder is looked at per
    environment by the worker that renders it (`scan`), beside the others, not by the
    main process before any of them starts (57,000 files, half a second at 1,000
    customers). `scan` finds what `last_compile` would for the environment's files."""

    out: Path
    files: dict[str, list[int]]  # path -> status, as the record left them
    racy: dict[str, str]
    marks: dict[str, list[str]]
    # when the record's statuses were all taken (`remember`), if it says (else None)
    until: int | None = None
    # env -> the file of `scan`'s result, taken while the catalog loaded
    # (pipeline/compile.py `ScansAhead`), in marshal's format
    ahead: dict[str, str] = field(default_factory=dict)

    def scan(self, env: str) -> tuple[dict[str, list[str]], dict[str, list[int]], Listing | None]:
        """The known marks of `env`'s files, their statuses now (its snapshot), and the
        folder's listing for the writer (output/writer.py `write_tree`'s `listed`: the
        main process then does not walk the folder again; None if it is not a folder).
        Taken ahead if it was (`ahead`)."""
        try:
            with open(self.ahead[env], "rb") as ahead:
                looked = marshal.load(ahead)
        except (KeyError, OSError, ValueError, EOFError, TypeError):  # none, or gone
            looked = self.look(env)
        same, unvouched, changed, listing = looked
        files, marks = self.files, self.marks
        now = {path: files[path] for path in same}  # the record's own lists: no copies
        now.update(changed)
        if unvouched:
            skip = set(unvouched)
            return {p: marks[p] for p in same if p not in skip}, now, listing
        return {path: marks[path] for path in same}, now, listing

    def look(self, env: str) -> Looked:
        """`scan`'s findings, told against the record (`Looked`): what a look ahead
        hands over (pipeline/compile.py `ScansAhead`), a third of the whole's bytes."""
        listing: Listing = ({}, [])
        snapshot = (  # a link in the folder's place is an entry the writer replaces
            None if (self.out / env).is_symlink() else _snapshot(self.out / env, f"{env}/", listing)
        )
        files, marks, racy = self.files, self.marks, self.racy
        same: list[str] = []
        unvouched: list[str] = []
        changed: dict[str, list[int]] = {}
        for path, status in (snapshot or {}).items():
            if files.get(path) != status:
                changed[path] = status
                continue
            same.append(path)
            mark = marks.get(path)
            if not (
                isinstance(mark, (list, tuple))
                and len(mark) == 2
                and (path not in racy or _sha256(self.out / path) == racy[path])
            ):
                unvouched.append(path)
        return same, unvouched, changed, None if snapshot is None else listing

    def known(self, start: Mapping[str, list[int]]) -> dict[str, list[str]]:
        """The marks the workers' scans vouched for, from the statuses they saw
        (`start`); a racy file's is left out (it is looked at again, `remember`)."""
        return {
            path: self.marks[path]
            for path, status in start.items()
            if path in self.marks and path not in self.racy and self.files.get(path) == status
        }

    def as_before(
        self,
        part: Mapping[str, object],
        learned: Mapping[str, Sequence[str]],
        seen: Mapping[str, list[int]],
    ) -> list[str]:
        """The files of an environment's compiled `part` whose entries in the next
        record are this record's, unchanged (`remember`): kept (None), with the status
        and the mark and sha256 this record has for them (`seen`, `learned`), and not
        racy here. The worker that compiled the part sends back its marks and statuses
        but for these (an environment's 19,000 of 19,000 after a one-customer change)."""
        files, marks, racy = self.files, self.marks, self.racy
        return [
            path
            for path, data in part.items()
            if data is None
            and path not in racy
            and files.get(path) == seen.get(path)
            and _same_mark(marks.get(path), learned.get(path))
        ]


def _same_mark(recorded: Sequence[str] | None, mark: Sequence[str] | None) -> bool:
    """The same [content mark, sha256] (a list as the record may hold it, or a tuple)."""
    return (
        recorded is not None
        and mark is not None
        and len(recorded) == len(mark) == 2
        and recorded[0] == mark[0]
        and recorded[1] == mark[1]
    )


def last_compile(
    out: Path, digest: str | None, repo_path: str, whole: bool = False
) -> LastCompile | None:
    """None without a cache folder (CI), where no record is kept. Otherwise read the
    record of the last compile into `out` and compare it with the folder now. A file
    counts as left untouched only if its size, modification and change times and inode
    are the ones recorded (the change time cannot be set back by hand); only such
    files' marks are offered for reuse, and only to the same compiler code.

    A `whole` compile (every environment) whose inputs are not the record's leaves the
    comparison to its workers (`Deferred`)."""
    if not result_cache.active():
        return None
    record = _read_record(out)
    left = record.get("files") if isinstance(record, dict) else None
    racy = record.get("racy") if isinstance(record, dict) else None
    marks = record.get("emitted") if isinstance(record, dict) else None
    generation = record.get("generation") if isinstance(record, dict) else None
    generation = generation if isinstance(generation, str) else None
    until = record.get("until") if isinstance(record, dict) else None
    until = until if isinstance(until, int) and not isinstance(until, bool) else None
    usable = (
        isinstance(left, dict)
        and isinstance(racy, dict)
        and isinstance(marks, dict)
        and record.get("setting") == _setting(repo_path)  # type: ignore[union-attr]
    )
    if whole and usable and (digest is None or record.get("inputs") != digest):  # type: ignore[union-attr]
        deferred = Deferred(out, left, racy, marks, until)  # type: ignore[arg-type]
        return LastCompile(False, {}, None, generation, deferred)
    now = _snapshot(out)
    if not isinstance(left, dict) or not isinstance(racy, dict) or now is None:
        return LastCompile(False, {}, now)
    # as git does: a file changed within the clock tick of the snapshot keeps its times,
    # so those written just before it are trusted only if their bytes are still theirs
    same = {
        path
        for path, status in now.items()
        if left.get(path) == status and (path not in racy or _sha256(out / path) == racy[path])
    }
    if digest is not None and record.get("inputs") == digest and len(same) == len(now) == len(left):  # type: ignore[union-attr]
        return LastCompile(True, {}, now)
    if not usable:
        return LastCompile(False, {}, now)
    known = {
        path: mark
        for path, mark in marks.items()  # type: ignore[union-attr]
        if isinstance(mark, (list, tuple)) and len(mark) == 2 and path in same
    }
    return LastCompile(False, known, now, generation)


def remember(
    out: Path,
    digest: str | None,
    repo_path: str,
    emitted: Mapping[str, Sequence[str]],
    start: Mapping[str, list[int]] | None,
    placed: int,
    generation: str | None = None,
    known: Mapping[str, Sequence[str]] | None = None,
    as_before: Collection[str] = (),
    before: Deferred | None = None,
) -> None:
    """After a compile into `out`: its inputs (None after a compile of some
    environments: the others were kept as they were, so the record no longer says what
    a whole compile would write), the files it left, the sha256 of those changed within
    a second of that snapshot (`last_compile` reads them again), and each file's content
    mark and sha256.

    The record vouches only for bytes the compile saw or made. `start` is the folder's
    snapshot before the compile, `placed` the time the writer put its files in place
    (output/writer.py `write_tree`). A file changed since `placed` was put there by the
    writer or edited after it: it is read, and kept only if it holds the bytes the
    compile meant (`emitted`'s sha256), or, if it changed within a second of now, noted
    as racy with that sha256, so that every later look reads it first. A file changed
    since `start` but before `placed` was edited while the compile ran, perhaps after
    the writer compared it or while it was kept unread: it is left out, so the next
    compile compares it and puts it right. Any other file is as the writer found or
    made it. `known`: the marks the compile started from (`LastCompile.known`); a file
    whose mark and sha256 are still those was kept unread, and is not looked at again
    (`_left`).

    `as_before`: files whose entries are the last record's (`before`; `Deferred.
    as_before`), not in `emitted` or `start`. Their statuses were all taken before that
    record's `until`: if that is more than a second before `placed`, none changed since
    or is racy, and their entries are copied; otherwise they are looked at as the rest.

    `generation` is the one the compile's units were recorded under (by the render
    workers, before this, pipeline/units.py): the record names it, so that units of a
    run killed before its record was written are never used."""
    taken = time.time_ns()
    marker = ("", hashlib.sha256(MARKER_BYTES).hexdigest())  # no mark: always written
    recent, racy_from = placed - _RACY_NS, taken - _RACY_NS
    start, known = start or {}, known or {}
    files: dict[str, list[int]] = {}
    racy: dict[str, str] = {}
    marks: dict[str, Sequence[str]] = {}
    if as_before and before is not None:
        if before.until is not None and before.until < recent:  # copied, at C speed
            files = {path: before.files[path] for path in as_before}
            marks = {path: before.marks[path] for path in as_before}
        else:
            last = {path: before.marks[path] for path in as_before}
            start = {**start, **{path: before.files[path] for path in as_before}}
            known, emitted = {**known, **last}, {**emitted, **last}
    for path, mark in itertools.chain(emitted.items(), [(MARKER, marker)]):
        status = _left(out, path, mark, start.get(path), known.get(path))
        if status is None:
            continue
        if status[1] >= racy_from or status[2] >= racy_from:
            # changed within a second of now: whatever it holds, the next look reads it
            # (`racy`), and trusts it only if it holds the bytes meant; not read now (a
            # recompile's three 25 MB indexes: a tenth of a second)
            racy[path] = mark[1]
        elif status[1] >= recent or status[2] >= recent:  # modified or changed since placed
            if _sha256(out / path) != mark[1]:
                continue
        elif start.get(path, status) != status:
            continue
        files[path] = status
        if path != MARKER:
            marks[path] = mark
    record = {
        "generation": generation,
        "inputs": digest,
        "setting": _setting(repo_path),
        "files": files,
        "racy": racy,
        "emitted": marks,
        "until": time.time_ns(),  # after every status above was taken
    }
    _write_record(out, record)


def _left(
    out: Path,
    path: str,
    mark: Sequence[str],
    before: list[int] | None,
    earlier: Sequence[str] | None,
) -> list[int] | None:
    """The status of the file the compile left at `path`, None if it left none: a file
    the writer kept unread (the same mark and sha256, `earlier`, as the last compile
    left, which the compile vouched for when it saw the status `before`) has that
    status, without a second walk of the folder (57,000 files at 1,000 customers); any
    other is looked at now. A kept file edited while the compile ran then has a status
    other than the one recorded: the next compile does not trust it, and compares it."""
    if before is not None and earlier is not None and tuple(earlier) == tuple(mark):
        return before
    try:
        status = os.lstat(out / path)
    except OSError:
        return None
    return _status(status) if stat.S_ISREG(status.st_mode) else None


def _status(status: os.stat_result) -> list[int]:
    return [status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino]


def _read_record(out: Path) -> object:
    """The record of the last compile into `out`, if this user's key signed it."""
    payload = result_cache.read_bytes(_KIND, _key(out), "marshal")
    if payload is None:
        return None
    try:
        return marshal.loads(payload)
    except (ValueError, EOFError, TypeError):
        return None


def _write_record(out: Path, record: object) -> None:
    """Keep `record` (plain data: marshal reads 19 MB of it in a third of JSON's time
    and writes it in a tenth; it is signed, and never executed)."""
    result_cache.write_bytes(_KIND, _key(out), marshal.dumps(record, 4), "marshal")


_RACY_NS = 1_000_000_000  # far more than any file system's timestamp granularity


def _sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def forget(out: Path) -> None:
    """Drop the record: the next compile into `out` starts from nothing."""
    _write_record(out, None)


def _setting(repo_path: str) -> str:
    """Everything besides the input files that a compile's bytes depend on."""
    return "\0".join(
        (
            _code_digest(),
            platform.python_version(),
            *(_version(name) for name in _LIBRARIES),
            repo_path,
        )
    )


# the libraries whose behaviour shapes the output: the YAML reader and writer, the
# models' validation and defaults, JSON patches, the Terraform contract's parser
_LIBRARIES = (
    "ruamel.yaml",
    "pydantic",
    "pydantic-core",
    "jsonpatch",
    "jsonpointer",
    "bc-python-hcl2",
    "lark",
)


def _key(out: Path) -> str:
    return hashlib.sha256(str(out.resolve()).encode()).hexdigest()


def _add(digest: hashlib._Hash, part: bytes) -> None:
    digest.update(len(part).to_bytes(8, "big"))
    digest.update(part)


def _files(root: Path) -> Iterator[tuple[str, bytes, bool]]:
    """Every entry under the input folders, in a fixed order: a file's bytes, a link's
    target (never followed), so that any change there, a stray file included (an error
    the compile must report), changes the digest."""
    for part in _INPUTS:
        for folder, folders, names in os.walk(root / part):
            folders.sort()
            for name in sorted(names + [f for f in folders if os.path.islink(Path(folder, f))]):
                path = Path(folder, name)
                relative = path.relative_to(root).as_posix()
                if path.is_symlink():
                    yield relative, b"link:" + os.readlink(path).encode(), True
                elif path.is_file():
                    yield relative, path.read_bytes(), False


def _snapshot(
    out: Path, prefix: str = "", listing: Listing | None = None
) -> dict[str, list[int]] | None:
    """path -> [size, mtime_ns, ctime_ns, inode] of every entry under `out` that is not
    a folder (each path after `prefix`); None without `out`. `listing`, if given, is
    filled as the writer lists a folder (output/writer.py `Listing`)."""
    if not out.is_dir():
        return None
    files: dict[str, list[int]] = {}
    pending = [(prefix, str(out))]  # (relative prefix, folder): no Path per file (84,000)
    while pending:
        prefix, folder = pending.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    pending.append((f"{prefix}{entry.name}/", entry.path))
                    if listing is not None:
                        listing[1].append(prefix + entry.name)
                    continue
                status = entry.stat(follow_symlinks=False)
                files[prefix + entry.name] = _status(status)
                if listing is not None:
                    listing[0][prefix + entry.name] = stat.S_ISREG(status.st_mode)
    return dict(sorted(files.items()))


@functools.cache
def _code_digest() -> str:
    """The compiler package's source, hashed once per process."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".json", ".yaml", ".lua"):
            _add(digest, path.relative_to(package).as_posix().encode())
            _add(digest, path.read_bytes())
    return digest.hexdigest()


def _version(name: str) -> str:
    try:
        return package_version(name)
    except PackageNotFoundError:
        return "?"
