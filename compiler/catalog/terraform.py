"""The Terraform contract of an environment: environments/<env>/terraform/variables.tf in,
the variables its root module declares (name, type constraint, required, line) out
(issue 15); terraform_types.py holds a tfvars value to them. Also the rule that keeps
every tfvars entry's `provider` set once any is (`provider_problems`).

gitopsc writes `catalog.auto.tfvars.json` for a root module it does not own. Without
reading the module's `variable` blocks, a changed type or a new required variable passes
`compile --check` and `check` and fails only at `terraform plan`, or not at all: Terraform
converts a number to a string, and silently drops object attributes a type does not
declare (a `provider` the module cannot see is a database created in the wrong cloud).
So the contract is stricter than Terraform's conversion rules: every value must already
be of its declared type, every attribute gitopsc writes must be declared, every
attribute the type requires must be written. The file and the catalog are reviewed
together, so a change on one side must be made on the other in the same merge request.

Parsing: bc-python-hcl2 (the HCL2 grammar checkov pins and ships; module `hcl2`) parses
the file with Lark. Its dict form renders type expressions back into text
(`${map(object({'a': '${string}'}))}`) that would need a second parser, so this module
reads Lark's tree instead, which keeps the line of every variable and of every
attribute inside a type. Type constraints follow Terraform's documentation (Type
Constraints): string, number, bool, any, list(T), set(T), map(T), tuple([T, ...]),
object({name = T, name = optional(T[, default])}); `type` missing means any.

Hostile files: over `MAX_FILE_BYTES` they are refused unread; types nested deeper than
`MAX_TYPE_DEPTH` are an error (the walk below recurses once per level); a syntax error
is a located problem, never a traceback.

The parser is reached through `hcl2.parser.hcl2.lark_parser`, and the tree's rule names
(`block`, `attribute`, `function_call`, `object_elem`) are bc-python-hcl2's grammar
(hcl2.lark): pyproject.toml pins the 0.4 series, which checkov pins exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from compiler.catalog.terraform_types import TfType
from compiler.errors import Location, Problem

MAX_FILE_BYTES = 256 * 1024  # a root module's variables.tf is a few KiB
MAX_TYPE_DEPTH = 32


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    type: TfType
    required: bool  # no `default`: the tfvars (or the operator) must set it
    nullable: bool  # `nullable = false` refuses null as the whole value
    line: int


@dataclass(frozen=True)
class Contract:
    """The variables of one environment's root module, from `file` (repo-relative)."""

    file: str
    variables: Mapping[str, Variable] = field(default_factory=lambda: MappingProxyType({}))

    def at(self, line: int) -> Location:
        return Location(self.file, line)


def contract_path(environment: str) -> str:
    return f"environments/{environment}/terraform/variables.tf"


def load_contract(root: Path, environment: str) -> tuple[Contract | None, list[Problem]]:
    """The environment's contract, or None when it has no variables.tf (then there is no
    contract to check: gitopsc does not know what the root module reads)."""
    relative = contract_path(environment)
    path = root / relative
    if not path.exists() and not path.is_symlink():
        return None, []
    if not path.is_file():  # a folder or a dangling link: not "no contract"
        return None, [Problem(Location(relative), "is not a file: the contract cannot be read")]
    if not path.resolve().is_relative_to(root.resolve()):
        # as for catalog files (layout.py): the repository alone says what is compiled
        return None, [
            Problem(Location(relative), "file is a link that leads out of the repository")
        ]
    if path.stat().st_size > MAX_FILE_BYTES:
        return None, [
            Problem(Location(relative), f"file is larger than {MAX_FILE_BYTES} bytes; not read")
        ]
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        return None, [Problem(Location(relative), f"file is not UTF-8 text: {error.reason}")]
    return parse_contract(relative, text)


def parse_contract(relative: str, text: str) -> tuple[Contract | None, list[Problem]]:
    """The contract `text` declares (terraform_hcl.py, imported only here: Lark and the
    HCL grammar cost every command 40 ms at start, and only a catalog with a root
    module reads them)."""
    from compiler.catalog.terraform_hcl import parse_variables

    return parse_variables(relative, text)


def provider_problems(catalog: Any) -> list[Problem]:
    """A provider named for a cluster, database engine, `dns` or `buckets` needs the
    environment's own `provider` as well: with none, the things no override reaches
    would carry `provider: null`, which a root module dispatching on `v.provider ==
    "aws"` skips without a word (a database never created). An environment that names
    no provider anywhere writes null throughout: a single-provider module ignores it."""
    problems = []
    for name, env in sorted(catalog.environments.items()):
        if env.provider is not None:
            continue
        source = catalog.source("environment", name)
        overrides: list[tuple[tuple[str | int, ...], str]] = [
            (("clusters", index, "provider"), f"cluster '{cluster.name}'")
            for index, cluster in enumerate(env.clusters)
            if cluster.provider is not None
        ]
        overrides += [
            (("databases", engine, "provider"), f"database engine '{engine}'")
            for engine, database in sorted(env.databases.items())
            if database.provider is not None
        ]
        overrides += [
            ((what, "provider"), what)
            for what in ("dns", "buckets")
            if getattr(env, what) is not None
        ]
        problems += [
            Problem(
                source.locate(*path),
                f"{what} names a provider, but environment '{name}' has no `provider`",
                "set the environment's `provider:` (the default for everything else), so no "
                "tfvars entry is left with provider null",
            )
            for path, what in overrides
        ]
    return problems
