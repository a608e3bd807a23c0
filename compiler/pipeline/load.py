"""The front of every verb: catalog files -> validated Catalog -> resolved instances.

    load      catalog files  -> Documents (plain data + positions)   catalog/loader.py,
                                                                      parse_cache.py
    validate  Documents      -> Catalog (typed, cross-checked)       catalog/validate.py
    resolve   Catalog        -> Instances (merged, interpolated)     catalog/resolver.py

Also how many worker processes per-environment work uses (compile and check share it).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

from compiler.catalog import (
    Catalog,
    Connection,
    Instance,
    Interpolated,
    Kept,
    build_catalog,
    catalog_files,
    load_contract,
    resolve,
)
from compiler.errors import CatalogInvalid, Location, Problem, UsageError, did_you_mean
from compiler.pipeline.parse_cache import load_documents

_REQUIRED_FILES = ("catalog/plans.yaml", "catalog/teams.yaml")


@dataclass(frozen=True)
class Resolved:
    """The validated catalog and the instances of the environments asked for."""

    catalog: Catalog
    environments: tuple[str, ...]
    instances: Mapping[str, Instance]
    # each environment's connections, as resolve found them (render and check reuse them)
    connections: Mapping[str, Sequence[Connection]] = field(default_factory=dict)


def tune_gc() -> None:
    """A compile allocates millions of small, long-lived objects (documents, instances,
    rendered trees) and almost no cycles; CPython's default collector rescans them over
    and over (a third of resolve time at 30,000 instances). Collect rarely instead."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def load_catalog(root: Path, cache_as: str | None = None) -> Catalog:
    """Load and validate every catalog file under `root`; raise with all problems found.

    Files whose bytes did not change since the last run come from the parse cache
    (parse_cache.py), kept under the name `cache_as` (default: the folder's path)."""
    files, misplaced = catalog_files(root)
    problems = [
        Problem(
            Location(path),
            "file is not part of the catalog layout",
            "see docs/catalog.md for where each kind of file goes",
        )
        for path in misplaced
    ]
    present = {file.relative.rsplit(".", 1)[0] for file in files}
    problems += [
        Problem(Location(required), "required file is missing")
        for required in _REQUIRED_FILES
        if required.rsplit(".", 1)[0] not in present
    ]
    loaded, unreadable = [], []
    documents = load_documents(root, [file.relative for file in files], cache_as)
    for file, (document, found) in zip(files, documents, strict=True):
        problems += found
        if document is not None:
            loaded.append((file, document))
        else:
            unreadable.append(file)
    catalog, found = build_catalog(loaded, unreadable)
    problems += found
    contracts = {}
    for name in sorted(catalog.environments):
        contract, found = load_contract(root, name)
        problems += found
        if contract is not None:
            contracts[name] = contract
    if problems:
        raise CatalogInvalid(problems)
    return replace(catalog, terraform=MappingProxyType(contracts))


def select_environments(catalog: Catalog, requested: Sequence[str] | None) -> tuple[str, ...]:
    """The environments to work on: all of them, or the requested ones if they exist."""
    if not requested:
        return tuple(sorted(catalog.environments))
    for name in requested:
        if name not in catalog.environments:
            raise UsageError(
                f"unknown environment '{name}'", did_you_mean(name, catalog.environments)
            )
    return tuple(sorted(set(requested)))


def run(root: Path, environments: Sequence[str] | None = None) -> Resolved:
    """load -> validate -> resolve, for all environments or the ones named."""
    return resolve_catalog(load_catalog(root), environments)


def resolve_catalog(
    catalog: Catalog,
    environments: Sequence[str] | None = None,
    known: Mapping[str, Interpolated] | None = None,
    learned: dict[str, Interpolated] | None = None,
    kept: Mapping[str, Kept] | None = None,
) -> Resolved:
    """Resolve the environments asked for (all by default); raise with every problem.
    `known`, `learned`: what a recompile keeps of an earlier resolve (catalog/resolver.py
    `resolve`, pipeline/units.py `interpolated_kept`); `kept`: the customers it keeps
    whole, not resolved (render/shares.py)."""
    chosen = select_environments(catalog, environments)
    connected: dict[str, list[Connection]] = {}
    instances, problems = resolve(catalog, chosen, connected, known, learned, kept)
    if problems:
        raise CatalogInvalid(problems)
    return Resolved(catalog, chosen, instances, connected)


def workers(resolved: Resolved) -> int:
    """Forked worker processes for per-environment work on resolved instances."""
    return _pool_size(len(resolved.instances), len(resolved.environments))


def worker_pool(count: int) -> ProcessPoolExecutor:
    """`count` forked workers, each running without CPython's cyclic garbage collector.

    What a worker builds (instances, rendered objects, bytes, findings) is trees, freed
    by reference counting, so collections find nothing and only rescan what is live.
    Measured at 1,000 customers, 2 cores, peak memory the same both ways: render
    workers (an environment of 10,000 instances resolved, rendered and emitted) took
    12 % less CPU without them (825 MiB); check workers, checkov on and its results
    cached, 23 % less CPU and 19 % less wall time (25.8 s CPU, 15.7 s against 33.6 s,
    19.7 s; 964 MiB). A worker lives for one command, so any cycle it leaves goes when
    it exits."""
    return ProcessPoolExecutor(
        count, mp_context=multiprocessing.get_context("fork"), initializer=gc.disable
    )


def compile_workers(catalog: Catalog, environments: Sequence[str]) -> int:
    """Worker processes for a compile that resolves in them too (one environment each,
    `compile.compile_parts`), sized before anything is resolved."""
    return _pool_size(_instance_count(catalog, environments), len(environments))


def _pool_size(instances: int, environments: int) -> int:
    """One worker per environment, up to one more than the cores (three environments on
    two cores finish together rather than one after two), or 1 (no pool) for small
    catalogs or where fork is unavailable."""
    if instances < _PARALLEL_FROM:
        return 1
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return min(environments, _cores() + 1)


def spare_core() -> bool:
    """Whether a forked worker can run beside this process: fork is available and the
    process may use more than one core (pipeline/compile.py `ScansAhead`)."""
    return "fork" in multiprocessing.get_all_start_methods() and _cores() > 1


def _cores() -> int:
    """The cores this process may run on (a container's CPU set, not the machine's)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _instance_count(catalog: Catalog, environments: Sequence[str]) -> int:
    """How many instances resolving `environments` makes, without resolving them (the
    loop of `resolver.resolve` that picks them)."""
    count = 0
    for env in environments:
        for service in catalog.services.values():
            if service.environments is not None and env not in service.environments:
                continue
            if service.scope == "environment":
                count += 1
                continue
            count += sum(
                1
                for customer in catalog.customers.values()
                if env in customer.environments
                and service.name in customer.environments[env].services
            )
    return count


_PARALLEL_FROM = 2_000  # instances; below this, starting workers costs more than it saves
