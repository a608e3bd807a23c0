"""checkov's Kubernetes checks on the rendered output: in-process, offline, located.

Why in-process and not the `checkov` command: the command fetches guidelines from
Prisma Cloud on every run (a network call CI may not allow, and a failure when it is
refused), starts a new interpreter per run, and reports files, not catalog lines. Here
checkov's `Runner` scans each environment's rendered Kubernetes objects, handed to it
with the lines `gitopsc compile` writes for them (see `scan`), and each failed check
becomes a `Finding` located at the catalog setting behind the field it names.

Custom checks live in `policies/checkov/`: Python files that define a checkov check
class and instantiate it (as checkov documents), and YAML graph checks. gitopsc loads
them itself, before any scan, so that a broken one is a located error (checkov's own
loader only logs and skips it). checkov keeps its checks in process-wide registries;
`activate` resets them to checkov's own checks before adding a folder's, so two
repositories checked in one process never see each other's checks.

checkov results carry no severity offline (severities come from its platform), so
they get `checkov.severity` from policies/config.yaml, re-graded per check id under
`checks:` like any other check; a YAML check may state its own `metadata.severity`.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import inspect
import logging
import sys
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compiler.catalog import Catalog, Instance, load_document, to_json, to_yaml
from compiler.check import result_cache
from compiler.check.builtins.base import about_file
from compiler.check.findings import SEVERITIES, Finding, Severity
from compiler.check.subjects import object_location
from compiler.errors import Location, Problem
from compiler.output import serialize
from compiler.render import OutputFile

_PRISTINE: dict[str, Any] = {}  # checkov's registries before any custom check was added
_ACTIVE: list[str] = []  # the custom check sources currently registered (a cache key)


@dataclass(frozen=True)
class CheckovRun:
    """What a scan needs: the default severity, the check ids switched off, and a digest
    of the custom checks registered (`checks_digest`; part of a cached result's key)."""

    severity: Severity
    skip: tuple[str, ...]
    checks: str = ""


def checks_digest(folder: Path | None) -> str:
    """The custom checks' names and bytes, hashed: a cached result is only reused while
    the checks that made it are the ones registered."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()) if folder else []:
        relative = path.relative_to(folder).as_posix().encode()
        content = path.read_bytes()
        digest.update(b"%d:%s%d:" % (len(relative), relative, len(content)) + content)
    return digest.hexdigest()


def activate(
    root: Path, folder: Path | None
) -> tuple[dict[str, tuple[str, Severity | None]], list[Problem]]:
    """Register checkov's checks and the custom ones in `folder`; return every check's
    id and title (for config and waiver references, and `--list`) and the problems of
    broken custom checks."""
    _quiet()
    resource, graph = _registries()
    files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder else []
    sources = [f"{p}:{p.stat().st_mtime_ns}" for p in files]
    problems: list[Problem] = []
    if sources != _ACTIVE:
        _restore(resource, graph)
        for path in files:
            relative = path.relative_to(root).as_posix()
            if path.suffix == ".py":
                problems += _load_python(path, relative)
            elif path.suffix in (".yaml", ".yml", ".json"):
                problems += _load_graph(root, relative, graph)
        _ACTIVE[:] = sources if not problems else []
    return _ids(resource, graph), problems


def _quiet() -> None:
    """checkov logs to the root logger at WARNING for things that are not problems of
    the scan (unsupported resources in its graph, say); keep the report the output."""
    logging.getLogger("checkov").setLevel(logging.ERROR)


def _registries() -> tuple[Any, Any]:
    from checkov.common.checks_infra.registry import get_graph_checks_registry
    from checkov.kubernetes.checks.resource.registry import registry

    graph = get_graph_checks_registry("kubernetes")
    graph.load_checks()
    if not _PRISTINE:
        _PRISTINE["checks"] = {kind: list(checks) for kind, checks in registry.checks.items()}
        _PRISTINE["wildcard"] = {k: list(v) for k, v in registry.wildcard_checks.items()}
        _PRISTINE["graph"] = list(graph.checks)
    return registry, graph


def _restore(resource: Any, graph: Any) -> None:
    resource.checks.clear()
    resource.checks.update({kind: list(c) for kind, c in _PRISTINE["checks"].items()})
    resource.wildcard_checks.clear()
    resource.wildcard_checks.update({k: list(v) for k, v in _PRISTINE["wildcard"].items()})
    graph.checks[:] = _PRISTINE["graph"]


def _load_python(path: Path, relative: str) -> list[Problem]:
    """Run the file as a module: its check instance registers itself with checkov."""
    try:
        code = compile(path.read_bytes(), str(path), "exec")
    except SyntaxError as error:
        return [Problem(Location(relative, error.lineno or 0), f"syntax error: {error.msg}")]
    spec = importlib.util.spec_from_loader(f"gitopsc_checkov_{path.stem}", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    module.__file__ = str(path)
    try:
        exec(code, module.__dict__)
    except Exception as error:  # user code: any failure is a located problem
        frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == str(path)]
        line = frames[-1].lineno if frames else 0
        return [
            Problem(
                Location(relative, line or 0),
                f"custom checkov check failed to load: {type(error).__name__}: {error}",
            )
        ]
    return []


def _load_graph(root: Path, relative: str, graph: Any) -> list[Problem]:
    """A YAML (or JSON) graph check, parsed by checkov's own parser."""
    from checkov.runner_filter import RunnerFilter

    document, problems = load_document(root, relative)
    if document is None:
        return problems
    data = document.data
    if not isinstance(data, dict) or not graph.parser.validate_check_config(
        file_path=relative, raw_check=data
    ):
        return [
            Problem(
                document.locate(()),
                "not a checkov graph check",
                "it needs metadata (id, name, category) and a definition; see docs/policies.md",
            )
        ]
    try:
        check = graph.parser.parse_raw_check(data, check_path=relative)
    except Exception as error:  # checkov's parser raises anything on a bad definition
        return [Problem(document.locate(("definition",)), f"bad checkov definition: {error}")]
    severity = (data.get("metadata") or {}).get("severity")
    if isinstance(severity, str) and severity.lower() in SEVERITIES:
        check.severity = severity.lower()
    graph.checks[:] = [c for c in graph.checks if c.id != check.id] + [check]
    RunnerFilter.notify_external_check(check.id)
    return []


def _ids(resource: Any, graph: Any) -> dict[str, tuple[str, Severity | None]]:
    """check id -> (title, its own severity if it states one), for every registered check."""
    checks = [c for group in resource.checks.values() for c in group]
    checks += [c for group in resource.wildcard_checks.values() for c in group]
    return {
        c.id: (c.name, c.severity if c.severity in SEVERITIES else None)
        for c in [*checks, *graph.checks]
    }


def scan(
    catalog: Catalog,
    env: str,
    files: Sequence[OutputFile],
    instances: Mapping[str, Instance],
    run: CheckovRun,
    digests: result_cache.Digests | None = None,
) -> list[Finding]:
    """Every failed checkov check on `env`'s rendered Kubernetes objects.

    One checkov run per namespace folder (`<env>/kubernetes/<cluster>/<namespace>/`):
    checkov's graph links objects by label selectors without regard to namespaces, in
    time quadratic in the objects of a run, so one run per environment both links a
    NetworkPolicy to other customers' pods and grows as the square of the customers.
    Per namespace it is what Kubernetes means, and linear.

    checkov is handed the objects, not files: its own reading (pure-Python YAML, a
    forked process per file) took 60% of its time. `_definitions` builds what its
    parser would from the bytes `gitopsc compile` writes, and the tests compare the
    result with checkov reading the same files itself.

    A folder whose objects, checks and skipped ids are those of an earlier run is not
    scanned again: its raw result is read from the result cache (result_cache.py).
    """
    objects = {file.path: file for file in files if _is_kubernetes_object(file)}
    folders: dict[str, list[str]] = {}
    for path in objects:
        folders.setdefault("/".join(path.split("/")[:4]), []).append(path)
    openshift = {c.name for c in catalog.environments[env].clusters if c.flavour == "openshift"}
    records = []
    for folder, paths in sorted(folders.items()):
        skip = list(run.skip)
        if folder.split("/")[2] in openshift:
            skip += sorted(NOT_ON_OPENSHIFT)
        chosen = {path: objects[path] for path in sorted(paths)}
        found = _failed(chosen, folder, skip, run.checks, digests)
        records += [(folder, record) for record in found]
    return sorted(
        (
            _finding(catalog, env, objects, instances, run, folder, record)
            for folder, record in records
        ),
        key=Finding.sort_key,
    )


# checkov checks that do not apply on an OpenShift cluster, and why (docs/policies.md)
NOT_ON_OPENSHIFT = {
    "CKV_K8S_40": "the restricted-v2 SCC gives each pod a UID from its namespace's range "
    "(1000000000 and up), a high UID by construction; a fixed one would be refused "
    "(openshift-scc), so gitopsc renders none there",
}

_ROOT = "/gitopsc"  # the folder checkov is told it scans; nothing is read from it


def _failed(
    objects: Mapping[str, OutputFile],
    folder: str,
    skip: Sequence[str],
    checks: str,
    digests: result_cache.Digests | None = None,
) -> list[dict[str, str]]:
    """checkov's failed checks on one folder's objects, as plain records (`_record`):
    from the result cache when these bytes were scanned with these checks before."""
    from checkov.version import version as checkov_version

    key = result_cache.content_key(
        "checkov",
        [
            checkov_version.encode(),
            checks.encode(),
            "\0".join(sorted(skip)).encode(),
            folder.encode(),
            _writer_digest(),
            *(part for path in sorted(objects) for part in _parts(path, objects[path], digests)),
        ],
    )
    cached = result_cache.read("checkov", key)
    if isinstance(cached, list) and all(_is_record(item) for item in cached):
        return cached
    contents = {path: serialize(file) for path, file in objects.items()}
    reports = _run_checkov(objects, folder, skip, contents)
    records = [_record(found) for report in reports for found in report.failed_checks]
    result_cache.write("checkov", key, records)
    return records


def _parts(
    path: str, file: OutputFile, digests: result_cache.Digests | None
) -> tuple[bytes, bytes]:
    return path.encode(), _content(file, digests)


def _content(file: OutputFile, digests: result_cache.Digests | None) -> bytes:
    """What stands for a file's bytes in the key: what they are written from (the
    file's format, the sources its header names, the digest of its data; `serialize`
    is a function of these), a third of the cost of writing the bytes, paid for every
    object on every run; the bytes themselves where the data is not plain (data_digest)."""
    digest = result_cache.digest_of(file.path, file.data, digests)
    if digest is None:
        return b"b" + serialize(file)
    return b"d" + digest + "\0".join((file.format, *file.sources)).encode()


@functools.cache
def _writer_digest() -> bytes:
    """The code that turns data into a file's bytes (the writer and the emitters): the
    key stands for the bytes by what they are written from, so a change to how they are
    written must miss too."""
    modules = sorted({serialize.__module__, to_yaml.__module__, to_json.__module__})
    digest = hashlib.sha256()
    for name in modules:
        source = Path(inspect.getfile(sys.modules[name])).read_bytes()
        digest.update(len(source).to_bytes(8, "big") + source)
    return digest.digest()


_RECORD_FIELDS = ("check_id", "check_name", "file_path", "resource", "key", "guideline", "severity")


def _record(found: Any) -> dict[str, str]:
    """What a finding needs of checkov's record: JSON data, so it can be cached."""
    keys = (found.check_result or {}).get("evaluated_keys") or []
    severity = getattr(found, "severity", None)
    return {
        "check_id": str(found.check_id),
        "check_name": str(found.check_name),
        "file_path": str(found.file_path),
        "resource": str(found.resource),
        "key": str(keys[0]) if keys else "",
        "guideline": str(found.guideline or ""),
        "severity": str(getattr(severity, "name", severity or "")).lower(),
    }


def _is_record(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and sorted(item) == sorted(_RECORD_FIELDS)
        and all(isinstance(value, str) for value in item.values())
    )


def _run_checkov(
    objects: Mapping[str, OutputFile],
    folder: str,
    skip: Sequence[str],
    contents: Mapping[str, bytes] | None = None,
) -> list:
    """checkov's Kubernetes runner on `objects`, as if it had read them from `folder`.
    Runner.run parses files only while it has no definitions and context; given both,
    it runs its resource checks on them, and its graph checks on the graph built here
    from them (what run() itself does after parsing)."""
    from checkov.common.util.data_structures_utils import pickle_deepcopy
    from checkov.kubernetes.kubernetes_utils import build_definitions_context
    from checkov.kubernetes.runner import Runner
    from checkov.runner_filter import RunnerFilter

    _quiet()
    definitions, raw = {}, {}
    for path, file in objects.items():
        name = f"{_ROOT}/{path}"
        content = contents[path] if contents is not None else serialize(file)
        definitions[name], raw[name] = _definitions(file, content)
    runner = Runner()
    runner.definitions, runner.definitions_raw = definitions, raw
    runner.context = build_definitions_context(definitions, raw)
    graph = runner.graph_manager.build_graph_from_definitions(pickle_deepcopy(definitions))
    runner.graph_manager.save_graph(graph)
    report = runner.run(
        root_folder=f"{_ROOT}/{folder}",
        runner_filter=RunnerFilter(
            framework=["kubernetes"],
            skip_checks=list(skip),
            show_progress_bar=False,
            run_image_referencer=False,  # image scanning calls Prisma Cloud
        ),
    )
    return report if isinstance(report, list) else [report]


def _definitions(
    file: OutputFile, content: bytes
) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """What checkov's YAML parser makes of the file (`content`, its bytes): the object
    with the first and last line of each mapping (here: of the object, for all of
    them), and the numbered lines."""
    lines = content.decode().splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines, 1) if not line.startswith("#"))
    return [_with_lines(file.data, first, len(lines))], list(enumerate(lines, 1))


def _with_lines(node: Any, first: int, last: int) -> Any:
    if isinstance(node, dict):
        return {
            **{key: _with_lines(value, first, last) for key, value in node.items()},
            "__startline__": first,
            "__endline__": last,
        }
    if isinstance(node, list):
        return [_with_lines(item, first, last) for item in node]
    return node


def _is_kubernetes_object(file: OutputFile) -> bool:
    parts = file.path.split("/")
    return (
        file.format == "yaml"
        and len(parts) > 3
        and parts[1] == "kubernetes"
        and isinstance(file.data, dict)
        and file.data.get("kind") not in (None, "Kustomization")
    )


def _finding(
    catalog: Catalog,
    env: str,
    objects: Mapping[str, OutputFile],
    instances: Mapping[str, Instance],
    run: CheckovRun,
    folder: str,
    record: Mapping[str, str],
) -> Finding:
    path = f"{folder}{record['file_path']}"  # relative to the folder scanned, leading /
    file = objects.get(path)
    instance = instances.get(file.instances[0]) if file and len(file.instances) == 1 else None
    pointer = _pointer(record["key"])
    location = object_location(catalog, instance, pointer) if instance else None
    if location is None and file is not None:
        location = _source(file)
    named, check_id, check_name = record["severity"], record["check_id"], record["check_name"]
    return Finding(
        check_id,
        named if named in SEVERITIES else run.severity,  # type: ignore[arg-type]
        f"{path}: {record['resource']}: {check_name}" + (f" ({pointer})" if pointer else ""),
        "checkov",
        location,
        rendered=path,
        **(about_file(env, file, instances) if file is not None else {"environment": env}),
        remediation=record["guideline"]
        or f"change the setting behind {pointer or 'the object'}, or re-grade or disable "
        f"{check_id} under `checks:` in policies/config.yaml",
        title=check_name,
        key=f"{record['resource']}:{pointer}",
        pointer=pointer,
    )


def _pointer(key: str) -> str:
    """checkov's `spec/containers/[0]/env` -> the JSON pointer `/spec/containers/0/env`."""
    return "".join(f"/{part.strip('[]')}" for part in key.split("/") if part)


def _source(file: OutputFile) -> Location | None:
    """An object of no single instance (a namespace's): the first catalog file behind it."""
    catalog_files = [s for s in file.sources if s.startswith("catalog/")]
    return Location(catalog_files[0]) if catalog_files else None
