"""The `policies/` folder: declarative policies, enforcement config, waivers.

    policies/<id>.yaml        one declarative policy (id = file name)
    policies/config.yaml      what fails, warns or is ignored per tier; per-check overrides
    policies/waivers.yaml     accepted exceptions, each with an owner and an expiry date
    policies/checkov/         checkov custom checks (Python and YAML), see check/checkov_checks.py
    policies/crds/            the repository's CRDs, schemas for the schema check (custom_crds.py)

These files are input like the catalog: loaded with positions, validated by strict
models, and every mistake is a located problem (exit 2), including a rule that is not
a valid JSON Schema and a waiver for a check that does not exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import jsonschema
from pydantic import Field, field_validator, model_validator

from compiler.catalog import (
    Document,
    IsoDate,
    Name,
    NullDict,
    NullList,
    Strict,
    load_document,
    model_errors,
)
from compiler.check.custom_crds import ApiKind, load_crds
from compiler.check.findings import SEVERITIES, Finding, Severity
from compiler.errors import Location, Problem, did_you_mean

FOLDER = "policies"
CONFIG = "config"
WAIVERS = "waivers"
CHECKOV_FOLDER = "checkov"
CRDS_FOLDER = "crds"
Tier = Literal["dev", "staging", "prod"]
Entity = Literal["instance", "customer", "environment", "object"]
PolicyId = Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
FINGERPRINT = r"^[0-9a-f]{64}$"  # a finding's sha256 (findings.py)


class Match(Strict):
    """Which subjects a policy applies to; every given condition must hold."""

    entity: Entity
    kinds: Annotated[list[str], Field(min_length=1)] | None = None
    api_versions: Annotated[list[str], Field(min_length=1)] | None = None
    tiers: Annotated[list[Tier], Field(min_length=1)] | None = None
    labels: Annotated[dict[str, str], NullDict] = {}

    @model_validator(mode="after")
    def _object_only(self) -> Match:
        if self.entity != "object" and (self.kinds or self.api_versions):
            raise ValueError("kinds and api_versions only apply to entity: object")
        if self.entity in ("customer", "environment") and self.labels:
            raise ValueError("labels only apply to entity: instance or object")
        return self


class Policy(Strict):
    id: PolicyId
    title: Annotated[str, Field(min_length=1)]
    severity: Severity
    description: Annotated[str, Field(min_length=1)]
    remediation: Annotated[str, Field(min_length=1)]
    match: Match
    rule: dict[str, Any]
    # other checks (checkov's, usually) that find the same mistake on the same object:
    # both firing on one subject is one finding, this policy's (check/equivalence.py)
    equivalents: Annotated[list[Annotated[str, Field(min_length=1)]], NullList] = []


class TierRule(Strict):
    """Severities at or above `fail` fail the check; at or above `warn`, warn; below, ignored."""

    fail: Severity
    warn: Severity = "info"

    @model_validator(mode="after")
    def _ordered(self) -> TierRule:
        if SEVERITIES.index(self.warn) > SEVERITIES.index(self.fail):
            raise ValueError(f"warn ({self.warn}) must not be above fail ({self.fail})")
        return self


class Override(Strict):
    enabled: bool = True
    severity: Severity | None = None


class CheckovConfig(Strict):
    """checkov's Kubernetes checks on the rendered output; `severity` is what its
    findings get (checkov has none offline) unless re-graded per id under `checks:`."""

    enabled: bool = True
    severity: Severity = "medium"


_STRICTEST = TierRule(fail="low", warn="info")


class Config(Strict):
    """`catalog` applies to findings tied to no environment (a customer's domains, say)."""

    enforcement: dict[Literal["dev", "staging", "prod", "catalog"], TierRule] = {
        "dev": TierRule(fail="critical", warn="medium"),
        "staging": TierRule(fail="high", warn="low"),
        "prod": TierRule(fail="medium", warn="info"),
        "catalog": TierRule(fail="medium", warn="info"),
    }
    checks: Annotated[dict[str, Override], NullDict] = {}
    checkov: CheckovConfig = CheckovConfig()

    def rule_for(self, tier: str | None) -> TierRule:
        return self.enforcement.get(tier or "catalog", _STRICTEST)


class Waiver(Strict):
    """An accepted exception. `environment`, `customer` and `service` narrow it to a
    subject; `file` to the catalog file a finding is located in, and `fingerprint` to
    exactly one finding (as `gitopsc check -f json` prints it), so that a false positive
    in a service file is waived without hiding a real secret in a customer's file."""

    policy: Annotated[str, Field(min_length=1)]
    environment: Name | None = None
    customer: Name | None = None
    service: Name | None = None
    file: Annotated[str, Field(min_length=1, pattern=r"^[^/\\]")] | None = None
    fingerprint: Annotated[str, Field(pattern=FINGERPRINT)] | None = None
    reason: Annotated[str, Field(min_length=10)]
    owner: Name
    expires: IsoDate

    @field_validator("file", mode="before")
    @classmethod
    def _repository_path(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        steps = value.split("/")
        if value.startswith("/") or "\\" in value or any(s in ("", ".", "..") for s in steps):
            raise ValueError(
                f"file '{value}' is not a repository path: write it relative to the "
                "repository root, with / and no . or .. steps (catalog/services/synapse.yaml)"
            )
        return value

    @field_validator("fingerprint", mode="before")
    @classmethod
    def _fingerprint(cls, value: Any) -> Any:
        if isinstance(value, str) and not re.fullmatch(FINGERPRINT, value):
            raise ValueError(
                f"fingerprint '{value}' is not a finding's fingerprint: 64 lower-case hex "
                "digits, as `gitopsc check -f json` prints it"
            )
        return value


class WaiverList(Strict):
    waivers: Annotated[list[Waiver], NullList] = []


@dataclass(frozen=True)
class PlacedWaiver:
    """A waiver and where it was written (for its errors and its findings)."""

    waiver: Waiver
    document: Document
    index: int

    def locate(self, key: str | None = None) -> Location:
        return self.document.locate(("waivers", self.index, *([key] if key else [])))

    @property
    def scope(self) -> str:
        """`env/customer/service`, the parts the waiver names ("" for everywhere)."""
        waiver = self.waiver
        return "/".join(p for p in (waiver.environment, waiver.customer, waiver.service) if p)

    @property
    def label(self) -> str:
        waiver = self.waiver
        return (
            f"waiver for {waiver.policy}{' on ' + self.scope if self.scope else ''}"
            f"{' in ' + waiver.file if waiver.file else ''}"
            f"{' for finding ' + waiver.fingerprint[:12] if waiver.fingerprint else ''}"
        )

    @property
    def key(self) -> str:
        waiver = self.waiver
        narrower = "".join(f":{p}" for p in (waiver.file, waiver.fingerprint) if p)
        return f"{waiver.policy}:{self.scope}{narrower}"

    def fits(self, item: Finding) -> bool:
        """The waiver's `file` and `fingerprint`, where it names them, are the finding's:
        its catalog file (a finding located only in rendered output has none), its
        fingerprint."""
        waiver = self.waiver
        file = item.location.file if item.location is not None else None
        return (waiver.file is None or waiver.file == file) and (
            waiver.fingerprint is None or waiver.fingerprint == item.fingerprint
        )


@dataclass(frozen=True)
class PolicySet:
    """Everything in `policies/`, validated, with where each part was written."""

    policies: dict[str, Policy] = field(default_factory=dict)
    locations: dict[str, Location] = field(default_factory=dict)
    config: Config = field(default_factory=Config)
    config_document: Document | None = None
    waivers: tuple[PlacedWaiver, ...] = ()
    checkov_dir: Path | None = None
    # checkov check id -> (title, the severity it states), when checkov is enabled
    checkov_checks: dict[str, tuple[str, Severity | None]] = field(default_factory=dict)
    # (apiVersion, kind) -> strict JSON Schema, from the CRDs in policies/crds/
    crds: dict[ApiKind, dict[str, Any]] = field(default_factory=dict)
    documents: dict[str, Document] = field(default_factory=dict)  # policy id -> its file

    @property
    def equivalents(self) -> dict[str, list[str]]:
        """policy id -> the checks it declares equivalent (check/equivalence.py)."""
        return {key: p.equivalents for key, p in self.policies.items() if p.equivalents}


def load_policies(root: Path) -> tuple[PolicySet, list[Problem]]:
    """Load and validate `root/policies`; an absent folder means no policies, defaults."""
    folder = root / FOLDER
    if not folder.is_dir():
        return PolicySet(), []
    problems: list[Problem] = []
    policies: dict[str, Policy] = {}
    locations: dict[str, Location] = {}
    documents: dict[str, Document] = {}
    config, config_document = Config(), None
    waivers: list[PlacedWaiver] = []
    for path in sorted(folder.iterdir()):
        relative = f"{FOLDER}/{path.name}"
        if path.is_dir():
            if path.name not in (CHECKOV_FOLDER, CRDS_FOLDER):
                problems.append(Problem(Location(relative), "unexpected folder in policies/"))
            continue
        if path.suffix not in (".yaml", ".yml"):
            continue
        document, found = load_document(root, relative)
        problems += found
        if document is None:
            continue
        if path.stem == CONFIG:
            loaded, found = model_errors.validate(Config, document.data, document)
            problems += found
            if loaded is not None:
                config, config_document = loaded, document
        elif path.stem == WAIVERS:
            loaded, found = model_errors.validate(WaiverList, document.data, document)
            problems += found
            if loaded is not None:
                placed = [
                    PlacedWaiver(waiver, document, index)
                    for index, waiver in enumerate(loaded.waivers)
                ]
                problems += _waiver_files(root, placed)
                waivers += placed
        else:
            policy, found = _policy(path.stem, document)
            problems += found
            if policy is not None:
                policies[policy.id] = policy
                locations[policy.id] = document.locate(())
                documents[policy.id] = document
    checkov_dir = folder / CHECKOV_FOLDER
    crds: dict[ApiKind, dict[str, Any]] = {}
    if (folder / CRDS_FOLDER).is_dir():
        crds, found = load_crds(root, f"{FOLDER}/{CRDS_FOLDER}")
        problems += found
    return (
        PolicySet(
            policies,
            locations,
            config,
            config_document,
            tuple(waivers),
            checkov_dir if checkov_dir.is_dir() else None,
            crds=crds,
            documents=documents,
        ),
        problems,
    )


def _waiver_files(root: Path, waivers: list[PlacedWaiver]) -> list[Problem]:
    """A waiver's `file` must be a file of the repository: a typo would otherwise waive
    nothing, silently until waiver-unused, and a path outside could never be a finding's."""
    problems = []
    for placed in waivers:
        file = placed.waiver.file
        if file is None:
            continue
        path = root / file
        inside = path.resolve().is_relative_to(root.resolve())
        if not (inside and path.is_file()):
            known = sorted(
                p.relative_to(root).as_posix()
                for part in ("catalog", "environments")
                if (root / part).is_dir()
                for p in (root / part).rglob("*.y*ml")
            )
            problems.append(
                Problem(
                    placed.locate("file"),
                    f"waiver file '{file}' is not a file of the repository",
                    did_you_mean(file, known)
                    or "name the catalog file the finding is located in (`gitopsc check`)",
                )
            )
    return problems


def _policy(name: str, document: Document) -> tuple[Policy | None, list[Problem]]:
    policy, problems = model_errors.validate(Policy, document.data, document)
    if policy is None:
        return None, problems
    if policy.id != name:
        return None, [
            Problem(
                document.locate(("id",)),
                f"policy id '{policy.id}' does not match its file name '{name}'",
                f"rename the file to {policy.id}.yaml or set id: {name}",
            )
        ]
    try:
        jsonschema.Draft202012Validator.check_schema(policy.rule)
    except jsonschema.SchemaError as error:
        where = ("rule", *error.path)
        return None, [
            Problem(
                document.locate(where),
                f"rule is not a valid JSON Schema: {error.message}",
                "see docs/policies.md; rules use JSON Schema draft 2020-12",
            )
        ]
    return policy, []


def check_references(
    policy_set: PolicySet, known_checks: set[str], teams: set[str]
) -> list[Problem]:
    """Overrides and waivers must name checks that exist, and owners that are teams."""
    problems = []
    document = policy_set.config_document
    if document is not None:
        for check in policy_set.config.checks:
            if check not in known_checks:
                problems.append(
                    Problem(
                        document.locate(("checks", check)),
                        f"unknown check '{check}'",
                        did_you_mean(check, known_checks) or "run `gitopsc check --list`",
                    )
                )
    for policy_id, policy in sorted(policy_set.policies.items()):
        for index, check in enumerate(policy.equivalents):
            if check not in known_checks or check == policy_id:
                problems.append(
                    Problem(
                        policy_set.documents[policy_id].locate(("equivalents", index)),
                        f"policy '{policy_id}' declares an unknown check '{check}' equivalent"
                        if check != policy_id
                        else f"policy '{policy_id}' declares itself equivalent",
                        did_you_mean(check, known_checks) or "run `gitopsc check --list`",
                    )
                )
    for placed in policy_set.waivers:
        waiver = placed.waiver
        if waiver.policy not in known_checks:
            problems.append(
                Problem(
                    placed.locate("policy"),
                    f"waiver for unknown check '{waiver.policy}'",
                    did_you_mean(waiver.policy, known_checks) or "run `gitopsc check --list`",
                )
            )
        if waiver.owner not in teams:
            problems.append(
                Problem(
                    placed.locate("owner"),
                    f"waiver owner '{waiver.owner}' is not a team in catalog/teams.yaml",
                    did_you_mean(waiver.owner, teams),
                )
            )
    return problems
