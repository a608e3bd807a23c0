"""A change that hands running objects from one Application to another says that
ArgoCD deletes them in between.

Every child Application carries ArgoCD's resources finalizer, so that removing a
customer removes its workloads. An Application that leaves the output while the objects
it deployed stay rendered under another Application (a rename: a new ArgoCD topology,
`argocd.applications` switched between per-instance and per-customer, a service or
customer renamed, a gitopsc upgrade that names Applications differently) is deleted by
the root app with that finalizer: ArgoCD deletes its Deployments, StatefulSets and
Services, and the new Application creates them again once it syncs. Whether the new one
adopts them first is a race (the root app only waits for the new Application to report
healthy, which live objects make it before it has synced), so the customer's service
may be down in between, in every environment the change reaches at once. Found by
following each removed Application's source through the kustomizations of the base
revision's output to the objects it deploys; reported when one of them is rendered in
the working tree under another Application (an Application kept under its name but
deploying less prunes what it no longer has, if it prunes); what is rendered never to be
pruned or deleted (Namespaces, claims: `Prune=false,Delete=false`) stays and is not
counted. The safe way (docs/output.md, "Renaming Applications"): take the finalizer off
the old Applications first, so that their deletion leaves the objects, which the new
Applications adopt; then waive this finding for the change.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace

from compiler.catalog import Instance
from compiler.check.builtins.base import Builtin, as_list, as_mapping
from compiler.check.builtins.persistent_data_loss import Sides
from compiler.check.findings import Finding
from compiler.errors import Location
from compiler.render import KEEP, SYNC_OPTIONS, OutputFile, api_group

FINALIZER = "resources-finalizer.argocd.argoproj.io"
_SHOWN = 3  # Application names a message spells out; the rest are counted

Identity = tuple[str, str, str, str, str]  # cluster, API group, kind, namespace, name
AppKey = tuple[str, str, str]  # environment, cluster, Application (namespace/name)
HOOK = "argocd.argoproj.io/hook"


def check(sides: Sides) -> Iterator[Finding]:
    old = _deployed(sides.old)
    new = _deployed(sides.new)
    owner = {identity: key[2] for key, (_, objects) in new.items() for identity in objects}
    moved: dict[tuple[str, str | None], list[tuple[AppKey, str, int]]] = {}
    for key, (file, objects) in sorted(old.items()):
        successor = new.get(key)
        if successor is None:  # deleted by the root app, if it prunes: with the finalizer,
            if not _root_prunes(sides, key[0]) or FINALIZER not in as_list(  # cascading
                _metadata(file).get("finalizers")
            ):
                continue
        elif not _prunes(successor[0]):  # kept: what leaves it is pruned if it prunes
            continue
        handed = [i for i in sorted(objects) if i in owner and owner[i] != key[2]]
        if handed:
            customer = _customer(file, sides.old_instances)
            moved.setdefault((key[0], customer), []).append((key, owner[handed[0]], len(handed)))
    for (env, customer), apps in sorted(moved.items(), key=lambda i: (i[0][0], i[0][1] or "")):
        names = ", ".join(
            f"{_shown(key[2], successor)} -> {_shown(successor, key[2])}"
            for key, successor, _ in apps[:_SHOWN]
        )
        more = f" and {len(apps) - _SHOWN} more" if len(apps) > _SHOWN else ""
        objects = sum(count for _, _, count in apps)
        whose = customer or "the platform"
        finding = BUILTIN.finding(
            f"moves {objects} running object(s) of {whose} in {env} from {len(apps)} "
            f"Application(s) to others ({names}{more}): ArgoCD deletes them with the old "
            "Application (resources finalizer) or prunes them from it, and the new "
            "Applications create them again: down in between",
            _responsible(sides, env),
            environment=env,
            customer=customer,
            key=customer or "platform",
        )
        yield replace(finding, severity="high" if sides.prod(env) else "medium")


def _shown(application: str, other: str) -> str:
    """`namespace/name` as ArgoCD identifies an Application; the name alone when both
    sides are in one namespace (the usual case: a rename)."""
    same = application.split("/", 1)[0] == other.split("/", 1)[0]
    return application.split("/", 1)[1] if same else application


def _root_prunes(sides: Sides, env: str) -> bool:
    """Whether the root app deletes a child Application that left the output: it syncs
    with the environment's automated prune (render/argocd.py)."""
    catalog = sides.head if env in sides.head.environments else sides.base
    settings = catalog.environments[env].argocd
    return settings.automated and settings.prune


def _prunes(application: OutputFile) -> bool:
    sync = as_mapping(as_mapping(as_mapping(application.data).get("spec")).get("syncPolicy"))
    return bool(as_mapping(sync.get("automated")).get("prune"))


def _deployed(files: Sequence[OutputFile]) -> dict[AppKey, tuple[OutputFile, set[Identity]]]:
    """Each Application among `files` and the objects it deploys: its source folder's
    kustomization, followed through the folders it takes in."""
    by_path = {file.path: file for file in files}
    found: dict[AppKey, tuple[OutputFile, set[Identity]]] = {}
    for file in files:
        parts = file.path.split("/")
        data = as_mapping(file.data)
        if len(parts) != 5 or parts[1] != "argocd" or data.get("kind") != "Application":
            continue
        source = as_mapping(as_mapping(data.get("spec")).get("source"))
        folder = _folder(parts[0], str(source.get("path", "")))
        objects: set[Identity] = set()
        _collect(folder, by_path, objects, set())
        metadata = _metadata(file)
        name = f"{metadata.get('namespace', '')}/{metadata.get('name', '')}"
        found[(parts[0], parts[2], name)] = (file, objects)
    return found


def _folder(env: str, path: str) -> str:
    """The output folder an Application reads: `<repo path>/<env>/...` in path mode,
    `<kind>/...` from the root of a hydrated branch (the environment's folder)."""
    wrapped = f"/{path.strip('/')}/"
    for top in ("kubernetes", "argocd"):
        at = wrapped.find(f"/{env}/{top}/")
        if at >= 0:
            return wrapped[at + 1 : -1]
    return f"{env}/{path.strip('/')}"


def _collect(
    folder: str, by_path: Mapping[str, OutputFile], objects: set[Identity], seen: set[str]
) -> None:
    if folder in seen:
        return
    seen.add(folder)
    kustomization = by_path.get(f"{folder}/kustomization.yaml")
    if kustomization is None:
        return
    for resource in as_list(as_mapping(kustomization.data).get("resources")):
        target = posixpath.normpath(f"{folder}/{resource}")
        file = by_path.get(target)
        if file is None:
            _collect(target, by_path, objects, seen)
        elif (identity := _identity(file)) is not None and not _kept(file) and not _hook(file):
            objects.add(identity)


def _identity(file: OutputFile) -> Identity | None:
    parts = file.path.split("/")
    data = as_mapping(file.data)
    if len(parts) < 4 or parts[1] != "kubernetes":
        return None
    metadata = as_mapping(data.get("metadata"))
    return (
        parts[2],
        api_group(str(data.get("apiVersion", ""))),
        str(data.get("kind", "")),
        str(metadata.get("namespace", "")),
        str(metadata.get("name", "")),
    )


def _hook(file: OutputFile) -> bool:
    """A sync hook: ArgoCD makes and deletes it per sync, never prunes it."""
    return HOOK in as_mapping(_metadata(file).get("annotations"))


def _kept(file: OutputFile) -> bool:
    """Rendered to outlive its Application (render/retention.py): never deleted by it."""
    options = as_mapping(_metadata(file).get("annotations")).get(SYNC_OPTIONS)
    present = {o.strip() for o in options.split(",")} if isinstance(options, str) else set()
    return all(option in present for option in KEEP)


def _metadata(file: OutputFile) -> Mapping[str, object]:
    return as_mapping(as_mapping(file.data).get("metadata"))


def _customer(file: OutputFile, instances: Mapping[str, Instance]) -> str | None:
    customers = {instances[i].customer for i in file.instances if i in instances}
    return customers.pop() if len(customers) == 1 else None


def _responsible(sides: Sides, env: str) -> Location:
    """The environment's `argocd` settings (topology and granularity decide the names),
    or its file when it has none left."""
    catalog = sides.head if env in sides.head.environments else sides.base
    return catalog.source("environment", env).locate("argocd")


BUILTIN = Builtin(
    "application-replaced",
    "A change says when it replaces running Applications",
    "high",
    "before merging, take the resources finalizer off the Applications this change "
    "replaces (kubectl -n argocd patch application <name> --type json -p "
    '\'[{"op": "remove", "path": "/metadata/finalizers"}]\'), so that deleting them '
    "leaves their objects for the new Applications to adopt; then waive this finding for "
    "the change (docs/output.md, 'Renaming Applications')",
    "base",
    check,
    __doc__,
)
