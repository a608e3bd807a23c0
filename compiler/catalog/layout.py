"""The repository layout, and the validated catalog that every later stage reads.

Layout (fixed; see docs/catalog.md):

    catalog/services/<name>.yaml        one Service per file
    catalog/customers/<name>.yaml       one Customer per file
    catalog/plans.yaml                  `plans:` list
    catalog/teams.yaml                  `teams:` list
    environments/<name>/environment.yaml  one Environment per folder

`Catalog` is immutable and keyed by name; `Source` remembers where each entity was
written so that any later stage can point a reader at a file and line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Literal

from compiler.catalog.loader import Document, YamlPath
from compiler.catalog.models import Customer, Environment, Plan, Service, Team
from compiler.catalog.terraform import Contract
from compiler.errors import Location, UsageError

EntityKind = Literal["service", "customer", "environment", "plan", "team"]
_YAML_SUFFIXES = (".yaml", ".yml")


def _is_yaml(path: Path) -> bool:
    return path.suffix.lower() in _YAML_SUFFIXES


@dataclass(frozen=True, slots=True)
class Source:
    """Where one entity was written: its document and the path of the entity inside it."""

    document: Document
    prefix: YamlPath = ()

    def locate(self, *path: str | int) -> Location:
        return self.document.locate(self.prefix + tuple(path))

    @property
    def file(self) -> str:
        return self.document.file


@dataclass(frozen=True)
class Catalog:
    """Every validated entity by kind and name, and where each one was written."""

    services: MappingProxyType[str, Service]
    customers: MappingProxyType[str, Customer]
    environments: MappingProxyType[str, Environment]
    plans: MappingProxyType[str, Plan]
    teams: MappingProxyType[str, Team]
    sources: MappingProxyType[tuple[EntityKind, str], Source]
    # each environment's Terraform contract (terraform/variables.tf), where it has one
    terraform: MappingProxyType[str, Contract] = field(default_factory=lambda: MappingProxyType({}))

    def source(self, kind: EntityKind, name: str) -> Source:
        return self.sources[(kind, name)]


@dataclass(frozen=True, slots=True)
class CatalogFile:
    """A file the layout says to read, and which kind of entity it holds."""

    relative: str
    kind: Literal["service", "customer", "environment", "plans", "teams"]

    @property
    def name(self) -> str:
        """The entity name the layout implies: the file name, or the environment's folder."""
        path = PurePosixPath(self.relative)
        return path.parent.name if self.kind == "environment" else path.stem


def find_root(start: Path) -> Path:
    """The repository around `start`: the nearest folder that has catalog/ and environments/."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / "catalog").is_dir() and (folder / "environments").is_dir():
            return folder
    raise UsageError(
        f"no gitopsc repository at or above {start}",
        "run inside a repository that has catalog/ and environments/, or pass --root DIR",
    )


def catalog_files(root: Path) -> tuple[list[CatalogFile], list[str]]:
    """The files to load, sorted, and the YAML files found where none belongs.

    Files behind symbolic links that leave the repository are listed as misplaced: the
    catalog must be readable from the repository alone.
    """
    found: list[CatalogFile] = []
    for kind, folder in (("service", "catalog/services"), ("customer", "catalog/customers")):
        for path in sorted((root / folder).glob("*")):
            if path.suffix in _YAML_SUFFIXES:
                found.append(CatalogFile(_relative(root, path), kind))
    for kind, name in (("plans", "catalog/plans"), ("teams", "catalog/teams")):
        for suffix in _YAML_SUFFIXES:
            if (root / (name + suffix)).exists():
                found.append(CatalogFile(name + suffix, kind))
    for folder in sorted((root / "environments").glob("*")):
        for suffix in _YAML_SUFFIXES:
            if (folder / ("environment" + suffix)).is_file():
                found.append(
                    CatalogFile(_relative(root, folder / ("environment" + suffix)), "environment")
                )
    expected = {file.relative for file in found}
    stray = [p for p in (root / "catalog").rglob("*") if _relative(root, p) not in expected]
    stray += [p for p in (root / "environments").glob("*") if not p.is_dir()]
    stray += [p for p in (root / "environments").glob("*/*") if _relative(root, p) not in expected]
    misplaced = [_relative(root, p) for p in stray if _is_yaml(p)]
    try:
        real_root = root.resolve()
    except (OSError, RuntimeError):  # a loop: the loader reports it
        real_root = root
    linked: dict[str, bool] = {}
    misplaced += [
        file.relative for file in found if _escapes(real_root, root, file.relative, linked)
    ]
    inside = [file for file in found if file.relative not in misplaced]
    return inside, sorted(misplaced)


def _relative(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _escapes(real_root: Path, root: Path, relative: str, linked: dict[str, bool]) -> bool:
    """True for a link that leads out of the repository, `real_root` resolved (loops
    are the loader's to report). A path below `root` leaves it only through a link on
    its way, the file or a folder above it: without one it is not resolved (six system
    calls a file, a tenth of a second per load at 1,000 customers). `linked`: what was
    found of each folder, shared between calls."""
    parts = relative.split("/")
    through_link = False
    for depth in range(1, len(parts) + 1):
        step = "/".join(parts[:depth])
        if step not in linked:
            linked[step] = os.path.islink(root / step)
        if linked[step]:
            through_link = True
            break
    if not through_link:
        return False
    try:
        return not (root / relative).resolve().is_relative_to(real_root)
    except (OSError, RuntimeError):
        return False
