"""A recompile renders only the customers whose inputs changed: the rest of their files
are kept as the last compile into the folder left them.

A customer's own files on a cluster (its namespace's folder
`<env>/kubernetes/<cluster>/<customer>/`: the namespace's own objects and its service
folders; its Applications and AppProject under `<env>/argocd/<cluster>/`) are a *unit*.
What a unit holds is made from the customer's own catalog file and from inputs no
customer owns (services, plans, teams, environments; fresh.py `unit_keys`), never from
another customer's file: a layer reaches only its own customer's instances, and
everything customers share (environment-scoped services and their NetworkPolicies,
tfvars, inventory, the platform's project, the index) is rendered on every compile.

So after a compile, each unit's key is recorded with the files it is (after packing,
output/layout.py) and its objects' identities (render `identities`). A unit is kept
when its key is unchanged and each of its files is on disk as that compile left it
(`LastCompile.known`, the same evidence a kept file needs, fresh.py), its entry in the
environment's index included. Its objects still count in the checks that compare
objects across folders (two objects with one name, node ports). If a file of a kept
unit is rendered after all, the reasoning above failed for it, and the environment is
rendered whole instead (output/writer.py `KeptRendered`).

A customer whose every unit in an environment is kept (one on VMs only has none) is
kept whole: it is not resolved at all, and what it gives the files customers share is
taken from its *share* (render/shares.py), recorded with the units under the same key.

Units and shares are recorded per environment beside the compile's record (fresh.py),
signed the same way, and tied to it by a generation: units recorded by a compile whose
record was not written (killed first) are never used.
"""

from __future__ import annotations

import hashlib
import json
import marshal
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler.catalog import Catalog, customer_of_id
from compiler.check import result_cache
from compiler.output import KeptEntry
from compiler.render import (
    Identity,
    OutputFile,
    Share,
    Unstorable,
    from_bytes,
    group_kind,
    identities,
    sync_waves,
    to_bytes,
)

_KIND = "compile-units"

Unit = tuple[str, str]  # (cluster, customer)
NAMESPACE_FOLDER = ""  # a unit's namespace folder, among its service folders (no key of its own)
Folder = tuple[str, str, str]  # (cluster, customer, service)
KeptFolder = tuple[frozenset[tuple[str, str]], tuple[str, ...]]  # its kinds, its sources


@dataclass(frozen=True)
class Keys:
    """What each unit, and each of its service folders, is made from (module docstring)."""

    customers: Mapping[str, str] = field(default_factory=dict)  # customer -> unit key
    folders: Mapping[tuple[str, str, str], str] = field(default_factory=dict)
    # (environment, customer, service) -> folder key
    instances: Mapping[tuple[str, str], str] = field(default_factory=dict)
    # (customer, service) -> what its instances are interpolated from (interpolated.py)


@dataclass
class Reuse:
    """What an environment's render leaves out: the units it skips whole, the service
    folders it skips in the units it renders (with the group/kinds of their objects and
    the sources of their kustomization, which the rest of the unit is made from), their
    files (path -> (content mark, index entry)) and their objects."""

    skip: set[Unit] = field(default_factory=set)
    folders: dict[Folder, KeptFolder] = field(default_factory=dict)
    kept: dict[str, tuple[str, KeptEntry, str]] = field(default_factory=dict)
    reserved: list[Identity] = field(default_factory=list)  # Kubernetes objects
    reserved_argo: list[Identity] = field(default_factory=list)  # ArgoCD objects
    units: dict[str, Any] = field(default_factory=dict)  # their records, to record again
    # the customers kept whole: every unit of theirs kept, their shares of the files
    # customers have in common as recorded (render/shares.py), not resolved at all
    shares: dict[str, Share] = field(default_factory=dict)
    share_records: dict[str, Any] = field(default_factory=dict)  # to record again


def keys_of(files: Mapping[str, str], catalog: Catalog, setting: str) -> Keys:
    """The keys of every unit and service folder of `catalog`, from each input file's
    sha256 (`files`) and the compiler's `setting`.

    A unit's key: the customer's file and every other input but other customers' files.
    A service folder's: the customer's file, every input that is neither a customer's nor
    a service's, the sync waves (from every service's `depends_on`), and the files of the
    services its objects are made from: its own; those it depends on and those of the
    customer's services that depend on it (the NetworkPolicies on both ends of a
    connection); and the customer's Job services (a sync hook is mounted in the folder of
    the service it runs for), or, for a Job service, every service of the customer.
    A customer's service's instances are interpolated from the customer's file, the
    service's and every input that is neither a customer's nor a service's: its layers
    and the facts it may refer to come from no other file (catalog/resolver.py)."""
    customer_files = {name: catalog.source("customer", name).file for name in catalog.customers}
    service_files = {name: catalog.source("service", name).file for name in catalog.services}
    owned = set(customer_files.values()) | set(service_files.values())
    common = _digest(setting, *(f"{p}\0{sha}" for p, sha in files.items() if p not in owned))
    service_of = {name: f"{path}\0{files.get(path, '')}" for name, path in service_files.items()}
    every_service = _digest(common, *(service_of[name] for name in sorted(service_of)))
    waves = json.dumps(sync_waves(catalog), sort_keys=True)
    customers: dict[str, str] = {}
    for name, relative in customer_files.items():
        if relative in files:  # else its changes would go unseen: never kept
            customers[name] = _digest(every_service, f"{relative}\0{files[relative]}")

    def instance_keys(name: str, _: Any) -> dict[Any, str]:
        """(customer, service) -> the key of its instances, in every environment."""
        own = f"{customer_files[name]}\0{files[customer_files[name]]}"
        return {
            (name, service): _digest(common, own, service_of[service])
            for service in sorted(
                {s for p in catalog.customers[name].environments.values() for s in p.services}
            )
            if service in catalog.services and service_files[service] in files
        }

    def folder_keys(name: str, env: Any) -> dict[Any, str]:
        """(env, customer, service) -> the key of the customer's service folder there."""
        placement = catalog.customers[name].environments.get(env)
        if placement is None:
            return {}
        own = f"{customer_files[name]}\0{files[customer_files[name]]}"
        placed = sorted(s for s in placement.services if s in catalog.services)
        jobs = {s for s in placed if catalog.services[s].workload == "Job"}
        folders: dict[Any, str] = {}
        group_keys: dict[tuple[str, ...], str] = {}  # the same group, the same key
        for service in placed:
            group = {
                service,
                *catalog.services[service].depends_on,
                *(t for t in placed if service in catalog.services[t].depends_on),
                *jobs,
                *(placed if service in jobs else ()),
            }
            members = tuple(sorted(group))
            key = group_keys.get(members)
            if key is None:
                made_of = (service_of.get(g, f"{g}\0missing") for g in members)
                key = group_keys[members] = _digest(common, own, waves, *made_of)
            folders[(env, name, service)] = key
        return folders

    known = frozenset(customers)
    return Keys(
        customers,
        _PerCustomer(
            known,
            folder_keys,
            customer_at=1,
            env_at=0,
            environments=lambda name: catalog.customers[name].environments,
        ),
        _PerCustomer(known, instance_keys, customer_at=0),
    )


class _PerCustomer(Mapping[Any, str]):
    """Keys worked out per customer (and environment, at `env_at`) on first use: a
    recompile after a one-customer change needs the folder and instance keys of the
    customers it renders only (21,000 digests at 1,000 customers, a fifth of a second
    before any worker starts), and each worker those of its own environment."""

    def __init__(
        self,
        customers: frozenset[str],
        compute: Callable[[str, Any], dict[Any, str]],
        customer_at: int,
        env_at: int | None = None,
        environments: Callable[[str], Iterable[str]] = lambda name: (),
    ):
        self._customers, self._compute = customers, compute
        self._customer_at, self._env_at = customer_at, env_at
        self._environments = environments  # a customer's, when keys are per environment
        self._done: dict[tuple[str, Any], dict[Any, str]] = {}

    def _of(self, name: Any, env: Any) -> dict[Any, str]:
        found = self._done.get((name, env))
        if found is None:
            known = name in self._customers
            found = self._done[(name, env)] = self._compute(name, env) if known else {}
        return found

    def __getitem__(self, key: Any) -> str:
        at = max(self._customer_at, self._env_at or 0)
        if not isinstance(key, tuple) or len(key) <= at:
            raise KeyError(key)
        env = key[self._env_at] if self._env_at is not None else None
        return self._of(key[self._customer_at], env)[key]

    def __iter__(self) -> Iterator[Any]:
        for found in self._every():
            yield from found

    def __len__(self) -> int:
        return sum(map(len, self._every()))

    def __bool__(self) -> bool:
        return bool(self._customers)

    def _every(self) -> Iterator[dict[Any, str]]:
        for name in sorted(self._customers):
            if self._env_at is None:
                yield self._of(name, None)
            else:  # every environment the customer is placed in
                yield from (self._of(name, env) for env in sorted(self._environments(name)))


def _digest(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode()
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


def unit_of(path: str, instances: Sequence[str]) -> Unit | None:
    """The unit whose file `path` is (the output of one customer's instances, in the
    customer's service folders or among the cluster's ArgoCD objects), else None."""
    parts = path.split("/")
    if len(parts) < 5 or not instances:
        return None
    customer = customer_of_id(instances[0])
    # a file of many customers' instances (the tfvars: every instance) stops at the second
    if customer is None or any(customer_of_id(i) != customer for i in instances):
        return None
    if parts[1] == "kubernetes" and parts[3] == customer:  # its namespace's folder too
        return parts[2], customer
    if parts[1] == "argocd" and (
        parts[3] == "apps" or (parts[3] == "customers" and parts[4] == customer)
    ):
        return parts[2], customer
    return None


def _folder_of(path: str) -> str | None:
    """The service folder a unit's file is in ("": its namespace's own folder, kept only
    with the whole unit; None: one of its ArgoCD files)."""
    parts = path.split("/")
    if parts[1] != "kubernetes":
        return None
    return parts[4] if len(parts) > 5 else NAMESPACE_FOLDER


def reuse(
    out: Path,
    env: str,
    generation: str | None,
    keys: Keys,
    known: Mapping[str, Sequence[str]],
) -> Reuse:
    """The units of `env` the last compile recorded that can be kept whole, and the
    service folders that can be kept in the others (module docstring); nothing if its
    record, or the environment's index on disk, cannot be vouched for."""
    record = _read(out, env) if generation else None
    index_mark = known.get(f"{env}/index.json")
    if not isinstance(record, dict) or record.get("generation") != generation or not index_mark:
        return Reuse()
    try:
        # the index the record's compile wrote (`known` has its mark only if it is on
        # disk as that compile left it, fresh.py): its entries stand where the record says
        text = (out / env / "index.json").read_bytes()  # spans count bytes: not decoded
        found = Reuse()
        for name, unit in record["units"].items():
            cluster, customer = name.split("/")
            folders = unit["folders"]
            apps = unit["apps"]
            if (
                unit["key"] == keys.customers.get(customer)
                and all(_vouched(path, known) for path in apps)
                and all(_vouched(p, known) for f in folders.values() for p in f["spans"])
            ):
                found.units[name] = unit
                for path, (start, end) in apps.items():
                    _keep(found, path, known, KeptEntry(text, start, end))
                    found.reserved_argo.extend(  # rendered again elsewhere: a clash (render)
                        (path, cluster, "argoproj.io", o["kind"], o["namespace"], o["name"], ())
                        for o in json.loads(text[start:end])["objects"]
                    )
                for folder in folders.values():
                    _keep_folder(found, folder, known, text)
                found.skip.add((cluster, customer))
                continue
            for service, folder in folders.items():
                key = folder["key"]
                if key is None or key != keys.folders.get((env, customer, service)):
                    continue
                if not all(_vouched(path, known) for path in folder["spans"]):
                    continue
                _keep_folder(found, folder, known, text)
                found.units.setdefault(name, {"folders": {}})["folders"][service] = folder
                found.folders[(cluster, customer, service)] = (
                    frozenset((group, kind) for group, kind in folder["kinds"]),
                    tuple(folder["sources"]),
                )
        for customer, entry in record.get("shares", {}).items():
            if entry["key"] == keys.customers.get(customer) and all(
                (cluster, customer) in found.skip for cluster in entry["clusters"]
            ):
                found.shares[customer] = from_bytes(entry["share"])
                found.share_records[customer] = entry
        return found
    except (OSError, ValueError, EOFError, KeyError, TypeError, AttributeError):
        return Reuse()  # a record this code did not write: nothing kept


def _vouched(path: str, known: Mapping[str, Sequence[str]]) -> bool:
    """Kept only if the record has its mark (on disk as left); its entry is in the
    index the record's compile wrote, which is the one on disk (its sha256)."""
    mark = known.get(path)
    return bool(mark and mark[0])


def _keep(found: Reuse, path: str, known: Mapping[str, Sequence[str]], entry: KeptEntry) -> None:
    found.kept[path] = (known[path][0], entry, known[path][1])


def _keep_folder(
    found: Reuse, folder: Any, known: Mapping[str, Sequence[str]], text: bytes
) -> None:
    for path, (start, end) in folder["spans"].items():
        _keep(found, path, known, KeptEntry(text, start, end))
    found.reserved.extend(folder["objects"])


def learn(
    env: str,
    keys: Keys,
    owners: Mapping[str, Sequence[str]],
    files: Iterable[OutputFile],
    kept: Reuse,
    spans: Mapping[str, tuple[int, int]],
) -> dict[str, Any]:
    """The units of a compiled environment, to record: what was rendered, from the files
    written (`owners`: path -> instances, after packing; `spans`: path -> where its
    entry stands in the index) and the objects rendered (`files`, before); what was
    kept, as recorded before. A unit's record holds every file it has with its entry's
    span, among its ArgoCD files (`apps`) or in its service folders, so that a later
    compile need not parse the index (a seventh of a second at 1,000 customers).
    Without spans (render_tree found they did not hold) nothing is recorded: every
    unit is rendered next time."""
    try:  # what was kept, with where its entries stand in this compile's index
        units: dict[str, Any] = {
            name: {
                **unit,
                **({"apps": {p: spans[p] for p in unit["apps"]}} if "apps" in unit else {}),
                "folders": {
                    service: {**folder, "spans": {p: spans[p] for p in folder["spans"]}}
                    for service, folder in unit["folders"].items()
                },
            }
            for name, unit in kept.units.items()
        }
    except KeyError:  # the index's spans did not hold (render_tree): keep nothing
        return {}
    skipped = {f"{cluster}/{customer}" for cluster, customer in kept.skip}
    kept_folders = {
        (name, service) for name, unit in kept.units.items() for service in unit["folders"]
    }
    for path, instances in owners.items():
        unit = unit_of(path, instances)
        if unit is None or unit[1] not in keys.customers:
            continue
        if path not in spans:  # the index's spans did not hold (render_tree): keep nothing
            return {}
        entry = units.setdefault(f"{unit[0]}/{unit[1]}", {"folders": {}})
        entry["key"] = keys.customers[unit[1]]
        entry.setdefault("apps", {})
        service = _folder_of(path)
        if service is None:
            entry["apps"][path] = spans[path]
        else:
            folder = entry["folders"].setdefault(service, _new_folder(keys, env, unit[1], service))
            folder["spans"][path] = spans[path]
    learning: dict[str, Any] = {}  # folder path -> the rendered folder's record, or None
    for file in files:
        directory, _, file_name = file.path.rpartition("/")
        if directory not in learning:  # a service folder's files are one instance's
            unit = unit_of(file.path, file.instances)
            service = _folder_of(file.path) if unit else None
            name = f"{unit[0]}/{unit[1]}" if unit else ""
            folder = units[name]["folders"].get(service) if service and name in units else None
            learning[directory] = (
                None
                if folder is None or name in skipped or (name, service) in kept_folders
                else folder
            )
        folder = learning[directory]
        if folder is None:
            continue
        if file_name == "kustomization.yaml":
            folder["sources"] = [_plain_value(source) for source in file.sources]
            continue
        folder["kinds"].append(tuple(map(_plain_value, group_kind(file.data))))
        folder["objects"] += map(_plain, identities([file]))
    for folder in filter(None, learning.values()):
        folder["kinds"] = sorted(map(list, set(folder["kinds"])))
        folder["objects"] = tuple(folder["objects"])
    return {name: unit for name, unit in units.items() if "key" in unit}


def _new_folder(keys: Keys, env: str, customer: str, service: str) -> dict[str, Any]:
    return {
        "key": keys.folders.get((env, customer, service)),
        "spans": {},  # path -> where its entry stands in the index
        "objects": [],
        "kinds": [],
        "sources": [],
    }


def _plain(identity: Identity) -> Identity:
    """`identity` as plain data (a name read from YAML may be a `str` subclass, which
    marshal does not write)."""
    *fields, ports = identity
    return (*(_plain_value(f) for f in fields), tuple(_plain_value(p) for p in ports))


def _plain_value(value: Any) -> Any:
    """A `str` or `int` subclass as its plain value; anything else as it is (marshal
    refuses what it cannot write exactly, and then nothing is kept)."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    return value


def shares_to_record(keys: Keys, kept: Reuse, made: Mapping[str, Share]) -> dict[str, Any]:
    """The share of each customer of an environment, to record: those kept as they were
    recorded, those rendered under their key now, with the clusters of their units
    (all of which must be kept to keep the customer whole). A customer without a key,
    or whose share holds what plain data cannot, is not recorded (never kept whole)."""
    found = dict(kept.share_records)
    for customer, share in made.items():
        key = keys.customers.get(customer)
        if key is None:
            continue
        try:
            data = to_bytes(share)
        except Unstorable:
            continue
        clusters = sorted({c for member in share.members for c in member.clusters})
        found[customer] = {"key": key, "clusters": clusters, "share": data}
    return dict(sorted(found.items()))


def record(
    out: Path,
    env: str,
    generation: str,
    units: Mapping[str, Any],
    shares: Mapping[str, Any] | None = None,
) -> None:
    """Keep `env`'s units (and customers' shares, `shares_to_record`) for the compile
    whose record will say `generation`: plain data in marshal's format (every identity
    exactly as it was, read back in a third of JSON's time), signed like every entry,
    never executed."""
    data = {"generation": generation, "units": units, "shares": shares or {}}
    try:
        payload = marshal.dumps(data, 4)
    except ValueError:  # a value marshal cannot write: nothing kept, all rendered next time
        payload = marshal.dumps(None, 4)
    result_cache.write_bytes(_KIND, _key(out, env), payload, "marshal")


def _read(out: Path, env: str) -> Any:
    payload = result_cache.read_bytes(_KIND, _key(out, env), "marshal")
    if payload is None:
        return None
    try:
        return marshal.loads(payload)
    except (ValueError, EOFError, TypeError):
        return None


def _key(out: Path, env: str) -> str:
    return hashlib.sha256(f"{out.resolve()}\0{env}".encode()).hexdigest()
