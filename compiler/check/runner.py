"""Every check on the catalog and on what it compiles to, as findings.

    catalog-wide     declarative policies on customers and environments; built-ins
                     that span entities (domains, owners, plaintext secrets)
    per environment  declarative policies on instances and rendered objects; built-ins
                     (tenant scope, residency, dependencies, offboarding, network
                     policies, Secret objects, suspended customers; builtins/);
                     each object against its cluster's schemas; checkov's Kubernetes
                     checks and the custom ones (checkov_checks.py)

The per-environment part renders the environment itself (pure, in memory), so it can
run in a worker process per environment (see compiler/pipeline/checks.py). Enforcement
and waivers come after (enforcement.py); this stage only finds.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable, Mapping, Sequence

from compiler.catalog import Catalog, Connection, Instance
from compiler.check import result_cache
from compiler.check.builtins import (
    BUILTINS,
    ArgoObject,
    argo_objects,
    catalog_checks,
    environment_checks,
)
from compiler.check.checkov_checks import CheckovRun, scan
from compiler.check.declarative import evaluate, evaluate_objects
from compiler.check.findings import Finding
from compiler.check.manifests import schema_checks
from compiler.check.policies import Policy
from compiler.check.probes import Probe, probe_waivers
from compiler.check.schemas import CompiledSchema, ManifestSchemas
from compiler.check.subjects import entity_subjects, instance_subjects, object_subjects
from compiler.errors import Problem
from compiler.output import shown_names
from compiler.render import OutputFile, render_environment


def known_checks(policies: Mapping[str, Policy]) -> set[str]:
    return set(policies) | set(BUILTINS)


def check_catalog(
    catalog: Catalog,
    policies: Mapping[str, Policy],
    rules: Mapping[str, CompiledSchema],
    today: datetime.date,
) -> list[Finding]:
    return evaluate(policies, rules, entity_subjects(catalog)) + catalog_checks(catalog, today)


def check_environment(
    catalog: Catalog,
    env: str,
    instances: Sequence[Instance],
    policies: Mapping[str, Policy],
    rules: Mapping[str, CompiledSchema],
    schemas: ManifestSchemas,
    today: datetime.date,
    checkov: CheckovRun | None = None,
    only: frozenset[str] | None = None,
    repo_path: str = "rendered",
    owns: Callable[[OutputFile], bool] | None = None,
    probe: Probe | None = None,
    connected: Sequence[Connection] | None = None,
) -> tuple[list[Finding], list[Problem], list[ArgoObject]]:
    """`only`: the expensive checks (schemas, checkov) look only at the objects of these
    instances (and the namespace and ArgoCD objects they share); the rest see all.
    Also the environment's Argo objects, for the checks that span environments
    (`argocd_checks`, run once all environments are rendered).

    `owns`: a shard's files (`--shard K/N`); the expensive checks look only at them,
    the rest (every check that spans customers) see the whole environment, so each
    shard finds what a full run finds about its customers. `probe`: the waivers this
    shard judges that another shard's files could use; the expensive checks look at
    those files, only until each waiver is found used (probes.py). `connected`: the
    environment's connections, if resolve found them already (render and the network
    checks use them)."""
    files, problems = render_environment(
        catalog, catalog.environments[env], instances, repo_path, connected=connected
    )
    by_id = {instance.id: instance for instance in instances}
    digests = result_cache.digests(f for f in files if f.format == "yaml")  # keys, once
    objects = list(object_subjects(catalog, files, by_id))
    findings = evaluate(policies, rules, instance_subjects(catalog, instances))
    findings += evaluate_objects(policies, rules, objects, digests)
    findings += environment_checks(catalog, env, instances, files, today, connected)
    expensive = files if only is None else [f for f in files if only.intersection(f.instances)]
    if owns is not None:
        expensive = [f for f in expensive if owns(f)]
    findings += schema_checks(catalog, env, expensive, by_id, schemas, digests)
    if checkov is not None and not problems:
        findings += scan(catalog, env, expensive, by_id, checkov, digests)
    if owns is not None and probe is not None and not problems:
        others = [f for f in files if not owns(f)]
        findings += probe_waivers(catalog, env, others, by_id, findings, probe, schemas, checkov)
    shown = shown_names(files, catalog.environments[env].output.layout)
    return [_where_written(f, shown) for f in findings], problems, argo_objects(catalog, env, files)


def _where_written(finding: Finding, shown: Mapping[str, str]) -> Finding:
    """A finding names the rendered object where the layout wrote it: the checks see one
    file per object, a multi-document layout holds it as a document of `manifests.yaml`
    (or of its customer's apps file, for an Application or AppProject).
    The fingerprint stays the one computed from the object's own file name, so a
    baseline or a waiver keeps matching when an environment changes layout."""
    name = shown.get(finding.rendered or "")
    if name is None:
        return finding
    message = finding.message.replace(finding.rendered or "", name)
    return dataclasses.replace(finding, rendered=name, message=message)
