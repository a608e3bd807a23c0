"""Customers' instances as interpolation left them, kept between runs: a recompile (or a
validate, or a check) after a one-customer change interpolates that customer's
instances and only validates the others again (catalog/resolver.py `resolve`'s `known`).

Interpolating and checking an instance is three quarters of resolving it: about 1 s of
CPU per 10,000 instances, paid by every command on every run, whatever changed. What
interpolation makes of a customer's instance (its values, the template behind each
interpolated value, each per-domain copy) is a function of the instance's inputs: its
customer's file, every input no customer owns, and the compiler's code and libraries.
Its key (pipeline/units.py `keys_of`, `Keys.instances`) is a digest of those: each
instance is kept under it, and taken back only while it is the same. A change to one
service's file interpolates that service's instances again, not the others'.

One entry per catalog folder, environment and repository path (the keys cover that
setting too), in the cache folder (`results/interpolated/`): Python's `marshal` format,
plain data only, which keeps every type exactly and stores a value several instances
share (a service's defaults) once: 5 MB for 10,000 instances, written in 0.06 s. It is
signed with the user's cache key and checked before it is read (result_cache.py), like
every entry; one that is damaged, someone else's or of another shape is not used.
Without a cache folder (CI) nothing is kept.
"""

from __future__ import annotations

import hashlib
import marshal
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from compiler.catalog import Catalog, Interpolated, Kept
from compiler.check import result_cache
from compiler.pipeline.fresh import inputs_of, stable_keys
from compiler.pipeline.load import Resolved, load_catalog, resolve_catalog, select_environments
from compiler.pipeline.units import Keys

REPO_PATH = "rendered"  # the keys' setting for commands that write no output (validate, check)

_KIND = "interpolated"


def kept(
    root: Path, env: str, repo_path: str, keys: Keys, whole: frozenset[str] = frozenset()
) -> tuple[dict[str, Interpolated], dict[str, Any]]:
    """The instances of `env` kept for `root` whose key is the one in `keys` now
    (nothing when the entry cannot be vouched for), and the entries, as they are, of
    the customers not resolved at all (`whole`: pipeline/units.py), to write again."""
    if not keys.instances:
        return {}, {}
    payload = result_cache.read_bytes(_KIND, _key(root, env, repo_path), "marshal")
    if payload is None:
        return {}, {}
    try:
        entries = marshal.loads(payload)
    except (ValueError, EOFError, TypeError):
        return {}, {}
    if not isinstance(entries, dict):
        return {}, {}
    found: dict[str, Interpolated] = {}
    carried: dict[str, Any] = {}
    for instance_id, entry in entries.items():
        customer_service = _customer_service(instance_id)
        if customer_service is not None and customer_service[0] in whole:
            carried[instance_id] = entry
            continue
        key = keys.instances.get(customer_service)
        if (
            key is not None
            and isinstance(entry, tuple)
            and len(entry) == 4
            and entry[0] == key
            and isinstance(entry[1], dict)
            and isinstance(entry[2], tuple)
            and isinstance(entry[3], dict)
        ):
            found[instance_id] = (entry[1], entry[2], entry[3])
    return found, carried


def record(
    root: Path,
    env: str,
    repo_path: str,
    keys: Keys,
    learned: Mapping[str, Interpolated],
    carried: Mapping[str, Any] = MappingProxyType({}),
) -> None:
    """Keep `env`'s customers' instances as interpolated, each under its key, with the
    entries `carried` over as they were."""
    if not keys.instances or not result_cache.active():
        return
    entries = dict(carried)
    entries.update(
        (instance_id, (key, *interpolated))
        for instance_id, interpolated in learned.items()
        if (key := keys.instances.get(_customer_service(instance_id))) is not None
    )
    try:
        payload = marshal.dumps(dict(sorted(entries.items())), 4)
    except ValueError:  # a value marshal cannot write: nothing kept
        return
    result_cache.write_bytes(_KIND, _key(root, env, repo_path), payload, "marshal")


def resolve_keeping(
    root: Path | None,
    catalog: Catalog,
    environments: Sequence[str] | None,
    keys: Keys,
    repo_path: str = REPO_PATH,
    whole: Mapping[str, Kept] | None = None,
) -> Resolved:
    """`resolve_catalog`, taking the instances kept for `root` and keeping them anew
    (None: nothing kept). `whole`: the customers of each environment not resolved at
    all (catalog/resolver.py `resolve`), whose entries are carried over as they were.

    An environment's entry is written again only when at least one instance in a
    hundred (or one, in a small catalog) was interpolated anew or dropped: writing it
    (5 MB for 10,000 instances) costs more than interpolating again, on the next
    resolve, the few instances of a one-customer change (about a millisecond each)."""
    if root is None:
        return resolve_catalog(catalog, environments, kept=whole)
    chosen = select_environments(catalog, environments)
    known: dict[str, Interpolated] = {}
    carried: dict[str, dict[str, Any]] = {}
    for env in chosen:
        skipped = whole[env].customers if whole and env in whole else frozenset()
        found, carried[env] = kept(root, env, repo_path, keys, skipped)
        known.update(found)
    learned: dict[str, Interpolated] = {}
    resolved = resolve_catalog(catalog, chosen, known, learned, whole)
    for env in chosen:
        prefix = f"{env}/"
        own = {i: v for i, v in learned.items() if i.startswith(prefix)}
        before = {i: v for i, v in known.items() if i.startswith(prefix)}
        if _changed(own, before) >= max(1, (len(own) + len(carried[env])) // 100):
            record(root, env, repo_path, keys, own, carried[env])
    return resolved


def _changed(learned: Mapping[str, Interpolated], known: Mapping[str, Interpolated]) -> int:
    """How many instances of `learned` were not taken from `known` (interpolated anew),
    and of `known` not taken (dropped)."""
    anew = sum(1 for i, v in learned.items() if known.get(i) is not v)
    return anew + len(known) - (len(learned) - anew)


def run(root: Path, environments: Sequence[str] | None = None) -> Resolved:
    """load -> validate -> resolve, for all environments or the ones named, taking the
    customers' instances kept for `root` whose inputs did not change."""
    before = inputs_of(root, REPO_PATH) if result_cache.active() else None
    catalog = load_catalog(root)
    keys = stable_keys(root, catalog, REPO_PATH, before)
    return resolve_keeping(root, catalog, environments, keys)


def _customer_service(instance_id: object) -> tuple[str, str] | None:
    """`env/customer/service` -> (customer, service); None for any other id."""
    parts = instance_id.split("/") if isinstance(instance_id, str) else ()
    return (parts[1], parts[2]) if len(parts) == 3 else None


def _key(root: Path, env: str, repo_path: str) -> str:
    return hashlib.sha256(f"{root.resolve()}\0{env}\0{repo_path}".encode()).hexdigest()
