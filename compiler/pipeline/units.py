"""A recompile renders only the customers whose inputs changed: the rest of their files
are kept as the last compile into the folder left them.

A customer's own files on a cluster (its namespace's folder
`<env>/kubernetes/<cluster>/<customer>/`: the namespace's own objects and its service
folders; its Applications and AppProject under `<env>/argocd/<cluster>/`) are a *unit*.
What a unit holds is made from the customer's own catalog file and from inputs no
customer owns (services, plans, teams, environments; fresh.py `unit_keys`), never from
another customer's file: a layer reaches only its own customer's instances. What
customers share (environment-scoped services and their NetworkPolicies, tfvars,
inventory, the platform's project...) is made from every customer's share and from
inputs no customer owns, and is kept under a key of its own (`shared_keeper`) while
those are as they were; the index is written on every compile.

So after a compile, each unit's key is recorded with the files it is (after packing,
output/layout.py) and the digests of its objects' identities (render/reserved.py). A
unit is kept when its key is unchanged and each of its files is on disk as that
compile left it (`LastCompile.known`, the same evidence a kept file needs, fresh.py),
its entry in the environment's index included. Its objects still count in the checks
that compare objects across folders (two objects with one name, node ports, the
namespace's own objects included). If a file of a kept
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
import itertools
import json
import marshal
import sys
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler.catalog import Catalog, customer_of_id
from compiler.check import result_cache
from compiler.output import KeptEntry
from compiler.render import (
    OutputFile,
    Reserved,
    Share,
    SharedFiles,
    Unstorable,
    argo_digests,
    from_bytes,
    group_kind,
    identities,
    object_digests,
    share_digest,
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
    # what the files customers share are made of besides the shares (`shared_keeper`):
    # every input that is neither a customer's nor a service's, and each service's file
    common: str = ""
    services: Mapping[str, str] = field(default_factory=dict)  # service -> its file, sha256


UnitRecord = tuple[str, tuple[str, ...], bytes, bytes]
"""A unit as recorded: its key; every file it has (its ArgoCD files, then its folders');
the digests of its objects, Kubernetes and ArgoCD ones (render/reserved.py); and, in
marshal's format, its folders (service -> key, files, digests, group/kinds, sources of
its kustomization; the namespace's own folder under ""), read only for a unit that is
rendered, to keep the service folders whose key is unchanged. A unit kept whole is
recorded again as it was read, never unpacked: only where its files' entries stand in
the index changes from one compile to the next, and that is recorded once for the
whole environment (`record`)."""


@dataclass
class Reuse:
    """What an environment's render leaves out: the units it skips whole, the service
    folders it skips in the units it renders (with the group/kinds of their objects and
    the sources of their kustomization, which the rest of the unit is made from), their
    files (path -> (content mark, index entry)) and their objects' digests."""

    skip: set[Unit] = field(default_factory=set)
    folders: dict[Folder, KeptFolder] = field(default_factory=dict)
    kept: dict[str, tuple[str, KeptEntry, str]] = field(default_factory=dict)
    reserved: Reserved = field(default_factory=Reserved)  # render/reserved.py
    units: dict[str, UnitRecord] = field(default_factory=dict)  # kept whole, to record again
    # the service folders kept in units rendered: unit -> service -> its folder's record
    kept_folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    # the customers kept whole: every unit of theirs kept, their shares of the files
    # customers have in common as recorded (render/shares.py), not resolved at all
    shares: dict[str, Share] = field(default_factory=dict)
    share_records: dict[str, Any] = field(default_factory=dict)  # to record again
    # the files customers share as the last compile left them, if on disk as it did
    shared: KeptShared | None = None
    # what the shares of this compile's customers and the platform's make: each one's
    # digest (render/shares.py `share_digest`), and the shared files' key from them
    share_digests: dict[str | None, str] = field(default_factory=dict)
    shared_key: str | None = None


@dataclass(frozen=True)
class KeptShared:
    """The files customers share, as the last compile recorded them (`shared_to_record`)
    and found on disk as it left them: kept if this compile's shares make the same key."""

    record: Mapping[str, Any]  # its key, files and digests, to record again
    files: dict[str, tuple[str, KeptEntry, str]]  # path -> (mark, index entry, sha256)
    reserved: Reserved  # the digests of every object kept: the units' and these


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
        common,
        service_of,
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
        where = _spans(record["index"])
        found = Reuse()
        digests: list[bytes] = []
        for name, unit in record["units"].items():
            key, paths, unit_digests, folders = unit
            cluster, customer = name.split("/")
            if key == keys.customers.get(customer) and all(_vouched(p, known) for p in paths):
                found.units[name] = unit
                for path in paths:
                    _keep(found, path, known, KeptEntry(text, *where[path]))
                digests.append(unit_digests)
                found.skip.add((cluster, customer))
                continue
            for service, folder in marshal.loads(folders).items():
                key = folder["key"]
                if key is None or key != keys.folders.get((env, customer, service)):
                    continue
                if not all(_vouched(path, known) for path in folder["paths"]):
                    continue
                for path in folder["paths"]:
                    _keep(found, path, known, KeptEntry(text, *where[path]))
                digests.append(folder["digests"])
                found.kept_folders.setdefault(name, {})[service] = folder
                found.folders[(cluster, customer, service)] = (
                    frozenset((group, kind) for group, kind in folder["kinds"]),
                    tuple(folder["sources"]),
                )
        joined = b"".join(digests)
        found.reserved = Reserved(joined)
        found.shared = _kept_shared(record.get("shared"), known, text, where, joined)
        for customer, entry in record.get("shares", {}).items():
            if entry["key"] == keys.customers.get(customer) and all(
                (cluster, customer) in found.skip for cluster in entry["clusters"]
            ):
                found.shares[customer] = from_bytes(entry["share"])
                found.share_records[customer] = entry
        return found
    except (OSError, ValueError, EOFError, KeyError, TypeError, AttributeError):
        return Reuse()  # a record this code did not write: nothing kept


def _kept_shared(
    shared: Any,
    known: Mapping[str, Sequence[str]],
    text: bytes,
    where: Mapping[str, tuple[int, int]],
    joined: bytes,
) -> KeptShared | None:
    """The files customers share as the last compile recorded them (`shared_to_record`),
    if each is on disk as it left them, with the digests of every object kept (the
    units' `joined`, and theirs); None for a record of another form (nothing of the
    units is lost for it)."""
    if not isinstance(shared, dict):
        return None
    key, paths, digests = shared.get("key"), shared.get("paths"), shared.get("digests")
    if not isinstance(key, str) or not isinstance(paths, tuple) or type(digests) is not bytes:
        return None
    if not all(isinstance(path, str) and path in where and _vouched(path, known) for path in paths):
        return None
    try:
        reserved = Reserved(joined + digests)
    except ValueError:  # not whole digests
        return None
    files = {path: _kept(path, known, KeptEntry(text, *where[path])) for path in paths}
    return KeptShared(shared, files, reserved)


def _spans(index: Any) -> dict[str, tuple[int, int]]:
    """Where each file's entry stands in the index the record's compile wrote (path ->
    start, end), from the table `record` wrote."""
    paths, offsets = index
    numbers = array("q")
    numbers.frombytes(offsets)
    if sys.byteorder != "little":
        numbers.byteswap()
    if len(numbers) != 2 * len(paths):
        raise ValueError("index table")
    return dict(zip(paths, zip(numbers[::2], numbers[1::2], strict=True), strict=True))


def _vouched(path: str, known: Mapping[str, Sequence[str]]) -> bool:
    """Kept only if the record has its mark (on disk as left); its entry is in the
    index the record's compile wrote, which is the one on disk (its sha256)."""
    mark = known.get(path)
    return bool(mark and mark[0])


def _keep(found: Reuse, path: str, known: Mapping[str, Sequence[str]], entry: KeptEntry) -> None:
    found.kept[path] = _kept(path, known, entry)


def _kept(
    path: str, known: Mapping[str, Sequence[str]], entry: KeptEntry
) -> tuple[str, KeptEntry, str]:
    return (known[path][0], entry, known[path][1])


def learn(
    env: str,
    keys: Keys,
    owners: Mapping[str, Sequence[str]],
    files: Iterable[OutputFile],
    kept: Reuse,
    spans: Mapping[str, tuple[int, int]],
    index: bytes,
) -> dict[str, UnitRecord]:
    """The units of a compiled environment, to record (`UnitRecord`): those kept whole,
    as they were read; those rendered, from the files written (`owners`: path ->
    instances, after packing), the objects rendered (`files`, before), the service
    folders kept in them as they were read, and each ArgoCD file's objects as its entry
    in the environment's `index` lists them (`spans`: path -> where). Empty (every unit
    rendered next time) when a value is not plain data (marshal and the digests,
    render/reserved.py, take nothing else) or a rendered file is in a kept folder."""
    units: dict[str, dict[str, Any]] = {}  # unit -> its key, ArgoCD files, folders
    for path, instances in owners.items():
        unit = unit_of(path, instances)
        if unit is None or unit[1] not in keys.customers:
            continue
        name = f"{unit[0]}/{unit[1]}"
        if name in kept.units:
            return {}  # a file of a unit kept whole, rendered (a platform object it held alone)
        entry = units.get(name)
        if entry is None:
            entry = units[name] = {"key": keys.customers[unit[1]], "apps": [], "folders": {}}
        service = _folder_of(path)
        if service is None:
            entry["apps"].append(path)
        elif service in kept.kept_folders.get(name, {}):
            return {}  # rendered, yet kept: not as reasoned
        else:
            folder = entry["folders"].setdefault(service, _new_folder(keys, env, unit[1], service))
            folder["paths"].append(path)
    try:
        learning: dict[str, Any] = {}  # folder path -> the rendered folder's record, or None
        for file in files:
            directory, _, file_name = file.path.rpartition("/")
            if directory not in learning:  # a folder's files are one instance's (or none's)
                unit = unit_of(file.path, file.instances)
                service = _folder_of(file.path) if unit else None
                entry = units.get(f"{unit[0]}/{unit[1]}") if unit else None
                learning[directory] = (
                    entry["folders"].get(service) if entry and service is not None else None
                )
            folder = learning[directory]
            if folder is None:
                continue
            if file_name == "kustomization.yaml":
                folder["sources"] = [_plain_value(source) for source in file.sources]
                continue
            folder["kinds"].add(tuple(map(_plain_value, group_kind(file.data))))
            folder["digests"] += map(object_digests, identities([file]))
        recorded = dict(kept.units)
        for name, entry in units.items():
            cluster = name.split("/")[0]
            folders = {
                service: {
                    **folder,
                    "paths": tuple(folder["paths"]),
                    "digests": b"".join(folder["digests"]),
                    "kinds": sorted(map(list, folder["kinds"])),
                }
                for service, folder in sorted(entry["folders"].items())
            }
            folders.update(kept.kept_folders.get(name, {}))
            digests = [
                argo_digests(path, cluster, json.loads(index[slice(*spans[path])])["objects"])
                for path in entry["apps"]
            ]
            digests += (folder["digests"] for folder in folders.values())
            recorded[name] = (
                entry["key"],
                (*entry["apps"], *(path for f in folders.values() for path in f["paths"])),
                b"".join(digests),
                marshal.dumps(folders, 4),
            )
        return recorded
    except (Unstorable, ValueError, KeyError, TypeError, AttributeError):  # not plain: keep nothing
        return {}


def _new_folder(keys: Keys, env: str, customer: str, service: str) -> dict[str, Any]:
    return {
        "key": keys.folders.get((env, customer, service)),
        "paths": [],  # its files, after packing
        "digests": [],  # of its objects, each joined (render/reserved.py)
        "kinds": set(),
        "sources": [],
    }


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
        digest = kept.share_digests.get(customer)
        if key is None or digest is None:
            continue
        try:
            data = to_bytes(share)
        except Unstorable:
            continue
        clusters = sorted({c for member in share.members for c in member.clusters})
        found[customer] = {"key": key, "clusters": clusters, "share": data, "digest": digest}
    return dict(sorted(found.items()))


def shared_keeper(
    keys: Keys, env: str, catalog: Catalog, found: Reuse
) -> Callable[[Mapping[str | None, Share]], Reserved | None]:
    """`SharedFiles.keep` (render): given every share made (the customers' rendered and
    the platform's, under None), the key of the files customers share, noted in
    `found`; and the digests of all objects kept, theirs too, if the last compile left
    those files (vouched for) under that key.

    The key is made of every input that is neither a customer's nor a service's; the
    sync waves; every customer's share digest (render/shares.py `share_digest`: the
    kept customers' as recorded); and the files of the services whose instances the
    shared files are made from directly: the platform's, and any customer's instance
    that runs outside its customer's namespace (its folder is no customer's unit).
    Every other instance reaches them only through its customer's share. So a change
    to one customer's service that leaves every share as it was keeps them."""

    def keep(made: Mapping[str | None, Share]) -> Reserved | None:
        if not keys.common:  # no keys (no cache folder): nothing is recorded or kept
            return None
        digests: dict[str | None, str] = {}
        for customer, share in made.items():
            try:
                model = catalog.customers[customer] if customer is not None else None
                digests[customer] = share_digest(share, model)
            except (Unstorable, ValueError, KeyError, TypeError):  # not plain: rendered
                continue
        found.share_digests = digests
        every = dict(digests)
        for customer in found.shares:  # kept whole: as recorded
            recorded = found.share_records[customer].get("digest")
            if isinstance(recorded, str):
                every[customer] = recorded
        if len(every) == len(made) + len(found.shares):
            direct = {
                member.service
                for share in (*made.values(), *found.shares.values())
                for member in share.members
                if (owner := customer_of_id(member.id)) is None
                or (member.namespace is not None and member.namespace != owner)
            }
            found.shared_key = _digest(
                keys.common,
                env,
                json.dumps(sync_waves(catalog), sort_keys=True),
                *(keys.services.get(s, f"{s}\0missing") for s in sorted(direct)),
                *(f"{c or ''}\0{d}" for c, d in sorted(every.items(), key=_customer_first)),
            )
        shared = found.shared
        if shared is None or found.shared_key is None or shared.record["key"] != found.shared_key:
            return None
        return shared.reserved

    return keep


def _customer_first(item: tuple[str | None, str]) -> str:
    return item[0] or ""  # the platform's (None) first: no customer is named ""


def shared_to_record(
    env: str,
    kept: Reuse,
    shared: SharedFiles,
    owners: Mapping[str, Sequence[str]],
    files: Iterable[OutputFile],
    spans: Mapping[str, tuple[int, int]],
    index: bytes,
) -> dict[str, Any] | None:
    """The files customers share, to record (their key, their paths after packing, and
    the digests of their objects): as they were read if kept; else those rendered,
    if each file made where a shared file is made (`SharedFiles.made`) is one no
    customer's unit holds, and each file no unit holds was made there. Else None (the
    next compile renders them)."""
    if shared.kept:
        return kept.shared.record if kept.shared is not None else None
    if kept.shared_key is None:
        return None
    made = set(shared.made)
    digests: list[bytes] = []
    try:
        for file in files:
            if (unit_of(file.path, file.instances) is None) != (file.path in made):
                return None
            if file.path in made:
                digests += map(object_digests, identities([file]))
        paths = sorted(
            path
            for path, instances in owners.items()
            if unit_of(path, instances) is None and path != f"{env}/index.json"
        )
        for path in paths:
            parts = path.split("/")
            if parts[1] == "argocd":
                objects = json.loads(index[slice(*spans[path])])["objects"]
                digests.append(argo_digests(path, parts[2], objects))
    except (Unstorable, ValueError, KeyError, TypeError, AttributeError):
        return None
    return {"key": kept.shared_key, "paths": tuple(paths), "digests": b"".join(digests)}


def record(
    out: Path,
    env: str,
    generation: str,
    units: Mapping[str, UnitRecord],
    shares: Mapping[str, Any] | None = None,
    spans: Mapping[str, tuple[int, int]] | None = None,
    shared: Mapping[str, Any] | None = None,
) -> None:
    """Keep `env`'s units (and customers' shares, `shares_to_record`, and the files
    they share, `shared_to_record`) for the compile
    whose record will say `generation`, with where each file's entry stands in the
    index it wrote (`spans`, by path; a table of paths and of offsets as 8-byte
    integers, read back at once): plain data in marshal's format, signed like every
    entry, never executed."""
    offsets = array("q", itertools.chain.from_iterable((spans or {}).values()))
    if sys.byteorder != "little":
        offsets.byteswap()
    data = {
        "generation": generation,
        "units": units,
        "shares": shares or {},
        "shared": shared,
        "index": (tuple(spans or ()), offsets.tobytes()),
    }
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
